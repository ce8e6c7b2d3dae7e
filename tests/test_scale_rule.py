"""The scale ladder's rule (issue 34), committed with its predictions before any ladder number exists: it reaches
every outcome on synthetic ladders, says "consistent" on a ladder that follows the predicted power law through the
paper's value, and "fails" on a null whose quantity does not move with width."""

from __future__ import annotations

import numpy as np
import pytest

from twophase_book.scale import PREDICTIONS
from twophase_lib.verdicts.scale import ScaleOutcome, Trend, width_trend

WIDTHS = np.array([0.25, 0.5, 1.0])


def ladder(law, seeds: int = 3, noise: float = 0.05, seed: int = 0, widths=WIDTHS) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [law(w) * np.exp(rng.normal(0, noise, seeds)) for w in widths]


def test_a_ladder_on_the_predicted_power_law_through_the_papers_value_is_consistent():
    t = width_trend(WIDTHS, ladder(lambda w: 0.02 / w), paper=(0.02, 0.03), slope_bound=-0.3)
    assert t.trend is Trend.AS_PREDICTED and t.outcome is ScaleOutcome.CONSISTENT, t.detail
    assert t.slope_interval[0] < -1 < t.slope_interval[1] or abs(t.slope + 1) < 0.1


def test_a_quantity_that_does_not_move_with_width_is_rejected_and_fails_at_the_papers_scale():
    t = width_trend(WIDTHS, ladder(lambda w: 0.2), paper=(0.02, 0.03), slope_bound=-0.3)
    assert t.trend is Trend.REJECTED and t.outcome is ScaleOutcome.FAILS, t.detail


def test_a_falling_trend_that_misses_the_paper_still_fails_there():
    t = width_trend(WIDTHS, ladder(lambda w: 0.2 / w ** 0.5), paper=(0.02, 0.03), slope_bound=-0.3)
    assert t.trend is Trend.AS_PREDICTED and t.outcome is ScaleOutcome.FAILS, t.detail


def test_noise_as_large_as_the_trend_cannot_tell():
    t = width_trend(WIDTHS, ladder(lambda w: 0.05 / w, seeds=2, noise=1.5, seed=3), paper=(0.02, 0.03),
                    slope_bound=-0.3)
    assert t.trend is Trend.UNDECIDED and t.outcome is ScaleOutcome.CANNOT_TELL, t.detail


def test_a_quantity_predicted_to_grow_with_width():
    grows = width_trend(WIDTHS, ladder(lambda w: 5.0 * w), paper=(4.0, 6.0), slope_bound=0.3, falls=False)
    assert grows.trend is Trend.AS_PREDICTED and grows.outcome is ScaleOutcome.CONSISTENT, grows.detail
    flat = width_trend(WIDTHS, ladder(lambda w: 1.0), paper=(4.0, 6.0), slope_bound=0.3, falls=False)
    assert flat.trend is Trend.REJECTED and flat.outcome is ScaleOutcome.FAILS, flat.detail


def test_bad_ladders_are_refused():
    with pytest.raises(ValueError, match="at least 3 rungs"):
        width_trend(WIDTHS[:2], ladder(lambda w: 1.0)[:2], (1, 1), -0.3)
    with pytest.raises(ValueError, match="distinct"):
        width_trend(np.array([0.5, 0.5, 1.0]), ladder(lambda w: 1.0), (1, 1), -0.3)
    with pytest.raises(ValueError, match="finite and positive"):
        width_trend(WIDTHS, [np.array([0.1]), np.array([0.0]), np.array([0.2])], (1, 1), -0.3)
    with pytest.raises(ValueError, match="paper's range"):
        width_trend(WIDTHS, ladder(lambda w: 1.0), (2, 1), -0.3)


def test_identical_seeds_give_no_interval_and_the_rule_says_so():
    # an inflection only takes grid values: every seed at 5 epochs on every rung gives a bootstrap without spread
    t = width_trend(WIDTHS, [np.full(3, 5.0)] * 3, paper=(5.1, 6.4), slope_bound=0.0, falls=False)
    assert t.trend is Trend.UNDECIDED and t.outcome is ScaleOutcome.CANNOT_TELL, t.detail
    assert "identical values" in t.detail


def test_the_papers_own_network_on_the_ladder_is_read_directly_and_a_fit_elsewhere():
    values = ladder(lambda w: 0.02 / w)
    t = width_trend(WIDTHS, values, paper=(0.02, 0.03), slope_bound=-0.3)
    assert t.at_paper == pytest.approx(values[-1].mean()) and "measured at the paper's width" in t.detail
    narrow = np.array([0.0625, 0.125, 0.25])
    f = width_trend(narrow, ladder(lambda w: 0.02 / w, widths=narrow), paper=(0.02, 0.03), slope_bound=-0.3)
    assert "fitted at the paper's width" in f.detail and f.outcome is ScaleOutcome.CONSISTENT, f.detail


def test_a_bounded_distance_is_never_fitted_above_its_bound():
    narrow = np.array([0.0625, 0.125, 0.25])
    t = width_trend(narrow, ladder(lambda w: 0.6 * (w / 0.0625) ** 0.3, widths=narrow), paper=(0.15, 0.2),
                    slope_bound=-0.3, upper=1.0)
    assert t.at_paper <= 1.0 and t.at_paper_interval[1] <= 1.0 and t.trend is Trend.REJECTED, t.detail


def test_a_gain_that_can_be_negative_is_fitted_on_a_linear_axis():
    gains = [np.array([-0.02, 0.0, 0.01]), np.array([0.1, 0.12, 0.11]), np.array([0.3, 0.32, 0.31])]
    t = width_trend(WIDTHS, gains, paper=(0.35, 0.45), slope_bound=0.0, falls=False, log_values=False)
    assert t.trend is Trend.AS_PREDICTED and t.outcome is ScaleOutcome.FAILS, t.detail  # 0.31 < 0.35
    flat = width_trend(WIDTHS, [np.array([-0.01, 0.0, 0.01])] * 3, paper=(0.35, 0.45), slope_bound=0.0,
                       falls=False, log_values=False)
    assert flat.trend is Trend.UNDECIDED and flat.outcome is ScaleOutcome.FAILS, flat.detail
    with pytest.raises(ValueError, match="finite"):
        width_trend(WIDTHS, [np.array([np.nan])] * 3, (0.3, 0.4), 0.0, falls=False, log_values=False)


def test_every_prediction_names_its_quantity_network_bound_and_paper_value():
    assert PREDICTIONS
    for p in PREDICTIONS:
        assert p.network in ("resnet20", "vgg16") and p.reason and 0 < p.paper[0] <= p.paper[1]
        assert (p.slope_bound < 0) == p.falls
