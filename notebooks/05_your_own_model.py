# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Use it on your own model
#
# The three analyses of chapters 1–3 take any network and any data: a
# `twophase_lib.Task` is a function that builds your model, your tensors and (optionally)
# your loss. Each analysis is one call that runs the paper's protocol as chapters 1–3 run
# it — a constant learning rate over a window of iterations, twins read on fixed windows
# $t_1 = t_0 + \Delta$, the eNTK on training inputs read through lag curves, switch times
# inside the window with two controls — and returns a result that carries the verdict of
# the same rule the book applies, its margins and intervals, and a figure.
#
# Everything below runs in this process (`workers=0`), so a model defined in a notebook
# works, and every result is cached under the task's identity — a digest of everything
# that can change a result: your data's bytes, your model's structure, code and initial
# parameters, your loss and its arguments. Change any of them and no old result is found;
# what cannot be identified (a loss that reads a lock, an open file) is refused with a
# message.
#
# Here the "user" brings a small CNN with batch norm and their own tensors: CIFAR-10 images
# (the real subset embedded in the package), downsampled to 16 × 16 pixels, without
# augmentation. Replace both with yours. What any model gets, and what is refused, is in
# the README's "Use it on your own model".

# %% tags=["parameters"]
profile = "cpu"  # smoke (a few iterations, for CI) | cpu (gpu and paper run the cpu design on the CPU)

# %%
import torch.nn.functional as F
from torch import nn

from twophase_book.profiles import check_profile
from twophase_lib import DataConfig, load_data

check_profile(profile)
smoke = profile == "smoke"
window = 24 if smoke else 600  # iterations at a constant lr
n_train, n_test = (400, 200) if smoke else (2500, 500)
seeds = (0, 1) if smoke else (0, 1, 2)

cifar = load_data(DataConfig("cifar10-subset", augment=False))
x_train, y_train = F.avg_pool2d(cifar.x_train[:n_train], 2), cifar.y_train[:n_train]
x_test, y_test = F.avg_pool2d(cifar.x_test[:n_test], 2), cifar.y_test[:n_test]
print(f"{len(x_train):,} training and {len(x_test):,} test images of shape {tuple(x_train.shape[1:])}; "
      f"a window of {window} iterations, seeds {seeds}")


def my_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


# %% [markdown]
# ## The ten lines
#
# One task, one recipe (SGD with momentum at the paper's constant lr of 0.1, batches of
# 64), then the three analyses and their figure. The grids are iterations, written here as
# fractions of the window: perturbation times $t_0$ and windows Δ (chapter 1), where the
# lag curves start and their lags (chapter 2), switch times whose last, T, is standard
# training (chapter 3). The switch analysis takes chapter 1's inflection, which places the
# cone phase, and `budget` adds chapter 3's fixed-budget arm (the same number of linearized
# iterations from every switch time, beside standard training over them).

# %% tags=["nbval-check-output"]
from twophase_lib import OptimConfig, RunConfig, Task, TensorData
from twophase_lib.analyses import analyses_figure, chaos_analysis, cone_analysis, switch_analysis

task = Task("cifar16-bn-cnn", my_model, TensorData("cifar16", x_train, y_train, x_test, y_test))
run = RunConfig(task=task, optim=OptimConfig(lr=0.1, batch_size=64, steps=window, milestones=()))
at = lambda *fractions: tuple(sorted({int(f * window) for f in fractions}))  # noqa: E731
chaos = chaos_analysis(run, t0s=at(0, 1 / 60, 1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3), deltas=at(1 / 6, 1 / 3),
                       seeds=seeds)
cone = cone_analysis(run, lag_ts=at(0, 1 / 6, 2 / 3), lags=at(1 / 24, 1 / 12, 1 / 6, 1 / 3), taus=at(0, 1 / 3),
                     seeds=seeds, n_inputs=6 if smoke else 30)
switch = switch_analysis(run, switches=at(0, 1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3), seeds=seeds,
                         inflection=chaos.inflection, budget=window // 3)
fig = analyses_figure(chaos, cone, switch)

# %% [markdown]
# Left: how much two twins, split by a perturbation of total norm 1e-7 at $t_0$ and trained
# on the same batches, disagree on the test set Δ iterations later (bands: 90% $t$
# intervals over seeds; dashed: the rule's reference, twins that differ only in SGD noise —
# one initialisation, two data orders; dotted: the inflection, the first $t_0$ of the grid
# where the disagreement has halved). Middle: the eNTK's distance $S(t, t + \Delta)$
# against the lag Δ from the earliest and the latest $t$ (a cone is a late curve that stays
# low whatever the lag, well under $S(0, t)$, how far the kernel travelled from
# initialisation). Right: final test accuracy at T when the network is replaced by its
# linearization at $t$ and trained on, with the lower-lr and batch-norm-frozen controls
# and the parent's own accuracy at $t$. The fixed-budget arm is reported in the text below
# (`switch.budget` holds its results per switch time, `switch.budget_check` its check).
#
# ## The verdicts
#
# Each result carries the verdict of the rule chapters 1–3 apply
# (`twophase_lib.verdicts.window_chaos_verdict`, `lag_cone_verdict`,
# `paired_switch_verdict`): each check with its margin and 90% interval, and
# "inconclusive" when a check that could change the outcome has a margin inside its
# interval.

# %% tags=["nbval-check-output"]
print(f"ε = 0 control exact: {chaos.control_is_exact}")
for analysis in (chaos, cone, switch):
    print(analysis.explain())

# %% [markdown]
# The numbers behind the figure are plain arrays: `chaos.readings[("disagreement", Δ)]`
# holds the curve over $t_0$ with its bootstrap replicates and reference level,
# `switch.results["linearized"].parent_accuracy` the parent's accuracy at each switch time,
# `chaos.result.values` the whole (seed, $t_0$, $t_1$) map, `cone.result.matrices` the
# within-run kernel distances and `cone.reading.curves` the lag curves,
# `switch.results["linearized"].accuracy` the accuracy per seed and switch time. Each
# analysis draws its own panels too (`chaos.figure()`, `cone.figure()`):

# %%
cone_fig = cone.figure()

# %% [markdown]
# The kernels that computed this page (its *numerics fingerprint*; see
# [Across machines](../across_machines.md)):

# %%
from twophase_book.render import numerics_note

numerics_note(run)
