"""Tasks the library would read wrongly without an error are refused before any run, with a message naming the way
out (issue 31): a single logit, outputs that are not one tensor, one-hot or soft or out-of-range labels, an empty
test split, eval-mode randomness, and a constructor that draws from a generator the library does not seed."""

from __future__ import annotations

import random

import numpy as np
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


class Dict(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return {"logits": self.net(x)}


class McDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        return nn.functional.dropout(self.net(x), 0.5, training=True)  # active in eval mode too


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.net, self.calls = mlp(), 0

    def forward(self, x):
        self.calls += 1
        return self.net(x) + self.calls


class NumpyInit(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()
        with torch.no_grad():
            self.net[0].weight.copy_(torch.from_numpy(np.random.randn(8, 6)).float())

    def forward(self, x):
        return self.net(x)


class PythonRandomInit(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = mlp()
        self.scale = nn.Parameter(torch.tensor(random.random()))

    def forward(self, x):
        return self.net(x) * self.scale


def test_a_well_formed_task_passes():
    Task("ok", mlp, data()).identity()


@pytest.mark.parametrize("factory, data_, message", [
    (lambda: mlp(1), data(), "single logit"),
    (lambda: Dict(), data(), "returns dict, not a tensor"),
    (lambda: mlp(), data(nn.functional.one_hot(Y_TRAIN, 3), nn.functional.one_hot(Y_TEST, 3)), "one-hot"),
    (lambda: mlp(), data(Y_TRAIN.float() / 3, Y_TEST.float() / 3), "class indices"),
    (lambda: mlp(2), data(), r"labels range over \[0, 2\] but the network returns 2 logits"),
    (lambda: McDropout(), data(), "two eval-mode passes"),
    (lambda: Counter(), data(), "two eval-mode passes"),
    (lambda: NumpyInit(), data(), "numpy"),
    (lambda: PythonRandomInit(), data(), "same seed built two different networks"),
])
def test_a_task_the_library_would_misread_is_refused_with_the_way_out(factory, data_, message):
    with pytest.raises(ValueError, match=message):
        Task("bad", factory, data_).identity()


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
