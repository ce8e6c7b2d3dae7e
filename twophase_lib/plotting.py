"""Figures of the book: metric curves with seed bands, kernel-distance heatmaps, accuracy curves."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker
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


#: The least distance between two labelled ticks of :func:`time_axis`, as a share of the axis' width.
MIN_TICK_GAP = 0.045


def time_axis(ax: plt.Axes, label: str = "perturbation time t0 (iterations)") -> None:
    """Symmetric-log x axis (linear near 0, so t0 = 0 is shown) labelled in iterations; the linear part reaches to
    the smallest positive time drawn (so no empty decade sits between 0 and the first grid point), and is kept
    narrow. The ticks are the times drawn, labelled as plain numbers (a grid of up to 16; decades otherwise), a
    label left out where it would crowd its left neighbour. Call it after drawing."""
    xs = [float(x) for line in ax.get_lines() if line.get_transform() == ax.transData  # not axhline's axes x
          for x in np.atleast_1d(line.get_xdata()) if np.ndim(x) == 0]
    positive = [x for x in xs if np.isfinite(x) and x > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1, linscale=0.4)
    ax.set_xlim(left=-0.5)  # times are never negative: no "-10^0" ticks
    grid = sorted({x for x in xs if np.isfinite(x) and x >= 0})
    if 2 <= len(grid) <= 16:
        scaled = ax.xaxis.get_transform().transform(np.array(grid, dtype=float))
        lo, hi = ax.xaxis.get_transform().transform(np.array(ax.get_xlim(), dtype=float))
        labels, last = [], -np.inf
        for x, p in zip(grid, (scaled - lo) / (hi - lo)):
            keep = p - last >= MIN_TICK_GAP
            labels.append(f"{x:g}" if keep else "")
            last = p if keep else last
        ax.set_xticks(grid, labels)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel(label)
    ax.grid(True, which="major", alpha=0.3)


def mark_lr_drops(ax: plt.Axes, milestones: Sequence[int]) -> None:
    """Grey dotted vertical lines at the learning-rate drops."""
    for i, m in enumerate(milestones):
        ax.axvline(m, color="gray", linestyle=":", linewidth=1, label="lr ÷ 10" if i == 0 else None)


def mark_inflection(ax: plt.Axes, inflection: dict | None) -> None:
    """A dashed vertical line at chapter 1's inflection estimate, if it is defined."""
    if inflection and math.isfinite(inflection.get("estimate", math.nan)):
        ax.axvline(inflection["estimate"], color="C3", linestyle="--", label="chaos inflection (ch. 1)")


