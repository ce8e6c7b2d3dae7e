"""Perturb a checkpoint's parameters and branch a child run from it.

Two definitions of the paper's "‖ε‖ = 1e-7" are supported (the paper does not say which):

* ``"total"`` — a Gaussian direction over all parameters, scaled to total L2 norm ``size``;
* ``"entry"`` — i.i.d. Gaussian entries of standard deviation ``size`` (‖ε‖ ≈ size·√P).

The noise is drawn in float64 from its own generator (seeded by ``Perturbation.seed``), so the
training data stream is untouched; only parameters move, never batch-norm buffers. In float32
much of a tiny total-norm perturbation rounds away, so the realised ‖θ′ − θ‖ is measured.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import torch

from .config import ModelConfig, RunConfig
from .data import generator
from .training import Checkpoint, TrainResult, train

KINDS = ("total", "entry")


@dataclass(frozen=True)
class Perturbation:
    """Size and definition of a parameter perturbation, and the seed of its direction."""

    size: float = 1e-7
    kind: str = "total"
    seed: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation kind {self.kind!r}; known kinds: {', '.join(KINDS)}")
        if not self.size >= 0:
            raise ValueError(f"perturbation size must be >= 0, got {self.size}")


@dataclass(frozen=True)
class PerturbationReport:
    """What a perturbation did: intended and realised norms, and the fraction of entries that changed."""

    intended_norm: float
    realised_norm: float
    fraction_changed: float
    num_parameters: int


def noise(shapes: dict[str, torch.Size], pert: Perturbation) -> dict[str, torch.Tensor]:
    """The float64 perturbation ε for parameters of the given shapes (drawn in name order)."""
    gen = generator("perturbation", pert.seed)
    eps = {name: torch.randn(shape, generator=gen, dtype=torch.float64) for name, shape in shapes.items()}
    if pert.kind == "total":
        norm = torch.sqrt(sum((e * e).sum() for e in eps.values()))
        scale = pert.size / norm.item() if norm > 0 else 0.0
    else:
        scale = pert.size
    return {name: e * scale for name, e in eps.items()}


def perturb(ckpt: Checkpoint, param_names: Iterable[str], pert: Perturbation) -> tuple[Checkpoint, PerturbationReport]:
    """A copy of ``ckpt`` with ε added to the named parameters (rounded once to their dtype), and a report."""
    wanted = set(param_names)
    names = [n for n in ckpt.model if n in wanted]
    missing = wanted - set(ckpt.model)
    if missing:
        raise KeyError(f"parameters not in the checkpoint: {sorted(missing)}")
    eps = noise({n: ckpt.model[n].shape for n in names}, pert)
    model = dict(ckpt.model)
    sq_diff, changed, total = 0.0, 0, 0
    for n in names:
        old = ckpt.model[n]
        new = (old.double() + eps[n]).to(old.dtype)
        diff = new.double() - old.double()
        sq_diff += float((diff * diff).sum())
        changed += int((new != old).sum())
        total += old.numel()
        model[n] = new
    intended = float(torch.sqrt(sum((e * e).sum() for e in eps.values()))) if eps else 0.0
    child = dataclasses.replace(ckpt, model=model)
    return child, PerturbationReport(intended, sq_diff**0.5, changed / max(total, 1), total)


def parameter_names(cfg: RunConfig) -> list[str]:
    """Names of the trainable parameters of the configuration's model (batch-norm buffers excluded)."""
    return list(_parameter_names(cfg.model, cfg.task))


@lru_cache(maxsize=32)
def _parameter_names(model: ModelConfig, task) -> tuple[str, ...]:
    # the names depend on the architecture alone: built once per process, not once per comparison
    from .task import run_model

    return tuple(n for n, _ in run_model(RunConfig(model=model, task=task), "cpu").named_parameters())


def branch(
    cfg: RunConfig,
    parent: Checkpoint,
    pert: Perturbation,
    until: int,
    save_at: Iterable[int] = (),
    progress: bool = True,
) -> tuple[TrainResult, PerturbationReport]:
    """Perturb ``parent`` and train the child to ``until`` on exactly the parent's batches."""
    child, report = perturb(parent, parameter_names(cfg), pert)
    result = train(cfg, until, start=child, save_at=save_at, progress=progress, desc=f"branch@{parent.step}")
    return result, report
