"""Shared fixtures: tiny configurations that train in well under a second; and nbval's sanitizers, chosen by
whether this machine computed the smoke baselines."""

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest

from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig

# Notebook kernels started by nbval inherit this: smoke chapters compute from scratch, never from a warm cache.
os.environ["TWOPHASE_CACHE"] = tempfile.mkdtemp(prefix="twophase-test-cache-")
atexit.register(shutil.rmtree, os.environ["TWOPHASE_CACHE"], ignore_errors=True)  # each pytest process its own
os.environ["TQDM_DISABLE"] = "1"

BASELINES = Path(__file__).resolve().parent / "baselines"
SANITIZERS = Path(__file__).resolve().parent / "nbval"


def _baseline_metadata(baselines: Path = BASELINES) -> dict[str, dict]:
    """Each smoke baseline's ``twophase`` metadata, by file name."""
    return {path.name: json.loads(path.read_text()).get("metadata", {}).get("twophase", {})
            for path in sorted(baselines.glob("[0-9][0-9]_*.ipynb"))}


def baseline_fingerprints() -> dict[str, str]:
    """The numerics fingerprint each smoke baseline was computed with (its metadata, ``twophase.numerics``)."""
    return {name: meta.get("numerics", {}).get("cpu", {}).get("id") for name, meta in _baseline_metadata().items()}


def baseline_code_versions(baselines: Path = BASELINES) -> dict[str, int]:
    """The code version (``CACHE_VERSION``) each smoke baseline was computed by (its metadata,
    ``twophase.cache_version``; 2 for baselines executed before chapters kept it)."""
    return {name: meta.get("cache_version", 2) for name, meta in _baseline_metadata(baselines).items()}


def sanitizer_for_this_machine(baselines: Path = BASELINES) -> tuple[Path, str]:
    """nbval's sanitizer file for this machine and why: ``volatile.cfg`` (addresses and timings only: every cell
    must print exactly what the baseline holds) where this process's numerics fingerprint computed the baselines
    with this code (:data:`twophase_lib.config.CACHE_VERSION`), ``other-cpu.cfg`` (trained numbers and verdict
    words masked) anywhere else: other kernels, or results the code computes differently now."""
    from twophase_lib.config import CACHE_VERSION
    from twophase_lib.numerics import fingerprint

    ours, theirs = fingerprint("cpu").id, set(baseline_fingerprints().values())
    versions = set(baseline_code_versions(baselines).values())
    if theirs == {ours} and versions == {CACHE_VERSION}:
        return SANITIZERS / "volatile.cfg", f"this machine ({ours}) computed the baselines with this code: exact"
    if theirs == {ours}:
        return SANITIZERS / "other-cpu.cfg", (f"baselines computed here by code version {sorted(versions)}, this "
                                              f"code is {CACHE_VERSION}: trained numbers and verdict words masked "
                                              "until `make baselines` regenerates them")
    return SANITIZERS / "other-cpu.cfg", (f"baselines computed with {', '.join(sorted(map(str, theirs)))}, this "
                                          f"machine {ours}: trained numbers and verdict words masked")


def _nbval_active(config) -> bool:
    return bool(getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False))


def pytest_configure(config):
    """Under ``--nbval``/``--nbval-lax`` with no ``--nbval-sanitize-with``, use the sanitizer for this machine."""
    if _nbval_active(config) and not config.option.nbval_sanitize_with:
        config.option.nbval_sanitize_with = str(sanitizer_for_this_machine()[0])


#: A cell tagged so (besides nbval-check-output) says in sentences which outcome came out (which metrics reached
#: half the unrelated level, ...): which sentences appear is itself an outcome, so nbval compares it only where
#: the baselines were computed.
OUTCOME_DEPENDENT = "outcome-dependent"


def compare_outcome_dependent_cells(items, sanitizer: str) -> list:
    """Turn off nbval's comparison of the cells tagged :data:`OUTCOME_DEPENDENT` unless ``sanitizer`` is the
    exact one (volatile.cfg: this machine computed the baselines); they still run, and an error still fails.
    Returns the items turned off."""
    if Path(sanitizer).name == "volatile.cfg":
        return []
    off = []
    for item in items:
        cell = getattr(item, "cell", None)
        if cell is not None and OUTCOME_DEPENDENT in cell.get("metadata", {}).get("tags", []):
            item.options["check"] = False
            off.append(item)
    return off


#: The forms of an output that carry its structure (a table's cells, a note's Markdown): where an output has one,
#: its ``text/plain`` is the same content aligned by spaces, which other-cpu.cfg cannot mask cell by cell.
RICH_FORMS = ("text/html", "text/markdown")


def without_plain_twins(outputs: list) -> list:
    """``outputs`` (nbformat output nodes) with ``text/plain`` dropped from each output that also carries a form of
    :data:`RICH_FORMS`; other outputs (streams, plain-only results, figures) unchanged. Copies, never mutates."""
    out = []
    for o in outputs:
        data = o.get("data") or {}
        if "text/plain" in data and any(k in data for k in RICH_FORMS):
            o = nbformat.NotebookNode({**o, "data": nbformat.NotebookNode(
                {k: v for k, v in data.items() if k != "text/plain"})})
        out.append(o)
    return out


def compare_rich_forms_only(items, sanitizer: str) -> list:
    """Unless ``sanitizer`` is the exact one (volatile.cfg), make each nbval cell item compare the rich form of an
    output that has one and not its plain-text twin (other-cpu.cfg masks an HTML table's value cells, and a value
    that diverged on one machine leaves an empty cell where another has a number, which aligned text loses).
    Returns the items changed."""
    if Path(sanitizer).name == "volatile.cfg":
        return []
    changed = []
    for item in items:
        compare = getattr(item, "compare_outputs", None)
        if compare is None or getattr(item, "cell", None) is None:
            continue
        item.compare_outputs = (lambda test, ref, skip_compare=None, _compare=compare:
                                _compare(without_plain_twins(test), without_plain_twins(ref), skip_compare))
        changed.append(item)
    return changed


def pytest_collection_modifyitems(config, items):
    if _nbval_active(config) and config.option.nbval_sanitize_with:
        compare_outcome_dependent_cells(items, config.option.nbval_sanitize_with)
        compare_rich_forms_only(items, config.option.nbval_sanitize_with)


def pytest_report_header(config):
    if _nbval_active(config):
        return f"nbval sanitizers: {config.option.nbval_sanitize_with}"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty result cache."""
    monkeypatch.setenv("TWOPHASE_CACHE", str(tmp_path / "cache"))


#: The test images a unit test's runs evaluate (the subset's first; every comparison evaluates them all).
TINY_TEST_EXAMPLES = 256


def tiny_config(arch: str = "resnet20", width: float = 0.125, steps: int = 12, seed: int = 0) -> RunConfig:
    """A configuration small enough for unit tests, with the lr schedule crossing a milestone, evaluated on the
    first :data:`TINY_TEST_EXAMPLES` test images."""
    return RunConfig(
        model=ModelConfig(arch, width),
        data=DataConfig("cifar10-subset", test_examples=TINY_TEST_EXAMPLES),
        optim=OptimConfig(batch_size=16, steps=steps, milestones=(steps // 2,)),
        seed=seed,
    )


def with_schedule(run: RunConfig, schedule: str) -> RunConfig:
    """``run`` under the ``step`` schedule (as configured) or at a ``constant`` lr (no milestones)."""
    assert schedule in ("step", "constant"), schedule
    return run if schedule == "step" else run.replace(optim={"milestones": ()})


@pytest.fixture
def tiny():
    """The tiny ResNet-20 configuration."""
    return tiny_config()
