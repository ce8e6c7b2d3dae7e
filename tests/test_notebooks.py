"""Guards around the executed notebooks: nbval silently passes unexecuted baselines, and neither nbval nor the
book notices an executed notebook that no longer matches its percent script, so check them here."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
BASELINES = ROOT / "tests" / "baselines"


def test_there_are_chapters():
    assert CHAPTERS, "no notebooks/NN_*.py chapters found"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_an_executed_smoke_baseline(chapter):
    path = BASELINES / f"{chapter.stem}.ipynb"
    assert path.exists(), (
        f"no smoke baseline for {chapter.name}: run `make chapter NB={chapter.relative_to(ROOT)} PROFILE=smoke`"
    )
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unexecuted, f"{path.name}: code cells {unexecuted} were never executed"
    params = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
    assert params and 'profile = "smoke"' in params[0].source, f"{path.name} was not executed at the smoke profile"
    checked = [c for c in code if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked, f"{path.name}: no cell is tagged nbval-check-output, so nbval would compare nothing"
    assert all(c.outputs for c in checked), f"{path.name}: a checked cell has no output"
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: the baseline holds an error output"
    check_numerics_recorded(nb, path.name)
    check_code_version(nb, path.name, f"make baselines NB={chapter.relative_to(ROOT)}")


FINGERPRINT = re.compile(r"fingerprint `?(cpu-[\w-]+|cuda-[\w-]+)`?")


def printed_fingerprint(nb) -> str | None:
    """The numerics fingerprint id a chapter printed (its numerics note), or None."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text") or "".join(out.get("data", {}).get(k, "") for k in ("text/plain", "text/markdown"))
            m = FINGERPRINT.search(text if isinstance(text, str) else "".join(text))
            if m:
                return m.group(1)
    return None


def check_numerics_recorded(nb, name: str) -> None:
    """The notebook's metadata holds the numerics fingerprint it was computed with, and the page prints it."""
    recorded = nb.metadata.get("twophase", {}).get("numerics", {}).get("cpu", {}).get("id")
    assert recorded, f"{name}: no numerics fingerprint in its metadata (twophase.numerics); re-run it"
    printed = printed_fingerprint(nb)
    assert printed is not None, f"{name}: the page does not print its numerics fingerprint"
    assert printed.split("-")[0] != "cpu" or printed == recorded, (
        f"{name}: prints fingerprint {printed} but its metadata records {recorded}"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_an_executed_cpu_notebook_with_figures(chapter):
    path = ROOT / "book" / "chapters" / f"{chapter.stem}.ipynb"
    assert path.exists(), f"the book has no executed cpu notebook for {chapter.name}: run `make book`"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") is not None for c in code), f"{path.name} has unexecuted cells"
    params = [c for c in code if "injected-parameters" in c.metadata.get("tags", [])]
    assert params and 'profile = "cpu"' in params[0].source, f"{path.name} was not executed at the cpu profile"
    pngs = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert pngs > 0, f"{path.name} shows no figure"
    check_numerics_recorded(nb, path.name)
    check_code_version(nb, path.name, f"make chapter NB={chapter.relative_to(ROOT)}")


def check_code_version(nb, name: str, remedy: str) -> None:
    """The notebook was executed by this code (metadata ``twophase.cache_version`` is ``CACHE_VERSION``): a page of
    older code shows numbers this code does not compute, and the scorecard would silently leave its claims out."""
    from twophase_lib.config import CACHE_VERSION

    recorded = nb.metadata.get("twophase", {}).get("cache_version")
    assert recorded == CACHE_VERSION, (
        f"{name} was executed by code version {recorded or 'before 3 (none recorded)'}, this code is {CACHE_VERSION}:"
        f" re-execute it (`{remedy}`)"
    )


# --- the executed notebooks are executions of the current percent scripts ---------------------------------------

INJECTED = "injected-parameters"


def _tags(cell) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _describe(cell) -> str:
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return f"{cell.cell_type} cell {first[:70]!r}"


def _line(lines: list[str], n: int) -> str:
    return repr(lines[n][:70]) if n < len(lines) else "(nothing)"


def script_mismatch(executed, script) -> str | None:
    """Why the executed notebook ``executed`` is not an execution of the notebook ``script`` (``jupytext.read`` of
    the percent script), or None when it is.

    The cells must be the same sequence of (cell type, source). papermill's injected-parameters cell is left out
    of the comparison; it must sit right after the cell tagged ``parameters``.
    """
    cells = list(executed.cells)
    for i, cell in enumerate(cells):
        if INJECTED in _tags(cell) and (i == 0 or "parameters" not in _tags(cells[i - 1])):
            return f"the {INJECTED} cell (cell {i}) does not follow the cell tagged 'parameters'"
    ours = [c for c in cells if INJECTED not in _tags(c)]
    theirs = list(script.cells)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        where = f"first difference at cell {i} (counting without the {INJECTED} cell)"
        if a.cell_type != b.cell_type:
            return f"{where}, in its cell type: the notebook has the {_describe(a)}, the script the {_describe(b)}"
        if a.source != b.source:
            x, y = a.source.splitlines(), b.source.splitlines()
            n = next((k for k, (u, v) in enumerate(zip(x, y)) if u != v), min(len(x), len(y)))
            return (
                f"{where}, in its source, the {_describe(b)}: at line {n + 1} the notebook has "
                f"{_line(x, n)}, the script {_line(y, n)}"
            )
    if len(ours) > len(theirs):
        return (
            f"the notebook has {len(ours) - len(theirs)} cell(s) more than the script, from cell {len(theirs)}: "
            f"the {_describe(ours[len(theirs)])}"
        )
    if len(ours) < len(theirs):
        return (
            f"the notebook lacks the script's last {len(theirs) - len(ours)} cell(s), from cell {len(ours)}: "
            f"the {_describe(theirs[len(ours)])}"
        )
    return None


EXECUTED = [(folder, chapter) for folder in ("book/chapters", "tests/baselines") for chapter in CHAPTERS]


@pytest.mark.parametrize("folder,chapter", EXECUTED, ids=[f"{f.split('/')[0]}-{c.stem}" for f, c in EXECUTED])
def test_executed_notebook_matches_its_percent_script(folder, chapter):
    path = ROOT / folder / f"{chapter.stem}.ipynb"
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} does not exist")  # the tests above say how to make it
    problem = script_mismatch(nbformat.read(path, as_version=4), jupytext.read(chapter))
    regenerate = ("make baselines NB=" if folder == "tests/baselines" else "make chapter NB=") + str(
        chapter.relative_to(ROOT)
    )
    assert problem is None, (
        f"{path.relative_to(ROOT)} is not an execution of the current "
        f"{chapter.relative_to(ROOT)}: {problem}. Re-run it: `{regenerate}`"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_the_book_shows_the_parameters_once(chapter):
    """scripts/run_chapters.py tags the chapter's own parameters cell remove-cell; the injected one stays visible."""
    path = ROOT / "book" / "chapters" / f"{chapter.stem}.ipynb"
    if not path.exists():
        pytest.fail(f"{path.relative_to(ROOT)} does not exist")
    cells = nbformat.read(path, as_version=4).cells
    shown = [c for c in cells if {"parameters", INJECTED} & set(_tags(c)) and "remove-cell" not in _tags(c)]
    assert [_tags(c) for c in shown] == [[INJECTED]], (
        f"{path.name}: the page must show exactly one parameters cell, papermill's {INJECTED} one; it shows "
        f"{[_tags(c) for c in shown]}. Re-run it: `make chapter NB={chapter.relative_to(ROOT)}`"
    )


PERCENT = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A chapter
# with $t_0$ in it

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["nbval-check-output"]
x = 1 + 1
print(profile, x)

# %% [markdown]
# The end.
"""


def _as_executed(script: Path, tmp: Path):
    """The percent script converted to an .ipynb on disk (jupytext), then given an injected-parameters cell and
    outputs as papermill would, and read back."""
    ipynb = tmp / f"{script.stem}.ipynb"
    jupytext.write(jupytext.read(script), ipynb)
    nb = nbformat.read(ipynb, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in _tags(c))
    nb.cells.insert(
        at + 1, nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n', metadata={"tags": [INJECTED]})
    )
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="smoke 2\n")]
    nbformat.write(nb, ipynb)
    return nbformat.read(ipynb, as_version=4)


@pytest.fixture
def script(tmp_path) -> Path:
    path = tmp_path / "01_tiny.py"
    path.write_text(PERCENT)
    return path


def test_script_mismatch_accepts_an_execution_of_the_script(script, tmp_path):
    executed = _as_executed(script, tmp_path)
    assert script_mismatch(executed, jupytext.read(script)) is None
    # The post-processing of scripts/run_chapters.py (tags, ids, metadata) keeps it a match.
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_chapters", ROOT / "scripts" / "run_chapters.py")
    run_chapters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_chapters)
    run_chapters.strip_volatile(executed)
    assert script_mismatch(executed, jupytext.read(script)) is None


def test_script_mismatch_names_an_added_markdown_cell(script, tmp_path):
    executed = _as_executed(script, tmp_path)
    executed.cells.insert(3, nbformat.v4.new_markdown_cell("A paragraph the script does not have."))
    problem = script_mismatch(executed, jupytext.read(script))
    assert problem == (
        "first difference at cell 2 (counting without the injected-parameters cell), in its cell "
        "type: the notebook has the markdown cell 'A paragraph the script does not have.', the script "
        "the code cell 'x = 1 + 1'"
    )


def test_script_mismatch_names_edits_missing_and_extra_cells(script, tmp_path):
    base = _as_executed(script, tmp_path)
    text = jupytext.read(script)

    edited = nbformat.from_dict(base)
    edited.cells[-1].source = "The end!"
    assert script_mismatch(edited, text).endswith(
        "cell 3 (counting without the injected-parameters cell), in its source, the markdown cell 'The end.': "
        "at line 1 the notebook has 'The end!', the script 'The end.'"
    )

    retyped = nbformat.from_dict(base)
    retyped.cells[-1] = nbformat.v4.new_raw_cell("The end.")
    assert "in its cell type" in script_mismatch(retyped, text)

    short = nbformat.from_dict(base)
    del short.cells[-1]
    assert "lacks the script's last 1 cell(s), from cell 3: the markdown cell 'The end.'" in script_mismatch(
        short, text
    )

    longer = nbformat.from_dict(base)
    longer.cells.append(nbformat.v4.new_code_cell("extra()"))
    assert "1 cell(s) more than the script, from cell 4: the code cell 'extra()'" in script_mismatch(longer, text)

    moved = nbformat.from_dict(base)
    moved.cells.insert(0, moved.cells.pop(2))  # the injected cell at the top
    assert "does not follow the cell tagged 'parameters'" in script_mismatch(moved, text)
