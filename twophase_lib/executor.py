"""Run lists of independent tasks, here or in a pool of worker processes, with progress a person can follow.

A task is a zero-argument picklable callable (a ``functools.partial`` of a module-level
function) whose result is cached by the store, so any executor may run it, twice if it must.
Tasks return small values (numbers, arrays) or nothing: checkpoints stay in the cache, since
tensors sent back from worker processes travel as file descriptors and exhaust them.
Studies hand their tasks over in *waves*: every task of a wave may depend on results of earlier
waves only (parents, then children to the first lr drop, then what follows).

The default executor is a process pool of ``$TWOPHASE_WORKERS`` workers (default: the number of
CPU cores, at most 2 per core of work worth having) with one torch thread each: on two cores, two
one-thread processes train 1.16x the steps per second of one two-thread process
(``bench/bench_speed.py``). ``TWOPHASE_WORKERS=0`` runs everything in the calling process. When
nobody chose the number of workers, a wave whose tasks all train on a GPU runs in the calling
process (see :meth:`Executor.in_process`).

Progress: a tqdm bar when enabled, and lines appended to the file named by ``$TWOPHASE_PROGRESS``
(``scripts/run_chapters.py`` prints those lines during ``make book``): the first and the last finished task of a
study, and between them at most one line every :data:`PROGRESS_LINE_SECONDS` (a stage read from the cache finishes
hundreds of tasks in a second: one line each would bury the log).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import pickle
import signal
import time
import types
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, Callable, Sequence

import torch

from . import runtime
from .training import progress_bar

Task = Callable[[], Any]


def default_workers() -> int:
    """Worker processes to use: the runtime's ``workers`` (``$TWOPHASE_WORKERS``) if set, else the CPU cores
    available."""
    n = runtime.current().workers
    if n is not None:
        return n
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def task_devices(task: Task) -> set[str]:
    """Device types ('cpu', 'cuda') named by the runs a task's arguments carry (a RunConfig, or anything with a
    ``run``: states, sweeps, studies)."""
    from .config import RunConfig

    out, seen = set(), 0
    while isinstance(task, partial) and seen < 4:  # partial(_into_cache, store_fn, run, ...) nests no deeper
        for arg in (*task.args, *task.keywords.values()):
            run = arg if isinstance(arg, RunConfig) else getattr(arg, "run", None)
            if isinstance(run, RunConfig):
                out.add(str(run.device).split(":")[0])
        task, seen = task.func, seen + 1
    return out


def check_workers(workers: int | None) -> int | None:
    """Return ``workers`` if it is None or a non-negative integer.

    Raises:
        ValueError: anything else (a negative number, a float, a string).
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f"workers must be None or an integer >= 0, got {workers!r}")
    return workers


def _init_worker(threads: int, parent: runtime.Runtime, workers: int = 1) -> None:
    # Ctrl-C (or a Jupyter kernel's interrupt) reaches the whole process group: the parent handles it and shuts
    # the pool down; workers that caught it too would only print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    # no bars (several processes would interleave; the parent reports); the workers may share one GPU: each
    # eNTK takes its part of half the device's free memory
    runtime.set_current(parent.for_worker(runtime.DEFAULT_GPU_MEMORY_SHARE / max(workers, 1)))


def _format_seconds(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


#: Seconds between two progress lines of one study in ``$TWOPHASE_PROGRESS`` (its first and last task always write).
PROGRESS_LINE_SECONDS = 5.0


class Progress:
    """Counts finished tasks of a named study; writes lines to ``$TWOPHASE_PROGRESS`` and drives a tqdm bar.

    Args:
        desc: the study's name, the start of every line.
        total: the number of tasks.
        enabled: draw the tqdm bar.
        every: seconds between two lines (the first and the last finished task always write one).
    """

    def __init__(self, desc: str, total: int, enabled: bool = True, every: float = PROGRESS_LINE_SECONDS):
        self.desc, self.total, self.done, self.start = desc, total, 0, time.perf_counter()
        self.bar = progress_bar(range(total), desc, enabled)
        self.path = runtime.current().progress_file
        self.every, self._written = every, float("-inf")

    def line(self) -> str:
        """'desc: done/total tasks, elapsed, estimate of what remains'."""
        elapsed = time.perf_counter() - self.start
        text = f"{self.desc}: {self.done}/{self.total} tasks, {_format_seconds(elapsed)} elapsed"
        if 0 < self.done < self.total:
            text += f", ~{_format_seconds(elapsed / self.done * (self.total - self.done))} left"
        return text

    def advance(self) -> None:
        """Record one finished task."""
        self.done += 1
        self.bar.update(1)
        now = time.perf_counter()
        if self.path and (self.done in (1, self.total) or now - self._written >= self.every):
            self._written = now
            with open(self.path, "a") as f:
                f.write(self.line() + "\n")

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


#: Modules a worker process cannot import an object from: the caller's script or notebook (a spawned worker
#: runs its own ``__main__``).
_MAIN_MODULES = ("__main__", "__mp_main__")


class _MainReferences(pickle.Pickler):
    """Pickles a task as the pool will, noting every class or function it refers to by reference in ``__main__``."""

    def __init__(self):
        super().__init__(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
        self.found: list[str] = []

    def reducer_override(self, obj):
        if isinstance(obj, (type, types.FunctionType)) and getattr(obj, "__module__", None) in _MAIN_MODULES:
            self.found.append(getattr(obj, "__qualname__", repr(obj)))
        return NotImplemented


def check_importable(tasks: Sequence[Task]) -> None:
    """Refuse tasks that worker processes cannot unpickle: a class or function defined in the caller's notebook or
    script (``__main__``) travels by name, and a spawned worker cannot find it (the pool then breaks with nothing
    but ``BrokenProcessPool``, the cause on the workers' stderr). One task per underlying function is pickled here
    (a wave's tasks share their configurations); a pool that breaks anyway says where the cause is.

    Raises:
        ValueError: naming what is defined in ``__main__`` and the two ways out.
        TypeError: a task that cannot be pickled at all (a lambda, a lock; also pickle's own PicklingError).
    """
    found: list[str] = []
    failure: Exception | None = None
    seen: set = set()
    for task in tasks:  # one task per underlying function: a wave's tasks share their configurations
        key = id(getattr(task, "func", type(task)))
        if key in seen:
            continue
        seen.add(key)
        p = _MainReferences()
        try:
            p.dump(task)
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            if not p.found:
                raise
            failure = e
        found += [name for name in p.found if name not in found]
    if found:
        raise ValueError(f"worker processes cannot import {', '.join(found)}, defined in the calling notebook or "
                         "script (__main__): define it in a module of its own (importable by the workers), or run "
                         "with workers=0 (in this process)") from failure


class Executor:
    """Runs waves of tasks in a pool of one-thread worker processes (or in this process with ``workers=0``).

    Raises:
        ValueError: ``workers`` neither None nor an integer ≥ 0.
    """

    def __init__(self, workers: int | None = None):
        # chosen by nobody (no argument, no $TWOPHASE_WORKERS): waves of GPU tasks then run in this process
        self.automatic = workers is None and runtime.current().workers is None
        self.workers = default_workers() if workers is None else check_workers(workers)
        self._pool: ProcessPoolExecutor | None = None

    def in_process(self, tasks: Sequence[Task]) -> bool:
        """Whether a wave runs in this process: one worker or one task, or (workers chosen automatically) a wave
        of GPU tasks. Measured on an H200 (bench/results/): with CUDA graphs, four processes sharing the GPU
        trained at 1.00x the rate of one, and one process lets each eNTK take the device's memory; several GPUs
        are used through Ray (README)."""
        if self.workers <= 1 or len(tasks) <= 1:
            return True
        return self.automatic and all(task_devices(t) == {"cuda"} for t in tasks)

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            threads = max(1, (os.cpu_count() or 1) // max(self.workers, 1))
            # spawn: safe inside a Jupyter kernel and with torch's threads (fork is not).
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker,
                                             initargs=(threads, runtime.current(), self.workers))
        return self._pool

    def map(self, tasks: Sequence[Task], desc: str = "tasks", progress: bool = True) -> list:
        """Results of ``tasks`` in their order; the first task that raises stops the wave and re-raises."""
        bar = Progress(desc, len(tasks), progress)
        try:
            if self.in_process(tasks):
                out = []
                for task in tasks:
                    out.append(task())
                    bar.advance()
                return out
            check_importable(tasks)
            pool = self._get_pool()
            futures = {pool.submit(task): i for i, task in enumerate(tasks)}
            results: list = [None] * len(tasks)
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    try:
                        results[futures[f]] = f.result()
                    except BrokenProcessPool as e:
                        raise BrokenProcessPool(
                            f"a worker process died while running '{desc}' ({e}); its own error is on the "
                            "workers' stderr (the terminal the kernel or script runs in): run with workers=0 to "
                            "see it here") from e
                    bar.advance()
            return results
        except BaseException:
            self.close(cancel=True)
            raise
        finally:
            bar.close()

    def waves(self, waves: Sequence[Sequence[Task]], desc: str, progress: bool = True) -> list[list]:
        """Run each wave after the previous one has finished; the results of every wave."""
        label = (lambda i: f"{desc}, stage {i + 1} of {len(waves)}") if len(waves) > 1 else (lambda i: desc)
        return [self.map(w, label(i), progress) if w else [] for i, w in enumerate(waves)]

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down (its processes exit)."""
        if self._pool is not None:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
            self._pool = None

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_waves(executor: Executor | None, waves: Sequence[Sequence[Task]], desc: str = "tasks",
              progress: bool = True) -> list[list]:
    """Run waves of tasks on the caller's executor (left open, for the caller to reuse), or on a new
    :class:`Executor` closed when they are done: every study's runner goes through here.

    Returns:
        The results of each wave, in order (:meth:`Executor.waves`).
    """
    if executor is not None:
        return executor.waves(waves, desc, progress)
    with Executor() as ex:
        return ex.waves(waves, desc, progress)
