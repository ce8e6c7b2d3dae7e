"""Every profile's design in one place: the training recipe, and where chapters 1-3 look at it.

The paper's figures all lie inside its first lr stage, so chapters 1-3 run on a constant lr of 0.1 for a window
long enough to hold the transition (:class:`ProtocolDesign`, with one design per chapter nested in it:
:class:`ChaosDesign`, :class:`ConeDesign`, :class:`SwitchDesign`); the recipe's step schedule (lr ÷10 twice, from
Frankle et al.'s open_lth) is the extension (:class:`ExtensionDesign`), whose runs share their checkpoints before the
first drop with the constant-lr ones, bitwise. Chapters 4 and 6 keep their designs beside their code
(:mod:`twophase_book.beyond`, :mod:`twophase_book.transition`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig, check_choice, check_integer
from twophase_lib.metrics import BarrierConfig

PROFILES = ("smoke", "cpu", "gpu", "paper")
ARCHS = ("resnet20", "vgg16")
#: How the book names each architecture.
ARCH_NAMES = {"resnet20": "ResNet-20", "vgg16": "VGG-16"}
#: Chapter 4's tasks as the book names them (their designs are in :mod:`twophase_book.beyond`).
TASK_NAMES = {"vit": "ViT", "tabular": "MLP, diamonds", "sequence": "GRU, CMUdict"}


def display_name(name: str) -> str:
    """How the book names a network or chapter 4's task (the name itself when it is neither)."""
    return ARCH_NAMES.get(name) or TASK_NAMES.get(name) or name


#: Training images of each dataset (the embedded subset, the full CIFAR-10).
TRAIN_IMAGES = {"cifar10-subset": 5170, "cifar10": 50_000}

#: Iterations per epoch of CIFAR-10 at the paper's scale (50,000 training images in batches of 128, last one dropped).
PAPER_STEPS_PER_EPOCH = 50_000 // 128


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known, else raise ValueError listing the known ones."""
    return check_choice(profile, PROFILES, "profile")


def check_arch(arch: str) -> str:
    """Return ``arch`` if the chapters know it, else raise ValueError listing the known ones."""
    return check_choice(arch, ARCHS, "architecture")


def check_device_name(device: str) -> str:
    """Return a re-runner's ``device`` parameter (``cpu``, ``cuda``, ``cuda:N``) as a string: its spelling only
    (whether this machine has it is :func:`twophase_lib.training.check_device`'s question, asked when a run starts).

    Raises:
        ValueError: a device torch cannot parse, or one that is neither a CPU nor a CUDA device.
    """
    import torch

    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    return str(device)


def run_config(profile: str, arch: str) -> RunConfig:
    """The training recipe of a profile with its step schedule (the extension's runs; chapters 1-3's primary runs
    are this recipe at a constant lr over a shorter window, :func:`protocol_run`).

    Raises:
        ValueError: an unknown profile or architecture.
    """
    check_profile(profile)
    check_arch(arch)
    if profile == "paper":  # the paper's recipe: full CIFAR-10, full width, 160 epochs, lr ÷10 at epochs 80 and 120
        e = PAPER_STEPS_PER_EPOCH
        return RunConfig(ModelConfig(arch, 1.0), DataConfig("cifar10"),
                         OptimConfig(batch_size=128, steps=160 * e, milestones=(80 * e, 120 * e)), device="cuda")
    if profile == "gpu":  # full width on the embedded subset (40 steps per epoch): 15 epochs, drops at 7.5 and 11.25
        # (the paper's proportions, 80 and 120 of 160; the first before the switch experiment's T, so chapter 3's
        # extension resumes from the constant-lr arm there)
        return RunConfig(ModelConfig(arch, 1.0), DataConfig("cifar10-subset"),
                         OptimConfig(batch_size=128, steps=600, milestones=(300, 450)), device="cuda")
    if profile == "cpu":  # narrow networks on the subset at batch 64 (80 steps per epoch): drops at epochs 4 and 4.5
        # VGG-16 at 1/8 width: 0.43x the step time and 0.18x the eNTK time of 1/4 width (bench/bench_speed.py)
        width = {"resnet20": 0.5, "vgg16": 0.125}[arch]
        return RunConfig(ModelConfig(arch, width), DataConfig("cifar10-subset"),
                         OptimConfig(batch_size=64, steps=400, milestones=(320, 360)))
    width = {"resnet20": 0.25, "vgg16": 0.125}[arch]
    return RunConfig(ModelConfig(arch, width), DataConfig("cifar10-subset"),
                     OptimConfig(batch_size=32, steps=24, milestones=(16, 20)))


def integer(value) -> int:
    """A papermill parameter's integer: an int (numpy's too) or a string of digits; never a bool or a float, which
    ``int`` would silently truncate (``-p seeds 2.9`` is not seed 2, ``-p seeds True`` not seed 1).

    Raises:
        ValueError: anything else.
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _as_tuple(value, cast, what: str) -> tuple:
    """A papermill parameter as a tuple: a list, a tuple, one value, or a string of values separated by commas or
    spaces, in brackets or not."""
    if isinstance(value, str):  # "0,1,2", "0 1 2", "[0, 1, 2]" or "(0, 1, 2)"
        value = [v for v in value.strip().strip("[]()").replace(",", " ").split() if v]
    elif not isinstance(value, (list, tuple)):
        value = [value]
    try:
        out = tuple(cast(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"cannot read {what} from {value!r}: expected a list of values such as \"0,1,2\"") from None
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{what} must be a non-empty list of distinct values, got {value!r}")
    return out


# ------------------------------------------------------------------------------ the paper's protocol (issue 21)


@dataclass(frozen=True)
class ChaosDesign:
    """Chapter 1's design (the chaos effect, the paper's §4 and its (t0, t1) maps, Fig. 3): twins split from their
    parent at each t0 by a perturbation of size ε and compared with it on the band t0 < t1 ≤ t0 + max(Δ), judged on
    the fixed-window slices t1 = t0 + Δ, with unrelated networks as the reference; the per-entry reading of ε on the
    first slice; the batch-norm-init ablation.

    Raises:
        ValueError: a t0 grid that does not increase from 0, eNTK slices that are not slices, a per-entry t0 or
            a control's t0 off the grid.
    """

    t0s: tuple[int, ...]  # where the twins split from their parent (from 0, increasing)
    deltas: tuple[int, ...]  # the fixed windows Δ: the slices t1 = t0 + Δ the rule judges
    control_t0: int  # the control's split (ε = 0: its twin must match its parent bitwise)
    seeds: tuple[int, ...]  # the parents' seeds (chapter 2 reads the eNTK along the same runs)
    reference_seeds: tuple[int, ...]  # seeds of the reference pairs (independently initialised networks)
    barrier: BarrierConfig  # how the loss barrier between twin and parent is measured
    kernel_inputs: int  # test inputs of the twins' eNTK distance (on the slices of ``kernel_deltas``)
    entry_t0s: tuple[int, ...]  # the per-entry reading of ε, on the first slice
    epsilon: float = 1e-7  # the perturbation's total L2 norm ε
    kernel_deltas: tuple[int, ...] | None = None  # the slices with the twins' eNTK distance (None: every slice)
    bn_init_ablation: bool = False  # the first slice again with open_lth's batch-norm init γ ~ U(0, 1)

    def __post_init__(self):
        if list(self.t0s) != sorted(set(self.t0s)) or self.t0s[0] != 0:
            raise ValueError(f"the t0 grid must increase from 0: {self.t0s}")
        if self.kernel_deltas is not None and not set(self.kernel_deltas) <= set(self.deltas):
            raise ValueError(f"the eNTK's slices {self.kernel_deltas} must be among the slices {self.deltas}")
        if not set(self.entry_t0s) <= set(self.t0s) or self.control_t0 not in self.t0s:
            raise ValueError("the per-entry reading's t0 and the control's t0 must be on the grid")

    @property
    def t1s(self) -> tuple[int, ...]:
        """The t1 grid of the map, every slice t0 + Δ."""
        return tuple(sorted({t0 + d for t0 in self.t0s for d in self.deltas}))


@dataclass(frozen=True)
class ConeDesign:
    """Chapter 2's design (the cone effect, the paper's §5, Figs. 4, 5a and 5b): the eNTK on training inputs at
    checkpoints of chapter 1's parents, read as the within-run matrix S(t, t') (Fig. 4), S(τ, t) from each τ
    (Fig. 5a) and lag curves S(t, t + Δ) (Fig. 5b), calibrated by independently initialised networks.

    Raises:
        ValueError: a lag curve or τ without its checkpoints, calibration steps that are not checkpoints or miss
            the last lag curve's t.
    """

    steps: tuple[int, ...]  # the checkpoints where the eNTK is taken
    lags: tuple[int, ...]  # the lags Δ of the lag curves S(t, t + Δ)
    lag_ts: tuple[int, ...]  # where lag curves start; the first is "early", the last "late"
    taus: tuple[int, ...]  # S(τ, t) from these τ (0 included: the paper's "from initialisation")
    inputs: int  # training inputs of the eNTK
    reference_seeds: tuple[int, ...]  # seeds of the calibration's independently initialised networks
    reference_steps: tuple[int, ...]  # the calibration's checkpoints (the last lag curve's t among them)

    def __post_init__(self):
        missing = [t for t in (*self.lag_ts, *(t + d for t in self.lag_ts for d in self.lags), *self.taus)
                   if t not in self.steps]
        if missing:
            raise ValueError(f"lag curves and τ need checkpoints inside the window: missing {sorted(set(missing))}")
        if max(self.lag_ts) not in self.reference_steps or not set(self.reference_steps) <= set(self.steps):
            raise ValueError("the calibration's steps must be checkpoints and hold the last lag curve's t")


@dataclass(frozen=True)
class SwitchDesign:
    """Chapter 3's design (the value of the cone phase, the paper's §5, Fig. 6): standard training to the switch
    time t, then linearized training from t to T, with two controls (the linearized arm at a lower lr; batch norm
    frozen).

    Raises:
        ValueError: switch times that do not end at T, controls' switch times that are not switch times, a budget
            that is not an integer ≥ 0 (:class:`ProtocolDesign` also refuses one that ends past the window).
    """

    T: int  # where every arm ends and is judged
    switches: tuple[int, ...]  # the switch times t (the last is T: standard training throughout)
    control_switches: tuple[int, ...]  # the lower-lr control's switch times (batch norm frozen runs at every one)
    seeds: tuple[int, ...]  # the seeds of the switched runs
    lr_scale: float  # the lower-lr control's factor on the linearized arm's lr
    train_examples: int  # training images the final training loss and accuracy are measured on
    budget: int = 0  # the fixed-budget arm: linearized iterations from each switch time before T (0: no such arm)

    def __post_init__(self):
        if self.switches[-1] != self.T or not set(self.control_switches) <= set(self.switches):
            raise ValueError("switch times must end at T inside the window, the controls' among them")
        check_integer(self.budget, "the fixed budget (linearized iterations from each switch time; 0: none)", 0)


@dataclass(frozen=True)
class ExtensionDesign:
    """The step-schedule extension of chapters 1 and 3 (not a figure of the paper, whose figures all lie inside
    its first lr stage): the recipe with its lr drops (÷10 twice, open_lth), chapter 1's twins split before the
    first drop and compared at its end, chapter 3's switches under it.

    Raises:
        ValueError: twins split at or after the first drop; switch times that do not increase, do not end at the
            run's end, or whose last but one is not before the first drop.
    """

    run: RunConfig  # the recipe with its lr drops
    t0s: tuple[int, ...]  # chapter 1: twins under the step schedule, compared at its end
    switches: tuple[int, ...] = ()  # chapter 3: switch times under the step schedule (last: its end; none: no arm)

    def __post_init__(self):
        if self.t0s and max(self.t0s) >= self.run.optim.first_drop:
            raise ValueError("the extension's twins are split before the first drop")
        if self.switches and (list(self.switches) != sorted(set(self.switches)) or
                              self.switches[-1] != self.run.optim.steps or
                              self.switches[-2] >= self.run.optim.first_drop):
            raise ValueError(f"the step schedule's switch times must increase, lie before its first drop "
                             f"({self.run.optim.first_drop}) and end at its end ({self.run.optim.steps}): "
                             f"{self.switches}")


@dataclass(frozen=True)
class ProtocolDesign:
    """One profile's design of chapters 1-3 on the paper's own protocol, for one architecture.

    Every figure of the paper lies inside its first lr stage (constant lr 0.1), so the primary runs train at a
    constant lr for ``window`` iterations, and each chapter looks inside that window: ``chaos`` (chapter 1, the
    paper's (t0, t1) maps, Fig. 3), ``cone`` (chapter 2, the eNTK along the same runs, Figs. 4 and 5), ``switch``
    (chapter 3, linearized training from t to T, Fig. 6). ``extension`` runs the recipe's step schedule beside them.

    Raises:
        ValueError: a primary run with lr drops, or a chapter's design reaching past the window.
    """

    profile: str
    arch: str  # the architecture (chapter 4: the task)
    run: RunConfig  # constant lr, ``window`` iterations
    chaos: ChaosDesign  # chapter 1
    cone: ConeDesign  # chapter 2
    switch: SwitchDesign  # chapter 3
    extension: ExtensionDesign  # the step schedule (the recipe's lr drops)

    def __post_init__(self):
        if self.run.optim.milestones:
            raise ValueError("the primary runs train at a constant lr")
        last = self.chaos.t0s[-1] + max(self.chaos.deltas)
        if last > self.window:
            raise ValueError(f"the last slice t1 = {last} is past the window {self.window}")
        if self.cone.steps[-1] > self.window:
            raise ValueError(f"lag curves and τ need checkpoints inside the window: the last, {self.cone.steps[-1]}, "
                             f"is past the window {self.window}")
        if self.switch.T > self.window:
            raise ValueError("switch times must end at T inside the window, the controls' among them")
        if self.switch.budget and self.switch.switches[-2] + self.switch.budget > self.window:
            raise ValueError(f"the fixed budget {self.switch.budget} from the last switch time before T, "
                             f"{self.switch.switches[-2]}, ends past the window {self.window}")

    @property
    def window(self) -> int:
        """Iterations of the constant-lr runs."""
        return self.run.optim.steps

    @property
    def train_images(self) -> int:
        """Size of the training set (a task's training examples)."""
        if self.run.task is not None:
            return len(self.run.task.tensors().x_train)
        return self.run.data.train_examples or TRAIN_IMAGES[self.run.data.dataset]

    @property
    def epoch_steps(self) -> int:
        """Iterations per pass over the training set (the last partial batch dropped)."""
        return self.train_images // self.run.optim.batch_size


def protocol_run(profile: str, arch: str) -> tuple[RunConfig, RunConfig]:
    """The constant-lr run of a profile's protocol and the step-schedule recipe of its extension."""
    step = run_config(profile, arch)
    window = {"smoke": 16, "cpu": 700, "gpu": 1200, "paper": 10_000}[profile]
    return step.replace(optim={"milestones": (), "steps": window}), step


def protocol_design(profile: str, arch: str) -> ProtocolDesign:
    """Chapters 1-3's design at a profile, on the paper's protocol (sized with ``scripts/estimate_cost.py``)."""
    check_profile(profile)
    check_arch(arch)
    run, step = protocol_run(profile, arch)
    bn_init_ablation = arch == "resnet20"
    if profile == "smoke":
        return ProtocolDesign(
            profile, arch, run,
            chaos=ChaosDesign(t0s=(0, 4, 8), deltas=(4, 8), control_t0=4, seeds=(0, 1), reference_seeds=(0,),
                              barrier=BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=200,
                                                    test_examples=200),
                              kernel_inputs=4, entry_t0s=(0, 8), kernel_deltas=(4,),
                              bn_init_ablation=bn_init_ablation),
            cone=ConeDesign(steps=tuple(range(0, 17, 2)), lags=(2, 4, 8), lag_ts=(0, 8), taus=(0, 4, 8), inputs=8,
                            reference_seeds=(0,), reference_steps=(0, 4, 8, 12, 16)),
            switch=SwitchDesign(T=12, switches=(0, 4, 8, 12), control_switches=(0, 8, 12), seeds=(0, 1), budget=4,
                                lr_scale=0.1, train_examples=200),
            extension=ExtensionDesign(step, t0s=(4,), switches=(0, 8, 24)))
    if profile == "cpu":  # 80 iterations per epoch; the paper's VGG-16 inflection in epochs is ≈ 512 iterations here
        # a 700-iteration window (8.75 epochs), first sized to a 45-minute budget (scripts/estimate_cost.py); chapter
        # 3's design has since grown to what its rule needs (issue 32: three seeds, seven switch times, both controls
        # at each, the fixed budget), past it: the README gives the cold time
        steps = tuple(sorted({*range(0, 101, 25), *range(0, run.optim.steps + 1, 50)}))
        return ProtocolDesign(
            profile, arch, run,
            chaos=ChaosDesign(t0s=(0, 25, 50, 100, 200, 400), deltas=(100, 300), control_t0=100, seeds=(0, 1, 2),
                              reference_seeds=(0, 1, 2),
                              barrier=BarrierConfig(points=3, bn_batches=4, train_examples=500), kernel_inputs=20,
                              entry_t0s=(0, 50, 400), kernel_deltas=(100,), bn_init_ablation=bn_init_ablation),
            cone=ConeDesign(steps=steps, lags=(50, 100, 200, 300), lag_ts=(0, 50, 100, 200, 400),
                            taus=(0, 200, 400), inputs=50, reference_seeds=(0, 1),
                            reference_steps=tuple(range(0, run.optim.steps + 1, 100))),
            # T = 500: at least three switch times before T at or after either network's inflection (the grid's
            # 100 or 200), as the rule's cone-phase checks need (issue 32); three seeds for t intervals; the lower
            # lr at every switch time, so the same checks can judge it; a fixed budget of 200 linearized iterations
            # from each switch time (the last, 400, ends at 600, inside the window)
            switch=SwitchDesign(T=500, switches=(0, 50, 100, 200, 300, 400, 500),
                                control_switches=(0, 50, 100, 200, 300, 400, 500), seeds=(0, 1, 2), lr_scale=0.1,
                                train_examples=1000, budget=200),
            extension=ExtensionDesign(step, t0s=(100,), switches=(0, 50, 100, 200, 400)))
    if profile == "gpu":  # 40 iterations per epoch; sized from the H200 costs (bench/gpu_measure.py) to the
        # 12-minute book of issue 23: a 1,200-iteration window (30 epochs, the paper's VGG-16 figures reach 25.6);
        # chapter 3's switch design has since grown as cpu's did (issue 32; T = 600 so that three switch times
        # before T follow the grid's inflections at 100 or 200), not yet re-priced on a GPU
        steps = tuple(sorted({*range(0, 101, 25), *range(0, run.optim.steps + 1, 100)}))
        return ProtocolDesign(
            profile, arch, run,
            chaos=ChaosDesign(t0s=(0, 25, 50, 100, 200, 400, 800), deltas=(100, 300), control_t0=100, seeds=(0, 1),
                              reference_seeds=(0, 1), barrier=BarrierConfig(points=3, bn_batches=4,
                                                                            train_examples=500),
                              kernel_inputs=20, entry_t0s=(0, 100, 800), kernel_deltas=(100,),
                              bn_init_ablation=bn_init_ablation),
            cone=ConeDesign(steps=steps, lags=(100, 200, 400), lag_ts=(0, 100, 200, 400, 800), taus=(0, 400, 800),
                            inputs=50, reference_seeds=(0, 1),
                            reference_steps=tuple(range(0, run.optim.steps + 1, 200))),
            switch=SwitchDesign(T=600, switches=(0, 50, 100, 200, 300, 400, 600),
                                control_switches=(0, 50, 100, 200, 300, 400, 600), seeds=(0, 1), lr_scale=0.1,
                                train_examples=1000, budget=200),
            extension=ExtensionDesign(step, t0s=(200,), switches=(0, 100, 200, 600)))
    steps = tuple(range(0, run.optim.steps + 1, 100))
    return ProtocolDesign(  # the paper's figures: maps to t1 = 10,000, τ ∈ {2k, 4k, 6k, 8k}, T = 10,000
        profile, arch, run,
        chaos=ChaosDesign(t0s=(0, 100, 200, 500, 1000, 1500, 2500, 5000), deltas=(500, 2500), control_t0=1000,
                          seeds=(0, 1, 2), reference_seeds=(0, 1, 2),
                          barrier=BarrierConfig(points=11, train_examples=10_000), kernel_inputs=100,
                          entry_t0s=(0, 1000, 5000), bn_init_ablation=bn_init_ablation),
        cone=ConeDesign(steps=steps, lags=(100, 200, 500, 1000, 2000), lag_ts=(0, 1000, 2000, 4000, 8000),
                        taus=(0, 2000, 4000, 6000, 8000), inputs=100, reference_seeds=(0, 1), reference_steps=steps),
        switch=SwitchDesign(T=10_000, switches=(0, 200, 500, 1000, 2000, 5000, 8000, 10_000),
                            control_switches=(0, 200, 500, 1000, 2000, 5000, 8000, 10_000), seeds=(0, 1, 2),
                            lr_scale=0.1, budget=2000,
                            train_examples=10_000),
        extension=ExtensionDesign(step, t0s=(1000, 5000)))


def protocol_designs(profile: str, archs=ARCHS, seeds=None, device: str | None = None,
                     epsilon: float | None = None) -> dict[str, ProtocolDesign]:
    """Chapters 1-3's designs (:func:`protocol_design`) for ``archs``, with a re-runner's overrides (seeds replace
    the twins' and the switch's seeds; device; chapter 1's ε), validated as :func:`overridden` does."""
    check_profile(profile)
    archs = tuple(check_arch(a) for a in _as_tuple(archs, str, "archs"))
    return {arch: overridden(protocol_design(profile, arch), seeds, device, epsilon) for arch in archs}


def overridden(d: ProtocolDesign, seeds=None, device: str | None = None,
               epsilon: float | None = None) -> ProtocolDesign:
    """A design with a re-runner's overrides: seeds (the twins' and the switches'), device (the primary runs' and
    the extension's), chapter 1's ε.

    Raises:
        ValueError: negative or non-integer seeds, an unknown device, ε outside (0, 1).
    """
    chaos: dict = {}
    changes: dict = {}
    if seeds is not None:
        seeds_t = _as_tuple(seeds, integer, "seeds")
        if min(seeds_t) < 0:
            raise ValueError(f"seeds must be non-negative integers, got {seeds_t}")
        chaos["seeds"] = seeds_t
        changes["switch"] = dataclasses.replace(d.switch, seeds=seeds_t)
    if epsilon is not None:
        raw = epsilon
        try:
            epsilon = float(epsilon) if not isinstance(epsilon, bool) else math.nan
        except (TypeError, ValueError):
            epsilon = math.nan
        if not 0 < epsilon < 1:
            raise ValueError(f"epsilon must be a number in (0, 1) (ε = 0 is the control every map runs), got {raw!r}")
        chaos["epsilon"] = epsilon
    if chaos:
        changes["chaos"] = dataclasses.replace(d.chaos, **chaos)
    if device is not None:
        device = check_device_name(device)
        changes.update(run=d.run.replace(device=device),
                       extension=dataclasses.replace(d.extension, run=d.extension.run.replace(device=device)))
    return dataclasses.replace(d, **changes)
