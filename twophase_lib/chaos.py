"""The chaos-effect sweep: perturb a run at t0, train the twin on identical batches to t1, compare.

Every unit of work is a pure function of its configuration and is cached under its hash:

* ``parent``: the unperturbed run's checkpoint at a step (trained 0 -> step in one go, saving
  every requested step on the way, so an interrupted sweep resumes from the last saved one);
* ``branch``: the child started from the parent at t0 with a perturbation, trained to t1;
* ``chaos-metrics``: the comparison of parent and child at t1;
* ``entk`` and ``twin-kernel``: a checkpoint's eNTK on the first test images, and the kernel distance
  between the twins at t1.

So any executor (this process, a pool, Ray) can compute any piece in any order.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from .cache import Cache
from .config import RunConfig, base_run_config, check_profile
from .data import load_data
from .metrics import BarrierConfig, compare
from .ntk import MODES, empirical_ntk, kernel_distance
from .perturbation import Perturbation, PerturbationReport, branch, parameter_names
from .training import Checkpoint, materialise, progress_bar, train

METRICS = ("disagreement", "dissimilarity", "relative_distance", "test_loss_barrier", "train_loss_barrier",
           "test_error_barrier")


@dataclass(frozen=True)
class ChaosSweep:
    """One sweep: a run recipe, the perturbation times t0, the comparison time t1, the perturbation, seeds."""

    run: RunConfig
    t0s: tuple[int, ...]
    t1: int
    perturbation: Perturbation = Perturbation()
    seeds: tuple[int, ...] = (0, 1, 2)
    control_t0: int | None = None  # where the ε = 0 control branches off; None: the first t0
    barrier: BarrierConfig = BarrierConfig()
    kernel_inputs: int = 0  # the twins' eNTK distance at t1 on this many test images (0: not computed)
    kernel_mode: str = "full"

    def __post_init__(self):
        if self.kernel_mode not in MODES:
            raise ValueError(f"unknown eNTK mode {self.kernel_mode!r}; known modes: {', '.join(MODES)}")
        if not self.t0s or any(t < 0 or t > self.t1 for t in self.t0s):
            raise ValueError(f"every t0 must lie in [0, t1={self.t1}], got {self.t0s}")
        if self.t1 > self.run.optim.steps:
            raise ValueError(f"t1={self.t1} is past the run's last step {self.run.optim.steps}")

    @property
    def control_at(self) -> int:
        """The t0 of the ε = 0 control branch."""
        return self.t0s[0] if self.control_t0 is None else self.control_t0

    def runs(self) -> list[RunConfig]:
        """The run configuration of each seed."""
        return [self.run.replace(seed=s) for s in self.seeds]


def log_grid(last: int, points: int, first: int = 1) -> tuple[int, ...]:
    """0 followed by ``points - 1`` roughly log-spaced distinct integers from ``first`` to ``last``."""
    values = np.unique(np.round(np.geomspace(first, last, points - 1)).astype(int))
    return (0, *[int(v) for v in values])


def parent_checkpoints(run: RunConfig, steps: Iterable[int], cache: Cache, progress: bool = True) -> dict[int, Checkpoint]:
    """The parent run's checkpoints at ``steps``, from the cache or by training (resuming from the last cached one)."""
    steps = sorted(set(steps))
    found = {s: cache.load("parent", (run, s)) for s in steps}
    missing = [s for s in steps if found[s] is None]
    if missing:
        before = [s for s in steps if s < missing[0] and found[s] is not None]
        start = found[before[-1]] if before else None
        result = train(run, until=missing[-1], start=start, save_at=missing, progress=progress,
                       desc=f"parent seed {run.seed}")
        for s in missing:
            cache.save("parent", (run, s), result.checkpoints[s])
            found[s] = result.checkpoints[s]
    return found


def branch_checkpoint(run: RunConfig, t0: int, t1: int, pert: Perturbation, cache: Cache,
                      parent: Checkpoint | None = None, progress: bool = True) -> tuple[Checkpoint, PerturbationReport]:
    """The child perturbed at t0 and trained to t1 (cached by run, t0, t1 and perturbation)."""
    key = (run, t0, t1, pert)

    def compute():
        p = parent if parent is not None else parent_checkpoints(run, [t0], cache, progress)[t0]
        result, report = branch(run, p, pert, t1, progress=progress)
        return {"checkpoint": result.final, "report": dataclasses.asdict(report)}

    value = cache.get_or_compute("branch", key, compute)
    return value["checkpoint"], PerturbationReport(**value["report"])


def branch_metrics(run: RunConfig, t0: int, t1: int, pert: Perturbation, bc: BarrierConfig, cache: Cache,
                   progress: bool = True) -> dict:
    """Metrics between parent and child at t1 for one branch (cached)."""

    def compute():
        parents = parent_checkpoints(run, [t0, t1], cache, progress)
        child, report = branch_checkpoint(run, t0, t1, pert, cache, parents[t0], progress)
        data = load_data(run.data, run.device, run.dtype)
        out = compare(run, parents[t1], child, data, parameter_names(run), bc)
        out.update({"t0": t0, "t1": t1, "seed": run.seed, "perturbation": dataclasses.asdict(report),
                    "perturbation_size": pert.size})
        return out

    return cache.get_or_compute("chaos-metrics", (run, t0, t1, pert, bc), compute)


#: Recorded in every cached kernel's key, naming how its Gram products were computed (earlier kernels used float64).
KERNEL_PRODUCTS = "gram in the run's dtype"


def checkpoint_kernel(run: RunConfig, checkpoint: Checkpoint, n_inputs: int, mode: str) -> torch.Tensor:
    """The eNTK of a checkpoint on the run's first ``n_inputs`` test images (Jacobians and products in the run's dtype).

    In float32 the GEMM's rounding moves a kernel distance by about 2e-13 against float64 products
    (``bench/bench_ntk.py``), far below any distance the book reports.
    """
    data = load_data(run.data, run.device, run.dtype)
    return empirical_ntk(materialise(run, checkpoint), data.x_test[:n_inputs], mode).cpu()


def kernel_at(run: RunConfig, step: int, n_inputs: int, mode: str, cache: Cache, progress: bool = True) -> torch.Tensor:
    """The eNTK of the parent run's checkpoint at ``step`` (cached under run, step, inputs and mode)."""

    def compute():
        ckpt = parent_checkpoints(run, [step], cache, progress)[step]
        return checkpoint_kernel(run, ckpt, n_inputs, mode)

    return cache.get_or_compute("entk", (run, step, n_inputs, mode, KERNEL_PRODUCTS), compute)


def twin_kernel_distance(run: RunConfig, t0: int, t1: int, pert: Perturbation, n_inputs: int, mode: str,
                         cache: Cache, progress: bool = True) -> dict:
    """S(eNTK of the parent at t1, eNTK of the child branched at t0) for one branch (cached)."""

    def compute():
        child, _ = branch_checkpoint(run, t0, t1, pert, cache, progress=progress)
        parent = kernel_at(run, t1, n_inputs, mode, cache, progress)
        return {"kernel_distance": kernel_distance(parent, checkpoint_kernel(run, child, n_inputs, mode))}

    return cache.get_or_compute("twin-kernel", (run, t0, t1, pert, n_inputs, mode), compute)


def branch_task(sweep: ChaosSweep, run: RunConfig, t0: int, pert: Perturbation, cache: Cache,
                progress: bool = True) -> dict:
    """Every metric of one branch: the comparison at t1 and, if the sweep asks, the twins' kernel distance."""
    out = branch_metrics(run, t0, sweep.t1, pert, sweep.barrier, cache, progress)
    if sweep.kernel_inputs:
        out = {**out, **twin_kernel_distance(run, t0, sweep.t1, pert, sweep.kernel_inputs, sweep.kernel_mode, cache,
                                             progress)}
    return out


@dataclass
class ChaosResult:
    """Per-seed metric curves over t0 and the ε = 0 control, as plain arrays."""

    sweep: ChaosSweep
    t0s: np.ndarray
    values: dict[str, np.ndarray]  # metric -> (seeds, t0s)
    control: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)

    @property
    def control_is_exact(self) -> bool:
        """True when every ε = 0 control ended bitwise on its parent (distances, and kernel distance if any, exactly zero)."""
        return all(c["l2_distance"] == 0.0 and c["disagreement"] == 0.0 and c.get("kernel_distance", 0.0) == 0.0
                   for c in self.control)

    def mean(self, metric: str) -> np.ndarray:
        """Mean over seeds of a metric, per t0."""
        return self.values[metric].mean(0)


def run_sweep(sweep: ChaosSweep, cache: Cache | None = None, progress: bool = True,
              executor: Callable[[list[Callable[[], dict]]], list[dict]] | None = None) -> ChaosResult:
    """Compute (or load) every branch of the sweep and its ε = 0 control, seed by seed.

    ``executor`` maps a list of zero-argument tasks to their results; the default runs them here, in order.
    """
    cache = cache or Cache()
    zero = dataclasses.replace(sweep.perturbation, size=0.0)
    for run in sweep.runs():  # one parent run per seed, saving every t0 and t1 on the way
        parent_checkpoints(run, (*sweep.t0s, sweep.control_at, sweep.t1), cache, progress)
    tasks, labels = [], []
    for run in sweep.runs():
        for t0 in sweep.t0s:
            tasks.append(lambda run=run, t0=t0: branch_task(sweep, run, t0, sweep.perturbation, cache, progress))
            labels.append(("branch", run.seed, t0))
        tasks.append(lambda run=run: branch_task(sweep, run, sweep.control_at, zero, cache, progress))
        labels.append(("control", run.seed, sweep.control_at))
    if executor is None:
        results = [task() for task in progress_bar(tasks, "chaos sweep", progress)]
    else:
        results = executor(tasks)
    records = [r for r, (kind, _, _) in zip(results, labels) if kind == "branch"]
    control = [r for r, (kind, _, _) in zip(results, labels) if kind == "control"]
    t0s = np.array(sweep.t0s)
    metrics = METRICS + (("kernel_distance",) if sweep.kernel_inputs else ())
    values = {m: np.array([[r[m] for r in records if r["seed"] == s] for s in sweep.seeds]) for m in metrics}
    return ChaosResult(sweep, t0s, values, control, records)


def inflection_point(t0s: np.ndarray, curve: np.ndarray, fraction: float = 0.5) -> float:
    """First t0 where the curve falls to ``fraction`` of its value at the first t0 (log-linear interpolation in 1 + t0).

    Returns nan when the curve never falls that far, or when its early level is zero.
    """
    early = curve[0]
    if not early > 0:
        return math.nan
    threshold = fraction * early
    for i in range(1, len(t0s)):
        if curve[i] <= threshold:
            x0, x1 = math.log1p(t0s[i - 1]), math.log1p(t0s[i])
            y0, y1 = curve[i - 1], curve[i]
            w = (y0 - threshold) / (y0 - y1) if y0 != y1 else 1.0
            return math.expm1(x0 + w * (x1 - x0))
    return math.nan


def bootstrap_inflection(t0s: np.ndarray, per_seed: np.ndarray, fraction: float = 0.5, samples: int = 2000,
                         level: float = 0.9, seed: int = 0) -> dict:
    """Inflection of the seed-mean curve and a percentile bootstrap interval from resampling seeds."""
    rng = np.random.default_rng(seed)
    n = per_seed.shape[0]
    estimate = inflection_point(t0s, per_seed.mean(0), fraction)
    draws = np.array([inflection_point(t0s, per_seed[rng.integers(0, n, n)].mean(0), fraction) for _ in range(samples)])
    finite = draws[np.isfinite(draws)]
    lo, hi = (np.quantile(finite, [(1 - level) / 2, (1 + level) / 2]) if len(finite) else (math.nan, math.nan))
    return {"estimate": estimate, "low": float(lo), "high": float(hi), "level": level,
            "undefined_fraction": float(1 - len(finite) / samples)}


ARCHS = ("resnet20", "vgg16")


def preset(profile: str, arch: str, ablation: str | None = None) -> ChaosSweep:
    """The chapter-1 sweep of a profile for one architecture, optionally one of its ablations.

    ``ablation``: None (the main sweep), ``"constant-lr"`` (no lr drops, compared at the same t1),
    or ``"entry"`` (per-entry perturbation of standard deviation 1e-7 instead of total norm 1e-7).
    """
    check_profile(profile)
    run = base_run_config(profile, arch)
    if profile == "paper":
        t1 = run.optim.steps
        sweep = ChaosSweep(run, t0s=(0, 50, 100, 250, 500, 1000, 2500, 5000, 10000), t1=t1, seeds=(0, 1, 2),
                           control_t0=500, barrier=BarrierConfig(points=11, train_examples=10_000), kernel_inputs=100)
    elif profile == "cpu":
        t1 = 400
        run = run.replace(optim={"batch_size": 64, "steps": t1, "milestones": (200, 300)})
        sweep = ChaosSweep(run, t0s=(0, 4, 16, 50, 120, 250), t1=t1, seeds=(0, 1, 2), control_t0=120,
                           barrier=BarrierConfig(points=5, bn_batches=5, train_examples=500), kernel_inputs=50)
    else:
        t1 = 24
        run = run.replace(optim={"steps": t1, "milestones": (12, 18)})
        sweep = ChaosSweep(run, t0s=(0, 4, 16), t1=t1, seeds=(0, 1), control_t0=4,
                           barrier=BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=200,
                                                 test_examples=200), kernel_inputs=8)
    if ablation is None:
        return sweep
    # Ablations: two seeds, and at most four perturbation times (the first, the last and two between).
    lean = dict(seeds=sweep.seeds[:2], t0s=tuple(sorted({sweep.t0s[0], sweep.t0s[len(sweep.t0s) // 3],
                                                        sweep.t0s[-2], sweep.t0s[-1]})))
    if ablation == "constant-lr":
        return dataclasses.replace(sweep, run=sweep.run.replace(optim={"milestones": ()}), **lean)
    if ablation == "entry":
        return dataclasses.replace(sweep, perturbation=Perturbation(sweep.perturbation.size, "entry"), **lean)
    raise ValueError(f"unknown ablation {ablation!r}; known ablations: constant-lr, entry")
