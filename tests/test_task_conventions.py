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
