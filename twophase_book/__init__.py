"""twophase_book: the book's own parts, built on ``twophase_lib`` (which never imports this package)."""
