"""The switch study's controls (issue 21): the network trained on with batch norm frozen at t, and the linearized
model at a smaller lr."""

import pytest
import torch

from tests.conftest import TINY_TEST_EXAMPLES, tiny_config
from twophase_lib.cache import Cache
from twophase_lib.executor import Executor
from twophase_lib.linearize import FrozenBatchNorm, SwitchArm, train_linearized
from twophase_lib.store import evaluation_model, parent_at
from twophase_lib.switch import SwitchStudy, run_switch_studies


def test_arms_share_the_end_point_and_differ_after_a_switch(tmp_path):
    cache = Cache(tmp_path)
    run = tiny_config(steps=12).replace(optim={"milestones": ()})
    studies = {arm: SwitchStudy(run, (0, 6, 12), (0,), arm=arm, train_examples=32) for arm in SwitchArm}
    studies["slow"] = SwitchStudy(run, (0, 6, 12), (0,), lr_scale=0.1, train_examples=32)
    out = run_switch_studies(studies, cache, Executor(0), progress=False)
    lin, frozen, slow = out[SwitchArm.LINEARIZED], out[SwitchArm.FROZEN_BATCH_NORM], out["slow"]
    # at t = T nothing trains after the switch: every arm evaluates the same network
    assert lin.accuracy[0, -1] == frozen.accuracy[0, -1] == slow.accuracy[0, -1]
    assert lin.loss[0, 0] != frozen.loss[0, 0] and lin.loss[0, 0] != slow.loss[0, 0]
    # per-image correctness, averaging to the accuracy
    assert lin.correct.shape == (1, TINY_TEST_EXAMPLES, 3) and (lin.correct.mean(1) == lin.accuracy).all()
    # the linearized arm at the run's lr keeps the key the first switch study used
    assert cache.path("switch", (run.prefix(12), 0, False, 32)).exists()


def test_frozen_batch_norm_trains_the_network_in_eval_mode():
    run = tiny_config(steps=6).replace(optim={"milestones": ()})
    base = parent_at(run, 2, Cache())
    result = train_linearized(run, base, arm=SwitchArm.FROZEN_BATCH_NORM, progress=False)
    assert any(not torch.equal(result.final.model[k], base.model[k]) for k in base.model if "conv" in k)
    frozen_at_t = evaluation_model(run, base).state_dict()  # statistics re-estimated at t ...
    for k in (k for k in base.model if k.endswith(("running_mean", "running_var"))):
        assert torch.equal(result.final.model[k], frozen_at_t[k])  # ... and never updated by training
    model = FrozenBatchNorm(torch.nn.BatchNorm1d(3))
    model.train()
    assert model.training and not model.net.training
    with pytest.raises(ValueError, match="lr_scale"):
        SwitchStudy(run, (0, 6), lr_scale=0)


@pytest.mark.parametrize("arm", list(SwitchArm))
def test_a_resumed_switched_run_is_bitwise_the_uninterrupted_one(arm):
    run = tiny_config(steps=10)  # momentum, weight decay and an lr drop at 5 (tiny_config's milestone)
    base = parent_at(run, 2, Cache())
    whole = train_linearized(run, base, arm=arm, progress=False, save_at=(5,))
    assert set(whole.checkpoints) == {5, 10} and whole.checkpoints[5].optimizer
    resumed = train_linearized(run, base, arm=arm, progress=False, start=whole.checkpoints[5])
    assert set(resumed.losses) == set(range(5, 10))
    assert all(torch.equal(whole.final.model[k], resumed.final.model[k]) for k in whole.final.model)
    with pytest.raises(ValueError, match="resumed"):
        train_linearized(run, parent_at(run, 6, Cache()), progress=False, start=whole.checkpoints[5])


def test_a_step_schedule_resumes_the_constant_lr_switched_runs_at_its_first_drop(tmp_path):
    cache = Cache(tmp_path)
    step = tiny_config(steps=12).replace(optim={"milestones": (8, 10)})
    constant = step.replace(optim={"milestones": ()})
    studies = {"constant": SwitchStudy(constant, (0, 4, 12), (0,), train_examples=32, via=(8,)),
               "step": SwitchStudy(step, (0, 4, 12), (0,), train_examples=32, via=(8,))}
    out = run_switch_studies(studies, cache, Executor(0), progress=False)
    # the switched runs' states at the first drop were cached once (the key holds no milestone at or after 8)
    assert len(list((tmp_path / "switch_state").glob("*"))) == 2
    # the step schedule's results equal those of a cold run without the shared state
    alone = run_switch_studies({"step": SwitchStudy(step, (0, 4, 12), (0,), train_examples=32)},
                               Cache(tmp_path / "cold"), Executor(0), progress=False)["step"]
    assert (out["step"].accuracy == alone.accuracy).all() and (out["step"].loss == alone.loss).all()
    assert (out["step"].accuracy != out["constant"].accuracy).any()  # the drops changed something
    with pytest.raises(ValueError, match="cached steps"):
        SwitchStudy(step, (0, 4, 12), via=(12,))


def test_a_diverged_switched_run_enters_no_curve_and_says_so(tmp_path):
    # a linearized run whose loss becomes NaN: its "accuracy" used to be the share of one class (NaN logits argmax
    # to class 0), read as a result; now it is flagged, NaN, and left out of paired differences
    import math

    import numpy as np

    from twophase_lib.switch import paired_difference

    cfg = tiny_config(steps=8).replace(optim={"milestones": ()})
    cache = Cache(tmp_path)
    studies = {"sane": SwitchStudy(cfg, (0, 4, 8), (0,)), "wild": SwitchStudy(cfg, (0, 4, 8), (0,), lr_scale=1e12)}
    res = run_switch_studies(studies, cache, Executor(0), progress=False)
    sane, wild = res["sane"], res["wild"]
    assert not sane.diverged.any() and np.isfinite(sane.accuracy).all()
    assert wild.diverged[0, 0] and math.isnan(wild.accuracy[0, 0])
    assert wild.records[0]["diverged_at"] is not None and wild.records[0]["diverged_at"] >= 0
    assert all(math.isnan(x) for x in paired_difference(sane, 0, wild))
    assert not wild.diverged[0, -1]  # T: standard training, no switch


def test_a_diverged_standard_run_is_refused_at_the_iteration_it_happened():
    from twophase_lib.training import DivergedError, train

    cfg = tiny_config(steps=8).replace(optim={"lr": 1e12, "milestones": ()})
    how = r"(became (nan|inf)|exploded to \S+, over 1e\+04 times its loss at initialisation \S+,)"
    with pytest.raises(DivergedError, match=rf"the training loss {how} at iteration \d") as e:
        train(cfg, progress=False)
    assert 0 <= e.value.step < 8


def test_a_loss_that_explodes_but_stays_finite_is_divergence_too():
    from twophase_lib.training import LOSS_EXPLOSION_FACTOR, DivergedError, first_diverged, train

    assert first_diverged({0: 2.3, 1: 5.0, 2: 60.0}, 2.3) is None  # a spike of a working run
    assert first_diverged({3: 84.0, 4: 9e3, 5: 84.0 * LOSS_EXPLOSION_FACTOR * 1.01, 6: 4e21}, 84.0) == 5
    assert first_diverged({0: 2.3, 1: float("nan")}, 2.3) == 1 and first_diverged({0: float("inf")}, 2.3) == 0
    assert first_diverged({0: 0.0, 1: 1e9}, 0.0) is None  # no scale to read an explosion against
    # the bound is the run's loss at initialisation, not the first loss of the stretch: a late stretch starting at
    # 1e-4 whose loss spikes to 2.7 (a working run's label noise) has not diverged
    assert first_diverged({180: 1.6e-4, 193: 2.73}, 3.3) is None
    cfg = tiny_config(steps=40).replace(optim={"lr": 50.0, "milestones": ()})
    with pytest.raises(DivergedError, match=r"exploded to \S+, over 1e\+04 times its loss at initialisation") as e:
        train(cfg, progress=False)
    assert 0 < e.value.step < 15  # before the loss reaches NaN (iteration 15)


def _late_spike_run():
    """A working run (an MLP on a wide-margin problem with 3% label noise, lr 0.01, batch 4) whose loss falls to
    ~1e-4 by iteration 180 and then spikes to 2.7 on a mislabelled batch, under its initial 3.3: 10⁴ times the loss
    at 180, nowhere near 10⁴ times the run's initial one (found by a user's check of the switch study)."""
    import torch
    from torch import nn

    from twophase_lib import OptimConfig, RunConfig, Task, TensorData

    g = torch.Generator().manual_seed(5)
    x = torch.randn(400, 10, generator=g)
    y = (x[:, 0] > 0).long()
    x[:, 0] += torch.where(y.bool(), 12.0, -12.0)
    y = torch.where(torch.rand(400, generator=g) < 0.03, 1 - y, y)
    task = Task("mlp-late-spike", lambda: nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 2)),
                TensorData("late-spike", x[:300], y[:300], x[300:], y[300:]))
    return RunConfig(task=task, optim=OptimConfig(lr=0.01, batch_size=4, steps=300, milestones=()), seed=1)


def test_whether_a_run_diverged_does_not_depend_on_where_it_was_resumed():
    """A run resumed from its state at 180 used to be refused as exploded (its loss 2.73 at 193 is over 10⁴ times
    its stretch's first, 1.6e-4) while the same run trained in one go passed: the verdict depended on the cache.
    The bound is now the run's loss at initialisation, the loss its first update reports."""
    import torch

    from twophase_lib.training import initial_loss, train

    run = _late_spike_run()
    whole = train(run, progress=False)
    assert initial_loss(run) == whole.losses[0]  # the anchor is the loss the first update reports, bitwise
    assert max(whole.losses[s] for s in whole.losses if s >= 180) > 1e4 * whole.losses[180]  # the trap is there
    rest = train(run, start=train(run, until=180, progress=False).final, progress=False)
    assert all(torch.equal(rest.final.model[k], v) for k, v in whole.final.model.items())


def test_whether_a_switched_run_diverged_does_not_depend_on_the_cache(tmp_path):
    """The same switch study, computed on a fresh cache and after a shorter one whose parents and switched states
    it resumes from: the same records, none flagged as diverged."""
    import math

    from twophase_lib.switch import run_switch_studies

    run = _late_spike_run()
    fresh = run_switch_studies({"s": SwitchStudy(run, (0, 60, 180, 300), (1,), via=(180,))}, Cache(tmp_path / "a"),
                               Executor(0), progress=False)["s"]
    warm_cache = Cache(tmp_path / "b")
    short = run.replace(optim={"steps": 180})
    run_switch_studies({"s": SwitchStudy(short, (0, 60, 180), (1,))}, warm_cache, Executor(0), progress=False)
    warm = run_switch_studies({"s": SwitchStudy(run, (0, 60, 180, 300), (1,), via=(180,))}, warm_cache, Executor(0),
                              progress=False)["s"]
    assert not fresh.diverged.any() and not warm.diverged.any()
    assert (fresh.accuracy == warm.accuracy).all() and (fresh.loss == warm.loss).all()
    assert all(math.isclose(r["initial_loss"], fresh.records[0]["initial_loss"]) for r in fresh.records)


def test_a_switched_run_cached_before_the_anchored_rule_is_recomputed_only_where_it_could_change():
    from twophase_lib.switch import _stale_divergence

    finite = {"diverged_at": 193, "test_loss": 0.18, "final_train_losses": [0.01, 0.02]}
    assert _stale_divergence(finite)  # flagged as exploded while finite: judged again
    assert not _stale_divergence({**finite, "test_loss": float("nan")})  # NaN: diverged under either rule
    assert not _stale_divergence({**finite, "diverged_at": None})  # not flagged: the old bound was the tighter
    assert not _stale_divergence({**finite, "initial_loss": 3.3})  # judged by the anchored rule already


def test_the_fixed_budget_arm_shares_runs_with_the_window_study_and_computes_each_once(tmp_path, monkeypatch):
    """A fixed-budget run ending at the window study's T is the same cache key: one task, not two racing workers;
    the parents of one lineage (runs differing only in length) are one task; the cost model counts each once."""
    import twophase_lib.switch as switch_module
    from twophase_lib.costs import count_work
    from twophase_lib.switch import fixed_budget_scores, fixed_budget_studies

    cache = Cache(tmp_path)
    run = tiny_config(steps=16).replace(optim={"milestones": ()})
    window = SwitchStudy(run.replace(optim={"steps": 12}), (0, 6, 12), (0, 1), train_examples=32)
    budget = fixed_budget_studies(run, (0, 6), 6, (0, 1), train_examples=32)  # 6 + 6 = 12: the window's T
    assert budget[6].switches == (6, 12) and budget[6].run.prefix(12) == window.run.prefix(12)
    waves = []
    real = switch_module.run_waves

    def spy(executor, ws, desc, progress):
        waves.append([len(w) for w in ws])
        return real(executor, ws, desc, progress)

    monkeypatch.setattr(switch_module, "run_waves", spy)
    out = run_switch_studies({"window": window, **{("budget", t): st for t, st in budget.items()}}, cache,
                             Executor(0), progress=False)
    # one parent task per seed; the switched runs per seed: each distinct (run to its end, t) once
    keys = {(st.run.prefix(st.run.optim.steps), t) for st in (window, *budget.values()) for t in st.switches}
    assert waves == [[2, 2 * len(keys)]]
    assert len(keys) == 5  # window (12; 0, 6, 12), budget t = 0 (6; 0, 6), budget t = 6 (12; 6, 12): shared
    assert out[("budget", 6)].accuracy.tolist() == out["window"].accuracy[:, 1:].tolist()
    ts, lin, std, parent = fixed_budget_scores({t: out[("budget", t)] for t in budget})
    assert ts.tolist() == [0, 6] and lin.shape == std.shape == parent.shape == (2, TINY_TEST_EXAMPLES, 2)
    # the standard column of t = 6 is θ_12, the window study's standard training
    assert std[:, :, 1].mean(1).tolist() == out["window"].accuracy[:, 2].tolist()
    once = count_work([window, *budget.values()]).counts
    twice = count_work([window, *budget.values(), *budget.values()]).counts
    assert once == twice
    with pytest.raises(ValueError, match="ends past the run's window"):
        fixed_budget_studies(run, (0, 12), 6)
    with pytest.raises(ValueError, match="increasing"):
        fixed_budget_studies(run, (6, 0), 2)
    with pytest.raises(ValueError, match="switch time"):
        fixed_budget_studies(run, (0, 2.5), 2)


def test_a_difference_over_one_seed_says_it_has_no_interval():
    """Chapter 3's control table: a difference left with one seed (the others diverged) shows no '[+nan, +nan]'."""
    from twophase_book.switch import _difference_text

    assert _difference_text((0.1, 0.05, 0.15)) == "+0.100 [+0.050, +0.150]"
    assert _difference_text((0.279, float("nan"), float("nan"))) == "+0.279 (one seed: no interval)"
    assert _difference_text((float("nan"), float("nan"), float("nan"))) == "– (diverged)"
