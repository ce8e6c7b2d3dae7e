"""The statistics every rule shares: bootstrap replicates of a mean curve and their intervals, a check's margin with
its interval, the inflection of a falling curve (the first t0 where it halves) and its interval, and Spearman's rank
correlation."""

from __future__ import annotations

import math

import numpy as np

from .outcomes import Check, CheckId

#: Bootstrap intervals are central intervals of this probability.
INTERVAL_LEVEL = 0.9
#: Bootstrap replicates a rule draws unless told otherwise, enough that each end of a 90% interval has 100
#: replicates beyond it.
RESAMPLES = 2000
#: The share of the replicates that must be finite for an interval to be read. The others are dropped, and a
#: quantity undefined in more than a tenth of the resamples cannot be bounded by the rest.
MIN_FINITE_SHARE = 0.9
#: The inflection is the first t0 where a curve falls to this fraction of its t0 = 0 value, the paper's switch
#: from chaos to stability read where the twins' difference has halved (chapters 1 and 6).
INFLECTION_FRACTION = 0.5
#: Values gathered per chunk of bootstrap replicates (seeds × items), which bounds the memory a resample takes.
_CHUNK_VALUES = 2e7


def bootstrap_means(values: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of a mean curve, resampling seeds and, where given, items within each seed.

    Args:
        values: (seeds, K) per-seed values of K grid points, or (seeds, items, K) per-item values (e.g. each test
            image's 0/1 disagreement): the mean is over seeds (and items).
        resamples: number of replicates R.
        seed: seed of the resampling (the same indices for every grid point, so replicate curves are curves).

    Returns:
        (R, K) replicates of the mean curve.

    Raises:
        ValueError: ``values`` is not 2- or 3-dimensional, or has no seed.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim not in (2, 3) or values.shape[0] == 0:
        raise ValueError(f"values must be (seeds, K) or (seeds, items, K), got shape {values.shape}")
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    out = np.empty((resamples, values.shape[-1]))
    chunk = max(1, int(_CHUNK_VALUES // max(1, values[0].size)))
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        seeds = rng.integers(0, n, size=(r, n))
        if values.ndim == 2:
            out[start : start + r] = values[seeds].mean(1)
        else:
            items = rng.integers(0, values.shape[1], size=(r, n, values.shape[1]))
            out[start : start + r] = values[seeds[:, :, None], items].mean((1, 2))
    return out


def interval(replicates: np.ndarray, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates; (nan, nan) when more than a tenth of them are not
    finite (the quantity is undefined in too many resamples to bound it)."""
    r = np.asarray(replicates, dtype=float).ravel()
    finite = r[np.isfinite(r)]
    if finite.size == 0 or finite.size < MIN_FINITE_SHARE * r.size:  # undefined in too many resamples: no interval
        return (math.nan, math.nan)
    r = finite
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _margin_check(cid: CheckId, margin: float, replicates: np.ndarray, detail: str) -> Check:
    """A check that passes when ``margin`` > 0, with the interval of the margin's replicates in its detail."""
    lo, hi = interval(replicates)
    return Check(cid, bool(margin > 0), f"{detail}; margin {margin:+.3g} [{lo:+.3g}, {hi:+.3g}]", margin=margin,
                 interval=(lo, hi))


def inflection_point(t0s: np.ndarray, curve: np.ndarray, fraction: float = INFLECTION_FRACTION) -> float:
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


def inflection_interval(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray,
                        fraction: float = INFLECTION_FRACTION) -> dict:
    """The inflection (first t0 where the curve falls to ``fraction`` of its t0 = 0 value, log-interpolated in 1 + t0)
    of a mean curve, with the bootstrap interval of the replicates' inflections.

    A replicate that never falls that far counts as beyond the last t0 (+inf), so the interval's high end reads
    "> last t0" rather than dropping those replicates.

    Returns:
        {"estimate", "low", "high", "beyond_share" (replicates with no inflection), "last_t0"}.
    """
    t0s = np.asarray(t0s, dtype=float)

    def first(curve: np.ndarray) -> float:
        x = inflection_point(t0s, curve, fraction)
        return x if math.isfinite(x) else math.inf

    each = np.array([first(r) for r in np.asarray(replicates, dtype=float)])
    # no interpolation between order statistics: some of them may be +inf ("beyond the last t0")
    lo, hi = np.quantile(each, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], method="inverted_cdf")
    return {"estimate": first(np.asarray(point, dtype=float)), "low": float(lo), "high": float(hi),
            "beyond_share": float(np.mean(~np.isfinite(each))), "last_t0": float(t0s[-1])}


def inflections(t0s: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Each curve's inflection (:func:`inflection_point`), +inf where it never halves within the grid.

    Args:
        t0s: (K,) the grid.
        curves: (K,) one curve or (R, K) several (e.g. bootstrap replicates).

    Returns:
        (R,) inflections in iterations (R = 1 for one curve).
    """
    out = np.array([inflection_point(t0s, c) for c in np.atleast_2d(curves)])
    return np.where(np.isfinite(out), out, np.inf)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties (nan when a variable is constant)."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])
