"""The chaos-effect sweep: perturb a run at t0, train the twin on identical batches to t1, compare.

A sweep is one schedule's grid of t0 over seeds, with an ε = 0 control and, optionally, the
reference levels a reader needs to read a distance: twins that differ from the start
(independent initialisation, same batches) and twins that differ only in their data order.
Several sweeps (the two schedules, an ε sweep) run together in three waves on one executor:
parents up to the first drop; then the parents' continuations and the children up to the first
drop (shared by both schedules); then every comparison at t1.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from .cache import Cache
from .config import RunConfig, check_choice
from .executor import Executor
from .metrics import BarrierConfig
from .ntk import MODES
from .perturbation import Perturbation
from .store import State, child_checkpoint, pair_metrics, parent_checkpoints

METRICS = ("disagreement", "dissimilarity", "relative_distance", "test_loss_barrier", "train_loss_barrier",
           "test_error_barrier", "train_error_barrier")
#: The reference pairs, two networks that were never twins, measured with the same metrics.
REFERENCES = {"independent init": "different initialisation, same batches",
              "data order": "same initialisation, different data order"}
REFERENCE_OFFSET = 1000  # the other network of a reference pair uses seed + 1000


@dataclass(frozen=True)
class ChaosSweep:
    """One sweep: a run recipe, the perturbation times t0, the comparison time t1, the perturbation, seeds."""

    run: RunConfig
    t0s: tuple[int, ...]
    t1: int
    perturbation: Perturbation = Perturbation()
    seeds: tuple[int, ...] = (0, 1, 2)
    control_t0: int | None = None  # where the ε = 0 control branches off; None: no control
    barrier: BarrierConfig = BarrierConfig()
    kernel_inputs: int = 0  # the twins' eNTK distance at t1 on this many test images (0: not computed)
    kernel_mode: str = "full"
    reference_seeds: tuple[int, ...] = ()  # seeds with reference pairs (see REFERENCES)
    via: tuple[int, ...] = ()  # steps where children are cached on the way (shared between schedules)
    parent_steps: tuple[int, ...] = ()  # further parent checkpoints to save on the way (other chapters read them)

    def __post_init__(self):
        check_choice(self.kernel_mode, MODES, "eNTK mode")
        if not self.t0s or any(t < 0 or t > self.t1 for t in self.t0s):
            raise ValueError(f"every t0 must lie in [0, t1={self.t1}], got {self.t0s}")
        if self.t1 > self.run.optim.steps:
            raise ValueError(f"t1={self.t1} is past the run's last step {self.run.optim.steps}")

    def runs(self) -> list[RunConfig]:
        """The run configuration of each seed."""
        return [self.run.replace(seed=s) for s in self.seeds]

    def reference_runs(self, seed: int) -> dict[str, RunConfig]:
        """The other network of each reference pair of a seed."""
        run = self.run.replace(seed=seed)
        return {"independent init": run.replace(seed=seed + REFERENCE_OFFSET, data_seed=seed),
                "data order": run.replace(data_seed=seed + REFERENCE_OFFSET)}


@dataclass
class ChaosResult:
    """Per-seed metric curves over t0, the ε = 0 controls and the reference pairs, as plain values."""

    sweep: ChaosSweep
    t0s: np.ndarray
    values: dict[str, np.ndarray]  # metric -> (seeds, t0s)
    control: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    references: dict[str, list[dict]] = field(default_factory=dict)  # kind -> one record per reference seed

    @property
    def control_is_exact(self) -> bool:
        """True when every ε = 0 control ended bitwise on its parent (distances, and kernel distance if any, exactly
        zero)."""
        return bool(self.control) and all(
            c["l2_distance"] == 0.0 and c["disagreement"] == 0.0 and c.get("kernel_distance", 0.0) == 0.0
            for c in self.control
        )

    def mean(self, metric: str) -> np.ndarray:
        """Mean over seeds of a metric, per t0."""
        return self.values[metric].mean(0)

    def reference(self, kind: str, metric: str) -> float:
        """Mean over reference seeds of a metric for one kind of reference pair (nan when not run)."""
        recs = self.references.get(kind, [])
        return float(np.mean([r[metric] for r in recs])) if recs else math.nan


def _keyed(tasks: dict, key, fn, *args, **kwargs) -> None:
    if key not in tasks:
        tasks[key] = partial(fn, *args, **kwargs)


def _into_cache(fn, *args, **kwargs) -> None:
    """Run a store function for its cached result only: tensors do not travel back from worker processes."""
    fn(*args, **kwargs)


def _task_waves(sweeps: dict, cache: Cache) -> tuple[list[list], list[tuple], list]:
    """Three waves of tasks for a set of sweeps, duplicates removed; labels of the comparisons, and their keys."""
    parents_early, parents_late, children, compare = {}, {}, {}, {}
    labels = []
    for name, sw in sweeps.items():
        zero = dataclasses.replace(sw.perturbation, size=0.0)
        others = [r for s in sw.reference_seeds for r in sw.reference_runs(s).values()]
        for run in [*sw.runs(), *others]:
            steps = sorted(
                {sw.t1, *sw.via}
                if run in others
                else {
                    *sw.t0s,
                    *([sw.control_t0] if sw.control_t0 is not None else []),
                    sw.t1,
                    *sw.via,
                    *sw.parent_steps,
                }
            )
            early = [s for s in steps if s <= min(sw.via, default=0)]
            if early:
                _keyed(
                    parents_early,
                    ("parent", run.prefix(early[-1]), tuple(early)),
                    _into_cache,
                    parent_checkpoints,
                    run,
                    early,
                    cache,
                )
            _keyed(
                parents_late,
                ("parent", run.prefix(steps[-1]), tuple(steps)),
                _into_cache,
                parent_checkpoints,
                run,
                steps,
                cache,
            )
        for run in sw.runs():
            branches = [(t0, sw.perturbation, "branch") for t0 in sw.t0s]
            if sw.control_t0 is not None:
                branches.append((sw.control_t0, zero, "control"))
            for t0, pert, kind in branches:
                for v in sw.via:
                    if t0 < v < sw.t1:
                        state = State(run, v, t0, pert)
                        _keyed(children, ("child", state.key()), _into_cache, child_checkpoint, state, cache, sw.via)
                a, b = State(run, sw.t1), State(run, sw.t1, t0, pert)
                _keyed(
                    compare,
                    (a.key(), b.key()),
                    pair_metrics,
                    a,
                    b,
                    sw.barrier,
                    cache,
                    sw.kernel_inputs,
                    sw.kernel_mode,
                    sw.via,
                )
                labels.append((name, kind, run.seed, t0, (a.key(), b.key())))
        for seed in sw.reference_seeds:
            a = State(sw.run.replace(seed=seed), sw.t1)
            for kind, other in sw.reference_runs(seed).items():
                b = State(other, sw.t1)
                _keyed(
                    compare, (a.key(), b.key()), pair_metrics, a, b, sw.barrier, cache, sw.kernel_inputs, sw.kernel_mode
                )
                labels.append((name, kind, seed, None, (a.key(), b.key())))
    waves = [list(parents_early.values()), [*parents_late.values(), *children.values()], list(compare.values())]
    return waves, labels, list(compare)


def run_sweeps(
    sweeps: dict,
    cache: Cache | None = None,
    executor: Executor | None = None,
    progress: bool = True,
    desc: str = "chaos sweeps",
) -> dict:
    """Compute (or load) every branch, control and reference pair of several sweeps; one result per sweep."""
    cache = cache or Cache()
    own = executor is None
    executor = executor or Executor()
    try:
        waves, labels, keys = _task_waves(sweeps, cache)
        results = executor.waves(waves, desc, progress)[-1]
    finally:
        if own:
            executor.close()
    by_key = dict(zip(keys, results))
    out = {}
    for name, sw in sweeps.items():
        mine = [(kind, seed, t0, by_key[k]) for n, kind, seed, t0, k in labels if n == name]
        records = [{**r, "t0": t0, "seed": seed} for kind, seed, t0, r in mine if kind == "branch"]
        control = [{**r, "t0": t0, "seed": seed} for kind, seed, t0, r in mine if kind == "control"]
        refs = {kind: [{**r, "seed": seed} for k, seed, _, r in mine if k == kind] for kind in REFERENCES}
        metrics = METRICS + (("kernel_distance",) if sw.kernel_inputs else ())
        values = {m: np.array([[r[m] for r in records if r["seed"] == s] for s in sw.seeds]) for m in metrics}
        out[name] = ChaosResult(sw, np.array(sw.t0s), values, control, records, {k: v for k, v in refs.items() if v})
    return out


def run_sweep(
    sweep: ChaosSweep, cache: Cache | None = None, executor: Executor | None = None, progress: bool = True
) -> ChaosResult:
    """One sweep (see :func:`run_sweeps`)."""
    return run_sweeps({"sweep": sweep}, cache, executor, progress)["sweep"]


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


def inflection_range(t0s: np.ndarray, per_seed: np.ndarray, fraction: float = 0.5) -> dict:
    """Inflection of the seed-mean curve and the range of the seeds' own inflections (nan where a seed has none).

    With three seeds a bootstrap has ten distinct resamples and no honest interval: the book shows the range.
    """
    each = [inflection_point(t0s, row, fraction) for row in per_seed]
    finite = [x for x in each if math.isfinite(x)]
    return {
        "estimate": inflection_point(t0s, per_seed.mean(0), fraction),
        "per_seed": each,
        "low": min(finite) if finite else math.nan,
        "high": max(finite) if finite else math.nan,
        "seeds": len(each),
        "undefined_seeds": len(each) - len(finite),
    }


