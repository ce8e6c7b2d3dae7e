"""What moves the transition (chapter 6, issue 22): how far a setting's inflection lies from the baseline's, and the
relation across settings between the inflection and the final test accuracy (the paper's open questions)."""

from __future__ import annotations

import enum
import math

import numpy as np
from scipy import stats

from .intervals import INTERVAL_LEVEL, inflection_interval, spearman, t_interval

#: Settings :func:`~twophase_lib.verdicts.inflection_accuracy_relation` needs. A rank correlation of three takes
#: few values (±1 or ±0.5 without ties), too few to read a relation from.
MIN_SETTINGS = 4


#: The level of each inflection's band when two are joined into the interval of their shift (≈ 0.755). The
#: difference of two independent estimates of standard error se has standard error se·√2; joining two bands of
#: half-width z'·se gives a half-width 2·z'·se, the difference's 90% half-width z·se·√2 when z' = z/√2. The
#: joined interval's coverage is measured, not assumed (``tests/test_interval_coverage.py``).
SHIFT_BAND_LEVEL = float(2 * stats.norm.cdf(stats.norm.ppf((1 + INTERVAL_LEVEL) / 2) / math.sqrt(2)) - 1)


class Shift(enum.StrEnum):
    """Which way a change of one factor moves the inflection (:func:`inflection_shift`)."""

    LATER = "later"
    EARLIER = "earlier"
    NONE = "no change measurable"


def _ratio(setting: float, base: float, undefined: float) -> float:
    """(1 + setting) / (1 + base) of two inflections or interval ends (inf: beyond the grid), divided exactly as
    written (so equal grid points give exactly 1); ``undefined`` where both are beyond the grid or either is nan."""
    if math.isnan(setting) or math.isnan(base) or (math.isinf(setting) and math.isinf(base)):
        return undefined
    if math.isinf(setting):
        return math.inf
    if math.isinf(base):
        return 0.0
    return (1.0 + setting) / (1.0 + base)


def inflection_shift(t0s: np.ndarray, base_point: np.ndarray, base_replicates: np.ndarray, point: np.ndarray,
                     replicates: np.ndarray, seeds: int | tuple[int, int]) -> dict:
    """How far a setting's inflection lies from the baseline's (chapter 6, "what moves the transition"), with the
    interval of the shift and its direction.

    The shift is the factor (1 + t_setting) / (1 + t_base) between the two inflections (a ratio: the grids are
    spaced by factors); an inflection beyond the grid counts as later than any inside it. Its interval joins the
    two inflections' intervals at the grid's resolution (:func:`~twophase_lib.verdicts.inflection_interval`, t
    bands over seeds at :data:`~twophase_lib.verdicts.transition.SHIFT_BAND_LEVEL` each): from
    (1 + setting's low) / (1 + baseline's high) to (1 + setting's high) / (1 + baseline's low). Its coverage is
    measured by simulation at 2, 3 and 5 seeds (``tests/test_interval_coverage.py``), as is how often two settings of
    the same dynamics are called shifted.

    Args:
        t0s: (K,) the slice's t0 grid, shared by both settings.
        base_point, point: (K,) the two mean curves (e.g. test disagreement on t1 = t0 + Δ).
        base_replicates, replicates: (R, K) their bootstrap replicates (:func:`~twophase_lib.verdicts.bootstrap_means`,
            independent runs resampled independently).
        seeds: the seeds behind each curve, one number for both or (baseline's, setting's).

    Returns:
        {"base", "setting" (inflections, iterations; inf beyond the grid), "factor", "low", "high" (the ratio and
        its 90% interval; 0 and inf where an end cannot be bounded), "shift" (:class:`Shift`: LATER when the whole
        interval lies above 1, EARLIER below, NONE otherwise)}.

    Raises:
        ValueError: shapes that disagree, or fewer than two seeds on a side.
    """
    t0s = np.asarray(t0s, dtype=float)
    base_replicates, replicates = np.asarray(base_replicates, float), np.asarray(replicates, float)
    if base_replicates.shape[-1] != len(t0s) or replicates.shape[-1] != len(t0s) or base_replicates.ndim != 2 or \
            replicates.ndim != 2 or np.shape(point) != (len(t0s),) or np.shape(base_point) != (len(t0s),):
        raise ValueError(f"need (K,) curves and (R, K) replicates on the same {len(t0s)} t0s: "
                         f"{np.shape(base_point)}, {np.shape(point)}, {base_replicates.shape}, {replicates.shape}")
    n_base, n_setting = (seeds, seeds) if np.ndim(seeds) == 0 else tuple(seeds)
    if min(n_base, n_setting) < 2:
        raise ValueError(f"an interval of the shift needs at least two seeds on each side, got {seeds}")
    base = inflection_interval(t0s, base_point, base_replicates, int(n_base), level=SHIFT_BAND_LEVEL)
    setting = inflection_interval(t0s, point, replicates, int(n_setting), level=SHIFT_BAND_LEVEL)
    # an end that cannot be bounded (both beyond the grid, or an undefined band) claims nothing: 0 or inf
    lo = _ratio(setting["low"], base["high"], 0.0)
    hi = _ratio(setting["high"], base["low"], math.inf)
    shift = Shift.LATER if lo > 1 else Shift.EARLIER if hi < 1 else Shift.NONE
    a, b = base["estimate"], setting["estimate"]
    return {"base": float(a), "setting": float(b), "factor": _ratio(b, a, 1.0), "low": lo, "high": hi,
            "shift": shift}


class Relation(enum.StrEnum):
    """How the inflection relates to final test accuracy across settings (:func:`inflection_accuracy_relation`)."""

    LATER_IS_BETTER = "a later transition goes with higher accuracy"
    LATER_IS_WORSE = "a later transition goes with lower accuracy"
    NONE = "no relation measurable at this scale"


def inflection_accuracy_relation(inflections: np.ndarray, accuracies: np.ndarray, seeds: int) -> dict:
    """The rank correlation between settings' inflections and their final test accuracies, with its interval (the
    paper's fourth open question: does the transition relate to how well the network generalises?).

    The interval is a t interval (:func:`~twophase_lib.verdicts.t_interval`, n = ``seeds``) from the spread of the
    replicates' correlations, clipped to [−1, 1]; its coverage is measured by simulation at 2 and 5 seeds
    (``tests/test_interval_coverage.py``). A percentile interval of the same replicates covered a strong relation's
    true ρ in none of the trials: the grid's ties pull every replicate's ρ below it.

    Args:
        inflections: (S, R + 1) per setting, the inflection of the mean curve (column 0) and of each bootstrap
            replicate (columns 1..R; inf beyond the grid ranks as the latest).
        accuracies: (S, R + 1) per setting, the final test accuracy (column 0) and its replicates, resampled
            independently of the inflection's.
        seeds: the seeds behind each setting (the fewest of any setting).

    Returns:
        {"rho" (Spearman ρ of the point values), "low", "high" (its 90% interval), "relation"
        (:class:`Relation`: LATER_IS_BETTER when the interval lies above 0, LATER_IS_WORSE below, NONE
        otherwise), "settings"}.

    Raises:
        ValueError: fewer than 4 settings (:data:`~twophase_lib.verdicts.transition.MIN_SETTINGS`), or shapes that
            disagree.
    """
    inf, acc = np.asarray(inflections, dtype=float), np.asarray(accuracies, dtype=float)
    if inf.shape != acc.shape or inf.ndim != 2 or inf.shape[0] < MIN_SETTINGS or inf.shape[1] < 2:
        raise ValueError(f"need two equal (settings ≥ 4, 1 + replicates) arrays: {inf.shape}, {acc.shape}")
    big = np.nanmax(np.where(np.isfinite(inf), inf, np.nan)) if np.isfinite(inf).any() else 0.0
    ranked = np.where(np.isfinite(inf), inf, big + 1.0)  # beyond the grid: later than every inflection inside it
    rho = spearman(ranked[:, 0], acc[:, 0])
    reps = np.array([spearman(ranked[:, r], acc[:, r]) for r in range(1, inf.shape[1])])
    lo, hi = t_interval(rho, reps, seeds)
    lo, hi = (max(lo, -1.0), min(hi, 1.0)) if math.isfinite(lo) and math.isfinite(hi) else (lo, hi)
    relation = Relation.LATER_IS_BETTER if lo > 0 else Relation.LATER_IS_WORSE if hi < 0 else Relation.NONE
    return {"rho": rho, "low": lo, "high": hi, "relation": relation, "settings": int(inf.shape[0])}
