"""The layout's one rule: the library never imports the book's package (ARCHITECTURE.md)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_the_library_never_imports_the_book():
    offenders = {p.name: sorted(m for m in imported_modules(p) if m.split(".")[0] == "twophase_book")
                 for p in (ROOT / "twophase_lib").rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_book_imports_the_library_by_its_public_name():
    # relative imports inside twophase_book name only its own modules
    book = {p.stem for p in (ROOT / "twophase_book").glob("*.py")}
    for p in (ROOT / "twophase_book").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                # `from .x import y` names module x; `from . import x, y` names modules x and y
                names = [node.module] if node.module else [a.name for a in node.names]
                for name in names:
                    assert name in book, f"{p.name} imports .{name}, not a module of twophase_book"
