"""Rough edges of the library's contract: cache files readable by the group, the caller's determinism settings
restored, scripts/compute.py's report, the chapters' jupytext pairing, and the README's re-run examples through
papermill as written."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from twophase_lib.cache import Cache
from twophase_lib.training import train

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cache_files_get_the_mode_the_umask_gives(tmp_path):
    old = os.umask(0o022)
    try:
        path = Cache(tmp_path).save("pair", ("a", 1), {"x": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    old = os.umask(0o077)
    try:
        path = Cache(tmp_path).save("pair", ("b", 1), {"x": 1})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("strict", [False, True])
def test_train_restores_the_callers_determinism_settings(tiny, strict):
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    seen = []
    try:
        torch.use_deterministic_algorithms(strict)
        train(tiny.replace(optim={"steps": 2, "milestones": ()}), progress=False,
              on_step=lambda step, model: seen.append((torch.are_deterministic_algorithms_enabled(),
                                                       torch.is_deterministic_algorithms_warn_only_enabled())))
        assert torch.are_deterministic_algorithms_enabled() == strict
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        # during the run: deterministic, and a strict caller stays strict (errors, not warnings)
        assert all(on and warn_only == (not strict) for on, warn_only in seen)
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_compute_reports_workers_read_while_the_executor_is_open(monkeypatch, capsys):
    compute = _script("compute")

    class Closing:
        closed = False

        @property
        def workers(self):
            if self.closed:
                raise RuntimeError("Ray is shut down")
            return 3

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.closed = True

    monkeypatch.setattr(compute, "executor_from_env", lambda workers=None: Closing())
    monkeypatch.setattr(compute, "compute", lambda *a, **k: None)
    assert compute.main(["--profile", "smoke", "--only", "cone"]) == 0
    assert '"workers": 3' in capsys.readouterr().out


def test_jupytext_sync_leaves_the_chapter_scripts_unchanged(tmp_path):
    """jupytext.toml documents `jupytext --sync notebooks/NN_name.py`; the first sync must not rewrite the tracked
    script (its header carries the metadata filter the sync would otherwise add)."""
    exe = Path(sys.executable).with_name("jupytext")
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    (tmp_path / "notebooks").mkdir()
    for script in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        copy = tmp_path / "notebooks" / script.name
        shutil.copy(script, copy)
        subprocess.run([str(exe), "--sync", f"notebooks/{script.name}"], cwd=tmp_path, check=True,
                       capture_output=True)
        assert copy.read_text() == script.read_text(), f"jupytext --sync rewrote {script.name}"
        assert copy.with_suffix(".ipynb").exists()


def readme_parameter_examples() -> list[tuple[str, str]]:
    """Every `-p KEY VALUE` example of the README, as the shell splits it."""
    out = []
    for text in re.findall(r"`(-p [^`]+)`", (ROOT / "README.md").read_text()):
        words = shlex.split(text)
        if len(words) == 3 and words[1].islower() and words[1] != "key":
            out.append((words[1], words[2]))
    return out


def test_the_readme_has_parameter_examples():
    assert {"seeds", "archs"} <= {k for k, _ in readme_parameter_examples()}


@pytest.mark.parametrize("key,text", readme_parameter_examples())
def test_readme_parameter_examples_reach_chapter_one_through_papermill(key, text, tmp_path, monkeypatch):
    """The value goes through run_chapters' -p parsing and papermill's injection, as `make chapter ... PARAMS=...`
    does; the chapter's parameters cell, the injected cell and its validating cell then run."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    rc = _script("run_chapters")
    monkeypatch.setenv("TWOPHASE_CACHE", str(tmp_path))
    monkeypatch.setenv("TWOPHASE_WORKERS", "0")
    nb, params = rc.prepare_chapter(ROOT / "notebooks" / "01_chaos_effect.py", "smoke", {key: rc.parse_value(text)})
    nbformat.write(nb, str(tmp_path / "chapter.ipynb"))  # as run_chapter hands it to papermill
    nb = parameterize_notebook(load_notebook_node(str(tmp_path / "chapter.ipynb")), params)
    code = [c for c in nb.cells if c.cell_type == "code"]
    start = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    for cell in code[start : start + 3]:  # parameters, injected parameters, the cell that validates them
        exec(compile(cell.source, f"<{cell.metadata.get('tags')}>", "exec"), namespace)
    designs = namespace["designs"]
    if key == "seeds":
        assert all(d.chaos.seeds == tuple(int(s) for s in re.findall(r"\d+", text)) for d in designs.values())
    if key == "archs":
        assert tuple(designs) == (text,)
