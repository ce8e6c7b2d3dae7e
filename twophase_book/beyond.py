"""Chapter 4: the paper's open question — do the chaos and cone effects appear beyond image classification?

Two tasks, each a :class:`twophase_lib.task.Task`, studied with chapters 1-3's code and judged by
their verdict rules:

* ``mlp-tabular``: a ReLU perceptron on a real tabular data set that statsmodels ships for offline use
  (Fair's 1978 survey of 6,366 women: eight numeric columns; the label is whether the respondent reported
  any extramarital affair, 32% positive), features standardised with the training split's statistics;
* ``transformer-modadd``: a one-block pre-LN transformer on a synthetic algorithmic task, modular
  addition: from the two tokens (a, b), predict (a + b) mod 23, trained on 60% of the 529 pairs and
  tested on the rest (the task of the "grokking" literature, where a fixed kernel is known to fail).

The MLP trains with the chapters' SGD recipe at half their lr (0.05); the transformer with AdamW and
weight decay 1.0, the usual recipe of the modular-arithmetic literature. Both have a step schedule
(two drops) and a constant-lr twin, as in chapters 1-3.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from twophase_lib.config import OptimConfig, RunConfig, check_choice
from twophase_lib.data import TensorData, generator
from twophase_lib.metrics import BarrierConfig
from twophase_lib.models import count_parameters
from twophase_lib.plotting import band, mark_lr_drops, time_axis
from twophase_lib.task import Task
from twophase_lib.verdicts import combine

from .profiles import SCHEDULE_NAMES, SCHEDULES, Design, _as_tuple, check_profile, with_overrides
from .render import Note, Table, fmt

TASKS = ("mlp-tabular", "transformer-modadd")

FAIR_FEATURES = ("rate_marriage", "age", "yrs_married", "children", "religious", "educ", "occupation",
                 "occupation_husb")


def check_task(name: str) -> str:
    """Return ``name`` if chapter 4 knows the task, else raise ValueError listing the known ones."""
    check_choice(name, TASKS, "task")
    return name


def fair_data(test_fraction: float = 0.2) -> TensorData:
    """Fair's affairs survey (statsmodels, offline): 8 standardised features, label 1 when affairs > 0."""
    try:
        from statsmodels.datasets import fair
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("chapter 4's tabular task reads Fair's data from statsmodels: "
                          "pip install 'twophase_lib[beyond]' (or statsmodels)") from exc
    frame = fair.load_pandas().data
    x = torch.tensor(frame[list(FAIR_FEATURES)].to_numpy(dtype=np.float64))
    y = torch.tensor((frame["affairs"].to_numpy() > 0).astype(np.int64))
    order = torch.randperm(len(x), generator=generator("fair-split"))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(0), x[train].std(0)
    x = ((x - mean) / std).float()
    return TensorData("fair-affairs", x[train], y[train], x[test], y[test])


class TabularMLP(nn.Module):
    """Two hidden ReLU layers of ``width`` units on a feature vector."""

    def __init__(self, features: int = len(FAIR_FEATURES), width: int = 128, classes: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                                 nn.Linear(width, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def modular_addition_data(p: int = 23, train_fraction: float = 0.6) -> TensorData:
    """All pairs (a, b) of residues mod ``p`` as two-token inputs, label (a + b) mod p; a seeded train/test split."""
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x = torch.stack([a.flatten(), b.flatten()], 1)
    y = (x[:, 0] + x[:, 1]) % p
    order = torch.randperm(len(x), generator=generator("modular-addition", p))
    n = int(round(train_fraction * len(x)))
    return TensorData(f"modular-addition-{p}", x[order[:n]], y[order[:n]], x[order[n:]], y[order[n:]])


class TinyTransformer(nn.Module):
    """Token and position embeddings, one pre-LN block (multi-head self-attention, ReLU MLP), mean pool, linear head."""

    def __init__(self, symbols: int = 23, length: int = 2, dim: int = 64, heads: int = 4, hidden: int = 128):
        super().__init__()
        self.heads = heads
        self.embed = nn.Embedding(symbols, dim)
        self.position = nn.Parameter(0.02 * torch.randn(length, dim))
        self.norm1, self.norm2, self.norm_out = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.head = nn.Linear(dim, symbols)

    def attention(self, h: torch.Tensor) -> torch.Tensor:
        """Multi-head scaled dot-product self-attention, written out (works under torch.func transforms)."""
        b, n, d = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, n, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.position
        h = h + self.attention(self.norm1(h))
        h = h + self.mlp(self.norm2(h))
        return self.head(self.norm_out(h).mean(1))


def task(name: str) -> Task:
    """Chapter 4's task by name (its data loaded lazily, in whichever process trains it)."""
    check_task(name)
    if name == "mlp-tabular":
        return Task(name, TabularMLP, fair_data)
    return Task(name, TinyTransformer, modular_addition_data)


def run_config(profile: str, name: str) -> RunConfig:
    """A task's training recipe at a profile (step schedule)."""
    check_profile(profile)
    check_task(name)
    # gpu: the cpu design. These networks are tiny (18k and 37k parameters): a step is a few dozen small
    # kernels, bound by launches on a GPU, so the gpu profile runs them on the CPU cores beside it.
    steps, drops = {"smoke": (60, (40, 50)), "cpu": (1200, (960, 1080)), "gpu": (1200, (960, 1080))}.get(
        profile, (4000, (3200, 3600)))
    if name == "mlp-tabular":
        optim = OptimConfig(lr=0.05, batch_size=64, steps=steps, milestones=drops)
    else:
        optim = OptimConfig(algorithm="adamw", lr=3e-3, momentum=0.9, beta2=0.98, weight_decay=1.0, batch_size=64,
                            steps=steps, milestones=drops)
    device = "cuda" if profile == "paper" else "cpu"
    return RunConfig(optim=optim, device=device, memory_format="contiguous", task=task(name))


def design(profile: str, name: str) -> Design:
    """Chapter 4's design of a task at a profile: the chaos grid, cone checkpoints and switch times of chapters 1-3."""
    run = run_config(profile, name)
    t1, d1 = run.optim.steps, run.optim.first_drop
    if profile == "smoke":
        return Design(profile, name, run, t0s=(0, 4, 12), control_t0=4, seeds=(0, 1),
                      barrier=BarrierConfig(points=3, train_examples=200, test_examples=200), kernel_inputs=8,
                      reference_seeds=(0,), eps_sizes=(), eps_t0s=(),
                      cone_steps=(0, 4, 8, 16, 24, 32, 40, 50, 60), cone_refs=(8, 16), switches=(0, 8, 24, 60),
                      switch_train_examples=200)
    scale = d1 / 960  # the cpu grid, stretched for longer profiles
    grid = lambda ts: tuple(int(round(t * scale)) for t in ts)  # noqa: E731
    return Design(profile, name, run, t0s=grid((0, 10, 30, 100, 250, 480, 800)), control_t0=grid((100,))[0],
                  seeds=(0, 1, 2), barrier=BarrierConfig(points=5, train_examples=1000), kernel_inputs=50,
                  reference_seeds=(0,), eps_sizes=(), eps_t0s=(),
                  cone_steps=(*grid((0, 10, 20, 40, 70, 100, 150, 200, 250, 320, 400, 480, 560, 640, 720, 800,
                                     880)), d1, *[d1 + (t1 - d1) * k // 4 for k in (1, 2, 3, 4)]),
                  cone_refs=grid((250, 320, 400, 480)),
                  switches=(*grid((0, 30, 100, 250, 480, 800)), t1), switch_train_examples=1000)


def chapter_designs(profile: str, tasks=TASKS, seeds=None, device: str | None = None) -> dict[str, Design]:
    """The tasks' designs at a profile, keyed by task name, with a re-runner's overrides
    (:func:`twophase_book.profiles.with_overrides`)."""
    names = tuple(check_task(t) for t in _as_tuple(tasks, str, "tasks"))
    return with_overrides({name: design(profile, name) for name in names}, seeds, device)


def chaos_sweeps(designs: dict[str, Design]) -> dict:
    """Chapter 4's chaos sweeps: every task under both schedules, keyed by (task, schedule)."""
    from .chaos import design_sweeps

    return design_sweeps(designs)


def cone_studies(designs: dict[str, Design]) -> dict:
    """Chapter 4's cone studies (step schedule), keyed by (task, "step")."""
    from .cone import study_from_design

    return {(n, "step"): study_from_design(d, "step") for n, d in designs.items()}


def switch_studies(designs: dict[str, Design]) -> dict:
    """Chapter 4's switch studies (step schedule), keyed by task."""
    from twophase_book.switch import design_studies

    return design_studies(designs)


def accuracy_along_training(d: Design, schedule: str, cache) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy of the parent runs at every cone checkpoint (seeds × steps), from the cached checkpoints."""
    from twophase_lib.store import evaluation_model, parent_checkpoints
    from twophase_lib.task import run_data, run_loss
    from twophase_lib.training import compute_threads, evaluate

    run = d.schedule(schedule)
    steps = np.array(d.cone_steps)
    acc = np.zeros((len(d.seeds), len(steps)))
    for i, seed in enumerate(d.seeds):
        r = run.replace(seed=seed)
        checkpoints = parent_checkpoints(r, d.cone_steps, cache)
        with compute_threads():
            for j, s in enumerate(d.cone_steps):
                model = evaluation_model(r, checkpoints[s])
                acc[i, j] = evaluate(model, run_data(r), "test", loss=run_loss(r))["accuracy"]
    return steps, acc


def summary_key(profile: str) -> tuple:
    """What chapter 4's summary is keyed by: both tasks' designs (their task identities included)."""
    return tuple(chapter_designs(profile).values())


def beyond_design_table(designs: dict) -> Table:
    """Chapter 4's design for every task: network, data, optimiser, schedule, where each analysis looks."""
    rows = []
    for name, d in designs.items():
        o, data, model = d.run.optim, d.run.task.tensors(), d.run.task.build(0)
        params = count_parameters(model)
        rows.append(
            [
                name,
                f"{type(model).__name__} ({params:,} parameters)",
                f"{data.name} ({len(data.x_train):,} / {len(data.x_test):,})",
                f"{o.algorithm}, lr {o.lr:g}",
                o.batch_size,
                f"{o.steps} ({o.steps / d.epoch_steps:.3g} epochs)",
                ", ".join(map(str, o.milestones)),
                ", ".join(map(str, d.t0s)),
                f"{d.epsilon:g}",
                ", ".join(map(str, d.seeds)),
                d.kernel_inputs,
                ", ".join(map(str, d.cone_refs)),
                ", ".join(map(str, d.switches)),
            ]
        )
    return Table(
        [
            "task",
            "network",
            "data (train / test)",
            "optimiser",
            "batch",
            "iterations",
            "lr ÷10 at (step schedule)",
            "t0 grid",
            "ε (total norm)",
            "seeds",
            "eNTK inputs",
            "τ",
            "switch times",
        ],
        rows,
    )


def accuracy_note(curves: dict, designs: dict) -> Note:
    """Per task and schedule: parents' test accuracy (seed mean) at the first drop, its largest rise over one
    checkpoint interval before it (a late jump is a qualitative change of the function, not a settled phase), and
    at the end."""
    lines = []
    for (name, schedule), (steps, acc) in curves.items():
        d1 = designs[name].first_drop
        mean = acc.mean(0)
        at_drop = mean[steps.tolist().index(d1)]
        before = [j for j in range(1, len(steps)) if steps[j] <= d1]
        jump = max(before, key=lambda j: mean[j] - mean[j - 1])
        lines.append(
            f"- **{name}**, {SCHEDULE_NAMES[schedule]}: test accuracy {at_drop:.3f} at the "
            f"first drop ({d1}) and {mean[-1]:.3f} at the end ({steps[-1]}, {mean[-1] - at_drop:+.3f} "
            f"after the drop's iteration); its largest rise before the drop, "
            f"{mean[jump] - mean[jump - 1]:+.3f}, is between iterations {steps[jump - 1]} and {steps[jump]}."
        )
    return Note("\n".join(lines))


def beyond_answer(summary: dict) -> Note:
    """Chapter 4's answer, one line per claim: the outcome over the tasks and each task's verdict."""
    titles = {"chaos": "Chaos effect", "cone": "Cone effect", "switch": "Value of the cone phase"}
    lines = []
    for claim, outcome in summary["claims"].items():
        per = "; ".join(
            f"{name}: "
            + (", ".join(f"{SCHEDULE_NAMES[s]} {o}" for s, o in t["chaos"].items()) if claim == "chaos" else t[claim])
            for name, t in summary["tasks"].items()
        )
        lines.append(f"- **{titles[claim]}**: {outcome} over the {len(summary['tasks'])} task(s) ({per}).")
    return Note("\n".join(lines))


def beyond_summary(
    profile: str, chaos: dict, inflections: dict, chaos_v: dict, cone_v: dict, switch: dict, switch_v: dict
) -> dict:
    """Chapter 4's results for the scorecard: per task, the three claims' verdicts and the numbers behind them."""
    tasks = {}
    for name in cone_v:
        res = chaos[(name, "step")]
        d = res.mean("disagreement")
        tasks[name] = {
            "chaos": {sch: str(chaos_v[(name, sch)].outcome) for sch in SCHEDULES if (name, sch) in chaos_v},
            "cone": str(cone_v[name].outcome),
            "switch": str(switch_v[name].outcome),
            "inflection": inflections[(name, "step")],
            "disagreement": f"{d[0]:.3f} (t0 = 0) → {d[-1]:.3f} (t0 = {res.t0s[-1]}), unrelated networks "
            f"{fmt(res.reference('independent init', 'disagreement'))}",
            "accuracy": [round(float(a), 4) for a in switch[name].accuracy.mean(0)],
            "switches": switch[name].switches.tolist(),
            "checks": {
                "chaos": chaos_v[(name, "step")].explain(),
                "cone": cone_v[name].explain(),
                "switch": switch_v[name].explain(),
            },
        }
    claims = {
        "chaos": str(combine([o for t in tasks.values() for o in t["chaos"].values()])),
        "cone": str(combine([t["cone"] for t in tasks.values()])),
        "switch": str(combine([t["switch"] for t in tasks.values()])),
    }
    return {"profile": profile, "tasks": tasks, "claims": claims, "verdict": str(combine(list(claims.values())))}


def accuracy_figure(curves: dict, milestones: dict) -> plt.Figure:
    """Per task: the parent runs' test accuracy along training under each schedule (seed mean and range), with the
    step schedule's lr drops (``milestones``: task -> iterations)."""
    names = list(dict.fromkeys(name for name, _ in curves))
    fig, axes = plt.subplots(1, len(names), figsize=(6.2 * len(names), 3.6), squeeze=False)
    for c, name in enumerate(names):
        ax = axes[0, c]
        for i, (schedule, label) in enumerate((("step", "step schedule"), ("constant", "constant lr"))):
            if (name, schedule) in curves:
                steps, acc = curves[(name, schedule)]
                band(ax, steps, acc, label, color=f"C{i}")
        mark_lr_drops(ax, milestones.get(name, ()))
        time_axis(ax, "training iteration")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{name}: the parent runs", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
