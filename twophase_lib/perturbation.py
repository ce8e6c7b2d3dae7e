"""Perturb a checkpoint's parameters (a child run then trains from it: :func:`twophase_lib.store.child_checkpoint`).

Two definitions of the paper's "‖ε‖ = 1e-7" are supported (the paper does not say which):

* ``"total"`` — a Gaussian direction over all parameters, scaled to total L2 norm ``size``;
* ``"entry"`` — i.i.d. Gaussian entries of standard deviation ``size`` (‖ε‖ ≈ size·√P).

The noise is drawn in float64 from its own generator (seeded by ``Perturbation.seed``), so the
training data stream is untouched; only the parameters training moves are perturbed (never
batch-norm buffers, never frozen parameters), and a tied tensor once, under all its names. In
float32 much of a tiny total-norm perturbation rounds away, so the realised ‖θ′ − θ‖ is measured,
on the network the child trains as.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable

import torch
from torch import nn

from .config import ModelConfig, RunConfig, check_choice
from .data import generator
from .training import Checkpoint

KINDS = ("total", "entry")


class PerturbationVanishedError(ValueError):
    """A perturbation ε > 0 that the parameters' dtype cannot hold: every entry rounds back to its old value."""


@dataclass(frozen=True)
class Perturbation:
    """Size and definition of a parameter perturbation, and the seed of its direction."""

    size: float = 1e-7
    kind: str = "total"
    seed: int = 0

    def __post_init__(self):
        check_choice(self.kind, KINDS, "perturbation kind")
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


def perturb(ckpt: Checkpoint, param_names: Iterable[str], pert: Perturbation,
            aliases: dict[str, tuple[str, ...]] | None = None,
            model: nn.Module | None = None) -> tuple[Checkpoint, PerturbationReport]:
    """A copy of ``ckpt`` with ε added to the named parameters (rounded once to their dtype), and a report.

    Args:
        ckpt: the parent's state (a state dict holding every name of ``param_names``).
        param_names: the parameters to perturb, each tensor once (tied weights under one name).
        pert: size, definition and seed of ε.
        aliases: other state-dict names of a perturbed tensor (tied weights): they receive the same value, so
            loading the state dict cannot copy an unperturbed duplicate over the perturbed one.
        model: the network the child trains as; when given, the child's state is read back from it after
            loading, and the report measures the perturbation that network actually holds.

    Returns:
        The child checkpoint and a :class:`PerturbationReport` (intended and realised ‖θ′ − θ‖, in float64).

    Raises:
        KeyError: a name is not in the checkpoint.
        PerturbationVanishedError: ε > 0 rounds away entirely in the parameters' dtype (float16 at ε = 1e-7):
            the twin would be its parent, and a flat chaos curve would read as stability.
            Partial rounding is measured, not refused: in float32 a total norm of 1e-7 keeps 0.38-0.64 of its
            norm on ResNet-20 and VGG-16, 1e-9 only 0.06-0.13 (on the parameters that are exactly zero), and
            bfloat16 at 1e-7 about 0.16; the report's realised norm says so.
    """
    wanted = list(dict.fromkeys(param_names))
    names = [n for n in ckpt.model if n in set(wanted)]
    missing = set(wanted) - set(ckpt.model)
    if missing:
        raise KeyError(f"parameters not in the checkpoint: {sorted(missing)}")
    eps = noise({n: ckpt.model[n].shape for n in names}, pert)
    state = dict(ckpt.model)
    for n in names:
        old = ckpt.model[n]
        new = (old.double() + eps[n]).to(old.dtype)
        for alias in (n, *(aliases or {}).get(n, ())):
            state[alias] = new
    if model is not None:  # what the network holds once loaded (state dicts can alias, hooks can rewrite)
        model.load_state_dict(state)
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    sq_diff, changed, total = 0.0, 0, 0
    for n in names:
        old, new = ckpt.model[n], state[n]
        diff = new.double() - old.double()
        sq_diff += float((diff * diff).sum())
        changed += int((new != old).sum())
        total += old.numel()
    intended = float(torch.sqrt(sum((e * e).sum() for e in eps.values()))) if eps else 0.0
    if pert.size > 0 and intended > 0 and changed == 0:
        dtypes = sorted({str(ckpt.model[n].dtype).replace("torch.", "") for n in names})
        largest = max(float(ckpt.model[n].detach().abs().max()) for n in names)
        typical = intended / max(total, 1) ** 0.5
        unit = max(torch.finfo(ckpt.model[n].dtype).eps for n in names if ckpt.model[n].is_floating_point())
        grown = f"; weights as large as {largest:.3g} may mean the run is exploding" if largest > 100 else ""
        raise PerturbationVanishedError(
            f"a perturbation of size {pert.size:g} ({pert.kind}) rounds away entirely in {', '.join(dtypes)}: "
            f"realised ‖θ′ − θ‖ = 0 against {intended:.3g} intended, 0 of {total:,} entries changed, so the twin "
            f"would be its parent (each entry moves by about {typical:.2g}, below the rounding step of "
            f"{', '.join(dtypes)} numbers, {unit:.2g} relative, at weights of its size{grown}); use a larger ε"
            + ("" if dtypes == ["float64"] else " or train in float64" if "float32" in dtypes
               else " or train in float32 or float64"))
    child = dataclasses.replace(ckpt, model=state)
    return child, PerturbationReport(intended, sq_diff**0.5, changed / max(total, 1), total)


def parameter_names(cfg: RunConfig) -> list[str]:
    """Names of the parameters training moves (``requires_grad``), each tensor once: what is perturbed, compared,
    counted and differentiated. Frozen parameters and buffers (batch-norm statistics) are left out; a tied tensor
    appears under the first name ``named_parameters`` gives it."""
    return list(_parameter_names(cfg.model, cfg.task)[0])


def parameter_aliases(cfg: RunConfig) -> dict[str, tuple[str, ...]]:
    """For each tied parameter of :func:`parameter_names`, the other state-dict names of the same tensor."""
    return dict(_parameter_names(cfg.model, cfg.task)[1])


@lru_cache(maxsize=32)
def _parameter_names(model: ModelConfig, task) -> tuple[tuple[str, ...], tuple]:
    # the names depend on the architecture alone: built once per process, not once per comparison
    from .task import run_model

    net = run_model(RunConfig(model=model, task=task), "cpu")
    return trainable_names(net), tuple(tied_names(net).items())


def trainable_names(model: nn.Module) -> tuple[str, ...]:
    """The names of a network's parameters that training moves (``requires_grad``), each tensor once."""
    return tuple(n for n, p in model.named_parameters() if p.requires_grad)


def tied_names(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """For each parameter tensor held under several names, its first name -> the other names."""
    groups: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        groups.setdefault(id(p), []).append(n)
    return {names[0]: tuple(names[1:]) for names in groups.values() if len(names) > 1}


def perturb_run(cfg: RunConfig, ckpt: Checkpoint, pert: Perturbation) -> tuple[Checkpoint, PerturbationReport]:
    """:func:`perturb` for a run's checkpoint: its trainable parameters, tied names kept together, measured on the
    network the child trains as."""
    from .task import run_model

    return perturb(ckpt, parameter_names(cfg), pert, parameter_aliases(cfg), run_model(cfg, "cpu"))


