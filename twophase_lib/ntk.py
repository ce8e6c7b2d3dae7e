"""The empirical neural tangent kernel (eNTK), its distances, and its velocity along training.

H(θ)_{(i,k),(j,l)} = ⟨∂f_k(x_i)/∂θ, ∂f_l(x_j)/∂θ⟩ for the model as it stands (eval mode, batch
norm frozen at its running statistics). ``mode="full"`` keeps every logit (an nK × nK kernel),
``mode="sum"`` differentiates the summed logits (an n × n kernel). Per-example Jacobians come
from ``vmap(grad(...))`` (one pass per logit) over the model made functional with ``torch.func.functional_call``;
they are built in blocks of examples whose size follows a memory budget, so peak memory is set
by the budget, not by n·K·P.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

MODES = ("full", "sum")


def _rows_per_example(model: nn.Module, x: torch.Tensor, mode: str) -> int:
    if mode == "sum":
        return 1
    with torch.no_grad():
        return model(x[:1]).shape[1]


def jacobian(model: nn.Module, x: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Per-example Jacobian of the outputs w.r.t. all parameters, as a (rows, P) matrix in the model's dtype.

    Rows are ordered example-major: (x_0, logit 0), (x_0, logit 1), ..., or one row per example for ``sum``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown eNTK mode {mode!r}; known modes: {', '.join(MODES)}")
    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(p: dict, xi: torch.Tensor) -> torch.Tensor:
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).squeeze(0)

    was_training = model.training
    model.eval()
    try:
        # One vmapped per-example gradient per output (the summed logits, or each logit in turn): on CPU this
        # runs faster than jacrev's vmap over K cotangents, and each pass is a batched backward.
        outputs = [None] if mode == "sum" else range(_rows_per_example(model, x, mode))
        blocks = []
        for k in outputs:
            g = vmap(grad(lambda p, xi, k=k: f(p, xi).sum() if k is None else f(p, xi)[k]), in_dims=(None, 0))(params, x)
            blocks.append(torch.cat([g[name].reshape(x.shape[0], -1) for name in params], dim=1))
    finally:
        model.train(was_training)
    return torch.stack(blocks, dim=1).reshape(-1, blocks[0].shape[1])  # example-major rows


def block_size(model: nn.Module, x: torch.Tensor, mode: str, memory_budget: int) -> int:
    """Examples per Jacobian block such that two blocks (and their work space) fit in ``memory_budget`` bytes."""
    p = sum(v.numel() for v in model.parameters())
    rows = _rows_per_example(model, x, mode)
    per_example = rows * p * next(model.parameters()).element_size()
    return max(1, int(memory_budget // (3 * per_example)))


def empirical_ntk(
    model: nn.Module,
    inputs: torch.Tensor,
    mode: str = "full",
    memory_budget: int = 2 << 30,
    accumulate_dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The eNTK of ``model`` on ``inputs``: (nK, nK) for ``full``, (n, n) for ``sum``; blocks bounded by the budget.

    The Jacobians are in the model's dtype (convert the model with ``.double()`` for a float64 kernel);
    the Gram products are accumulated in ``accumulate_dtype``.
    """
    n = inputs.shape[0]
    b = min(n, block_size(model, inputs, mode, memory_budget))
    starts = list(range(0, n, b))
    if len(starts) == 1:
        j = jacobian(model, inputs, mode).to(accumulate_dtype)
        return _symmetrised(j @ j.T)
    rows = _rows_per_example(model, inputs, mode)
    out = torch.empty(n * rows, n * rows, dtype=accumulate_dtype)
    for bi, i in enumerate(starts):
        ji = jacobian(model, inputs[i : i + b], mode).to(accumulate_dtype)
        ri = slice(i * rows, (i + ji.shape[0] // rows) * rows)
        for j in starts[bi:]:
            jj = ji if j == i else jacobian(model, inputs[j : j + b], mode).to(accumulate_dtype)
            rj = slice(j * rows, (j + jj.shape[0] // rows) * rows)
            block = ji @ jj.T
            out[ri, rj] = block
            out[rj, ri] = block.T
    return _symmetrised(out)


def _symmetrised(k: torch.Tensor) -> torch.Tensor:
    """(K + Kᵀ)/2: a GEMM's rounding leaves J Jᵀ asymmetric in the last bit."""
    return (k + k.T) / 2


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """S(a, b) = 1 − ⟨a, b⟩_F / (‖a‖_F ‖b‖_F) in float64, as ½‖a/‖a‖ − b/‖b‖‖² (exactly 0 for equal kernels)."""
    a, b = a.double().flatten(), b.double().flatten()
    return 0.5 * float(((a / a.norm() - b / b.norm()) ** 2).sum())


def distance_matrix(kernels: Sequence[torch.Tensor]) -> np.ndarray:
    """S(K_i, K_j) for every pair of a list of kernels (same stable formula as :func:`kernel_distance`)."""
    flat = torch.stack([k.double().flatten() for k in kernels])
    unit = flat / flat.norm(dim=1, keepdim=True)
    dist = torch.cdist(unit, unit, compute_mode="donot_use_mm_for_euclid_dist")
    return (0.5 * dist**2).numpy()


def kernel_velocity(kernels: Sequence[torch.Tensor], steps: Sequence[int]) -> np.ndarray:
    """S(K_t, K_t') / (t' − t) between adjacent checkpoints, per iteration."""
    if len(kernels) != len(steps):
        raise ValueError("one step per kernel is needed")
    return np.array([kernel_distance(kernels[i], kernels[i + 1]) / (steps[i + 1] - steps[i])
                     for i in range(len(steps) - 1)])
