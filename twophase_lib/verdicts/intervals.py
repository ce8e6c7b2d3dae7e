"""The statistics every rule shares: bootstrap replicates of a mean curve, Student-t intervals from them whose
coverage is measured (``tests/test_interval_coverage.py``), a check's margin with its interval, the inflection of a
falling curve (the first t0 of the grid where it halves) and its interval, and Spearman's rank correlation.

Why not percentile intervals: over 2 or 3 seeds a percentile bootstrap's nominal 90% interval covers the true mean
only about 52% / 62% of the time (the bootstrap's spread is the seeds' spread times sqrt((n − 1)/n), and the
quantiles of n resampled values cannot reach beyond them). :func:`~twophase_lib.verdicts.t_interval` keeps the
bootstrap for what it is good at (the standard error of any statistic of the resampled seeds and images) and
replaces the quantiles with the Student t quantile on n − 1 degrees of freedom, the standard error rescaled by
sqrt(n/(n − 1)): for the mean of normal seeds this is exactly the textbook t interval (90% coverage), and the
coverage test measures it on the rules' own statistics at the designs' seed counts.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from .outcomes import Check, CheckId

#: Intervals are central intervals of this probability.
INTERVAL_LEVEL = 0.9
#: Bootstrap replicates a rule draws unless told otherwise, enough that the standard error is known to about 2%.
RESAMPLES = 2000
#: The share of the replicates that must be finite for an interval to be read. The others are dropped, and a
#: quantity undefined in more than a tenth of the resamples cannot be bounded by the rest.
MIN_FINITE_SHARE = 0.9
#: The inflection is the first t0 of the grid where a curve has fallen to this fraction of its t0 = 0 value, the
#: paper's switch from chaos to stability read where the twins' difference has halved (chapters 1 and 6).
INFLECTION_FRACTION = 0.5
#: Values gathered per chunk of bootstrap replicates (seeds × items), which bounds the memory a resample takes.
_CHUNK_VALUES = 2e7
#: The interval method, as the book states it beside every interval.
INTERVAL_METHOD = ("Student t on n − 1 degrees of freedom (n seeds) with the bootstrap's standard error "
                   "(seeds and test images resampled) rescaled by √(n/(n − 1))")


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
    """The central ``level`` percentile interval of bootstrap replicates; (nan, nan) when more than a tenth of them
    are not finite (the quantity is undefined in too many resamples to bound it).

    Only for statistics a t interval does not fit (rank correlations, ratios of inflections on a grid); a mean or a
    margin takes :func:`t_interval`, whose coverage is measured.
    """
    r = np.asarray(replicates, dtype=float).ravel()
    finite = r[np.isfinite(r)]
    if finite.size == 0 or finite.size < MIN_FINITE_SHARE * r.size:  # undefined in too many resamples: no interval
        return (math.nan, math.nan)
    lo, hi = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def t_interval(point: float | np.ndarray, replicates: np.ndarray, seeds: int,
               level: float = INTERVAL_LEVEL) -> tuple:
    """A Student-t interval around ``point`` with the bootstrap's standard error
    (:data:`~twophase_lib.verdicts.intervals.INTERVAL_METHOD`).

    point ± t_{n−1, (1+level)/2} · sd(replicates) · √(n/(n − 1)), n = ``seeds``: the bootstrap's spread of a
    mean over n resampled seeds is the seeds' standard error times √((n − 1)/n), which the factor undoes.

    Args:
        point: the statistic (a number, or (K,) a curve) measured on all seeds.
        replicates: (R,) or (R, K) its bootstrap replicates (:func:`bootstrap_means`, or any function of them).
        seeds: n, the number of independent runs behind the statistic (for a difference of two groups, the
            smaller group: fewer degrees of freedom, a wider interval).
        level: the interval's nominal coverage.

    Returns:
        (low, high), numbers or (K,) arrays; nan where fewer than two seeds, the point is not finite, or more than a
        tenth of the replicates are not finite.
    """
    point = np.asarray(point, dtype=float)
    reps = np.asarray(replicates, dtype=float).reshape((-1,) + point.shape)
    finite = np.isfinite(reps)
    ok = (finite.mean(0) >= MIN_FINITE_SHARE) & np.isfinite(point) & (seeds >= 2) & (finite.sum(0) >= 2)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with no finite replicate: nan, said below
        masked = np.where(finite, reps, np.nan)
        sd = np.nanstd(masked, axis=0, ddof=1) if reps.shape[0] > 1 else np.full(point.shape, np.nan)
        half = stats.t.ppf((1 + level) / 2, max(seeds - 1, 1)) * sd * math.sqrt(seeds / max(seeds - 1, 1))
    lo, hi = np.where(ok, point - half, np.nan), np.where(ok, point + half, np.nan)
    if point.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def _margin_check(cid: CheckId, margin: float, replicates: np.ndarray, detail: str, seeds: int,
                  deciding: bool = True, bounds: tuple[float, float] | None = None) -> Check:
    """A check that passes when ``margin`` > 0, with the t interval (:func:`t_interval`, n = ``seeds``) of the
    margin in its detail; ``bounds``: the values the margin can take (a rank correlation's), the interval clipped
    to them."""
    lo, hi = t_interval(margin, replicates, seeds)
    if bounds is not None and np.isfinite(lo) and np.isfinite(hi):
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    where = f"[{lo:+.3g}, {hi:+.3g}]" if np.isfinite(lo) and np.isfinite(hi) else \
        "(no interval: fewer than two seeds or pairs)"
    return Check(cid, bool(margin > 0), f"{detail}; margin {margin:+.3g} {where}", margin=margin,
                 interval=(lo, hi), deciding=deciding)


def inflection_point(t0s: np.ndarray, curve: np.ndarray, fraction: float = INFLECTION_FRACTION) -> float:
    """The first t0 of the grid where the curve has fallen to ``fraction`` of its value at the first t0.

    At the grid's resolution: the curve crossed somewhere after the previous t0, and no interpolation claims to
    know where. Returns nan when the curve never falls that far, or when its early level is not positive.
    """
    curve = np.asarray(curve, dtype=float)
    if not curve[0] > 0:
        return math.nan
    below = np.nonzero(curve[1:] <= fraction * curve[0])[0]
    return float(t0s[below[0] + 1]) if below.size else math.nan


def inflection_interval(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray, seeds: int,
                        fraction: float = INFLECTION_FRACTION, level: float = INTERVAL_LEVEL) -> dict:
    """The inflection of a mean curve (:func:`inflection_point`) with an interval at the grid's resolution, read off
    the t band (of probability ``level``) of the curve relative to its t0 = 0 value.

    The ratio r(t0) = d(t0)/d(0) gets a pointwise :func:`t_interval` (its replicates: each replicate curve over its
    own first value). The earliest the curve can have halved is the first t0 whose band's low end is at or below
    ``fraction``; the latest, the first whose high end is; +inf ("> last t0") when the high end never gets there.

    Returns:
        {"estimate", "low", "high" (grid t0s, inf beyond the grid), "last_t0", "previous" (the grid point before
        the estimate: the crossing lies in (previous, estimate])}.
    """
    t0s = np.asarray(t0s, dtype=float)
    point, reps = np.asarray(point, dtype=float), np.asarray(replicates, dtype=float)
    est = inflection_point(t0s, point, fraction)
    est = est if math.isfinite(est) else math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = point / point[0] if point[0] > 0 else np.full_like(point, np.nan)
        ratio_reps = reps / reps[:, :1]
    lo_band, hi_band = t_interval(ratio, ratio_reps, seeds, level)

    def first(band: np.ndarray) -> float:
        hit = np.nonzero(band[1:] <= fraction)[0]
        return float(t0s[hit[0] + 1]) if hit.size else math.inf

    if not np.isfinite(lo_band).all():
        low, high = math.nan, math.nan
    else:
        low, high = first(lo_band), first(hi_band)
    i = int(np.searchsorted(t0s, est)) if math.isfinite(est) else len(t0s)
    return {"estimate": est, "low": low, "high": high, "last_t0": float(t0s[-1]),
            "previous": float(t0s[i - 1]) if i > 0 else math.nan}


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
    """Spearman rank correlation with average ranks for ties (nan when a variable is constant or holds a nan;
    inf ranks as the largest)."""
    if np.isnan(np.asarray(x, dtype=float)).any() or np.isnan(np.asarray(y, dtype=float)).any():
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])
