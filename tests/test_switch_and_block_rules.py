"""Chapter 3's paired switch rule and chapter 2's block boundary on synthetic data that reach every outcome."""

import math

import numpy as np
import pytest

from twophase_lib.cone import block_boundary
from twophase_lib.verdicts import Outcome, SwitchCheck, paired_switch_verdict

T = np.array([0, 25, 50, 100, 200, 400])


def scores(curve, seeds=3, n=1000, seed=0):
    """(seeds, n, K) 0/1 correctness with the given accuracy per switch time (images shared, so pairs correlate)."""
    rng = np.random.default_rng(seed)
    u = rng.random((seeds, n, 1))
    return (u < np.asarray(curve)[None, None, :]).astype(float)


PARENT = [0.1, 0.25, 0.3, 0.33, 0.38, 0.5]  # the parent's own accuracy at each t (at T: standard training itself)


def verdict(curve, parent=PARENT, frozen=None, inflection=50, **kw):
    return paired_switch_verdict(T, scores(curve, **kw), inflection, scores(parent, **kw),
                                 None if frozen is None else scores(frozen, **kw))


def test_a_curve_that_rises_through_the_cone_phase_is_reproduced():
    v = verdict([0.2, 0.3, 0.35, 0.4, 0.45, 0.5], frozen=[0.1, 0.45, 0.48, 0.49, 0.5, 0.5])
    assert v.outcome == Outcome.REPRODUCED, v.explain()
    assert not v.not_applicable()


def test_a_curve_that_saturates_at_the_transition_is_partly():
    v = verdict([0.2, 0.45, 0.5, 0.5, 0.5, 0.5], parent=[0.1, 0.3, 0.4, 0.42, 0.45, 0.5])
    assert v.outcome == Outcome.PARTLY and SwitchCheck.CONE_PHASE_MATTERS in v.failed(), v.explain()


def test_a_flat_or_falling_curve_is_not_reproduced():
    v = verdict([0.5, 0.45, 0.4, 0.35, 0.3, 0.3], parent=[0.1, 0.2, 0.25, 0.3, 0.28, 0.3])
    assert v.outcome == Outcome.NOT_REPRODUCED, v.explain()


def test_a_rise_that_frozen_batch_norm_shares_is_partly():
    v = verdict([0.2, 0.3, 0.35, 0.4, 0.45, 0.5], frozen=[0.1, 0.25, 0.3, 0.4, 0.5, 0.5])
    assert v.outcome == Outcome.PARTLY and v.failed() == [SwitchCheck.BEYOND_FROZEN_BATCH_NORM], v.explain()


def test_a_diverged_control_leaves_its_check_undecidable():
    frozen = scores([0.1, 0.45, 0.48, 0.49, 0.5, 0.5])
    frozen[:, :, 2] = np.nan  # a frozen-batch-norm run that diverged at t = 50
    v = paired_switch_verdict(T, scores([0.2, 0.3, 0.35, 0.4, 0.45, 0.5]), 50, scores(PARENT), frozen)
    assert v.not_applicable() == [SwitchCheck.BEYOND_FROZEN_BATCH_NORM] and "diverged" in v.explain()


def test_a_control_collapsed_to_chance_is_left_out_like_a_diverged_one():
    # the frozen control collapses in one seed at the first cone-phase switch (t = 50), so its rise from there is a
    # rise from a broken network; judged against it, the linearized arm's rise looks "beyond frozen batch norm"
    frozen = scores([0.1, 0.45, 0.48, 0.49, 0.5, 0.5])
    frozen[1, :, 2] = (np.arange(1000) % 10 == 0)  # seed 1 predicts one class: accuracy 0.1
    curve = scores([0.2, 0.3, 0.35, 0.4, 0.45, 0.5])
    v = paired_switch_verdict(T, curve, 50, scores(PARENT), frozen, chance=0.1)
    assert v.not_applicable() == [SwitchCheck.BEYOND_FROZEN_BATCH_NORM], v.explain()
    assert "collapsed to chance (accuracy ≤ 0.100 + 0.02, in 1 of 3 seeds) at t = 50" in v.explain()
    blind = paired_switch_verdict(T, curve, 50, scores(PARENT), frozen)  # without the chance level: judged on it
    assert not blind.not_applicable() and "collapsed" not in blind.explain()
    healthy = scores([0.1, 0.45, 0.48, 0.49, 0.5, 0.5])  # a control above chance is judged as before
    assert not paired_switch_verdict(T, curve, 50, scores(PARENT), healthy, chance=0.1).not_applicable()


def test_a_difference_inside_the_noise_is_inconclusive():
    # a rise of 1.5 points in the cone phase on 200 images: the margin (+0.005) lies inside its interval
    v = verdict([0.2, 0.3, 0.35, 0.355, 0.365, 0.415], parent=[0.1, 0.2, 0.25, 0.28, 0.3, 0.415], seeds=2, n=200,
                seed=3)
    assert SwitchCheck.CONE_PHASE_MATTERS in v.undecided() and v.outcome == Outcome.INCONCLUSIVE, v.explain()


def test_no_inflection_leaves_the_cone_phase_undecidable():
    v = verdict([0.2, 0.3, 0.35, 0.4, 0.45, 0.5], inflection=math.nan)
    assert set(v.not_applicable()) == {SwitchCheck.LINEAR_PHASE_LEARNS, SwitchCheck.CONE_PHASE_MATTERS,
                                       SwitchCheck.BEYOND_FROZEN_BATCH_NORM} and v.outcome == Outcome.PARTLY
    acc, parent = scores([0.2, 0.3, 0.35, 0.4, 0.45, 0.5]).mean(1), scores(PARENT).mean(1)  # seeds resampled only
    assert paired_switch_verdict(T, acc, 50, parent).outcome in (Outcome.REPRODUCED, Outcome.INCONCLUSIVE)
    with pytest.raises(ValueError, match="three or more"):
        paired_switch_verdict(T[:2], acc[:, :2], 50, parent[:, :2])
    with pytest.raises(ValueError, match="parent"):
        paired_switch_verdict(T, acc, 50, parent[:, :3])


def brute_block(steps, m, k=2):
    best = None
    for b in range(k, len(steps) - k + 1):
        cross = [m[i, j] for i in range(b) for j in range(b, len(steps))]
        e = [m[i, j] for i in range(b) for j in range(b) if i != j]
        late = [m[i, j] for i in range(b, len(steps)) for j in range(b, len(steps)) if i != j]
        c = np.mean(cross) - (np.mean(e) + np.mean(late)) / 2
        if best is None or c > best[1]:
            best = (steps[b], c)
    return best


def test_the_block_boundary_is_found_and_matches_a_brute_force_search():
    steps = np.arange(0, 200, 20)
    rng = np.random.default_rng(1)
    m = np.where((steps[:, None] < 80) | (steps[None, :] < 80), 0.5, 0.05) + 0.01 * rng.random((10, 10))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 0)
    where, contrast = block_boundary(steps, m)
    assert where == 80 and contrast == pytest.approx(0.5 - (0.5 + 0.05) / 2, abs=0.01)
    assert (where, pytest.approx(contrast)) == brute_block(steps, m)
    flat = np.full((10, 10), 0.2)
    np.fill_diagonal(flat, 0)
    assert block_boundary(steps, flat)[1] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        block_boundary(steps[:3], m[:3, :3])
