"""The paper's three analyses on any run, one call each, on the paper's own protocol and with the book's rules.

    run = RunConfig(task=Task("mine", make_model, TensorData(...)), optim=OptimConfig(lr=0.1, steps=600))
    chaos = chaos_analysis(run, t0s=(0, 10, 30, 100, 300), deltas=(100, 300))   # chapter 1: (t0, t1) map, slices
    cone = cone_analysis(run, lag_ts=(0, 300), lags=(50, 100, 200))              # chapter 2: lag curves
    switch = switch_analysis(run, switches=(0, 30, 100, 300, 400), inflection=chaos.inflection)  # chapter 3
    analyses_figure(chaos, cone, switch)

The run trains at a constant learning rate (every figure of the paper lies inside its first lr stage): its
``optim.steps`` is the window, and a run whose lr drops inside it is refused. Each call returns a typed result
that holds the study's arrays, the readings of chapters 1-3 (:class:`twophase_lib.chaos.WindowReading`,
:class:`twophase_lib.cone.LagReading`), the verdict of the rule the book applies
(:func:`twophase_lib.verdicts.window_chaos_verdict`, :func:`twophase_lib.verdicts.lag_cone_verdict`,
:func:`twophase_lib.verdicts.paired_switch_verdict`), and a ``figure()``.

Everything is cached (``$TWOPHASE_CACHE`` or ``cache=``) under the task's identity. ``workers=0`` (the default
here) computes in this process, so a model defined in a notebook works; ``workers > 1`` needs a task whose model
factory and data function can be imported by worker processes.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from .cache import Cache
from .chaos import (
    ChaosMap,
    ChaosMapResult,
    ControlDriftError,
    Reference,
    WindowReading,
    drift_message,
    run_chaos_map,
    window_reading,
)
from .cone import ConeResult, ConeStudy, LagReading, lag_reading, run_studies
from .config import RunConfig, check_integer, check_real
from .executor import Executor
from .linearize import SwitchArm
from .metrics import BarrierConfig
from .perturbation import Perturbation
from .plotting import LABELS, band, time_axis
from .switch import (
    SwitchResult,
    SwitchStudy,
    fixed_budget_scores,
    fixed_budget_studies,
    paired_difference,
    run_switch_studies,
    switch_verdict,
)
from .verdicts import MIN_SWITCHES, Check, Outcome, Verdict, combine, fixed_budget_check

#: The metrics read on the fixed windows, each against its reference pair's level; the verdict rests on the first.
CHAOS_METRICS = ("disagreement", "test_loss_barrier", "dissimilarity")


def _constant_lr(run: RunConfig, what: str) -> None:
    """Refuse a run whose lr drops inside its window (a milestone past the last step changes nothing)."""
    if any(m < run.optim.steps for m in run.optim.milestones):
        raise ValueError(f"{what} reads a constant-lr window (the paper's figures all lie inside its first lr "
                         f"stage); this run drops its lr at {run.optim.milestones} within its "
                         f"{run.optim.steps} iterations: pass run.replace(optim={{'milestones': ()}})")


def _window(run: RunConfig, what: str) -> None:
    """Refuse a run with no iterations: its window holds no t0, lag or switch time."""
    if run.optim.steps < 1:
        raise ValueError(f"{what} reads the run's window, its optim.steps iterations; this run has "
                         f"{run.optim.steps}: pass run.replace(optim={{'steps': ...}})")


def _refresh(run: RunConfig) -> None:
    """A task's data hashed again at an analysis' start (:meth:`twophase_lib.task.Task.refresh`): an edit torch's
    version counters cannot see (through numpy, or ``.data``) since the last analysis gets a new identity."""
    if run.task is not None:
        run.task.refresh()


def _at_most_training(run: RunConfig, n: int, what: str) -> int:
    """``n`` if the run's training set holds at least n examples (a study would otherwise take fewer than its
    cache key says), else a ValueError."""
    from .task import run_data

    available = len(run_data(run).x_train)
    if n > available:
        raise ValueError(f"{what} = {n}, but the run's training set holds {available} examples")
    return n


def _inflection(value) -> float:
    """Chapter 1's inflection as a float ≥ 0, or nan/inf for none; a ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or float(value) < 0:
        raise ValueError(f"inflection must be chapter 1's inflection in iterations, a number ≥ 0 (nan or inf: "
                         f"none, and the cone-phase checks are not applicable), got {value!r}")
    return float(value)


def _grid(values, what: str, low: int, high: int) -> tuple[int, ...]:
    """A grid of iterations as sorted distinct Python ints inside [low, high], or a ValueError naming it (2.5 is
    refused, not truncated)."""
    try:
        out = tuple(int(check_integer(v, f"each of {what}")) for v in values)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of integer iterations, got {values!r}") from None
    if not out or list(out) != sorted(set(out)) or out[0] < low or out[-1] > high:
        raise ValueError(f"{what} must be non-empty, increasing, distinct and inside [{low}, {high}], got {out}")
    return out


def _label(run: RunConfig) -> str:
    """What a reading calls the run: the task's name, or the network's."""
    return run.task.name if run.task is not None else run.model.name


def _seeds(seeds, what: str = "seeds") -> tuple[int, ...]:
    try:
        out = tuple(int(check_integer(s, f"each of {what}")) for s in seeds)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of non-negative integers, got {seeds!r}") from None
    if not out or len(set(out)) != len(out) or min(out) < 0:
        raise ValueError(f"{what} must be non-empty, distinct and non-negative, got {out}")
    return out


# ----------------------------------------------------------------------------------------------------- chaos


@dataclass
class ChaosAnalysis:
    """Chapter 1 on a run: the (t0, t1) map and its fixed-window readings.

    ``readings[(metric, Δ)]`` is a :class:`twophase_lib.chaos.WindowReading` (curve over t0 with bootstrap
    replicates, reference level, inflection, verdict); the outcome combines the test disagreement's verdicts over
    every Δ, as chapter 1 does per network.
    """

    result: ChaosMapResult
    readings: dict[tuple[str, int], WindowReading]

    @property
    def deltas(self) -> tuple[int, ...]:
        """The windows Δ read."""
        return tuple(self.result.study.deltas)

    @property
    def outcome(self) -> Outcome:
        """The test disagreement's outcomes over every window Δ, combined."""
        return combine([r.verdict.outcome for (m, _), r in self.readings.items() if m == CHAOS_METRICS[0]])

    @property
    def verdicts(self) -> dict[int, Verdict]:
        """The test disagreement's verdict on each window Δ."""
        return {d: self.readings[(CHAOS_METRICS[0], d)].verdict for d in self.deltas}

    @property
    def inflection(self) -> float:
        """The first t0 (iterations) where the test disagreement on the shortest window falls to half its value at
        the first t0 (inf beyond the grid, nan if undefined): where chapters 2 and 3 place the two phases."""
        return float(self.readings[(CHAOS_METRICS[0], min(self.deltas))].inflection["estimate"])

    @property
    def control_is_exact(self) -> bool:
        """Whether every ε = 0 twin ended bitwise on its parent."""
        return self.result.control_is_exact

    def explain(self) -> str:
        """The outcome, then every window's checks with their margins."""
        return f"chaos: {self.outcome}\n" + "\n".join(
            f"  Δ = {d}: {v.outcome}\n    " + v.explain().replace("\n", "\n    ") for d, v in self.verdicts.items())

    def plot(self, ax: plt.Axes, metric: str = CHAOS_METRICS[0]) -> None:
        """One metric against t0 on every window (bands: 90% t intervals), the reference level per window (dashed)
        and, for the disagreement, the inflection (dotted)."""
        for k, d in enumerate(self.deltas):
            r = self.readings[(metric, d)]
            lo, hi = r.band()
            ax.plot(r.t0s, r.point, marker="o", color=f"C{k}", label=f"twins, Δ = {d}")
            ax.fill_between(r.t0s, lo, hi, color=f"C{k}", alpha=0.2, linewidth=0)
            ax.axhline(r.reference, color=f"C{k}", linestyle="--", linewidth=1,
                       label=f"{self.result.study.reference_kind}, t1 = {r.t0s[0] + d}")
            inf = r.inflection["estimate"]
            if metric == CHAOS_METRICS[0] and math.isfinite(inf):
                ax.axvline(inf, color=f"C{k}", linestyle=":", linewidth=1.2)
        time_axis(ax)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(f"{LABELS.get(metric, metric)} at t1 = t0 + Δ")
        ax.set_title(f"chaos: twins split at t0, compared Δ later — {self.outcome}", fontsize=10)
        ax.legend(fontsize=7)

    def figure(self) -> plt.Figure:
        """The fixed-window readings of every metric side by side."""
        fig, axes = plt.subplots(1, len(CHAOS_METRICS), figsize=(5 * len(CHAOS_METRICS), 3.8))
        for ax, m in zip(axes, CHAOS_METRICS):
            self.plot(ax, m)
            if m == "dissimilarity":
                ax.set_yscale("log")
        fig.tight_layout()
        return fig


def chaos_analysis(run: RunConfig, t0s, deltas, seeds=(0, 1, 2), epsilon: float = 1e-7,
                   reference: Reference | str = Reference.DATA_ORDER, control_t0: int | None = None,
                   barrier: BarrierConfig = BarrierConfig(points=3, train_examples=1000), kernel_inputs: int = 0,
                   cache: Cache | None = None, workers: int = 0, progress: bool = True) -> ChaosAnalysis:
    """Twins perturbed at each t0 (a random direction of total L2 norm ``epsilon``), trained on their parent's
    batches and compared with it on the band t0 < t1 ≤ t0 + max(Δ) (the paper's Fig. 3 maps); read on the fixed
    windows t1 = t0 + Δ, where every twin has the same time to diverge, against a reference pair (``reference``:
    by default the rule's, one initialisation on two data orders — twins that differ only in SGD noise; or
    independently initialised networks, a level same-initialisation twins cannot reach) at t1 = t0s[0] + Δ, with an
    ε = 0 twin that must end bitwise on its parent (at ``control_t0``, default the second t0).

    Args:
        run: the recipe at a constant lr; ``run.optim.steps`` is the window and must hold t0s[-1] + max(Δ).
        t0s: perturbation times (iterations), increasing from 0.
        deltas: the windows Δ (iterations), positive.
        seeds: the runs' seeds (each seed's twins get their own perturbation direction); the reference pairs too.
        epsilon: the perturbation's total L2 norm over the parameters that train, in (0, 1).
        reference: :class:`twophase_lib.chaos.Reference`.
        control_t0: where the ε = 0 twin branches off (one of ``t0s``).
        barrier: the loss barrier's resolution (computed on the windows' cells only).
        kernel_inputs: test inputs of the twins' eNTK distance on the shortest window (0: not computed).
        cache: where results live (default ``$TWOPHASE_CACHE``).
        workers: worker processes (0: this process).
        progress: progress bars and lines.

    Returns:
        A :class:`ChaosAnalysis`.

    Raises:
        ValueError: a run with lr drops or no iterations, grids that are not increasing integers inside the window,
            ε not a number in (0, 1), a control t0 off the grid, an unknown reference, negative ``workers``,
            ``kernel_inputs`` beyond the test set.
        twophase_lib.chaos.ControlDriftError: the ε = 0 twin did not end bitwise on its parent (training draws
            randomness the library does not seed); the analysis computed is its ``analysis``.
    """
    _constant_lr(run, "chaos_analysis")
    _window(run, "chaos_analysis")
    _refresh(run)
    deltas = _grid(deltas, "deltas", 1, run.optim.steps)
    t0s = _grid(t0s, "t0s", 0, run.optim.steps - max(deltas))
    if t0s[0] != 0 or len(t0s) < 2:
        raise ValueError(f"t0s must start at 0 (the early end the rule reads) and hold a later t0 to compare it "
                         f"with, got {t0s}")
    seeds = _seeds(seeds)
    check_real(epsilon, "epsilon (ε = 0 is the control the analysis runs)", 0, 1, low_open=True)
    kernel_inputs = int(check_integer(kernel_inputs, "kernel_inputs (0: no eNTK distance)", 0))
    if kernel_inputs:
        from .task import run_data

        available = len(run_data(run).x_test)
        if kernel_inputs > available:  # the study would take fewer than its cache key says
            raise ValueError(f"kernel_inputs = {kernel_inputs}, but the run's test set holds {available} examples")
    control = t0s[min(1, len(t0s) - 1)] if control_t0 is None else int(check_integer(control_t0, "control_t0"))
    if control not in t0s:
        raise ValueError(f"control_t0 = {control} must be one of t0s {t0s}")
    study = ChaosMap(run, t0s, tuple(sorted({t0 + d for t0 in t0s for d in deltas})), Perturbation(float(epsilon)),
                     seeds, control, barrier, kernel_inputs, reference_seeds=seeds, horizon=max(deltas),
                     deltas=deltas, kernel_deltas=(min(deltas),), reference_t1s=tuple(t0s[0] + d for d in deltas),
                     reference_kind=reference)
    with Executor(workers) as ex:
        res = run_chaos_map(study, cache, ex, progress, desc="chaos analysis")
    readings = {(m, d): window_reading(_label(run), res, m, d) for m in CHAOS_METRICS for d in deltas}
    analysis = ChaosAnalysis(res, readings)
    if not res.control_is_exact:  # the rule would read "not reproduced": the truth is that nothing can be read
        raise ControlDriftError(f"chaos_analysis on {_label(run)}: {drift_message(res.control)} (the computed "
                                "analysis is the error's .analysis)", analysis)
    return analysis


# ------------------------------------------------------------------------------------------------------ cone


@dataclass
class ConeAnalysis:
    """Chapter 2 on a run: eNTKs on training inputs at every checkpoint, the within-run distance matrix (Fig. 4),
    S(τ, t) from each τ (Fig. 5a) and the lag curves S(t, t + Δ) (Fig. 5b) with their calibration and verdict
    (:class:`twophase_lib.cone.LagReading`)."""

    result: ConeResult
    reading: LagReading

    @property
    def outcome(self) -> Outcome:
        """The lag rule's outcome."""
        return self.reading.verdict.outcome

    @property
    def verdict(self) -> Verdict:
        """The lag rule's verdict (:func:`twophase_lib.verdicts.lag_cone_verdict`)."""
        return self.reading.verdict

    def explain(self) -> str:
        """The outcome and the checks with their margins, and the block boundary."""
        lo, hi = self.reading.boundary_interval
        return (f"cone: {self.outcome}\n  " + self.verdict.explain().replace("\n", "\n  ")
                + f"\n  block boundary of the within-run matrix: {self.reading.boundary[0]} [{lo:g}, {hi:g}]")

    def plot(self, ax: plt.Axes) -> None:
        """The early and late lag curves against Δ (band: seed range), S(0, t) at the late t and half of it (the
        rule's bound on the floor), and the calibration (dashed)."""
        r = self.reading
        for k, t in enumerate((r.early, r.late)):
            band(ax, r.lags, r.curves[t], f"t = {t}", f"C{k}")
        ax.axhline(r.travelled, color="C3", linestyle="-.", linewidth=1.2, label=f"S(0, {r.late}): travelled")
        ax.axhline(r.travelled / 2, color="C3", linestyle=":", linewidth=1, label="half of it (narrow's bound)")
        ax.axhline(r.calibration, color="k", linestyle="--", linewidth=1,
                   label=f"independent init at t = {r.late}")
        ax.set_xlabel("lag Δ (iterations)")
        ax.set_ylabel("S(t, t + Δ)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"cone: lag curves — {self.outcome}", fontsize=10)
        ax.legend(fontsize=7)

    def figure(self) -> plt.Figure:
        """The within-run matrix with its block boundary, S(τ, t) from each τ, and the lag curves."""
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        res, steps = self.result, np.array(self.result.study.steps)
        im = axes[0].imshow(res.matrices.mean(0), origin="lower", cmap="viridis")
        axes[0].set_xticks(range(len(steps)), [str(s) for s in steps], rotation=90, fontsize=7)
        axes[0].set_yticks(range(len(steps)), [str(s) for s in steps], fontsize=7)
        b = list(steps).index(self.reading.boundary[0]) - 0.5
        axes[0].axvline(b, color="w", linestyle="--", linewidth=1)
        axes[0].axhline(b, color="w", linestyle="--", linewidth=1)
        axes[0].set_title("S(t, t′) within the run (seed mean)", fontsize=10)
        fig.colorbar(im, ax=axes[0], fraction=0.046)
        for k, tau in enumerate(res.study.refs):
            t, s = res.from_reference(tau)
            band(axes[1], t, s, f"τ = {tau}", f"C{k}")
        time_axis(axes[1], "training iteration t")
        axes[1].set_ylim(bottom=0)
        axes[1].set_ylabel("S(τ, t)")
        axes[1].set_title("eNTK distance from τ", fontsize=10)
        axes[1].legend(fontsize=7)
        self.plot(axes[2])
        fig.tight_layout()
        return fig


def cone_analysis(run: RunConfig, lag_ts, lags, taus=(0,), seeds=(0, 1, 2), n_inputs: int = 50,
                  reference_seeds=(0, 1), steps=None, cache: Cache | None = None, workers: int = 0,
                  progress: bool = True) -> ConeAnalysis:
    """The eNTK (every logit, eval mode) on the first ``n_inputs`` training inputs at every checkpoint of the run,
    read as chapter 2 reads it: lag curves S(t, t + Δ) from each t of ``lag_ts`` (the first is "early", the last
    "late"), S(τ, t) from each τ, the within-run matrix and its block boundary; calibrated by S between two
    independently initialised networks at the late t; judged by :func:`twophase_lib.verdicts.lag_cone_verdict`.

    Args:
        run: the recipe at a constant lr; ``run.optim.steps`` is the window.
        lag_ts: where lag curves start (iterations), at least two, increasing.
        lags: the lags Δ (iterations), at least three, increasing and positive.
        taus: the reference points τ of S(τ, t) (0 is the paper's "from initialisation").
        seeds: the runs' seeds.
        n_inputs: training inputs of the eNTK (positive).
        reference_seeds: seeds of the calibration's pairs (at least one).
        steps: the checkpoints (default: every t, t + Δ and τ; at least four, for the block boundary).
        cache, workers, progress: as :func:`chaos_analysis`.

    Returns:
        A :class:`ConeAnalysis`.

    Raises:
        ValueError: a run with lr drops or no iterations, grids that are not increasing integers inside the window,
            a lag curve past the window, fewer than four checkpoints, ``n_inputs`` not positive or beyond the
            training set, negative ``workers``.
    """
    _constant_lr(run, "cone_analysis")
    _window(run, "cone_analysis")
    _refresh(run)
    window = run.optim.steps
    lags = _grid(lags, "lags", 1, window)
    lag_ts = _grid(lag_ts, "lag_ts", 0, window - max(lags))
    taus = _grid(taus, "taus", 0, window)
    if len(lag_ts) < 2 or len(lags) < 3:
        raise ValueError(f"the rule compares an early and a late lag curve of at least three lags: lag_ts {lag_ts}, "
                         f"lags {lags}")
    n_inputs = _at_most_training(run, int(check_integer(n_inputs, "n_inputs (training inputs of the eNTK)", 1)),
                                 "n_inputs (training inputs of the eNTK)")
    needed = {*lag_ts, *(t + d for t in lag_ts for d in lags), *taus}
    steps = tuple(sorted(needed)) if steps is None else _grid(steps, "steps", 0, window)
    if not needed <= set(steps) or len(steps) < 4:
        raise ValueError(f"the checkpoints {steps} must hold every t, t + Δ and τ ({sorted(needed)}) and number at "
                         "least four (the block boundary splits them into two blocks of two)")
    study = ConeStudy(run, steps, taus, _seeds(seeds), n_inputs, split="train",
                      reference_seeds=_seeds(reference_seeds, "reference_seeds"), reference_steps=(max(lag_ts),))
    with Executor(workers) as ex:
        res = run_studies({"cone": study}, cache, ex, progress, desc="cone analysis")["cone"]
    return ConeAnalysis(res, lag_reading(_label(run), res, lag_ts, lags))


# ---------------------------------------------------------------------------------------------------- switch


@dataclass
class SwitchAnalysis:
    """Chapter 3 on a run: final test accuracy after standard training to t and linearized training from t to T
    (``results["linearized"]``), the same at a lower lr (``"linearized, lower lr"``, at the control switch times)
    and the network trained on with batch norm frozen at t (``"batch norm frozen"``, at every switch time); the
    paired rule's verdict on the paper's arm (with the frozen control) and on the lower-lr arm (without: the control
    trains at the run's lr). ``budget``: the fixed-budget arm's results keyed by switch time t
    (:func:`twophase_lib.switch.fixed_budget_studies`; empty when not run): each a
    :class:`~twophase_lib.switch.SwitchResult` over the two switch times (t, t + B), so
    ``budget[t].accuracy[:, 0]`` is the model linearized at t after B iterations and ``[:, 1]`` standard training
    to t + B (no switch), per seed; and ``budget_check`` its descriptive check
    (:func:`twophase_lib.verdicts.fixed_budget_check`; None when not run)."""

    results: dict[str, SwitchResult]
    verdicts: dict[str, Verdict]
    inflection: float
    budget: dict[int, SwitchResult] = field(default_factory=dict)
    budget_check: Check | None = None

    @property
    def outcome(self) -> Outcome:
        """The paper's arm's outcome."""
        return self.verdicts["linearized"].outcome

    def controls(self) -> dict[int, dict[str, tuple[float, float, float]]]:
        """At each switch time before T: linearized − batch-norm-frozen and, at the control switch times, lower lr −
        run's lr, paired by seed and test image, each (mean, low, high) with a 90% t interval."""
        lin, slow, frozen = (self.results.get(a) for a in SWITCH_ARMS)
        if slow is None or frozen is None:
            return {}
        out = {}
        for t in frozen.switches[:-1]:
            out[int(t)] = {"linearized − frozen": paired_difference(lin, int(t), frozen)}
            if t in slow.switches:
                out[int(t)]["lower lr − run's lr"] = paired_difference(slow, int(t), lin)
        return out

    def explain(self) -> str:
        """Each arm's outcome with its checks, and the controls."""
        lines = [f"switch: {self.outcome}"]
        for arm, v in self.verdicts.items():
            lines.append(f"  {arm}: {v.outcome}\n    " + v.explain().replace("\n", "\n    "))
        for t, diffs in self.controls().items():
            lines.append(f"  control at t = {t}: " + "; ".join(
                f"{k} {m:+.3f} " + (f"[{lo:+.3f}, {hi:+.3f}]" if math.isfinite(lo) and math.isfinite(hi)
                                    else "(no interval: fewer than two paired seeds)")
                for k, (m, lo, hi) in diffs.items()))
        if self.budget_check is not None:
            lines.append(f"  fixed budget (descriptive): {self.budget_check.mark} {self.budget_check.name}: "
                         f"{self.budget_check.detail}")
        return "\n".join(lines)

    def plot(self, ax: plt.Axes) -> None:
        """Final test accuracy against the switch time, one line per arm (band: seed range), the parent's own
        accuracy at t (dotted), the inflection dashed."""
        for k, (arm, res) in enumerate(self.results.items()):
            band(ax, res.switches, res.accuracy, arm, f"C{k}", "os^"[k % 3])
        lin = self.results[SWITCH_ARMS[0]]
        if lin.parent_correct is not None:
            ax.plot(lin.switches, lin.parent_accuracy.mean(0), color="k", linestyle=":", marker=".",
                    label="the parent's own accuracy at t")
        if math.isfinite(self.inflection):
            ax.axvline(self.inflection, color="C3", linestyle="--", linewidth=1, label="chaos inflection")
        time_axis(ax, "switch time t (iterations; the last is standard training)")
        ax.set_ylabel("final test accuracy")
        ax.set_title(f"value of the cone phase — {self.outcome}", fontsize=10)
        ax.legend(fontsize=7)

    def figure(self) -> plt.Figure:
        """The accuracy panel alone."""
        fig, ax = plt.subplots(figsize=(6, 4))
        self.plot(ax)
        fig.tight_layout()
        return fig


#: Names of the switch analysis's arms, the paper's first and then the two controls.
SWITCH_ARMS = ("linearized", "linearized, lower lr", "batch norm frozen")


def switch_analysis(run: RunConfig, switches, seeds=(0, 1, 2), inflection: float = math.nan, control_switches=None,
                    lr_scale: float = 0.1, train_examples: int | None = 1000, cache: Cache | None = None,
                    workers: int = 0, progress: bool = True, budget: int | None = None) -> SwitchAnalysis:
    """θ_std→lin(T; t) for each switch time t inside the constant-lr window (the paper's Fig. 6), T the last switch
    time (where no switch happens: standard training), with chapter 3's two controls: the linearized model at
    lr × ``lr_scale`` (one where it does not diverge) at ``control_switches`` (default: every switch time, as
    chapter 3, so the rule's cone-phase checks can judge it), and the network itself trained on with batch norm
    frozen at t, at every switch time (the rule's *beyond frozen batch norm* reads it, for the paper's arm: the
    control trains at the run's lr); the parent's own accuracy at t comes from its checkpoints.
    Judged by :func:`twophase_lib.verdicts.paired_switch_verdict`, paired by seed and test image, with chapter 1's
    inflection (:attr:`ChaosAnalysis.inflection`) placing the cone phase. With ``budget``, chapter 3's fixed-budget
    arm too: from each switch time before T, ``budget`` linearized iterations beside standard training over the same
    iterations, reported by :func:`twophase_lib.verdicts.fixed_budget_check` (it decides nothing).

    Args:
        run: the recipe at a constant lr; the switched runs train to T = switches[-1] ≤ ``run.optim.steps``.
        switches: switch times (iterations), increasing from 0 (fully linearized training), at least three; the
            last is T.
        seeds: the runs' seeds.
        inflection: chapter 1's inflection in iterations, ≥ 0 (nan, or inf when the twins never halved their
            difference: the rule's cone-phase checks are not applicable).
        control_switches: the controls' switch times, among ``switches``, at least three (the rule judges the
            lower-lr control as the paper's arm), ending at T (``()``: no controls).
        lr_scale: the lower-lr control's lr relative to the run's, in (0, 1).
        train_examples: training images the final training loss is measured on (None: all; a number beyond the
            training set measures all of it, and the study records the number used).
        cache, workers, progress: as :func:`chaos_analysis`.
        budget: the fixed-budget arm's linearized iterations B from each switch time before T, ≥ 1 (None: not run);
            the last such t plus B must lie inside the run's window (``run.optim.steps``).

    Returns:
        A :class:`SwitchAnalysis`.

    Raises:
        ValueError: a run with lr drops or no iterations, switch times not increasing integers inside the window,
            not starting at 0 or fewer than three, control switch times off the grid, ``lr_scale`` outside (0, 1),
            an inflection that is not a number ≥ 0 (nan or inf: none), negative ``workers``, a budget that is not a
            positive integer or ends past the window.
    """
    _constant_lr(run, "switch_analysis")
    _window(run, "switch_analysis")
    _refresh(run)
    switches = _grid(switches, "switches", 0, run.optim.steps)
    if len(switches) < 3:
        raise ValueError(f"the rule needs at least three switch times (the last is T), got {switches}")
    if switches[0] != 0:
        raise ValueError(f"switches must start at 0, fully linearized training (the rule's checks compare every later "
                         f"switch time with it: t = 0 is worst, the linear phase learns), got {switches}")
    if control_switches is None:
        control_switches = tuple(switches)
    if len(control_switches):  # () runs no controls
        control_switches = _grid(control_switches, "control_switches", 0, switches[-1])
        if not set(control_switches) <= set(switches) or control_switches[-1] != switches[-1] or \
                len(control_switches) < MIN_SWITCHES:
            raise ValueError(f"control_switches {control_switches} must be among switches {switches}, at least "
                             f"{MIN_SWITCHES} (the rule that judges the control needs them; () runs no controls), "
                             "and end at T")
    check_real(lr_scale, "lr_scale (the lower-lr control's lr relative to the run's)", 0, 1, low_open=True)
    inflection = _inflection(inflection)
    seeds = _seeds(seeds)
    if train_examples is not None:  # at most the training set: the study (and its cache key) holds what is used
        from .task import run_data

        train_examples = min(int(check_integer(train_examples, "train_examples (None: the whole training set)", 1)),
                             len(run_data(run).x_train))
    to_t = run.replace(optim={"steps": switches[-1]})
    studies = {SWITCH_ARMS[0]: SwitchStudy(to_t, switches, seeds, train_examples=train_examples)}
    if len(control_switches):
        studies[SWITCH_ARMS[1]] = SwitchStudy(to_t, tuple(control_switches), seeds, train_examples=train_examples,
                                              lr_scale=float(lr_scale))
        studies[SWITCH_ARMS[2]] = SwitchStudy(to_t, switches, seeds, train_examples=train_examples,
                                              arm=SwitchArm.FROZEN_BATCH_NORM)
    budgeted = {}
    if budget is not None:
        budgeted = {("budget", t): st for t, st in fixed_budget_studies(
            run, switches[:-1], budget, seeds, train_examples).items()}
    with Executor(workers) as ex:
        results = run_switch_studies({**studies, **budgeted}, cache, ex, progress, desc="switch analysis")
    fixed = {key[1]: results.pop(key) for key in budgeted}
    frozen = results.get(SWITCH_ARMS[2])
    verdicts = {arm: switch_verdict(res, inflection, frozen if arm == SWITCH_ARMS[0] else None)
                for arm, res in results.items() if arm != SWITCH_ARMS[2]}
    check = None
    if fixed:
        ts, lin, std, _ = fixed_budget_scores(fixed)
        check = fixed_budget_check(ts, lin, std, inflection)
    return SwitchAnalysis(results, verdicts, inflection, fixed, check)


# ------------------------------------------------------------------------------------------------ all three


def analyses_figure(chaos: ChaosAnalysis, cone: ConeAnalysis, switch: SwitchAnalysis) -> plt.Figure:
    """The three readings side by side: test disagreement on the fixed windows against t0, the early and late lag
    curves, and final accuracy against the switch time; each panel's title carries its outcome."""
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.2))
    chaos.plot(axes[0])
    cone.plot(axes[1])
    switch.plot(axes[2])
    fig.tight_layout()
    return fig
