"""The cone-effect study: eNTKs along one training run, their distance matrix, S(τ, t) and velocity.

The runs are chapter 1's parent runs (same configurations, so their checkpoints are shared through
the cache). The kernel of each checkpoint is cached under (run, step, inputs, mode) by
:func:`twophase_lib.chaos.kernel_at`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cache import Cache
from .chaos import kernel_at, parent_checkpoints, preset as chaos_preset
from .config import RunConfig, check_profile
from .ntk import distance_matrix
from .training import progress_bar


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


def run_study(study: ConeStudy, cache: Cache | None = None, progress: bool = True) -> ConeResult:
    """Kernels at every checkpoint of every seed (cached), and their distance matrices."""
    cache = cache or Cache()
    mats = []
    for seed in study.seeds:
        run = study.run.replace(seed=seed)
        parent_checkpoints(run, study.steps, cache, progress)
        kernels = [kernel_at(run, s, study.n_inputs, study.mode, cache, progress)
                   for s in progress_bar(study.steps, f"eNTK seed {seed}", progress)]
        mats.append(distance_matrix(kernels))
    return ConeResult(study, np.stack(mats))


def preset(profile: str, arch: str, ablation: str | None = None) -> ConeStudy:
    """Chapter 2's study of a profile: chapter 1's parent runs, a checkpoint grid dense early, τ after the transition.

    ``ablation="constant-lr"`` studies chapter 1's constant-lr runs instead (no lr drops; its two seeds).
    """
    check_profile(profile)
    chaos = chaos_preset(profile, arch, ablation)
    run, t1 = chaos.run, chaos.run.optim.steps
    if profile == "paper":
        steps = (0, 100, 250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 10000, 12000, 16000, 20000,
                 30000, 40000, 50000, run.optim.steps)
        return ConeStudy(run, steps, refs=(2000, 4000, 6000, 8000), seeds=chaos.seeds, n_inputs=100)
    if profile == "cpu":
        steps = (0, 5, 10, 20, 30, 50, 75, 100, 125, 150, 200, 250, 300, 350, t1)
        return ConeStudy(run, steps, refs=(50, 100, 150, 200), seeds=chaos.seeds, n_inputs=50)
    steps = (0, 4, 8, 12, 16, 20, t1)
    return ConeStudy(run, steps, refs=(4, 8), seeds=chaos.seeds, n_inputs=8)
