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
    ax.set_xlim(left=-0.5)  # times are never negative: no "-10^0" ticks
    ax.set_xlabel(label)
    ax.grid(True, which="major", alpha=0.3)


def mark_lr_drops(ax: plt.Axes, milestones: Sequence[int]) -> None:
    """Grey dotted vertical lines at the learning-rate drops."""
    for i, m in enumerate(milestones):
        ax.axvline(m, color="gray", linestyle=":", linewidth=1, label="lr ÷ 10" if i == 0 else None)


REFERENCE_STYLE = {"independent init": ("k", "--"), "data order": ("C7", "-.")}


def chaos_figure(results: dict, metrics: Sequence[str], inflections: dict | None = None,
                 title: str = "Chaos effect: twins perturbed at t0, compared at t1") -> plt.Figure:
    """One row per sweep, one column per metric: seed mean and range, ε = 0 control, reference levels, inflection."""
    keys = list(results)
    fig, axes = plt.subplots(len(keys), len(metrics), figsize=(4.1 * len(metrics), 3.2 * len(keys)), squeeze=False)
    for r, key in enumerate(keys):
        res = results[key]
        name = ", ".join(key) if isinstance(key, tuple) else str(key)
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            band(ax, res.t0s, res.values[metric], f"ε = {res.sweep.perturbation.size:g}")
            if res.control:
                ax.scatter([rec["t0"] for rec in res.control], [rec[metric] for rec in res.control], marker="x",
                           color="k", zorder=5, label="ε = 0 control")
            for kind, (color, style) in REFERENCE_STYLE.items():
                level = res.reference(kind, metric)
                if math.isfinite(level):
                    ax.axhline(level, color=color, linestyle=style, linewidth=1, label=f"reference: {kind}")
            inf = (inflections or {}).get(key)
            if inf and math.isfinite(inf["estimate"]):
                ax.axvline(inf["estimate"], color="C3", linestyle="--", label="inflection (seed range shaded)")
                if math.isfinite(inf["low"]):
                    ax.axvspan(inf["low"], inf["high"], color="C3", alpha=0.1)
            mark_lr_drops(ax, res.sweep.run.optim.milestones)
            time_axis(ax)
            ax.set_ylabel(LABELS.get(metric, metric))
            ax.set_title(f"{name}: {LABELS.get(metric, metric)}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def epsilon_figure(curves: dict, title: str) -> plt.Figure:
    """Disagreement at t1 against t0 for each perturbation size (one seed)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (size, (t0s, d)) in enumerate(sorted(curves.items())):
        ax.plot(t0s, d, marker="os^dv"[i % 5], label=f"‖ε‖ = {size:g}")
    time_axis(ax)
    ax.set_ylabel(LABELS["disagreement"])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mark_inflection(ax: plt.Axes, inflection: dict | None) -> None:
    """A dashed vertical line at chapter 1's inflection estimate, if it is defined."""
    if inflection and math.isfinite(inflection.get("estimate", math.nan)):
        ax.axvline(inflection["estimate"], color="C3", linestyle="--", label="chaos inflection (ch. 1)")


def _edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around unequally spaced checkpoints (midpoints), so a heatmap keeps the time axis true."""
    mid = (steps[1:] + steps[:-1]) / 2
    return np.concatenate([[steps[0] - (mid[0] - steps[0])], mid, [steps[-1] + (steps[-1] - mid[-1])]])


def cone_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: the distance heatmap (step schedule), S(τ, t) and kernel velocity under both schedules."""
    archs = list(dict.fromkeys(arch for arch, _ in results))
    fig, axes = plt.subplots(len(archs), 3, figsize=(16, 4.4 * len(archs)), squeeze=False)
    styles = {"step": ("-", "o", "step schedule"), "constant": ("--", "s", "constant lr")}
    for r, arch in enumerate(archs):
        main = results[(arch, "step")]
        steps = np.array(main.study.steps)
        drop = main.study.run.optim.first_drop
        inf = (inflections or {}).get((arch, "step"))
        ax = axes[r, 0]
        e = _edges(steps.astype(float))
        im = ax.pcolormesh(e, e, main.matrices.mean(0), cmap="viridis", shading="flat")
        ax.set_xlabel("checkpoint t′ (iterations)")
        ax.set_ylabel("checkpoint t (iterations)")
        ax.set_title(f"{arch}: S(t, t′), step schedule, mean of {len(main.study.seeds)} seeds", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
        for m in main.study.run.optim.milestones:
            ax.axvline(m, color="w", linestyle=":", linewidth=1)
            ax.axhline(m, color="w", linestyle=":", linewidth=1)
        ax = axes[r, 1]
        for schedule, (ls, mk, name) in styles.items():
            res = results.get((arch, schedule))
            if res is None:
                continue
            for i, tau in enumerate(res.study.refs):
                t, s_ = res.from_reference(tau)
                keep = t >= drop if schedule == "constant" else np.ones(len(t), bool)
                ax.plot(t[keep], s_.mean(0)[keep], linestyle=ls, marker=mk, markersize=3, color=f"C{i}",
                        label=f"τ = {tau}" if schedule == "step" else None)
                if schedule == "step":
                    ax.fill_between(t, s_.min(0), s_.max(0), color=f"C{i}", alpha=0.15, linewidth=0)
        ax.axvspan(drop, steps[-1], color="gray", alpha=0.08, label="after the first drop (dashed: constant lr)")
        mark_inflection(ax, inf)
        mark_lr_drops(ax, main.study.run.optim.milestones)
        ax.set_xlabel("iteration t")
        ax.set_ylabel("S(τ, t)")
        ax.set_title(f"{arch}: distance from reference checkpoints τ", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[r, 2]
        for schedule, (ls, mk, name) in styles.items():
            res = results.get((arch, schedule))
            if res is None:
                continue
            ax.plot(steps[1:], res.velocity.mean(0), linestyle=ls, marker=mk, markersize=3, color="C0" if
                    schedule == "step" else "C1", label=name)
        mark_inflection(ax, inf)
        mark_lr_drops(ax, main.study.run.optim.milestones)
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlim(steps[1] * 0.8, steps[-1] * 1.1)
        ax.set_xlabel("iteration t (end of interval)")
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("kernel velocity S(t_i, t_i+1) / Δt")
        ax.set_title(f"{arch}: kernel velocity between adjacent checkpoints", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def switch_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: final test accuracy and test loss of θ_std→lin(T; t) against the switch time t."""
    archs = list(results)
    fig, axes = plt.subplots(2, len(archs), figsize=(6.2 * len(archs), 7), squeeze=False)
    for c, arch in enumerate(archs):
        res = results[arch]
        inf = (inflections or {}).get((arch, "step"))
        for row, (values, ylabel, log) in enumerate(((res.accuracy, "final test accuracy", False),
                                                       (res.loss, "final test loss", True))):
            ax = axes[row, c]
            band(ax, res.switches, values, "switch to linearized at t")
            ax.axhline(values[:, -1].mean(), color="k", linestyle=":", label="standard training throughout")
            ax.axhline(values[:, 0].mean(), color="gray", linestyle="-.", label="linearized from initialisation")
            mark_inflection(ax, inf)
            mark_lr_drops(ax, res.study.run.optim.milestones)
            time_axis(ax, "switch time t (iterations)")
            if log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{arch}: θ_std→lin(T; t), T = {res.switches[-1]}", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def accuracy_figure(curves: dict, milestones: dict) -> plt.Figure:
    """Per task: the parent runs' test accuracy along training under each schedule (seed mean and range), with the
    step schedule's lr drops (``milestones``: task -> iterations)."""
    names = list(dict.fromkeys(name for name, _ in curves))
    fig, axes = plt.subplots(1, len(names), figsize=(6.2 * len(names), 3.6), squeeze=False)
    for c, name in enumerate(names):
        ax = axes[0, c]
        for i, (schedule, label) in enumerate((("step", "step schedule"), ("constant", "constant lr"))):
            if (name, schedule) in curves:
                steps, acc = curves[(name, schedule)]
                band(ax, steps, acc, label, color=f"C{i}")
        mark_lr_drops(ax, milestones.get(name, ()))
        time_axis(ax, "training iteration")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{name}: the parent runs", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def across_machines_figure(rows: dict[str, list[tuple[str, str, dict[str, tuple[float, float, float]]]]],
                           fingerprints: Sequence[str]) -> plt.Figure:
    """Headline numbers under several numerics fingerprints (the page "Across machines").

    Args:
        rows: {panel title: [(setting, quantity, {fingerprint id: (seed mean, seed min, seed max)})]}, e.g. from
            :func:`twophase_lib.reporting.across_rows`.
        fingerprints: the fingerprint ids, in the order of the legend.

    Returns:
        The figure, with one panel per title, showing each number's seed mean (marker) and seed range (bar) under
        each fingerprint side by side, so the spread across machines reads against the spread across seeds.
    """
    panels = [(title, r) for title, r in rows.items() if r]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.4 * len(panels) + 0.6), squeeze=False)
    markers = "os^Dv<>"
    width = 0.7 / max(len(fingerprints), 1)
    for ax, (title, items) in zip(axes[:, 0], panels):
        for k, fp in enumerate(fingerprints):
            x, mean, lo, hi = [], [], [], []
            for i, (_, _, vals) in enumerate(items):
                if fp in vals:
                    m, a, b = vals[fp]
                    x.append(i + (k - (len(fingerprints) - 1) / 2) * width)
                    mean.append(m)
                    # an inflection of the seed-mean curve may lie outside its seeds' range: the bar then ends at it
                    lo.append(max(m - a, 0.0) if math.isfinite(a) else 0.0)
                    hi.append(max(b - m, 0.0) if math.isfinite(b) else 0.0)
            ax.errorbar(x, mean, yerr=[lo, hi], fmt=markers[k % len(markers)], capsize=2, label=fp, markersize=4)
        ax.set_xticks(range(len(items)))
        ax.set_xticklabels([f"{s.replace(', ', chr(10))}\n{q}".strip() for s, q, _ in items], fontsize=6, rotation=0)
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, title="numerics fingerprint (bars: seed range)", title_fontsize=7)
    fig.tight_layout()
    return fig
