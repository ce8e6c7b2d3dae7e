"""The GPU step without host round trips (issue 23), checked on the CPU: batches planned ahead are bitwise the
per-step ones, and training fed from a plan, its losses left as tensors, is bitwise the ordinary path."""

import pytest
import torch

from tests.conftest import tiny_config
from twophase_lib.data import TensorData, load_data
from twophase_lib.training import (
    PlannedSteps,
    initial_checkpoint,
    losses_as_floats,
    make_optimizer,
    materialise,
    sgd_step,
)


@pytest.mark.parametrize("augment", [True, False])
def test_a_planned_batch_is_bitwise_the_per_step_batch_across_epochs(augment):
    data = load_data(tiny_config().data)
    spe = data.steps_per_epoch(64)
    first, last = spe - 3, spe + 3  # across an epoch's new permutation
    plan = data.plan_batches(7, first, last, 64, augment)
    assert plan.indices.shape == (6, 64) and (plan.offsets is None) == (not augment)
    for step in range(first, last):
        x, y = data.planned_batch(plan, step)
        x0, y0 = data.train_batch(7, step, 64, augment)
        assert torch.equal(x, x0) and torch.equal(y, y0)
    with pytest.raises(IndexError, match="outside the planned steps"):
        data.planned_batch(plan, last)


def test_a_users_augmenter_is_not_planned():
    data = load_data(tiny_config().data)
    own = TensorData("own", data.x_train, data.y_train, data.x_test, data.y_test, augmenter=lambda x, g: x.flip(3))
    assert own.plan_batches(0, 0, 4, 16) is None
    assert own.plan_batches(0, 0, 4, 16, augment=False) is not None  # no augmentation: nothing to draw per call


def test_training_from_a_plan_is_bitwise_the_host_fed_path():
    run = tiny_config(steps=10)  # crosses an lr drop at 5
    data = load_data(run.data)

    def fresh():
        model = materialise(run, initial_checkpoint(run))
        model.train()
        return model, make_optimizer(run, model)

    model_a, opt_a = fresh()
    losses_a = {s: sgd_step(run, model_a, opt_a, data, s) for s in range(10)}
    model_b, opt_b = fresh()
    step = PlannedSteps(run, model_b, opt_b, data, data.plan_batches(run.batch_seed, 0, 10, run.optim.batch_size))
    raw = {s: step(s) for s in range(10)}
    assert all(torch.is_tensor(v) for v in raw.values())  # nothing read back per step
    assert losses_as_floats(raw) == losses_a
    assert all(torch.equal(a, b) for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()))
