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
# your loss. Everything below runs in this process (`workers=0`), so a model defined in a
# notebook works, and every result is cached under the task's identity — a digest of
# everything that can change a result: your data's bytes, your model's structure, code and
# initial parameters, your loss and its arguments. Change any of them and no old result is
# found; what cannot be identified (a loss that reads a lock, an open file) is refused with
# a message.
#
# Here the "user" brings a small CNN with batch norm and their own tensors: CIFAR-10 images
# (the real subset embedded in the package), downsampled to 16 × 16 pixels, 2,500 for
# training and 500 for testing, without augmentation. Replace both with yours. What any
# model gets, and what is refused, is in the README's "Use it on your own model".

# %% tags=["parameters"]
profile = "cpu"  # smoke (a few iterations, for CI) | cpu (gpu and paper run the cpu design on the CPU)

# %%
import torch.nn.functional as F
from torch import nn

from twophase_book.profiles import check_profile
from twophase_lib import DataConfig, load_data

check_profile(profile)
smoke = profile == "smoke"
steps = 60 if smoke else 600  # iterations of training
seeds = (0, 1) if smoke else (0, 1, 2)
n_inputs = 6 if smoke else 30  # test inputs of the eNTK

cifar = load_data(DataConfig("cifar10-subset", augment=False))
x_train, y_train = F.avg_pool2d(cifar.x_train[:2500], 2), cifar.y_train[:2500]
x_test, y_test = F.avg_pool2d(cifar.x_test[:500], 2), cifar.y_test[:500]


def my_model() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


# %% [markdown]
# ## The ten lines
#
# One task, one training recipe (SGD at lr 0.4 with momentum, lr ÷10 at 80% and 90% of
# training), then the three analyses and their figure. `t0s`, the cone checkpoints and the
# switch times are iterations, scaled here to the run's length.

# %% tags=["check-output"]
from twophase_lib import OptimConfig, RunConfig, Task, TensorData
from twophase_lib.analyses import analyses_figure, chaos_curve, cone_curves, switch_curve

task = Task("cifar16-bn-cnn", my_model, TensorData("cifar16", x_train, y_train, x_test, y_test))
run = RunConfig(task=task, optim=OptimConfig(lr=0.4, batch_size=64, steps=steps,
                                             milestones=(steps * 8 // 10, steps * 9 // 10)))
at = lambda *fractions: tuple(sorted({int(f * steps) for f in fractions}))  # noqa: E731
chaos = chaos_curve(run, t0s=at(0, 0.02, 0.05, 0.15, 0.4), seeds=seeds)
cone = cone_curves(run, steps=at(0, 0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.55, 0.7, 0.8), refs=at(0.1, 0.25),
                   seeds=seeds, n_inputs=n_inputs)
switch = switch_curve(run, switches=at(0, 0.05, 0.15, 0.4, 0.8), seeds=seeds)
fig = analyses_figure(chaos, cone, switch)

# %% [markdown]
# Left: how much two twins, split by a perturbation of total norm 1e-7 at $t_0$ and trained on the same
# batches, disagree on the test set at the end (dashed: two independently initialised
# networks). Middle: the distance $S(\tau, t)$ of the eNTK at $t$ from its value at each
# reference point $\tau$ (a cone is a curve that levels off). Right: final test accuracy
# when the network is replaced by its linearization at $t$ and trained on to the end.
#
# The numbers behind the figure are plain arrays (`chaos.values["disagreement"]`,
# `cone.matrices`, `switch.accuracy`), and chapters 1–3's verdict rules apply to them:

# %% tags=["check-output"]
from twophase_lib.chaos import inflection_range
from twophase_lib.verdicts import chaos_verdict, cone_verdict, switch_verdict

inflection = inflection_range(chaos.t0s, chaos.values["disagreement"])["estimate"]
verdicts = {
    "chaos": chaos_verdict(chaos.t0s, chaos.values["disagreement"], chaos.reference("independent init", "disagreement"),
                           chaos.control_is_exact, run.optim.first_drop, inflection),
    "cone": cone_verdict(cone.study.steps, cone.matrices.mean(0), cone.study.refs, run.optim.first_drop, inflection),
    "switch": switch_verdict(switch.switches, switch.accuracy, inflection),
}
for name, v in verdicts.items():
    print(f"{name}: {v.outcome}\n  " + v.explain().replace("\n", "\n  "))


# %% [markdown]
# The kernels that computed this page (its *numerics fingerprint*; see
# [Across machines](../across_machines.md)):

# %%
from twophase_book.render import numerics_note

numerics_note(run)
