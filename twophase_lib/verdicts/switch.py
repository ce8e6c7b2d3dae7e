"""The value-of-the-cone-phase claim's rule (chapter 3): the model linearized at a later switch time t reaches a
higher final test accuracy, fully linearized training (t = 0) is worst, and the gain goes on through the cone
phase, after the inflection — as a gain of the linear phase over the parent's own accuracy at t, and beyond what
freezing batch norm at t explains.

The rule is fair when the paper's own values pass it and null models fail it (``tests/test_rule_fairness.py``): a
switch curve equal to the parent's accuracy at t (a linear phase that adds nothing, while the parent's accuracy
rises with t anyway) fails *the linear phase learns*."""

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
#: How far below t = 0 a later switch time's accuracy may lie in *t = 0 is worst*, a point (the resolution the
#: other checks count in). The paper's own curve is flat for t ≤ 200 ("≈ 0.44 for t ≤ 200"), which a strict
#: "worst" would leave to the noise.
WORST_TOLERANCE = 0.01
#: Switch times before T at or after the inflection the cone-phase checks need (the first and the last are
#: compared, the middle ones keep one lucky pair from deciding); with fewer they are not applicable.
MIN_SWITCHES_IN_CONE_PHASE = 3
#: The test accuracy the linearized phase must add, on average over the cone-phase switch times, to the parent's own
#: accuracy at t, acc(θ_t), in *the linear phase learns*. Without it a switch curve that only repeats the parent's
#: accuracy (which rises with t anyway) would pass every other check.
MIN_LINEAR_GAIN = 0.01
#: A control run whose final test accuracy is within this of chance (the best constant prediction's accuracy on the
#: test set) has collapsed: it predicts (nearly) one class, so a rise measured against it is a rise against a
#: broken network, not against batch norm frozen at t. Such a run enters *beyond frozen batch norm* as a diverged one
#: does: not at all (VGG-16's control at cpu ended at 0.090 for some seeds, at chance on its 1,017 test images).
COLLAPSE_MARGIN = 0.02


class SwitchCheck(enum.Enum):
    """The checks of :func:`paired_switch_verdict`; a member's value is its display text."""

    ZERO_IS_WORST = "t = 0 is worst"
    GROWS_WITH_T = "grows with t"
    LINEAR_PHASE_LEARNS = "the linear phase learns"
    CONE_PHASE_MATTERS = "the cone phase matters"
    BEYOND_FROZEN_BATCH_NORM = "beyond frozen batch norm"


class BudgetCheck(enum.Enum):
    """The descriptive check of :func:`fixed_budget_check`; a member's value is its display text."""

    LINEARIZING_COSTS = "linearizing costs accuracy (fixed budget)"


def paired_switch_verdict(switches: np.ndarray, correct: np.ndarray, inflection: float, parent_correct: np.ndarray,
                          frozen_correct: np.ndarray | None = None, resamples: int = RESAMPLES,
                          chance: float | None = None) -> Verdict:
    """The value of the cone phase on switch times inside the constant-lr window, with t intervals paired by seed and
    test image (every arm and switch time is scored on the same images of the same seeds' runs).

    Args:
        switches: (K,) increasing switch times t, the last T (standard training all the way).
        correct: (seeds, n_test, K) whether θ_std→lin(T; t) classifies each test image correctly (0/1), or
            (seeds, K) test accuracies (then only seeds are resampled).
        inflection: chapter 1's inflection in iterations (nan or inf: none found, so no cone phase in the grid).
        parent_correct: the same for the parent at the switch time, θ_t itself (its accuracy acc(θ_t): what a
            linear phase that learned nothing would end at); same shape as ``correct``.
        frozen_correct: the same for the control trained on from t with batch norm frozen at t (None: not run,
            the network has no batch norm; NaN where a run diverged); same shape.
        resamples: bootstrap replicates.
        chance: the test set's chance accuracy (its largest class's share); a control run within
            :data:`~twophase_lib.verdicts.switch.COLLAPSE_MARGIN` of it has collapsed and is left out as a diverged
            one is (None: no run is taken for collapsed).

    Checks (margins positive when they pass; t intervals over seeds):

    * **t = 0 is worst**: no later switch time falls more than a point below it, margin min over t > 0 of
      acc(t) − acc(0) + 0.01 (:data:`~twophase_lib.verdicts.switch.WORST_TOLERANCE`);
    * **grows with t**: Spearman rank correlation of t (T included) and accuracy above 0.7, margin ρ − 0.7
      (:data:`~twophase_lib.verdicts.switch.MIN_RANK_CORRELATION`);
    * on the switch times before T at or after the inflection (at least three,
      :data:`~twophase_lib.verdicts.switch.MIN_SWITCHES_IN_CONE_PHASE`; else not applicable):
      **the linear phase learns**: mean acc(t) − acc(θ_t) above a point
      (:data:`~twophase_lib.verdicts.switch.MIN_LINEAR_GAIN`);
      **the cone phase matters**: from the first to the last, accuracy rises by more than a point, margin
      acc(last) − acc(first) − 0.01 (:data:`~twophase_lib.verdicts.switch.MIN_CONE_PHASE_GAIN`);
      **beyond frozen batch norm**: that rise exceeds the frozen-batch-norm control's own rise over the same
      switch times by more than a point (a rise the control shares is batch norm's statistics frozen later, not
      the cone phase); not applicable without the control or where it diverged or collapsed to chance.

    Outcome: not reproduced when the linear phase learns nothing (the switch curve is the parent's accuracy), or
    when accuracy neither grows with t nor rises in the cone phase; reproduced when every applicable check passes
    and the cone phase was tested; partly otherwise; inconclusive when undecided checks could move it.

    Raises:
        ValueError: fewer than three switch times, or shapes that disagree.
    """
    switches = np.asarray(switches, dtype=float)
    correct, parent = np.asarray(correct, dtype=float), np.asarray(parent_correct, dtype=float)
    frozen = None if frozen_correct is None else np.asarray(frozen_correct, dtype=float)
    if len(switches) < MIN_SWITCHES or correct.shape[-1] != len(switches) or correct.ndim not in (2, 3) \
            or parent.shape != correct.shape or (frozen is not None and frozen.shape != correct.shape):
        raise ValueError(f"need three or more switch times and equal (seeds[, n_test], K) scores: switches "
                         f"{switches.shape}, scores {correct.shape}, parent {parent.shape}, frozen "
                         f"{None if frozen is None else frozen.shape}")
    k = len(switches)
    n = correct.shape[0]
    collapsed = np.zeros((n, k), dtype=bool)
    if frozen is not None and chance is not None:
        with np.errstate(invalid="ignore"):
            acc = frozen.mean(1) if frozen.ndim == 3 else frozen
            collapsed = acc <= chance + COLLAPSE_MARGIN  # NaN (diverged) compares False: kept as diverged
        frozen = frozen.copy()
        frozen[collapsed[:, None, :].repeat(frozen.shape[1], 1) if frozen.ndim == 3 else collapsed] = np.nan
    arms = [correct, parent] + ([frozen] if frozen is not None else [])
    with np.errstate(invalid="ignore"):
        joint = np.concatenate(arms, -1)
        mean_all = joint.mean(tuple(range(joint.ndim - 1)))
        reps_all = bootstrap_means(joint, resamples)
    mean, reps = mean_all[:k], reps_all[:, :k]
    p_mean, p_reps = mean_all[k:2 * k], reps_all[:, k:2 * k]
    later = np.arange(1, k)
    rho_reps = np.array([spearman(switches, r) for r in reps])
    rho = spearman(switches, mean)
    checks = [
        _margin_check(SwitchCheck.ZERO_IS_WORST, float(mean[later].min() - mean[0] + WORST_TOLERANCE),
                      reps[:, later].min(1) - reps[:, 0] + WORST_TOLERANCE,
                      f"{mean[0]:.3f} at t = 0, lowest later {mean[later].min():.3f} (rule: ≥ t = 0's − "
                      f"{WORST_TOLERANCE:g})", n),
        _margin_check(SwitchCheck.GROWS_WITH_T, rho - MIN_RANK_CORRELATION, rho_reps - MIN_RANK_CORRELATION,
                      f"Spearman ρ = {rho:.2f} (rule: > {MIN_RANK_CORRELATION:g})", n,
                      bounds=(-1 - MIN_RANK_CORRELATION, 1 - MIN_RANK_CORRELATION)),
    ]
    inside = [i for i in range(k - 1) if math.isfinite(inflection) and switches[i] >= inflection]
    testable = len(inside) >= MIN_SWITCHES_IN_CONE_PHASE
    if testable:
        a, b = inside[0], inside[-1]
        gain, gain_reps = float((mean - p_mean)[inside].mean()), (reps - p_reps)[:, inside].mean(1)
        rise, rise_reps = float(mean[b] - mean[a]), reps[:, b] - reps[:, a]
        checks.append(_margin_check(
            SwitchCheck.LINEAR_PHASE_LEARNS, gain - MIN_LINEAR_GAIN, gain_reps - MIN_LINEAR_GAIN,
            f"linearized {', '.join(f'{mean[i]:.3f}' for i in inside)} against the parent's own "
            f"{', '.join(f'{p_mean[i]:.3f}' for i in inside)} at t = {', '.join(f'{switches[i]:g}' for i in inside)} "
            f"(mean gain {gain:+.3f}; rule: > {MIN_LINEAR_GAIN:+g})", n))
        checks.append(_margin_check(
            SwitchCheck.CONE_PHASE_MATTERS, rise - MIN_CONE_PHASE_GAIN, rise_reps - MIN_CONE_PHASE_GAIN,
            f"{mean[a]:.3f} at t = {switches[a]:g} → {mean[b]:.3f} at t = {switches[b]:g} "
            f"(rule: > {MIN_CONE_PHASE_GAIN:+g})", n))
        if frozen is None:
            checks.append(Check(SwitchCheck.BEYOND_FROZEN_BATCH_NORM, False, "no batch-norm-frozen control",
                                applicable=False))
        else:
            f_mean, f_reps = mean_all[2 * k:], reps_all[:, 2 * k:]
            f_rise = float(f_mean[b] - f_mean[a])
            if not math.isfinite(f_rise):
                what = []
                for i in (a, b):
                    if math.isfinite(f_mean[i]):
                        continue
                    how = (f"collapsed to chance (accuracy ≤ {chance:.3f} + {COLLAPSE_MARGIN:g}, in "
                           f"{int(collapsed[:, i].sum())} of {n} seeds)" if collapsed[:, i].any()
                           else "diverged (in at least one seed)")
                    what.append(f"{how} at t = {switches[i]:g}")
                checks.append(Check(SwitchCheck.BEYOND_FROZEN_BATCH_NORM, False, "the batch-norm-frozen control "
                                    + " and ".join(what), applicable=False))
            else:
                checks.append(_margin_check(
                    SwitchCheck.BEYOND_FROZEN_BATCH_NORM, rise - f_rise - MIN_CONE_PHASE_GAIN,
                    rise_reps - (f_reps[:, b] - f_reps[:, a]) - MIN_CONE_PHASE_GAIN,
                    f"linearized rises {rise:+.3f}, batch norm frozen {f_mean[a]:.3f} → {f_mean[b]:.3f} "
                    f"({f_rise:+.3f}) from t = {switches[a]:g} to {switches[b]:g}", n))
    else:
        why = (f"fewer than {MIN_SWITCHES_IN_CONE_PHASE} switch times before T lie at or after the inflection "
               f"{inflection:g}" if math.isfinite(inflection) else
               "no inflection places the cone phase (the twins never halved their difference, or none was given)")
        for cid in (SwitchCheck.LINEAR_PHASE_LEARNS, SwitchCheck.CONE_PHASE_MATTERS,
                    SwitchCheck.BEYOND_FROZEN_BATCH_NORM):
            checks.append(Check(cid, False, why, applicable=False))
    applicable = {c.id: c.applicable for c in checks}

    def rule(passed: dict) -> Outcome:
        if not testable:
            return Outcome.PARTLY if passed[SwitchCheck.GROWS_WITH_T] else Outcome.NOT_REPRODUCED
        if not passed[SwitchCheck.LINEAR_PHASE_LEARNS]:
            return Outcome.NOT_REPRODUCED
        if not passed[SwitchCheck.GROWS_WITH_T] and not passed[SwitchCheck.CONE_PHASE_MATTERS]:
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(v for c, v in passed.items() if applicable[c]) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)


def fixed_budget_check(switches: np.ndarray, linearized: np.ndarray, standard: np.ndarray, inflection: float,
                       resamples: int = RESAMPLES) -> Check:
    """What linearizing costs on a fixed budget: at each switch time t, the model linearized at t (batch norm
    frozen, as the linear model's is) and trained B iterations at the run's lr, against standard training over the
    same B iterations, θ_{t+B}, on the switch times at or after the inflection — a descriptive check
    (``deciding=False``) beside :func:`paired_switch_verdict`.

    The paper's design (linearized from t to a fixed T) gives a later switch time less linear training as well as
    more standard training; a fixed budget B from every t separates the two. If the kernel stopped moving after
    the transition (a linear model around θ_t then trains as the network does), the cost would be 0 inside the cone
    phase; the paper's claim that the nonlinear dynamics inside the cone still help says it stays positive. What
    the cost measures is linearizing *and* freezing batch norm at t, at the run's lr (chapter 3's controls separate
    those for the paper's arm). The paper reports no fixed-budget values, so this check decides nothing: it is
    reported with its interval.

    Args:
        switches: (K,) switch times t (before T).
        linearized: (seeds, n_test, K) whether the model linearized at t and trained B iterations classifies each
            test image correctly (0/1; NaN where the run diverged), or (seeds, K) test accuracies.
        standard: the same for the parent θ_{t+B} (standard training over the same B iterations); same shape.
        inflection: chapter 1's inflection in iterations (nan or inf: none, so the check is not applicable).
        resamples: bootstrap replicates.

    Returns:
        A :class:`~twophase_lib.verdicts.Check` (id ``LINEARIZING_COSTS`` of
        :class:`~twophase_lib.verdicts.BudgetCheck`): margin = mean over the cone-phase switch times
        (at least :data:`~twophase_lib.verdicts.switch.MIN_SWITCHES_IN_CONE_PHASE`) of
        acc(θ_{t+B}) − acc_lin(t+B; t) − :data:`~twophase_lib.verdicts.switch.MIN_CONE_PHASE_GAIN`, paired by seed
        and image, with its t interval over the seeds whose linearized runs did not diverge (a diverged run, the
        largest cost of all, leaves its seed out, and the detail names it); not applicable with fewer cone-phase
        switch times or no such seed.

    Raises:
        ValueError: shapes that disagree.
    """
    switches = np.asarray(switches, dtype=float)
    lin, std = np.asarray(linearized, dtype=float), np.asarray(standard, dtype=float)
    if lin.shape != std.shape or lin.ndim not in (2, 3) or lin.shape[-1] != len(switches):
        raise ValueError(f"need equal (seeds[, n_test], K) scores for K = {len(switches)} switch times: linearized "
                         f"{lin.shape}, standard {std.shape}")
    cid = BudgetCheck.LINEARIZING_COSTS
    inside = [i for i in range(len(switches)) if math.isfinite(inflection) and switches[i] >= inflection]
    if len(inside) < MIN_SWITCHES_IN_CONE_PHASE:
        why = (f"fewer than {MIN_SWITCHES_IN_CONE_PHASE} switch times at or after the inflection {inflection:g}"
               if math.isfinite(inflection) else "no inflection places the cone phase")
        return Check(cid, False, why, applicable=False, deciding=False)
    diff = (std - lin)[..., inside].mean(-1)  # (seeds[, n_test]) the cost averaged over the cone-phase switches
    kept = np.isfinite(diff.reshape(len(diff), -1)).all(1)
    left = ""
    if (~kept).any():
        bad = lin[~kept].reshape(int((~kept).sum()), -1, lin.shape[-1])[..., inside]
        where = sorted({float(switches[inside[j]]) for j in np.nonzero(~np.isfinite(bad).all(1))[1]})
        left = (f"; {int((~kept).sum())} of {len(kept)} left out: a linearized run diverged at t = "
                f"{', '.join(f'{w:g}' for w in where)}")
    if not kept.any():
        return Check(cid, False, "every seed holds a diverged run" + left, applicable=False, deciding=False)
    diff = diff[kept]
    cost = float(diff.mean())
    reps = bootstrap_means(diff[..., None], resamples)[:, 0]
    at = ", ".join(f"{switches[i]:g}" for i in inside)
    return _margin_check(cid, cost - MIN_CONE_PHASE_GAIN, reps - MIN_CONE_PHASE_GAIN,
                         f"standard training over the budget beats the linearized model by {cost:+.3f} on average "
                         f"at t = {at} ({int(kept.sum())} of {len(kept)} seeds{left}; rule: > "
                         f"{MIN_CONE_PHASE_GAIN:+g})", int(kept.sum()), deciding=False)
