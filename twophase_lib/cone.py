"""The cone-effect study: eNTKs along one training run, their distance matrix, S(τ, t) and velocity.

The runs are chapter 1's parent runs (same configurations, so their checkpoints are shared through
the store). The kernel of each checkpoint is cached by :func:`twophase_lib.store.kernel_at`; before
the first lr drop the step schedule and the constant lr share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .cache import Cache
from .config import RunConfig
from .executor import Executor
from .ntk import distance_matrix
from .store import kernel_at, parent_checkpoints


@dataclass(frozen=True)
class ConeStudy:
    """Which runs, at which checkpoints, on how many fixed test inputs, with which eNTK, and the reference points τ."""

    run: RunConfig
    steps: tuple[int, ...]
    refs: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    n_inputs: int = 100
    mode: str = "full"

    def __post_init__(self):
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError("checkpoint steps must be increasing and distinct")
        if not set(self.refs) <= set(self.steps):
            raise ValueError(f"every reference point τ must be a checkpoint step: {self.refs} vs {self.steps}")


@dataclass
class ConeResult:
    """Per seed: the kernel-distance matrix over checkpoints; derived S(τ, t) curves and velocities."""

    study: ConeStudy
    matrices: np.ndarray  # (seeds, steps, steps)
    velocity: np.ndarray = field(init=False)  # (seeds, steps - 1)

    def __post_init__(self):
        steps = np.array(self.study.steps)
        idx = np.arange(len(steps) - 1)
        self.velocity = self.matrices[:, idx, idx + 1] / np.diff(steps)

    def from_reference(self, tau: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps t ≥ τ and S(τ, t) per seed."""
        steps = np.array(self.study.steps)
        i = int(np.where(steps == tau)[0][0])
        return steps[i:], self.matrices[:, i, i:]


def _seed_kernels(run: RunConfig, steps: tuple[int, ...], n_inputs: int, mode: str, cache: Cache) -> np.ndarray:
    """The kernel-distance matrix over one run's checkpoints (its kernels cached one by one)."""
    parent_checkpoints(run, steps, cache)
    return distance_matrix([kernel_at(run, s, n_inputs, mode, cache) for s in steps])


def run_studies(studies: dict, cache: Cache | None = None, executor: Executor | None = None, progress: bool = True,
                desc: str = "cone studies") -> dict:
    """Kernels at every checkpoint of every seed of several studies (one task per run), and their distance matrices."""
    cache = cache or Cache()
    own = executor is None
    executor = executor or Executor()
    # Runs with lr drops first: runs without them then find the kernels before the first drop cached.
    waves, index = [[], []], [[], []]
    for name, st in studies.items():
        w = 0 if st.run.optim.milestones else 1
        for seed in st.seeds:
            waves[w].append(partial(_seed_kernels, st.run.replace(seed=seed), st.steps, st.n_inputs, st.mode, cache))
            index[w].append(name)
    try:
        mats = [m for wave in executor.waves(waves, desc, progress) for m in wave]
    finally:
        if own:
            executor.close()
    names = index[0] + index[1]
    return {
        name: ConeResult(st, np.stack([m for m, n in zip(mats, names) if n == name])) for name, st in studies.items()
    }


def run_study(
    study: ConeStudy, cache: Cache | None = None, executor: Executor | None = None, progress: bool = True
) -> ConeResult:
    """One study (see :func:`run_studies`)."""
    return run_studies({"study": study}, cache, executor, progress)["study"]
