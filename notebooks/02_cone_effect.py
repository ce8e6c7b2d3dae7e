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
# # 2. The cone effect
#
# **The claim** (Zhou et al. 2025, §5). After the transition found in chapter 1, the
# empirical neural tangent kernel keeps changing, but inside a narrow cone: the kernel
# distance $S(\tau, t)$ between a reference checkpoint $\tau$ (placed after the
# transition) and later checkpoints $t$ first rises, then plateaus; the distance between
# adjacent checkpoints drops to a small value that is not zero. The paper uses
# $\tau \in \{2000, 4000, 6000, 8000\}$: after its inflection and long before its first
# lr drop (the comparison table at the end places them).
#
# **Definitions.** The eNTK of the network at parameters θ on a fixed set of inputs is
# $H(\theta)_{(i,k),(j,l)} = \langle \partial f_k(x_i)/\partial\theta,\ \partial f_l(x_j)/\partial\theta\rangle$,
# all $K = 10$ logits kept (an $nK \times nK$ matrix), with the model in eval mode and
# its batch-norm statistics re-estimated on training batches first (at $t = 0$ the
# running statistics are the defaults and normalise nothing). The kernel distance (Fort
# et al. 2020) is $S(K_1, K_2) = 1 - \langle K_1, K_2\rangle_F / (\|K_1\|_F \|K_2\|_F)$:
# 0 when the kernels point the same way in matrix space, whatever their scale. The kernel
# velocity is $S$ between adjacent checkpoints divided by their spacing.
#
# **Our protocol.** The runs are chapter 1's parent runs (shared through the cache). Every
# τ lies after chapter 1's inflection and before the first lr drop, and the verdict looks
# only at checkpoints up to that drop — so a plateau cannot be the drop's doing. Before
# the drop the step schedule and the constant lr are the same run, bitwise: one set of
# kernels serves both, and the chapter checks it. After the drop the two differ, and the
# figure shows both: that part answers what the drop does to the kernel.

# %% tags=["parameters"]
profile = "cpu"  # smoke | cpu | gpu | paper
workers = None  # worker processes (None: $TWOPHASE_WORKERS or one per CPU core; 0: this process; Ray: README)
archs = ("resnet20", "vgg16")  # any of twophase_book.profiles.ARCHS (a list, or "resnet20,vgg16")
seeds = None  # None: the profile's seeds (cpu: 0, 1, 2); or a list such as [0, 1, 2, 3, 4]
device = None  # None: the profile's device (cpu; cuda for gpu and paper); or "cuda:1", ...
cache_dir = None  # None: $TWOPHASE_CACHE, else ~/.cache/twophase/results

# %% tags=["check-output", "exact-everywhere"]
import matplotlib.pyplot as plt

from twophase_book.chaos import chaos_inflections, chapter_sweeps
from twophase_book.cone import (
    after_drop_table,
    chapter_studies,
    cone_figure,
    cone_paper_table,
    cone_summary,
    cone_table,
    cone_verdicts,
    shared_before_drop,
)
from twophase_book.designs import design_note, design_table
from twophase_book.pages import save_summary
from twophase_book.profiles import chapter_designs
from twophase_book.render import numerics_note
from twophase_lib.cache import Cache
from twophase_lib.chaos import run_sweeps
from twophase_lib.cone import run_studies
from twophase_lib.executor import check_workers
from twophase_lib.ray_executor import executor_from_env

designs = chapter_designs(profile, archs, seeds, device)  # validated: unknown values fail here
cache, executor = Cache(cache_dir), executor_from_env(check_workers(workers))
design_table(profile, designs)

# %% tags=["check-output", "exact-everywhere"]
design_note(profile)


# %% [markdown]
# The line below names the kernels that computed this page (its *numerics fingerprint*);
# the page [Across machines](../across_machines.md) shows how far the headline numbers move
# on machines with other kernels.

# %%
numerics_note(designs)

# %% [markdown]
# The inflections come from chapter 1's sweeps (loaded from the cache; computed here if
# chapter 1 has not run).
#
# ## Kernels along training

# %% tags=["check-output"]
inflections = chaos_inflections(run_sweeps(chapter_sweeps(profile, designs), cache, executor, progress=False))
results = run_studies(chapter_studies(profile, designs), cache, executor, desc="chapter 2: eNTK along the runs")
shared = shared_before_drop(results)
print("kernel distances before the first drop identical under both schedules:", shared)

# %%
fig = cone_figure(results, inflections)
plt.show()

# %% [markdown]
# **Reading the figure.** Left: the seed-mean distance matrix $S(t, t')$ of the step
# schedule's runs, drawn on the true time axis (dotted lines: lr drops); a cone phase
# appears as a block of small distances among later checkpoints. Middle: $S(\tau, t)$ for
# each τ (band: seed range); after the first drop (shaded) the dashed lines are the
# constant-lr runs. Right: kernel velocity on a log scale under both schedules.
#
# ## Rise, then plateau — before the first drop?
#
# The rule (`twophase_lib.verdicts.cone_verdict`, written before these numbers and tested
# on synthetic matrices): for every τ, on the window from τ to the first drop,
#
# * **rises** — $S(\tau, t)$ grows over the first half of the window;
# * **levels off** — its growth over the second half is at most a third of the first
#   half's (a kernel direction doing a random walk gives $S \propto t$, a share of 1; a
#   steady drift gives more; a saturating curve gives nearly 0);
# * **after the transition** — every τ lies after chapter 1's inflection;
# * **velocity falls, not to zero** — the velocity over the last three intervals before
#   the drop is positive and below a tenth of its mean before the inflection.
#
# *Reproduced* when all hold for both networks; *not reproduced* when no window levels
# off; *partly* otherwise.

# %% tags=["check-output"]
verdicts = cone_verdicts(results, inflections)
cone_table(results, verdicts)

# %% tags=["check-output"]
summary = cone_summary(profile, verdicts, shared, results)
save_summary(cache, "cone", profile, summary, designs)
for arch, v in verdicts.items():
    print(f"{arch}: {v.outcome.upper()}\n{v.explain()}\n")
print(f"Cone effect at the {profile} profile: {summary['verdict'].upper()}")

# %% [markdown]
# ## What the drop does
#
# Past the first drop the two schedules part. Under the step schedule small steps slow
# every kernel by themselves; under a constant lr the kernel keeps the pace it had. The
# table compares $S$ from the last τ and the velocity just before and after the drop.

# %% tags=["check-output"]
after_drop_table(results)

# %% [markdown]
# ## Paper against ours

# %% tags=["check-output"]
cone_paper_table(profile, inflections)

# %% [markdown]
# ## What is different from the paper
#
# * **Scale.** Narrower networks on a 5,170-image subset, a few hundred iterations
#   instead of 62,400; τ and the checkpoint grid are placed by the same rule as the
#   paper's (after the inflection, before the first drop), not by the same numbers.
# * **Kernel inputs.** The eNTK is computed on the first test images (how many: the note
#   under the design table); the paper does not state its subset.
# * **How the kernel is computed.** With `torch.func`: per example one forward pass and
#   K pull-backs (`vmap` of `vjp`), the Jacobian rows copied once into a matrix, the
#   kernel its Gram matrix, in float32 products (`bench/bench_ntk.py` measures the
#   difference to float64 products). When the Jacobian does not fit the memory budget
#   (2 GiB by default) the kernel is summed over parameter groups and blocks of examples.
