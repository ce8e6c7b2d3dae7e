"""Figures of the book: metric curves with seed bands, kernel-distance heatmaps, accuracy curves."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

LABELS = {
    "disagreement": "test disagreement",
    "dissimilarity": "1 − cos(θ, θ′)",
    "relative_distance": "‖θ − θ′‖ / ‖θ‖",
    "test_loss_barrier": "test loss barrier",
    "train_loss_barrier": "train loss barrier",
    "test_error_barrier": "test error barrier",
    "kernel_distance": "eNTK distance S(K, K′)",
}


def band(ax: plt.Axes, x: np.ndarray, per_seed: np.ndarray, label: str, color: str | None = None,
         marker: str = "o") -> None:
    """Seed mean as a line with markers and the min-max over seeds as a shaded band."""
    mean = per_seed.mean(0)
    line, = ax.plot(x, mean, marker=marker, label=f"{label} (mean of {per_seed.shape[0]} seeds)", color=color)
    ax.fill_between(x, per_seed.min(0), per_seed.max(0), alpha=0.25, color=line.get_color(), linewidth=0)


def time_axis(ax: plt.Axes, label: str = "perturbation time t0 (iterations)") -> None:
    """Symmetric-log x axis (linear near 0, so t0 = 0 is shown) labelled in iterations."""
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel(label)
    ax.grid(True, which="major", alpha=0.3)


def mark_lr_drops(ax: plt.Axes, milestones: Sequence[int]) -> None:
    """Grey dotted vertical lines at the learning-rate drops."""
    for i, m in enumerate(milestones):
        ax.axvline(m, color="gray", linestyle=":", linewidth=1, label="lr ÷ 10" if i == 0 else None)


def chaos_figure(results: dict, metrics: Sequence[str], inflections: dict | None = None,
                 title: str = "Chaos effect: twins perturbed at t0, compared at t1") -> plt.Figure:
    """One row per architecture, one column per metric: mean and band over seeds, the ε = 0 control, the inflection."""
    archs = list(results)
    fig, axes = plt.subplots(len(archs), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(archs)), squeeze=False)
    for r, arch in enumerate(archs):
        res = results[arch]
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            band(ax, res.t0s, res.values[metric], "ε = 1e-7")
            ctrl = [rec[metric] for rec in res.control]
            ax.scatter([res.sweep.control_at] * len(ctrl), ctrl, marker="x", color="k", zorder=5,
                       label="ε = 0 control")
            if inflections and arch in inflections and math.isfinite(inflections[arch]["estimate"]):
                inf = inflections[arch]
                ax.axvline(inf["estimate"], color="C3", linestyle="--", label="inflection estimate")
                if math.isfinite(inf["low"]):
                    ax.axvspan(inf["low"], inf["high"], color="C3", alpha=0.08)
            mark_lr_drops(ax, res.sweep.run.optim.milestones)
            time_axis(ax)
            ax.set_ylabel(LABELS.get(metric, metric))
            ax.set_title(f"{arch}: {LABELS.get(metric, metric)} at t1 = {res.sweep.t1}", fontsize=10)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def comparison_figure(curves: dict, metric: str, title: str) -> plt.Figure:
    """Several sweeps' curves of one metric on one axis (e.g. step schedule against constant lr)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (label, res) in enumerate(curves.items()):
        band(ax, res.t0s, res.values[metric], label, color=f"C{i}", marker="os^"[i % 3])
    mark_lr_drops(ax, sorted({m for res in curves.values() for m in res.sweep.run.optim.milestones}))
    time_axis(ax)
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mark_inflection(ax: plt.Axes, inflection: dict | None) -> None:
    """A dashed vertical line at chapter 1's inflection estimate, if it is defined."""
    if inflection and math.isfinite(inflection.get("estimate", math.nan)):
        ax.axvline(inflection["estimate"], color="C3", linestyle="--", label="chaos inflection (ch. 1)")


def cone_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: the seed-mean kernel-distance heatmap, S(τ, t) for each τ, and kernel velocity."""
    archs = list(results)
    fig, axes = plt.subplots(len(archs), 3, figsize=(15, 4 * len(archs)), squeeze=False)
    for r, arch in enumerate(archs):
        res = results[arch]
        steps = np.array(res.study.steps)
        ax = axes[r, 0]
        im = ax.imshow(res.matrices.mean(0), cmap="viridis", origin="lower")
        ticks = np.arange(len(steps))[:: max(1, len(steps) // 8)]
        ax.set_xticks(ticks, [str(s) for s in steps[ticks]], rotation=45)
        ax.set_yticks(ticks, [str(s) for s in steps[ticks]])
        ax.set_xlabel("checkpoint t′ (iterations)")
        ax.set_ylabel("checkpoint t (iterations)")
        ax.set_title(f"{arch}: kernel distance S(t, t′), mean of {len(res.study.seeds)} seeds", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax = axes[r, 1]
        for i, tau in enumerate(res.study.refs):
            t, s = res.from_reference(tau)
            band(ax, t, s, f"τ = {tau}", color=f"C{i}")
        mark_inflection(ax, (inflections or {}).get(arch))
        mark_lr_drops(ax, res.study.run.optim.milestones)
        ax.set_xlabel("iteration t")
        ax.set_ylabel("S(τ, t)")
        ax.set_title(f"{arch}: distance from reference checkpoints τ", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[r, 2]
        band(ax, steps[1:], res.velocity, "S(t_i, t_{i+1}) / Δt")
        mark_inflection(ax, (inflections or {}).get(arch))
        mark_lr_drops(ax, res.study.run.optim.milestones)
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlabel("iteration t (end of interval)")
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("kernel velocity (per iteration)")
        ax.set_title(f"{arch}: kernel velocity between adjacent checkpoints", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def switch_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: final test accuracy of θ_std→lin(T; t) against the switch time t, with the two endpoints."""
    archs = list(results)
    fig, axes = plt.subplots(1, len(archs), figsize=(6 * len(archs), 4), squeeze=False)
    for c, arch in enumerate(archs):
        res, ax = results[arch], axes[0, c]
        band(ax, res.switches, res.accuracy, "switch to linearized at t")
        ax.axhline(res.accuracy[:, -1].mean(), color="k", linestyle=":", label="standard training throughout")
        ax.axhline(res.accuracy[:, 0].mean(), color="gray", linestyle="-.", label="linearized from initialisation")
        mark_inflection(ax, (inflections or {}).get(arch))
        time_axis(ax, "switch time t (iterations)")
        ax.set_ylabel("final test accuracy")
        ax.set_title(f"{arch}: θ_std→lin(T; t), T = {res.switches[-1]}", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
