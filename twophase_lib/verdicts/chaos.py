"""The chaos claim's rule (chapter 1): twins compared a fixed window Δ after their split (t1 = t0 + Δ) are far apart
when split early, close when split late, and the switch (the inflection) lies inside the grid.

The reference level is twins that differ only in SGD noise (one initialisation, two data orders, trained Δ
iterations: Frankle et al. 2020's stability analysis), the level same-initialisation twins can reach. Unrelated
networks (two initialisations) are far beyond it for the parameter-space metrics (1 − cos ≈ 0.7 against the
paper's own ≈ 0.06 for ResNet-20 and ≤ 8e-4 for VGG-16), so they would fail the paper's own values. The rule is
fair when the paper's values pass it and null models fail it (``tests/test_rule_fairness.py``): twins that never
diverge fail *chaotic early*, a curve that does not fall fails *transition found*."""

from __future__ import annotations

import enum
import math

import numpy as np

from .intervals import INFLECTION_FRACTION, _margin_check, inflection_interval
from .outcomes import Check, Outcome, Verdict, decide_with_intervals

#: The share of the reference (twins that differ only in SGD noise, split at t0 = 0) twins perturbed at t0 = 0 must
#: reach in *chaotic early*. The paper's early twins end up "very different networks"; a perturbation that takes
#: them at least half as far as a different data order does is chaos at that level.
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
    if math.isnan(x):
        return "?"
    return f"> {last:g}" if not math.isfinite(x) else f"{x:g}"


def window_chaos_verdict(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray, reference: float,
                         reference_replicates: np.ndarray, control_exact: bool, window: int, seeds: int,
                         reference_seeds: int, reference_label: str = "twins on two data orders") -> Verdict:
    """The chaos claim on twins compared a fixed window after their split (t1 = t0 + Δ): every twin has the same
    time to diverge, so a falling curve is a change in the dynamics, not a shorter run (issue 21).

    Args:
        t0s: (K,) increasing perturbation times, the first 0.
        point: (K,) the seed-mean metric (e.g. test disagreement) at t1 = t0 + ``window``.
        replicates: (R, K) bootstrap replicates of ``point`` (:func:`~twophase_lib.verdicts.bootstrap_means`).
        reference: the same metric between twins that differ only in SGD noise (one initialisation, two data
            orders) at t1 = Δ.
        reference_replicates: (R,) its bootstrap replicates (independent resamples).
        control_exact: every ε = 0 control ended bitwise on its parent.
        window: Δ, in iterations (for the explanation).
        seeds, reference_seeds: runs behind the curve and the reference (the t intervals' n; a margin involving
            both takes the smaller).
        reference_label: what the reference pairs are, for the explanation.

    Checks (margins positive when they pass, each with its t interval):

    * **control exact** (no interval): else nothing can be read;
    * **chaotic early**: the value at t0 = 0 is at least half the SGD-noise reference, margin d(0) − ref/2
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
    if len(t0s) < 2 or t0s[0] != 0:
        raise ValueError(f"the t0 grid must start at 0 and hold a later t0, got {t0s.tolist()}")
    d0, last = point[0], point[-1]
    inf = inflection_interval(t0s, point, replicates, seeds)
    both = min(seeds, reference_seeds)
    checks = [
        Check(WindowCheck.CONTROL_EXACT, bool(control_exact), "ε = 0 twins bitwise equal to their parents"
              if control_exact else "an ε = 0 twin drifted from its parent: branching leaks randomness"),
        _margin_check(WindowCheck.CHAOTIC_EARLY, d0 - MIN_EARLY_SHARE * reference,
                      replicates[:, 0] - MIN_EARLY_SHARE * ref_rep,
                      f"Δ = {window}: {d0:.3g} at t0 = 0 against {reference:.3g} for {reference_label}", both),
        _margin_check(WindowCheck.STABLE_LATE, MAX_LATE_SHARE * d0 - last,
                      MAX_LATE_SHARE * replicates[:, 0] - replicates[:, -1],
                      f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, {last / d0:.0%} of t0 = 0 "
                      f"(rule: ≤ {MAX_LATE_SHARE:.0%})"
                      if d0 > 0 else f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, and 0 at t0 = 0", seeds),
        _margin_check(WindowCheck.TRANSITION_FOUND, INFLECTION_FRACTION * d0 - point[1:].min(),
                      INFLECTION_FRACTION * replicates[:, 0] - replicates[:, 1:].min(1),
                      f"Δ = {window}: inflection {_fmt_t(inf['estimate'], inf['last_t0'])} "
                      f"[{_fmt_t(inf['low'], inf['last_t0'])}, {_fmt_t(inf['high'], inf['last_t0'])}] iterations "
                      "(first t0 of the grid where it has halved)", seeds),
    ]

    def rule(passed: dict) -> Outcome:
        if not passed[WindowCheck.CONTROL_EXACT]:
            return Outcome.NOT_REPRODUCED
        if not (passed[WindowCheck.CHAOTIC_EARLY] and passed[WindowCheck.TRANSITION_FOUND]):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(passed.values()) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)
