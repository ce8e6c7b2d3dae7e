"""Hyperparameters as frozen dataclasses, the validation of named choices, and the hash that keys every cached
result (the book's named profiles are :mod:`twophase_book.profiles`).

A run is a pure function of its :class:`RunConfig`: the same configuration gives
the same parameters (bitwise, on CPU), so a hash of the configuration is a sound
cache key and any executor can recompute any result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import operator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

#: Bump when a code change alters results for an unchanged configuration. Version 3 came when ResNet shortcuts began
#: to take their stride by subsampling (:class:`twophase_lib.models.PointwiseConv2d`, around uxlfoundation/oneDNN#6035).
CACHE_VERSION = 3

def check_choice(value, known, what: str):
    """Return ``value`` if it is one of ``known``, else raise ValueError("unknown <what> <value>; known: ...").

    The one validation of named choices (architectures, modes, datasets, profiles ...) in both packages.
    """
    if value not in known:
        raise ValueError(f"unknown {what} {value!r}; known: {', '.join(map(str, known))}")
    return value


def check_integer(value, what: str, minimum: int = 0):
    """Return ``value`` if it is an integer (Python or numpy, not a bool) ≥ ``minimum``, else raise ValueError naming
    ``what``, the value and what is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer ≥ {minimum}, got {value!r}")
    return value


def check_real(value, what: str, low: float, high: float = float("inf"), *, low_open: bool = False,
               high_open: bool = True):
    """Return ``value`` if it is a finite real number in the interval from ``low`` to ``high`` (open at either end
    as asked), else raise ValueError naming ``what``, the value and the interval."""
    try:
        ok = not isinstance(value, bool) and float(value) == value and np.isfinite(value)
    except (TypeError, ValueError):
        ok = False
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{what} must be a finite number in {interval}, got {value!r}")
    return value


MEMORY_FORMATS = ("contiguous", "channels_last")

#: How batch-norm scales start (:class:`ModelConfig`).
BN_INITS = ("ones", "uniform")


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered architecture name, a width multiplier, and the batch-norm scales' initialisation.

    ``bn_init="ones"`` starts every batch-norm scale γ at 1 (PyTorch's default); ``"uniform"`` draws γ ~ U(0, 1), as
    the paper's code base (open_lth) does for ResNet-20.
    """

    name: str = "resnet20"
    width: float = 1.0
    num_classes: int = 10
    # added after results were cached: hashed only when not the default, so older keys stay valid
    bn_init: str = field(default="ones", metadata={"omit_default": True})

    def __post_init__(self):
        check_choice(self.bn_init, BN_INITS, "batch-norm initialisation")
        check_real(self.width, "ModelConfig.width", 0, low_open=True)
        check_integer(self.num_classes, "ModelConfig.num_classes", 2)


@dataclass(frozen=True)
class DataConfig:
    """Which data and how it is fed: dataset name, augmentation, how many training images (the first
    ``train_examples`` of the dataset's training split; None: all of them), how many test images (the first
    ``test_examples`` of its test split; None: all), and where the full dataset lives.

    Raises:
        ValueError: ``train_examples`` below 2 (batch norm cannot normalise one example), ``test_examples``
            below 1.
    """

    dataset: str = "cifar10-subset"
    augment: bool = True
    # a smaller training set (the scale ladder's rung downward in data): the first n training images
    train_examples: int | None = field(default=None, metadata={"omit_default": True})
    # a smaller test set (quick runs and the unit tests: every comparison evaluates the whole test split)
    test_examples: int | None = field(default=None, metadata={"omit_default": True})
    # Where torchvision stores the full dataset; not part of the result's identity.
    root: str | None = field(default=None, metadata={"hash": False})

    def __post_init__(self):
        if self.train_examples is not None:
            check_integer(self.train_examples, "DataConfig.train_examples", 2)
        if self.test_examples is not None:
            check_integer(self.test_examples, "DataConfig.test_examples", 1)


ALGORITHMS = ("sgd", "adamw")


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum (or AdamW), weight decay and a step learning-rate schedule, all in iterations.

    ``algorithm="adamw"`` uses ``momentum`` as β1 and ``beta2`` as β2 (decoupled weight decay); the
    chapters' recipe is SGD.
    """

    algorithm: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    steps: int = 160 * 390  # 160 epochs of 50,000 // 128 batches (twophase_book.profiles.PAPER_STEPS_PER_EPOCH)
    milestones: tuple[int, ...] = (80 * 390, 120 * 390)
    gamma: float = 0.1
    warmup_steps: int = 0
    beta2: float = 0.999

    def __post_init__(self):
        """Raises ValueError naming the field, its value and what is allowed (a zero or negative batch, a
        non-finite lr, a momentum of 1 or more ... would otherwise fail deep inside training or run to NaN)."""
        check_choice(self.algorithm, ALGORITHMS, "optimiser")
        check_real(self.lr, "OptimConfig.lr", 0, low_open=True)
        check_real(self.momentum, "OptimConfig.momentum", 0, 1)
        check_real(self.weight_decay, "OptimConfig.weight_decay", 0)
        check_integer(self.batch_size, "OptimConfig.batch_size", 1)
        check_integer(self.steps, "OptimConfig.steps", 0)
        check_real(self.gamma, "OptimConfig.gamma", 0, low_open=True)
        check_integer(self.warmup_steps, "OptimConfig.warmup_steps", 0)
        check_real(self.beta2, "OptimConfig.beta2", 0, 1)
        if not isinstance(self.milestones, tuple):
            raise ValueError(f"OptimConfig.milestones must be a tuple of iterations, got {self.milestones!r}")
        for m in self.milestones:
            check_integer(m, "each of OptimConfig.milestones", 1)
        if list(self.milestones) != sorted(set(self.milestones)):
            raise ValueError(f"lr milestones must increase: {self.milestones}")

    @property
    def first_drop(self) -> int:
        """The first iteration trained at a lowered learning rate (``steps`` when the lr never drops)."""
        return self.milestones[0] if self.milestones else self.steps

    def lr_at(self, step: int) -> float:
        """Learning rate used for the update taken at iteration ``step``."""
        lr = self.lr * self.gamma ** sum(step >= m for m in self.milestones)
        if self.warmup_steps and step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        return lr


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run: model, data, optimiser, seeds, device, dtype and memory layout.

    ``seed`` draws the initial weights and, unless ``data_seed`` is set, the data order and augmentation;
    setting ``data_seed`` gives twins that share an initialisation but not their batches (or the reverse).
    ``memory_format="channels_last"`` is 0.78-0.82x the step time of contiguous tensors on CPU
    (``bench/bench_speed.py``); it changes rounding, so it is part of a result's identity.
    ``task`` (a :class:`twophase_lib.task.Task`) replaces ``model`` and ``data`` with a user's network, data
    and loss; its identity digest enters the hash. Of ``data`` only ``augment`` then applies (it switches the
    task's augmenter on and off); a run that sets its dataset or subset sizes beside a task is refused.

    Raises:
        ValueError: a task beside ``data.dataset``, ``data.train_examples`` or ``data.test_examples`` set; a dtype
            that is not floating; a device torch cannot parse. TypeError: a seed that is not an integer.
    """

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    data_seed: int | None = None
    memory_format: str = "channels_last"
    task: Any = None

    def __post_init__(self):
        for name in ("seed", "data_seed"):  # numpy integers (np.arange) are accepted and stored as Python ints
            value = getattr(self, name)
            if value is None and name == "data_seed":
                continue
            try:
                if isinstance(value, bool):
                    raise TypeError
                object.__setattr__(self, name, operator.index(value))
            except TypeError:
                raise TypeError(f"RunConfig.{name} must be an integer, got {value!r}") from None
        check_choice(self.memory_format, MEMORY_FORMATS, "memory format")
        if isinstance(self.dtype, torch.dtype):  # torch.float64 -> "float64", the form a cache key can hold
            object.__setattr__(self, "dtype", str(self.dtype).removeprefix("torch."))
        if not isinstance(self.dtype, str) or not isinstance(getattr(torch, self.dtype, None), torch.dtype) or \
                not getattr(torch, self.dtype).is_floating_point:
            raise ValueError(f"RunConfig.dtype must name a floating-point torch dtype, such as 'float32' or "
                             f"'float64', got {self.dtype!r}")
        if self.task is not None and (self.data.dataset != DataConfig.dataset or self.data.train_examples is not None
                                      or self.data.test_examples is not None):
            raise ValueError(f"a run with a task trains on the task's own data, so RunConfig.data's dataset, "
                             f"train_examples and test_examples do not apply (got {self.data}); subset the task's "
                             "TensorData instead (data.augment still switches the task's augmenter on and off)")
        if isinstance(self.device, torch.device):
            object.__setattr__(self, "device", str(self.device))
        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(f"RunConfig.device must be a torch device string, such as 'cpu', 'cuda' or 'cuda:1', "
                             f"got {self.device!r}") from None

    @property
    def batch_seed(self) -> int:
        """The seed of the data order and augmentation."""
        return self.seed if self.data_seed is None else self.data_seed

    def prefix(self, step: int) -> "RunConfig":
        """The part of this configuration that determines the state after ``step`` updates.

        Updates 0 .. step-1 never see the total length or the lr drops at or after ``step``, so two runs
        that agree before ``step`` (a step schedule and a constant lr, before the first drop) share their
        checkpoints there: cache keys use this.
        """
        o = self.optim
        return self.replace(optim={"steps": step, "milestones": tuple(m for m in o.milestones if m < step)})

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
    """A dataclass tree as plain JSON-able values; with ``for_hash`` drop fields marked hash=False, and fields marked
    omit_default that hold their default.

    Raises:
        TypeError: a value that cannot enter a cache key (an object that is neither a dataclass, a Task, a plain
            value nor a container of them).
    """
    if hasattr(obj, "cache_identity"):  # a Task: its digest, not its functions and tensors
        return {"__type__": type(obj).__name__, **obj.cache_identity()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if for_hash and not f.metadata.get("hash", True):
                continue
            if for_hash and f.metadata.get("omit_default") and getattr(obj, f.name) == f.default:
                continue  # a field added later: configurations that leave it at its default keep their old hash
            out[f.name] = to_dict(getattr(obj, f.name), for_hash=for_hash)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, for_hash=for_hash) for v in obj]
    if isinstance(obj, dict):
        return {str(k): to_dict(v, for_hash=for_hash) for k, v in sorted(obj.items())}
    if isinstance(obj, np.generic):  # a numpy scalar (np.int64 from np.arange, np.float32): its Python value
        return to_dict(obj.item(), for_hash=for_hash)
    if isinstance(obj, np.ndarray):
        return to_dict(obj.tolist(), for_hash=for_hash)
    if isinstance(obj, float):
        return repr(obj)  # exact round-trip text, so 0.1 and 0.1000000001 never collide
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"a {type(obj).__module__}.{type(obj).__qualname__} cannot enter a cache key ({obj!r:.80}): "
                    "use numbers, strings, tuples, dicts or the library's configurations")


def config_hash(*parts: Any, length: int = 16) -> str:
    """Hex digest of the canonical JSON of any dataclasses/values, prefixed by the cache version."""
    payload = json.dumps([CACHE_VERSION, *[to_dict(p, for_hash=True) for p in parts]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:length]
