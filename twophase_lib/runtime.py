"""The process's runtime settings, read from the environment once, in one place, and handed to worker processes.

Every setting the library takes from outside its arguments is a field of :class:`Runtime`; no other module
reads (or writes) ``os.environ``. The current runtime is built from the environment on first use
(:func:`current`, built again only when a variable changes); a block can run under another one
(:func:`using`), and the executors hand theirs to worker processes as an argument (with progress bars off and
each worker's share of a GPU), never through variables.

=================================  ========================================================  ===================
variable                           field                                                     default
=================================  ========================================================  ===================
``TWOPHASE_WORKERS``               ``workers``: worker processes (0: this process)            the CPU cores
``TWOPHASE_CACHE``                 ``cache_root``: the result cache                           ~/.cache/twophase/results
``TWOPHASE_DATA``                  ``data_root``: the full CIFAR-10                           ~/.cache/twophase/data
``TWOPHASE_PROGRESS``              ``progress_file``: one line per finished task              none
``TQDM_DISABLE``                   ``progress_bars`` off when 1/true/yes                      bars on
``TWOPHASE_CUDA_GRAPHS``           ``cuda_graphs`` off when 0                                 on
``TWOPHASE_PLANNED_BATCHES``       ``planned_batches`` off when 0 (batches drawn ahead)      on
``TWOPHASE_GPU_MEMORY_SHARE``      ``gpu_memory_share``: of a GPU's free memory, per eNTK      0.5 / processes
``TWOPHASE_RAY_ADDRESS``           ``ray_address``: ``local`` or a cluster address             no Ray
``TWOPHASE_RAY_NUMERICS``          ``ray_numerics``: the fingerprint a Ray study runs on       the only one
``TWOPHASE_RAY_CPUS_PER_TASK``     ``ray_cpus_per_task``                                      1
``TWOPHASE_RAY_GPUS_PER_TASK``     ``ray_gpus_per_task``                                      0
=================================  ========================================================  ===================

A user's ``TWOPHASE_GPU_MEMORY_SHARE`` wins everywhere; without it, an executor gives each of its processes
0.5 / (processes sharing the device), and a Ray task 0.5 × the GPU fraction it reserved.
"""

from __future__ import annotations

import dataclasses
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

#: A GPU's free memory one eNTK may take when nothing else is said.
DEFAULT_GPU_MEMORY_SHARE = 0.5


def _integer(env: Mapping[str, str], name: str, minimum: int = 0) -> int | None:
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _number(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name)
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {text!r}") from None


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Runtime:
    """What a process takes from its environment (see the module docstring for the variables and defaults).

    ``gpu_memory_share_chosen`` records whether the share was set by the user (it then wins over what an
    executor would give its workers).
    """

    workers: int | None = None
    cache_root: Path = Path.home() / ".cache" / "twophase" / "results"
    data_root: Path = Path.home() / ".cache" / "twophase" / "data"
    progress_file: Path | None = None
    progress_bars: bool = True
    cuda_graphs: bool = True
    planned_batches: bool = True
    gpu_memory_share: float = DEFAULT_GPU_MEMORY_SHARE
    gpu_memory_share_chosen: bool = False
    ray_address: str | None = None
    ray_numerics: str | None = None
    ray_cpus_per_task: float | None = None
    ray_gpus_per_task: float | None = None

    def __post_init__(self):
        if not 0 < self.gpu_memory_share <= 1:
            raise ValueError(f"the GPU memory share must lie in (0, 1], got {self.gpu_memory_share!r} "
                             "(TWOPHASE_GPU_MEMORY_SHARE)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Runtime":
        """The runtime the variables of ``env`` (default ``os.environ``) describe.

        Raises:
            ValueError: a variable holds a value of the wrong kind (its name and value are in the message).
        """
        env = os.environ if env is None else env
        share = _number(env, "TWOPHASE_GPU_MEMORY_SHARE")
        defaults = cls()
        return cls(
            workers=_integer(env, "TWOPHASE_WORKERS"),
            cache_root=Path(env["TWOPHASE_CACHE"]).expanduser() if env.get("TWOPHASE_CACHE") else defaults.cache_root,
            data_root=Path(env["TWOPHASE_DATA"]) if env.get("TWOPHASE_DATA") else defaults.data_root,
            progress_file=Path(env["TWOPHASE_PROGRESS"]) if env.get("TWOPHASE_PROGRESS") else None,
            progress_bars=not _flag(env.get("TQDM_DISABLE")),
            cuda_graphs=env.get("TWOPHASE_CUDA_GRAPHS", "1").strip() != "0",
            planned_batches=env.get("TWOPHASE_PLANNED_BATCHES", "1").strip() != "0",
            gpu_memory_share=DEFAULT_GPU_MEMORY_SHARE if share is None else share,
            gpu_memory_share_chosen=share is not None,
            ray_address=env.get("TWOPHASE_RAY_ADDRESS", "").strip() or None,
            ray_numerics=env.get("TWOPHASE_RAY_NUMERICS", "").strip() or None,
            ray_cpus_per_task=_number(env, "TWOPHASE_RAY_CPUS_PER_TASK"),
            ray_gpus_per_task=_number(env, "TWOPHASE_RAY_GPUS_PER_TASK"),
        )

    def for_worker(self, gpu_share: float) -> "Runtime":
        """What a worker process runs under: no progress bars (the parent reports) and, unless the user chose
        one, ``gpu_share`` of a GPU's free memory per eNTK."""
        share = self.gpu_memory_share if self.gpu_memory_share_chosen else min(max(gpu_share, 1e-3), 1.0)
        return dataclasses.replace(self, progress_bars=False, gpu_memory_share=share)

    def replace(self, **changes) -> "Runtime":
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def environment_variables(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(name, value) of those of ``names`` that are set: the kernels' own switches (``ATEN_CPU_CAPABILITY``,
    oneDNN's and MKL's), which the numerics fingerprint records."""
    return tuple((k, os.environ[k]) for k in names if os.environ.get(k))


#: The variables a runtime is built from.
VARIABLES = ("TWOPHASE_WORKERS", "TWOPHASE_CACHE", "TWOPHASE_DATA", "TWOPHASE_PROGRESS", "TQDM_DISABLE",
             "TWOPHASE_CUDA_GRAPHS", "TWOPHASE_GPU_MEMORY_SHARE", "TWOPHASE_RAY_ADDRESS", "TWOPHASE_RAY_NUMERICS",
             "TWOPHASE_RAY_CPUS_PER_TASK", "TWOPHASE_RAY_GPUS_PER_TASK")

_SET: Runtime | None = None  # set by set_current/using (a worker's, a test's)
_FROM_ENV: tuple[tuple, Runtime] | None = None  # built from the environment, with the values it was built from


def current() -> Runtime:
    """The process's runtime: the one set by :func:`set_current` or :func:`using`, else the one the environment
    describes (built once, and again only if one of :data:`VARIABLES` changed)."""
    global _FROM_ENV
    if _SET is not None:
        return _SET
    key = tuple(os.environ.get(v) for v in VARIABLES)
    if _FROM_ENV is None or _FROM_ENV[0] != key:
        _FROM_ENV = (key, Runtime.from_env())
    return _FROM_ENV[1]


def set_current(runtime: Runtime | None) -> None:
    """Make ``runtime`` the process's runtime (None: the environment's again). Worker processes call this with
    what their executor handed them."""
    global _SET
    _SET = runtime


@contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    """Run the block under ``runtime``; the previous one is restored after."""
    global _SET
    before = _SET
    _SET = runtime
    try:
        yield runtime
    finally:
        _SET = before
