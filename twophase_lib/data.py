"""CIFAR-10 as tensors on the training device, with batches and augmentation drawn per step.

Two sources: the real 5,170/1,017-image subset embedded in the package (offline; the
``smoke`` and ``cpu`` profiles) and the full dataset through torchvision (``paper``).
The batch at step ``s`` depends only on (seed, s): the same whether training started at
0 or resumed at ``s``, and a perturbed branch sees exactly the batches its parent saw.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .config import DataConfig, check_choice

DATASETS = ("cifar10-subset", "cifar10")
SUBSET_PATH = Path(__file__).parent / "data_files" / "cifar10_subset.npz"
SUBSET_SHA256 = "ff2830177607fb849d205be68d02867b2e35d9e3f9ffa287ae8ef6b45212996c"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
PAD = 4


class DatasetUnavailableError(RuntimeError):
    """The requested dataset cannot be loaded here (no files and no download possible)."""


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple of values (stable across processes and platforms)."""
    # numpy scalars (np.int64(3)) repr differently from Python's (3): the same seed must give the same stream
    parts = tuple(p.item() if isinstance(p, np.generic) else p for p in parts)
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(*parts: object) -> torch.Generator:
    """A CPU torch.Generator seeded by ``derive_seed(*parts)``."""
    return torch.Generator().manual_seed(derive_seed(*parts))


_SPLITS = ("x_train", "y_train", "x_test", "y_test")
#: Per TensorData, kept outside its attributes (its identity and pickle are its fields): how often a tensor was
#: replaced, and the digest of the tensors' bytes with the state() it was taken at.
_MEMO: "weakref.WeakKeyDictionary[TensorData, dict]" = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class TensorData:
    """A training and a test split as tensors on one device, with batches (and augmentation) drawn per step.

    ``augmenter(x, generator)`` transforms a whole batch with randomness drawn from ``generator`` (CIFAR-10:
    random crops and flips); None: no augmentation. Numpy arrays are copied into tensors. Any inputs and integer
    labels work (images, table rows,
    token sequences): floating inputs are cast to the run's dtype, integer inputs reach the network as they are
    (token ids; convert uint8 images with ``x.float() / 255``), integer labels are stored as int64.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    augmenter: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None

    def __post_init__(self):
        for name in _SPLITS:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):  # copied: an edit of the array later cannot reach the data unseen
                setattr(self, name, torch.tensor(value))
            elif not isinstance(value, torch.Tensor):
                raise TypeError(f"{self.name}: {name} is a {type(value).__name__}; TensorData holds torch tensors (or "
                                "numpy arrays, copied): pass torch.as_tensor(...)")
        for split in ("train", "test"):
            y = getattr(self, f"y_{split}")
            if not y.is_floating_point() and not y.is_complex() and y.dtype not in (torch.int64, torch.bool):
                y = y.long()  # int32, uint8 ... class indices: cross-entropy takes int64 (the conversion is exact)
                setattr(self, f"y_{split}", y)
        self._check()

    def _check(self) -> None:
        """Refuse what no study can read: splits of unequal lengths, an empty split, non-finite inputs (one NaN
        test image makes every accuracy and loss barrier NaN, and every switched run look diverged)."""
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if len(x) != len(y):
                raise ValueError(f"{self.name}: {len(x)} {split} inputs but {len(y)} labels")
            if (x.is_floating_point() or x.is_complex()) and len(x):
                bad = (~torch.isfinite(x.reshape(len(x), -1))).any(1).nonzero().flatten()
                if len(bad):
                    raise ValueError(f"{self.name}: {len(bad)} {split} input(s) hold NaN or infinite values (the first "
                                     f"is #{int(bad[0])}); clean or drop them: every loss, accuracy and distance read "
                                     "on them would be NaN, and a NaN training loss reads as divergence")
        if len(self.x_train) == 0:
            raise ValueError(f"{self.name}: the training split is empty")
        if len(self.x_test) == 0:
            raise ValueError(f"{self.name}: the test split is empty; disagreement, accuracy and the loss barriers are "
                             "read on it (a mean over no image would be NaN)")

    def __setattr__(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        if name in _SPLITS:  # a tensor replaced: the data changed (see state())
            memo = _MEMO.setdefault(self, {})
            memo["generation"] = memo.get("generation", 0) + 1

    def state(self) -> tuple:
        """A cheap token that changes whenever the data may have: a tensor replaced or changed in place (torch's
        version counter of each tensor). :meth:`fingerprint` is recomputed, and a
        :class:`~twophase_lib.task.Task`'s identity with it, only when it changes, so data edited in place after a
        first study (``y[:10] = 0``) get a new cache key instead of the old data's results."""
        versions = []
        for name in _SPLITS:
            try:
                versions.append(getattr(self, name)._version)
            except RuntimeError:  # an inference tensor keeps no counter: taken as changed on every call
                versions.append(object())
        return (_MEMO.get(self, {}).get("generation", 0), *versions)

    def __repr__(self) -> str:
        def t(x: torch.Tensor) -> str:
            return f"{str(x.dtype).removeprefix('torch.')}{list(x.shape)}"

        return (f"TensorData({self.name!r}, train: {t(self.x_train)} -> {t(self.y_train)}, test: {t(self.x_test)} -> "
                f"{t(self.y_test)}, augmenter={getattr(self.augmenter, '__name__', self.augmenter)!r})")

    def to(self, device: str | torch.device, dtype: torch.dtype) -> "TensorData":
        """The same data on ``device``, floating-point inputs cast to ``dtype`` (labels and integer inputs kept)."""
        cast = lambda x: x.to(device=device, dtype=dtype) if x.is_floating_point() else x.to(device)  # noqa: E731
        return TensorData(self.name, cast(self.x_train), self.y_train.to(device), cast(self.x_test),
                          self.y_test.to(device), self.augmenter)

    def forget_fingerprint(self) -> None:
        """Hash the bytes again at the next :meth:`fingerprint` (an edit torch's version counters cannot see: through
        a numpy array sharing the memory, or through ``.data``)."""
        _MEMO.setdefault(self, {}).pop("digest", None)

    def fingerprint(self) -> str:
        """sha256 of every tensor's dtype, shape and bytes and of the augmenter's identity
        (:func:`twophase_lib.identity.identify`): what identifies this data in a cache key.

        Raises:
            twophase_lib.identity.UnidentifiableError: the augmenter holds something that cannot be identified.
        """
        from .identity import identity_digest, tensor_digest

        state = self.state()
        memo = _MEMO.setdefault(self, {})
        if memo.get("digest", (None,))[0] != state:  # the tensors' bytes hashed once per change (see state())
            self._check()  # the data may have changed since they were made: checked with every hash
            h = hashlib.sha256()
            for t in (self.x_train, self.y_train, self.x_test, self.y_test):
                h.update(f"{tuple(t.shape)}{tensor_digest(t)}".encode())
            memo["digest"] = (state, h)
        h = memo["digest"][1].copy()
        h.update(identity_digest(self.augmenter, f"data {self.name!r}: the augmenter").encode())
        return h.hexdigest()

    @property
    def device(self) -> torch.device:
        """The device the tensors live on."""
        return self.x_train.device

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per pass over the training set (the last partial batch is dropped)."""
        return len(self.x_train) // batch_size

    def batch_indices(self, seed: int, step: int, batch_size: int) -> torch.Tensor:
        """Training-set indices of the batch used at ``step``: epoch-wise permutations seeded by (seed, epoch)."""
        spe = self.steps_per_epoch(batch_size)
        if spe == 0:
            raise ValueError(f"batch size {batch_size} exceeds the {len(self.x_train)} training images")
        epoch, k = divmod(step, spe)
        perm = torch.randperm(len(self.x_train), generator=generator("order", seed, epoch))
        return perm[k * batch_size : (k + 1) * batch_size]

    def train_batch(
        self, seed: int, step: int, batch_size: int, augment: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The (images, labels) batch of ``step``, augmented with randomness drawn from (seed, step)."""
        idx = self.batch_indices(seed, step, batch_size).to(self.device)
        x, y = self.x_train[idx], self.y_train[idx]
        if augment and self.augmenter is not None:
            x = self.augmenter(x, generator("augment", seed, step))
        return x, y

    def plan_batches(self, seed: int, first: int, last: int, batch_size: int, augment: bool = True
                     ) -> "BatchPlan | None":
        """Every batch of steps ``first`` .. ``last`` − 1 drawn ahead, from the same per-step generators as
        :meth:`train_batch`, and moved to the data's device in one copy per tensor: a GPU step then needs nothing
        from the host (:meth:`planned_batch` gives bitwise :meth:`train_batch`'s batch). None when the data's
        augmenter is not the library's crop and flip (a user's augmenter draws its own randomness per call).

        Raises:
            ValueError: ``last`` < ``first``, or a batch larger than the training set.
        """
        if last < first:
            raise ValueError(f"cannot plan steps {first} .. {last - 1}")
        augmenting = augment and self.augmenter is not None
        if augmenting and self.augmenter is not augment_batch:
            return None
        spe = self.steps_per_epoch(batch_size)
        if spe == 0:
            raise ValueError(f"batch size {batch_size} exceeds the {len(self.x_train)} training images")
        perms: dict[int, torch.Tensor] = {}
        rows = []
        for step in range(first, last):  # batch_indices' draws, each epoch's permutation drawn once
            epoch, k = divmod(step, spe)
            if epoch not in perms:
                perms = {epoch: torch.randperm(len(self.x_train), generator=generator("order", seed, epoch))}
            rows.append(perms[epoch][k * batch_size: (k + 1) * batch_size])
        indices = torch.stack(rows) if rows else torch.zeros(0, batch_size, dtype=torch.int64)
        offsets = flips = None
        if augmenting:
            draws = [crop_flip_draws(batch_size, generator("augment", seed, step)) for step in range(first, last)]
            offsets = torch.stack([o for o, _ in draws]) if draws else torch.zeros(0, 2, batch_size, dtype=torch.int64)
            flips = torch.stack([f for _, f in draws]) if draws else torch.zeros(0, batch_size, dtype=torch.bool)
            offsets, flips = offsets.to(self.device), flips.to(self.device)
        return BatchPlan(first, indices.to(self.device), offsets, flips)

    def planned_batch(self, plan: "BatchPlan", step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (inputs, labels) batch of ``step`` from a :class:`BatchPlan`: device operations only.

        Raises:
            IndexError: ``step`` is outside the plan.
        """
        i = step - plan.first
        if not 0 <= i < len(plan.indices):
            raise IndexError(f"step {step} is outside the planned steps {plan.first} .. "
                             f"{plan.first + len(plan.indices) - 1}")
        idx = plan.indices[i]
        x, y = self.x_train[idx], self.y_train[idx]
        if plan.offsets is not None:
            x = crop_flip(x, plan.offsets[i], plan.flips[i])
        return x, y


@dataclass
class BatchPlan:
    """The batches of a stretch of steps, drawn ahead (:meth:`TensorData.plan_batches`): training-set indices
    (steps, batch), and the crop offsets (steps, 2, batch) and flips (steps, batch) of the augmentation (None
    without it), on the data's device; row i is step ``first`` + i."""

    first: int
    indices: torch.Tensor
    offsets: torch.Tensor | None
    flips: torch.Tensor | None


def _pad_value(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Per-channel value of a black (zero) pixel after normalisation, shape (1, 3, 1, 1)."""
    mean = torch.tensor(CIFAR10_MEAN, device=device, dtype=dtype)
    std = torch.tensor(CIFAR10_STD, device=device, dtype=dtype)
    return (-mean / std).view(1, 3, 1, 1)


def crop_flip_draws(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The randomness of :func:`augment_batch` for n images, drawn from ``gen`` in its order: crop offsets (2, n)
    in [0, 2 × 4] and horizontal flips (n,) bool."""
    offsets = torch.randint(0, 2 * PAD + 1, (2, n), generator=gen)
    flips = torch.rand(n, generator=gen) < 0.5
    return offsets, flips


def crop_flip(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Crop (n, c, h, w) images from their 4-pixel zero padding at ``offsets`` (2, n) and flip those of ``flips``
    (n,) horizontally; the draws may live on the CPU or on the images' device (the result is the same)."""
    n, c, h, w = x.shape
    padded = _pad_value(x.device, x.dtype).expand(n, c, h + 2 * PAD, w + 2 * PAD).clone()
    padded[:, :, PAD : PAD + h, PAD : PAD + w] = x
    rows = (offsets[0, :, None] + torch.arange(h, device=offsets.device)).to(x.device)  # (n, h)
    cols = (offsets[1, :, None] + torch.arange(w, device=offsets.device)).to(x.device)  # (n, w)
    cols = torch.where(flips.to(x.device)[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def augment_batch(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop with 4-pixel zero padding and random horizontal flip, on a whole batch at once (input and
    output (n, 3, 32, 32))."""
    return crop_flip(x, *crop_flip_draws(len(x), gen))


def normalise(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 CHW images to float32 tensors normalised with the CIFAR-10 mean and std."""
    x = torch.as_tensor(np.asarray(images)).float().div_(255.0)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_subset_arrays(path: Path = SUBSET_PATH) -> dict[str, np.ndarray]:
    """The embedded real CIFAR-10 subset as uint8 arrays, after checking its sha256.

    Returns:
        A dict of ``x_train`` (5170, 3, 32, 32) uint8, ``y_train`` (5170,) int64, ``x_test`` (1017, 3, 32, 32)
        uint8 and ``y_test`` (1017,) int64.

    Raises:
        DatasetUnavailableError: the file is missing or corrupt.
    """
    if not path.exists():
        raise DatasetUnavailableError(f"the embedded CIFAR-10 subset is missing at {path}; reinstall the package")
    if _sha256(path) != SUBSET_SHA256:
        raise DatasetUnavailableError(f"the embedded CIFAR-10 subset at {path} is corrupt (sha256 mismatch)")
    with np.load(path) as f:
        return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}


def default_root() -> Path:
    """Folder for the full dataset: $TWOPHASE_DATA, else ~/.cache/twophase/data."""
    from .runtime import current

    return current().data_root


def load_full_arrays(root: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """The full CIFAR-10 through torchvision (downloaded into ``root`` if absent): uint8 (N, 3, 32, 32) images and
    int64 (N,) labels of its 50,000 training and 10,000 test images, keyed as :func:`load_subset_arrays`' are.

    Raises:
        DatasetUnavailableError: torchvision is missing, or the download fails (no internet).
    """
    import torchvision

    root = Path(root) if root is not None else default_root()
    out = {}
    for split, train in (("train", True), ("test", False)):
        try:
            try:
                ds = torchvision.datasets.CIFAR10(str(root), train=train, download=False)
            except RuntimeError:
                root.mkdir(parents=True, exist_ok=True)
                ds = torchvision.datasets.CIFAR10(str(root), train=train, download=True)
        except Exception as exc:  # network errors come in many types; all mean the same here
            raise DatasetUnavailableError(
                f"full CIFAR-10 is not in {root} and could not be downloaded ({type(exc).__name__}: {exc}).\n"
                "Either (1) use dataset='cifar10-subset', the real 5,170/1,017-image subset embedded in this "
                "package (the smoke and cpu profiles do), or (2) download the full dataset with internet access "
                "(torchvision.datasets.CIFAR10(root, download=True)) or place 'cifar-10-batches-py' in "
                f"{root} (set $TWOPHASE_DATA or DataConfig.root to use another folder)."
            ) from None
        out[f"x_{split}"] = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2))
        out[f"y_{split}"] = np.asarray(ds.targets, dtype=np.uint8)
    return out


@lru_cache(maxsize=4)
def _load(dataset: str, root: str | None, device: str, dtype: str) -> TensorData:
    if dataset == "cifar10-subset":
        arrays = load_subset_arrays()
    elif dataset == "cifar10":
        arrays = load_full_arrays(root)
    else:
        check_choice(dataset, DATASETS, "dataset")
    dt = getattr(torch, dtype)
    tensors = {}
    for split in ("train", "test"):
        tensors[f"x_{split}"] = normalise(arrays[f"x_{split}"]).to(device=device, dtype=dt)
        tensors[f"y_{split}"] = torch.as_tensor(arrays[f"y_{split}"].astype(np.int64)).to(device)
    return TensorData(name=dataset, augmenter=augment_batch, **tensors)


def load_data(cfg: DataConfig, device: str | torch.device = "cpu", dtype: str = "float32") -> TensorData:
    """Load (once per process) the dataset named by ``cfg`` onto ``device``: its first ``cfg.train_examples``
    training images and its first ``cfg.test_examples`` test images where those are set (else the split whole).

    Raises:
        ValueError: an unknown dataset, or ``train_examples`` (``test_examples``) larger than the training (test)
            split.
    """
    check_choice(cfg.dataset, DATASETS, "dataset")
    data = _load(cfg.dataset, cfg.root, str(device), dtype)
    n, m = cfg.train_examples, cfg.test_examples
    if n is None and m is None:
        return data
    for count, split, field_name, name in ((n, data.x_train, "train_examples", "training"),
                                           (m, data.x_test, "test_examples", "test")):
        if count is not None and count > len(split):
            raise ValueError(f"{field_name} = {count} is more than the {len(split):,} {name} images of {cfg.dataset}")
    return TensorData(data.name, data.x_train[:n], data.y_train[:n], data.x_test[:m], data.y_test[:m],
                      data.augmenter)
