"""The chaos claim's rule (chapter 1): twins compared a fixed window Δ after their split (t1 = t0 + Δ) are far apart
when split early, close when split late, and the switch (the inflection) lies inside the grid."""

from __future__ import annotations

import enum
import math

import numpy as np

from .intervals import INFLECTION_FRACTION, _margin_check, inflection_interval
from .outcomes import Check, Outcome, Verdict, decide_with_intervals

#: The share of the reference (two independently initialised networks) twins split at t0 = 0 must reach in
#: *chaotic early*. The paper's early twins end up "very different networks"; unrelated networks trained on the same
#: batches are as different as two networks get, and half their level counts as very different.
MIN_EARLY_SHARE = 0.5
#: The share of their t0 = 0 value twins split at the last t0 may reach in *stable late*. Halving marks the
#: transition (:data:`~twophase_lib.verdicts.intervals.INFLECTION_FRACTION`); staying together late asks for a
#: further halving below it.
MAX_LATE_SHARE = 0.25


class WindowCheck(enum.Enum):
    """The checks of :func:`window_chaos_verdict` (twins compared a fixed window Δ after their split)."""

    CONTROL_EXACT = "control exact"
    CHAOTIC_EARLY = "chaotic early"
    STABLE_LATE = "stable late"
    TRANSITION_FOUND = "transition found"


def _fmt_t(x: float, last: float) -> str:
    return f"> {last:g}" if not math.isfinite(x) else f"{x:.3g}"


def window_chaos_verdict(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray, reference: float,
                         reference_replicates: np.ndarray, control_exact: bool, window: int) -> Verdict:
    """The chaos claim on twins compared a fixed window after their split (t1 = t0 + Δ): every twin has the same
    time to diverge, so a falling curve is a change in the dynamics, not a shorter run (issue 21).

    Args:
        t0s: (K,) increasing perturbation times, the first 0.
        point: (K,) the seed-mean metric (e.g. test disagreement) at t1 = t0 + ``window``.
        replicates: (R, K) bootstrap replicates of ``point`` (:func:`~twophase_lib.verdicts.bootstrap_means`).
        reference: the same metric between two independently initialised networks at the same time.
        reference_replicates: (R,) its bootstrap replicates, paired with ``replicates`` (same resamples).
        control_exact: every ε = 0 control ended bitwise on its parent.
        window: Δ, in iterations (for the explanation).

    Checks (margins positive when they pass, each with its bootstrap interval):

    * **control exact** (no interval): else nothing can be read;
    * **chaotic early**: the value at t0 = 0 is at least half the reference, margin d(0) − ref/2
      (:data:`~twophase_lib.verdicts.chaos.MIN_EARLY_SHARE`);
    * **stable late**: at the last t0 it is at most a quarter of its t0 = 0 value, margin d(0)/4 − d(last)
      (:data:`~twophase_lib.verdicts.chaos.MAX_LATE_SHARE`);
    * **transition found**: the curve halves somewhere in the grid, margin d(0)/2 − min over t0 > 0
      (:data:`~twophase_lib.verdicts.intervals.INFLECTION_FRACTION`).

    Outcome: not reproduced when the control drifted or *chaotic early* or *transition found* fails; reproduced
    when all pass; partly otherwise; **inconclusive** when undecided checks (interval containing 0) could move
    the outcome (:func:`~twophase_lib.verdicts.decide_with_intervals`).

    Raises:
        ValueError: shapes disagree, or the grid does not start at t0 = 0.
    """
    t0s, point = np.asarray(t0s), np.asarray(point, dtype=float)
    replicates, ref_rep = np.asarray(replicates, dtype=float), np.asarray(reference_replicates, dtype=float)
    if point.shape != t0s.shape or replicates.shape[1:] != t0s.shape or ref_rep.shape != replicates.shape[:1]:
        raise ValueError(f"shapes disagree: t0s {t0s.shape}, point {point.shape}, replicates {replicates.shape}, "
                         f"reference replicates {ref_rep.shape}")
    if t0s[0] != 0:
        raise ValueError(f"the t0 grid must start at 0, got {t0s[0]}")
    d0, last = point[0], point[-1]
    inf = inflection_interval(t0s, point, replicates)
    checks = [
        Check(WindowCheck.CONTROL_EXACT, bool(control_exact), "ε = 0 twins bitwise equal to their parents"
              if control_exact else "an ε = 0 twin drifted from its parent: branching leaks randomness"),
        _margin_check(WindowCheck.CHAOTIC_EARLY, d0 - MIN_EARLY_SHARE * reference,
                      replicates[:, 0] - MIN_EARLY_SHARE * ref_rep,
                      f"Δ = {window}: {d0:.3f} at t0 = 0 against {reference:.3f} for independent initialisations"),
        _margin_check(WindowCheck.STABLE_LATE, MAX_LATE_SHARE * d0 - last,
                      MAX_LATE_SHARE * replicates[:, 0] - replicates[:, -1],
                      f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, {last / d0:.0%} of t0 = 0 "
                      f"(rule: ≤ {MAX_LATE_SHARE:.0%})"
                      if d0 > 0 else f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, and 0 at t0 = 0"),
        _margin_check(WindowCheck.TRANSITION_FOUND, INFLECTION_FRACTION * d0 - point[1:].min(),
                      INFLECTION_FRACTION * replicates[:, 0] - replicates[:, 1:].min(1),
                      f"Δ = {window}: inflection {_fmt_t(inf['estimate'], inf['last_t0'])} "
                      f"[{_fmt_t(inf['low'], inf['last_t0'])}, {_fmt_t(inf['high'], inf['last_t0'])}] iterations"),
    ]

    def rule(passed: dict) -> Outcome:
        if not passed[WindowCheck.CONTROL_EXACT]:
            return Outcome.NOT_REPRODUCED
        if not (passed[WindowCheck.CHAOTIC_EARLY] and passed[WindowCheck.TRANSITION_FOUND]):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(passed.values()) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)
