"""Guards around the nbval baselines: nbval silently passes unexecuted notebooks, so check them here."""

from pathlib import Path

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
    assert path.exists(), f"no smoke baseline for {chapter.name}: run `make chapter NB={chapter.relative_to(ROOT)} PROFILE=smoke`"
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
