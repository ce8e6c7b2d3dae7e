"""twophase_book: the book's own parts, built on :mod:`twophase_lib` (which never imports this package)."""
