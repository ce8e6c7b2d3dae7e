"""The runtime: every setting the library takes from the environment, read in one place."""

import ast
from pathlib import Path

import pytest

from twophase_lib import runtime
from twophase_lib.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]


def test_runtime_from_the_environment_and_its_defaults(tmp_path):
    rt = Runtime.from_env({"TWOPHASE_WORKERS": "3", "TWOPHASE_CACHE": str(tmp_path), "TQDM_DISABLE": "1",
                           "TWOPHASE_CUDA_GRAPHS": "0", "TWOPHASE_RAY_ADDRESS": " local ",
                           "TWOPHASE_RAY_GPUS_PER_TASK": "0.25"})
    assert rt.workers == 3 and rt.cache_root == tmp_path and not rt.progress_bars and not rt.cuda_graphs
    assert rt.ray_address == "local" and rt.ray_gpus_per_task == 0.25 and rt.ray_cpus_per_task is None
    default = Runtime.from_env({})
    assert default.workers is None and default.progress_bars and default.cuda_graphs and default.ray_address is None
    assert default.gpu_memory_share == 0.5 and not default.gpu_memory_share_chosen


@pytest.mark.parametrize("env,name", [({"TWOPHASE_WORKERS": "two"}, "TWOPHASE_WORKERS"),
                                      ({"TWOPHASE_WORKERS": "-1"}, "TWOPHASE_WORKERS"),
                                      ({"TWOPHASE_GPU_MEMORY_SHARE": "2"}, "TWOPHASE_GPU_MEMORY_SHARE"),
                                      ({"TWOPHASE_RAY_CPUS_PER_TASK": "one"}, "TWOPHASE_RAY_CPUS_PER_TASK")])
def test_bad_values_name_their_variable(env, name):
    with pytest.raises(ValueError, match=name):
        Runtime.from_env(env)


def test_a_users_gpu_share_wins_in_workers():
    assert Runtime().for_worker(0.25).gpu_memory_share == 0.25
    chosen = Runtime.from_env({"TWOPHASE_GPU_MEMORY_SHARE": "0.4"})
    assert chosen.for_worker(0.25).gpu_memory_share == 0.4 and not chosen.for_worker(0.25).progress_bars


def test_current_follows_the_environment_and_using_overrides_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TWOPHASE_WORKERS", "2")
    assert runtime.current().workers == 2
    monkeypatch.setenv("TWOPHASE_WORKERS", "5")
    assert runtime.current().workers == 5
    with runtime.using(Runtime(workers=7)):
        assert runtime.current().workers == 7
    assert runtime.current().workers == 5


def test_only_the_runtime_module_reads_the_environment():
    """No library module other than runtime.py touches os.environ (training's cuBLAS switch, set for a GPU block
    and removed after, is the one write, to a variable cuBLAS itself reads)."""
    readers = []
    for p in (ROOT / "twophase_lib").glob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and p.name != "runtime.py":
                readers.append(f"{p.name}:{node.lineno}")
    assert all(r.startswith("training.py") for r in readers), readers
    assert len(readers) <= 3


def test_importing_the_library_changes_no_warning_filter_and_no_variable():
    import subprocess
    import sys

    code = ("import os, warnings, torch, torch.func, numpy, matplotlib.pyplot, tqdm; "
            "before = (list(warnings.filters), dict(os.environ)); "
            "import twophase_lib, twophase_lib.linearize, twophase_lib.training, twophase_lib.ntk; "
            "assert (list(warnings.filters), dict(os.environ)) == before")
    subprocess.run([sys.executable, "-c", code], check=True)
