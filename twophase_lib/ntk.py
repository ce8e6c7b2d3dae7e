"""The empirical neural tangent kernel (eNTK) and its distances.

H(θ)_{(i,k),(j,l)} = ⟨∂f_k(x_i)/∂θ, ∂f_l(x_j)/∂θ⟩ for the model as it stands (eval mode, batch
norm frozen at its running statistics). ``mode="full"`` keeps every logit (an nK × nK kernel),
``mode="sum"`` differentiates the summed logits (an n × n kernel).

Only the parameters training moves enter (``requires_grad``; a tied tensor once): frozen parameters
are constants of the kernel, as they are of training.

How it is computed (all with ``torch.func``): for a batch of examples, ``vmap`` over examples of one
``vjp`` (one forward pass) whose pull-back is applied once per logit (K backward passes) gives the
per-example Jacobian rows (:class:`JacobianMethod`: where ``vmap`` cannot go, as through a forward
that accumulates in place into a tensor it created, the same rows are computed one example at a
time; a model that couples the examples of a batch, as batch norm without running statistics does,
is differentiated as it computes, on the whole batch); they are copied once into a (rows, P) matrix and the kernel
is its Gram
matrix, built from upper-triangle blocks. The kernel is a sum over parameters,
H = Σ_groups J_g J_gᵀ, so when the whole Jacobian does not fit the memory budget the parameters are
split into groups (whole tensors, in order) and, for a tensor too large on its own, the examples into
blocks: peak memory follows the budget, not n·K·P.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import functools
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from .config import check_choice

MODES = ("full", "sum")


def _check_mode(mode: str) -> None:
    check_choice(mode, MODES, "eNTK mode")


class JacobianMethod(str, enum.Enum):
    """How the Jacobian rows of the eNTK's inputs are computed; all give the same kernel up to rounding.

    ``VMAP``: per example, batched with ``torch.func.vmap`` (the fastest). ``LOOP``: per example, one at a
    time (any forward autograd can differentiate, e.g. one that accumulates in place into a tensor it created,
    which ``vmap`` refuses). ``BATCH``: the whole batch through one forward pass and its rows pulled back one
    by one (n·K backward passes of the batch): for models whose output on an example depends on the other
    examples of the batch, such as batch norm without running statistics, differentiated as they compute.
    ``AUTO`` picks ``BATCH`` for such models (:func:`couples_examples`), else ``VMAP``, falling back to ``LOOP``
    with a :class:`VmapFallbackWarning` when ``vmap`` fails.
    """

    AUTO = "auto"
    VMAP = "vmap"
    LOOP = "loop"
    BATCH = "batch"


class VmapFallbackWarning(UserWarning):
    """``vmap`` could not run through a model: its eNTK is computed one example at a time (same kernel, slower)."""


class KernelError(RuntimeError):
    """The eNTK cannot be computed for a model; the message names the module that failed and why."""


@contextmanager
def _module_tracker(model: nn.Module) -> Iterator[list]:
    """Record the modules whose forward has started and not finished (the innermost last): where a failure is."""
    stack: list = []
    names = {id(m): n for n, m in model.named_modules()}
    handles = []

    def enter(mod: nn.Module, args) -> None:
        stack.append(mod)

    def leave(mod: nn.Module, args, out) -> None:  # returns None: the output is left as it is
        if stack:
            stack.pop()

    for m in model.modules():
        handles.append(m.register_forward_pre_hook(enter))
        handles.append(m.register_forward_hook(leave))
    try:
        yield stack
    finally:
        for h in handles:
            h.remove()
        stack[:] = [f"{names.get(id(m), '?') or 'the model'} ({type(m).__name__})" for m in stack]


def _where(stack: list) -> str:
    return f"in module {stack[-1]}" if stack else "outside any module's forward"


def couples_examples(model: nn.Module, inputs: torch.Tensor) -> bool:
    """Whether ``model`` (in eval mode) computes an example's output from other examples of the batch.

    True when it holds a batch norm without running statistics (it normalises by the batch's statistics even
    in eval mode), or when its outputs on the first examples alone differ from theirs in a batch of up to 8
    (beyond float rounding: relative 1e-3), or when it fails on one example alone.
    """
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None):
            return True
    if inputs.shape[0] < 2:
        return False
    with torch.no_grad():
        batch = model(inputs[:8])
        for i in range(2):
            try:
                alone = model(inputs[i : i + 1])[0]
            except RuntimeError:
                return True
            scale = batch[i].abs().max().clamp_min(1e-6)
            if not torch.allclose(alone, batch[i], rtol=1e-3, atol=1e-3 * float(scale)):
                return True
    return False


def stateless_call(model: nn.Module, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor],
                   args: tuple) -> torch.Tensor:
    """``model(*args)`` with its parameters and buffers replaced by ``params`` and ``buffers`` (keyed by the names
    ``named_parameters()`` / ``named_buffers()`` give), the module left as it was: ``torch.func.functional_call``
    for any module graph.

    ``functional_call`` swaps a tensor under each of its names; a module registered under two names
    (``self.b = self.a``) has its slot swapped twice and restored to the first swap's tensor, so the network keeps
    a transform's tensor in place of its parameter after the call (it no longer trains, and ``.double()`` fails).
    Here every (module, attribute) slot is swapped exactly once, tied tensors (one parameter in two modules) in
    each of their slots.
    """
    return functional_call(model, {slot: (params | buffers)[name] for slot, name in _slots(model)
                                   if name in params or name in buffers}, args, tie_weights=False, strict=False)


def _slots(model: nn.Module) -> list[tuple[str, str]]:
    """(slot, name) of every parameter and buffer slot of ``model``: each module once (under its first name), each
    of its own parameters and buffers with the name ``named_parameters()`` / ``named_buffers()`` give its tensor."""
    names: dict[int, str] = {}
    for n, t in (*model.named_parameters(), *model.named_buffers()):
        names.setdefault(id(t), n)
    out = []
    for prefix, module in model.named_modules():
        for table in (module._parameters, module._buffers):
            for attr, t in table.items():
                if t is not None and id(t) in names:
                    out.append((f"{prefix}.{attr}" if prefix else attr, names[id(t)]))
    return out


def kernel_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """(name, tensor) of the parameters the eNTK differentiates: those training moves, each tensor once."""
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


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
        out = model(x[:2])  # two: a model normalising by its batch's statistics fails on one
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"a {type(out).__name__}"
        raise KernelError(f"the eNTK reads a network's outputs of shape (N, K), one row of K outputs per input; "
                          f"{type(model).__name__} returns {got} on {len(x[:2])} inputs: wrap it so forward returns "
                          "(N, K) (out.unsqueeze(1) for one output per input, out['logits'] or out[0] for a dict or "
                          "tuple)")
    k = out.shape[1]
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
    """The share of a GPU's free memory one kernel may take: the runtime's (``$TWOPHASE_GPU_MEMORY_SHARE``, else
    0.5, and in an executor's workers 0.5 / the processes sharing the device)."""
    from .runtime import current

    return current().gpu_memory_share


def default_memory_budget(device: str | torch.device) -> int:
    """Bytes a kernel may hold: 2 GiB on a CPU; on a GPU, a share of its free memory (:func:`gpu_memory_share`),
    so the whole Jacobian fits in one group where it can (measured on an H200: VGG-16, n = 100, 2.4 s against
    47.9 s within 2 GiB)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return max(CPU_MEMORY_BUDGET, int(gpu_memory_share() * free))
    return CPU_MEMORY_BUDGET


@functools.lru_cache(maxsize=None)
def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to do
        return None


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc keeps it otherwise, and resident memory creeps past the budget)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _fill_jacobian(
    model: nn.Module,
    x: torch.Tensor,
    cotangents: torch.Tensor,
    names: Sequence[str],
    out: torch.Tensor,
    chunk: int,
    batched_rows: bool = False,
    method: JacobianMethod = JacobianMethod.VMAP,
) -> None:
    """Write the per-example Jacobian of the outputs w.r.t. the parameters ``names`` into ``out`` (rows, P_names).

    ``chunk`` examples go through ``vmap`` at a time (their gradients are the only temporary). With
    ``batched_rows`` the K pull-backs of an example are one ``vmap`` over the cotangents as well (K times
    fewer, larger kernels: faster where launches cost, as on a GPU; slower on a CPU). ``method=LOOP`` takes
    the examples one at a time without ``vmap``.
    """
    params = dict(model.named_parameters())
    wrt = {k: params[k].detach() for k in names}
    fixed = {k: v.detach() for k, v in params.items() if k not in wrt}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    rows = cotangents.shape[0]

    def per_example(xi: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        def f(p: dict) -> torch.Tensor:
            return stateless_call(model, {**fixed, **p}, buffers, (xi.unsqueeze(0),)).squeeze(0)

        _, pullback = vjp(f, wrt)  # one forward pass, then one backward pass per output row
        if batched_rows:
            return [vmap(pullback)(cotangents)[0]]  # every row at once: (rows, *shape) per tensor
        return [pullback(c)[0] for c in cotangents]

    def looped(xs: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        each = [per_example(xi) for xi in xs]
        return [{k: torch.stack([e[r][k] for e in each]) for k in names} for r in range(len(each[0]))]

    view = out.view(x.shape[0], rows, -1)
    for s in range(0, x.shape[0], chunk):
        grads = looped(x[s : s + chunk]) if method == JacobianMethod.LOOP else vmap(per_example)(x[s : s + chunk])
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


def _fill_jacobian_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    start: int,
    stop: int,
    cotangents: torch.Tensor,
    names: Sequence[str],
    out: torch.Tensor,
) -> None:
    """Write the Jacobian rows of examples ``start:stop`` into ``out``, the whole of ``inputs`` going through one
    forward pass (:attr:`JacobianMethod.BATCH`): row (i, k) is the pull-back of cotangent k at example i."""
    params = dict(model.named_parameters())
    wrt = {k: params[k].detach() for k in names}
    fixed = {k: v.detach() for k, v in params.items() if k not in wrt}
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    out_all, pullback = vjp(lambda p: stateless_call(model, {**fixed, **p}, buffers, (inputs,)), wrt)
    rows = cotangents.shape[0]
    view = out.view(stop - start, rows, -1)
    for i in range(start, stop):
        for r in range(rows):
            seed = torch.zeros_like(out_all)
            seed[i] = cotangents[r]
            g = pullback(seed)[0]
            view[i - start, r] = torch.cat([g[k].reshape(-1) for k in names])


def choose_method(
    model: nn.Module, inputs: torch.Tensor, method: JacobianMethod | str = JacobianMethod.AUTO
) -> JacobianMethod:
    """The :class:`JacobianMethod` the eNTK of ``model`` (in eval mode) on ``inputs`` uses: ``method`` unless AUTO;
    AUTO gives BATCH for models that couple a batch's examples (:func:`couples_examples`), else VMAP."""
    method = JacobianMethod(method)
    if method != JacobianMethod.AUTO:
        return method
    return JacobianMethod.BATCH if couples_examples(model, inputs) else JacobianMethod.VMAP


class _Filler:
    """Fills Jacobian blocks by one method, switching once from VMAP to LOOP (with a warning) where vmap fails, and
    naming the failing module when even the loop cannot differentiate the model."""

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        cotangents: torch.Tensor,
        method: JacobianMethod,
        batched_rows: bool,
    ):
        self.model, self.inputs, self.cotangents, self.method = model, inputs, cotangents, method
        self.batched_rows = batched_rows

    def __call__(self, start: int, stop: int, names: Sequence[str], out: torch.Tensor, chunk: int) -> None:
        if self.method == JacobianMethod.VMAP:
            with _module_tracker(self.model) as stack:
                try:
                    _fill_jacobian(
                        self.model, self.inputs[start:stop], self.cotangents, names, out, chunk, self.batched_rows
                    )
                    return
                except (RuntimeError, NotImplementedError, ValueError) as e:
                    error = e
            warnings.warn(
                f"eNTK: torch.func.vmap cannot run through {type(self.model).__name__} "
                f"({_where(stack)}: {str(error).splitlines()[0]}); computing its Jacobian one example at a "
                "time (the same kernel, slower)",
                VmapFallbackWarning,
                stacklevel=3,
            )
            self.method = JacobianMethod.LOOP
        with _module_tracker(self.model) as stack:
            try:
                if self.method == JacobianMethod.BATCH:
                    _fill_jacobian_batch(self.model, self.inputs, start, stop, self.cotangents, names, out)
                else:
                    _fill_jacobian(
                        self.model,
                        self.inputs[start:stop],
                        self.cotangents,
                        names,
                        out,
                        chunk,
                        self.batched_rows,
                        JacobianMethod.LOOP,
                    )
                return
            except (RuntimeError, NotImplementedError, ValueError) as e:
                error = e
        raise KernelError(
            f"the eNTK of {type(self.model).__name__} cannot be computed ({self.method.value} method): "
            f"autograd failed {_where(stack)}: {error}"
        ) from error


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


def _size(n: float) -> str:
    """Bytes as people read them: ``512 bytes``, ``3.2 KiB``, ``1,024.0 MiB``."""
    if n < 2**10:
        return f"{n:,.0f} bytes"
    return f"{n / 2**10:,.1f} KiB" if n < 2**20 else f"{n / 2**20:,.1f} MiB"


def plan_kernel(
    model: nn.Module, n: int, rows: int, memory_budget: int, accumulate_dtype: torch.dtype | None = None
) -> KernelPlan:
    """Split parameters into groups and examples into blocks so Jacobian blocks, temporaries and kernel fit the budget.

    For a group of P_g parameters, one example's Jacobian rows take b = rows·P_g bytes per entry of the
    accumulation dtype, and its vmap gradients while computed g = GRADIENT_OVERHEAD·rows·P_g bytes per
    entry of the model's dtype. All n examples at once (chunks of c through vmap) need n·b + c·g; otherwise
    an outer block of o examples and an inner block of c need o·b + c·(b + g). Raises when one example of
    the largest tensor cannot fit.
    """
    named = [(k, v.numel()) for k, v in kernel_parameters(model)]
    if not named:
        raise KernelError(
            f"{type(model).__name__} has no parameter that training moves (requires_grad): its eNTK is empty"
        )
    dtype = kernel_parameters(model)[0][1].dtype
    acc = accumulate_dtype or dtype
    kernel_bytes = (n * rows) ** 2 * acc.itemsize * 2  # the kernel and one block of it
    workspace = min(WORKSPACE_BYTES, memory_budget // 8)
    avail = memory_budget - kernel_bytes - workspace

    def per_example(size: int) -> tuple[int, int]:
        return rows * size * acc.itemsize, int(GRADIENT_OVERHEAD * rows * size * dtype.itemsize)

    biggest = max(p for _, p in named)
    b, g = per_example(biggest)
    if avail < 2 * b + g:
        need = 2 * b + g + kernel_bytes + workspace
        raise MemoryError(
            f"eNTK memory budget of {_size(memory_budget)} is below the {_size(need)} "
            f"needed for one example of the largest parameter tensor ({biggest:,} entries, "
            f"{rows} rows): raise memory_budget"
        )
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
    method: JacobianMethod | str = JacobianMethod.AUTO,
) -> torch.Tensor:
    """The eNTK of ``model`` on ``inputs``: (nK, nK) for ``full``, (n, n) for ``sum``; peak memory within the budget.

    Jacobians are computed in the model's dtype (convert the model with ``.double()`` for float64 Jacobians)
    and stored, multiplied and summed in ``accumulate_dtype`` (default: the model's dtype). float32 entries
    multiply exactly in float64, so ``accumulate_dtype=torch.float64`` on a float32 model removes the
    GEMM's rounding at about twice its cost. ``memory_budget`` defaults to :func:`default_memory_budget`;
    on a GPU, TF32 is off while the kernel is computed. ``batched_rows`` (default: on a GPU only) takes
    an example's K pull-backs in one ``vmap``. ``method`` chooses how the Jacobian rows are computed
    (:class:`JacobianMethod`; AUTO: what the model allows).

    Args:
        model: any network autograd can differentiate, outputs of shape (N, K); evaluated in eval mode.
        inputs: (n, ...) on the model's device; for a model that couples a batch's examples (batch norm
            without running statistics) the kernel is that of the model's output on this batch.

    Returns:
        The kernel, symmetric, over the parameters of :func:`kernel_parameters`.

    Raises:
        KernelError: autograd cannot differentiate the model (the message names the module), or it has no
            trainable parameter.
        MemoryError: the budget cannot hold one example's Jacobian of the largest parameter tensor.
        ValueError: ``inputs`` is not a tensor with a batch dimension holding at least one example.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() == 0 or inputs.shape[0] == 0:
        raise ValueError(f"empirical_ntk needs inputs of shape (n, ...) with n ≥ 1 (one example: x.unsqueeze(0)), got "
                         f"{tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__}")
    n = inputs.shape[0]
    if memory_budget is None:
        memory_budget = default_memory_budget(inputs.device)
    if batched_rows is None:
        batched_rows = inputs.device.type == "cuda"
    with _eval_mode(model), _no_tf32():
        cotangents = _cotangents(model, inputs, mode)
        rows = cotangents.shape[0]
        params = dict(kernel_parameters(model))
        acc = accumulate_dtype or next(iter(params.values())).dtype
        plan = plan_kernel(model, n, rows, memory_budget, acc)
        fill = _Filler(model, inputs, cotangents, choose_method(model, inputs, method), batched_rows)
        out = torch.zeros(n * rows, n * rows, dtype=acc, device=inputs.device)
        for names, o, c in zip(plan.groups, plan.outer, plan.chunk):
            size = sum(params[k].numel() for k in names)
            for i in range(0, n, o):
                ni = min(n, i + o) - i
                ji = torch.empty(ni * rows, size, dtype=acc, device=inputs.device)
                fill(i, i + ni, names, ji, c)
                _gram_of(out, ji, i * rows)
                for j in range(i + o, n, c):  # inner blocks after the outer one: recomputed, never stored whole
                    nj = min(n, j + c) - j
                    jj = torch.empty(nj * rows, size, dtype=acc, device=inputs.device)
                    fill(j, j + nj, names, jj, c)
                    _gram_into(out, ji, jj, slice(i * rows, (i + ni) * rows), slice(j * rows, (j + nj) * rows))
                    del jj
                del ji
    return _symmetrised(out)


def _symmetrised(k: torch.Tensor) -> torch.Tensor:
    """(K + Kᵀ)/2: a GEMM's rounding leaves J Jᵀ asymmetric in the last bit."""
    return (k + k.T) / 2


def kernel_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """S(a, b) = 1 − ⟨a, b⟩_F / (‖a‖_F ‖b‖_F) in float64, as ½‖a/‖a‖ − b/‖b‖‖² (exactly 0 for equal kernels): the
    paper's kernel distance (its Eq. for S(t, t′)), in [0, 2].

    Raises:
        ValueError: kernels of different shapes, or one with zero norm (no direction to compare).
    """
    if a.shape != b.shape:
        raise ValueError(f"kernel_distance compares kernels of one shape, got {tuple(a.shape)} and {tuple(b.shape)} "
                         "(the same inputs and outputs at both checkpoints)")
    a, b = a.double().flatten(), b.double().flatten()
    for name, k in (("first", a), ("second", b)):
        if k.norm() == 0:  # (a NaN kernel gives NaN: a diverged network's distance is unknown, not refused)
            raise ValueError(f"kernel_distance: the {name} kernel is zero (a network whose outputs do not depend on "
                             "its parameters on these inputs): it has no direction to compare")
    return 0.5 * float(((a / a.norm() - b / b.norm()) ** 2).sum())


def distance_matrix(kernels: Sequence[torch.Tensor]) -> np.ndarray:
    """S(K_i, K_j) for every pair of a list of kernels (same stable formula as :func:`kernel_distance`), an (n, n)
    float64 array.

    Raises:
        ValueError: kernels of different shapes, or one with zero norm (as :func:`kernel_distance`; a NaN kernel gives
            NaN in its row and column).
    """
    shapes = {tuple(k.shape) for k in kernels}
    if len(shapes) > 1:
        raise ValueError(f"distance_matrix compares kernels of one shape, got {sorted(shapes)}")
    flat = torch.stack([k.double().flatten() for k in kernels])
    norms = flat.norm(dim=1, keepdim=True)
    zero = (norms.flatten() == 0).nonzero().flatten().tolist()
    if zero:
        raise ValueError(f"distance_matrix: kernel {zero[0]} of {len(kernels)} is zero (a network whose outputs do not "
                         "depend on its parameters on these inputs): it has no direction to compare")
    unit = flat / norms
    dist = torch.cdist(unit, unit, compute_mode="donot_use_mm_for_euclid_dist")
    return (0.5 * dist**2).numpy()


