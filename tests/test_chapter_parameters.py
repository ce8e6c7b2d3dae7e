"""Every papermill parameter a chapter declares reaches the design it runs, and a bad value stops it with a message
naming the parameter.

Each chapter is cut after its setup cell (the design table) and executed by papermill with every declared parameter
set away from its default; the executed design table must show each value. Nothing is trained.
"""

from __future__ import annotations

import ast
from pathlib import Path

import jupytext
import nbformat
import papermill
import pytest

from twophase_book.claims import CLAIMS

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = tuple(c.chapter for c in CLAIMS)  # every claim's chapter (chapter 5 trains a user's model, tested apart)
#: A value for every parameter a chapter may declare, each away from its default, and what the executed setup shows
#: for it (in the design table, or in the probe cell's line for what the table does not hold).
OVERRIDES = {
    "profile": ("smoke", "profile smoke"),
    "workers": (0, "workers 0"),
    "archs": ("resnet20", None),  # checked below: VGG-16's row is gone
    "tasks": ("tabular", None),  # checked below: the other tasks' rows are gone
    "seeds": ("0,3", "0, 3"),
    "device": ("cpu", "cpu"),
    "epsilon": (1e-6, "1e-06"),
    "cache_dir": ("~/twophase-parameter-test", "twophase-parameter-test"),
    "rungs": ("resnet20-x0.125-b32", "resnet20-x0.125-b32"),  # checked below: the other rungs are gone
}
PROBE = "print(f'profile {book.profile}; workers {book.executor.workers}; cache {book.cache.root}')"


def declared(chapter: str) -> dict:
    """The chapter's parameters cell, as {name: default}."""
    nb = jupytext.read(ROOT / "notebooks" / f"{chapter}.py")
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id: ast.literal_eval(n.value) for n in ast.parse(cell.source).body for t in n.targets}


def setup_only(chapter: str, path: Path) -> Path:
    """The chapter up to its setup cell (the first code cell after the parameters), with a probe cell after it."""
    nb = jupytext.read(ROOT / "notebooks" / f"{chapter}.py")
    i = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    j = next(k for k in range(i + 1, len(nb.cells)) if nb.cells[k].cell_type == "code")
    nb.cells = nb.cells[: j + 1] + [nbformat.v4.new_code_cell(PROBE)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out = path / f"{chapter}.ipynb"
    nbformat.write(nb, out)
    return out


def outputs(nb_path: Path) -> str:
    nb = nbformat.read(nb_path, 4)
    text = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            text.append(o.get("text", "") + o.get("data", {}).get("text/plain", ""))
    return "\n".join(text)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_declared_parameter_reaches_the_design(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the cache folder's ~ expands here
    names = declared(chapter)
    assert set(names) <= set(OVERRIDES), f"{chapter} declares a parameter this test does not know: {set(names)}"
    params = {n: OVERRIDES[n][0] for n in names}
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(str(setup_only(chapter, tmp_path)), str(out), parameters=params, kernel_name="python3",
                               progress_bar=False, cwd=str(ROOT))
    shown = outputs(out)
    for n in names:
        expect = OVERRIDES[n][1]
        if expect is not None:
            assert expect in shown, f"{chapter}: -p {n} {params[n]!r} does not show ({expect!r} missing)\n{shown}"
    assert str(tmp_path / "twophase-parameter-test") in shown
    if "archs" in names:
        assert "resnet20" in shown and "vgg16" not in shown
    if "tasks" in names:
        assert "MLP, diamonds" in shown and "ViT" not in shown and "GRU" not in shown
    if "rungs" in names:
        assert "resnet20-x0.25-b32" not in shown and "vgg16-x" not in shown


@pytest.mark.parametrize("name, value, message", [
    ("seeds", 2.9, "seeds"),
    ("seeds", True, "seeds"),
    ("cache_dir", 2026, "cache_dir"),
    ("workers", -1, "workers"),
    ("epsilon", "big", "epsilon"),
    ("archs", "resnet56", "architecture"),
    ("profile", "laptop", "profile"),
])
def test_a_bad_parameter_stops_the_chapter_naming_it(name, value, message, tmp_path):
    out = tmp_path / "out.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(setup_only("01_chaos_effect", tmp_path)), str(out),
                                   parameters={"profile": "smoke", "workers": 0, name: value},
                                   kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    assert err.value.ename == "ValueError" and message in err.value.evalue, err.value.evalue
