"""The trainer: bitwise resume, zero-perturbation branches, per-step batches."""

import pytest
import torch

from tests.conftest import tiny_config
from twophase_lib.config import OptimConfig
from twophase_lib.data import load_data
from twophase_lib.perturbation import Perturbation, perturb_run
from twophase_lib.training import evaluate, materialise, train


def assert_same_state(a, b):
    assert a.model.keys() == b.model.keys()
    for k in a.model:
        assert torch.equal(a.model[k], b.model[k]), k


@pytest.mark.parametrize("arch", ["resnet20", "vgg16", "mlp"])
def test_resume_is_bitwise_identical(arch):
    cfg = tiny_config(arch)
    full = train(cfg, save_at=[5], progress=False)
    resumed = train(cfg, start=full.checkpoints[5], progress=False)
    assert_same_state(full.final, resumed.final)
    # momentum buffers too
    sa, sb = full.final.optimizer["state"], resumed.final.optimizer["state"]
    assert all(torch.equal(sa[i]["momentum_buffer"], sb[i]["momentum_buffer"]) for i in sa)
    # and the run really moved: resuming from scratch state differs from the final one
    assert not torch.equal(full.checkpoints[5].model["fc.weight" if arch != "mlp" else "net.5.weight"],
                           full.final.model["fc.weight" if arch != "mlp" else "net.5.weight"])


def test_losses_identical_after_resume(tiny):
    full = train(tiny, save_at=[4], progress=False)
    resumed = train(tiny, start=full.checkpoints[4], progress=False)
    assert {s: full.losses[s] for s in resumed.losses} == resumed.losses


def test_zero_perturbation_child_equals_parent_at_every_step(tiny):
    steps = list(range(3, tiny.optim.steps + 1))
    parent = train(tiny, save_at=steps, progress=False)
    start, report = perturb_run(tiny, parent.checkpoints[3], Perturbation(0.0))
    child = train(tiny, start=start, save_at=steps, progress=False)
    assert report.realised_norm == 0.0
    for s in steps:
        assert_same_state(parent.checkpoints[s], child.checkpoints[s])


def test_nonzero_perturbation_changes_the_child(tiny):
    parent = train(tiny, save_at=[3], progress=False)
    start, report = perturb_run(tiny, parent.checkpoints[3], Perturbation(1e-3))
    child = train(tiny, start=start, progress=False)
    assert report.realised_norm > 0
    assert any(not torch.equal(parent.final.model[k], child.final.model[k]) for k in parent.final.model)


def test_different_seeds_give_different_runs():
    a = train(tiny_config(seed=0, steps=2), progress=False).final
    b = train(tiny_config(seed=1, steps=2), progress=False).final
    assert not torch.equal(a.model["conv.weight"], b.model["conv.weight"])


def test_batches_are_a_function_of_seed_and_step():
    data = load_data(tiny_config().data)
    x1, y1 = data.train_batch(seed=3, step=17, batch_size=16)
    data.train_batch(seed=3, step=5, batch_size=16)  # drawing other batches in between changes nothing
    x2, y2 = data.train_batch(seed=3, step=17, batch_size=16)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = data.train_batch(seed=3, step=18, batch_size=16)
    assert not torch.equal(x1, x3)


def test_batches_cover_each_epoch_exactly_once():
    data = load_data(tiny_config().data)
    bs = 512
    spe = data.steps_per_epoch(bs)
    for epoch in (0, 1):
        idx = torch.cat([data.batch_indices(0, epoch * spe + k, bs) for k in range(spe)])
        assert len(idx) == len(set(idx.tolist())) == spe * bs
    assert not torch.equal(data.batch_indices(0, 0, bs), data.batch_indices(0, spe, bs))


def test_lr_schedule():
    o = OptimConfig(lr=0.1, milestones=(10, 20), gamma=0.1)
    assert o.lr_at(0) == 0.1 and o.lr_at(9) == 0.1
    assert o.lr_at(10) == pytest.approx(0.01) and o.lr_at(25) == pytest.approx(0.001)
    w = OptimConfig(lr=0.1, milestones=(), warmup_steps=4)
    assert [w.lr_at(s) for s in range(5)] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])


def test_training_reduces_loss_and_evaluate_is_sane():
    cfg = tiny_config("mlp", width=0.5, steps=60).replace(optim={"lr": 0.01, "batch_size": 64})
    res = train(cfg, progress=False)
    first = sum(res.losses[s] for s in range(5)) / 5
    last = sum(res.losses[s] for s in range(55, 60)) / 5
    assert last < first
    metrics = evaluate(materialise(cfg, res.final), load_data(cfg.data), "test")
    assert 0.15 < metrics["accuracy"] <= 1 and metrics["loss"] > 0


def test_cannot_train_backwards(tiny):
    res = train(tiny, until=4, progress=False)
    with pytest.raises(ValueError, match="backwards"):
        train(tiny, until=2, start=res.final, progress=False)
