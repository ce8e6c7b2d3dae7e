"""What a task's identity must see and what is refused before any run (issue 31). The kinds the library would
misread (a single logit, outputs that are not one tensor, one-hot, soft or out-of-range labels, eval-mode randomness,
a constructor that draws from a generator the library does not seed) are in the zoo (``tests/model_zoo.py``
``REFUSED``, refused through the public API in ``tests/test_model_zoo.py``); here: an empty test split, the checks
leaving the caller's generator alone, and what changes the identity."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from twophase_lib import Task, TensorData

torch.manual_seed(0)
X_TRAIN, X_TEST = torch.randn(40, 6), torch.randn(12, 6)
Y_TRAIN, Y_TEST = torch.randint(0, 3, (40,)), torch.randint(0, 3, (12,))


def data(y_train=Y_TRAIN, y_test=Y_TEST, x_test=X_TEST) -> TensorData:
    return TensorData("toy", X_TRAIN, y_train, x_test, y_test)


def mlp(out: int = 3) -> nn.Module:
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, out))


def test_a_well_formed_task_passes():
    Task("ok", mlp, data()).identity()


def test_an_empty_test_split_is_refused():
    with pytest.raises(ValueError, match="test split is empty"):
        data(x_test=X_TEST[:0], y_test=Y_TEST[:0])


def test_the_checks_leave_torchs_generator_and_the_network_as_they_were():
    state = torch.random.get_rng_state()
    task = Task("ok", lambda: nn.Sequential(mlp(), nn.Dropout(0.1)), data())
    task.identity()
    assert torch.equal(state, torch.random.get_rng_state())


# ---------------------------------------------------------------------------------- what the identity must see

OFFSET = 1.0


class Scaled(nn.Module):
    SCALE = 2.0  # a class-body constant, read through self

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return self.net(x) * self.SCALE + OFFSET


class WithExtraState(nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.k = mlp(), 1

    def get_extra_state(self):
        return {"k": self.k}

    def set_extra_state(self, state):
        self.k = state["k"]

    def forward(self, x):
        return self.net(x) * self.k


def test_a_class_constant_or_module_value_changed_after_the_task_was_made_changes_its_identity(monkeypatch):
    task = Task("scaled", Scaled, data())
    before = task.identity()
    monkeypatch.setattr(Scaled, "SCALE", 3.0)
    assert task.identity() != before  # the same Task object sees it: its identity is not frozen at first use
    monkeypatch.undo()
    assert task.identity() == before
    monkeypatch.setitem(globals(), "OFFSET", 5.0)
    assert task.identity() != before


def test_a_network_with_extra_state_is_identified_by_it():
    from twophase_lib.identity import module_identity

    Task("extra", WithExtraState, data()).identity()  # used to fail: the extra state is not a tensor
    a, b = WithExtraState(), WithExtraState()
    b.net.load_state_dict(a.net.state_dict())
    assert module_identity(a)["state"] == module_identity(b)["state"]
    b.k = 2
    assert module_identity(a)["state"] != module_identity(b)["state"]


def test_a_half_precision_factory_is_refused_not_cast_up():
    half = Task("half", lambda: mlp().half(), data())
    half.identity()  # its identity is its float16 weights (cast up exactly): refused where a run builds it
    with pytest.raises(ValueError, match="float16 parameters or buffers, but the run trains in float32"):
        half.build(0)
    half.build(0, dtype="float16")  # a float16 run: what it asks for
    Task("double", lambda: mlp().double(), data()).build(0, dtype="float64")  # the run's own precision: fine


def test_inputs_are_checked_as_training_feeds_them_and_a_failing_network_says_what_it_was_given():
    # float64 inputs: training casts floating inputs to the run's dtype, and so does the check
    Task("f64", mlp, TensorData("toy64", X_TRAIN.double(), Y_TRAIN, X_TEST.double(), Y_TEST)).identity()
    u8 = TensorData("toy-u8", (X_TRAIN * 40 + 128).clamp(0, 255).to(torch.uint8), Y_TRAIN,
                    (X_TEST * 40 + 128).clamp(0, 255).to(torch.uint8), Y_TEST)
    with pytest.raises(ValueError, match=r"fails on two test inputs of dtype torch.uint8 .*x.float\(\) / 255"):
        Task("u8", mlp, u8).identity()


def test_integer_labels_of_any_width_are_stored_as_int64_and_the_data_print_briefly():
    d = TensorData("toy32", X_TRAIN, Y_TRAIN.int(), X_TEST, Y_TEST.to(torch.uint8))
    assert d.y_train.dtype == d.y_test.dtype == torch.int64 and torch.equal(d.y_train, Y_TRAIN)
    assert repr(d) == ("TensorData('toy32', train: float32[40, 6] -> int64[40], test: float32[12, 6] -> int64[12], "
                       "augmenter=None)")
