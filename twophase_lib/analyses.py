"""The paper's three analyses on any run, one call each: for a user's own :class:`twophase_lib.task.Task`.

    run = RunConfig(task=Task("mine", make_model, TensorData(...)), optim=OptimConfig(...))
    chaos = chaos_curve(run, t0s=(0, 10, 30, 100))         # chapter 1: twins split at t0, compared at the end
    cone = cone_curves(run, steps=(0, 10, 30, 100, 200), refs=(30, 100))   # chapter 2: eNTK distances
    switch = switch_curve(run, switches=(0, 30, 100, 200))  # chapter 3: linearized from t to the end
    analyses_figure(chaos, cone, switch)

Everything is cached (``$TWOPHASE_CACHE`` or ``cache=``) under the task's identity. ``workers=0`` (the
default here) computes in this process, so a model defined in a notebook works; ``workers > 1``
needs a task whose model factory and data function can be imported by worker processes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .cache import Cache
from .chaos import ChaosResult, ChaosSweep, inflection_range, run_sweep
from .cone import ConeResult, ConeStudy, run_study
from .config import RunConfig
from .executor import Executor
from .metrics import BarrierConfig
from .perturbation import Perturbation
from .plotting import band, mark_lr_drops, time_axis
from .switch import SwitchResult, SwitchStudy, run_switch_studies


def chaos_curve(run: RunConfig, t0s: tuple[int, ...], seeds: tuple[int, ...] = (0, 1, 2),
                perturbation: Perturbation = Perturbation(), kernel_inputs: int = 0,
                barrier: BarrierConfig = BarrierConfig(points=3, train_examples=1000),
                cache: Cache | None = None, workers: int = 0) -> ChaosResult:
    """Twins perturbed at each t0 and trained on the parent's batches to the end; an ε = 0 control at t0s[1]."""
    sweep = ChaosSweep(run, tuple(t0s), run.optim.steps, perturbation, tuple(seeds),
                       control_t0=t0s[1] if len(t0s) > 1 else t0s[0], barrier=barrier, kernel_inputs=kernel_inputs,
                       reference_seeds=tuple(seeds[:1]))
    return run_sweep(sweep, cache, Executor(workers), progress=True)


def cone_curves(run: RunConfig, steps: tuple[int, ...], refs: tuple[int, ...], seeds: tuple[int, ...] = (0, 1, 2),
                n_inputs: int = 50, cache: Cache | None = None, workers: int = 0) -> ConeResult:
    """eNTKs of the run at ``steps`` on its first ``n_inputs`` test inputs: distance matrix, S(τ, t), velocity."""
    return run_study(ConeStudy(run, tuple(steps), tuple(refs), tuple(seeds), n_inputs), cache, Executor(workers))


def switch_curve(run: RunConfig, switches: tuple[int, ...], seeds: tuple[int, ...] = (0, 1, 2),
                 cache: Cache | None = None, workers: int = 0) -> SwitchResult:
    """Final test accuracy after standard training to t and linearized training from t to the end, per t."""
    switches = tuple(sorted({*switches, run.optim.steps}))
    study = SwitchStudy(run, switches, tuple(seeds), train_examples=1000)
    return run_switch_studies({"run": study}, cache, Executor(workers))["run"]


def _no_range(ax: plt.Axes, what: str) -> None:
    """Say on the panel that its curve is flat, so a reader does not look for an effect in rounding."""
    ax.text(0.5, 0.5, f"no dynamic range:\n{what}", transform=ax.transAxes, ha="center", va="center",
            fontsize=10, color="C3", bbox={"facecolor": "white", "edgecolor": "C3", "alpha": 0.9})


def analyses_figure(chaos: ChaosResult, cone: ConeResult, switch: SwitchResult) -> plt.Figure:
    """The three curves side by side: disagreement against t0, S(τ, t) from each τ, accuracy against t.

    Distances are drawn from 0; a panel whose curve is flat (no dynamic range) says so on the panel."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    band(ax, chaos.t0s, chaos.values["disagreement"], "twins (seed range shaded)")
    if np.ptp(chaos.values["disagreement"]) == 0:
        _no_range(ax, "the twins agree equally at every t0")
    ref = chaos.reference("independent init", "disagreement")
    ax.axhline(ref, color="0.4", linestyle="--", linewidth=1, label="independent initialisations")
    inf = inflection_range(chaos.t0s, chaos.values["disagreement"])["estimate"]
    if np.isfinite(inf):
        ax.axvline(inf, color="C3", linestyle="--", label=f"inflection ≈ {inf:.3g}")
    mark_lr_drops(ax, chaos.sweep.run.optim.milestones)
    time_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("test disagreement at the end")
    ax.set_title("chaos: twins split at t0", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[1]
    for i, tau in enumerate(cone.study.refs):
        t, s = cone.from_reference(tau)
        band(ax, t, s, f"τ = {tau}", color=f"C{i}")
    if not np.any(cone.matrices):
        _no_range(ax, "the eNTK never moves")
    mark_lr_drops(ax, cone.study.run.optim.milestones)
    time_axis(ax, "training iteration t")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("kernel distance S(τ, t)")
    ax.set_title("cone: eNTK distance from τ", fontsize=10)
    ax.legend(fontsize=7)
    ax = axes[2]
    band(ax, switch.switches, switch.accuracy, "linearized from t")
    if np.ptp(switch.accuracy.mean(0)) == 0:
        _no_range(ax, "the same accuracy at every switch time")
    mark_lr_drops(ax, switch.study.run.optim.milestones)
    time_axis(ax, "switch time t")
    ax.set_ylabel("final test accuracy")
    ax.set_title("value of the cone phase", fontsize=10)
    fig.tight_layout()
    return fig
