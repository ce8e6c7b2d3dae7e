"""A third fresh user's check of the public API (session 23): each test reproduces one of its findings, a silent wrong
answer or an error raised deep inside instead of a message that names the cause, and checks the fix."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from twophase_lib import OptimConfig, RunConfig, Task, TensorData, train
from twophase_lib.cache import Cache
from twophase_lib.config import DataConfig
from twophase_lib.ntk import KernelError, distance_matrix, empirical_ntk
from twophase_lib.training import DivergedError, first_diverged


def _blobs(n=160, d=8, k=3, ntest=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n + ntest, d, generator=g)
    y = x[:, :k].argmax(1)
    return x[:n], y[:n], x[n:], y[n:]


def _mlp(d=8, k=3, h=16):
    return nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k))


def _run(task, steps=10, lr=0.05, batch_size=32, **kw):
    return RunConfig(task=task, optim=OptimConfig(lr=lr, batch_size=batch_size, steps=steps, milestones=()), **kw)


_CALLS = {"n": 0}


def _redrawn_split() -> TensorData:
    """A data function that returns another split on every call (an unseeded shuffle, as a worker would see it)."""
    _CALLS["n"] += 1
    x, y, xt, yt = _blobs()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(_CALLS["n"]))
    return TensorData("split", x[perm], y[perm], xt, yt)


def _fixed_split() -> TensorData:
    return TensorData("split", *_blobs())


def test_a_worker_whose_data_function_returns_other_data_refuses_instead_of_caching_under_the_callers_identity():
    task = Task("split", _mlp, _redrawn_split)
    task.identity()  # the caller: the identity a study ships to its workers
    worker = pickle.loads(pickle.dumps(task))  # what a worker process receives: the recipe, the data called again
    with pytest.raises(ValueError, match="returned other data in this worker process.*seed any random split"):
        worker.identity()
    fixed = Task("split", _mlp, _fixed_split)
    assert pickle.loads(pickle.dumps(fixed)).identity() == fixed.identity()  # a deterministic function: accepted


def test_an_edit_torch_cannot_see_gets_a_new_identity_at_the_next_analysis(monkeypatch):
    x, y, xt, yt = _blobs()
    labels = y.numpy().copy()
    data = TensorData("d", x, torch.from_numpy(labels), xt, yt)  # shares the numpy array's memory
    task = Task("t", _mlp, data)
    before = task.identity()
    labels[:10] = (labels[:10] + 1) % 3  # torch's version counter does not see this
    task.refresh()
    assert task.identity() != before
    x2 = x.clone()
    task2 = Task("t2", _mlp, TensorData("d", x2, y, xt, yt))
    before = task2.identity()
    task2.tensors().x_train.data.mul_(-1)  # nor this
    task2.refresh()
    assert task2.identity() != before
    arr = x.numpy().copy()  # a numpy array passed as it is is copied: a later edit cannot reach the data
    copied = TensorData("d", arr, y, xt, yt)
    arr[:] = 0
    assert torch.equal(copied.x_train, x)
    from twophase_lib import analyses

    calls = []
    monkeypatch.setattr(Task, "refresh", lambda self: calls.append(self.name))
    run = _run(task)
    with pytest.raises(ValueError, match="t0s must start at 0"):
        analyses.chaos_analysis(run, t0s=(1, 2), deltas=(2,), seeds=(0,))
    with pytest.raises(ValueError, match="switch times"):
        analyses.switch_analysis(run, switches=(0, 5))
    with pytest.raises(ValueError):
        analyses.cone_analysis(run, lag_ts=(0,), lags=(1,))
    assert calls == ["t", "t", "t"]  # every analysis hashes its task's data again at its start


def test_a_loss_that_runs_off_to_minus_infinity_is_divergence():
    assert first_diverged({0: 0.02, 1: 0.01, 2: -500.0}, 0.0196) == 2
    assert first_diverged({0: 0.02, 1: -100.0}, 0.0196) is None  # within 10⁴ times the initial loss
    x, y, xt, yt = _blobs()
    task = Task("nll on raw logits", _mlp, TensorData("d", x, y, xt, yt), loss=F.nll_loss)
    with pytest.raises(DivergedError, match="exploded to -"):
        train(_run(task, steps=40, lr=0.5), progress=False)


def test_a_task_run_refuses_data_settings_it_would_ignore():
    task = Task("t", _mlp, TensorData("d", *_blobs()))
    with pytest.raises(ValueError, match="train_examples and test_examples do not apply"):
        _run(task).replace(data=DataConfig(train_examples=50))
    with pytest.raises(ValueError, match="do not apply"):
        RunConfig(task=task, data=DataConfig(dataset="cifar10"))
    assert _run(task).replace(data=DataConfig(augment=False)).data.augment is False  # augment still applies


def test_probabilities_under_the_default_cross_entropy_are_refused_but_a_loss_that_reads_them_is_not():
    def probs():
        return nn.Sequential(_mlp(), nn.Softmax(dim=1))

    data = TensorData("d", *_blobs())
    with pytest.raises(ValueError, match="look like probabilities.*softmax a second time"):
        Task("p", probs, data).identity()

    def nll_of_probs(p, y):
        return F.nll_loss(torch.log(p), y)

    Task("p", probs, data, loss=nll_of_probs).identity()


def test_a_task_broken_after_its_first_study_does_not_block_a_new_valid_one():
    x, y, xt, yt = _blobs()
    old = TensorData("d", x.clone(), y.clone(), xt.clone(), yt.clone())
    train(_run(Task("t", _mlp, old), steps=2), progress=False)
    old.y_train = y[:100]  # a mistake on the old data object
    fresh = TensorData("d", x.clone(), y.clone(), xt.clone(), yt.clone())
    train(_run(Task("t", _mlp, fresh), steps=2), progress=False)  # before: "d: 160 train inputs but 100 labels"


def test_training_inputs_are_checked_as_the_test_inputs_are():
    x, y, xt, yt = _blobs()
    task = Task("mismatch", _mlp, TensorData("d", x[:, :5], y, xt, yt))
    with pytest.raises(ValueError, match="fails on two training inputs of dtype torch.float32 and shape \\(2, 5\\)"):
        task.identity()


def test_a_per_example_loss_is_refused_with_the_way_out():
    def per_example(z, y):
        return F.cross_entropy(z, y, reduction="none")

    with pytest.raises(ValueError, match="the loss returns shape \\(2,\\).*reduction='mean'"):
        Task("l", _mlp, TensorData("d", *_blobs()), loss=per_example).identity()


class _Dict(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = _mlp()

    def forward(self, x):
        return {"logits": self.f(x)}


@pytest.mark.parametrize("model,got", [(nn.Sequential(nn.Linear(8, 1), nn.Flatten(0)), "shape \\(2,\\)"),
                                       (_Dict(), "a dict")])
def test_the_entk_of_a_network_that_does_not_return_rows_of_outputs_names_the_shape(model, got):
    with pytest.raises(KernelError, match=f"outputs of shape \\(N, K\\).* returns {got} on 2 inputs"):
        empirical_ntk(model, torch.randn(4, 8))


def test_a_memory_budget_too_small_for_one_example_says_how_small_in_readable_units():
    with pytest.raises(MemoryError, match="budget of 1,000 bytes is below the [0-9.]+ KiB needed"):
        empirical_ntk(_mlp(), torch.randn(4, 8), memory_budget=1000)


def test_batch_norm_at_batch_size_one_is_refused_before_training():
    def bn_mlp():
        return nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    task = Task("bn", bn_mlp, TensorData("d", *_blobs()))
    with pytest.raises(ValueError, match="batch_size = 1: the network has batch norm"):
        train(_run(task, steps=2, batch_size=1), progress=False)


def test_a_low_precision_factory_trains_at_its_own_precision_and_is_refused_below_the_runs():
    data = TensorData("d", *_blobs())
    task = Task("bf16", lambda: _mlp().bfloat16(), data)
    result = train(_run(task, steps=2, dtype="bfloat16"), progress=False)
    assert all(v.dtype == torch.bfloat16 for v in result.final.model.values())
    with pytest.raises(ValueError, match="returns bfloat16 parameters or buffers, but the run trains in float32"):
        train(_run(task, steps=2), progress=False)


def test_pair_metrics_refuses_the_states_of_two_different_tasks(tmp_path):
    from twophase_lib.store import State, pair_metrics

    data = TensorData("d", *_blobs())
    a = _run(Task("A", _mlp, data))
    b = _run(Task("B", lambda: nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)), data))
    with pytest.raises(ValueError, match="two different tasks or models: task 'A' vs task 'B'"):
        pair_metrics(State(a, 2), State(b, 2), None, Cache(tmp_path))


def test_distance_matrix_refuses_a_zero_kernel_and_mixed_shapes_as_kernel_distance_does():
    k = torch.eye(3) + 0.1
    with pytest.raises(ValueError, match="kernel 1 of 2 is zero"):
        distance_matrix([k, torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="kernels of one shape"):
        distance_matrix([k, torch.eye(4)])
    assert distance_matrix([k, 2 * k])[0, 1] == 0.0
    assert np.isnan(distance_matrix([k, torch.full((3, 3), float("nan"))])[0, 1])
