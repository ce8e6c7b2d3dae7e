"""Linearized training: f_lin(x; θ) = f(x; θ_t) + J(x; θ_t)(θ − θ_t), trained with the same SGD recipe.

The first-order Taylor expansion of the network around a checkpoint θ_t is evaluated with
``torch.func.jvp`` (one forward-mode pass, no Jacobian is stored), with batch norm frozen at θ_t's
running statistics (eval mode). The trainable parameters θ start at θ_t. Choices (the paper is
silent on them): the optimiser's momentum buffers are **kept** across the switch by default
(``reset_momentum=True`` starts them from zero), and weight decay pulls θ toward **zero**, exactly
as in standard training (not toward θ_t).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, jvp

from .cache import Cache
from .chaos import parent_checkpoints, preset as chaos_preset
from .config import RunConfig, check_profile
from .data import load_data
from .training import (Checkpoint, TrainResult, evaluate, make_optimizer, materialise, progress_bar, set_deterministic,
                       sgd_step)


class Linearized(nn.Module):
    """The first-order Taylor expansion of ``model`` around its current parameters θ_t (BN frozen)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(model).eval()
        self._theta0 = {k: v.detach().clone() for k, v in self.net.named_parameters()}
        self._buffers0 = {k: v.detach().clone() for k, v in self.net.named_buffers()}

    def train(self, mode: bool = True) -> "Linearized":
        """Set the training flag; the inner network stays in eval mode (batch norm frozen at θ_t)."""
        self.training = mode
        self.net.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = dict(self.net.named_parameters())
        tangent = {k: theta[k] - self._theta0[k] for k in theta}
        f = lambda p: functional_call(self.net, (p, self._buffers0), (x,))  # noqa: E731
        out, delta = jvp(f, (self._theta0,), (tangent,))
        return out + delta


def linearized_model(cfg: RunConfig, base: Checkpoint, theta: Checkpoint | None = None) -> Linearized:
    """The model linearized around ``base`` with parameters set to ``theta`` (default: θ = θ_t)."""
    lin = Linearized(materialise(cfg, base))
    if theta is not None:
        lin.net.load_state_dict(theta.model)
    return lin


def train_linearized(cfg: RunConfig, base: Checkpoint, until: int | None = None, reset_momentum: bool = False,
                     progress: bool = True) -> TrainResult:
    """Train the model linearized around ``base`` from step ``base.step`` to ``until`` with the run's SGD schedule.

    Returns the inner parameters θ (a standard-layout checkpoint: evaluate it with
    :func:`linearized_model`, never as a plain network) and the per-step training losses.
    """
    set_deterministic(cfg.device)
    until = cfg.optim.steps if until is None else until
    data = load_data(cfg.data, cfg.device, cfg.dtype)
    model = linearized_model(cfg, base)
    optimizer = make_optimizer(cfg, model)
    if base.optimizer and not reset_momentum:
        optimizer.load_state_dict(base.optimizer)
    model.train()
    losses = {}
    for step in progress_bar(range(base.step, until), f"linearized from {base.step}", progress and until > base.step):
        losses[step] = sgd_step(cfg, model, optimizer, data, step)
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.net.state_dict().items()}
    return TrainResult({until: Checkpoint(until, state)}, losses)


@dataclass(frozen=True)
class SwitchStudy:
    """θ_std→lin(T; t): standard training to t, linearized training from t to T, for each switch time t."""

    run: RunConfig
    switches: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    reset_momentum: bool = False

    def __post_init__(self):
        if list(self.switches) != sorted(set(self.switches)) or self.switches[-1] != self.run.optim.steps:
            raise ValueError(f"switch times must increase and end at T = {self.run.optim.steps}: {self.switches}")


def switch_outcome(run: RunConfig, t: int, reset_momentum: bool, cache: Cache, progress: bool = True) -> dict:
    """Final test loss and accuracy of θ_std→lin(T; t) for one run (cached)."""

    def compute():
        base = parent_checkpoints(run, [t], cache, progress)[t]
        result = train_linearized(run, base, reset_momentum=reset_momentum, progress=progress)
        data = load_data(run.data, run.device, run.dtype)
        out = evaluate(linearized_model(run, base, result.final), data, "test")
        train_metrics = evaluate(linearized_model(run, base, result.final), data, "train")
        return {"t": t, "seed": run.seed, "test_accuracy": out["accuracy"], "test_loss": out["loss"],
                "train_accuracy": train_metrics["accuracy"], "train_loss": train_metrics["loss"]}

    return cache.get_or_compute("switch", (run, t, reset_momentum), compute)


@dataclass
class SwitchResult:
    """Final test accuracy and loss per seed (rows) and switch time (columns)."""

    study: SwitchStudy
    switches: np.ndarray
    accuracy: np.ndarray
    loss: np.ndarray
    records: list[dict]


def run_switch_study(study: SwitchStudy, cache: Cache | None = None, progress: bool = True) -> SwitchResult:
    """Every (seed, switch time) outcome of the study, from the cache or computed."""
    cache = cache or Cache()
    records = []
    for seed in study.seeds:
        run = study.run.replace(seed=seed)
        parent_checkpoints(run, study.switches, cache, progress)
        records += [switch_outcome(run, t, study.reset_momentum, cache, progress) for t in study.switches]
    acc = np.array([[r["test_accuracy"] for r in records if r["seed"] == s] for s in study.seeds])
    loss = np.array([[r["test_loss"] for r in records if r["seed"] == s] for s in study.seeds])
    return SwitchResult(study, np.array(study.switches), acc, loss, records)


def preset(profile: str, arch: str) -> SwitchStudy:
    """Chapter 3's study of a profile: chapter 1's parent runs, switch times from 0 to T."""
    check_profile(profile)
    run = chaos_preset(profile, arch).run
    T = run.optim.steps
    if profile == "paper":
        return SwitchStudy(run, (0, 500, 1000, 2000, 4000, 8000, 16000, 32000, T))
    if profile == "cpu":
        return SwitchStudy(run, (0, 10, 30, 100, 200, 300, T))
    return SwitchStudy(run, (0, 8, 16, T), seeds=(0,))  # one seed: evaluating linear models dominates smoke time
