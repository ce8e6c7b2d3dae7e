"""A step-indexed SGD trainer that saves and resumes checkpoints bitwise-exactly, and evaluation.

The state after ``s`` updates is a :class:`Checkpoint` at step ``s`` (step 0 is the
initialisation). The update taken at step ``s`` uses the batch and augmentation drawn from
(seed, s) and the learning rate ``optim.lr_at(s)``, so training 0 -> T in one go and
resuming at ``s`` give bitwise the same parameters on CPU.
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import runtime
from .config import RunConfig, check_choice, check_integer
from .data import TensorData, derive_seed
from .models import ONEDNN_RTUS_CHANNELS, unsafe_strided_pointwise_convs
from .task import run_data, run_loss, run_model


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True, **kwargs) -> tqdm:
    """A tqdm bar, off when ``enabled`` is false or the runtime's bars are off ($TQDM_DISABLE, as for executed
    notebooks, and in worker processes)."""
    off = not enabled or not runtime.current().progress_bars
    return tqdm(iterable, desc=desc, disable=off, leave=False, **kwargs)


#: Torch threads every cached computation runs with. On CPU the number of threads changes how convolutions and
#: matrix products split their sums, hence their rounding, hence (through the chaos this book studies) every
#: result: a result must not depend on which executor computed it.
COMPUTE_THREADS = 1


@contextmanager
def compute_threads() -> Iterator[None]:
    """Run the block with ``COMPUTE_THREADS`` torch threads, restoring the caller's count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(COMPUTE_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_device(device: str | torch.device) -> None:
    """Check that this machine has the device a run names.

    Raises:
        RuntimeError: a CUDA device is named and none is available (the message says which profile to use).
    """
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"this run is configured for device {device!r} but no CUDA device is available: the gpu "
                           "and paper profiles need a GPU (use profile 'cpu' on a CPU)")


def set_deterministic(device: str | torch.device) -> None:
    """Ask PyTorch for deterministic kernels (needed on GPU, where non-determinism acts as a perturbation).

    Prefer :func:`deterministic`, which restores the caller's settings; this sets them for good. A caller that
    already asked for strict determinism (errors, not warnings) keeps it.
    """
    check_device(device)
    strict = torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=not strict)
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@contextmanager
def _cublas_workspace(device: str | torch.device) -> Iterator[None]:
    """On a GPU, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` unless the caller set one: cuBLAS reads it when its first handle
    is made, and deterministic GEMMs need it. The variable is removed again after the block (a handle keeps it)."""
    if torch.device(device).type != "cuda" or "CUBLAS_WORKSPACE_CONFIG" in os.environ:
        yield
        return
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"
    try:
        yield
    finally:
        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


@contextmanager
def deterministic(device: str | torch.device) -> Iterator[None]:
    """Deterministic kernels for the block (:func:`set_deterministic`); the caller's settings restored after."""
    with _cublas_workspace(device), _deterministic(device):
        yield


@contextmanager
def _deterministic(device: str | torch.device) -> Iterator[None]:
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    set_deterministic(device)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]


@contextmanager
def step_randomness(device: str | torch.device) -> Iterator[None]:
    """A block whose draws from torch's global generators (dropout masks, ``torch.rand`` in a forward) are
    re-seeded per step by :func:`seed_step`; the caller's generator states are restored after."""
    device = torch.device(device)
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    with torch.random.fork_rng(devices=devices):
        yield


def seed_step(cfg: RunConfig, step: int) -> None:
    """Seed torch's global generators (CPU and CUDA) for the update at ``step`` from (batch seed, step): a model's
    own randomness (dropout) is drawn per step, as batches are, so a twin branched at t0 sees its parent's masks,
    a resumed run those of an uninterrupted one, and the ε = 0 control is exact."""
    torch.manual_seed(derive_seed("step", cfg.batch_seed, step))


@dataclass
class Checkpoint:
    """Training state after ``step`` updates: model state (parameters and buffers) and optimiser state."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict = field(default_factory=dict)


class DivergedError(RuntimeError):
    """Training diverged: the loss became NaN or infinite, or exploded (:func:`first_diverged`), at iteration
    ``step`` (a run that enters no curve)."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step


#: How many times the run's training loss at initialisation (:func:`initial_loss`) a loss may reach before the run
#: counts as exploded, finite or not. A working run's loss never leaves the order of its initial one (cross-entropy
#: from ln K ≈ 2.3; the book's fully linearized runs at lr 0.1 peak near 50× it), while an exploding one passes 10⁴×
#: within a few iterations on its way to 10²⁰ (lr 50, 84 → 4e21 in 12 steps) and, with batch norm, may never reach
#: infinity.
LOSS_EXPLOSION_FACTOR = 1e4


def first_diverged(losses: dict[int, float], initial: float) -> int | None:
    """The first iteration whose training loss is NaN or infinite, or larger in absolute value than
    :data:`LOSS_EXPLOSION_FACTOR` times ``initial``'s (the update taken there diverged, upward or, for a loss that
    can be negative such as ``nll_loss`` on raw logits, downward), or None.

    The bound is anchored to the run's loss at initialisation, never to the first loss of ``losses``: a resumed
    stretch, or a run switched late, starts from a small loss whose ordinary spikes would pass 10⁴ times it, so a
    stretch-relative bound would make whether a run diverged depend on which of its states happened to be cached.

    Args:
        losses: {iteration: training loss} of one run, or of one resumed stretch of it.
        initial: the run's training loss at initialisation (:func:`initial_loss`); the bound is
            :data:`LOSS_EXPLOSION_FACTOR` times its absolute value (none when it is 0 or not finite: then only NaN
            and infinite losses count).
    """
    steps = sorted(losses)
    bound = LOSS_EXPLOSION_FACTOR * abs(initial) if math.isfinite(initial) and initial != 0 else math.inf
    return next((s for s in steps if not math.isfinite(losses[s]) or abs(losses[s]) > bound), None)


@dataclass
class TrainResult:
    """Checkpoints saved during a run (by step) and the training loss of every update taken."""

    checkpoints: dict[int, Checkpoint]
    losses: dict[int, float]

    @property
    def final(self) -> Checkpoint:
        """The checkpoint at the last step reached."""
        return self.checkpoints[max(self.checkpoints)]


def snapshot(step: int, model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> Checkpoint:
    """Copy the current model (and optimiser) state into a Checkpoint on the CPU."""
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    opt = {}
    if optimizer is not None:
        sd = optimizer.state_dict()
        opt = {
            "state": {
                i: {k: (v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v) for k, v in s.items()}
                for i, s in sd["state"].items()
            },
            "param_groups": [dict(g) for g in sd["param_groups"]],
        }
    return Checkpoint(step, state, opt)


def initial_checkpoint(cfg: RunConfig) -> Checkpoint:
    """The checkpoint at step 0: freshly initialised weights (from ``cfg.seed``), empty optimiser state."""
    return snapshot(0, run_model(cfg, "cpu"))


def materialise(cfg: RunConfig, ckpt: Checkpoint) -> nn.Module:
    """A model on ``cfg.device``, in the configuration's memory format, holding the state of ``ckpt``."""
    model = in_memory_format(run_model(cfg), cfg.memory_format)
    model.load_state_dict(ckpt.model)
    return model


def initial_loss(cfg: RunConfig) -> float:
    """The run's training loss at initialisation: the loss of its initial network (train mode) on the batch of
    iteration 0, with that step's augmentation and dropout draws, before any update — the loss its first update
    reports. The anchor of the explosion rule (:func:`first_diverged`): the same whichever stretch of the run, or
    of a run switched from it, is checked, so whether a run diverged never depends on the cache. One forward pass
    of one batch; the caller's generators are left as they were.

    Returns:
        The loss as a float, in the task's loss units (for cross-entropy about ln K at initialisation).
    """
    with deterministic(cfg.device), step_randomness(cfg.device):
        return _initial_loss(cfg)


def _initial_loss(cfg: RunConfig) -> float:
    data = run_data(cfg)
    model = materialise(cfg, initial_checkpoint(cfg))
    model.train()
    x, y = data.train_batch(cfg.batch_seed, 0, cfg.optim.batch_size, cfg.data.augment)
    seed_step(cfg, 0)
    with torch.no_grad():
        return float(run_loss(cfg)(model(x), y))


def in_memory_format(model: nn.Module, memory_format: str) -> nn.Module:
    """``model`` with its 4-D parameters and buffers (2-D convolutions' weights) laid out channels-last when
    ``memory_format == "channels_last"``; tensors of any other rank keep their layout, so a network with 3-D
    convolutions (5-D weights), an MLP or a sequence model runs under the default too (``Module.to`` refuses a
    5-D tensor: "required rank 4 tensor to use channels_last format").

    Raises:
        ValueError: channels-last on a CPU for a model with a 1×1 convolution of stride above 1 and few input
            channels (:func:`twophase_lib.models.unsafe_strided_pointwise_convs`), which oneDNN's kernel computes
            wrongly or crashes on (uxlfoundation/oneDNN#6035): the message names the layers and the two remedies.
    """
    if memory_format != "channels_last":
        return model
    unsafe = unsafe_strided_pointwise_convs(model)
    if unsafe and all(p.device.type == "cpu" for p in model.parameters()):
        raise ValueError(
            f"the model's 1×1 convolutions {unsafe} have a stride above 1 and fewer than {ONEDNN_RTUS_CHANNELS} "
            "input channels: in channels-last on a CPU, oneDNN's kernel for their weight gradients writes past its "
            "workspace (a crash, a hang or silently wrong gradients, by machine; uxlfoundation/oneDNN#6035). Build "
            "them as twophase_lib.models.PointwiseConv2d (the same function and parameters; "
            "twophase_lib.models.use_pointwise_subsampling(model) swaps them in place), or train with "
            "memory_format='contiguous'")
    with torch.no_grad():
        for t in (*model.parameters(), *model.buffers()):
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
    return model


def make_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD (or AdamW) with the configuration's momentum and weight decay (lr is set per step)."""
    o = cfg.optim
    if o.algorithm == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.momentum, o.beta2), weight_decay=o.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def train(
    cfg: RunConfig,
    until: int | None = None,
    start: Checkpoint | None = None,
    save_at: Iterable[int] = (),
    progress: bool = True,
    on_step: Callable[[int, nn.Module], None] | None = None,
    desc: str = "train",
) -> TrainResult:
    """Train from ``start`` (default: initialisation) to step ``until`` (default: ``cfg.optim.steps``).

    Returns the checkpoints at every step of ``save_at`` inside [start.step, until] and at ``until``.
    ``on_step(step, model)`` is called with the state at each step before its update. Deterministic kernels
    are on during the run and the caller's settings restored after (:func:`deterministic`); the model's own
    randomness (dropout) is drawn per step from seeded generators (:func:`seed_step`), and torch's global
    generators are left as the caller had them.

    Raises:
        ValueError: ``until`` lies before ``start``. RuntimeError: the run names a CUDA device this machine lacks.
        DivergedError: the training loss became NaN or infinite, or exploded past
            :data:`LOSS_EXPLOSION_FACTOR` times its loss at initialisation (:func:`initial_loss`; the message
            names the iteration and its lr).
    """
    check_device(cfg.device)
    until = cfg.optim.steps if until is None else int(check_integer(until, "until (the iteration to train to)"))
    start = start if start is not None else initial_checkpoint(cfg)
    if until < start.step:
        raise ValueError(f"cannot train backwards: start step {start.step} > until {until}")
    with deterministic(cfg.device), step_randomness(cfg.device):
        return _train(cfg, until, start, save_at, progress, on_step, desc)


def _train(
    cfg: RunConfig,
    until: int,
    start: Checkpoint,
    save_at: Iterable[int],
    progress: bool,
    on_step: Callable[[int, nn.Module], None] | None,
    desc: str,
) -> TrainResult:
    data = run_data(cfg)
    model = materialise(cfg, start)
    if cfg.optim.batch_size < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError(f"batch_size = {cfg.optim.batch_size}: the network has batch norm, which cannot normalise a "
                         "batch of one example in train mode; use batch_size ≥ 2")
    optimizer = make_optimizer(cfg, model)
    if start.optimizer:  # a copy: torch's load_state_dict keeps the tensors, and training would move start's
        optimizer.load_state_dict(copy.deepcopy(start.optimizer))  # momentum in place
    step_fn = step_function(cfg, model, optimizer, data, until - start.step, start.step)
    wanted = {s for s in save_at if start.step <= s <= until} | {until}
    saved: dict[int, Checkpoint] = {}
    losses: dict[int, float] = {}
    model.train()
    for step in progress_bar(range(start.step, until), desc, progress and until > start.step):
        if step in wanted:
            saved[step] = snapshot(step, model, optimizer)
        if on_step is not None:
            on_step(step, model)
        losses[step] = step_fn(step)
    saved[until] = snapshot(until, model, optimizer)
    losses = losses_as_floats(losses)
    initial = _initial_loss(cfg) if losses else math.inf  # the anchor, whichever stretch this is
    step = first_diverged(losses, initial)
    if step is not None:
        how = (f"became {losses[step]}" if not math.isfinite(losses[step]) else
               f"exploded to {losses[step]:.3g}, over {LOSS_EXPLOSION_FACTOR:.0e} times its loss at initialisation "
               f"{initial:.3g},")
        raise DivergedError(f"{desc}: the training loss {how} at iteration {step} (lr "
                            f"{cfg.optim.lr_at(step):g}): the run diverged, and a diverged run enters no curve; "
                            "lower the lr or add warmup (OptimConfig.warmup_steps)", step)
    return TrainResult(saved, losses)


def update(
    cfg: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, lr: float
) -> torch.Tensor:
    """One optimiser update on the batch (x, y) at learning rate ``lr``; the loss, left on the device."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = run_loss(cfg)(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def sgd_step(cfg: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorData, step: int) -> float:
    """One update at ``step``: the step's batch and augmentation, the task's loss, the step's learning rate."""
    x, y = data.train_batch(cfg.batch_seed, step, cfg.optim.batch_size, cfg.data.augment)
    seed_step(cfg, step)
    return update(cfg, model, optimizer, x, y, cfg.optim.lr_at(step)).item()


#: Updates a run must take on a GPU before its steps are replayed from CUDA graphs (fewer are not worth a capture).
GRAPH_MIN_STEPS = 20


def uses_cuda_graphs(cfg: RunConfig, optimizer: torch.optim.Optimizer, steps: int) -> bool:
    """Whether a run's updates are replayed from CUDA graphs: on a GPU, with SGD, for enough steps, unless
    $TWOPHASE_CUDA_GRAPHS is 0."""
    return (
        torch.device(cfg.device).type == "cuda"
        and type(optimizer) is torch.optim.SGD
        and steps >= GRAPH_MIN_STEPS
        and runtime.current().cuda_graphs
    )


def step_function(
    cfg: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorData, steps: int,
    first: int | None = None,
) -> Callable[[int], float | torch.Tensor]:
    """``step -> loss``: :func:`sgd_step`, or the same update replayed from CUDA graphs where those are used.

    On a GPU, given the ``first`` of the ``steps`` updates, the batches are drawn ahead in bulk
    (:meth:`twophase_lib.data.TensorData.plan_batches`, unless ``TWOPHASE_PLANNED_BATCHES=0`` or a user's
    augmenter) and the loss stays on the device (a 0-dim tensor; :func:`losses_as_floats` reads them back at
    once): no step waits for the host. The updates are bitwise the same either way.
    """
    plan = None
    if first is not None and torch.device(cfg.device).type == "cuda" and runtime.current().planned_batches:
        plan = data.plan_batches(cfg.batch_seed, first, first + steps, cfg.optim.batch_size, cfg.data.augment)
    if uses_cuda_graphs(cfg, optimizer, steps):
        return GraphedSteps(cfg, model, optimizer, data, plan=plan)
    if plan is not None:
        return PlannedSteps(cfg, model, optimizer, data, plan)
    return lambda step: sgd_step(cfg, model, optimizer, data, step)


def losses_as_floats(losses: dict[int, float | torch.Tensor]) -> dict[int, float]:
    """Training losses as floats, the ones left on a device read back in one copy."""
    on_device = [k for k, v in losses.items() if torch.is_tensor(v)]
    if not on_device:
        return dict(losses)
    values = torch.stack([losses[k].detach().reshape(()) for k in on_device]).cpu().tolist()
    return {**losses, **dict(zip(on_device, values))}


class PlannedSteps:
    """:func:`sgd_step` with the batch taken from a :class:`twophase_lib.data.BatchPlan` and the loss left on the
    device: bitwise the same update (the plan holds the same draws), with no copy from the host and no read-back
    per step. Returns 0-dim loss tensors (:func:`losses_as_floats`)."""

    def __init__(self, cfg: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorData, plan):
        self.cfg, self.model, self.optimizer, self.data, self.plan = cfg, model, optimizer, data, plan

    def __call__(self, step: int) -> torch.Tensor:
        """The update at ``step``; its training loss, on the device."""
        x, y = self.data.planned_batch(self.plan, step)
        seed_step(self.cfg, step)
        return update(self.cfg, self.model, self.optimizer, x, y, self.cfg.optim.lr_at(step)).detach()


class GraphedSteps:
    """:func:`sgd_step` replayed from CUDA graphs, one captured per learning rate.

    The same kernels run on the same memory in the same order as in eager mode, so the parameters are
    bitwise those of :func:`sgd_step` (checked on a GPU by ``bench/gpu_measure.py``); what goes away is
    the cost of launching a few hundred small kernels one by one from Python, which bounds a small network
    on a large GPU. The batch is drawn and augmented eagerly and copied into the graph's input; the
    learning rate is a constant of each graph (``torch.optim.SGD`` reads it as a number), hence one graph
    per value of the schedule. The first ``eager_steps`` updates run eagerly, on the capture stream, to
    create the optimiser's momentum buffers and the libraries' lazy state before anything is captured.
    """

    def __init__(
        self, cfg: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, data: TensorData,
        eager_steps: int = 3, plan=None,
    ):
        self.cfg, self.model, self.optimizer, self.data, self.plan = cfg, model, optimizer, data, plan
        self.eager_left = eager_steps
        self.stream = torch.cuda.Stream(device=torch.device(cfg.device))
        self.graphs: dict[float, tuple[torch.cuda.CUDAGraph, torch.Tensor]] = {}
        self.x: torch.Tensor | None = None
        self.y: torch.Tensor | None = None

    def _eager(self, x: torch.Tensor, y: torch.Tensor, lr: float) -> float | torch.Tensor:
        loss = update(self.cfg, self.model, self.optimizer, x, y, lr)
        return loss.detach() if self.plan is not None else loss.item()

    def _capture(self, lr: float) -> tuple[torch.cuda.CUDAGraph, torch.Tensor]:
        # the update's zero_grad(set_to_none) runs no kernel: the gradients are allocated (and written, not added)
        # inside the graph, and the learning rate is read as a number, a constant of the graph
        graph = torch.cuda.CUDAGraph()
        self.stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.graph(graph, stream=self.stream):
            loss = update(self.cfg, self.model, self.optimizer, self.x, self.y, lr)
        torch.cuda.current_stream().wait_stream(self.stream)
        return graph, loss

    def __call__(self, step: int) -> float | torch.Tensor:
        """The update at ``step``; returns its training loss (on the device, with a plan)."""
        cfg = self.cfg
        if self.plan is not None:
            x, y = self.data.planned_batch(self.plan, step)
        else:
            x, y = self.data.train_batch(cfg.batch_seed, step, cfg.optim.batch_size, cfg.data.augment)
        lr = cfg.optim.lr_at(step)
        seed_step(cfg, step)  # outside any capture: a replay reads the generator's seed and offset as it starts
        if self.eager_left > 0:
            self.eager_left -= 1
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                loss = self._eager(x, y, lr)
            torch.cuda.current_stream().wait_stream(self.stream)
            return loss
        if self.x is None:
            self.x, self.y = x.clone(), y.clone()
        else:
            self.x.copy_(x)
            self.y.copy_(y)
        if lr not in self.graphs:
            try:
                self.graphs[lr] = self._capture(lr)
            except RuntimeError as e:  # an operation that cannot be captured: this run goes on eagerly
                warnings.warn(f"CUDA graph capture failed ({e}); the run continues without graphs", RuntimeWarning)
                self.eager_left = 1 << 62
                torch.cuda.synchronize()
                return self._eager(x, y, lr)
        graph, loss = self.graphs[lr]
        graph.replay()
        return loss.detach().clone() if self.plan is not None else loss.item()


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Logits of ``model`` in eval mode on ``x``, in batches."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: TensorData,
    split: str = "test",
    limit: int | None = None,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> dict[str, float]:
    """Mean loss (default cross-entropy) and accuracy of ``model`` (eval mode) on a split of ``data``."""
    check_choice(split, ("train", "test"), "split")
    x, y = (data.x_train, data.y_train) if split == "train" else (data.x_test, data.y_test)
    x, y = x[:limit], y[:limit]
    logits = predict(model, x)
    return {
        "loss": loss(logits, y).item(),
        "accuracy": (logits.argmax(1) == y).double().mean().item(),
    }
