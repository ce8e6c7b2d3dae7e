"""eNTK against a brute-force reference (one autograd call per output, float64), distances, velocity."""

import numpy as np
import pytest
import torch
from torch import nn

from twophase_lib.ntk import distance_matrix, empirical_ntk, kernel_distance, plan_kernel


class TinyBN(nn.Module):
    """Conv + batch norm + linear head with several logits: small enough for a brute-force Jacobian."""

    def __init__(self, k=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, k)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def tiny_model(seed=0):
    torch.manual_seed(seed)
    model = TinyBN().double()
    with torch.no_grad():  # non-trivial running statistics, so eval mode matters
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def brute_force_ntk(model, x, mode):
    """One backward pass per (example, logit) on the model in eval mode; the Gram matrix of the gradients."""
    rows = []
    for i in range(len(x)):
        out = model(x[i : i + 1])[0]
        outputs = [out.sum()] if mode == "sum" else list(out)
        for o in outputs:
            grads = torch.autograd.grad(o, list(model.parameters()), retain_graph=True)
            rows.append(torch.cat([g.flatten() for g in grads]))
    j = torch.stack(rows)
    return j @ j.T


@pytest.mark.parametrize("mode", ["full", "sum"])
def test_entk_matches_brute_force_in_float64(mode):
    model = tiny_model()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = brute_force_ntk(model, x, mode)
    got = empirical_ntk(model, x, mode)
    assert got.shape == ((15, 15) if mode == "full" else (5, 5))
    assert ((got - ref).norm() / ref.norm()).item() < 1e-10


@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("mode", ["full", "sum"])
def test_batched_rows_match_brute_force(mode, blocked):
    """The GPU default (an example's K pull-backs in one vmap), forced on the CPU, with and without blocks."""
    model = tiny_model()
    x = torch.randn(7, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref = brute_force_ntk(model, x, mode)
    rows = 3 if mode == "full" else 1
    budget = int(((7 * rows) ** 2 * 16 + 7 * rows * 108 * 8) * 8 / 7) if blocked else None
    got = empirical_ntk(model, x, mode, memory_budget=budget, batched_rows=True)
    assert ((got - ref).norm() / ref.norm()).item() < 1e-10


def test_default_memory_budget():
    from twophase_lib.ntk import CPU_MEMORY_BUDGET, default_memory_budget

    assert default_memory_budget("cpu") == CPU_MEMORY_BUDGET == 2 << 30


@pytest.mark.parametrize("mode", ["full", "sum"])
def test_blocked_equals_unblocked(mode):
    """A budget that splits parameters into groups and the largest tensor's examples into outer/inner blocks."""
    model = tiny_model()
    x = torch.randn(7, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    whole = empirical_ntk(model, x, mode)
    rows = 3 if mode == "full" else 1
    kernel = (7 * rows) ** 2 * 8 * 2
    # the kernel, 1/8 work space, and 7 examples' worth of the conv weight
    budget = int((kernel + 7 * rows * 108 * 8) * 8 / 7)
    plan = plan_kernel(model, 7, rows, budget)
    assert len(plan.groups) >= 2 and min(plan.outer) < 7 and plan.peak_bytes <= budget
    assert plan.passes(7) > 7 * len(plan.groups)  # inner blocks are recomputed
    blocked = empirical_ntk(model, x, mode, memory_budget=budget)
    assert torch.allclose(whole, blocked, rtol=1e-12, atol=0)


def test_float32_jacobians_with_float64_products():
    """float32 Jacobian entries multiply exactly in float64: the kernel matches the float64 one to float32 accuracy."""
    model = tiny_model()
    x = torch.randn(5, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    ref = empirical_ntk(model, x)
    model32 = tiny_model().float()
    k64 = empirical_ntk(model32, x.float(), accumulate_dtype=torch.float64, memory_budget=1 << 20)
    k32 = empirical_ntk(model32, x.float())
    assert k64.dtype == torch.float64 and k32.dtype == torch.float32
    assert ((k64 - ref).norm() / ref.norm()).item() < 1e-6
    assert ((k32.double() - ref).norm() / ref.norm()).item() < 1e-5


def test_budget_too_small_for_one_example():
    with pytest.raises(MemoryError, match="raise memory_budget"):
        empirical_ntk(tiny_model(), torch.zeros(3, 3, 6, 6, dtype=torch.float64), memory_budget=1000)


@pytest.mark.parametrize("mode", ["full", "sum"])
def test_kernel_is_symmetric_psd_and_ignores_train_mode(mode):
    """A model handed over in train mode: the kernel is the eval-mode one, and no batch-norm statistic moves.

    (An earlier version counted the logits with a forward pass in train mode, which nudged the running
    statistics before the kernel was computed: 18% off on a real ResNet-20 checkpoint.)
    """
    model = tiny_model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(6, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    k = empirical_ntk(model, x, mode)
    assert all(torch.equal(before[name], v) for name, v in model.state_dict().items())
    assert torch.equal(k, k.T)
    assert torch.linalg.eigvalsh(k).min() > -1e-10 * k.norm()
    assert model.training  # restored
    assert torch.allclose(k, brute_force_ntk(tiny_model().eval(), x, mode), rtol=1e-10)


def test_sum_kernel_is_the_logit_sum_of_the_full_kernel():
    model = tiny_model()
    x = torch.randn(4, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    full = empirical_ntk(model, x, "full").view(4, 3, 4, 3)
    assert torch.allclose(full.sum((1, 3)), empirical_ntk(model, x, "sum"), rtol=1e-12)


def test_kernel_distance_properties():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    k = a @ a.T
    assert kernel_distance(k, 3.5 * k) == pytest.approx(0.0, abs=1e-15)
    e1, e2 = torch.zeros(4, 4), torch.zeros(4, 4)
    e1[0, 0], e2[1, 1] = 1.0, 1.0
    assert kernel_distance(e1, e2) == pytest.approx(1.0)
    d = torch.diag(torch.arange(1.0, 7.0, dtype=torch.float64))
    m = distance_matrix([k, 2 * k, d])
    assert m.shape == (3, 3) and np.allclose(np.diag(m), 0) and np.allclose(m, m.T)
    assert m[0, 1] == pytest.approx(0.0, abs=1e-12) and m[0, 2] == pytest.approx(kernel_distance(k, d))


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown eNTK mode"):
        empirical_ntk(tiny_model(), torch.zeros(2, 3, 6, 6, dtype=torch.float64), "diag")


def test_gpu_memory_share_from_the_environment(monkeypatch):
    from twophase_lib.ntk import gpu_memory_share

    monkeypatch.delenv("TWOPHASE_GPU_MEMORY_SHARE", raising=False)
    assert gpu_memory_share() == 0.5
    monkeypatch.setenv("TWOPHASE_GPU_MEMORY_SHARE", "0.125")
    assert gpu_memory_share() == 0.125
    for bad in ("0", "1.5", "half"):
        monkeypatch.setenv("TWOPHASE_GPU_MEMORY_SHARE", bad)
        with pytest.raises(ValueError, match="TWOPHASE_GPU_MEMORY_SHARE"):
            gpu_memory_share()
