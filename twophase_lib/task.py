"""A learning task: the network, the data and the loss that a run trains, with an identity for the cache.

Every study of this library (training, branching, the comparison metrics, the chaos sweep, the cone
study, the switch study) reads these three things through :func:`run_model`, :func:`run_data` and
:func:`run_loss`. A run without a task (``RunConfig.task is None``) trains the chapters' CIFAR-10 recipe:
a registered architecture (``RunConfig.model``) on a named dataset (``RunConfig.data``), with
cross-entropy; its cache key is those configurations, read directly (no data digest on the hot path).

A user's task enters every cache key through :meth:`Task.identity`: a digest of its name, its
version, the data's bytes and augmenter, the network at a fixed seed (its structure, the code of its
own module classes, every parameter and buffer, which are frozen and which tied), and the loss and
model factory as :mod:`twophase_lib.identity` identifies functions (a ``functools.partial``'s
arguments, a lambda's code and captured values). Change any of them and the key changes; what cannot
be identified is refused with :class:`twophase_lib.identity.UnidentifiableError`. (Code the network
reaches in other modules of yours, through attributes, is not followed: bump ``version`` when you change it.)

To run a task in worker processes (``workers > 1``) its model factory, data loader and loss must
be picklable: module-level functions or classes, or ``functools.partial`` of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .config import RunConfig
from .data import TensorData, derive_seed, load_data
from .identity import class_identity, identity_digest
from .models import build_model

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (N, classes) against integer labels (N,): the default loss."""
    return F.cross_entropy(logits, labels)


@dataclass(frozen=True, eq=False)
class Task:
    """A network factory, its data (a TensorData or a function returning one) and a loss on (logits, labels).

    ``model()`` returns a freshly initialised network; the library seeds torch's generator before each
    call (seed ``RunConfig.seed``), so initialisations are reproducible. The outputs are logits of shape
    (N, classes) and the labels integers: disagreement and error are argmax-based.
    """

    name: str
    model: Callable[[], nn.Module]
    data: TensorData | Callable[[], TensorData]
    loss: Loss = cross_entropy
    version: str = ""
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.model, nn.Module) or not callable(self.model):
            raise TypeError(f"task {self.name!r}: model must be a function returning a fresh nn.Module "
                            f"(got {type(self.model).__name__}; pass the class or a factory, not an instance)")
        if not (isinstance(self.data, TensorData) or callable(self.data)):
            raise TypeError(f"task {self.name!r}: data must be a TensorData or a function returning one")

    def tensors(self) -> TensorData:
        """The task's data on the CPU (loaded once per process)."""
        if "data" not in self._memo:
            data = self.data if isinstance(self.data, TensorData) else self.data()
            if not isinstance(data, TensorData):
                raise TypeError(f"task {self.name!r}: the data function returned {type(data).__name__}, not TensorData")
            self._memo["data"] = data
        return self._memo["data"]

    def build(self, seed: int, device: str | torch.device = "cpu", dtype: str = "float32",
              check_precision: bool = True) -> nn.Module:
        """The network initialised from ``seed`` (torch's global generator is left as it was), in ``dtype``.

        ``check_precision`` False skips the precision check (the identity's network, built in float32 whatever the
        run's dtype: a bfloat16 factory's weights are cast up exactly).

        Raises:
            TypeError: ``model()`` returns something that is not an nn.Module.
            ValueError: what :func:`check_supported` refuses, or (``check_precision``) floating parameters or buffers
                below float32 and below ``dtype`` (a ``.half()`` network on a float32 run would start from rounded
                weights; a bfloat16 factory on a bfloat16 run is what it asks for).
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed("init", seed))
            model = self.model()
        if not isinstance(model, nn.Module):
            raise TypeError(f"task {self.name!r}: model() returned {type(model).__name__}, not an nn.Module")
        check_supported(model, f"task {self.name!r}")
        target = getattr(torch, dtype)
        # below float32 and below the run's dtype: weights drawn in half precision, then cast up (a float64 run casts
        # a float32 initialisation up, as every run of the library's own networks does)
        lower = sorted({str(t.dtype).removeprefix("torch.") for t in (*model.parameters(), *model.buffers())
                        if t.is_floating_point() and torch.finfo(t.dtype).bits < min(32, torch.finfo(target).bits)})
        if lower and check_precision:
            raise ValueError(f"task {self.name!r}: the model factory returns {', '.join(lower)} parameters or "
                             f"buffers, but the run trains in {dtype}: its initial weights would be {lower[0]} "
                             f"values cast up, not a {dtype} initialisation; build the network in float32 (no "
                             f".half()) and choose the run's precision with RunConfig(dtype=...)")
        return model.to(device=device, dtype=target)

    def identity(self) -> str:
        """Digest of everything of the task that can change a result: what enters the cache hash.

        Name and version; the data's bytes and augmenter; the loss and the model factory as
        :func:`twophase_lib.identity.identify` sees them (a ``functools.partial``'s arguments, a lambda's code
        and captured values); the network built at seed 0: its ``repr``, the code of its user-written module
        classes, every state entry (parameters and buffers, 0-dim ones included), which parameters are frozen
        and which are tied.

        Raises:
            twophase_lib.identity.UnidentifiableError: the loss, the model factory or the augmenter holds
                something that cannot be identified (the message names it).
        """
        code = self._code_digest()
        state = self.tensors().state()
        if "identity" in self._memo and "data_state" not in self._memo:
            # a worker's copy: the identity shipped with it, valid only if the data it loaded are the caller's
            shipped, here = self._memo.get("data_fingerprint"), self.tensors().fingerprint()
            if shipped is not None and shipped != here:
                raise ValueError(f"task {self.name!r}: its data function returned other data in this worker process "
                                 f"than in the process that started the study (data fingerprint {here[:12]} against "
                                 f"{shipped[:12]}): workers call it again, so it must return the same data every "
                                 "time; seed any random split or shuffle (np.random.default_rng(0)), or pass the "
                                 "TensorData itself")
            self._memo["data_state"] = state
        if "identity" not in self._memo or self._memo.get("code") != code or self._memo["data_state"] != state:
            where = f"task {self.name!r}:"
            h = hashlib.sha256(f"{self.name}\0{self.version}\0".encode())
            h.update(identity_digest(self.loss, f"{where} the loss").encode())
            h.update(identity_digest(self.model, f"{where} the model factory").encode())
            self._memo["data_fingerprint"] = self.tensors().fingerprint()
            h.update(self._memo["data_fingerprint"].encode())
            net = self.build(0, check_precision=False)
            check_conventions(self, net)
            h.update(identity_digest(net, f"{where} the network").encode())
            self._memo["classes"] = sorted({type(m) for m in net.modules()}, key=lambda c: c.__qualname__)
            self._memo["identity"], self._memo["code"] = h.hexdigest(), self._code_digest()
            self._memo["data_state"] = state
        return self._memo["identity"]

    def refresh(self) -> None:
        """Hash the data's bytes again at the next :meth:`identity`. Torch's version counters see a tensor edited in
        place, but not an edit through a numpy array that shares its memory (``torch.from_numpy``) or through
        ``.data``; every analysis (:mod:`twophase_lib.analyses`) calls this at its start, so such an edit between two
        analyses gets a new identity too. Call it yourself after such an edit before lower-level calls
        (``train``, ``parent_checkpoints``)."""
        for k in ("identity", "data_state"):
            self._memo.pop(k, None)
        self.tensors().forget_fingerprint()

    def _code_digest(self) -> str:
        """What can change between two calls on this object without a rebuild: the loss, the model factory and the
        network's classes (code, class attributes, the module-level values they read). Recomputed on every
        :meth:`identity`, so a value changed after the task was made (a module-level constant, a class
        attribute) gives a new identity. The data are fingerprinted again only when they change
        (:meth:`TensorData.state`: a tensor replaced or edited in place)."""
        where = f"task {self.name!r}:"
        return identity_digest((self.loss, self.model, [class_identity(c) for c in self._memo.get("classes", ())]),
                               f"{where} the loss, the model factory or a network class")

    def cache_identity(self) -> dict:
        """What :func:`twophase_lib.config.to_dict` writes for this task in a cache key."""
        return {"name": self.name, "identity": self.identity()}

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Task):
            return False
        theirs = other.identity()
        try:
            mine = self.identity()
        except (ValueError, TypeError):  # this task's data were broken since (a stale entry of a per-process cache):
            return False  # equal to nothing, rather than raising its error for the task being looked up
        return mine == theirs

    def __hash__(self) -> int:
        return hash(self.identity())

    def __getstate__(self) -> dict:
        # Workers receive the recipe and its identity, not tensors loaded by a data function (called again there).
        memo = {k: v for k, v in self._memo.items() if k in ("identity", "code", "classes", "data_fingerprint")}
        return {"name": self.name, "model": self.model, "data": self.data, "loss": self.loss, "version": self.version,
                "_memo": memo}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            object.__setattr__(self, k, v)


def check_conventions(task: Task, model: nn.Module) -> None:
    """Refuse a task whose outputs, labels or randomness the library would read wrongly without an error, before
    any run: checked once, when the task's identity is first computed (every run needs it for its cache key).

    The network (seed 0, eval mode, on two test inputs, torch's generator left as it was) must return one tensor of
    logits (N, classes ≥ 2): disagreement, accuracy and the barriers take the argmax, which a single logit makes
    constant; the same shape on two training inputs (splits of one kind of input); not probabilities under the
    default cross-entropy (softmax taken twice); a loss that returns one number per batch; in train mode too
    (training's loss reads it there: a network that returns auxiliary outputs while
    training, as torchvision's Inception does, is refused). The labels must be class indices (N,) of an integer
    dtype in [0, classes): one-hot or soft labels would be compared with argmax as if they were indices. The same
    seed must build the same network (a constructor that draws from numpy's or Python's generator is not
    reproducible), and two eval-mode passes must agree (Monte Carlo dropout or noise layers in eval mode make
    predictions and kernels random).

    Raises:
        ValueError: naming what is wrong and the way out.
    """
    where = f"task {task.name!r}:"
    data = task.tensors()
    for split in ("train", "test"):
        y = getattr(data, f"y_{split}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.ndim != 1:
            raise ValueError(f"{where} the {split} labels are {y.dtype} of shape {tuple(y.shape)}; the library reads "
                             "class indices (N,) of an integer dtype (disagreement and accuracy compare the argmax "
                             "of the logits with them): pass y.long() for 0/1 or boolean labels (N,), y.argmax(1) "
                             "for one-hot labels; soft labels have no class index to compare with")
    raw = data.x_test[:2]
    param = next((t for t in model.parameters() if t.is_floating_point()), None)
    # as training feeds it: floating inputs in the network's dtype, integer inputs (token ids) as they are
    x = raw.to(param.dtype) if param is not None and raw.is_floating_point() else raw
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        was = model.training
        model.eval()
        try:
            first, second = model(x), model(x)
        except Exception as e:
            hint = " (integer inputs reach the network as they are: convert images with x.float() / 255)" \
                if not raw.is_floating_point() and raw.dtype != torch.int64 else ""
            model.train(was)
            raise ValueError(f"{where} the network fails on two test inputs of dtype {raw.dtype} and shape "
                             f"{tuple(raw.shape)}{hint}: {type(e).__name__}: {e}") from e
        train_x = data.x_train[:2]
        try:
            on_train = model(train_x.to(param.dtype) if param is not None and train_x.is_floating_point() else train_x)
        except Exception as e:
            raise ValueError(f"{where} the network works on the test inputs ({raw.dtype}, shape {tuple(raw.shape)}) "
                             f"but fails on two training inputs of dtype {train_x.dtype} and shape "
                             f"{tuple(train_x.shape)}: the splits must hold inputs of one kind; "
                             f"{type(e).__name__}: {e}") from e
        finally:
            model.train(was)
    if not isinstance(first, torch.Tensor):
        raise ValueError(f"{where} the network returns {type(first).__name__}, not a tensor of logits: wrap it so "
                         "forward returns the logits (N, classes) alone (e.g. out['logits'] or out[0])")
    if first.ndim != 2 or first.shape[0] != len(x):
        raise ValueError(f"{where} the network's output has shape {tuple(first.shape)} on {len(x)} inputs; the "
                         "library reads logits of shape (N, classes)")
    if first.shape[1] < 2:
        raise ValueError(f"{where} the network returns a single logit per input: every argmax would be 0, so "
                         "disagreement would read 0 and accuracy the share of class 0; return two logits, e.g. "
                         "torch.cat([torch.zeros_like(z), z], 1), and integer labels 0/1")
    classes = first.shape[1]
    for split in ("train", "test"):
        y = getattr(data, f"y_{split}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
            raise ValueError(f"{where} the {split} labels range over [{int(y.min())}, {int(y.max())}] but the "
                             f"network returns {classes} logits: labels must lie in [0, {classes})")
    if task.loss is cross_entropy and bool((first >= 0).all()) and \
            torch.allclose(first.double().sum(1), torch.ones(len(first), dtype=torch.float64), atol=1e-4):
        raise ValueError(f"{where} the network's outputs look like probabilities (non-negative, each row summing to "
                         "1), but the loss is cross-entropy on logits: it would apply softmax a second time, and "
                         "training would follow another objective; return the logits (drop the final softmax), or "
                         "pass the loss your outputs need (Task(..., loss=...))")
    if not isinstance(on_train, torch.Tensor) or tuple(on_train.shape) != tuple(first.shape):
        got = tuple(on_train.shape) if isinstance(on_train, torch.Tensor) else type(on_train).__name__
        raise ValueError(f"{where} the network returns {got} on two training inputs but logits of shape "
                         f"{tuple(first.shape)} on two test inputs: the splits must hold inputs of one kind")
    with torch.no_grad():
        try:
            value = task.loss(first, data.y_test[:2].to(first.device))
        except Exception as e:
            raise ValueError(f"{where} the loss fails on the network's logits {tuple(first.shape)} and labels "
                             f"{tuple(data.y_test[:2].shape)}: {type(e).__name__}: {e}") from e
    if not isinstance(value, torch.Tensor) or value.numel() != 1 or not value.is_floating_point():
        got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(f"{where} the loss returns {got} on a batch of {len(first)}; training reads one number per "
                         "batch, the mean over its examples: use reduction='mean' (or .mean() the per-example "
                         "losses)")
    if not torch.equal(first, second):
        raise ValueError(f"{where} two eval-mode passes of the network on the same inputs differ (dropout or noise "
                         "active in eval mode, or state kept between calls): predictions, barriers and kernels "
                         "would be random, not functions of the parameters; make eval mode deterministic")
    again = task.build(0, check_precision=False)
    a, b = model.state_dict(), again.state_dict()

    def same(k: str) -> bool:
        if k not in b:
            return False
        if isinstance(a[k], torch.Tensor) and isinstance(b[k], torch.Tensor):
            return torch.equal(a[k], b[k])
        return identity_digest(a[k], k) == identity_digest(b[k], k)  # a module's extra state

    if a.keys() != b.keys() or not all(same(k) for k in a):
        differ = next((k for k in a if not same(k)), "?")
        raise ValueError(f"{where} the same seed built two different networks ({differ} differs): the model "
                         "factory draws from a generator the library does not seed (numpy, Python's random, a "
                         "global counter); draw from torch's generator, which the library seeds per run")
    # training calls the network in train mode, where some return more (auxiliary logits, a loss): checked on the
    # second network, whose batch-norm statistics nothing reads after
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        again.train()
        try:
            trained = again(x)
        except Exception as e:
            raise ValueError(f"{where} the network fails in train mode on two test inputs of shape "
                             f"{tuple(raw.shape)} (eval mode works): {type(e).__name__}: {e}") from e
    if not isinstance(trained, torch.Tensor) or tuple(trained.shape) != tuple(first.shape):
        got = tuple(trained.shape) if isinstance(trained, torch.Tensor) else type(trained).__name__
        raise ValueError(f"{where} in train mode the network returns {got}, in eval mode logits of shape "
                         f"{tuple(first.shape)}: the loss is taken in train mode, so forward must return the logits "
                         "(N, classes) alone in both modes (drop auxiliary outputs, e.g. torchvision's "
                         "aux_logits=False, or return out[0] while training)")


def check_supported(model: nn.Module, where: str = "the network") -> None:
    """Refuse what the library cannot train, perturb or linearize as it is, naming the module and the way out.

    Raises:
        ValueError: an embedding with sparse gradients (SGD with momentum or weight decay cannot add them: the
            optimiser fails on its first step); the hook form of weight norm (``torch.nn.utils.weight_norm``:
            its computed weight cannot be copied, so the linearized and frozen-batch-norm models fail; the
            parametrization form is refused by the linearization itself, naming the module); complex
            parameters or buffers (the run's real dtype would discard their imaginary parts); a network with no
            parameter that trains.
    """
    from torch.nn.utils.weight_norm import WeightNorm

    for name, m in model.named_modules():
        label = f"{where}: module {name or type(model).__name__!r} ({type(m).__name__})"
        if isinstance(m, (nn.Embedding, nn.EmbeddingBag)) and m.sparse:
            raise ValueError(f"{label} has sparse gradients (sparse=True), which the optimiser's momentum and weight "
                             "decay cannot take: use sparse=False")
        if any(isinstance(h, WeightNorm) for h in m._forward_pre_hooks.values()):
            raise ValueError(f"{label} uses the hook form of weight norm (torch.nn.utils.weight_norm), whose computed "
                             "weight cannot be copied into the linearized model; the parametrization form "
                             "(torch.nn.utils.parametrizations.weight_norm) copies but its fused kernel has no "
                             "forward-mode rule, so linearizing it fails too: write it out in the module's forward "
                             "(w = g · v / ‖v‖ per output row)")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"{where}: no parameter trains ({sum(1 for _ in model.parameters())} parameter tensors, "
                         "none with requires_grad): there is nothing to perturb, train or take the eNTK of")
    for name, t in (*model.named_parameters(), *model.named_buffers()):
        if t.is_complex():
            raise ValueError(f"{where}: {name} is complex ({t.dtype}); runs train real parameters (the run's dtype "
                             "would discard the imaginary part): hold real and imaginary parts as two real tensors")


def run_model(run: RunConfig, device: str | torch.device | None = None) -> nn.Module:
    """The run's network at initialisation (seed ``run.seed``), on ``device`` (default: the run's)."""
    device = run.device if device is None else device
    if run.task is None:
        return build_model(run.model, run.seed, device, run.dtype)
    return run.task.build(run.seed, device, run.dtype)


def run_data(run: RunConfig) -> TensorData:
    """The run's data on its device and dtype (loaded once per process)."""
    if run.task is None:
        return load_data(run.data, run.device, run.dtype)
    return _task_data(run.task, str(run.device), run.dtype)


@lru_cache(maxsize=8)
def _task_data(task: Task, device: str, dtype: str) -> TensorData:
    return task.tensors().to(device, getattr(torch, dtype))


def run_loss(run: RunConfig) -> Loss:
    """The run's training and evaluation loss on (logits, labels)."""
    return cross_entropy if run.task is None else run.task.loss
