"""What moves the transition (chapter 6, issue 22): how far a setting's inflection lies from the baseline's, and the
relation across settings between the inflection and the final test accuracy (the paper's open questions)."""

from __future__ import annotations

import enum

import numpy as np

from .intervals import INTERVAL_LEVEL, inflections, interval, spearman

#: Settings :func:`~twophase_lib.verdicts.inflection_accuracy_relation` needs. A rank correlation of three takes
#: few values (±1 or ±0.5 without ties), too few to read a relation from.
MIN_SETTINGS = 4


class Shift(enum.StrEnum):
    """Which way a change of one factor moves the inflection (:func:`inflection_shift`)."""

    LATER = "later"
    EARLIER = "earlier"
    NONE = "no change measurable"


def _log_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log((1 + b) / (1 + a)), elementwise; +inf or -inf where only one side is beyond the grid, 0 where both are."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.zeros(a.shape)
    both = np.isfinite(a) & np.isfinite(b)
    out[both] = np.log1p(b[both]) - np.log1p(a[both])
    out[~np.isfinite(b) & np.isfinite(a)] = np.inf
    out[np.isfinite(b) & ~np.isfinite(a)] = -np.inf
    return out


def inflection_shift(t0s: np.ndarray, base_point: np.ndarray, base_replicates: np.ndarray, point: np.ndarray,
                     replicates: np.ndarray) -> dict:
    """How far a setting's inflection lies from the baseline's (chapter 6, "what moves the transition"), with the
    bootstrap interval of the shift and its direction.

    The shift is the factor (1 + t_setting) / (1 + t_base) between the two inflections (a ratio: the grids are
    spaced by factors); an inflection beyond the grid counts as later than any inside it. Replicates of the two
    settings come from independent bootstraps of independent runs and are paired by index.

    Args:
        t0s: (K,) the slice's t0 grid, shared by both settings.
        base_point, point: (K,) the two mean curves (e.g. test disagreement on t1 = t0 + Δ).
        base_replicates, replicates: (R, K) their bootstrap replicates (:func:`~twophase_lib.verdicts.bootstrap_means`).

    Returns:
        {"base", "setting" (inflections, iterations; inf beyond the grid), "factor", "low", "high" (the ratio and
        its 90% interval), "shift" (:class:`Shift`: LATER when the whole interval lies above 1, EARLIER below,
        NONE otherwise)}.

    Raises:
        ValueError: shapes that disagree.
    """
    t0s = np.asarray(t0s, dtype=float)
    base_replicates, replicates = np.asarray(base_replicates, float), np.asarray(replicates, float)
    if base_replicates.shape != replicates.shape or replicates.shape[-1] != len(t0s) or \
            np.shape(point) != (len(t0s),) or np.shape(base_point) != (len(t0s),):
        raise ValueError(f"need (K,) curves and equal (R, K) replicates on {len(t0s)} t0s: {np.shape(base_point)}, "
                         f"{np.shape(point)}, {base_replicates.shape}, {replicates.shape}")
    a, b = inflections(t0s, base_point)[0], inflections(t0s, point)[0]
    shifts = _log_shift(inflections(t0s, base_replicates), inflections(t0s, replicates))
    lo, hi = np.quantile(shifts, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], method="inverted_cdf")
    shift = Shift.LATER if lo > 0 else Shift.EARLIER if hi < 0 else Shift.NONE
    return {"base": float(a), "setting": float(b), "factor": float(np.exp(_log_shift(a, b))),
            "low": float(np.exp(lo)), "high": float(np.exp(hi)), "shift": shift}


class Relation(enum.StrEnum):
    """How the inflection relates to final test accuracy across settings (:func:`inflection_accuracy_relation`)."""

    LATER_IS_BETTER = "a later transition goes with higher accuracy"
    LATER_IS_WORSE = "a later transition goes with lower accuracy"
    NONE = "no relation measurable at this scale"


def inflection_accuracy_relation(inflections: np.ndarray, accuracies: np.ndarray) -> dict:
    """The rank correlation between settings' inflections and their final test accuracies, with a bootstrap interval
    (the paper's fourth open question: does the transition relate to how well the network generalises?).

    Args:
        inflections: (S, R + 1) per setting, the inflection of the mean curve (column 0) and of each bootstrap
            replicate (columns 1..R; inf beyond the grid ranks as the latest).
        accuracies: (S, R + 1) per setting, the final test accuracy (column 0) and its replicates, resampled
            independently of the inflection's.

    Returns:
        {"rho" (Spearman ρ of the point values), "low", "high" (90% interval of the replicates' ρ), "relation"
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
    lo, hi = interval(reps)
    relation = Relation.LATER_IS_BETTER if lo > 0 else Relation.LATER_IS_WORSE if hi < 0 else Relation.NONE
    return {"rho": rho, "low": lo, "high": hi, "relation": relation, "settings": int(inf.shape[0])}
