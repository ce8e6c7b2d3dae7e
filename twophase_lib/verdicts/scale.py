"""The scale ladder's rule (issue 34): how a measured quantity moves with the network's width, and whether its trend
reaches the paper's value at the paper's width — so a negative verdict at one small scale can be told apart from a
paper that is wrong at its own.

A quantity y measured on a few rungs of width w (multipliers of the paper's width, so the paper's network is
w = 1) is fitted as a power law, log y = a + b log w (or, for a quantity that can be zero or negative such as an
accuracy gain, y = a + b log w). The rule reads two things off the fit:

* the **trend**: the slope b against the committed prediction (e.g. a kernel distance that falls roughly as
  1/width, b ≈ −1, rejected when b lies above −0.3);
* **the paper's scale**: the value at w = 1 — measured, when a rung is the paper's own network, else the fit's —
  against the paper's value there (a range read off its figures). Only the width is the paper's: data, window and
  training length stay the ladder's.

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
#: The widest interval of the value at the paper's width (as a ratio high / low, for a quantity fitted in log–log)
#: that can still say "consistent" or "fails": an interval spanning more than a factor of 4 (twice either way of its
#: estimate) would meet almost any range read off a figure.
MAX_PREDICTION_RATIO = 4.0
#: The same bound for a quantity fitted on a linear axis, such as an accuracy gain in points of accuracy.
#:
#: An interval wider than 0.2 would meet almost any range.
MAX_LINEAR_WIDTH = 0.2
#: An interval narrower than this, relative to its value's scale, has no width.
#:
#: Every seed gave the same value on every rung (a quantity that only takes grid values), so the bootstrap saw no
#: noise and the interval says nothing.
NO_WIDTH = 1e-9


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

    ``slope`` (b) and ``at_paper`` (the value at w = 1: the paper's own network's when a rung measured it, else the
    fit's) with their 90% t intervals; ``trend`` the slope against its prediction; ``outcome`` that value against
    the paper's; ``detail`` the numbers in words; ``intercept`` (a) and ``log_values`` the fitted law
    (:meth:`fitted`).
    """

    slope: float
    slope_interval: tuple[float, float]
    at_paper: float
    at_paper_interval: tuple[float, float]
    trend: Trend
    outcome: ScaleOutcome
    detail: str
    intercept: float = math.nan  # the fit at w = 1 in the fitted space (log y, or y for a linear fit)
    log_values: bool = True

    def fitted(self, widths: np.ndarray) -> np.ndarray:
        """The fitted law at ``widths`` (multipliers of the paper's width)."""
        y = self.intercept + self.slope * np.log(np.asarray(widths, dtype=float))
        return np.exp(y) if self.log_values else y


def _fit(log_w: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope of y on log w."""
    b, a = np.polyfit(log_w, y, 1)
    return float(a), float(b)


def _narrow(lo: float, hi: float, scale: float) -> bool:
    return math.isfinite(lo) and math.isfinite(hi) and hi - lo <= NO_WIDTH * max(1.0, abs(scale))


def width_trend(widths: np.ndarray, values: list[np.ndarray] | np.ndarray, paper: tuple[float, float],
                slope_bound: float, falls: bool = True, resamples: int = RESAMPLES, seed: int = 0,
                log_values: bool = True, upper: float | None = None) -> ScaleTrend:
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
        log_values: fit log y (a power law, values positive); False fits y itself against log w (a quantity
            that may be zero or negative, such as an accuracy gain; the slope is then its change per factor e of
            width).
        upper: the largest value the quantity can take (1 for S = 1 − cos): the value at the paper's width and
            its interval are clipped to it.

    Returns:
        A :class:`ScaleTrend`. The value at the paper's width is the rung's own seed mean with its t interval when
        a rung has width 1 (the paper's network was measured), else the fit's at w = 1. Its ``trend`` is
        AS_PREDICTED when the slope's whole interval lies on the predicted side of ``slope_bound``, REJECTED when it
        lies on the other, UNDECIDED otherwise or when the interval has no width. Its ``outcome`` is CONSISTENT when
        the interval of the value at width 1 meets the paper's range, FAILS when it lies wholly outside it,
        CANNOT_TELL when that interval is not finite, has no width, or is wider than
        :data:`~twophase_lib.verdicts.scale.MAX_PREDICTION_RATIO` (log) or
        :data:`~twophase_lib.verdicts.scale.MAX_LINEAR_WIDTH` (linear).

    Raises:
        ValueError: fewer than three rungs, widths not positive or not distinct, a rung with no seed, a value
            that is not finite (or, fitted in log–log, not positive), or a paper range that is not ordered (or, in
            log–log, not positive).
    """
    widths = np.asarray(widths, dtype=float)
    rungs = [np.asarray(v, dtype=float).ravel() for v in values]
    if len(widths) < MIN_RUNGS or len(rungs) != len(widths):
        raise ValueError(f"a trend needs at least {MIN_RUNGS} rungs with values for each: {len(widths)} widths, "
                         f"{len(rungs)} value sets")
    if not (widths > 0).all() or len(set(widths.tolist())) != len(widths):
        raise ValueError(f"widths must be positive and distinct: {widths.tolist()}")
    if any(r.size == 0 for r in rungs) or not all(np.isfinite(r).all() and (not log_values or (r > 0).all())
                                                  for r in rungs):
        raise ValueError("every rung needs at least one seed, and every value must be finite"
                         + (" and positive (a power law is fitted in log–log)" if log_values else ""))
    lo_p, hi_p = map(float, paper)
    if not lo_p <= hi_p or (log_values and not lo_p > 0):
        raise ValueError(f"the paper's range must be ordered{' and positive' if log_values else ''}, got {paper}")
    fwd = np.log if log_values else (lambda x: np.asarray(x, dtype=float))
    back = math.exp if log_values else float
    log_w = np.log(widths)
    a, b = _fit(log_w, fwd([r.mean() for r in rungs]))
    rng = np.random.default_rng(seed)
    reps = np.empty((resamples, 2))
    at_rung = int(np.flatnonzero(widths == 1.0)[0]) if (widths == 1.0).any() else None
    own = np.empty(resamples)
    for i in range(resamples):
        means = [r[rng.integers(0, r.size, r.size)].mean() for r in rungs]
        reps[i] = _fit(log_w, fwd(means))
        if at_rung is not None:
            own[i] = fwd(means[at_rung])
    n = min(r.size for r in rungs)
    slope_lo, slope_hi = t_interval(b, reps[:, 1], n)
    if at_rung is None:  # the fit's value at width 1 (log w = 0) is a: its interval in fitted space, mapped back
        centre, (c_lo, c_hi), where = a, t_interval(a, reps[:, 0], n), "fitted at the paper's width"
    else:
        r = rungs[at_rung]
        centre = float(fwd(r.mean()))
        c_lo, c_hi = t_interval(centre, own, r.size)
        where = "measured at the paper's width"
    at_paper = back(centre)
    at_lo = back(c_lo) if math.isfinite(c_lo) else math.nan
    at_hi = back(c_hi) if math.isfinite(c_hi) else math.nan
    if upper is not None:
        at_paper, at_lo, at_hi = (min(x, upper) if math.isfinite(x) else x for x in (at_paper, at_lo, at_hi))
    flat_slope = _narrow(slope_lo, slope_hi, b)
    if not (math.isfinite(slope_lo) and math.isfinite(slope_hi)) or flat_slope:
        trend = Trend.UNDECIDED
    elif (slope_hi < slope_bound) if falls else (slope_lo > slope_bound):
        trend = Trend.AS_PREDICTED
    elif (slope_lo > slope_bound) if falls else (slope_hi < slope_bound):
        trend = Trend.REJECTED
    else:
        trend = Trend.UNDECIDED
    too_wide = ((not at_lo > 0) or at_hi / at_lo > MAX_PREDICTION_RATIO) if log_values else \
        at_hi - at_lo > MAX_LINEAR_WIDTH
    no_width = _narrow(at_lo, at_hi, at_paper)
    if not (math.isfinite(at_lo) and math.isfinite(at_hi)) or too_wide or no_width:
        outcome = ScaleOutcome.CANNOT_TELL
    elif at_hi < lo_p or at_lo > hi_p:
        outcome = ScaleOutcome.FAILS
    else:
        outcome = ScaleOutcome.CONSISTENT
    paper_text = f"{lo_p:.3g}" if lo_p == hi_p else f"{lo_p:.3g}–{hi_p:.3g}"
    why = ("; the seeds gave identical values, so no interval (a grid-valued quantity)" if flat_slope or no_width
           else "")
    detail = (f"slope {b:+.2f} [{slope_lo:+.2f}, {slope_hi:+.2f}] ({trend}: predicted "
              f"{'below' if falls else 'above'} {slope_bound:+g}); {where} {at_paper:.3g} "
              f"[{at_lo:.3g}, {at_hi:.3g}] against the paper's {paper_text}: {outcome}{why}")
    return ScaleTrend(b, (slope_lo, slope_hi), at_paper, (at_lo, at_hi), trend, outcome, detail, a, log_values)
