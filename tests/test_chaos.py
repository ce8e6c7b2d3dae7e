"""The chaos map: exact ε = 0 control, schedules sharing their prefix, reference pairs, caching, resume, the
inflection."""

import math

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config, with_schedule
from twophase_lib.cache import Cache
from twophase_lib.chaos import ChaosMap, Reference, reference_partner, run_chaos_map, run_chaos_maps
from twophase_lib.executor import Executor
from twophase_lib.metrics import BarrierConfig
from twophase_lib.perturbation import Perturbation
from twophase_lib.store import State, checkpoint_kernel, child_checkpoint, kernel_at, parent_checkpoints
from twophase_lib.training import compute_threads
from twophase_lib.verdicts import inflection_point

BC = BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=100, test_examples=200)
HERE = Executor(0)  # in this process: unit tests stay fast


def small_map(schedule="step", **kw):
    cfg = with_schedule(tiny_config(steps=10), schedule)  # step schedule: lr drop at 5
    kw = {"control_t0": 2, **kw}
    return ChaosMap(run=cfg, t0s=(0, 2, 4), t1s=(5, 10), perturbation=Perturbation(1e-2), seeds=(0, 1), barrier=BC,
                    **kw)


def test_map_control_is_exact_and_perturbations_move(tmp_path):
    res = run_chaos_map(small_map(), Cache(tmp_path), HERE, progress=False)
    assert res.control_is_exact and len(res.control) == 2 * 2  # two seeds, compared at t1 = 5 and 10
    assert res.values["disagreement"].shape == (2, 3, 2)
    assert (res.values["relative_distance"] > 0).all()
    for r in res.records:
        assert r["perturbation"]["realised_norm"] == pytest.approx(1e-2, rel=1e-3)


def test_a_map_without_control_is_not_called_exact(tmp_path):
    res = run_chaos_map(small_map(control_t0=None), Cache(tmp_path), HERE, progress=False)
    assert not res.control and not res.control_is_exact


def test_schedules_share_the_child_before_the_drop_and_it_changes_nothing(tmp_path):
    cache = Cache(tmp_path)
    out = run_chaos_maps({"step": small_map("step"), "constant": small_map("constant")}, cache, HERE,
                         progress=False)
    shared = list((tmp_path / "child").glob("*.pt"))
    # children cached at the shared step 5 (one per seed and t0 < 5, plus controls) and at t1 = 10 per schedule
    assert len(shared) == 2 * (3 + 1) + 2 * 2 * (3 + 1)
    # the constant-lr child at t1 via the shared step equals one trained straight from its t0 in a fresh cache
    study = small_map("constant")
    run = study.run.replace(seed=1)
    state = State(run, 10, 2, study.perturbation_for(1))
    via, _ = child_checkpoint(state, cache, via=(5,))
    direct, _ = child_checkpoint(state, Cache(tmp_path / "fresh"))
    assert all(torch.equal(via.model[k], direct.model[k]) for k in direct.model)
    step, constant = (out[k].values["dissimilarity"] for k in ("step", "constant"))
    assert np.array_equal(step[:, :, 0], constant[:, :, 0]) and not np.array_equal(step[:, :, 1], constant[:, :, 1])


def test_reference_pairs_differ_in_what_they_say(tmp_path):
    run = small_map().run
    init, order = reference_partner(run, Reference.INDEPENDENT_INIT), reference_partner(run, "data order")
    assert init.seed != 0 and init.batch_seed == 0
    assert order.seed == 0 and order.batch_seed != 0
    cache = Cache(tmp_path)
    both = run_chaos_maps({k: small_map(reference_seeds=(0,), reference_kind=k) for k in Reference}, cache, HERE,
                          progress=False)
    a, b = (both[k].reference["dissimilarity"][0] for k in Reference)
    assert (a > 0).all() and (b > 0).all() and not np.array_equal(a, b)
    assert both[Reference.DATA_ORDER].study.reference_kind is Reference.DATA_ORDER
    assert np.isnan(run_chaos_map(small_map(), cache, HERE, progress=False).reference["disagreement"]).all()
    with pytest.raises(ValueError, match="unknown reference pair"):
        small_map(reference_kind="other seed")


def test_pool_of_workers_gives_bitwise_the_same_results(tmp_path):
    maps = {"step": small_map("step"), "constant": small_map("constant")}
    here = run_chaos_maps(maps, Cache(tmp_path / "a"), HERE, progress=False)
    with Executor(2) as pool:
        there = run_chaos_maps(maps, Cache(tmp_path / "b"), pool, progress=False)
    for name in maps:
        for metric, values in here[name].values.items():
            assert np.array_equal(values, there[name].values[metric], equal_nan=True), (name, metric)


def test_twin_kernel_distance_is_zero_for_the_control_and_positive_for_perturbed_twins(tmp_path):
    from twophase_lib.ntk import kernel_distance

    cache = Cache(tmp_path)
    study = small_map(kernel_inputs=4)
    res = run_chaos_map(study, cache, HERE, progress=False)
    assert res.values["kernel_distance"].shape == (2, 3, 2)
    assert all(c["kernel_distance"] == 0.0 for c in res.control) and res.control_is_exact
    assert (res.values["kernel_distance"] > 0).all()
    run = study.run.replace(seed=1)
    child, _ = child_checkpoint(State(run, 10, 2, study.perturbation_for(1)), cache, via=(5, 10))
    with compute_threads():  # as every cached computation
        expect = kernel_distance(kernel_at(run, 10, 4, "full", cache), checkpoint_kernel(run, child, 4, "full"))
    assert res.values["kernel_distance"][1, 1, 1] == expect
    with pytest.raises(ValueError, match="unknown eNTK mode"):
        small_map(kernel_inputs=4, kernel_mode="diag")


def test_map_is_cached_and_resumes(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    first = run_chaos_map(small_map(), cache, HERE, progress=False)
    import twophase_lib.store as store

    def boom(*a, **k):
        raise AssertionError("nothing should be retrained")

    monkeypatch.setattr(store, "train", boom)
    again = run_chaos_map(small_map(), cache, HERE, progress=False)
    assert np.array_equal(first.values["dissimilarity"], again.values["dissimilarity"])


def test_interrupted_map_recomputes_only_missing_comparisons(tmp_path):
    cache = Cache(tmp_path)
    study = small_map()
    run_chaos_map(study, cache, HERE, progress=False)
    files = sorted((tmp_path / "pair").glob("*.pt"))
    files[0].unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in files[1:]}
    run_chaos_map(study, cache, HERE, progress=False)
    assert all(p.stat().st_mtime_ns == m for p, m in mtimes.items())
    assert files[0].exists()


def test_parent_resumes_from_cached_checkpoint_bitwise(tmp_path):
    cfg = tiny_config(steps=10)
    cache = Cache(tmp_path)
    direct = parent_checkpoints(cfg, [10], Cache(tmp_path / "other"))[10]
    parent_checkpoints(cfg, [4], cache)
    resumed = parent_checkpoints(cfg, [4, 10], cache)[10]
    assert all(torch.equal(direct.model[k], resumed.model[k]) for k in direct.model)


def test_new_steps_between_cached_ones_train_only_the_gaps_bitwise(tmp_path, monkeypatch):
    from twophase_lib import store

    cfg = tiny_config(steps=12)
    cache = Cache(tmp_path)
    direct = parent_checkpoints(cfg, [2, 6, 9, 12], Cache(tmp_path / "other"))
    parent_checkpoints(cfg, [4, 8, 12], cache)
    spans = []
    real = store.train

    def spy(run, until, start=None, **kw):
        spans.append((0 if start is None else start.step, until))
        return real(run, until=until, start=start, **kw)

    monkeypatch.setattr(store, "train", spy)
    got = parent_checkpoints(cfg, [2, 4, 6, 8, 9, 12], cache)
    assert spans == [(0, 2), (4, 6), (8, 9)]  # three gaps, not one run from 0 to 9
    for s in (2, 6, 9, 12):
        assert all(torch.equal(direct[s].model[k], got[s].model[k]) for k in direct[s].model)


def test_map_validates_times():
    with pytest.raises(ValueError, match="t0"):
        ChaosMap(run=tiny_config(steps=10), t0s=(0, 12), t1s=(10,))
    with pytest.raises(ValueError, match="past the run"):
        ChaosMap(run=tiny_config(steps=10), t0s=(0,), t1s=(20,))


def test_the_inflection_is_the_first_grid_point_where_the_curve_has_halved():
    t0s = np.array([0, 9, 99, 999])
    assert inflection_point(t0s, np.array([1.0, 0.9, 0.5, 0.1])) == 99
    assert inflection_point(t0s, np.array([1.0, 0.7, 0.3, 0.1])) == 99  # crossed between 9 and 99: no finer claim
    assert inflection_point(t0s, np.array([1.0, 0.4, 0.3, 0.1])) == 9
    assert math.isnan(inflection_point(t0s, np.array([1.0, 0.9, 0.8, 0.7])))
    assert math.isnan(inflection_point(t0s, np.array([0.0, 0.0, 0.0, 0.0])))
