"""The scale ladder's rule (issue 34): how a measured quantity moves with the network's width, and whether its trend
reaches the paper's value at the paper's width — so a negative verdict at one small scale can be told apart from a
paper that is wrong at its own.

A quantity y measured on a few rungs of width w (multipliers of the paper's width, so the paper's network is
w = 1) is fitted as a power law, log y = a + b log w. The rule reads two things off the fit:

* the **trend**: the slope b against the committed prediction (e.g. a kernel distance that falls roughly as
  1/width, b ≈ −1, rejected when b lies above −0.3);
* **the paper's scale**: the fitted value at w = 1 against the paper's value there (a range read off its figures).

Both come with t intervals (:func:`~twophase_lib.verdicts.t_interval`) from a bootstrap that resamples seeds within
each rung; they measure seed noise, not whether a power law is the right shape (three rungs cannot say), which the
chapter states beside them.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from .intervals import RESAMPLES, t_interval

#: The rungs a trend needs (with two, any two points lie on a line and the fit has no check of its own).
MIN_RUNGS = 3
#: The widest interval of the fitted value at the paper's width (as a ratio high / low) that can still say
#: "consistent" or "fails": a prediction vaguer than a factor of 10 says nothing about a value read off a figure.
MAX_PREDICTION_RATIO = 10.0


class Trend(enum.StrEnum):
    """The slope against its prediction."""

    AS_PREDICTED = "as predicted"
    REJECTED = "rejected"
    UNDECIDED = "undecided"


class ScaleOutcome(enum.StrEnum):
    """What the ladder says of a quantity at the paper's scale."""

    CONSISTENT = "consistent with the paper at its scale"
    FAILS = "fails at the paper's scale"
    CANNOT_TELL = "cannot tell"


@dataclass
class ScaleTrend:
    """A quantity's power-law fit over the rungs and what the rule reads off it.

    ``slope`` (b) and ``at_paper`` (the fitted value at w = 1) with their 90% t intervals; ``trend`` the slope
    against its prediction; ``outcome`` the fit against the paper's value; ``detail`` the numbers in words.
    """

    slope: float
    slope_interval: tuple[float, float]
    at_paper: float
    at_paper_interval: tuple[float, float]
    trend: Trend
    outcome: ScaleOutcome
    detail: str


def _fit(log_w: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of log y on log w."""
    b, a = np.polyfit(log_w, log_y, 1)
    return float(a), float(b)


def width_trend(widths: np.ndarray, values: list[np.ndarray] | np.ndarray, paper: tuple[float, float],
                slope_bound: float, falls: bool = True, resamples: int = RESAMPLES, seed: int = 0) -> ScaleTrend:
    """Fit a quantity's power law over width and judge it against its prediction and the paper's value.

    Args:
        widths: (K,) the rungs' widths as multipliers of the paper's width (the paper's network is 1), distinct.
        values: per rung, the per-seed values (positive: a distance, an inflection in epochs, ...); rungs may
            have different seed counts.
        paper: (low, high), the paper's value at width 1 as the range read off its figure (low = high for a
            number).
        slope_bound: the slope the prediction rejects beyond: with ``falls``, a slope above it rejects a
            quantity predicted to fall with width (e.g. −0.3 for a predicted ≈ −1); without, a slope below it
            rejects one predicted to grow.
        falls: whether the prediction is that the quantity falls with width.
        resamples: bootstrap replicates (seeds resampled within each rung).
        seed: the resampling's seed.

    Returns:
        A :class:`ScaleTrend`. Its ``trend`` is AS_PREDICTED when the slope's whole interval lies on the
        predicted side of ``slope_bound``, REJECTED when it lies on the other, UNDECIDED otherwise. Its
        ``outcome`` is CONSISTENT when the interval of the fitted value at width 1 meets the paper's range,
        FAILS when it lies wholly outside it, CANNOT_TELL when that interval is not finite or wider than a
        factor of :data:`~twophase_lib.verdicts.scale.MAX_PREDICTION_RATIO`.

    Raises:
        ValueError: fewer than three rungs, widths not positive or not distinct, a rung with no seed, a value
            that is not positive and finite, or a paper range that is not positive and ordered.
    """
    widths = np.asarray(widths, dtype=float)
    rungs = [np.asarray(v, dtype=float).ravel() for v in values]
    if len(widths) < MIN_RUNGS or len(rungs) != len(widths):
        raise ValueError(f"a trend needs at least {MIN_RUNGS} rungs with values for each: {len(widths)} widths, "
                         f"{len(rungs)} value sets")
    if not (widths > 0).all() or len(set(widths.tolist())) != len(widths):
        raise ValueError(f"widths must be positive and distinct: {widths.tolist()}")
    if any(r.size == 0 for r in rungs) or not all(np.isfinite(r).all() and (r > 0).all() for r in rungs):
        raise ValueError("every rung needs at least one seed, and every value must be positive and finite (a "
                         "power law is fitted in log–log)")
    lo_p, hi_p = map(float, paper)
    if not 0 < lo_p <= hi_p:
        raise ValueError(f"the paper's range must be positive and ordered, got {paper}")
    log_w = np.log(widths)
    a, b = _fit(log_w, np.log([r.mean() for r in rungs]))
    rng = np.random.default_rng(seed)
    reps = np.empty((resamples, 2))
    for i in range(resamples):
        means = [r[rng.integers(0, r.size, r.size)].mean() for r in rungs]
        reps[i] = _fit(log_w, np.log(means))
    n = min(r.size for r in rungs)
    slope_lo, slope_hi = t_interval(b, reps[:, 1], n)
    # the fitted value at width 1 (log w = 0) is exp(a): its interval in log space, mapped back
    la_lo, la_hi = t_interval(a, reps[:, 0], n)
    at_paper, at_lo, at_hi = math.exp(a), math.exp(la_lo) if math.isfinite(la_lo) else math.nan, \
        math.exp(la_hi) if math.isfinite(la_hi) else math.nan
    if not (math.isfinite(slope_lo) and math.isfinite(slope_hi)):
        trend = Trend.UNDECIDED
    elif (slope_hi < slope_bound) if falls else (slope_lo > slope_bound):
        trend = Trend.AS_PREDICTED
    elif (slope_lo > slope_bound) if falls else (slope_hi < slope_bound):
        trend = Trend.REJECTED
    else:
        trend = Trend.UNDECIDED
    if not (math.isfinite(at_lo) and math.isfinite(at_hi)) or at_hi / at_lo > MAX_PREDICTION_RATIO:
        outcome = ScaleOutcome.CANNOT_TELL
    elif at_hi < lo_p or at_lo > hi_p:
        outcome = ScaleOutcome.FAILS
    else:
        outcome = ScaleOutcome.CONSISTENT
    paper_text = f"{lo_p:.3g}" if lo_p == hi_p else f"{lo_p:.3g}–{hi_p:.3g}"
    detail = (f"slope {b:+.2f} [{slope_lo:+.2f}, {slope_hi:+.2f}] ({trend}: predicted "
              f"{'below' if falls else 'above'} {slope_bound:+g}); at the paper's width {at_paper:.3g} "
              f"[{at_lo:.3g}, {at_hi:.3g}] against the paper's {paper_text}: {outcome}")
    return ScaleTrend(b, (slope_lo, slope_hi), at_paper, (at_lo, at_hi), trend, outcome, detail)
