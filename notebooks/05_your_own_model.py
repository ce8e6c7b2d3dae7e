# ---
# jupyter:
#   jupytext:
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
# your data's bytes and your model's initial parameters, so changing either never hits an
# old result.
#
# Here the "user" data are two interleaved noisy spirals in the plane and the model a
# small MLP; replace both with yours.

# %% tags=["parameters"]
profile = "cpu"  # smoke (a few iterations, for CI) | cpu

# %%
import torch
from torch import nn

from twophase_lib.presets import check_profile

check_profile(profile)
steps = {"smoke": 100}.get(profile, 600)  # iterations of training


def spirals(n: int, noise: float = 0.6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved spirals in the plane, ``n`` points each, labels 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    r = torch.linspace(0.3, 3.5, n).repeat(2)
    angle = r * 2.2 + torch.cat([torch.zeros(n), torch.full((n,), torch.pi)])
    x = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1) + noise * torch.randn(2 * n, 2, generator=g)
    return x, torch.cat([torch.zeros(n), torch.ones(n)]).long()


def my_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))


(x_train, y_train), (x_test, y_test) = spirals(500, seed=0), spirals(250, seed=1)

# %% [markdown]
# ## The ten lines
#
# One task, one training recipe (SGD, lr ÷10 at 80% and 90% of training), then the three
# analyses and their figure. `t0s`, the cone checkpoints and the switch times are
# iterations, scaled here to the run's length.

# %% tags=["check-output"]
from twophase_lib import OptimConfig, RunConfig, Task, TensorData
from twophase_lib.analyses import analyses_figure, chaos_curve, cone_curves, switch_curve

task = Task("spirals-mlp", my_model, TensorData("spirals", x_train, y_train, x_test, y_test))
run = RunConfig(task=task, optim=OptimConfig(lr=0.05, batch_size=32, steps=steps,
                                             milestones=(steps * 8 // 10, steps * 9 // 10)))
at = lambda *fractions: tuple(sorted({int(f * steps) for f in fractions}))  # noqa: E731
chaos = chaos_curve(run, t0s=at(0, 0.02, 0.05, 0.15, 0.4))
cone = cone_curves(run, steps=at(0, 0.02, 0.05, 0.1, 0.15, 0.25, 0.4, 0.55, 0.7, 0.8), refs=at(0.1, 0.25))
switch = switch_curve(run, switches=at(0, 0.05, 0.15, 0.4, 0.8))
fig = analyses_figure(chaos, cone, switch)

# %% [markdown]
# Left: how much two twins, split by a 1e-7 perturbation at $t_0$ and trained on the same
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
from twophase_lib.reporting import numerics_note

numerics_note(run)
