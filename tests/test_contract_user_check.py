"""A second fresh user's check of the public API (session 22): each finding that gave a silent wrong answer or an
unhelpful crash, on the user's reproducer made small. Every test fails on the code before the fix."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from twophase_lib import OptimConfig, RunConfig, Task, TensorData, build_model
from twophase_lib.analyses import chaos_analysis, switch_analysis
from twophase_lib.cache import Cache
from twophase_lib.chaos import ControlDriftError
from twophase_lib.linearize import Linearized, train_linearized
from twophase_lib.ntk import empirical_ntk, kernel_distance
from twophase_lib.task import run_data
from twophase_lib.training import train


def tensors(n: int = 96, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    k = n * 3 // 4
    return x[:k], y[:k], x[k:], y[k:]


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def run_on(data: TensorData, model=mlp, steps: int = 24, name: str = "user") -> RunConfig:
    return RunConfig(task=Task(name, model, data), optim=OptimConfig(lr=0.05, batch_size=16, steps=steps,
                                                                      milestones=()), memory_format="contiguous")


def equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_data_edited_in_place_get_a_new_identity_and_never_the_old_data_s_results():
    # The user's reproducer: y[:k] relabelled in place after a first study used to keep the old identity (so the old
    # results were read back, and new work on the changed labels was stored under the old data's key), and a fresh
    # task on a copy of the original labels was handed the changed tensors.
    x, y, xt, yt = tensors()
    original = y.clone()
    run = run_on(TensorData("d", x, y, xt, yt))
    before = run.task.identity()
    y[:20] = (y[:20] + 1) % 3
    after = run.task.identity()
    assert after != before
    fresh_changed = run_on(TensorData("d", x, y.clone(), xt, yt))
    assert fresh_changed.task.identity() == after
    fresh_original = run_on(TensorData("d", x, original.clone(), xt, yt))
    assert fresh_original.task.identity() == before
    assert torch.equal(run_data(fresh_original).y_train, original)  # not the edited tensor of the first task
    assert torch.equal(run_data(run).y_train, y)
    a = train(run, until=8, progress=False).final.model
    b = train(fresh_changed, until=8, progress=False).final.model
    assert equal_states(a, b)


def test_a_split_replaced_on_the_data_object_changes_the_identity():
    x, y, xt, yt = tensors()
    data = TensorData("d", x, y, xt, yt)
    run = run_on(data)
    before = run.task.identity()
    data.y_test = (yt + 1) % 3
    assert run.task.identity() != before


def test_non_finite_inputs_are_refused_naming_the_split_and_the_first_example():
    x, y, xt, yt = tensors()
    bad = xt.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"1 test input\(s\) hold NaN or infinite values \(the first is #3\)"):
        TensorData("d", x, y, bad, yt)
    data = TensorData("d", x.clone(), y, xt, yt)
    run = run_on(data)
    run.task.identity()
    data.x_train[5, 0] = float("inf")  # edited in place after a first use: refused when next identified
    with pytest.raises(ValueError, match="train input"):
        run.task.identity()


def test_training_from_a_checkpoint_leaves_the_checkpoint_untouched():
    # torch's Optimizer.load_state_dict keeps the tensors it is given: the momentum of `start` used to move in place,
    # so a second run from the same checkpoint started elsewhere (max |Δθ| ≈ 0.14 on the user's MLP).
    run = run_on(TensorData("d", *tensors()))
    ck = train(run, until=8, progress=False).final
    snap = copy.deepcopy(ck)
    first = train(run, until=16, start=ck, progress=False).final
    assert equal_states(ck.model, snap.model)
    assert all(torch.equal(ck.optimizer["state"][i]["momentum_buffer"], snap.optimizer["state"][i]["momentum_buffer"])
               for i in snap.optimizer["state"])
    second = train(run, until=16, start=ck, progress=False).final
    assert equal_states(first.model, second.model)
    base_momentum = copy.deepcopy(ck.optimizer)
    train_linearized(run, ck, until=12)
    assert all(torch.equal(ck.optimizer["state"][i]["momentum_buffer"], base_momentum["state"][i]["momentum_buffer"])
               for i in base_momentum["state"])


class Aliased(nn.Module):
    """One layer under two names (``self.b = self.a``)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = self.a
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.b(torch.tanh(self.a(x)))))


class TiedAcrossModules(nn.Module):
    """One weight in two modules (the output layer tied to the input layer)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(4, 4, bias=False)
        self.mid = nn.Linear(4, 4)
        self.out = nn.Linear(4, 4, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, x):
        return self.out(torch.tanh(self.mid(self.emb(x))))


def brute_force_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model = copy.deepcopy(model)  # torch's functional_call leaves an aliased module holding its tensors
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach() for _, p in model.named_parameters())
    jac = torch.autograd.functional.jacobian(
        lambda *q: torch.func.functional_call(model, dict(zip(names, q)), (x,)).flatten(), params)
    j = torch.cat([g.reshape(g.shape[0], -1) for g in jac], 1)
    return j @ j.T


@pytest.mark.parametrize("cls", [Aliased, TiedAcrossModules])
def test_the_entk_and_the_linearization_leave_a_shared_module_a_trainable_network(cls):
    # functional_call swapped a module registered under two names twice and restored it to a transform's tensor:
    # afterwards a.weight was no Parameter, .double() failed and backward() gave it no gradient.
    torch.manual_seed(0)
    model = cls().double()
    x = torch.randn(3, 4, dtype=torch.float64)
    kernel = empirical_ntk(model, x)
    assert all(type(p) is nn.Parameter for p in model.parameters())
    assert torch.allclose(kernel, brute_force_kernel(model, x), rtol=1e-12, atol=1e-12)
    model.float().double()  # failed: "mutating directly with `.data` inside functorch transform"
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    lin = Linearized(model)
    lin(x)
    assert all(type(p) is nn.Parameter for p in lin.parameters())
    lin(x).sum().backward()
    assert all(p.grad is not None for p in lin.parameters())


def test_kernel_distance_and_the_entk_refuse_what_they_cannot_read():
    k = torch.eye(3)
    assert kernel_distance(k, k) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        kernel_distance(k, k[:2, :2])
    with pytest.raises(ValueError, match="second kernel is zero"):
        kernel_distance(k, torch.zeros(3, 3))
    with pytest.raises(ValueError, match="n ≥ 1"):
        empirical_ntk(mlp(), torch.randn(0, 5))


class NumpyNoise(nn.Module):
    """Train-mode noise from numpy's global generator, which the library does not seed."""

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def forward(self, x):
        if self.training:
            x = x + 0.1 * torch.from_numpy(np.random.randn(*x.shape)).to(x.dtype)
        return self.net(x)


def test_a_drifting_control_raises_instead_of_reading_not_reproduced(tmp_path):
    run = run_on(TensorData("d", *tensors()), model=NumpyNoise, name="numpy-noise")
    with pytest.raises(ControlDriftError, match="ε = 0 control drifted") as caught:
        chaos_analysis(run, t0s=(0, 4), deltas=(8,), seeds=(0,), cache=Cache(tmp_path), progress=False,
                       barrier=None)
    assert not caught.value.analysis.control_is_exact


def test_kernel_inputs_beyond_the_test_set_are_refused(tmp_path):
    run = run_on(TensorData("d", *tensors()))  # 24 test inputs
    with pytest.raises(ValueError, match="kernel_inputs = 25, but the run's test set holds 24"):
        chaos_analysis(run, t0s=(0, 4), deltas=(8,), seeds=(0,), kernel_inputs=25, cache=Cache(tmp_path),
                       progress=False)


def test_switch_analysis_refuses_switch_times_not_starting_at_zero(tmp_path):
    run = run_on(TensorData("d", *tensors()))
    with pytest.raises(ValueError, match="must start at 0"):
        switch_analysis(run, switches=(4, 8, 16), seeds=(0,), cache=Cache(tmp_path), progress=False)


def test_one_seed_s_controls_say_no_interval(tmp_path):
    run = run_on(TensorData("d", *tensors()), steps=12)
    text = switch_analysis(run, switches=(0, 4, 8, 12), seeds=(0,), train_examples=16, cache=Cache(tmp_path),
                           progress=False).explain()
    assert "control at t = 4" in text and "nan" not in text.split("control at t = 4")[1]
    assert "no interval: fewer than two paired seeds" in text


def test_small_refusals_name_the_problem():
    def frozen():
        m = mlp()
        for p in m.parameters():
            p.requires_grad_(False)
        return m

    with pytest.raises(ValueError, match="no parameter trains"):
        run_on(TensorData("d", *tensors()), model=frozen).task.identity()
    run = run_on(TensorData("d", *tensors()))
    with pytest.raises(ValueError, match="until"):
        train(run, until=12.5, progress=False)
    net = build_model(run)  # a task run's network, not the unused default ResNet-20 of run.model
    assert [p.shape for p in net.parameters()] == [p.shape for p in mlp().parameters()]
    with pytest.raises(TypeError, match="ModelConfig or a RunConfig"):
        build_model("resnet20")
