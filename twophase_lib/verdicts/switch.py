"""The value-of-the-cone-phase claim's rule (chapter 3): the model linearized at a later switch time t reaches a
higher final test accuracy, fully linearized training (t = 0) is worst, and the gain goes on through the cone
phase, after the inflection."""

from __future__ import annotations

import enum
import math

import numpy as np

from .intervals import RESAMPLES, _margin_check, bootstrap_means, spearman
from .outcomes import Check, Outcome, Verdict, decide_with_intervals

#: Switch times the rule needs, t = 0, standard training at T and at least one between. With two, every rank
#: correlation is ±1 and *grows with t* would test nothing.
MIN_SWITCHES = 3
#: The Spearman ρ between the switch times (T included) and accuracy must exceed this in *grows with t*, a rise
#: that is mostly monotone, not perfectly so. With three switch times ρ takes few values (±1 or ±0.5 without
#: ties), so the check is coarse.
MIN_RANK_CORRELATION = 0.7
#: The test accuracy gained from the first switch at or after the inflection to the last one before T must exceed
#: this (a point) in *the cone phase matters*, the smallest gain the chapter counts as the nonlinear dynamics inside
#: the cone still helping (the paper's gains from later switch times are tens of points).
MIN_CONE_PHASE_GAIN = 0.01
#: Switch times before T at or after the inflection *the cone phase matters* compares (the first and the last);
#: with fewer it is not applicable.
MIN_SWITCHES_IN_CONE_PHASE = 2


class SwitchCheck(enum.Enum):
    """The checks of :func:`paired_switch_verdict`; a member's value is its display text."""

    ZERO_IS_WORST = "t = 0 is worst"
    GROWS_WITH_T = "grows with t"
    CONE_PHASE_MATTERS = "the cone phase matters"


def paired_switch_verdict(switches: np.ndarray, correct: np.ndarray, inflection: float,
                          resamples: int = RESAMPLES) -> Verdict:
    """The value of the cone phase on switch times inside the constant-lr window, with bootstrap intervals paired by
    seed and test image (every switch time is scored on the same images of the same seeds' runs).

    Args:
        switches: (K,) increasing switch times t, the last T (standard training all the way).
        correct: (seeds, n_test, K) whether θ_std→lin(T; t) classifies each test image correctly (0/1), or
            (seeds, K) test accuracies (then only seeds are resampled).
        inflection: chapter 1's inflection in iterations (nan: none found, so no cone phase in the grid).
        resamples: bootstrap replicates.

    Checks (margins positive when they pass):

    * **t = 0 is worst**: margin min over t > 0 of acc(t) − acc(0);
    * **grows with t**: Spearman rank correlation of t (T included) and accuracy above 0.7, margin ρ − 0.7
      (:data:`~twophase_lib.verdicts.switch.MIN_RANK_CORRELATION`);
    * **the cone phase matters**: from the first switch at or after the inflection to the last one before T,
      accuracy rises by more than a point, margin acc(late) − acc(first after) − 0.01
      (:data:`~twophase_lib.verdicts.switch.MIN_CONE_PHASE_GAIN`);
      not applicable when fewer than two switch times before T lie after the inflection.

    Outcome: not reproduced when accuracy neither grows with t nor rises in the cone phase; reproduced when all
    pass; partly otherwise; inconclusive when undecided checks could move it.

    Raises:
        ValueError: fewer than three switch times, or shapes that disagree.
    """
    switches = np.asarray(switches, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(switches) < MIN_SWITCHES or correct.shape[-1] != len(switches) or correct.ndim not in (2, 3):
        raise ValueError(f"need three or more switch times and (seeds[, n_test], K) scores: switches "
                         f"{switches.shape}, scores {correct.shape}")
    mean = correct.mean(tuple(range(correct.ndim - 1)))
    reps = bootstrap_means(correct, resamples)
    later = np.arange(1, len(switches))
    rho_reps = np.array([spearman(switches, r) for r in reps])
    rho = spearman(switches, mean)
    checks = [
        _margin_check(SwitchCheck.ZERO_IS_WORST, float(mean[later].min() - mean[0]),
                      reps[:, later].min(1) - reps[:, 0],
                      f"{mean[0]:.3f} at t = 0, lowest later {mean[later].min():.3f}"),
        _margin_check(SwitchCheck.GROWS_WITH_T, rho - MIN_RANK_CORRELATION, rho_reps - MIN_RANK_CORRELATION,
                      f"Spearman ρ = {rho:.2f} (rule: > {MIN_RANK_CORRELATION:g})"),
    ]
    inside = [i for i in range(len(switches) - 1) if math.isfinite(inflection) and switches[i] >= inflection]
    if len(inside) >= MIN_SWITCHES_IN_CONE_PHASE:
        a, b = inside[0], inside[-1]
        checks.append(_margin_check(
            SwitchCheck.CONE_PHASE_MATTERS, float(mean[b] - mean[a] - MIN_CONE_PHASE_GAIN),
            reps[:, b] - reps[:, a] - MIN_CONE_PHASE_GAIN,
            f"{mean[a]:.3f} at t = {switches[a]:g} → {mean[b]:.3f} at t = {switches[b]:g} "
            f"(rule: > {MIN_CONE_PHASE_GAIN:+g})"))
    else:
        where = f"the inflection {inflection:.3g}" if math.isfinite(inflection) else "no inflection"
        checks.append(Check(SwitchCheck.CONE_PHASE_MATTERS, False,
                            f"fewer than two switch times before T lie after {where}", applicable=False))

    def rule(passed: dict) -> Outcome:
        if not passed[SwitchCheck.GROWS_WITH_T] and not passed[SwitchCheck.CONE_PHASE_MATTERS]:
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(passed.values()) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)
