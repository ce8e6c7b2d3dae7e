"""The switch study's controls (issue 21): the network trained on with batch norm frozen at t, and the linearized
model at a smaller lr."""

import pytest
import torch

from tests.conftest import tiny_config
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
    assert lin.correct.shape == (1, 1017, 3) and (lin.correct.mean(1) == lin.accuracy).all()
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
