"""The chaos sweep: exact ε = 0 control, caching and resumption, the inflection estimator."""

import math

import numpy as np
import pytest

from tests.conftest import tiny_config
from twophase_lib.cache import Cache
from twophase_lib.chaos import (ChaosSweep, bootstrap_inflection, inflection_point, log_grid, parent_checkpoints,
                                run_sweep)
from twophase_lib.metrics import BarrierConfig
from twophase_lib.perturbation import Perturbation

BC = BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=100, test_examples=200)


def small_sweep(**kw):
    cfg = tiny_config(steps=10)
    return ChaosSweep(run=cfg, t0s=(0, 2, 6), t1=10, perturbation=Perturbation(1e-2), seeds=(0, 1), barrier=BC, **kw)


def test_sweep_control_is_exact_and_perturbations_move(tmp_path):
    res = run_sweep(small_sweep(), Cache(tmp_path), progress=False)
    assert res.control_is_exact and len(res.control) == 2
    assert res.values["disagreement"].shape == (2, 3)
    assert (res.values["relative_distance"] > 0).all()
    for r in res.records:
        assert r["perturbation"]["realised_norm"] == pytest.approx(1e-2, rel=1e-3)


def test_twin_kernel_distance_is_zero_for_the_control_and_positive_for_perturbed_twins(tmp_path):
    from twophase_lib.chaos import checkpoint_kernel, kernel_at
    from twophase_lib.ntk import kernel_distance

    cache = Cache(tmp_path)
    sweep = small_sweep(kernel_inputs=4)
    res = run_sweep(sweep, cache, progress=False)
    assert res.values["kernel_distance"].shape == (2, 3)
    assert all(c["kernel_distance"] == 0.0 for c in res.control) and res.control_is_exact
    assert (res.values["kernel_distance"] > 0).all()
    # the cached value is S(parent kernel at t1, child kernel at t1), recomputed here from the checkpoints
    run = sweep.runs()[1]
    from twophase_lib.chaos import branch_checkpoint

    child, _ = branch_checkpoint(run, 2, 10, sweep.perturbation, cache, progress=False)
    expect = kernel_distance(kernel_at(run, 10, 4, "full", cache, progress=False), checkpoint_kernel(run, child, 4, "full"))
    assert res.values["kernel_distance"][1, 1] == expect
    with pytest.raises(ValueError, match="unknown eNTK mode"):
        small_sweep(kernel_inputs=4, kernel_mode="diag")


def test_sweep_is_cached_and_resumes(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    first = run_sweep(small_sweep(), cache, progress=False)
    import twophase_lib.chaos as chaos

    def boom(*a, **k):
        raise AssertionError("nothing should be retrained")

    monkeypatch.setattr(chaos, "train", boom)
    monkeypatch.setattr(chaos, "branch", boom)
    again = run_sweep(small_sweep(), cache, progress=False)
    assert np.array_equal(first.values["dissimilarity"], again.values["dissimilarity"])


def test_interrupted_sweep_recomputes_only_missing_branches(tmp_path):
    cache = Cache(tmp_path)
    sweep = small_sweep()
    run_sweep(sweep, cache, progress=False)
    files = sorted((tmp_path / "chaos-metrics").glob("*.pt"))
    files[0].unlink()
    assert any((tmp_path / "branch").iterdir())  # the branches themselves are stored too
    mtimes = {p: p.stat().st_mtime_ns for p in files[1:]}
    run_sweep(sweep, cache, progress=False)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert files[0].exists()


def test_parent_resumes_from_cached_checkpoint_bitwise(tmp_path):
    import torch

    cfg = tiny_config(steps=10)
    cache = Cache(tmp_path)
    direct = parent_checkpoints(cfg, [10], Cache(tmp_path / "other"), progress=False)[10]
    parent_checkpoints(cfg, [4], cache, progress=False)
    resumed = parent_checkpoints(cfg, [4, 10], cache, progress=False)[10]
    assert all(torch.equal(direct.model[k], resumed.model[k]) for k in direct.model)


def test_sweep_validates_times():
    with pytest.raises(ValueError, match="t0"):
        ChaosSweep(run=tiny_config(steps=10), t0s=(0, 12), t1=10)
    with pytest.raises(ValueError, match="past the run"):
        ChaosSweep(run=tiny_config(steps=10), t0s=(0,), t1=20)


def test_log_grid():
    g = log_grid(400, 6)
    assert g[0] == 0 and g[-1] == 400 and list(g) == sorted(set(g)) and len(g) == 6


def test_inflection_point_interpolates_in_log_time():
    t0s = np.array([0, 9, 99, 999])
    assert inflection_point(t0s, np.array([1.0, 0.9, 0.5, 0.1])) == pytest.approx(99)
    # halfway (in log(1 + t)) between 9 and 99 when the curve crosses 0.5 halfway between 0.7 and 0.3
    assert inflection_point(t0s, np.array([1.0, 0.7, 0.3, 0.1])) == pytest.approx(math.expm1((math.log(10) + math.log(100)) / 2))
    assert math.isnan(inflection_point(t0s, np.array([1.0, 0.9, 0.8, 0.7])))
    assert math.isnan(inflection_point(t0s, np.array([0.0, 0.0, 0.0, 0.0])))


def test_bootstrap_interval_contains_estimate():
    t0s = np.array([0, 10, 100, 1000])
    rng = np.random.default_rng(0)
    per_seed = np.array([1.0, 0.8, 0.3, 0.05]) + 0.05 * rng.standard_normal((5, 4))
    out = bootstrap_inflection(t0s, per_seed, samples=300)
    assert out["low"] <= out["estimate"] <= out["high"]
    identical = bootstrap_inflection(t0s, np.tile([1.0, 0.8, 0.3, 0.05], (3, 1)), samples=50)
    assert identical["low"] == pytest.approx(identical["high"])
