"""The cone-effect study: eNTKs along one training run, their distance matrix (the paper's Fig. 4), S(τ, t)
(Fig. 5a) and lag curves S(t, t + Δ) (Fig. 5b), with S between independently initialised networks as the
calibration.

The runs are chapter 1's parent runs (same configurations, so their checkpoints are shared through
the store). The kernel of each checkpoint is cached by :func:`twophase_lib.store.kernel_at`; before
the first lr drop the step schedule and the constant lr share them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .cache import Cache
from .chaos import _into_cache, reference_partner
from .config import RunConfig, check_choice
from .executor import Executor, run_waves
from .ntk import distance_matrix, kernel_distance
from .store import BN_STATISTICS, KERNEL_SPLITS, State, kernel_at, parent_checkpoints
from .verdicts import Verdict, lag_cone_verdict


@dataclass(frozen=True)
class ConeStudy:
    """Which runs, at which checkpoints, on how many fixed inputs (test or training images), with which eNTK
    (``mode``: all logits or their sum; ``bn``: batch-norm statistics re-estimated at each checkpoint or training's
    running averages), and the reference points τ."""

    run: RunConfig
    steps: tuple[int, ...]
    refs: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    n_inputs: int = 100
    mode: str = "full"
    split: str = "test"  # the eNTK's inputs: the first test images, or the first training images (the paper's)
    reference_seeds: tuple[int, ...] = ()  # calibration: S between independently initialised networks at each step
    reference_steps: tuple[int, ...] | None = None  # the calibration's checkpoints (None: every step)
    # batch norm's statistics at each checkpoint: re-estimated on training batches, or training's running averages
    bn: str = field(default="reestimated", metadata={"omit_default": True})

    def __post_init__(self):
        check_choice(self.split, KERNEL_SPLITS, "eNTK input split")
        check_choice(self.bn, BN_STATISTICS, "batch-norm statistics")
        if list(self.steps) != sorted(set(self.steps)):
            raise ValueError("checkpoint steps must be increasing and distinct")
        if not set(self.refs) <= set(self.steps):
            raise ValueError(f"every reference point τ must be a checkpoint step: {self.refs} vs {self.steps}")
        if self.reference_steps is not None and not set(self.reference_steps) <= set(self.steps):
            raise ValueError(f"the calibration's steps must be checkpoints: {self.reference_steps} vs {self.steps}")

    @property
    def calibration_steps(self) -> tuple[int, ...]:
        """The steps where S between independently initialised networks is measured."""
        return self.steps if self.reference_steps is None else tuple(sorted(set(self.reference_steps)))


@dataclass
class ConeResult:
    """Per seed: the kernel-distance matrix over checkpoints; S(τ, t) and lag curves read from it."""

    study: ConeStudy
    matrices: np.ndarray  # (seeds, steps, steps)
    reference: np.ndarray | None = None  # (reference seeds, steps): S between independently initialised networks,
    # NaN at steps outside ``study.reference_steps``

    def lag_curve(self, t: int, lags: tuple[int, ...]) -> np.ndarray:
        """S(t, t + Δ) per seed for each lag Δ (the paper's Fig. 5b): (seeds, lags).

        Raises:
            ValueError: t or some t + Δ is not a checkpoint of the study.
        """
        steps = list(self.study.steps)
        missing = [x for x in (t, *(t + d for d in lags)) if x not in steps]
        if missing:
            raise ValueError(f"not checkpoints of the study: {missing} (checkpoints {self.study.steps})")
        i = steps.index(t)
        return np.stack([self.matrices[:, i, steps.index(t + d)] for d in lags], 1)

    def from_reference(self, tau: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps t ≥ τ and S(τ, t) per seed."""
        steps = np.array(self.study.steps)
        i = int(np.where(steps == tau)[0][0])
        return steps[i:], self.matrices[:, i, i:]


def block_boundary(steps, matrix: np.ndarray, min_block: int = 2) -> tuple[int, float]:
    """Where a within-run kernel-distance matrix splits into two blocks (the paper's Fig. 4 boundary).

    For each split of the checkpoints into an early block and a late block (each at least ``min_block``
    checkpoints), the contrast is the mean S between the blocks minus the mean S within them (the two blocks'
    means averaged); the boundary is the first checkpoint of the late block at the largest contrast.

    Args:
        steps: (n,) increasing checkpoint steps.
        matrix: (n, n) symmetric S(t, t') with zero diagonal.
        min_block: fewest checkpoints in a block.

    Returns:
        (boundary step, its contrast); the contrast is ≤ 0 when no split separates the matrix.

    Raises:
        ValueError: shapes disagree or fewer than 2 × ``min_block`` checkpoints.
    """
    steps, m = np.asarray(steps), np.asarray(matrix, dtype=float)
    n = len(steps)
    if m.shape != (n, n) or n < 2 * min_block:
        raise ValueError(f"need an (n, n) matrix for n ≥ {2 * min_block} steps: steps {steps.shape}, matrix {m.shape}")

    def within(block: np.ndarray) -> float:
        k = len(block)
        return float(block.sum() / (k * (k - 1)))

    best, where = -np.inf, int(steps[min_block])
    for b in range(min_block, n - min_block + 1):
        contrast = float(m[:b, b:].mean()) - 0.5 * (within(m[:b, :b]) + within(m[b:, b:]))
        if contrast > best:
            best, where = contrast, int(steps[b])
    return where, best


def run_studies(studies: dict, cache: Cache | None = None, executor: Executor | None = None, progress: bool = True,
                desc: str = "cone studies") -> dict:
    """Kernels at every checkpoint of every seed (and of the calibration's independently initialised networks) of
    several studies, and their distance matrices.

    Two waves shared by all studies: each run's checkpoints (parents trained once to the furthest step any study
    needs), then one task per distinct kernel (a checkpoint two studies or runs share, e.g. a step schedule's and a
    constant lr's before the first drop, is computed once), so the workers stay evenly loaded. The distance
    matrices are then assembled from the cache.

    Args:
        studies: {name: :class:`ConeStudy`}.
        cache: where results live (default :class:`twophase_lib.cache.Cache`).
        executor: runs the waves (default :class:`twophase_lib.executor.Executor`, closed after).
        progress: bars and progress lines.

    Returns:
        A dict from each name of ``studies`` to its :class:`ConeResult`.
    """
    cache = cache or Cache()
    runs: dict[RunConfig, set] = {}
    kernels: dict = {}

    def need(run: RunConfig, steps, st: ConeStudy) -> None:
        runs.setdefault(run, set()).update(steps)
        for s in steps:
            key = (State(run, s).key(), st.n_inputs, st.mode, st.split, st.bn)
            if key not in kernels:
                kernels[key] = partial(_into_cache, kernel_at, run, s, st.n_inputs, st.mode, cache, split=st.split,
                                       bn=st.bn)

    for st in studies.values():
        for seed in st.seeds:
            need(st.run.replace(seed=seed), st.steps, st)
        for seed in st.reference_seeds:
            run = st.run.replace(seed=seed)
            need(run, st.calibration_steps, st)
            need(reference_partner(run), st.calibration_steps, st)
    parents = [partial(_into_cache, parent_checkpoints, run, sorted(steps), cache) for run, steps in runs.items()]
    run_waves(executor, [parents, list(kernels.values())], desc, progress)

    def kernel(run: RunConfig, step: int, st: ConeStudy):
        return kernel_at(run, step, st.n_inputs, st.mode, cache, split=st.split, bn=st.bn)

    results = {}
    for name, st in studies.items():
        mats = np.stack([distance_matrix([kernel(st.run.replace(seed=seed), s, st) for s in st.steps])
                         for seed in st.seeds])
        refs = None
        if st.reference_seeds:
            refs = np.full((len(st.reference_seeds), len(st.steps)), np.nan)
            for i, seed in enumerate(st.reference_seeds):
                run = st.run.replace(seed=seed)
                for s in st.calibration_steps:
                    refs[i, st.steps.index(s)] = kernel_distance(kernel(run, s, st),
                                                                  kernel(reference_partner(run), s, st))
        results[name] = ConeResult(st, mats, refs)
    return results


# ------------------------------------------------------------------------------- reading the lag curves


@dataclass
class LagReading:
    """One network's lag curves S(t, t + Δ) (per seed: (seeds, lags) per t), the distance the kernel travelled from
    initialisation to the late t S(0, t) (per seed), the calibration (S between independently initialised networks,
    shown beside), the within-run block boundary with its interval, and the rule's verdict on the early and late
    curves."""

    arch: str
    lags: np.ndarray
    curves: dict[int, np.ndarray]
    calibration: float
    calibration_per_seed: np.ndarray
    boundary: tuple[int, float]
    boundary_interval: tuple[float, float]
    verdict: Verdict
    travelled_per_seed: np.ndarray | None = None

    @property
    def travelled(self) -> float:
        """The distance the kernel travelled from initialisation to the late t, S(0, t) averaged over seeds, which
        the rule's *narrow* reads the floor against."""
        return float(self.travelled_per_seed.mean())

    @property
    def early(self) -> int:
        """The t of the early lag curve."""
        return min(self.curves)

    @property
    def late(self) -> int:
        """The t of the late lag curve."""
        return max(self.curves)


def judge_lags(lags: np.ndarray, early: np.ndarray, late: np.ndarray, travelled: np.ndarray,
               calibration: np.ndarray, resamples: int = 2000) -> Verdict:
    """:func:`twophase_lib.verdicts.lag_cone_verdict` applied to the lag curves' measurements, before any
    resampling: what :func:`lag_reading` judges, and what a recorded :class:`~twophase_lib.judgements.Judgement`
    re-judges without recomputing.

    Args:
        lags: (L,) the lags Δ in iterations.
        early, late: (seeds, L) S(t, t + Δ) per seed at the early and the late t.
        travelled: (seeds,) S(0, t) per seed at the late t.
        calibration: (pairs,) S between independently initialised networks at the late t.
        resamples: bootstrap replicates (seeds resampled, the same resamples for the three seed quantities).

    Returns:
        The rule's verdict, with its :class:`~twophase_lib.judgements.Judgement` attached (``verdict.judgement``).
    """
    from .judgements import Judgement

    early, late, travelled, cal = (np.asarray(a, dtype=float) for a in (early, late, travelled, calibration))
    rng = np.random.default_rng(0)
    n = early.shape[0]
    idx = rng.integers(0, n, size=(resamples, n))
    er, lr, tr = early[idx].mean(1), late[idx].mean(1), travelled[idx].mean(1)
    cal_reps = cal[rng.integers(0, len(cal), size=(resamples, len(cal)))].mean(1)
    verdict = lag_cone_verdict(np.asarray(lags), early.mean(0), er, late.mean(0), lr, float(travelled.mean()), tr, n,
                               float(cal.mean()), cal_reps, len(cal))
    verdict.judgement = Judgement("lag_cone", {"lags": np.asarray(lags), "early": early, "late": late,
                                               "travelled": travelled, "calibration": cal, "resamples": int(resamples)})
    return verdict


def lag_reading(arch: str, res: ConeResult, lag_ts: tuple[int, ...], lags: tuple[int, ...],
                resamples: int = 2000) -> LagReading:
    """Apply :func:`twophase_lib.verdicts.lag_cone_verdict` to the earliest and latest lag curves against the
    distance travelled from initialisation S(0, t) at the late t, with S between independently initialised networks
    shown beside; locate the block boundary of the seed-mean S matrix, with a 90% percentile interval over seeds
    (bootstrap of the seed-mean matrix; a grid statistic).

    Raises:
        ValueError: the study has no checkpoint at step 0 (S(0, t) cannot be read) or no reference (calibration)
            seeds.
    """
    steps = list(res.study.steps)
    if 0 not in steps:
        raise ValueError(f"the lag rule reads S(0, t): the study's checkpoints {res.study.steps} must include 0")
    if res.reference is None:
        raise ValueError("the lag reading shows S between independently initialised networks: set reference_seeds")
    curves = {t: res.lag_curve(t, lags) for t in lag_ts}
    early, late = curves[min(lag_ts)], curves[max(lag_ts)]
    travelled = res.matrices[:, steps.index(0), steps.index(max(lag_ts))]
    cal = res.reference[:, steps.index(max(lag_ts))]
    verdict = judge_lags(np.array(lags), early, late, travelled, cal, resamples)
    n = early.shape[0]
    idx = np.random.default_rng(0).integers(0, n, size=(resamples, n))  # the seeds' resamples judge_lags drew
    boundary = block_boundary(res.study.steps, res.matrices.mean(0))
    reps = [block_boundary(res.study.steps, res.matrices[i].mean(0))[0] for i in idx[:200]]
    lo, hi = np.quantile(reps, [0.05, 0.95], method="inverted_cdf")
    return LagReading(arch, np.array(lags), curves, float(cal.mean()), cal, boundary, (float(lo), float(hi)),
                      verdict, travelled)
