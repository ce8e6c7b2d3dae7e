"""The verdicts' shared parts (outcomes, checks, combining, across machines), the dynamic-range precondition and
chapter 6's rules reach each of their outcomes on synthetic data; chapters 1-3's rules are tested in
tests/test_protocol_rules.py and tests/test_switch_and_block_rules.py."""

import math

import numpy as np
import pytest

from twophase_lib.verdicts import (
    Outcome,
    SwitchCheck,
    combine,
    paired_switch_verdict,
    spearman,
)


def test_combine_and_helpers():
    assert combine(["reproduced", "reproduced"]) == "reproduced"
    assert combine(["reproduced", "not reproduced"]) == "partly"
    assert combine(["not reproduced", "not reproduced"]) == "not reproduced"
    with pytest.raises(ValueError):
        combine([])
    assert spearman(np.arange(5), np.arange(5) ** 2) == pytest.approx(1.0)
    assert math.isnan(spearman(np.arange(3), np.ones(3)))


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


def test_outcomes_and_checks_are_identities_apart_from_their_text():
    # three equal seeds: every bootstrap replicate is the mean, so every check is decided; t = 0 is not the worst
    acc = np.array([[0.5, 0.4, 0.6, 0.7, 0.8]] * 3)
    v = paired_switch_verdict(np.array([0, 10, 20, 30, 40]), acc, 5.0, acc - 0.1)
    assert v.failed() == [SwitchCheck.ZERO_IS_WORST] and all(isinstance(c, SwitchCheck) for c in v.failed())
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
    # the third check: standard training must beat the task's simple baseline (a ViT that does not beat logistic
    # regression has learned nothing a linear model cannot)
    args = (_images(0.45, 2), _images(0.45, 2, seed=1), _images(0.18, 2, seed=2))
    beats = dynamic_range_precondition(*args, baseline=0.30)
    assert beats.applicable and beats.checks[-1].id == PreconditionCheck.BEATS_BASELINE and len(beats.checks) == 3
    short = dynamic_range_precondition(*args, baseline=0.60)
    assert not short.applicable and [c.mark for c in short.checks] == ["✓", "✓", "✗"]
    assert "against the baseline's 0.600" in short.explain()


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
    # the shift's interval joins the two inflections' intervals at the grid's resolution: curves this close to
    # halving at their grid points need precise replicates to be told apart
    later = inflection_shift(t0s, early, _replicates(early, 0.003), late, _replicates(late, 0.003, seed=1), 3)
    assert later["shift"] == Shift.LATER and later["low"] > 1 and later["factor"] > 2
    earlier = inflection_shift(t0s, late, _replicates(late, 0.003), early, _replicates(early, 0.003, seed=1), 3)
    assert earlier["shift"] == Shift.EARLIER and earlier["high"] < 1
    same = inflection_shift(t0s, early, _replicates(early, 0.08), early, _replicates(early, 0.08, seed=1), 3)
    assert same["shift"] == Shift.NONE and same["low"] < 1 < same["high"]
    # a setting whose curve never halves within the grid is later than any inflection inside it
    flat = np.full(len(t0s), 0.4)
    never = inflection_shift(t0s, early, _replicates(early, 0.01), flat, _replicates(flat, 0.01, seed=1), 3)
    assert never["shift"] == Shift.LATER and math.isinf(never["setting"]) and math.isinf(never["factor"])
    both = inflection_shift(t0s, flat, _replicates(flat, 0.01), flat, _replicates(flat, 0.01, seed=1), 3)
    assert both["shift"] == Shift.NONE == "no change measurable"
    with pytest.raises(ValueError, match="same"):
        inflection_shift(t0s, early, _replicates(early, 0.01), late[:-1], _replicates(late[:-1], 0.01), 3)
    with pytest.raises(ValueError, match="two seeds"):
        inflection_shift(t0s, early, _replicates(early, 0.01), late, _replicates(late, 0.01), (3, 1))


def test_the_relation_of_inflection_and_accuracy_reaches_each_outcome():
    from twophase_lib.verdicts import Relation, inflection_accuracy_relation

    rng = np.random.default_rng(0)
    infl = np.array([20.0, 40, 60, 90, 130, 200])
    acc = np.array([0.30, 0.33, 0.36, 0.40, 0.43, 0.47])

    def with_reps(values, spread):
        return np.column_stack([values, values[:, None] + rng.normal(0, spread, (len(values), 300))])

    better = inflection_accuracy_relation(with_reps(infl, 2.0), with_reps(acc, 0.003), 3)
    assert better["relation"] == Relation.LATER_IS_BETTER and better["rho"] == pytest.approx(1.0)
    assert better["high"] == 1.0  # the interval is clipped to the values a correlation can take
    worse = inflection_accuracy_relation(with_reps(infl, 2.0), with_reps(acc[::-1].copy(), 0.003), 3)
    assert worse["relation"] == Relation.LATER_IS_WORSE and worse["high"] < 0
    noisy = inflection_accuracy_relation(with_reps(infl, 80.0), with_reps(acc, 0.1), 3)
    assert noisy["relation"] == Relation.NONE and noisy["low"] < 0 < noisy["high"]
    # an inflection beyond the grid ranks as the latest
    beyond = infl.copy()
    beyond[-1] = np.inf
    assert inflection_accuracy_relation(with_reps(beyond, 0.0), with_reps(acc, 0.003), 3)["rho"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="settings"):
        inflection_accuracy_relation(with_reps(infl[:3], 1.0), with_reps(acc[:3], 0.01), 3)
