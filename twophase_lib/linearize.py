"""Linearized training: f_lin(x; θ) = f(x; θ_t) + J(x; θ_t)(θ − θ_t), trained with the same SGD recipe.

The first-order Taylor expansion of the network around a checkpoint θ_t is evaluated with
``torch.func.jvp`` (one forward-mode pass, no Jacobian is stored), with batch norm frozen at θ_t's
statistics (eval mode), re-estimated on training batches at θ_t first
(:func:`twophase_lib.store.evaluation_model`: at t = 0 the running statistics are the defaults and
normalise nothing). The trainable parameters θ start at θ_t. Choices (the paper is silent on them):
the optimiser's momentum buffers are **kept** across the switch by default (``reset_momentum=True``
starts them from zero), and weight decay pulls θ toward **zero**, exactly as in standard training
(not toward θ_t).
"""

from __future__ import annotations

import copy
import enum
import warnings
from contextlib import contextmanager
from typing import Iterable

import torch
from torch import nn
from torch.func import jvp

from .config import RunConfig
from .ntk import stateless_call
from .store import evaluation_model
from .task import run_data
from .training import (
    Checkpoint,
    TrainResult,
    check_device,
    deterministic,
    losses_as_floats,
    make_optimizer,
    progress_bar,
    snapshot,
    step_function,
    step_randomness,
)


def _jvp(f, primals: tuple, tangents: tuple):
    """``torch.func.jvp``, without the warning torch gives about itself: forward-mode AD loads its jvp
    decompositions through torch.jit.script on first use, which warns that torch.jit.script is deprecated
    (torch/_decomp/decompositions_for_jvp.py). The caller's warning filters are left as they were."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
        return jvp(f, primals, tangents)


@contextmanager
def reference_kernels():
    """oneDNN and cuDNN off for the block (``torch.backends.mkldnn.flags``, ``torch.backends.cudnn.flags``),
    without the warning torch gives each time oneDNN's flags are set on a build without Intel GPU support ("TF32
    acceleration on top of oneDNN is available for Intel GPUs"): set per step, it printed hundreds of times in a
    linearized LSTM's run. Other warnings, and the caller's filters, are left as they were."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"TF32 acceleration on top of oneDNN", category=UserWarning)
        with torch.backends.mkldnn.flags(enabled=False), torch.backends.cudnn.flags(enabled=False):
            yield


@contextmanager
def attention_reference_kernels():
    """Attention through kernels that have a forward-mode derivative, computing the same function: PyTorch's
    eval-mode fast path of ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer``
    (``aten::_native_multi_head_attention``) off (``torch.backends.mha``), and ``scaled_dot_product_attention`` on
    its math backend rather than the flash kernel (neither fused kernel has a forward-mode rule). Restored after."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    mha = torch.backends.mha
    was = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        mha.set_fastpath_enabled(was)


class Linearized(nn.Module):
    """The first-order Taylor expansion of ``model`` around its current parameters θ_t, in eval mode (batch norm
    frozen at θ_t's statistics, dropout off: the expansion of the function the network computes at test time).

    Evaluated with forward-mode AD (``torch.func.jvp``), with attention on its reference kernels
    (:func:`attention_reference_kernels`); for networks whose fused kernels lack a forward-mode rule (an LSTM on a CPU)
    the expansion runs with oneDNN and cuDNN off, decided on the first forward pass.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(model).eval()
        self._theta0 = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        self._buffers0 = {k: v.detach().clone() for k, v in self.net.named_buffers()}
        # Whether the expansion runs with oneDNN and cuDNN off: set on the first forward pass for networks whose
        # fused kernels have no forward-mode derivative (an LSTM's mkldnn_rnn_layer on a CPU), whose reference
        # kernels do; fixed from then on, so every step of a run computes the same way.
        self.plain_kernels: bool | None = None

    def train(self, mode: bool = True) -> "Linearized":
        """Set the training flag; the inner network stays in eval mode (batch norm frozen at θ_t)."""
        self.training = mode
        self.net.eval()
        return self


    def _expansion(self, x: torch.Tensor) -> torch.Tensor:
        theta = dict(self.net.named_parameters())
        tangent = {k: theta[k] - self._theta0[k] for k in theta}
        f = lambda p: stateless_call(self.net, p, self._buffers0, (x,))  # noqa: E731
        with attention_reference_kernels():
            out, delta = _jvp(f, (self._theta0,), (tangent,))
        return out + delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.plain_kernels is None:
            try:
                out = self._expansion(x)
                self.plain_kernels = False
                return out
            except NotImplementedError:  # no forward-mode rule for a fused kernel: try the reference kernels
                self.plain_kernels = True
        if not self.plain_kernels:
            return self._expansion(x)
        from .ntk import KernelError, _module_tracker, _where

        with reference_kernels(), _module_tracker(self.net) as stack:
            try:
                return self._expansion(x)
            except NotImplementedError as e:
                error = e
        raise KernelError(f"{type(self.net).__name__} cannot be linearized: forward-mode differentiation fails "
                          f"{_where(stack)}, with oneDNN and cuDNN off too: {error}") from error


class FrozenBatchNorm(nn.Module):
    """``model`` trained as it is, with batch norm frozen at its statistics at θ_t (eval mode throughout, so dropout
    is off too, as in :class:`Linearized`): the control that separates "linear" from everything else eval mode
    changes in the switch study."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(model).eval()

    def train(self, mode: bool = True) -> "FrozenBatchNorm":
        """Set the training flag; the inner network stays in eval mode (batch norm frozen at θ_t)."""
        self.training = mode
        self.net.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SwitchArm(enum.StrEnum):
    """What trains after the switch at t: the model linearized at θ_t, or the network itself with batch norm frozen."""

    LINEARIZED = "linearized"
    FROZEN_BATCH_NORM = "batch norm frozen"


def switched_model(cfg: RunConfig, base: Checkpoint, theta: Checkpoint | None = None,
                   arm: SwitchArm = SwitchArm.LINEARIZED) -> nn.Module:
    """The model an arm trains from ``base`` (batch norm re-estimated there), holding parameters ``theta``
    (default: θ_t): :class:`Linearized` or :class:`FrozenBatchNorm`."""
    arm = SwitchArm(arm)
    if arm == SwitchArm.LINEARIZED:
        return linearized_model(cfg, base, theta)
    model = FrozenBatchNorm(evaluation_model(cfg, base))
    if theta is not None:
        model.net.load_state_dict(theta.model)
    return model


def linearized_model(cfg: RunConfig, base: Checkpoint, theta: Checkpoint | None = None) -> Linearized:
    """The model linearized around ``base`` (batch norm re-estimated there) with parameters ``theta`` (default: θ_t)."""
    lin = Linearized(evaluation_model(cfg, base))
    if theta is not None:
        params = dict(lin.net.named_parameters())
        with torch.no_grad():
            for name, value in theta.model.items():
                if name in params:
                    params[name].copy_(value)
    return lin


def train_linearized(cfg: RunConfig, base: Checkpoint, until: int | None = None, reset_momentum: bool = False,
                     progress: bool = True, arm: SwitchArm = SwitchArm.LINEARIZED, lr_scale: float = 1.0,
                     start: Checkpoint | None = None, save_at: Iterable[int] = ()) -> TrainResult:
    """Train the model linearized around ``base`` (or, with ``arm=FROZEN_BATCH_NORM``, the network with batch norm
    frozen there) from step ``base.step`` to ``until`` with the run's SGD schedule, its lr times ``lr_scale``.

    Args:
        cfg: the run (its schedule gives the lr of every step; ``until`` defaults to its last step).
        base: θ_t, the checkpoint the model is expanded around (the switch time t is ``base.step``).
        reset_momentum: start the optimiser's buffers from zero instead of the parent's.
        arm: the linearized model or the batch-norm-frozen control.
        lr_scale: the lr after the switch relative to the run's.
        start: resume from this state of the same switched run (θ and the optimiser at ``start.step``, as
            ``save_at`` returns it) instead of from θ_t: bitwise the uninterrupted run.
        save_at: steps in (``start.step`` or t, ``until``) at which to return the state with its optimiser.

    Returns:
        The inner parameters θ at ``until`` (a standard-layout checkpoint: evaluate it with :func:`switched_model`,
        never as a plain network), and at each ``save_at`` step, and the per-step training losses.

    Raises:
        ValueError: ``lr_scale`` is not positive, or ``start`` lies outside [``base.step``, ``until``].
    """
    if not lr_scale > 0:
        raise ValueError(f"lr_scale must be positive, got {lr_scale}")
    until = cfg.optim.steps if until is None else until
    if start is not None and not base.step <= start.step <= until:
        raise ValueError(f"a resumed switched run must start between t = {base.step} and {until}, got {start.step}")
    check_device(cfg.device)
    with deterministic(cfg.device), step_randomness(cfg.device):
        return _train_linearized(cfg, base, until, reset_momentum, progress, SwitchArm(arm), lr_scale, start,
                                 set(save_at))


def _train_linearized(cfg: RunConfig, base: Checkpoint, until: int, reset_momentum: bool, progress: bool,
                      arm: SwitchArm, lr_scale: float, start: Checkpoint | None, save_at: set[int]) -> TrainResult:
    data = run_data(cfg)
    model = switched_model(cfg, base, start, arm=arm)
    if lr_scale != 1.0:
        cfg = cfg.replace(optim={"lr": cfg.optim.lr * lr_scale})
    optimizer = make_optimizer(cfg, model)
    if start is not None:  # copies: torch's load_state_dict keeps the tensors, training would move them in place
        if start.optimizer:
            optimizer.load_state_dict(copy.deepcopy(start.optimizer))
    elif base.optimizer and not reset_momentum:
        optimizer.load_state_dict(copy.deepcopy(base.optimizer))
    model.train()
    losses, saved = {}, {}
    first = base.step if start is None else start.step
    step_fn = step_function(cfg, model, optimizer, data, until - first, first)
    for step in progress_bar(range(first, until), f"{arm} from {base.step}", progress and until > first):
        if step in save_at and step > first:
            saved[step] = snapshot(step, model.net, optimizer)
        losses[step] = step_fn(step)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.net.state_dict().items()}
    return TrainResult({**saved, until: Checkpoint(until, state)}, losses_as_floats(losses))


