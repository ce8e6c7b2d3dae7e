"""The cone claim's rule (chapter 2) on the eNTK's lag curves S(t, t + Δ) against Δ (the paper's Fig. 5b): late in
training the kernel moves over short lags and no further over long ones, inside a cone narrow against the distance
it travelled from initialisation (the paper's Fig. 5a contrast: S(τ, t) from late τ against S(0, t)).

The rule is fair when the paper's own values pass it and null models fail it (``tests/test_rule_fairness.py``): a
random walk of the kernel keeps growing with Δ (*flat at long lags* fails); a kernel that only jitters around where
it started is as far from its initialisation as from its last checkpoint (*narrow* fails); a drift all seeds share
keeps growing too. "Rises at short lags" is reported, not required: the paper's lag floor is "the same for every
dt" (its Fig. 5b), which that check would fail, and the distance between unrelated networks' kernels is shown
beside *narrow*, not judged: it shrinks as width grows (their kernels approach the same limit), and a drift all
seeds share makes it small whatever the cone."""

from __future__ import annotations

import enum
import math

import numpy as np

from .intervals import _margin_check
from .outcomes import Check, Outcome, Verdict, decide_with_intervals

#: Lags the rule needs, a shortest, a middle and a longest. The rise is read between the first two, the flatness
#: between the last two.
MIN_LAGS = 3
#: The factor by which S at the shortest lag must fall from the early t to the late t in *slows down* (margin
#: S_e(Δ0) − 2 S_l(Δ0)). The paper's lag curves fall over training to a floor; a fall by more than half is that
#: fall, not a drift of the level.
MIN_SLOWDOWN = 2
#: The share of a walk's log Δ_mid/Δ0 the late log S(Δ_mid)/S(Δ0) exceeds in the descriptive *rises at short lags*.
#: A kernel that only jitters has share 0 and a walk 1.
MIN_RISE_SHARE = 0.25
#: The share of a walk's log Δmax/Δ_mid the late log S(Δmax)/S(Δ_mid) must stay below in *flat at long lags*. A
#: walk keeps its share of 1, a kernel inside a cone levels off near 0; half splits the two.
MAX_FLAT_SHARE = 0.5
#: The share of S(0, t), the distance the kernel travelled from initialisation to the late t, the late floor
#: S(t, t + Δmax) may reach in *narrow*. A kernel that jitters in place is as far from its last checkpoint as from
#: its start (share 1); the paper's floor is about a tenth of its S(0, t) (≈ 0.02 against ≈ 0.15–0.2 for
#: ResNet-20, ≈ 0.05 for VGG-16); half splits jitter from a kernel that settled where it travelled to.
MAX_FLOOR_SHARE = 0.5


class LagCheck(enum.Enum):
    """The checks of :func:`lag_cone_verdict` (the eNTK's lag curve S(t, t + Δ) against Δ, the paper's Fig. 5b)."""

    SLOWS_DOWN = "slows down"
    FLAT_AT_LONG_LAGS = "flat at long lags"
    NARROW = "narrow"
    RISES_AT_SHORT_LAGS = "rises at short lags"
    NARROWER_THAN_UNRELATED = "narrower than unrelated networks"


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(a, dtype=float) / np.asarray(b, dtype=float))


def lag_cone_verdict(lags: np.ndarray, early: np.ndarray, early_replicates: np.ndarray, late: np.ndarray,
                     late_replicates: np.ndarray, travelled: float, travelled_replicates: np.ndarray, seeds: int,
                     calibration: float | None = None, calibration_replicates: np.ndarray | None = None,
                     calibration_seeds: int | None = None) -> Verdict:
    """The cone claim on lag curves S(t, t + Δ) against Δ (the paper's Fig. 5b), early and late in training, against
    the distance the kernel travelled from initialisation S(0, t) (its Fig. 5a).

    Args:
        lags: (L,) increasing lags Δ in iterations, at least three.
        early, late: (L,) seed-mean lag curves at an early t (before the transition) and a late t (after it).
        early_replicates, late_replicates: (R, L) their bootstrap replicates (same resamples).
        travelled: S(0, t) at the late t, seed mean: how far the kernel moved from initialisation.
        travelled_replicates: (R,) its replicates (the same resamples as ``late_replicates``).
        seeds: runs behind the curves (the t intervals' n).
        calibration: S between the eNTKs of independently initialised networks at the late t (None: not
            measured; the descriptive check is then not applicable).
        calibration_replicates: (R,) its replicates; calibration_seeds: its pairs.

    Checks (Δ_mid: the lag nearest the geometric middle of the grid; margins with t intervals):

    * **slows down**: S at the shortest lag falls from early to late by more than half, margin S_e(Δ0) − 2 S_l(Δ0)
      (:data:`~twophase_lib.verdicts.cone.MIN_SLOWDOWN`);
    * **flat at long lags**: late, log S(Δmax)/S(Δ_mid) stays below half of a walk's log Δmax/Δ_mid
      (:data:`~twophase_lib.verdicts.cone.MAX_FLAT_SHARE`);
    * **narrow**: the late floor S(t, t + Δmax) is at most half of S(0, t)
      (:data:`~twophase_lib.verdicts.cone.MAX_FLOOR_SHARE`);
    * descriptive, not deciding: **rises at short lags** (late log S(Δ_mid)/S(Δ0) above a quarter of a walk's,
      :data:`~twophase_lib.verdicts.cone.MIN_RISE_SHARE`) and **narrower than unrelated networks** (the floor
      under half the calibration).

    Outcome: not reproduced when *flat* or *narrow* fails (a walk, a drift, or a kernel jittering where it
    started); reproduced when the three deciding checks pass; partly when only *slows down* fails; inconclusive
    when undecided checks could move the outcome.

    Raises:
        ValueError: fewer than three lags, or shapes disagree.
    """
    lags = np.asarray(lags, dtype=float)
    early, late = np.asarray(early, dtype=float), np.asarray(late, dtype=float)
    er, lr = np.asarray(early_replicates, dtype=float), np.asarray(late_replicates, dtype=float)
    tr = np.asarray(travelled_replicates, dtype=float)
    if len(lags) < MIN_LAGS or early.shape != lags.shape or late.shape != lags.shape or er.shape[1:] != lags.shape \
            or lr.shape != er.shape or tr.shape != er.shape[:1]:
        raise ValueError(f"need at least three lags and matching shapes: lags {lags.shape}, early {early.shape}, "
                         f"late {late.shape}, replicates {er.shape} / {lr.shape}, travelled {tr.shape}")
    mid = int(np.argmin(np.abs(np.log(lags) - np.log(lags).mean())))
    mid = min(max(mid, 1), len(lags) - 2)
    rise_need = MIN_RISE_SHARE * math.log(lags[mid] / lags[0])
    flat_allow = MAX_FLAT_SHARE * math.log(lags[-1] / lags[mid])
    checks = [
        _margin_check(LagCheck.SLOWS_DOWN, early[0] - MIN_SLOWDOWN * late[0], er[:, 0] - MIN_SLOWDOWN * lr[:, 0],
                      f"S(t, t + {lags[0]:g}) {early[0]:.3g} early, {late[0]:.3g} late", seeds),
        _margin_check(LagCheck.FLAT_AT_LONG_LAGS, flat_allow - float(_log_ratio(late[-1], late[mid])),
                      flat_allow - _log_ratio(lr[:, -1], lr[:, mid]),
                      f"late S {late[mid]:.3g} at Δ = {lags[mid]:g} → {late[-1]:.3g} at Δ = {lags[-1]:g} "
                      f"(a walk: ×{lags[-1] / lags[mid]:.3g})", seeds),
        _margin_check(LagCheck.NARROW, MAX_FLOOR_SHARE * travelled - late[-1], MAX_FLOOR_SHARE * tr - lr[:, -1],
                      f"late floor {late[-1]:.3g} against S(0, t) = {travelled:.3g} travelled from "
                      f"initialisation ({late[-1] / travelled:.2f} of it; rule: ≤ {MAX_FLOOR_SHARE:g})"
                      if travelled > 0 else f"late floor {late[-1]:.3g}, and the kernel never left its start", seeds),
        _margin_check(LagCheck.RISES_AT_SHORT_LAGS, float(_log_ratio(late[mid], late[0])) - rise_need,
                      _log_ratio(lr[:, mid], lr[:, 0]) - rise_need,
                      f"late S {late[0]:.3g} at Δ = {lags[0]:g} → {late[mid]:.3g} at Δ = {lags[mid]:g} "
                      f"(a walk: ×{lags[mid] / lags[0]:.3g})", seeds, deciding=False),
    ]
    if calibration is None:
        checks.append(Check(LagCheck.NARROWER_THAN_UNRELATED, False, "no independently initialised networks measured",
                            applicable=False, deciding=False))
    else:
        cr = np.asarray(calibration_replicates, dtype=float)
        checks.append(_margin_check(
            LagCheck.NARROWER_THAN_UNRELATED, MAX_FLOOR_SHARE * calibration - late[-1],
            MAX_FLOOR_SHARE * cr - lr[:, -1], f"late floor {late[-1]:.3g} against {calibration:.3g} between "
            "independently initialised networks", min(seeds, calibration_seeds or seeds), deciding=False))

    def rule(passed: dict) -> Outcome:
        if not (passed[LagCheck.FLAT_AT_LONG_LAGS] and passed[LagCheck.NARROW]):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if passed[LagCheck.SLOWS_DOWN] else Outcome.PARTLY

    return decide_with_intervals(checks, rule)
