"""Hyperparameters as frozen dataclasses, named profiles, and the hash that keys every cached result.

A run is a pure function of its :class:`RunConfig`: the same configuration gives
the same parameters (bitwise, on CPU), so a hash of the configuration is a sound
cache key and any executor can recompute any result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

#: Bump when a code change alters results for an unchanged configuration.
CACHE_VERSION = 1

PROFILES = ("smoke", "cpu", "paper")

#: CIFAR-10 at the paper's scale (50,000 training images, batch 128, last partial batch dropped).
PAPER_STEPS_PER_EPOCH = 50_000 // 128


def epochs_to_steps(epochs: float, steps_per_epoch: int = PAPER_STEPS_PER_EPOCH) -> int:
    """Convert a number of epochs to SGD iterations (open_lth's Step, reduced to an int)."""
    return int(round(epochs * steps_per_epoch))


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered architecture name and a width multiplier."""

    name: str = "resnet20"
    width: float = 1.0
    num_classes: int = 10


@dataclass(frozen=True)
class DataConfig:
    """Which data and how it is fed: dataset name, augmentation, and where the full dataset lives."""

    dataset: str = "cifar10-subset"
    augment: bool = True
    # Where torchvision stores the full dataset; not part of the result's identity.
    root: str | None = field(default=None, metadata={"hash": False})


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum, weight decay and a step learning-rate schedule, all in iterations."""

    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    steps: int = epochs_to_steps(160)
    milestones: tuple[int, ...] = (epochs_to_steps(80), epochs_to_steps(120))
    gamma: float = 0.1
    warmup_steps: int = 0

    def lr_at(self, step: int) -> float:
        """Learning rate used for the update taken at iteration ``step``."""
        lr = self.lr * self.gamma ** sum(step >= m for m in self.milestones)
        if self.warmup_steps and step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run: model, data, optimiser, seed, device and dtype."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"

    def replace(self, **changes: Any) -> "RunConfig":
        """Copy with top-level fields changed; nested configs accept dicts of changes."""
        out = {}
        for key, value in changes.items():
            current = getattr(self, key)
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                value = dataclasses.replace(current, **value)
            out[key] = value
        return dataclasses.replace(self, **out)


def to_dict(obj: Any, *, for_hash: bool = False) -> Any:
    """A dataclass tree as plain JSON-able values; with ``for_hash`` drop fields marked hash=False."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if for_hash and not f.metadata.get("hash", True):
                continue
            out[f.name] = to_dict(getattr(obj, f.name), for_hash=for_hash)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, for_hash=for_hash) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v, for_hash=for_hash) for k, v in sorted(obj.items())}
    if isinstance(obj, float):
        return repr(obj)  # exact round-trip text, so 0.1 and 0.1000000001 never collide
    return obj


def config_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of any dataclasses/values, prefixed by the cache version."""
    payload = json.dumps([CACHE_VERSION, *[to_dict(p, for_hash=True) for p in parts]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known, else raise ValueError listing the known ones."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known profiles: {', '.join(PROFILES)}")
    return profile


def base_run_config(profile: str, arch: str, seed: int = 0, device: str = "cpu") -> RunConfig:
    """The training recipe of a profile for one architecture ("resnet20", "vgg16" or "mlp").

    ``paper`` is the PROTOCOL recipe (full CIFAR-10, full width, 160 epochs, batch 128,
    lr 0.1 divided by 10 at epochs 80 and 120). ``cpu`` keeps the recipe's shape on the
    embedded real 5,170-image subset with narrower networks and a shorter schedule;
    ``smoke`` is tiny, for CI. Chapters may shorten ``optim.steps`` further.
    """
    check_profile(profile)
    if profile == "paper":
        return RunConfig(
            model=ModelConfig(arch, 1.0),
            data=DataConfig("cifar10"),
            optim=OptimConfig(),
            seed=seed,
            device=device,
        )
    if profile == "cpu":
        width = {"resnet20": 0.5, "vgg16": 0.25}.get(arch, 1.0)
        steps = 1200
        return RunConfig(
            model=ModelConfig(arch, width),
            data=DataConfig("cifar10-subset"),
            optim=OptimConfig(batch_size=128, steps=steps, milestones=(steps // 2, steps * 3 // 4)),
            seed=seed,
            device=device,
        )
    width = {"resnet20": 0.25, "vgg16": 0.125}.get(arch, 0.25)
    steps = 40
    return RunConfig(
        model=ModelConfig(arch, width),
        data=DataConfig("cifar10-subset"),
        optim=OptimConfig(batch_size=32, steps=steps, milestones=(steps // 2, steps * 3 // 4)),
        seed=seed,
        device=device,
    )
