"""Chapter 2 and 3 studies on tiny runs, and the generated report pages."""

import numpy as np
import pytest

from tests.conftest import tiny_config
from twophase_lib.cache import Cache
from twophase_lib.cone import ConeStudy, run_study
from twophase_lib.linearize import SwitchStudy, run_switch_study
from twophase_lib.reporting import cone_summary, rerun_markdown, scorecard_markdown, switch_summary


def test_cone_study_on_a_tiny_run(tmp_path):
    study = ConeStudy(tiny_config(steps=8), steps=(0, 2, 4, 8), refs=(2,), seeds=(0, 1), n_inputs=3)
    res = run_study(study, Cache(tmp_path), progress=False)
    assert res.matrices.shape == (2, 4, 4)
    assert np.allclose(res.matrices[:, range(4), range(4)], 0, atol=1e-12)
    assert np.allclose(res.matrices, res.matrices.transpose(0, 2, 1))
    assert (res.matrices[:, 0, 1:] > 0).all()
    assert res.velocity.shape == (2, 3)
    assert res.velocity[0, 2] == pytest.approx(res.matrices[0, 2, 3] / 4)
    t, s = res.from_reference(2)
    assert list(t) == [2, 4, 8] and s.shape == (2, 3) and np.allclose(s[:, 0], 0, atol=1e-12)
    summary = cone_summary("smoke", {"resnet20": res})
    assert summary["verdict"] in ("reproduced", "partly", "not reproduced") and "S(τ, T)" in summary["table"]


def test_cone_study_validates():
    with pytest.raises(ValueError, match="reference"):
        ConeStudy(tiny_config(steps=8), steps=(0, 4, 8), refs=(2,))
    with pytest.raises(ValueError, match="increasing"):
        ConeStudy(tiny_config(steps=8), steps=(0, 8, 4), refs=(4,))


def test_switch_study_on_a_tiny_run(tmp_path):
    study = SwitchStudy(tiny_config(steps=8), switches=(0, 4, 8), seeds=(0,))
    res = run_switch_study(study, Cache(tmp_path), progress=False)
    assert res.accuracy.shape == (1, 3) and ((0 <= res.accuracy) & (res.accuracy <= 1)).all()
    # t = T is the standard run itself: its accuracy is the parent's
    from twophase_lib.chaos import parent_checkpoints
    from twophase_lib.data import load_data
    from twophase_lib.training import evaluate, materialise

    run = study.run.replace(seed=0)
    parent = parent_checkpoints(run, [8], Cache(tmp_path), progress=False)[8]
    acc = evaluate(materialise(run, parent), load_data(run.data), "test")["accuracy"]
    assert res.accuracy[0, -1] == pytest.approx(acc, abs=1e-9)
    summary = switch_summary("smoke", {"resnet20": res})
    assert "Spearman" in summary["table"]
    with pytest.raises(ValueError, match="end at T"):
        SwitchStudy(tiny_config(steps=8), switches=(0, 4))


def test_scorecard_lists_claims_and_only_profiles_run(tmp_path):
    cache = Cache(tmp_path)
    empty = scorecard_markdown(cache)
    assert empty.count("not run yet") == 3
    cache.save("switch-summary", "cpu", {"verdict": "partly", "archs": {"resnet20": {
        "accuracy_mean": [0.3, 0.4, 0.5], "switches": [0, 10, 20], "spearman": 1.0}}})
    page = scorecard_markdown(cache)
    assert page.count("not run yet") == 2 and "**partly**" in page and "`cpu`" in page and "`paper`" not in page
    assert "0.300" in page and "chapters/03_linearized_switch.ipynb" in page


def test_rerun_page_shows_measured_times_only():
    page = rerun_markdown({"01_chaos_effect": {"cpu": {"seconds": 90.0, "machine": "2 CPU cores, x86_64"}}})
    assert "1.5 min (2 CPU cores, x86_64)" in page and page.count("not measured yet") == 2
    noted = rerun_markdown({"01_chaos_effect": {"cpu": {"seconds": 90.0, "machine": "2 CPU cores", "note": "a sum"}}})
    assert "1.5 min (2 CPU cores; a sum)" in noted
