"""Recorded judgements (issue 33): a verdict's measurements stored compactly and exactly, judged again to bitwise the
same verdict, and, after a rule changes, to the new rule's verdict without recomputing anything."""

import json

import numpy as np
import pytest

from twophase_book.summary import PRIMARY, Cell, ClaimSummary, Number, check_numbers, recorded
from twophase_lib import verdicts
from twophase_lib.chaos import judge_window
from twophase_lib.cone import judge_lags
from twophase_lib.judgements import JUDGES, Judgement, decode_array, encode_array, judge
from twophase_lib.switch import judge_switch
from twophase_lib.verdicts import lag_cone_verdict, paired_switch_verdict


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            and np.array_equal(np.signbit(a), np.signbit(b)))


@pytest.mark.parametrize("x", [
    np.array([[True, False, True]]), np.random.default_rng(0).random((3, 5, 7)) < 0.5,
    np.array([[1.0, np.nan, 0.0], [0.0, 1.0, np.nan]]), np.array([0.25, -0.0, np.inf, -np.inf, np.nan, 1e-300]),
    np.zeros((0, 4)), np.array(3.5), np.arange(20).reshape(4, 5)])
def test_arrays_round_trip_exactly_through_json(x):
    record = json.loads(json.dumps(encode_array(x)))
    want = np.asarray(x)
    want = want.astype(np.int64) if want.dtype.kind in "iu" else want
    assert _same(decode_array(record), want)


def test_scores_of_one_bit_take_a_bit_each():
    scores = np.random.default_rng(1).random((3, 1017, 10)) < 0.3  # three seeds' per-image disagreement, ten t0s
    record = encode_array(scores)
    assert "bits" in record and len(json.dumps(record)) < scores.size / 8 * 1.4  # base64 of packed bits
    with pytest.raises(ValueError, match="not an encoded array"):
        decode_array({"shape": [1]})


def _verdict_json(v) -> str:
    return json.dumps([str(v.outcome), [(c.name, c.passed, c.decided, c.applicable, c.margin, c.interval, c.detail)
                                        for c in v.checks]], default=float)


def _window_measurements(late: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    t0s = np.array([0, 4, 8, 16, 32])
    rate = np.array([0.6, 0.5, 0.3, 0.1, late])
    per_image = rng.random((3, 5, 400)) < rate[None, :, None]
    reference_images = rng.random((4, 400)) < 0.6
    return dict(t0s=t0s, per_seed=per_image.mean(2), reference_per_pair=reference_images.mean(1),
                control_exact=True, delta=8, per_image=per_image, reference_images=reference_images)


def _lag_measurements():
    rng = np.random.default_rng(2)
    lags = np.array([50, 100, 200, 400])
    early = 0.3 + 0.2 * np.log(lags / 50)[None] + 0.02 * rng.standard_normal((3, 4))
    late = 0.02 + 0.005 * np.log(lags / 50)[None] + 0.002 * rng.standard_normal((3, 4))
    return dict(lags=lags, early=early, late=late, travelled=0.4 + 0.01 * rng.standard_normal(3),
                calibration=np.array([0.7, 0.72]))


def _switch_measurements():
    rng = np.random.default_rng(3)
    switches = np.array([0, 50, 100, 200, 400])
    acc = np.array([0.2, 0.25, 0.4, 0.45, 0.5])
    correct = (rng.random((3, 300, 5)) < acc).astype(float)
    parent = (rng.random((3, 300, 5)) < acc - 0.1).astype(float)
    frozen = (rng.random((3, 300, 5)) < acc - 0.05).astype(float)
    frozen[1, :, 2] = np.nan  # a control run that diverged
    return dict(switches=switches, correct=correct, inflection=60.0, parent_correct=parent, frozen_correct=frozen,
                chance=0.1)


def test_each_judging_function_is_its_rule_on_the_measurements_and_judges_again_to_the_same_verdict():
    from twophase_lib.verdicts import bootstrap_means

    w = _window_measurements()
    v = judge_window(**w)
    reps = bootstrap_means(np.moveaxis(w["per_image"].astype(float), 2, 1))
    ref_reps = bootstrap_means(w["reference_images"][:, :, None].astype(float), seed=1)[:, 0]
    direct = verdicts.window_chaos_verdict(w["t0s"], w["per_seed"].mean(0), reps, float(w["reference_per_pair"].mean()),
                                           ref_reps, True, 8, 3, 4)
    assert _verdict_json(v) == _verdict_json(direct)

    g = _lag_measurements()
    v2 = judge_lags(**g)
    rng = np.random.default_rng(0)  # the resamples lag_reading drew before the split: seeds, then the pairs
    idx = rng.integers(0, 3, size=(2000, 3))
    cal_reps = g["calibration"][rng.integers(0, 2, size=(2000, 2))].mean(1)
    direct2 = lag_cone_verdict(g["lags"], g["early"].mean(0), g["early"][idx].mean(1), g["late"].mean(0),
                               g["late"][idx].mean(1), float(g["travelled"].mean()), g["travelled"][idx].mean(1), 3,
                               float(g["calibration"].mean()), cal_reps, 2)
    assert _verdict_json(v2) == _verdict_json(direct2)

    s = _switch_measurements()
    v3 = judge_switch(**s)
    assert _verdict_json(v3) == _verdict_json(paired_switch_verdict(
        s["switches"], s["correct"], 60.0, s["parent_correct"], s["frozen_correct"], chance=0.1))

    assert sorted({x.judgement.judge for x in (v, v2, v3)}) == sorted(JUDGES)
    for x in (v, v2, v3):
        stored = json.loads(json.dumps(x.judgement.to_dict()))
        assert _verdict_json(judge(stored)) == _verdict_json(x)
    with pytest.raises(ValueError, match="unknown judging function"):
        judge(Judgement("chaos_verdict", {}))


def _summary():
    judged = [judge_window(**_window_measurements(seed=s)) for s in (0, 1)]
    lags = judge_lags(**_lag_measurements())
    cells = [Cell("ResNet-20", PRIMARY, str(verdicts.combine([v.outcome for v in judged])), "two windows",
                  [Number("disagreement, t0 = 0", 0.6, 0.5, 0.7), *check_numbers(judged[0], "Δ = 8: "),
                   *check_numbers(judged[1], "Δ = 16: ")],
                  recorded(judged[0], "Δ = 8: ") + recorded(judged[1], "Δ = 16: ")),
             Cell("VGG-16", PRIMARY, str(lags.outcome), "lags", [*check_numbers(lags)], recorded(lags)),
             Cell("VGG-16", "step schedule (extension)", "measured", "no rule", [])]
    return ClaimSummary("chaos", "smoke", str(verdicts.combine([c.outcome for c in cells[:2]])), cells)


def test_a_summary_judged_again_by_unchanged_rules_is_itself_bitwise():
    s = _summary()
    stored = ClaimSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert json.dumps(stored.rejudged().to_dict()) == json.dumps(s.to_dict())
    assert len(json.dumps(s.to_dict())) < 40_000  # kilobytes, not the replicates' megabytes


def test_a_changed_rule_rejudges_the_recorded_measurements_without_recomputing(monkeypatch):
    s = ClaimSummary.from_dict(json.loads(json.dumps(_summary().to_dict())))
    assert s.cells[0].outcome == "reproduced"
    # a stricter "stable late": the last level must be under a thousandth of the first t0's
    monkeypatch.setattr(verdicts.chaos, "MAX_LATE_SHARE", 0.001)
    again = s.rejudged()
    assert again.cells[0].outcome == "partly" and "re-judged by the current rules: partly" in again.cells[0].headline
    assert again.cells[1].outcome == s.cells[1].outcome and again.cells[2] == s.cells[2]  # no chaos rule there
    assert again.verdict == "partly"
    margins = {n.quantity: n.value for n in again.cells[0].numbers}
    assert margins != {n.quantity: n.value for n in s.cells[0].numbers}  # the deciding margins are the new rule's
    # a summary whose primary cells recorded nothing keeps its verdict
    bare = ClaimSummary("chaos", "smoke", "reproduced", [Cell("ResNet-20", PRIMARY, "reproduced", "old run")])
    assert bare.rejudged() == bare


def test_decided_by_names_what_decided_a_verdict():
    """A verdict reached with a deciding check not testable says so beside "passing", never as its only reason."""
    from twophase_book.summary import decided_by
    from twophase_lib.verdicts import SwitchCheck
    from twophase_lib.verdicts.outcomes import Check, Verdict

    ok = Check(SwitchCheck.ZERO_IS_WORST, True, "", interval=(0.1, 0.2))
    untestable = Check(SwitchCheck.BEYOND_FROZEN_BATCH_NORM, False, "", applicable=False)
    failed = Check(SwitchCheck.GROWS_WITH_T, False, "", interval=(-0.2, -0.1))
    undecided = Check(SwitchCheck.CONE_PHASE_MATTERS, True, "", interval=(-0.1, 0.1))
    assert decided_by(Verdict("reproduced", [ok])) == "every deciding check passing"
    assert decided_by(Verdict("reproduced", [ok, untestable])) == \
        f"every testable deciding check passing ({SwitchCheck.BEYOND_FROZEN_BATCH_NORM.value} not testable)"
    assert decided_by(Verdict("partly", [ok, failed, untestable])) == \
        f"{SwitchCheck.GROWS_WITH_T.value} failing; {SwitchCheck.BEYOND_FROZEN_BATCH_NORM.value} not testable"
    assert decided_by(Verdict("inconclusive", [ok, undecided])) == f"{SwitchCheck.CONE_PHASE_MATTERS.value} undecided"
