"""Every verdict rule reaches each of its outcomes on synthetic curves, and a merely decaying curve is not enough."""

import math

import numpy as np
import pytest

from twophase_lib.verdicts import (
    ChaosCheck,
    ConeCheck,
    Outcome,
    SwitchCheck,
    chaos_verdict,
    combine,
    cone_verdict,
    late_t0,
    recovered_share,
    spearman,
    switch_verdict,
)

T0S = np.array([0, 10, 30, 70, 150, 300])
DROP = 320


def seeds(curve, spread=0.01):
    curve = np.asarray(curve, dtype=float)
    return np.stack([curve - spread, curve, curve + spread])


def test_chaos_reproduced_when_early_chaos_late_stability_and_early_transition():
    v = chaos_verdict(T0S, seeds([0.40, 0.30, 0.12, 0.05, 0.03, 0.02]), reference=0.45, control_exact=True,
                      first_drop=DROP, inflection=25.0)
    assert v.outcome == "reproduced", v.explain()


def test_chaos_slow_decay_is_only_partly():
    # a curve that decays steadily and reaches a quarter only at the end: its inflection sits late
    v = chaos_verdict(T0S, seeds([0.40, 0.39, 0.37, 0.33, 0.09, 0.05]), reference=0.45, control_exact=True,
                      first_drop=DROP, inflection=110.0)
    assert v.outcome == "partly"
    assert v.failed() == [ChaosCheck.EARLY_TRANSITION]


def test_chaos_not_reproduced_when_the_curve_does_not_halve():
    # the constant-lr picture: disagreement only falls to 60%
    v = chaos_verdict(T0S, seeds([0.50, 0.48, 0.45, 0.40, 0.35, 0.30]), reference=0.55, control_exact=True,
                      first_drop=DROP, inflection=math.nan)
    assert v.outcome == "not reproduced"


def test_chaos_not_reproduced_without_early_chaos_even_if_it_decays():
    # twins that never get far apart (disagreement tiny next to unrelated networks) show no chaos
    v = chaos_verdict(T0S, seeds([0.02, 0.015, 0.01, 0.003, 0.001, 0.0], spread=0.0), reference=0.45,
                      control_exact=True, first_drop=DROP, inflection=40.0)
    assert v.outcome == "not reproduced"
    assert v.failed() == [ChaosCheck.CHAOTIC_EARLY]


def test_chaos_broken_control_is_never_reproduced():
    v = chaos_verdict(T0S, seeds([0.40, 0.30, 0.12, 0.05, 0.03, 0.02]), reference=0.45, control_exact=False,
                      first_drop=DROP, inflection=25.0)
    assert v.outcome == "not reproduced"
    assert ChaosCheck.CONTROL_EXACT in v.failed()


def test_chaos_stability_is_judged_where_the_twin_still_has_high_lr_time():
    # stable only at t0 = 300, 20 iterations before the drop: the drop, not the dynamics
    curve = [0.40, 0.35, 0.30, 0.28, 0.20, 0.01]
    v = chaos_verdict(T0S, seeds(curve), reference=0.45, control_exact=True, first_drop=DROP, inflection=200.0)
    assert late_t0(T0S, DROP) == 150 and v.outcome == "partly"
    assert ChaosCheck.STABLE_LATE in v.failed() and "at t0 = 150" in v.explain()
    as_first_written = chaos_verdict(T0S, seeds(curve), reference=0.45, control_exact=True, first_drop=DROP,
                                     inflection=200.0, judge_t0=300)
    assert ChaosCheck.STABLE_LATE not in as_first_written.failed()


def test_chaos_overlapping_seeds_fail_their_check():
    per_seed = np.array([[0.40, 0.3, 0.1, 0.05, 0.03, 0.02], [0.05, 0.04, 0.03, 0.02, 0.06, 0.06],
                         [0.75, 0.5, 0.2, 0.05, 0.02, 0.0]])
    v = chaos_verdict(T0S, per_seed, reference=0.45, control_exact=True, first_drop=DROP, inflection=30.0)
    assert ChaosCheck.SEEDS_SEPARATE in v.failed() and v.outcome == "partly"


STEPS = np.array([0, 10, 30, 70, 120, 170, 220, 270, 320, 380, 440])
REFS = (70, 120, 170)


def distance_matrix(position):
    """S between checkpoints whose kernels sit at angles ``position`` (radians) in a plane: S = 1 - cos(Δ)."""
    p = np.asarray(position, dtype=float)
    return 1 - np.cos(p[:, None] - p[None, :])


def test_cone_reproduced_for_saturating_curves():
    # the kernel turns fast until 30, then oscillates in a narrow band: S(τ, t) rises and levels
    pos = np.array([0, 0.6, 0.9, 1.0, 1.02, 1.03, 1.035, 1.037, 1.038, 1.0385, 1.039])
    # a cone, not a line: add a second direction so S(τ, t) saturates instead of growing with the angle
    m = distance_matrix(pos)
    for i in range(3, len(pos)):
        for j in range(3, len(pos)):
            if i != j:
                m[i, j] = 0.02 * (1 - math.exp(-abs(STEPS[i] - STEPS[j]) / 40)) + 1e-4
    v = cone_verdict(STEPS, m, REFS, first_drop=320, inflection=40.0)
    assert v.outcome == "reproduced", v.explain()


def test_cone_random_walk_is_not_reproduced():
    # S ∝ |t - t'|: the kernel keeps drifting, no window levels off
    m = np.abs(STEPS[:, None] - STEPS[None, :]) * 1e-3
    v = cone_verdict(STEPS, m, REFS, first_drop=320, inflection=40.0)
    assert v.outcome == "not reproduced"
    assert ConeCheck.LEVELS_OFF in v.failed()


def test_cone_partly_when_tau_precedes_the_inflection_or_some_windows_drift():
    m = np.abs(STEPS[:, None] - STEPS[None, :]) * 1e-3
    sat = 0.02 * (1 - np.exp(-np.abs(STEPS[:, None] - STEPS[None, :]) / 40))
    m[3:, 3:] = sat[3:, 3:]  # levels from 70 on
    m[4, 5:] = m[5:, 4] = (STEPS[5:] - 120) * 1e-3  # but τ = 120's window keeps drifting
    v = cone_verdict(STEPS, m, REFS, first_drop=320, inflection=100.0)
    assert v.outcome == "partly"
    assert ConeCheck.AFTER_TRANSITION in v.failed()


def test_cone_velocity_that_falls_to_zero_fails():
    sat = 0.02 * (1 - np.exp(-np.abs(STEPS[:, None] - STEPS[None, :]) / 40))
    sat[6:, 6:] = sat[6, 6]  # frozen from 220 on: adjacent distance exactly 0
    np.fill_diagonal(sat, 0)
    v = cone_verdict(STEPS, sat, REFS, first_drop=320, inflection=40.0)
    assert ConeCheck.VELOCITY_FALLS in v.failed()


SWITCHES = np.array([0, 10, 30, 70, 150, 300, 440])


def test_switch_reproduced_when_accuracy_grows_through_the_cone_phase():
    acc = seeds([0.25, 0.28, 0.33, 0.38, 0.42, 0.45, 0.47], spread=0.005)
    v = switch_verdict(SWITCHES, acc, inflection=40.0)
    assert v.outcome == "reproduced", v.explain()


def test_switch_fort_like_curve_is_only_partly():
    # most of the gap recovered right after the transition; no gain in the cone phase
    acc = seeds([0.25, 0.30, 0.44, 0.46, 0.461, 0.462, 0.47], spread=0.01)
    v = switch_verdict(SWITCHES, acc, inflection=40.0)
    assert v.outcome == "partly"
    assert v.failed() == [SwitchCheck.CONE_PHASE_MATTERS]
    assert recovered_share(acc.mean(0))[3] > 0.9


def test_switch_t10_worse_than_t0_fails_its_check():
    acc = seeds([0.25, 0.24, 0.33, 0.38, 0.42, 0.45, 0.47], spread=0.005)
    v = switch_verdict(SWITCHES, acc, inflection=40.0)
    assert v.failed() == [SwitchCheck.ZERO_IS_WORST] and v.outcome == "partly"


def test_switch_not_reproduced_when_switch_time_does_not_matter():
    acc = seeds([0.40, 0.42, 0.39, 0.41, 0.40, 0.40, 0.47], spread=0.01)
    assert switch_verdict(SWITCHES, acc, inflection=40.0).outcome == "not reproduced"


def test_combine_and_helpers():
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "not reproduced"]) == "partly"
    assert combine(["not reproduced", "not reproduced"]) == "not reproduced"
    with pytest.raises(ValueError):
        combine([])
    assert spearman(np.arange(5), np.arange(5) ** 2) == pytest.approx(1.0)
    assert math.isnan(spearman(np.arange(3), np.ones(3)))
    assert np.allclose(recovered_share(np.array([0.2, 0.3, 0.4])), [0, 0.5, 1])


def test_a_flat_zero_curve_is_not_reproduced_and_explained_without_nan():
    v = chaos_verdict(np.array([0, 10, 30, 70]), np.zeros((2, 4)), 0.02, True, 160, math.nan)
    assert v.outcome == "not reproduced" and "nan" not in v.explain() and "no dynamic range" in v.explain()
    c = cone_verdict(np.array([0, 10, 20, 40, 80, 160]), np.abs(np.subtract.outer(np.arange(6.0), np.arange(6.0))) / 10,
                     (20,), 160, math.nan)
    assert "nan" not in c.explain()


def test_a_verdict_that_flips_across_machines_is_inconclusive():
    from twophase_lib.verdicts import across_machines

    assert across_machines({"cpu-avx512-a": "partly", "cpu-avx2-b": "partly", "cpu-default-c": "partly"}) == "partly"
    assert across_machines({"cpu-avx512-a": "reproduced"}) == "reproduced"
    assert across_machines({"a": "not reproduced", "b": "not reproduced"}) == "not reproduced"
    assert across_machines({"cpu-avx512-a": "partly", "cpu-avx2-b": "reproduced"}) == "inconclusive"
    with pytest.raises(ValueError, match="no outcomes"):
        across_machines({})
    # a rule of the paper's protocol can itself be inconclusive: that stays so across machines
    assert across_machines({"a": "inconclusive", "b": "inconclusive"}) == "inconclusive"
    with pytest.raises(ValueError, match="unknown outcome"):
        across_machines({"a": "maybe"})


def test_a_chaos_curve_without_dynamic_range_says_so_instead_of_failing_checks():
    """Twins that never diverge (disagreement 0 at every t0): 'stable late' is not failed, it is undecidable."""
    flat = np.zeros((3, 5))
    v = chaos_verdict(np.array([0, 10, 30, 100, 300]), flat, 0.2, True, 1000, math.nan)
    assert v.outcome == "not reproduced"
    assert v.failed() == [ChaosCheck.CHAOTIC_EARLY]
    assert v.not_applicable() == [ChaosCheck.STABLE_LATE, ChaosCheck.SEEDS_SEPARATE, ChaosCheck.EARLY_TRANSITION,
                                  ChaosCheck.CURVE_HALVES]
    assert "– stable late: no dynamic range" in v.explain()
    # a curve that moves at all is judged as before
    moving = flat.copy()
    moving[:, 0] = 0.2
    assert chaos_verdict(np.array([0, 10, 30, 100, 300]), moving, 0.2, True, 1000, 5.0).not_applicable() == []


def test_flat_cone_and_switch_curves_are_not_reproduced_for_want_of_dynamic_range():
    steps = np.array([0, 10, 20, 40])
    v = cone_verdict(steps, np.zeros((4, 4)), (10,), 40, 5.0)
    assert v.outcome == "not reproduced" and v.failed() == [] and len(v.not_applicable()) == 4
    s = switch_verdict(np.array([0, 10, 20]), np.full((2, 3), 0.5), 5.0)
    assert s.outcome == "not reproduced" and "no dynamic range" in s.explain() and s.failed() == []


def test_outcomes_and_checks_are_identities_apart_from_their_text():
    v = switch_verdict(np.array([0, 10, 20]), np.array([[0.4, 0.5, 0.6]]), 5.0)
    assert all(isinstance(c, SwitchCheck) for c in v.failed())
    assert isinstance(v.outcome, Outcome) and v.outcome == "partly" and f"{v.outcome}" == "partly"
    assert [c.name for c in v.checks] == [c.value for c in SwitchCheck]  # display text, in the rule's order
    with pytest.raises(ValueError, match="unknown outcome"):
        from twophase_lib.verdicts import Verdict

        Verdict("maybe")


def _images(rate: float, rows: int, n: int = 1000, seed: int = 0) -> np.ndarray:
    """(rows, n) 0/1 arrays with exactly ``rate`` of ones per row, placed at random (a different draw per row)."""
    rng = np.random.default_rng(seed)
    row = (np.arange(n) < round(rate * n)).astype(float)
    return np.stack([rng.permutation(row) for _ in range(rows)])


def test_the_dynamic_range_precondition_reaches_both_ways_and_says_why():
    from twophase_lib.verdicts import PreconditionCheck, Verdict, dynamic_range_precondition

    # a CIFAR-like task: unrelated networks disagree on 45%, linearized from initialisation 0.18 against 0.45
    good = dynamic_range_precondition(_images(0.45, 2), _images(0.45, 2, seed=1), _images(0.18, 2, seed=2))
    assert good.applicable and all(c.mark == "✓" for c in good.checks)
    v = Verdict(Outcome.PARTLY, [])
    assert good.apply(v) is v
    # the affairs survey: unrelated networks disagree on 3%, linearized ties standard training
    flat = dynamic_range_precondition(_images(0.03, 2), _images(0.71, 2, seed=1), _images(0.71, 2, seed=1))
    assert not flat.applicable and [c.mark for c in flat.checks] == ["✗", "✗"]
    out = flat.apply(Verdict(Outcome.NOT_REPRODUCED, []))
    assert out.outcome == Outcome.INAPPLICABLE and out.checks[0].id == PreconditionCheck.UNRELATED_DISAGREE
    assert "0.030" in flat.explain() and "rule: > 0.1" in flat.explain()
    # one check alone fails it: disagreement but no cost of linearizing
    assert not dynamic_range_precondition(_images(0.4, 2), _images(0.6, 2, seed=1), _images(0.59, 2, seed=1)).applicable
    # a margin inside its interval is not "clearly": inapplicable, the check undecided
    edge = dynamic_range_precondition(_images(0.105, 1, n=200), _images(0.5, 1, 200, 1), _images(0.2, 1, 200, 2))
    assert not edge.applicable and edge.checks[0].mark == "?"
    with pytest.raises(ValueError, match="correctness arrays"):
        dynamic_range_precondition(_images(0.4, 2), _images(0.5, 2), _images(0.5, 3))


def test_inapplicable_settings_are_left_out_when_outcomes_are_combined():
    assert combine(["inapplicable", "reproduced"]) == "reproduced"
    assert combine(["inapplicable", "not reproduced", "reproduced"]) == "partly"
    assert combine(["inapplicable", "inapplicable"]) == "inapplicable"
    assert combine(["inapplicable", "inconclusive"]) == "inconclusive"


def _decay(t0s, half, level=0.5, floor=0.05):
    """A curve that falls from ``level`` to half of it at t0 = ``half`` (exponential in log(1 + t0))."""
    x = np.log1p(np.asarray(t0s, dtype=float)) / np.log1p(half)
    return floor + (level - floor) * 0.5 ** x


def _replicates(curve, spread, n=400, seed=0):
    rng = np.random.default_rng(seed)
    return curve + rng.normal(0, spread, (n, len(curve)))


def test_an_inflection_shift_reaches_later_earlier_and_none():
    from twophase_lib.verdicts import Shift, inflection_shift

    t0s = np.array([0, 25, 50, 100, 200, 400])
    early, late = _decay(t0s, 40), _decay(t0s, 180)
    later = inflection_shift(t0s, early, _replicates(early, 0.01), late, _replicates(late, 0.01, seed=1))
    assert later["shift"] == Shift.LATER and later["low"] > 1 and later["factor"] > 2
    earlier = inflection_shift(t0s, late, _replicates(late, 0.01), early, _replicates(early, 0.01, seed=1))
    assert earlier["shift"] == Shift.EARLIER and earlier["high"] < 1
    same = inflection_shift(t0s, early, _replicates(early, 0.08), early, _replicates(early, 0.08, seed=1))
    assert same["shift"] == Shift.NONE and same["low"] < 1 < same["high"]
    # a setting whose curve never halves within the grid is later than any inflection inside it
    flat = np.full(len(t0s), 0.4)
    never = inflection_shift(t0s, early, _replicates(early, 0.01), flat, _replicates(flat, 0.01, seed=1))
    assert never["shift"] == Shift.LATER and math.isinf(never["setting"]) and math.isinf(never["factor"])
    both = inflection_shift(t0s, flat, _replicates(flat, 0.01), flat, _replicates(flat, 0.01, seed=1))
    assert both["shift"] == Shift.NONE == "no change measurable"
    with pytest.raises(ValueError, match="equal"):
        inflection_shift(t0s, early, _replicates(early, 0.01), late, _replicates(late, 0.01, n=10))


def test_the_relation_of_inflection_and_accuracy_reaches_each_outcome():
    from twophase_lib.verdicts import Relation, inflection_accuracy_relation

    rng = np.random.default_rng(0)
    infl = np.array([20.0, 40, 60, 90, 130, 200])
    acc = np.array([0.30, 0.33, 0.36, 0.40, 0.43, 0.47])

    def with_reps(values, spread):
        return np.column_stack([values, values[:, None] + rng.normal(0, spread, (len(values), 300))])

    better = inflection_accuracy_relation(with_reps(infl, 2.0), with_reps(acc, 0.003))
    assert better["relation"] == Relation.LATER_IS_BETTER and better["rho"] == pytest.approx(1.0)
    worse = inflection_accuracy_relation(with_reps(infl, 2.0), with_reps(acc[::-1].copy(), 0.003))
    assert worse["relation"] == Relation.LATER_IS_WORSE and worse["high"] < 0
    noisy = inflection_accuracy_relation(with_reps(infl, 80.0), with_reps(acc, 0.1))
    assert noisy["relation"] == Relation.NONE and noisy["low"] < 0 < noisy["high"]
    # an inflection beyond the grid ranks as the latest
    beyond = infl.copy()
    beyond[-1] = np.inf
    assert inflection_accuracy_relation(with_reps(beyond, 0.0), with_reps(acc, 0.003))["rho"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="settings"):
        inflection_accuracy_relation(with_reps(infl[:3], 1.0), with_reps(acc[:3], 0.01))
