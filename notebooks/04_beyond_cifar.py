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
# # 4. Beyond CIFAR-10: an MLP on tabular data and a small transformer
#
# **The open question** (Zhou et al. 2025, §6): do the chaos and cone effects hold
# beyond image classification with convolutional networks — for transformers, or MLPs
# on tabular data? The paper does not answer it. This chapter runs chapters 1–3's three
# analyses, with the same code and the **same verdict rules, written before these
# numbers were seen**, on two tasks that share nothing with CIFAR-10:
#
# * **MLP on tabular data** — a two-hidden-layer ReLU perceptron (128 units) on Fair's
#   1978 survey of 6,366 women that statsmodels ships for offline use: eight numeric
#   columns (marriage rating, age, years married, children, religiousness, education,
#   two occupations), label *reported an affair* (32% positive), features standardised
#   on the training split; SGD with momentum, as in chapters 1–3, at lr 0.05.
# * **Transformer on an algorithmic task** — one pre-LN transformer block (4 heads,
#   width 64) reading two tokens $(a, b)$ and predicting $(a + b) \bmod 23$, trained on
#   60% of the 529 pairs and tested on the other 40%: the task of the "grokking"
#   literature, where a fixed kernel is known to generalise poorly. AdamW with weight
#   decay 1.0, the usual recipe there.
#
# Each task is a `twophase_lib.task.Task` (a model factory, tensors, a loss): the
# library's chaos sweep, cone study and switch study take it as they take CIFAR-10.
# Both tasks have a step schedule (lr ÷10 twice) and, for the chaos effect, the
# constant-lr twin of chapter 1. No batch norm here: nothing is re-estimated.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | gpu | paper
workers = None  # worker processes (None: $TWOPHASE_WORKERS or one per CPU core; 0: this process; Ray: README)
tasks = ("mlp-tabular", "transformer-modadd")  # any of twophase_book.beyond.TASKS (a list, or "a,b")
seeds = None  # None: the profile's seeds (cpu: 0, 1, 2); or a list such as [0, 1, 2, 3, 4]
device = None  # None: the profile's device (cpu; cuda for paper); or "cuda:1", ...
cache_dir = None  # None: $TWOPHASE_CACHE, else ~/.cache/twophase/results

# %% tags=["check-output", "exact-everywhere"]
import matplotlib.pyplot as plt

from twophase_book import beyond
from twophase_book.beyond import accuracy_figure, accuracy_note, beyond_answer, beyond_design_table, beyond_summary
from twophase_book.chaos import chaos_figure, chaos_inflections, chaos_table, chaos_verdicts
from twophase_book.cone import cone_figure, cone_table, cone_verdicts
from twophase_book.pages import save_summary
from twophase_book.render import numerics_note
from twophase_book.switch import switch_figure, switch_table, switch_verdicts
from twophase_lib.cache import Cache
from twophase_lib.chaos import run_sweeps
from twophase_lib.cone import run_studies
from twophase_lib.executor import check_workers
from twophase_lib.ray_executor import executor_from_env
from twophase_lib.switch import run_switch_studies

designs = beyond.chapter_designs(profile, tasks, seeds, device)  # validated: unknown values fail here
cache, executor = Cache(cache_dir), executor_from_env(check_workers(workers))
beyond_design_table(designs)


# %% [markdown]
# The line below names the kernels that computed this page (its *numerics fingerprint*);
# the page [Across machines](../across_machines.md) shows how far the headline numbers move
# on machines with other kernels.

# %%
numerics_note(designs)

# %% [markdown]
# ## The parent runs
#
# Before the twins, the runs themselves: test accuracy of the parent runs along training
# under both schedules (seed mean and range; dotted lines: the step schedule's lr drops),
# read from the checkpoints the studies below save anyway. A late jump in accuracy means
# the function is still changing qualitatively where chapters 1–3 expect a settled late
# phase; the note gives, per task, the accuracy at the first drop, its largest rise over
# one checkpoint interval before it, and the accuracy at the end.

# %% tags=["check-output"]
chaos = run_sweeps(beyond.chaos_sweeps(designs), cache, executor, desc="chapter 4: chaos sweeps")
curves = {(name, sch): beyond.accuracy_along_training(d, sch, cache) for name, d in designs.items()
          for sch in ("step", "constant")}
accuracy_note(curves, designs)

# %%
fig = accuracy_figure(curves, {name: d.run.optim.milestones for name, d in designs.items()})
plt.show()

# %% [markdown]
# ## Chaos: twins perturbed at $t_0$ (‖ε‖ as in the design table), compared at the end

# %% tags=["check-output"]
inflections = chaos_inflections(chaos)
chaos_table(chaos, inflections)

# %%
fig = chaos_figure(chaos, ["disagreement", "test_loss_barrier", "kernel_distance"], inflections,
                   title="Chapter 4: twins perturbed at t0, compared at the end of training")
plt.show()

# %% [markdown]
# ## Cone: the eNTK along the step-schedule runs (on the design's test inputs, all outputs)

# %% tags=["check-output"]
cone = run_studies(beyond.cone_studies(designs), cache, executor, desc="chapter 4: kernels")
cone_v = cone_verdicts(cone, inflections)
cone_table(cone, cone_v)

# %%
fig = cone_figure(cone, inflections)
plt.show()

# %% [markdown]
# ## The value of the cone phase: switching to the linearized model at $t$

# %% tags=["check-output"]
switch = run_switch_studies(beyond.switch_studies(designs), cache, executor, desc="chapter 4: linearized runs")
switch_table(switch)

# %%
fig = switch_figure(switch, inflections)
plt.show()

# %% [markdown]
# ## Verdicts
#
# The rules are chapters 1–3's (`twophase_lib.verdicts`), unchanged: the chaos rule per
# schedule (chaotic early against independently initialised networks, stable at the
# last $t_0$ in the first half of the time before the first drop, an early inflection),
# the cone rule on the windows before the first drop, the switch rule on final test
# accuracy.

# %% tags=["check-output"]
chaos_v = chaos_verdicts(chaos, inflections)
switch_v = switch_verdicts(switch, inflections)
summary = beyond_summary(profile, chaos, inflections, chaos_v, cone_v, switch, switch_v)
save_summary(cache, "beyond", profile, summary, designs)
for name, t in summary["tasks"].items():
    print(f"{name}: chaos {t['chaos']}, cone {t['cone']}, switch {t['switch']}")
    for claim, text in t["checks"].items():
        print(f"  [{claim}] " + text.replace("\n", "\n  "))
print(f"\nAt the {profile} profile: " + "; ".join(f"{c} {o.upper()}" for c, o in summary["claims"].items()))

# %% [markdown]
# The answer, claim by claim, as the rules give it:

# %% tags=["check-output"]
beyond_answer(summary)

# %% [markdown]
# ## What this answers, and what it does not
#
# The verdicts above are computed; read them with the tables. Two tasks are two data
# points, not a law: a different width, optimiser or data size may move any of them.
# What the chapter can say is whether the *signatures* the paper reads on CIFAR-10 —
# a twin's final disagreement that falls from "unrelated network" to "same network"
# as the split moves later, a kernel whose distance from an early reference levels
# off, and linearized training that gains from every extra step of standard training —
# appear at all outside image classification, measured the same way. The scorecard
# records the answer next to chapters 1–3.
