"""Every chapter re-executed at the smoke profile and compared with its committed baseline (tests/baselines/).

Cells tagged ``check-output`` are compared (tests/notebook_outputs.py): exactly when this machine's numerics
fingerprint is the one that computed the baseline (the chapter prints it, "fingerprint cpu-..."), and by what holds
on any machine otherwise (structure, booleans, ε = 0 controls, verdict vocabulary; cells tagged exact-everywhere
exactly). ``TWOPHASE_EXACT_BASELINES=1`` demands the exact comparison
anyway (to see what moved). Each chapter computes from an empty cache (tests/conftest.py).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import nbformat
import pytest
from notebook_outputs import compare_cell

ROOT = Path(__file__).resolve().parents[1]
BASELINES = sorted((ROOT / "tests" / "baselines").glob("[0-9][0-9]_*.ipynb"))
CHECK, EXACT = "check-output", "exact-everywhere"
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


def execute(nb):
    """The notebook executed in the repository root with this environment's python3 kernel, as papermill does."""
    from nbclient import NotebookClient

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(ROOT)}}).execute()
    return nb


@pytest.mark.parametrize("path", BASELINES, ids=lambda p: p.stem)
def test_chapter_reproduces_its_smoke_baseline(path):
    baseline = nbformat.read(path, as_version=4)
    ran = execute(baseline)
    theirs, ours = printed_fingerprint(baseline), printed_fingerprint(ran)
    assert ours is not None, f"{path.name}: the chapter no longer prints its numerics fingerprint"
    exact = theirs == ours or os.environ.get("TWOPHASE_EXACT_BASELINES") == "1"
    problems = []
    for i, (b, r) in enumerate(zip(baseline.cells, ran.cells)):
        tags = b.metadata.get("tags", [])
        if b.cell_type != "code" or CHECK not in tags:
            continue
        problem = compare_cell(b.outputs, r.outputs, exact or EXACT in tags)
        if problem:
            first = next((line for line in b.source.splitlines() if line.strip()), "")
            problems.append(f"cell {i} ({first[:60]!r}): {problem}")
    mode = (
        f"exactly (this machine computed the baseline: {ours})"
        if theirs == ours
        else f"{'exactly' if exact else 'by structure and invariants'} "
        f"(baseline computed with {theirs}, this machine {ours})"
    )
    assert not problems, (
        f"{path.name} compared {mode}:\n  "
        + "\n  ".join(problems)
        + f"\nIf the change is intended, regenerate the baseline: `make baselines NB=notebooks/"
        f"{path.stem}.py`"
    )
