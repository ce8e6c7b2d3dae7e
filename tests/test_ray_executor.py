"""The Ray executor on a local Ray instance with 2 CPU workers: bitwise the in-process results, a killed worker's
task retried to the same result, task errors raised in the driver, and a clear message when Ray is missing."""

import dataclasses
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_config, with_schedule
from twophase_lib.cache import Cache
from twophase_lib.chaos import ChaosMap, run_chaos_maps
from twophase_lib.executor import Executor
from twophase_lib.metrics import BarrierConfig
from twophase_lib.perturbation import Perturbation
from twophase_lib.store import parent_checkpoints

HERE = Path(__file__).resolve().parent
BC = BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=100, test_examples=200)


def small_map(schedule="step", **kw):
    """tests/test_chaos.py's small map (step schedule: lr drop at 5)."""
    cfg = with_schedule(tiny_config(steps=10), schedule)
    kw = {"t0s": (0, 2, 4), "seeds": (0, 1), "control_t0": 2, **kw}
    return ChaosMap(run=cfg, t1s=(5, 10), perturbation=Perturbation(1e-2), barrier=BC, **kw)


@pytest.fixture(scope="module")
def ray():
    """A local Ray instance with 2 CPUs for the module, shut down after its last test."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'twophase_lib[ray]')")
    # workers import this module (its task functions) and tests.conftest: put both folders on their path
    path = os.pathsep.join([str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "TQDM_DISABLE": "1"}})
    yield ray
    ray.shutdown()


def parameter_sum(cache_root: str, steps: int) -> float:
    """A cached parent run's final parameters, summed in float64 (the value a task sends back)."""
    ckpt = parent_checkpoints(tiny_config(steps=steps), [steps], Cache(cache_root))[steps]
    return float(sum(v.double().sum() for v in ckpt.model.values() if v.is_floating_point()))


def die_on_first_attempt(marker: str, cache_root: str, steps: int) -> float:
    """Record an attempt; the first attempt kills its own worker process mid-task (no exception, no cleanup)."""
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")
    if len(Path(marker).read_text().splitlines()) == 1:
        os._exit(1)
    return parameter_sum(cache_root, steps)


def threads_and_bars() -> tuple:
    import torch

    return torch.get_num_threads(), os.environ.get("TQDM_DISABLE")


def fail(message: str) -> None:
    raise ValueError(message)


def test_maps_on_ray_equal_the_in_process_results_bitwise(ray, tmp_path):
    from twophase_lib.ray_executor import RayExecutor

    # one seed and two t0 (plus the control) keep the test short: 12 tasks in three waves, on two workers
    maps = {sch: small_map(sch, seeds=(0,), t0s=(0, 4)) for sch in ("step", "constant")}
    here = run_chaos_maps(maps, Cache(tmp_path / "here"), Executor(0), progress=False)
    with RayExecutor() as ex:
        assert ex.workers == 2
        there = run_chaos_maps(maps, Cache(tmp_path / "ray"), ex, progress=False)
    assert ray.is_initialized()  # the executor joined the module's instance and leaves it running
    for name in maps:
        assert there[name].control_is_exact
        for metric, values in here[name].values.items():
            assert np.array_equal(values, there[name].values[metric], equal_nan=True), (name, metric)
        for a, b in zip(here[name].control, there[name].control):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    # the workers wrote the same files under the same hash-keyed names
    def names(root):
        return sorted(p.relative_to(root) for p in root.rglob("*.pt"))

    assert names(tmp_path / "here") == names(tmp_path / "ray")


def test_a_killed_worker_is_retried_to_the_same_result(ray, tmp_path):
    from twophase_lib.ray_executor import RayExecutor

    marker = tmp_path / "attempts"
    expect = parameter_sum(str(tmp_path / "here"), 6)
    ex = RayExecutor(max_retries=2)
    got = ex.map([partial(die_on_first_attempt, str(marker), str(tmp_path / "ray"), 6)], progress=False)
    attempts = marker.read_text().splitlines()
    assert len(attempts) == 2 and attempts[0] != attempts[1]  # two attempts, in two worker processes
    assert got == [expect]
    assert len(list((tmp_path / "ray" / "parent").glob("*.pt"))) == 1


def test_tasks_run_with_one_thread_and_errors_reach_the_driver(ray):
    from twophase_lib.ray_executor import RayExecutor

    ex = RayExecutor()
    assert ex.map([threads_and_bars, threads_and_bars], progress=False) == [(1, "1"), (1, "1")]
    with pytest.raises(ValueError, match="no retry"):  # the task's own exception type, raised once (not retried)
        ex.waves([[partial(fail, "no retry")]], "failing", progress=False)


def test_executor_from_env(ray, monkeypatch):
    from twophase_lib.ray_executor import RayExecutor, executor_from_env

    monkeypatch.delenv("TWOPHASE_RAY_ADDRESS", raising=False)
    pool = executor_from_env(0)
    assert type(pool) is Executor and pool.workers == 0
    monkeypatch.setenv("TWOPHASE_RAY_ADDRESS", "local")
    monkeypatch.setenv("TWOPHASE_RAY_GPUS_PER_TASK", "0")
    with executor_from_env() as ex:  # joins the running local instance
        assert isinstance(ex, RayExecutor) and ex.workers == 2 and ex.num_gpus_per_task == 0
    assert ray.is_initialized()
    monkeypatch.setenv("TWOPHASE_RAY_CPUS_PER_TASK", "one")
    with pytest.raises(ValueError, match="TWOPHASE_RAY_CPUS_PER_TASK"):
        executor_from_env()


def test_missing_ray_says_how_to_install_it(monkeypatch):
    """Runs without Ray too: importing the library and the module never needs it, only building the executor."""
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    import twophase_lib.ray_executor as rx

    with pytest.raises(ImportError, match=r"pip install 'twophase_lib\[ray\]'"):
        rx.RayExecutor()
    monkeypatch.delenv("TWOPHASE_RAY_ADDRESS", raising=False)
    assert type(rx.executor_from_env(0)) is Executor


def test_cuda_tasks_need_a_gpu_reservation(ray):
    """Ray hides the GPUs from tasks that reserve none: a cuda study on such an executor fails before it starts."""
    from twophase_lib.chaos import _map_waves
    from twophase_lib.executor import task_devices
    from twophase_lib.ray_executor import RayExecutor

    study = small_map(seeds=(0,), t0s=(0, 4))
    cuda = {"s": dataclasses.replace(study, run=study.run.replace(device="cuda"))}
    waves, _, _ = _map_waves(cuda, Cache("unused"))
    assert all(task_devices(t) == {"cuda"} for w in waves for t in w)
    assert all(task_devices(t) == {"cpu"} for w in _map_waves({"s": study}, Cache("unused"))[0] for t in w)
    with pytest.raises(ValueError, match="reserves no GPU"):
        RayExecutor().waves(waves, "cuda sweep", progress=False)


def test_nodes_are_chosen_by_numerics_fingerprint():
    from twophase_lib.ray_executor import choose_nodes

    uniform = {"node-a": "cpu-avx512-1", "node-b": "cpu-avx512-1"}
    assert choose_nodes(uniform) is None and choose_nodes(uniform, "cpu-avx512-1") is None
    mixed = {"node-a": "cpu-avx512-1", "node-b": "cpu-avx2-2", "node-c": "cpu-avx512-1"}
    with pytest.raises(ValueError, match="2 numerics fingerprints.*cpu-avx2-2: 1 node"):
        choose_nodes(mixed)
    assert choose_nodes(mixed, "cpu-avx512-1") == ["node-a", "node-c"]
    assert choose_nodes(mixed, "cpu-avx2-2") == ["node-b"]
    with pytest.raises(ValueError, match="no node .* 'cpu-default-3'"):
        choose_nodes(mixed, "cpu-default-3")


def test_the_executor_probes_every_node_and_pins_tasks_to_the_chosen_group(ray, tmp_path):
    from twophase_lib.numerics import fingerprint
    from twophase_lib.ray_executor import RayExecutor

    ex = RayExecutor()
    assert list(ex.node_fingerprints.values()) == [fingerprint().id] and ex._nodes is None
    with pytest.raises(ValueError, match="no node"):
        RayExecutor(numerics="cpu-none-0")
    # a cluster of two groups, seen as one node of each: tasks go to the chosen group's node only
    node = next(iter(ex.node_fingerprints))
    ex._nodes = [node]
    assert ex.map([threads_and_bars, threads_and_bars], progress=False) == [(1, "1")] * 2
