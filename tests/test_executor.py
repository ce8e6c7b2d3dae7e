"""The executor: results in order, waves after each other, progress lines, worker-count validation."""

from functools import partial

import pytest

from twophase_lib.executor import Executor, Progress, check_workers, default_workers


def square(x: int) -> int:
    return x * x


def gpu_share(_: int) -> tuple[float, bool]:
    from twophase_lib.ntk import gpu_memory_share
    from twophase_lib.runtime import current

    return gpu_memory_share(), current().progress_bars


def fail(x: int) -> int:
    raise ValueError(f"task {x} failed")


def test_in_process_map_keeps_order_and_writes_progress_lines(tmp_path, monkeypatch):
    log = tmp_path / "progress.log"
    monkeypatch.setenv("TWOPHASE_PROGRESS", str(log))
    out = Executor(0).map([partial(square, i) for i in range(4)], "squares", progress=False)
    assert out == [0, 1, 4, 9]
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("squares: 1/4 tasks") and "left" in lines[0]
    assert lines[-1].startswith("squares: 4/4 tasks") and "left" not in lines[-1]


def test_pool_map_keeps_order_and_reraises():
    with Executor(2) as ex:
        assert ex.map([partial(square, i) for i in range(5)], "pool", progress=False) == [0, 1, 4, 9, 16]
        waves = ex.waves([[partial(square, 2)], [], [partial(square, 3), partial(square, 4)]], "w", progress=False)
        assert waves == [[4], [], [9, 16]]
        with pytest.raises(ValueError, match="task 1 failed"):
            ex.map([partial(square, 0), partial(fail, 1)], "failing", progress=False)


def test_pool_workers_split_the_gpu_memory_an_entk_may_take(monkeypatch):
    """Workers get the parent's runtime as an argument: bars off, and half the GPU split between them unless the
    user chose a share, which then wins in every process."""
    monkeypatch.delenv("TWOPHASE_GPU_MEMORY_SHARE", raising=False)
    with Executor(2) as ex:
        assert ex.map([partial(gpu_share, i) for i in range(2)], "share", progress=False) == [(0.25, False)] * 2
    monkeypatch.setenv("TWOPHASE_GPU_MEMORY_SHARE", "0.4")
    with Executor(2) as ex:
        assert ex.map([partial(gpu_share, i) for i in range(2)], "share", progress=False) == [(0.4, False)] * 2


def test_progress_lines_are_the_first_the_last_and_one_per_interval_between(tmp_path, monkeypatch):
    """A stage read from the cache finishes hundreds of tasks at once: its log gets two lines, not one per task."""
    log = tmp_path / "progress.log"
    monkeypatch.setenv("TWOPHASE_PROGRESS", str(log))
    p = Progress("cached", 300, enabled=False)
    for _ in range(300):
        p.advance()
    lines = log.read_text().splitlines()
    assert [line.split(" tasks")[0] for line in lines] == ["cached: 1/300", "cached: 300/300"]
    log.write_text("")
    p = Progress("slow", 3, enabled=False, every=0.0)
    for _ in range(3):
        p.advance()
    assert len(log.read_text().splitlines()) == 3


def test_progress_line_estimates_what_remains():
    p = Progress("study", 4, enabled=False)
    p.done = 2
    assert p.line().startswith("study: 2/4 tasks") and "left" in p.line()


def test_worker_counts_are_validated(monkeypatch):
    assert check_workers(None) is None and check_workers(0) == 0 and check_workers(3) == 3
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(ValueError, match="workers"):
            check_workers(bad)
    monkeypatch.setenv("TWOPHASE_WORKERS", "3")
    assert default_workers() == 3
    monkeypatch.setenv("TWOPHASE_WORKERS", "many")
    with pytest.raises(ValueError, match="TWOPHASE_WORKERS"):
        default_workers()
    monkeypatch.delenv("TWOPHASE_WORKERS")
    assert default_workers() >= 1


def test_gpu_waves_run_in_process_unless_workers_were_chosen(monkeypatch):
    from twophase_lib.config import RunConfig

    gpu, cpu = RunConfig(device="cuda"), RunConfig()
    tasks = [partial(square, gpu), partial(square, gpu)]
    monkeypatch.delenv("TWOPHASE_WORKERS", raising=False)
    ex = Executor()
    assert ex.workers >= 1 and ex.automatic
    if ex.workers > 1:
        assert ex.in_process(tasks) and not ex.in_process([partial(square, cpu), partial(square, gpu)])
    assert not Executor(2).in_process(tasks)  # asked for: the pool
    monkeypatch.setenv("TWOPHASE_WORKERS", "2")
    assert not Executor().in_process(tasks)


def test_a_task_that_refers_to_the_callers_notebook_is_refused_before_the_pool_breaks(monkeypatch):
    # a class defined in a notebook cell lives in __main__: a spawned worker cannot unpickle it, and the pool broke
    # with a bare BrokenProcessPool, the cause only on the workers' stderr
    import sys

    Net = type("Net", (), {"__module__": "__main__", "__call__": lambda self: 1})
    Net.__qualname__ = "Net"
    monkeypatch.setattr(sys.modules["__main__"], "Net", Net, raising=False)
    with Executor(2) as ex:
        with pytest.raises(ValueError, match=r"cannot import Net, defined in the calling notebook"):
            ex.map([partial(square, 1), Net()], "notebook class", progress=False)
    assert Executor(0).map([Net()], "in process", progress=False) == [1]  # workers=0 runs it here
