"""The cone claim's rule (chapter 2) on the eNTK's lag curves S(t, t + Δ) against Δ (the paper's Fig. 5b): late in
training the kernel moves over short lags and no further over long ones, inside a cone narrower than the distance
between unrelated networks' kernels.

A random walk of the kernel keeps growing (S ∝ Δ: log S rises by the walk's log Δ ratio); pure jitter is flat from the
shortest lag. The rule's shares below are read against the walk's rise."""

from __future__ import annotations

import enum
import math

import numpy as np

from .intervals import _margin_check
from .outcomes import Outcome, Verdict, decide_with_intervals

#: Lags the rule needs, a shortest, a middle and a longest. The rise is read between the first two, the flatness
#: between the last two.
MIN_LAGS = 3
#: The factor by which S at the shortest lag must fall from the early t to the late t in *slows down* (margin
#: S_e(Δ0) − 2 S_l(Δ0)). The paper's lag curves fall over training to a floor; a fall by more than half is that
#: fall, not a drift of the level.
MIN_SLOWDOWN = 2
#: The share of a walk's log Δ_mid/Δ0 the late log S(Δ_mid)/S(Δ0) must exceed in *rises at short lags*. A kernel
#: that only jitters has share 0 and a walk 1; a quarter says the kernel does move, far short of a walk.
MIN_RISE_SHARE = 0.25
#: The share of a walk's log Δmax/Δ_mid the late log S(Δmax)/S(Δ_mid) must stay below in *flat at long lags*. A
#: walk keeps its share of 1, a kernel inside a cone levels off near 0; half splits the two.
MAX_FLAT_SHARE = 0.5
#: The share of the calibration (S between the kernels of independently initialised networks) the late floor
#: S(Δmax) may reach in *narrow*. A cone as wide as unrelated networks are apart is not narrow.
MAX_FLOOR_SHARE = 0.5


class LagCheck(enum.Enum):
    """The checks of :func:`lag_cone_verdict` (the eNTK's lag curve S(t, t + Δ) against Δ, the paper's Fig. 5b)."""

    SLOWS_DOWN = "slows down"
    RISES_AT_SHORT_LAGS = "rises at short lags"
    FLAT_AT_LONG_LAGS = "flat at long lags"
    NARROW = "narrow"


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(a, dtype=float) / np.asarray(b, dtype=float))


def lag_cone_verdict(lags: np.ndarray, early: np.ndarray, early_replicates: np.ndarray, late: np.ndarray,
                     late_replicates: np.ndarray, calibration: float, calibration_replicates: np.ndarray) -> Verdict:
    """The cone claim on lag curves S(t, t + Δ) against Δ (the paper's Fig. 5b), early and late in training.

    A kernel moving inside a narrow cone moves more over a longer lag at first, then no further: its lag curve
    rises at short lags and is flat at long ones, at a level well below the distance between unrelated
    networks' kernels. A random walk keeps growing (S ∝ Δ); pure jitter is flat from the shortest lag (nothing
    moves *inside* anything at the resolution of the grid).

    Args:
        lags: (L,) increasing lags Δ in iterations, at least three.
        early, late: (L,) seed-mean lag curves at an early t (before the transition) and a late t (after it).
        early_replicates, late_replicates: (R, L) their bootstrap replicates (same resamples).
        calibration: S between the eNTKs of independently initialised networks at the late t.
        calibration_replicates: (R,) its replicates.

    Checks (Δ_mid: the lag nearest the geometric middle of the grid; margins with bootstrap intervals):

    * **slows down**: S at the shortest lag falls from early to late by more than half, margin S_e(Δ0) − 2 S_l(Δ0)
      (:data:`~twophase_lib.verdicts.cone.MIN_SLOWDOWN`);
    * **rises at short lags**: late, log S(Δ_mid)/S(Δ0) exceeds a quarter of a walk's log Δ_mid/Δ0
      (:data:`~twophase_lib.verdicts.cone.MIN_RISE_SHARE`);
    * **flat at long lags**: late, log S(Δmax)/S(Δ_mid) stays below half of a walk's log Δmax/Δ_mid
      (:data:`~twophase_lib.verdicts.cone.MAX_FLAT_SHARE`);
    * **narrow**: the late floor S(Δmax) is at most half the calibration
      (:data:`~twophase_lib.verdicts.cone.MAX_FLOOR_SHARE`).

    Outcome: not reproduced when rises, flat or narrow fails (jitter, a walk, or a cone as wide as unrelated
    networks); reproduced when all pass; partly when only *slows down* fails; inconclusive when undecided checks
    could move the outcome.

    Raises:
        ValueError: fewer than three lags, or shapes disagree.
    """
    lags = np.asarray(lags, dtype=float)
    early, late = np.asarray(early, dtype=float), np.asarray(late, dtype=float)
    er, lr = np.asarray(early_replicates, dtype=float), np.asarray(late_replicates, dtype=float)
    cr = np.asarray(calibration_replicates, dtype=float)
    if len(lags) < MIN_LAGS or early.shape != lags.shape or late.shape != lags.shape or er.shape[1:] != lags.shape \
            or lr.shape != er.shape or cr.shape != er.shape[:1]:
        raise ValueError(f"need at least three lags and matching shapes: lags {lags.shape}, early {early.shape}, "
                         f"late {late.shape}, replicates {er.shape} / {lr.shape}, calibration {cr.shape}")
    mid = int(np.argmin(np.abs(np.log(lags) - np.log(lags).mean())))
    mid = min(max(mid, 1), len(lags) - 2)
    rise_need = MIN_RISE_SHARE * math.log(lags[mid] / lags[0])
    flat_allow = MAX_FLAT_SHARE * math.log(lags[-1] / lags[mid])
    checks = [
        _margin_check(LagCheck.SLOWS_DOWN, early[0] - MIN_SLOWDOWN * late[0], er[:, 0] - MIN_SLOWDOWN * lr[:, 0],
                      f"S(t, t + {lags[0]:g}) {early[0]:.3g} early, {late[0]:.3g} late"),
        _margin_check(LagCheck.RISES_AT_SHORT_LAGS, float(_log_ratio(late[mid], late[0])) - rise_need,
                      _log_ratio(lr[:, mid], lr[:, 0]) - rise_need,
                      f"late S {late[0]:.3g} at Δ = {lags[0]:g} → {late[mid]:.3g} at Δ = {lags[mid]:g} "
                      f"(a walk: ×{lags[mid] / lags[0]:.3g})"),
        _margin_check(LagCheck.FLAT_AT_LONG_LAGS, flat_allow - float(_log_ratio(late[-1], late[mid])),
                      flat_allow - _log_ratio(lr[:, -1], lr[:, mid]),
                      f"late S {late[mid]:.3g} at Δ = {lags[mid]:g} → {late[-1]:.3g} at Δ = {lags[-1]:g} "
                      f"(a walk: ×{lags[-1] / lags[mid]:.3g})"),
        _margin_check(LagCheck.NARROW, MAX_FLOOR_SHARE * calibration - late[-1], MAX_FLOOR_SHARE * cr - lr[:, -1],
                      f"late floor {late[-1]:.3g} against {calibration:.3g} between independently initialised "
                      "networks"),
    ]

    def rule(passed: dict) -> Outcome:
        if not all(passed[c] for c in (LagCheck.RISES_AT_SHORT_LAGS, LagCheck.FLAT_AT_LONG_LAGS, LagCheck.NARROW)):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if passed[LagCheck.SLOWS_DOWN] else Outcome.PARTLY

    return decide_with_intervals(checks, rule)
