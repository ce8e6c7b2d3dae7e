"""The empirical neural tangent kernel (eNTK), its distances, and its velocity along training.

H(θ)_{(i,k),(j,l)} = ⟨∂f_k(x_i)/∂θ, ∂f_l(x_j)/∂θ⟩ for the model as it stands (eval mode, batch
norm frozen at its running statistics). ``mode="full"`` keeps every logit (an nK × nK kernel),
``mode="sum"`` differentiates the summed logits (an n × n kernel).

How it is computed (all with ``torch.func``): for a batch of examples, ``vmap`` over examples of one
``vjp`` (one forward pass) whose pull-back is applied once per logit (K backward passes) gives the
per-example Jacobian rows; they are copied once into a (rows, P) matrix and the kernel is its Gram
matrix, built from upper-triangle blocks. The kernel is a sum over parameters,
H = Σ_groups J_g J_gᵀ, so when the whole Jacobian does not fit the memory budget the parameters are
split into groups (whole tensors, in order) and, for a tensor too large on its own, the examples into
blocks: peak memory follows the budget, not n·K·P.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

MODES = ("full", "sum")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown eNTK mode {mode!r}; known modes: {', '.join(MODES)}")


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode (batch norm frozen) for the block, its mode restored after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _cotangents(model: nn.Module, x: torch.Tensor, mode: str) -> torch.Tensor:
    """One cotangent per Jacobian row of an example: the unit vectors (``full``) or all-ones (``sum``).

    Call it with the model in eval mode: a forward pass in train mode would move batch-norm statistics.
    """
    _check_mode(mode)
    with torch.no_grad():
        k = model(x[:1]).shape[1]
    ones = torch.ones(1, k, dtype=x.dtype, device=x.device)
    return ones if mode == "sum" else torch.eye(k, dtype=x.dtype, device=x.device)


@contextmanager
def _no_tf32() -> Iterator[None]:
    """Full float32 products in the block: TF32 (on by default for cuDNN convolutions) would round the Jacobian
    entries to 10 mantissa bits, a relative error of about 1e-3 in the kernel (measured on an H200)."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


#: The memory budget of a kernel on a CPU, and the share of a GPU's free memory it takes there (one process).
CPU_MEMORY_BUDGET = 2 << 30
GPU_MEMORY_SHARE = 0.5


def gpu_memory_share() -> float:
    """The share of a GPU's free memory one kernel may take: $TWOPHASE_GPU_MEMORY_SHARE (the executors set it to
    0.5 / the processes sharing the device), else 0.5."""
    env = os.environ.get("TWOPHASE_GPU_MEMORY_SHARE")
    if env is None:
        return GPU_MEMORY_SHARE
    try:
        share = float(env)
    except ValueError:
        share = -1.0
    if not 0 < share <= 1:
        raise ValueError(f"TWOPHASE_GPU_MEMORY_SHARE must be a number in (0, 1], got {env!r}")
    return share


def default_memory_budget(device: str | torch.device) -> int:
    """Bytes a kernel may hold: 2 GiB on a CPU; on a GPU, a share of its free memory (:func:`gpu_memory_share`),
    so the whole Jacobian fits in one group where it can (measured on an H200: VGG-16, n = 100, 2.4 s against
    47.9 s within 2 GiB)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(CPU_MEMORY_BUDGET, int(gpu_memory_share() * free))
    return CPU_MEMORY_BUDGET


def _libc_malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it otherwise, and resident memory creeps past the budget)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _fill_jacobian(model: nn.Module, x: torch.Tensor, cotangents: torch.Tensor, names: Sequence[str],
                   out: torch.Tensor, chunk: int, batched_rows: bool = False) -> None:
    """Write the per-example Jacobian of the outputs w.r.t. the parameters ``names`` into ``out`` (rows, P_names).

    ``chunk`` examples go through ``vmap`` at a time (their gradients are the only temporary). With
    ``batched_rows`` the K pull-backs of an example are one ``vmap`` over the cotangents as well (K times
    fewer, larger kernels: faster where launches cost, as on a GPU; slower on a CPU).
    """
    params = dict(model.named_parameters())
    wrt = {k: params[k].detach() for k in names}
    fixed = {k: v.detach() for k, v in params.items() if k not in wrt}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    rows = cotangents.shape[0]

    def per_example(xi: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        def f(p: dict) -> torch.Tensor:
            return functional_call(model, ({**fixed, **p}, buffers), (xi.unsqueeze(0),)).squeeze(0)

        _, pullback = vjp(f, wrt)  # one forward pass, then one backward pass per output row
        if batched_rows:
            return [vmap(pullback)(cotangents)[0]]  # every row at once: (rows, *shape) per tensor
        return [pullback(c)[0] for c in cotangents]

    view = out.view(x.shape[0], rows, -1)
    for s in range(0, x.shape[0], chunk):
        grads = vmap(per_example)(x[s : s + chunk])
        for r, g in enumerate(grads):
            offset = 0
            for name in names:
                size = wrt[name].numel()
                if batched_rows:
                    view[s : s + chunk, :, offset : offset + size] = g[name].reshape(g[name].shape[0], rows, -1)
                else:
                    view[s : s + chunk, r, offset : offset + size] = g[name].reshape(g[name].shape[0], -1)
                offset += size
        del grads
        release_memory()


def jacobian(model: nn.Module, x: torch.Tensor, mode: str = "full") -> torch.Tensor:
    """Per-example Jacobian of the outputs w.r.t. all parameters, as a (rows, P) matrix in the model's dtype.

    Rows are ordered example-major: (x_0, logit 0), (x_0, logit 1), ..., or one row per example for ``sum``.
    """
    with _eval_mode(model):
        cotangents = _cotangents(model, x, mode)
        rows = cotangents.shape[0]
        names = [k for k, _ in model.named_parameters()]
        p = sum(v.numel() for v in model.parameters())
        out = torch.empty(x.shape[0] * rows, p, dtype=next(model.parameters()).dtype, device=x.device)
        _fill_jacobian(model, x, cotangents, names, out, chunk=x.shape[0])
    return out


#: vmap's per-example gradients cost about this many times their own size while they are computed (measured:
#: 1.6 for VGG-16's largest tensor), and the forward and backward passes need a fixed work space besides.
GRADIENT_OVERHEAD = 2.0
WORKSPACE_BYTES = 256 << 20


@dataclass(frozen=True)
class KernelPlan:
    """How a kernel is computed within a memory budget: parameter groups, and per group the example blocks."""

    groups: tuple[tuple[str, ...], ...]  # parameter names, whole tensors
    outer: tuple[int, ...]  # per group: examples whose Jacobian rows are held at once
    chunk: tuple[int, ...]  # per group: examples through vmap at once (and the inner block size)
    peak_bytes: int  # the planned peak of Jacobian storage, temporaries, work space and the kernel itself

    def passes(self, n: int) -> int:
        """How many example-Jacobians (forward + backward per row) the plan computes, over all groups."""
        total = 0
        for o in self.outer:
            total += n if o >= n else sum(n - min(n, i + o) for i in range(0, n, o)) + n
        return total


def plan_kernel(model: nn.Module, n: int, rows: int, memory_budget: int,
                accumulate_dtype: torch.dtype | None = None) -> KernelPlan:
    """Split parameters into groups and examples into blocks so Jacobian blocks, temporaries and kernel fit the budget.

    For a group of P_g parameters, one example's Jacobian rows take b = rows·P_g bytes per entry of the
    accumulation dtype, and its vmap gradients while computed g = GRADIENT_OVERHEAD·rows·P_g bytes per
    entry of the model's dtype. All n examples at once (chunks of c through vmap) need n·b + c·g; otherwise
    an outer block of o examples and an inner block of c need o·b + c·(b + g). Raises when one example of
    the largest tensor cannot fit.
    """
    dtype = next(model.parameters()).dtype
    acc = accumulate_dtype or dtype
    kernel_bytes = (n * rows) ** 2 * acc.itemsize * 2  # the kernel and one block of it
    workspace = min(WORKSPACE_BYTES, memory_budget // 8)
    avail = memory_budget - kernel_bytes - workspace
    named = [(k, v.numel()) for k, v in model.named_parameters()]

    def per_example(size: int) -> tuple[int, int]:
        return rows * size * acc.itemsize, int(GRADIENT_OVERHEAD * rows * size * dtype.itemsize)

    biggest = max(p for _, p in named)
    b, g = per_example(biggest)
    if avail < 2 * b + g:
        need = 2 * b + g + kernel_bytes + workspace
        raise MemoryError(f"eNTK memory budget of {memory_budget / 2**20:.0f} MiB is below the {need / 2**20:.0f} MiB "
                          f"needed for one example of the largest parameter tensor ({biggest:,} entries, "
                          f"{rows} rows): raise memory_budget")
    # Tensors too large for all n examples at once get a group of their own (their examples go in blocks); the
    # others are packed in model order, so a group's backward passes stop near its earliest layer.
    b1, g1 = per_example(1)
    cap = avail // (n * b1 + g1)
    groups: list[list[str]] = []
    sizes: list[int] = []
    open_group = None
    for name, p in named:
        if p > cap:
            groups.append([name])
            sizes.append(p)
        elif open_group is not None and sizes[open_group] + p <= cap:
            groups[open_group].append(name)
            sizes[open_group] += p
        else:
            open_group = len(groups)
            groups.append([name])
            sizes.append(p)
    outer, chunk, peak = [], [], 0
    for size in sizes:
        b, g = per_example(size)
        if n * b + g <= avail:  # the whole group at once; the vmap chunk takes what is left, up to n
            c = int(min(n, (avail - n * b) // g))
            o = n
            use = n * b + c * g
        else:  # an outer block of o examples held, inner blocks of c recomputed against it
            c = int(max(1, min(n, avail // (8 * (b + g)))))
            o = int(min(n, (avail - c * (b + g)) // b))
            use = o * b + c * (b + g)
        outer.append(o)
        chunk.append(c)
        peak = max(peak, use)
    return KernelPlan(tuple(tuple(g) for g in groups), tuple(outer), tuple(chunk), peak + kernel_bytes + workspace)


def _gram_into(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, ra: slice, rb: slice) -> None:
    """out[ra, rb] += a bᵀ, and the mirrored block."""
    block = a @ b.T
    out[ra, rb] += block
    if ra != rb:
        out[rb, ra] += block.T


def _gram_of(out: torch.Tensor, j: torch.Tensor, offset: int) -> None:
    """Add j jᵀ to the diagonal block of ``out`` at ``offset``: three GEMMs over two row halves (¾ of the flops)."""
    m = j.shape[0]
    h = m // 2 if m >= 64 else m
    halves = [(0, h), (h, m)] if h < m else [(0, m)]
    for a, (i0, i1) in enumerate(halves):
        for j0, j1 in halves[a:]:
            _gram_into(out, j[i0:i1], j[j0:j1], slice(offset + i0, offset + i1), slice(offset + j0, offset + j1))


def empirical_ntk(
    model: nn.Module,
    inputs: torch.Tensor,
    mode: str = "full",
    memory_budget: int | None = None,
    accumulate_dtype: torch.dtype | None = None,
    batched_rows: bool | None = None,
) -> torch.Tensor:
    """The eNTK of ``model`` on ``inputs``: (nK, nK) for ``full``, (n, n) for ``sum``; peak memory within the budget.

    Jacobians are computed in the model's dtype (convert the model with ``.double()`` for float64 Jacobians)
    and stored, multiplied and summed in ``accumulate_dtype`` (default: the model's dtype). float32 entries
    multiply exactly in float64, so ``accumulate_dtype=torch.float64`` on a float32 model removes the
    GEMM's rounding at about twice its cost. ``memory_budget`` defaults to :func:`default_memory_budget`;
    on a GPU, TF32 is off while the kernel is computed. ``batched_rows`` (default: on a GPU only) takes
    an example's K pull-backs in one ``vmap``.
    """
    n = inputs.shape[0]
    if memory_budget is None:
        memory_budget = default_memory_budget(inputs.device)
    if batched_rows is None:
        batched_rows = inputs.device.type == "cuda"
    with _eval_mode(model), _no_tf32():
        cotangents = _cotangents(model, inputs, mode)
        rows = cotangents.shape[0]
        acc = accumulate_dtype or next(model.parameters()).dtype
        plan = plan_kernel(model, n, rows, memory_budget, acc)
        params = dict(model.named_parameters())
        out = torch.zeros(n * rows, n * rows, dtype=acc, device=inputs.device)
        for names, o, c in zip(plan.groups, plan.outer, plan.chunk):
            size = sum(params[k].numel() for k in names)
            for i in range(0, n, o):
                xi = inputs[i : i + o]
                ji = torch.empty(xi.shape[0] * rows, size, dtype=acc, device=inputs.device)
                _fill_jacobian(model, xi, cotangents, names, ji, c, batched_rows)
                _gram_of(out, ji, i * rows)
                for j in range(i + o, n, c):  # inner blocks after the outer one: recomputed, never stored whole
                    xj = inputs[j : j + c]
                    jj = torch.empty(xj.shape[0] * rows, size, dtype=acc, device=inputs.device)
                    _fill_jacobian(model, xj, cotangents, names, jj, c, batched_rows)
                    _gram_into(out, ji, jj, slice(i * rows, (i + xi.shape[0]) * rows),
                               slice(j * rows, (j + xj.shape[0]) * rows))
                    del jj
                del ji
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
