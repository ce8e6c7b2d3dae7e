"""The rules of the paper's protocol (issue 21), committed before the numbers they judge exist, and tested here on
synthetic curves that reach every outcome: a fixed-window chaos curve, and lag curves of a cone, a random walk,
pure jitter, a cone as wide as the distance the kernel travelled, and one too noisy to decide (the paper's own
values and the null models: ``tests/test_rule_fairness.py``)."""

import math

import numpy as np
import pytest

from twophase_lib.verdicts import (
    Check,
    LagCheck,
    Outcome,
    WindowCheck,
    bootstrap_means,
    combine,
    decide_with_intervals,
    inflection_interval,
    interval,
    lag_cone_verdict,
    window_chaos_verdict,
)

T0S = np.array([0, 25, 50, 100, 200, 400])


def replicated(curve, noise, seeds=3, seed=0):
    """Per-seed curves around ``curve`` and the bootstrap replicates of their mean."""
    rng = np.random.default_rng(seed)
    per_seed = np.asarray(curve, dtype=float)[None] + noise * rng.standard_normal((seeds, len(curve)))
    return per_seed.mean(0), bootstrap_means(per_seed, resamples=500, seed=seed)


def window(curve, noise=0.01, reference=0.7, control=True):
    point, reps = replicated(curve, noise)
    ref_point, ref_reps = replicated([reference], noise, seed=1)
    return window_chaos_verdict(T0S, point, reps, float(ref_point[0]), ref_reps[:, 0], control, 100, 3, 3)


def test_bootstrap_resamples_seeds_and_items_with_the_same_indices_for_every_grid_point():
    values = np.zeros((3, 50, 4))
    values[:, :25] = 1.0  # half the items disagree, at every grid point
    reps = bootstrap_means(values, resamples=400)
    assert reps.shape == (400, 4) and np.allclose(reps[:, 0], reps[:, 3])  # same resamples across the grid
    lo, hi = interval(reps[:, 0])
    assert lo < 0.5 < hi and hi - lo < 0.3
    seeds_only = bootstrap_means(np.array([[1.0, 2.0], [3.0, 4.0]]), resamples=200)
    assert set(np.unique(seeds_only[:, 0])) <= {1.0, 2.0, 3.0}
    with pytest.raises(ValueError, match="seeds"):
        bootstrap_means(np.zeros(3))
    assert math.isnan(interval(np.array([1.0, np.nan, np.nan]))[0])


def test_window_chaos_reaches_every_outcome():
    assert window([0.6, 0.3, 0.15, 0.1, 0.08, 0.07]).outcome == Outcome.REPRODUCED
    partly = window([0.6, 0.3, 0.28, 0.27, 0.26, 0.25])  # halves, then stays at 40%
    assert partly.outcome == Outcome.PARTLY and partly.failed() == [WindowCheck.STABLE_LATE]
    assert window([0.1, 0.05, 0.02, 0.02, 0.02, 0.02]).outcome == Outcome.NOT_REPRODUCED  # not chaotic early
    assert window([0.6, 0.55, 0.5, 0.5, 0.45, 0.4]).outcome == Outcome.NOT_REPRODUCED  # never halves
    assert window([0.6, 0.3, 0.15, 0.1, 0.08, 0.07], control=False).outcome == Outcome.NOT_REPRODUCED
    # t0 = 0 sits at half the reference, within the noise: chaotic early cannot be decided
    noisy = window([0.35, 0.15, 0.08, 0.06, 0.05, 0.05], noise=0.03)
    assert noisy.outcome == Outcome.INCONCLUSIVE and WindowCheck.CHAOTIC_EARLY in noisy.undecided()
    assert "?" in noisy.explain() and "margin" in noisy.explain()


def test_window_chaos_reports_the_inflection_with_an_interval_and_a_beyond():
    point, reps = replicated([0.6, 0.5, 0.31, 0.29, 0.2, 0.1], 0.02)
    inf = inflection_interval(T0S, point, reps, 3)
    assert inf["low"] <= inf["estimate"] <= inf["high"] and inf["estimate"] in T0S and inf["previous"] in T0S
    flat_point, flat_reps = replicated([0.6, 0.55, 0.5, 0.5, 0.45, 0.4], 0.01)
    never = inflection_interval(T0S, flat_point, flat_reps, 3)
    assert math.isinf(never["estimate"]) and math.isinf(never["high"])
    v = window([0.6, 0.55, 0.5, 0.5, 0.45, 0.4])
    assert "> 400" in v.explain()


LAGS = np.array([5, 10, 20, 40, 80, 160])


def lag_verdict(late, early=None, travelled=0.4, noise=0.002, calibration=0.4):
    early = 4 * np.asarray(late) if early is None else early
    e, er = replicated(early, noise, seed=2)
    lt, lr = replicated(late, noise, seed=3)
    d, dr = replicated([travelled], noise, seed=4)
    c, cr = replicated([calibration], noise, seed=5)
    return lag_cone_verdict(LAGS, e, er, lt, lr, float(d[0]), dr[:, 0], 3, float(c[0]), cr[:, 0], 3)


def cone(width=0.05, scale=15.0):
    return width * (1 - np.exp(-LAGS / scale))


def test_lag_cone_reaches_every_outcome():
    assert lag_verdict(cone()).outcome == Outcome.REPRODUCED
    walk = lag_verdict(0.0005 * LAGS)  # S ∝ Δ: never flat
    assert walk.outcome == Outcome.NOT_REPRODUCED and LagCheck.FLAT_AT_LONG_LAGS in walk.failed()
    # jitter in place: flat from the shortest lag, as far from the start as from the last checkpoint
    jitter = lag_verdict(np.full(len(LAGS), 0.05), travelled=0.05)
    assert jitter.outcome == Outcome.NOT_REPRODUCED and jitter.failed() == [LagCheck.NARROW]
    rises = next(c for c in jitter.checks if c.id is LagCheck.RISES_AT_SHORT_LAGS)
    assert not rises.passed and not rises.deciding and "(descriptive)" in jitter.explain()
    flat_floor = lag_verdict(np.full(len(LAGS), 0.05))  # the paper's Fig. 5b: a floor the same for every lag
    assert flat_floor.outcome == Outcome.REPRODUCED, flat_floor.explain()
    wide = lag_verdict(cone(width=0.35))  # a cone as wide as the distance travelled from initialisation
    assert wide.outcome == Outcome.NOT_REPRODUCED and wide.failed() == [LagCheck.NARROW]
    close = lag_verdict(cone(), calibration=0.03)  # unrelated networks' kernels close: reported, not judged
    assert close.outcome == Outcome.REPRODUCED
    assert not next(c for c in close.checks if c.id is LagCheck.NARROWER_THAN_UNRELATED).passed
    steady = lag_verdict(cone(), early=cone())  # a cone, but the kernel moved as little early as late
    assert steady.outcome == Outcome.PARTLY and steady.failed() == [LagCheck.SLOWS_DOWN]
    noisy = lag_verdict(cone(width=0.2), noise=0.08)  # the floor within noise of half the distance travelled
    assert noisy.outcome == Outcome.INCONCLUSIVE


def test_inconclusive_only_when_an_undecided_check_could_move_the_outcome():
    def rule(passed):
        return Outcome.REPRODUCED if passed[WindowCheck.CHAOTIC_EARLY] else Outcome.NOT_REPRODUCED

    decided = Check(WindowCheck.CHAOTIC_EARLY, True, "", margin=0.2, interval=(0.1, 0.3))
    other = Check(WindowCheck.STABLE_LATE, False, "", margin=-0.01, interval=(-0.05, 0.03))  # irrelevant to rule
    assert decide_with_intervals([decided, other], rule).outcome == Outcome.REPRODUCED
    open_ = Check(WindowCheck.CHAOTIC_EARLY, True, "", margin=0.01, interval=(-0.02, 0.04))
    assert decide_with_intervals([open_, other], rule).outcome == Outcome.INCONCLUSIVE


def test_combining_inconclusive_settings():
    assert combine([Outcome.REPRODUCED, Outcome.INCONCLUSIVE]) == Outcome.INCONCLUSIVE
    assert combine([Outcome.INCONCLUSIVE]) == Outcome.INCONCLUSIVE
    assert combine([Outcome.REPRODUCED, Outcome.NOT_REPRODUCED, Outcome.INCONCLUSIVE]) == Outcome.PARTLY
    assert combine([Outcome.PARTLY, Outcome.PARTLY]) == Outcome.PARTLY


def test_a_grid_with_one_t0_is_refused_up_front():
    point, reps = replicated([0.5], 0.01)
    with pytest.raises(ValueError, match="hold a later t0"):
        window_chaos_verdict(np.array([0]), point, reps, 0.5, reps[:, 0], True, 100, 3, 3)
