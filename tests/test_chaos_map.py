"""The (t0, t1) map of the chaos effect (the paper's Fig. 3): each twin trained once and compared at every t1."""

import numpy as np
import pytest

from tests.conftest import TINY_TEST_EXAMPLES, tiny_config
from twophase_lib.cache import Cache
from twophase_lib.chaos import ChaosMap, run_chaos_map
from twophase_lib.executor import Executor
from twophase_lib.metrics import BarrierConfig
from twophase_lib.perturbation import Perturbation

BARRIER = BarrierConfig(points=2, bn_batches=1, bn_batch_size=16, train_examples=32, test_examples=32)


def tiny_map(**changes) -> ChaosMap:
    fields = dict(run=tiny_config(steps=12), t0s=(0, 4), t1s=(4, 8, 12), perturbation=Perturbation(1e-3),
                  seeds=(0, 1), control_t0=4, barrier=BARRIER, reference_seeds=(0,))
    fields.update(changes)
    return ChaosMap(**fields)


def test_a_map_holds_every_cell_after_t0_and_matches_a_one_t1_sweep(tmp_path):
    cache = Cache(tmp_path)
    res = run_chaos_map(tiny_map(), cache, Executor(0), progress=False)
    d = res.values["disagreement"]
    assert d.shape == (2, 2, 3)
    assert np.isnan(d[:, 1, 0]).all() and np.isfinite(d[:, 0, :]).all() and np.isfinite(d[:, 1, 1:]).all()
    assert res.control_is_exact and len(res.control) == 2 * 2  # two seeds, compared at t1 = 8 and 12
    assert res.disagreements.shape == (2, 2, 3, TINY_TEST_EXAMPLES)
    assert np.allclose(res.disagreements.mean(-1)[:, 0, :], d[:, 0, :])  # per-image disagreements average to it
    assert res.reference["disagreement"].shape == (1, 3)
    assert res.reference_disagreements.shape == (1, 3, TINY_TEST_EXAMPLES)
    # the same twin in a map of one t1 (seed 0 keeps the perturbation's own direction)
    one = ChaosMap(tiny_config(steps=12), (0, 4), (12,), Perturbation(1e-3), (0,), barrier=BARRIER)
    assert run_chaos_map(one, Cache(tmp_path / "fresh"), Executor(0), progress=False).values["disagreement"][0, 1, 0] \
        == d[0, 1, 2]


def test_fixed_window_slices_and_per_seed_directions(tmp_path):
    res = run_chaos_map(tiny_map(t1s=(4, 8, 12), t0s=(0, 4, 8)), Cache(tmp_path), Executor(0), progress=False)
    t0s, w = res.window("relative_distance", 4)
    assert list(t0s) == [0, 4, 8] and w.shape == (2, 3)
    assert w[0, 1] == res.values["relative_distance"][0, 1, 1]  # t0 = 4, t1 = 8
    assert res.reference_window("disagreement", 4).shape == (1, 3)
    assert res.window("disagreement_per_example", 4)[1].shape == (2, 3, TINY_TEST_EXAMPLES)
    with pytest.raises(ValueError, match="on the t1 grid"):
        res.window("disagreement", 5)
    m = tiny_map()
    assert m.perturbation_for(0) == m.perturbation and m.perturbation_for(1).seed != m.perturbation.seed


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        tiny_map(t1s=(8, 4))
    with pytest.raises(ValueError, match="before the last t1"):
        tiny_map(t0s=(0, 12))
    with pytest.raises(ValueError, match="past the run"):
        tiny_map(t1s=(4, 20))


def test_a_horizon_keeps_the_band_and_stops_each_twin_at_its_last_cell(tmp_path):
    cache = Cache(tmp_path)
    full = run_chaos_map(tiny_map(t0s=(0, 4, 8)), cache, Executor(0), progress=False)
    band = tiny_map(t0s=(0, 4, 8), horizon=4)
    assert band.cells() == [(0, 4), (4, 8), (8, 12)] and band.t1s_after(0) == (4,)
    res = run_chaos_map(band, Cache(tmp_path / "band"), Executor(0), progress=False)
    d = res.values["relative_distance"]
    assert np.isnan(d[:, 0, 1:]).all() and np.isfinite(d[:, 0, 0]).all()  # t0 = 0 only at t1 = 4
    # a twin stopped at its last cell is the same twin, bitwise, as the one trained on to the end
    assert np.array_equal(res.window("relative_distance", 4)[1], full.window("relative_distance", 4)[1])
    assert res.control_is_exact and len(res.control) == 2  # the control (t0 = 4) at t1 = 8 only, two seeds
    with pytest.raises(ValueError, match="positive"):
        tiny_map(horizon=0)
    with pytest.raises(ValueError, match="no t1"):
        tiny_map(t0s=(0, 4), t1s=(4, 12), horizon=4)


def test_the_cost_of_a_band_counts_each_twin_to_its_last_cell():
    from twophase_lib.costs import count_work

    full, band = count_work([tiny_map(t0s=(0, 4, 8))]), count_work([tiny_map(t0s=(0, 4, 8), horizon=4)])
    net = full.networks()[0]
    # twins: full 12 + 8 + 4 + control 8 = 32, band 4 + 4 + 4 + control 4 = 16, per seed; parents 12 per seed
    # and 12 for the reference network
    assert full.counts[(net, "steps")] == 2 * (32 + 12) + 12
    assert band.counts[(net, "steps")] == 2 * (16 + 12) + 12
    assert band.counts[(net, "comparisons")] == 2 * (3 + 1) + 3


def test_barriers_and_kernels_only_on_the_window_slices_asked_for(tmp_path):
    res = run_chaos_map(tiny_map(t0s=(0, 4), deltas=(4,), kernel_inputs=3), Cache(tmp_path), Executor(0),
                        progress=False)
    b, d, k = res.values["test_loss_barrier"], res.values["disagreement"], res.values["kernel_distance"]
    assert np.array_equal(np.isnan(b), np.isnan(k))
    assert np.isfinite(b[:, 0, 0]).all() and np.isfinite(b[:, 1, 1]).all()  # t1 − t0 = 4
    assert np.isnan(b[:, 0, 1:]).all() and np.isnan(b[:, 1, 2]).all()  # other cells: no barrier
    assert np.isfinite(d[:, 0, :]).all() and np.isfinite(d[:, 1, 1:]).all()  # every other metric everywhere
    assert np.isfinite(res.reference["test_loss_barrier"]).all()
    full = run_chaos_map(tiny_map(t0s=(0, 4), kernel_inputs=3), Cache(tmp_path / "full"), Executor(0),
                         progress=False)
    assert np.array_equal(k[:, 1, 1], full.values["kernel_distance"][:, 1, 1])
    assert np.array_equal(b[:, 0, 0], full.values["test_loss_barrier"][:, 0, 0])
    assert np.array_equal(d, full.values["disagreement"], equal_nan=True)


def test_several_maps_share_their_waves_and_give_what_each_gives_alone(tmp_path):
    from twophase_lib.chaos import run_chaos_maps

    maps = {"total": tiny_map(t0s=(0, 4), horizon=4), "entry": tiny_map(t0s=(0, 4), horizon=4, reference_seeds=(),
                                                                       control_t0=None,
                                                                       perturbation=Perturbation(1e-3, "entry"))}
    together = run_chaos_maps(maps, Cache(tmp_path / "a"), Executor(0), progress=False)
    for name, study in maps.items():
        alone = run_chaos_map(study, Cache(tmp_path / name), Executor(0), progress=False)
        for metric, v in alone.values.items():
            assert np.array_equal(v, together[name].values[metric], equal_nan=True), (name, metric)
    assert together["entry"].reference["disagreement"].shape == (0, 3)  # no reference pairs of its own


def test_the_twins_kernel_distance_only_on_the_slices_asked_for(tmp_path):
    study = tiny_map(t0s=(0, 4), deltas=(4, 8), kernel_deltas=(4,), kernel_inputs=3)
    assert study.has_kernel(0, 4) and not study.has_kernel(0, 8) and not study.has_kernel(0, 12)
    assert study.has_kernel(None, 8) and not study.has_kernel(None, 12)  # a reference pair at a t1 a slice reaches
    assert not tiny_map(deltas=(4,), kernel_deltas=(4,)).has_kernel(0, 4)  # no kernel inputs: no kernel
    res = run_chaos_map(study, Cache(tmp_path), Executor(0), progress=False)
    b, k = res.values["test_loss_barrier"], res.values["kernel_distance"]
    assert np.isfinite(k[:, 0, 0]).all() and np.isfinite(k[:, 1, 1]).all()  # t1 − t0 = 4
    assert np.isnan(k[:, 0, 1]).all() and np.isfinite(b[:, 0, 1]).all()  # Δ = 8: the barrier, no kernel
    ref = res.reference["kernel_distance"]
    assert np.isfinite(ref[:, :2]).all() and np.isnan(ref[:, 2]).all()
    with pytest.raises(ValueError, match="must be among the slices"):
        tiny_map(deltas=(4,), kernel_deltas=(8,))
    with pytest.raises(ValueError, match="must be among the slices"):
        tiny_map(kernel_deltas=(4,))  # no slices at all


def test_the_cost_counts_kernels_only_where_they_are_computed():
    from twophase_lib.costs import count_work

    every = count_work([tiny_map(t0s=(0, 4), deltas=(4, 8), kernel_inputs=3, horizon=8)])
    first = count_work([tiny_map(t0s=(0, 4), deltas=(4, 8), kernel_deltas=(4,), kernel_inputs=3, horizon=8)])
    net = every.networks()[0]
    # per seed: slice cells (0, 4), (0, 8), (4, 8), (4, 12), control (4, 8), (4, 12): 6 twins' kernels and the
    # parent's at t1 = 4, 8, 12; with Δ = 4 only: (0, 4), (4, 8), control (4, 8) and the parent's at 4 and 8
    # (the reference pair reaches 8 and 12 through Δ = 4's t1 only: 4 and 8)
    assert every.counts[(net, "kernels (3 inputs)")] == 2 * (6 + 3) + 3
    assert first.counts[(net, "kernels (3 inputs)")] == 2 * (3 + 2) + 2
    # predictions: each state's once (parents at every t1, twins at every cell)
    assert every.counts[(net, "predictions")] == 2 * (3 + 6) + 3


def test_reference_pairs_only_where_asked_and_their_networks_trained_only_that_far(tmp_path):
    from twophase_lib.costs import count_work

    some = tiny_map(reference_t1s=(4,))
    res = run_chaos_map(some, Cache(tmp_path), Executor(0), progress=False)
    every = run_chaos_map(tiny_map(), Cache(tmp_path), Executor(0), progress=False)
    assert some.reference_grid == (4,) and tiny_map().reference_grid == (4, 8, 12)
    d = res.reference["disagreement"]
    assert np.isfinite(d[:, 0]).all() and np.isnan(d[:, 1:]).all()
    assert np.array_equal(d[:, 0], every.reference["disagreement"][:, 0])
    assert np.array_equal(res.reference_disagreements[:, 0], every.reference_disagreements[:, 0])
    net = count_work([some]).networks()[0]
    # the reference network trains to t1 = 4, not 12: 8 steps fewer than with every t1
    assert count_work([tiny_map()]).counts[(net, "steps")] - count_work([some]).counts[(net, "steps")] == 8
    with pytest.raises(ValueError, match="must be on the t1 grid"):
        tiny_map(reference_t1s=(5,))


def test_growth_is_the_distance_over_the_realised_perturbation_and_its_rate_a_log_slope(tmp_path):
    from twophase_lib.chaos import growth

    res = run_chaos_map(tiny_map(t1s=(4, 8, 12), t0s=(0, 4), perturbation=Perturbation(1e-3)), Cache(tmp_path),
                        Executor(0), progress=False)
    g = growth(res)
    for rec in res.records:
        i, j, k = res.study.seeds.index(rec["seed"]), res.study.t0s.index(rec["t0"]), res.study.t1s.index(rec["t1"])
        assert g.amplification[i, j, k] == rec["l2_distance"] / rec["perturbation"]["realised_norm"]
    assert np.isnan(g.amplification[:, 1, 0]).all()  # t1 = 4 is not after t0 = 4
    # brute force: the least-squares slope of log A on t1 - t0 through the origin, seed 0, t0 = 0
    lags = np.array([4.0, 8.0, 12.0])
    y = np.log(g.amplification[0, 0])
    assert g.rate[0, 0] == pytest.approx(float(np.linalg.lstsq(lags[:, None], y, rcond=None)[0][0]), rel=1e-12)
    mean, lo, hi = g.rate_interval(0)
    assert lo <= mean <= hi and mean == pytest.approx(g.rate[:, 0].mean())
