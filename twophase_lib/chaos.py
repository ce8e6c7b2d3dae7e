"""The chaos effect: perturb a run at t0, train the twin on identical batches to t1, compare.

A :class:`ChaosMap` follows each twin over a grid of t1 (the paper's Fig. 3 maps over (t0, t1)): each twin
trains once, cached at every t1, and is compared with its parent at each; fixed-window slices t1 = t0 + Δ give
every twin the same time to diverge. Beside the twins, an ε = 0 control (which must end bitwise on its parent)
and reference pairs of networks that were never twins (:class:`Reference`) give the levels a distance is read
against. Several maps run together in three waves on one executor (:func:`run_chaos_maps`).
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from functools import partial

import numpy as np

from .cache import Cache
from .config import RunConfig, check_choice
from .executor import Executor, run_waves
from .metrics import BarrierConfig
from .ntk import MODES
from .perturbation import Perturbation
from .store import State, child_checkpoint, pair_metrics, parent_checkpoints, state_predictions
from .verdicts import Verdict, bootstrap_means, inflection_interval, t_interval, window_chaos_verdict

METRICS = ("disagreement", "dissimilarity", "relative_distance", "test_loss_barrier", "train_loss_barrier",
           "test_error_barrier", "train_error_barrier")
REFERENCE_OFFSET = 1000  # the other network of a reference pair uses seed + 1000


class Reference(enum.StrEnum):
    """The pair of networks that were never twins, whose distance is the level a twins' distance is read against.

    ``INDEPENDENT_INIT``: two initialisations, the same batches (the paper's "very different networks").
    ``DATA_ORDER``: one initialisation, two data orders — twins that differ only in SGD noise (Frankle et al.
    2020's stability analysis), the level same-initialisation twins can reach.
    """

    INDEPENDENT_INIT = "independent init"
    DATA_ORDER = "data order"


class ControlDriftError(RuntimeError):
    """The ε = 0 twin did not end bitwise on its parent: training draws randomness the library does not seed (numpy
    or Python's ``random`` in ``forward``, ``torch.randn`` on another device's generator, a non-deterministic
    kernel), so a twin's distance mixes the perturbation's effect with noise of unknown size and no chaos reading
    can be made. ``analysis`` holds what was computed, to inspect."""

    def __init__(self, message: str, analysis=None):
        super().__init__(message)
        self.analysis = analysis


def drift_message(control: list[dict]) -> str:
    """What the ε = 0 controls show when they drifted: the largest drift, where, and what to look for."""
    worst = max(control, key=lambda c: (c["disagreement"], c["l2_distance"]))
    return (f"the ε = 0 control drifted from its parent: the twin branched at t0 = {worst['t0']} (seed "
            f"{worst['seed']}) ends at t1 = {worst['t1']} at L2 distance {worst['l2_distance']:.3g}, disagreeing on "
            f"{worst['disagreement']:.1%} of the test set, where it must be exactly 0. Training draws randomness the "
            "library does not seed: draw it from torch's global generator (the library seeds it per step), not numpy "
            "or Python's random, and use deterministic kernels; no chaos reading can be made until it is exact")


def reference_partner(run: RunConfig, kind: Reference | str = Reference.INDEPENDENT_INIT) -> RunConfig:
    """The other network of a reference pair of ``run`` (its seed + 1000 as initialisation or as batch seed).

    Raises:
        ValueError: an unknown kind.
    """
    kind = Reference(check_choice(str(kind), tuple(Reference), "reference pair"))
    if kind is Reference.INDEPENDENT_INIT:
        return run.replace(seed=run.seed + REFERENCE_OFFSET, data_seed=run.batch_seed)
    return run.replace(data_seed=run.batch_seed + REFERENCE_OFFSET)


def _keyed(tasks: dict, key, fn, *args, **kwargs) -> None:
    if key not in tasks:
        tasks[key] = partial(fn, *args, **kwargs)


def _into_cache(fn, *args, **kwargs) -> None:
    """Run a store function for its cached result only: tensors do not travel back from worker processes."""
    fn(*args, **kwargs)


# ----------------------------------------------------------------------------------------------- (t0, t1) maps


@dataclass(frozen=True)
class ChaosMap:
    """Twins perturbed at each t0 and compared with their parent at every t1 > t0 of a grid (the paper's Fig. 3).

    Each twin is trained once, from t0 to its last t1, and cached at every t1 on the way; so is the parent. With a
    ``horizon`` H the map is the band t0 < t1 ≤ t0 + H (twins stop at t0 + H, the cells every fixed-window slice
    t1 = t0 + Δ with Δ ≤ H needs); without one, every t1 after t0 up to the last. A barrier costs about six test-set
    evaluations and an eNTK distance two kernels, the other metrics two evaluations: with ``deltas`` the barriers and
    the eNTK distance are computed only on the fixed-window slices t1 = t0 + Δ, Δ in ``deltas`` (NaN elsewhere), and
    on every reference pair.
    Each seed's twins get their own perturbation direction (``Perturbation.seed`` + 1000 × run seed), so the
    spread over seeds includes the direction's. ``reference_seeds`` adds, at every t1 (or at those of
    ``reference_t1s``), a reference pair of networks that were never twins (``reference_kind``: by default two
    independently initialised networks trained on the same batches, the level "very different networks" reach;
    or one initialisation trained on two data orders; NaN at the t1s not asked for). ``parent_steps`` are further
    checkpoints the parents save in the same pass (another study reads them; the map's results do not change).

    Raises:
        ValueError: grids not increasing, a t0 after the last t1, a t1 or a further checkpoint past the run, an
            unknown eNTK mode.
    """

    run: RunConfig
    t0s: tuple[int, ...]
    t1s: tuple[int, ...]
    perturbation: Perturbation = Perturbation()
    seeds: tuple[int, ...] = (0, 1, 2)
    control_t0: int | None = None  # an ε = 0 twin from here, compared at every t1 (must be exact)
    barrier: BarrierConfig = BarrierConfig()
    kernel_inputs: int = 0
    kernel_mode: str = "full"
    reference_seeds: tuple[int, ...] = ()
    horizon: int | None = None  # cells only up to t1 = t0 + horizon (None: every t1 of the grid after t0)
    deltas: tuple[int, ...] | None = None  # barriers and eNTK distances only where t1 − t0 is one of these
    kernel_deltas: tuple[int, ...] | None = None  # eNTK distances only on these slices (None: every costly cell)
    reference_t1s: tuple[int, ...] | None = None  # the reference pairs' t1s (None: every t1 of the grid)
    parent_steps: tuple[int, ...] = ()  # further parent checkpoints saved on the way (other studies read them)
    reference_kind: Reference = Reference.INDEPENDENT_INIT

    def __post_init__(self):
        check_choice(self.kernel_mode, MODES, "eNTK mode")
        object.__setattr__(self, "reference_kind", Reference(check_choice(str(self.reference_kind), tuple(Reference),
                                                                          "reference pair")))
        if self.parent_steps and not 0 <= min(self.parent_steps) <= max(self.parent_steps) <= self.run.optim.steps:
            raise ValueError(f"the further parent checkpoints {self.parent_steps} must lie in [0, "
                             f"{self.run.optim.steps}]")
        if self.horizon is not None and not self.horizon > 0:
            raise ValueError(f"the horizon must be a positive number of iterations, got {self.horizon}")
        for name in ("t0s", "t1s"):
            grid = list(getattr(self, name))
            if not grid or grid != sorted(set(grid)) or grid[0] < 0:
                raise ValueError(f"{name} must be non-empty, increasing and non-negative: {grid}")
        if self.t0s[-1] >= self.t1s[-1]:
            raise ValueError(f"every t0 must come before the last t1 ({self.t1s[-1]}): {self.t0s}")
        if self.t1s[-1] > self.run.optim.steps:
            raise ValueError(f"t1 = {self.t1s[-1]} is past the run's last step {self.run.optim.steps}")
        if self.kernel_deltas is not None and (self.deltas is None or not set(self.kernel_deltas) <= set(self.deltas)):
            raise ValueError(f"the eNTK's slices {self.kernel_deltas} must be among the slices {self.deltas}")
        if self.reference_t1s is not None and not set(self.reference_t1s) <= set(self.t1s):
            raise ValueError(f"the reference pairs' t1s {self.reference_t1s} must be on the t1 grid {self.t1s}")
        empty = [t0 for t0 in self.t0s if not self.t1s_after(t0)]
        if empty:
            raise ValueError(f"no t1 of {self.t1s} lies in (t0, t0 + {self.horizon}] for t0 = {empty}")

    def perturbation_for(self, seed: int) -> Perturbation:
        """The perturbation of a seed's twins: its own direction."""
        return dataclasses.replace(self.perturbation, seed=self.perturbation.seed + 1000 * seed)

    def t1s_after(self, t0: int) -> tuple[int, ...]:
        """The t1 of the grid a twin split at ``t0`` is compared at: after t0, and within the horizon if any."""
        end = math.inf if self.horizon is None else t0 + self.horizon
        return tuple(t1 for t1 in self.t1s if t0 < t1 <= end)

    def costly_at(self, t0: int, t1: int) -> bool:
        """Whether the cell gets the loss barriers and the eNTK distance (see ``deltas``)."""
        return self.deltas is None or t1 - t0 in self.deltas

    def has_kernel(self, t0: int | None, t1: int) -> bool:
        """Whether the cell (a reference pair at t1 when ``t0`` is None) gets the twins' eNTK distance: only with
        ``kernel_inputs``, on the slices of ``kernel_deltas`` (a reference pair at a t1 one of them reaches)."""
        if not self.kernel_inputs:
            return False
        if t0 is None:
            return self.kernel_deltas is None or any(t1 - s in self.kernel_deltas for s in self.t0s)
        return self.costly_at(t0, t1) and (self.kernel_deltas is None or t1 - t0 in self.kernel_deltas)

    @property
    def reference_grid(self) -> tuple[int, ...]:
        """The t1s where the reference pairs are compared."""
        return self.t1s if self.reference_t1s is None else tuple(sorted(set(self.reference_t1s)))

    def cells(self) -> list[tuple[int, int]]:
        """The (t0, t1) pairs compared (see :meth:`t1s_after`)."""
        return [(t0, t1) for t0 in self.t0s for t1 in self.t1s_after(t0)]


@dataclass
class ChaosMapResult:
    """Metrics per (seed, t0, t1) — NaN outside the map's cells — with per-example disagreements and reference levels.

    ``values[metric]``: (seeds, t0s, t1s). ``disagreements``: (seeds, t0s, t1s, n_test) bool, the twins' per-image
    disagreement. ``reference[metric]``: (reference seeds, t1s), the reference pairs (``study.reference_kind``)
    at each t1 (NaN outside the study's ``reference_grid``), and ``reference_disagreements`` (reference seeds,
    t1s, n_test).
    ``control``: the ε = 0 twins' records.
    """

    study: ChaosMap
    values: dict[str, np.ndarray]
    disagreements: np.ndarray
    reference: dict[str, np.ndarray]
    reference_disagreements: np.ndarray
    control: list[dict]
    records: list[dict]

    @property
    def control_is_exact(self) -> bool:
        """True when every ε = 0 twin ended bitwise on its parent at every t1."""
        return bool(self.control) and all(c["l2_distance"] == 0.0 and c["disagreement"] == 0.0 for c in self.control)

    def window(self, metric: str, delta: int) -> tuple[np.ndarray, np.ndarray]:
        """The fixed-window slice t1 = t0 + Δ: the t0s whose t0 + Δ is on the t1 grid, and the values there.

        Returns:
            The t0s kept and the values there, of shape (seeds, t0s) for a metric and (seeds, t0s, n_test) booleans
            for ``"disagreement_per_example"`` (``np.moveaxis(values, 2, 1)`` is what
            :func:`twophase_lib.verdicts.bootstrap_means` takes).

        Raises:
            ValueError: no t0 has t0 + Δ on the grid.
        """
        t1s = list(self.study.t1s)
        keep = [i for i, t0 in enumerate(self.study.t0s) if t0 + delta in t1s]
        if not keep:
            raise ValueError(f"no t0 of {self.study.t0s} has t0 + {delta} on the t1 grid {self.study.t1s}")
        cols = [t1s.index(self.study.t0s[i] + delta) for i in keep]
        source = self.disagreements if metric == "disagreement_per_example" else self.values[metric]
        return np.array([self.study.t0s[i] for i in keep]), np.stack([source[:, i, j] for i, j in zip(keep, cols)], 1)

    def reference_window(self, metric: str, delta: int) -> np.ndarray:
        """The reference level at t1 = t0 + Δ for the t0s of :meth:`window`: (reference seeds, those t0s)."""
        t1s = list(self.study.t1s)
        t0s, _ = self.window("disagreement", delta)
        source = self.reference_disagreements if metric == "disagreement_per_example" else self.reference[metric]
        return np.stack([source[:, t1s.index(t0 + delta)] for t0 in t0s], 1)


def _map_pair(a: State, b: State, study: ChaosMap, cache: Cache, via: tuple[int, ...], costly: bool,
              kernel: bool) -> dict:
    """A pair's metrics (the barriers if ``costly``, the eNTK distance if ``kernel``) and both states' predictions
    (for per-image disagreement), cached."""
    out = pair_metrics(a, b, study.barrier if costly else None, cache, study.kernel_inputs if kernel else 0,
                       study.kernel_mode, via)
    return {**{k: v for k, v in out.items() if k != "path"},
            "predictions": (state_predictions(a, cache, via), state_predictions(b, cache, via))}


def run_chaos_map(study: ChaosMap, cache: Cache | None = None, executor: Executor | None = None,
                  progress: bool = True, desc: str = "chaos map") -> ChaosMapResult:
    """Compute (or load) every twin, control, reference pair and comparison of a map (see :func:`run_chaos_maps`).

    Returns:
        A :class:`ChaosMapResult`.
    """
    return run_chaos_maps({"map": study}, cache, executor, progress, desc)["map"]


def run_chaos_maps(studies: dict, cache: Cache | None = None, executor: Executor | None = None,
                   progress: bool = True, desc: str = "chaos maps") -> dict:
    """Compute (or load) every twin, control, reference pair and comparison of several maps, in three waves
    shared by all of them (so one network's long tasks and another's short ones fill the workers together):
    parents (and reference networks) at every t0 and t1; each twin once to its last t1; every comparison. Work
    two maps share (a parent, a comparison) is done once.

    Args:
        studies: {name: :class:`ChaosMap`}.
        cache: where results live (default :class:`twophase_lib.cache.Cache`).
        executor: runs the waves (default :class:`twophase_lib.executor.Executor`, closed after).
        progress: bars and progress lines.

    Returns:
        A dict from each name of ``studies`` to its :class:`ChaosMapResult`.
    """
    cache = cache or Cache()
    waves, plans, keys = _map_waves(studies, cache)
    results = run_waves(executor, waves, desc, progress)[-1]
    by_key = dict(zip(keys, results))
    return {name: _assemble_map(studies[name], labels, by_key) for name, labels in plans.items()}


def _map_waves(studies: dict, cache: Cache) -> tuple[list[list], dict, list]:
    """The three waves of tasks of several maps (shared work once), each map's cells' labels, and the keys of the
    last wave's comparisons, in order."""
    parents, children, compare = {}, {}, {}
    plans = {name: _plan_map(study, cache, parents, children, compare) for name, study in studies.items()}
    trains = [partial(_into_cache, parent_checkpoints, run, sorted(steps), cache) for run, steps in parents.values()]
    return [trains, list(children.values()), list(compare.values())], plans, list(compare)


def _pair_key(a: State, b: State, study: ChaosMap, costly: bool, kernel: bool) -> tuple:
    """What identifies a comparison across maps: the states and the metrics asked of them."""
    return (a.key(), b.key(), study.barrier if costly else None, study.kernel_inputs if kernel else 0,
            study.kernel_mode)


def _add_parent(parents: dict, run: RunConfig, steps) -> None:
    """Ask for a parent's checkpoints at ``steps``: one training task per run however many maps need it (a shorter
    run of the same lineage is served by the longer one's checkpoints), so two maps never train it twice at once."""
    lineage = run.replace(optim={"steps": 0})
    longest, wanted = parents.get(lineage, (run, set()))
    if run.optim.steps > longest.optim.steps:
        longest = run
    parents[lineage] = (longest, wanted | set(steps))


def _plan_map(study: ChaosMap, cache: Cache, parents: dict, children: dict, compare: dict) -> list[tuple]:
    """Add a map's tasks to the shared waves (keyed, so shared work is planned once); return its cells' labels."""
    via = tuple(study.t1s)
    labels = []
    for seed in study.seeds:
        run = study.run.replace(seed=seed)
        steps = sorted({*study.t0s, *study.t1s, *study.parent_steps,
                        *([study.control_t0] if study.control_t0 is not None else [])})
        _add_parent(parents, run, steps)
        twins = [(t0, study.perturbation_for(seed), "branch") for t0 in study.t0s]
        if study.control_t0 is not None:
            twins.append((study.control_t0, dataclasses.replace(study.perturbation, size=0.0), "control"))
        for t0, pert, kind in twins:
            t1s = study.t1s_after(t0)
            if not t1s:  # a control placed past every cell of the band
                continue
            end = State(run, t1s[-1], t0, pert)
            _keyed(children, ("child", end.key()), _into_cache, child_checkpoint, end, cache, via)
            for t1 in t1s:
                a, b = State(run, t1), State(run, t1, t0, pert)
                costly, kernel = study.costly_at(t0, t1), study.has_kernel(t0, t1)
                key = _pair_key(a, b, study, costly, kernel)
                _keyed(compare, key, _map_pair, a, b, study, cache, via, costly, kernel)
                labels.append((kind, seed, t0, t1, key))
    for seed in study.reference_seeds:
        run = study.run.replace(seed=seed)
        other = reference_partner(run, study.reference_kind)
        _add_parent(parents, other, study.reference_grid)
        for t1 in study.reference_grid:
            a, b = State(run, t1), State(other, t1)
            key = _pair_key(a, b, study, True, study.has_kernel(None, t1))
            _keyed(compare, key, _map_pair, a, b, study, cache, via, True, study.has_kernel(None, t1))
            labels.append(("reference", seed, None, t1, key))
    return labels


def _assemble_map(study: ChaosMap, labels: list[tuple], by_key: dict) -> ChaosMapResult:
    """A map's result from its cells' labels and the comparisons' results."""
    metrics = METRICS + (("kernel_distance",) if study.kernel_inputs else ())
    n_seeds, n0, n1 = len(study.seeds), len(study.t0s), len(study.t1s)
    values = {m: np.full((n_seeds, n0, n1), np.nan) for m in metrics}
    n_test = None
    records, control, refs = [], [], []
    for kind, seed, t0, t1, key in labels:
        r = by_key[key]
        pa, pb = r["predictions"]
        n_test = len(pa)
        rec = {**{k: v for k, v in r.items() if k != "predictions"}, "seed": seed, "t0": t0, "t1": t1,
               "disagreement_per_example": pa != pb}
        if kind == "branch":
            records.append(rec)
        elif kind == "control":
            control.append(rec)
        else:
            refs.append(rec)
    disagreements = np.zeros((n_seeds, n0, n1, n_test or 0), dtype=bool)
    for rec in records:
        i, j, k = study.seeds.index(rec["seed"]), study.t0s.index(rec["t0"]), study.t1s.index(rec["t1"])
        for m in metrics:
            values[m][i, j, k] = rec.get(m, np.nan)
        disagreements[i, j, k] = rec["disagreement_per_example"]
    n_ref = len(study.reference_seeds)
    reference = {m: np.full((n_ref, n1), np.nan) for m in metrics}
    reference_disagreements = np.zeros((n_ref, n1, n_test or 0), dtype=bool)
    for rec in refs:
        i, k = study.reference_seeds.index(rec["seed"]), study.t1s.index(rec["t1"])
        for m in metrics:
            reference[m][i, k] = rec.get(m, np.nan)
        reference_disagreements[i, k] = rec["disagreement_per_example"]
    return ChaosMapResult(study, values, disagreements, reference, reference_disagreements, control, records)


# ------------------------------------------------------------------------------- how fast twins separate


@dataclass
class Growth:
    """How far each twin moved from its parent relative to the perturbation it started from: the amplification
    A(t0, t1) = ‖θ′(t1) − θ(t1)‖ / ‖θ′(t0) − θ(t0)‖ (the realised perturbation, after float rounding), and the
    finite-time growth rate λ(t0), the least-squares slope of log A against t1 − t0 through the origin (per
    iteration; A = exp(λ Δ) for a constant rate), per seed.

    ``amplification``: (seeds, t0s, t1s), NaN outside the map's cells or where nothing was perturbed. ``rate``:
    (seeds, t0s), NaN where a t0 has no cell.
    """

    t0s: np.ndarray
    t1s: np.ndarray
    amplification: np.ndarray
    rate: np.ndarray

    def rate_interval(self, i: int) -> tuple[float, float, float]:
        """The seed-mean growth rate at the i-th t0 with its 90% t interval over seeds (mean, low, high)."""
        r = self.rate[:, i]
        r = r[np.isfinite(r)]
        if r.size == 0:
            return math.nan, math.nan, math.nan
        reps = bootstrap_means(r[:, None])[:, 0]
        lo, hi = t_interval(float(r.mean()), reps, r.size)
        return float(r.mean()), lo, hi


def growth(res: ChaosMapResult) -> Growth:
    """The twins' amplification of their perturbation and its finite-time growth rate (:class:`Growth`), read from a
    map's records (the parameter distance ``l2_distance`` at each t1 and the perturbation's realised norm)."""
    st = res.study
    amp = np.full((len(st.seeds), len(st.t0s), len(st.t1s)), np.nan)
    for rec in res.records:
        eps = rec.get("perturbation", {}).get("realised_norm", 0.0)
        if eps > 0 and "l2_distance" in rec:
            amp[st.seeds.index(rec["seed"]), st.t0s.index(rec["t0"]), st.t1s.index(rec["t1"])] = \
                rec["l2_distance"] / eps
    lags = np.array(st.t1s, dtype=float)[None, :] - np.array(st.t0s, dtype=float)[:, None]  # (t0s, t1s)
    rate = np.full(amp.shape[:2], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(amp)
    for i in range(len(st.seeds)):
        for j in range(len(st.t0s)):
            ok = np.isfinite(logs[i, j]) & (lags[j] > 0)
            if ok.any():
                x, y = lags[j][ok], logs[i, j][ok]
                rate[i, j] = float((x * y).sum() / (x * x).sum())
    return Growth(np.array(st.t0s), np.array(st.t1s), amp, rate)


# ------------------------------------------------------------------------ reading a map on its fixed windows


@dataclass
class WindowReading:
    """One metric on one fixed-window slice t1 = t0 + Δ of one network, with bootstrap replicates and its verdict.

    ``point`` (K,) is the seed mean at each t0; ``replicates`` (R, K) resample seeds (and test images, for the
    disagreement); ``reference`` is the level the reference pairs (``reference_kind``: the rule's, twins on two
    data orders) reach at t1 = Δ.
    """

    arch: str
    metric: str
    delta: int
    t0s: np.ndarray
    per_seed: np.ndarray
    point: np.ndarray
    replicates: np.ndarray
    reference: float
    reference_replicates: np.ndarray
    verdict: Verdict
    inflection: dict
    reference_kind: str = str(Reference.DATA_ORDER)
    reference_per_seed: np.ndarray | None = None  # (reference pairs,) the pairs' values behind ``reference``

    def reference_band(self) -> tuple[float, float]:
        """The 90% t interval of the reference level over its pairs."""
        n = len(self.reference_per_seed) if self.reference_per_seed is not None else 0
        return t_interval(self.reference, self.reference_replicates, n)

    def band(self) -> tuple[np.ndarray, np.ndarray]:
        """The pointwise 90% t interval of the curve over seeds (:func:`twophase_lib.verdicts.t_interval`):
        (low, high), each (K,)."""
        return t_interval(self.point, self.replicates, len(self.per_seed))


def window_reading(arch: str, res: ChaosMapResult, metric: str, delta: int, resamples: int = 2000,
                   references: ChaosMapResult | None = None) -> WindowReading:
    """Read one metric on one fixed-window slice t1 = t0 + Δ of a map and apply
    :func:`twophase_lib.verdicts.window_chaos_verdict` (the paper's Fig. 3, read along its diagonals).

    ``references``: the map whose reference pairs give the reference level (default ``res``), which should be
    ``Reference.DATA_ORDER`` pairs, the rule's reference (a map of the same runs with those pairs shares
    every twin with the primary one: nothing is trained twice); a map without ε = 0 twins, such as the per-entry
    reading's, is judged by the references' control.

    Raises:
        ValueError: the references' map has no reference pair at t1 = t0s[0] + Δ.
    """
    refs = references or res
    t0s, per_seed = res.window(metric, delta)
    if not refs.study.reference_seeds or t0s[0] + delta not in refs.study.reference_grid:
        raise ValueError(f"the reference map has no reference pair at t1 = {t0s[0] + delta}: set its reference_seeds "
                         f"and reference_t1s")
    ref_all = refs.reference[metric][:, list(refs.study.t1s).index(t0s[0] + delta)]
    per_image = ref_images = None
    if metric == "disagreement":
        _, per_image = res.window("disagreement_per_example", delta)
        ref_images = refs.reference_disagreements[:, list(refs.study.t1s).index(t0s[0] + delta)]
    # a map without ε = 0 twins of its own (the per-entry reading) is judged by the primary map's control
    exact = res.control_is_exact if res.control else refs.control_is_exact
    kind = refs.study.reference_kind
    verdict, (point, replicates, ref_reps) = _judge_window(t0s, per_seed, ref_all, exact, delta, str(kind),
                                                           per_image, ref_images, resamples)
    return WindowReading(arch, metric, delta, t0s, per_seed, point, replicates, float(ref_all.mean()), ref_reps,
                         verdict, inflection_interval(t0s, point, replicates, len(per_seed)), str(kind), ref_all)


def _window_replicates(per_seed, reference_per_pair, per_image, reference_images, resamples):
    """The seed-mean curve, its bootstrap replicates (seeds and, for a 0/1 metric, test images resampled) and the
    reference level's replicates (seed 1: independent resamples)."""
    if per_image is not None:
        replicates = bootstrap_means(np.moveaxis(np.asarray(per_image), 2, 1).astype(float), resamples)
        ref_reps = bootstrap_means(np.asarray(reference_images)[:, :, None].astype(float), resamples, seed=1)[:, 0]
    else:
        replicates = bootstrap_means(per_seed, resamples)
        ref_reps = bootstrap_means(np.asarray(reference_per_pair)[:, None], resamples, seed=1)[:, 0]
    return np.asarray(per_seed).mean(0), replicates, ref_reps


def judge_window(t0s: np.ndarray, per_seed: np.ndarray, reference_per_pair: np.ndarray, control_exact: bool,
                 delta: int, reference_kind: str = str(Reference.DATA_ORDER), per_image: np.ndarray | None = None,
                 reference_images: np.ndarray | None = None, resamples: int = 2000) -> Verdict:
    """:func:`twophase_lib.verdicts.window_chaos_verdict` applied to one fixed-window slice's measurements, before
    any resampling: what :func:`window_reading` judges, and what a recorded
    :class:`~twophase_lib.judgements.Judgement` re-judges without recomputing.

    Args:
        t0s: (K,) the slice's perturbation times.
        per_seed: (seeds, K) the metric at t1 = t0 + Δ per seed.
        reference_per_pair: (pairs,) the reference pairs' metric at t1 = t0s[0] + Δ.
        control_exact: every ε = 0 control ended bitwise on its parent.
        delta: the window Δ in iterations.
        reference_kind: a :class:`Reference` value (the reference pairs' kind, for the explanation).
        per_image: (seeds, K, images) a 0/1 metric per test image (the disagreement), resampled with the seeds;
            None for other metrics.
        reference_images: (pairs, images) the reference pairs' per-image values, with ``per_image``.
        resamples: bootstrap replicates.

    Returns:
        The rule's verdict, with its :class:`~twophase_lib.judgements.Judgement` attached (``verdict.judgement``).
    """
    return _judge_window(t0s, per_seed, reference_per_pair, control_exact, delta, reference_kind, per_image,
                         reference_images, resamples)[0]


def _judge_window(t0s, per_seed, reference_per_pair, control_exact, delta, reference_kind, per_image,
                  reference_images, resamples):
    """:func:`judge_window`, and the curve and replicates it judged (which :func:`window_reading` keeps)."""
    from .judgements import Judgement

    point, replicates, ref_reps = _window_replicates(per_seed, reference_per_pair, per_image, reference_images,
                                                     resamples)
    label = ("twins on two data orders" if Reference(reference_kind) is Reference.DATA_ORDER
             else "independently initialised networks")
    reference_per_pair = np.asarray(reference_per_pair)
    verdict = window_chaos_verdict(np.asarray(t0s), point, replicates, float(reference_per_pair.mean()), ref_reps,
                                   bool(control_exact), int(delta), len(per_seed), len(reference_per_pair), label)
    verdict.judgement = Judgement("window_chaos", {
        "t0s": np.asarray(t0s), "per_seed": np.asarray(per_seed), "reference_per_pair": reference_per_pair,
        "control_exact": bool(control_exact), "delta": int(delta), "reference_kind": str(reference_kind),
        "per_image": None if per_image is None else np.asarray(per_image),
        "reference_images": None if reference_images is None else np.asarray(reference_images),
        "resamples": int(resamples)})
    return verdict, (point, replicates, ref_reps)
