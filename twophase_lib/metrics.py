"""How far apart two networks are: parameter dissimilarity, relative distance, disagreement, loss barrier.

All parameter-space quantities are accumulated in float64: 1 − cos(θ, θ′) for nearly equal
vectors cancels catastrophically in float32. The loss barrier evaluates every point of the
linear path — endpoints included — with the same batch-norm treatment, so it is never
negative by construction of a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .config import RunConfig, check_choice, check_integer
from .data import TensorData, derive_seed, generator
from .task import run_loss
from .training import Checkpoint, materialise, predict

BN_MODES = ("recompute", "interpolate")


def flat_parameters(state: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """The named entries of a state dict concatenated into one float64 vector."""
    return torch.cat([state[n].detach().double().flatten().cpu() for n in names])


def parameter_dissimilarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 − cos(a, b) in float64, computed as ½‖a/‖a‖ − b/‖b‖‖² (no cancellation for nearly equal vectors)."""
    a, b = a.double().flatten(), b.double().flatten()
    u, v = a / a.norm(), b / b.norm()
    return 0.5 * float(((u - v) ** 2).sum())


def relative_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖a‖ in float64."""
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / a.norm())


def disagreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Fraction of inputs whose argmax predictions differ."""
    return float((logits_a.argmax(1) != logits_b.argmax(1)).double().mean())


def interpolate_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """α·a + (1 − α)·b for floating-point entries (parameters and BN running statistics); integers from a."""
    return {
        k: (alpha * a[k].double() + (1 - alpha) * b[k].double()).to(a[k].dtype) if a[k].is_floating_point() else a[k]
        for k in a
    }


@torch.no_grad()
def recompute_bn_statistics(model: nn.Module, data: TensorData, batches: int, batch_size: int, seed: int = 0) -> None:
    """Reset every BatchNorm's running statistics and re-estimate them (cumulative average) on unaugmented training
    batches. The forward passes run in train mode: dropout draws from torch's generator seeded from ``seed``
    (the caller's generator state is restored).

    The batches are the first ``batches * batch_size`` examples of a seeded permutation, in chunks of
    ``batch_size``; a last chunk of a single example (a training set of 257 examples at 128) joins the one before
    it, since batch norm cannot normalise one example in train mode.

    Raises:
        ValueError: fewer than two training examples.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    if len(data.x_train) < 2:
        raise ValueError(f"re-estimating batch-norm statistics needs at least two training examples, the data has "
                         f"{len(data.x_train)}")
    saved = [(m, m.momentum) for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the batches below
    idx = torch.randperm(len(data.x_train), generator=generator("bn-recompute", seed))[: batches * batch_size]
    was_training = model.training
    model.train()
    device = data.device
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(derive_seed("bn-recompute-forward", seed))  # a model's own randomness (dropout), seeded
        chunks = list(torch.split(idx, max(1, batch_size)))
        while len(chunks) > 1 and len(chunks[-1]) < 2:
            last = chunks.pop()
            chunks[-1] = torch.cat([chunks[-1], last])
        for chunk in chunks:
            model(data.x_train[chunk.to(data.device)])
    model.train(was_training)
    for m, momentum in saved:
        m.momentum = momentum


@dataclass(frozen=True)
class BarrierConfig:
    """How the loss barrier is measured: α grid size, BN treatment, evaluation subset sizes."""

    points: int = 11
    bn_mode: str = "recompute"
    bn_batches: int = 10
    bn_batch_size: int = 128
    train_examples: int = 1000
    test_examples: int | None = None  # None: the whole test split

    def __post_init__(self):
        check_choice(self.bn_mode, BN_MODES, "bn_mode")
        if self.points < 2:
            raise ValueError("a barrier needs at least the two endpoints (points >= 2)")
        check_integer(self.bn_batches, "BarrierConfig.bn_batches", 1)
        check_integer(self.bn_batch_size, "BarrierConfig.bn_batch_size", 2)
        check_integer(self.train_examples, "BarrierConfig.train_examples", 1)
        if self.test_examples is not None:
            check_integer(self.test_examples, "BarrierConfig.test_examples", 1)


def _loss_and_error(logits: torch.Tensor, y: torch.Tensor, loss=F.cross_entropy) -> tuple[float, float]:
    return loss(logits, y).item(), float((logits.argmax(1) != y).double().mean())


def linear_path(
    cfg: RunConfig, a: Checkpoint, b: Checkpoint, data: TensorData, bc: BarrierConfig = BarrierConfig()
) -> dict:
    """Loss and error along θ(α) = α·θ_a + (1 − α)·θ_b on train and test subsets, for α on a uniform grid."""
    alphas = torch.linspace(0, 1, bc.points, dtype=torch.float64).tolist()
    splits = {
        "train": (data.x_train[: bc.train_examples], data.y_train[: bc.train_examples]),
        "test": (data.x_test[: bc.test_examples], data.y_test[: bc.test_examples]),
    }
    out = {"alpha": alphas, **{f"{s}_{m}": [] for s in splits for m in ("loss", "error")}}
    for alpha in alphas:
        model = materialise(cfg, Checkpoint(0, interpolate_state(a.model, b.model, alpha)))
        if bc.bn_mode == "recompute":
            recompute_bn_statistics(model, data, bc.bn_batches, bc.bn_batch_size)
        for split, (x, y) in splits.items():
            loss, err = _loss_and_error(predict(model, x), y, run_loss(cfg))
            out[f"{split}_loss"].append(loss)
            out[f"{split}_error"].append(err)
    return out


def barrier_height(values: list[float], alphas: list[float]) -> float:
    """max over α of value(α) − [α·value(1) + (1 − α)·value(0)]: the height above the endpoints' chord."""
    v0, v1 = values[0], values[-1]
    return max(v - (al * v1 + (1 - al) * v0) for v, al in zip(values, alphas))


def loss_barrier(
    cfg: RunConfig, a: Checkpoint, b: Checkpoint, data: TensorData, bc: BarrierConfig = BarrierConfig()
) -> dict:
    """Loss and error barriers (train and test) between two checkpoints, plus the path they come from."""
    path = linear_path(cfg, a, b, data, bc)
    out = {f"{k}_barrier": barrier_height(path[k], path["alpha"]) for k in path if k != "alpha"}
    out["path"] = path
    return out


def compare(
    cfg: RunConfig,
    a: Checkpoint,
    b: Checkpoint,
    data: TensorData,
    param_names: list[str],
    bc: BarrierConfig | None = BarrierConfig(),
) -> dict:
    """All chaos metrics between two checkpoints of the same architecture: parameter dissimilarity, distances, test
    disagreement, and (unless ``bc`` is None) the loss and error barriers of :func:`loss_barrier`."""
    va, vb = flat_parameters(a.model, param_names), flat_parameters(b.model, param_names)
    ma, mb = materialise(cfg, a), materialise(cfg, b)
    out = {
        "dissimilarity": parameter_dissimilarity(va, vb),
        "relative_distance": relative_distance(va, vb),
        "l2_distance": float((va - vb).norm()),
        "disagreement": disagreement(predict(ma, data.x_test), predict(mb, data.x_test)),
    }
    if bc is not None:
        out.update(loss_barrier(cfg, a, b, data, bc))
    return out
