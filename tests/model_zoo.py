"""Small models of the kinds people train, with data for each: the zoo the library's contract is tested on.

Every entry is a module-level factory (so tasks built from it can be identified and pickled) and a data
function; ``zoo_task(kind)`` makes the :class:`twophase_lib.Task`. Kept tiny: each trains in milliseconds.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from twophase_lib import Task, TensorData
from twophase_lib.models import ViT

CLASSES = 3
VOCAB = 7


def image_data(n: int = 64) -> TensorData:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(n, 3, 6, 6, generator=g)
    y = (x[:, 0].mean((1, 2)) * 3 + x[:, 1, 0, 0]).gt(0).long() + (x[:, 2, 2, 2] > 1).long()
    k = n * 3 // 4
    return TensorData("images", x[:k], y[:k], x[k:], y[k:])


def table_data(n: int = 64) -> TensorData:
    g = torch.Generator().manual_seed(12)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long() + (x[:, 2] > 0.8).long()
    k = n * 3 // 4
    return TensorData("table", x[:k], y[:k], x[k:], y[k:])


def token_data(n: int = 64, length: int = 5, classes: int = CLASSES) -> TensorData:
    g = torch.Generator().manual_seed(13)
    x = torch.randint(0, VOCAB, (n, length), generator=g)
    y = (x[:, 0] + x[:, -1]) % classes
    k = n * 3 // 4
    return TensorData("tokens", x[:k], y[:k], x[k:], y[k:])


class BatchNormCNN(nn.Module):
    """Conv → BatchNorm2d → ReLU → pool → Linear (``num_batches_tracked`` is a 0-dim buffer)."""

    def __init__(self, running_stats: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, track_running_stats=running_stats)
        self.fc = nn.Linear(4, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.bn(self.conv(x))).mean((2, 3)))


class BatchNormMLP(nn.Module):
    """Linear → BatchNorm1d without running statistics → Linear: normalised by each batch, even in eval mode."""

    def __init__(self):
        super().__init__()
        self.a, self.bn, self.b = nn.Linear(5, 6), nn.BatchNorm1d(6, track_running_stats=False), nn.Linear(6, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.bn(self.a(x))))


class Temperature(nn.Module):
    """An MLP divided by a learnable scalar temperature (a 0-dim parameter)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, CLASSES))
        self.temperature = nn.Parameter(torch.tensor(1.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) / self.temperature


class TiedEmbedding(nn.Module):
    """Token embedding tied to the output layer (one tensor, two names): a bag-of-words over the vocabulary."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 6)
        self.mix = nn.Linear(6, 6)
        self.out = nn.Linear(6, VOCAB, bias=False)
        self.out.weight = self.embed.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.mix(self.embed(x).mean(1))))


class FrozenFirstLayer(nn.Module):
    """An MLP whose first layer is frozen (``requires_grad=False``), as a fixed random-feature map."""

    def __init__(self):
        super().__init__()
        self.features = nn.Linear(5, 16)
        self.features.requires_grad_(False)
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def dropout_mlp(p: float = 0.3) -> nn.Module:
    """An MLP with dropout between its layers."""
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, CLASSES))


class RecurrentClassifier(nn.Module):
    """Embedding → a recurrent layer (``nn.LSTM`` or ``nn.GRU``) → Linear on integer tokens (the last hidden state
    classifies)."""

    def __init__(self, cell: type = nn.LSTM):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, 6)
        self.rnn = cell(6, 8, batch_first=True)
        self.out = nn.Linear(8, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.embed(x))
        return self.out(h[:, -1])


class InPlaceSum(nn.Module):
    """Two heads summed in place into a tensor the forward creates (``vmap`` cannot batch that)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, CLASSES)
        self.b = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], CLASSES, dtype=x.dtype, device=x.device)
        out += self.a(x)
        out += self.b(x)
        return out


class NormCNN(nn.Module):
    """Conv → GroupNorm → ReLU → pool → LayerNorm → Linear (per-example normalisations)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gn = nn.GroupNorm(2, 4)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.ln(F.relu(self.gn(self.conv(x))).mean((2, 3))))


#: kind -> (model factory, data function)
ZOO = {
    "batchnorm-cnn": (BatchNormCNN, image_data),
    "scalar-parameter": (Temperature, table_data),
    "tied-weights": (TiedEmbedding, functools.partial(token_data, classes=VOCAB)),
    "frozen-layer": (FrozenFirstLayer, table_data),
    "dropout": (dropout_mlp, table_data),
    "lstm-tokens": (RecurrentClassifier, token_data),
    "gru-tokens": (functools.partial(RecurrentClassifier, nn.GRU), token_data),
    "vision-transformer": (functools.partial(ViT, 0.125, CLASSES, 1, 2, 6), image_data),
    "in-place-forward": (InPlaceSum, table_data),
    "group-layer-norm": (NormCNN, image_data),
    "batchnorm-no-running-stats": (BatchNormMLP, table_data),
}


# ------------------------------------------------------------------ kinds the library must refuse (issue 31)


def table_mlp(out: int = CLASSES) -> nn.Module:
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, out))


class DictOutput(nn.Module):
    """Returns {"logits": ...}, as Hugging Face models do."""

    def __init__(self):
        super().__init__()
        self.net = table_mlp()

    def forward(self, x):
        return {"logits": self.net(x)}


class AuxiliaryInTraining(nn.Module):
    """Returns (logits, auxiliary logits) in train mode and the logits alone in eval mode, as torchvision's
    Inception v3 and GoogLeNet do."""

    def __init__(self):
        super().__init__()
        self.net, self.aux = table_mlp(), table_mlp()

    def forward(self, x):
        z = self.net(x)
        return (z, self.aux(x)) if self.training else z


class McDropout(nn.Module):
    """Dropout active in eval mode too (Monte Carlo dropout)."""

    def __init__(self):
        super().__init__()
        self.net = table_mlp()

    def forward(self, x):
        return F.dropout(self.net(x), 0.5, training=True)


class StepCounter(nn.Module):
    """Python state updated in forward."""

    def __init__(self):
        super().__init__()
        self.net, self.calls = table_mlp(), 0

    def forward(self, x):
        self.calls += 1
        return self.net(x) + self.calls


class NumpyInit(nn.Module):
    """A constructor that draws from numpy's generator, which the library does not seed."""

    def __init__(self):
        super().__init__()
        import numpy as np

        self.net = table_mlp()
        with torch.no_grad():
            self.net[0].weight.copy_(torch.from_numpy(np.random.randn(8, 5)).float())

    def forward(self, x):
        return self.net(x)


class PythonRandomInit(nn.Module):
    """A parameter drawn from Python's random module, which the library does not seed."""

    def __init__(self):
        super().__init__()
        import random

        self.net = table_mlp()
        self.scale = nn.Parameter(torch.tensor(random.random()))

    def forward(self, x):
        return self.net(x) * self.scale


def one_hot_table_data() -> TensorData:
    d = table_data()
    return TensorData("one-hot", d.x_train, F.one_hot(d.y_train, CLASSES), d.x_test, F.one_hot(d.y_test, CLASSES))


def soft_label_table_data() -> TensorData:
    d = table_data()
    soft = lambda y: F.one_hot(y, CLASSES).float() * 0.8 + 0.2 / CLASSES  # noqa: E731
    return TensorData("soft", d.x_train, soft(d.y_train), d.x_test, soft(d.y_test))


def boolean_table_data() -> TensorData:
    d = table_data()
    return TensorData("boolean", d.x_train, d.y_train > 0, d.x_test, d.y_test > 0)


#: kind -> (model factory, data function, what the refusal says): tasks the library would read wrongly without
#: an error, refused before any run (``tests/test_model_zoo.py``).
REFUSED = {
    "one-logit-binary-head": (functools.partial(table_mlp, 1), table_data, "single logit"),
    "dict-output": (DictOutput, table_data, "returns dict, not a tensor"),
    "one-hot-labels": (table_mlp, one_hot_table_data, "one-hot"),
    "soft-labels": (table_mlp, soft_label_table_data, "class indices"),
    "boolean-labels": (functools.partial(table_mlp, 2), boolean_table_data, r"y\.long\(\) for 0/1 or boolean"),
    "auxiliary-outputs-in-train-mode": (AuxiliaryInTraining, table_data, "in train mode the network returns tuple"),
    "too-few-logits": (functools.partial(table_mlp, 2), table_data, "labels range over"),
    "mc-dropout": (McDropout, table_data, "two eval-mode passes"),
    "state-in-forward": (StepCounter, table_data, "two eval-mode passes"),
    "numpy-initialisation": (NumpyInit, table_data, "numpy"),
    "python-random-initialisation": (PythonRandomInit, table_data, "same seed built two different networks"),
}


def refused_task(kind: str) -> Task:
    """The task of a kind the library must refuse."""
    model, data, _ = REFUSED[kind]
    return Task(f"refused-{kind}", model, data)


def zoo_task(kind: str, **kwargs) -> Task:
    """The task of a zoo kind (``kwargs`` go to :class:`Task`, e.g. ``loss`` or ``version``)."""
    model, data = ZOO[kind]
    return Task(f"zoo-{kind}", model, data, **kwargs)
