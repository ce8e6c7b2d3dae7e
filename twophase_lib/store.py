"""The store of trained states: parent runs, perturbed children, their eNTKs, and comparisons between two states.

Every computation here runs with one torch thread (:func:`twophase_lib.training.compute_threads`), so a
result is the same whichever executor or machine computed it. Every state is cached under the part of its run's
configuration that determines it
(:meth:`twophase_lib.config.RunConfig.prefix`): a step schedule and a constant lr share every checkpoint before the
first lr drop, and so does a perturbed child branched before it. Each function here is a pure
function of its arguments and is safe to run in any process, in any order, any number of times:
two processes computing the same result write the same bytes, atomically.

Kinds stored: ``parent`` (a run's checkpoint at a step), ``child`` (a perturbed branch at a step),
``entk`` (a checkpoint's eNTK on the first test images), ``pair`` (metrics between two states),
``predictions`` (a state's predicted class of every test image).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch
from torch import nn

from .cache import Cache
from .config import RunConfig, check_choice
from .metrics import BarrierConfig, compare, recompute_bn_statistics
from .ntk import empirical_ntk, kernel_distance
from .perturbation import Perturbation, PerturbationReport, parameter_names, perturb_run
from .task import run_data
from .training import Checkpoint, compute_threads, materialise, predict, train


def parent_checkpoints(
    run: RunConfig, steps: Iterable[int], cache: Cache, progress: bool = False
) -> dict[int, Checkpoint]:
    """The run's checkpoints at ``steps``: cached ones loaded, missing ones trained, each stretch of consecutive
    missing steps from the latest cached checkpoint before it (a resumed run is bitwise the uninterrupted one), so
    asking for a few new steps between cached ones trains only the gaps."""
    steps = sorted(set(steps))
    found = {s: cache.load("parent", (run.prefix(s), s)) for s in steps}
    stretches: list[list[int]] = []
    for i, s in enumerate(steps):
        if found[s] is None:
            if stretches and stretches[-1][-1] == steps[i - 1]:
                stretches[-1].append(s)
            else:
                stretches.append([s])
    for stretch in stretches:
        before = [s for s in steps if s < stretch[0] and found[s] is not None]
        start = found[before[-1]] if before else None
        with compute_threads():
            result = train(
                run, until=stretch[-1], start=start, save_at=stretch, progress=progress, desc=f"parent seed {run.seed}"
            )
        for s in stretch:
            cache.save("parent", (run.prefix(s), s), result.checkpoints[s])
            found[s] = result.checkpoints[s]
    return found


def parent_at(run: RunConfig, step: int, cache: Cache, progress: bool = False) -> Checkpoint:
    """The run's checkpoint at one step."""
    return parent_checkpoints(run, [step], cache, progress)[step]


@dataclass(frozen=True)
class State:
    """A reference to one trained state: run ``run`` at ``step``, perturbed by ``perturbation`` at ``t0`` if given."""

    run: RunConfig
    step: int
    t0: int | None = None
    perturbation: Perturbation | None = None

    def __post_init__(self):
        if (self.t0 is None) != (self.perturbation is None):
            raise ValueError("a child state needs both t0 and a perturbation")
        if self.t0 is not None and not 0 <= self.t0 <= self.step:
            raise ValueError(f"t0={self.t0} must lie in [0, step={self.step}]")

    def key(self) -> tuple:
        """What determines this state (the run's prefix up to ``step``)."""
        return (self.run.prefix(self.step), self.step, self.t0, self.perturbation)

    def at(self, step: int) -> "State":
        """The same trajectory at another step."""
        return dataclasses.replace(self, step=step)


def child_checkpoint(
    state: State, cache: Cache, via: Iterable[int] = (), progress: bool = False
) -> tuple[Checkpoint, PerturbationReport]:
    """The child perturbed at ``state.t0`` and trained to ``state.step`` on its parent's batches (cached).

    Training resumes from the latest cached child state among ``via`` (steps strictly between t0 and
    the target), and caches the child at every ``via`` step it passes: a branch to the end of a step
    schedule and one to the end of a constant-lr run share their training up to the first drop.

    Returns:
        The child's checkpoint at ``state.step`` and the
        :class:`twophase_lib.perturbation.PerturbationReport` of its perturbation.

    Raises:
        ValueError: ``state`` is not a perturbed state.
    """
    if state.t0 is None:
        raise ValueError("child_checkpoint needs a perturbed state (t0 and perturbation)")
    cached = cache.load("child", state.key())
    if cached is not None:
        return cached["checkpoint"], PerturbationReport(**cached["report"])
    stops = sorted(v for v in set(via) if state.t0 < v < state.step)
    start, report = None, None
    for v in reversed(stops):
        hit = cache.load("child", state.at(v).key())
        if hit is not None:
            start, report = hit["checkpoint"], PerturbationReport(**hit["report"])
            break
    if start is None:
        parent = parent_at(state.run, state.t0, cache, progress)
        start, report = perturb_run(state.run, parent, state.perturbation)
    later = [v for v in stops if v > start.step]
    with compute_threads():
        result = train(
            state.run, until=state.step, start=start, save_at=later, progress=progress, desc=f"branch@{state.t0}"
        )
    for s in [*later, state.step]:
        cache.save(
            "child", state.at(s).key(), {"checkpoint": result.checkpoints[s], "report": dataclasses.asdict(report)}
        )
    return result.checkpoints[state.step], report


def load_state(state: State, cache: Cache, via: Iterable[int] = (), progress: bool = False) -> Checkpoint:
    """The checkpoint a :class:`State` refers to, from the cache or computed."""
    if state.t0 is None:
        return parent_at(state.run, state.step, cache, progress)
    return child_checkpoint(state, cache, via, progress)[0]


#: Recorded in every cached kernel's key, naming how its Gram products were computed (earlier kernels used float64).
KERNEL_PRODUCTS = "gram in the run's dtype, batch norm re-estimated"


#: Batches (of 128 unaugmented training images) on which a checkpoint's batch-norm statistics are re-estimated
#: before its eNTK is computed or it is linearized. At t = 0 the running statistics are the defaults (mean 0,
#: variance 1) and normalise nothing; early in training they lag the weights. Re-estimating them at every
#: checkpoint treats all checkpoints alike, as the loss barrier does at every α.
BN_REESTIMATE_BATCHES = 8


#: The batch-norm statistics an eNTK or an evaluation can be taken with, ``"reestimated"`` on
#: :data:`BN_REESTIMATE_BATCHES` unaugmented training batches at the checkpoint (the book's default), or
#: ``"running"``, the running averages training kept (the paper does not say which it used).
BN_STATISTICS = ("reestimated", "running")


def evaluation_model(run: RunConfig, checkpoint: Checkpoint, bn: str = "reestimated") -> nn.Module:
    """The checkpoint's network in eval mode, its batch-norm statistics re-estimated on training batches
    (``bn="reestimated"``) or the running averages training kept (``bn="running"``).

    Raises:
        ValueError: ``bn`` not one of :data:`BN_STATISTICS`.
    """
    check_choice(bn, BN_STATISTICS, "batch-norm statistics")
    model = materialise(run, checkpoint)
    if bn == "reestimated":
        recompute_bn_statistics(model, run_data(run), BN_REESTIMATE_BATCHES, 128)
    return model.eval()


#: The inputs an eNTK can be taken on, the first test images (the book's first design) or the first training
#: images (unaugmented, as in the paper's Fig. 4-5).
KERNEL_SPLITS = ("test", "train")


def checkpoint_kernel(run: RunConfig, checkpoint: Checkpoint, n_inputs: int, mode: str,
                      split: str = "test", bn: str = "reestimated") -> torch.Tensor:
    """The eNTK of a checkpoint (batch norm re-estimated, or at training's running statistics with
    ``bn="running"``, then frozen) on the run's first ``n_inputs`` images of ``split`` ("test" or "train",
    unaugmented): (n·K, n·K) for mode "full"."""
    check_choice(split, KERNEL_SPLITS, "eNTK input split")
    data = run_data(run)
    x = data.x_test if split == "test" else data.x_train
    return empirical_ntk(evaluation_model(run, checkpoint, bn), x[:n_inputs], mode).cpu()


def state_kernel(
    state: State, n_inputs: int, mode: str, cache: Cache, via: Iterable[int] = (), progress: bool = False,
    split: str = "test", bn: str = "reestimated",
) -> torch.Tensor:
    """The eNTK of a stored state (cached under the state, inputs, mode, split and batch-norm statistics)."""
    check_choice(bn, BN_STATISTICS, "batch-norm statistics")

    def compute():
        checkpoint = load_state(state, cache, via, progress)
        with compute_threads():
            return checkpoint_kernel(state.run, checkpoint, n_inputs, mode, split, bn)

    # test-image kernels keep the key they had before training images were offered, and re-estimated batch norm
    # the key it had before running statistics were (their results stay valid)
    key = ((*state.key(), n_inputs, mode, KERNEL_PRODUCTS) + (() if split == "test" else (split,))
           + (() if bn == "reestimated" else (f"bn-{bn}",)))
    return cache.get_or_compute("entk", key, compute)


def kernel_at(
    run: RunConfig, step: int, n_inputs: int, mode: str, cache: Cache, progress: bool = False, split: str = "test",
    bn: str = "reestimated",
) -> torch.Tensor:
    """The eNTK of the parent run's checkpoint at ``step`` (cached) on the first ``n_inputs`` images of ``split``,
    with batch norm's statistics ``bn`` (:data:`BN_STATISTICS`)."""
    return state_kernel(State(run, step), n_inputs, mode, cache, progress=progress, split=split, bn=bn)


def pair_metrics(
    a: State,
    b: State,
    barrier: BarrierConfig | None,
    cache: Cache,
    kernel_inputs: int = 0,
    kernel_mode: str = "full",
    via: Iterable[int] = (),
    progress: bool = False,
) -> dict:
    """Every comparison between two states of the same architecture (cached): distances, disagreement,
    loss and error barriers (none when ``barrier`` is None), and with ``kernel_inputs`` > 0 the distance between
    their eNTKs.

    Returns:
        :func:`twophase_lib.metrics.compare`'s dict (scalars, and the per-test-input disagreement as an (n_test,)
        bool array), with the child's perturbation report when ``b`` is a twin.

    Raises:
        ValueError: the two states' networks differ.
    """
    if a.run.model != b.run.model:
        raise ValueError(f"cannot compare different architectures: {a.run.model} vs {b.run.model}")
    if a.run.task != b.run.task:
        names = [f"task {s.run.task.name!r}" if s.run.task is not None else str(s.run.model) for s in (a, b)]
        raise ValueError(f"cannot compare the networks of two different tasks or models: {names[0]} vs {names[1]} "
                         "(a comparison evaluates both states with one network)")

    def compute():
        ca = load_state(a, cache, via, progress)
        cb, report = (
            child_checkpoint(b, cache, via, progress)
            if b.t0 is not None
            else (load_state(b, cache, via, progress), None)
        )
        data = run_data(a.run)
        with compute_threads():
            out = compare(a.run, ca, cb, data, parameter_names(a.run), barrier)
        if report is not None:
            out["perturbation"] = dataclasses.asdict(report)
        if kernel_inputs:
            ka = state_kernel(a, kernel_inputs, kernel_mode, cache, via, progress)
            kb = state_kernel(b, kernel_inputs, kernel_mode, cache, via, progress)
            out["kernel_distance"] = kernel_distance(ka, kb)
        return out

    return cache.get_or_compute("pair", (a.key(), b.key(), barrier, kernel_inputs, kernel_mode), compute)


def state_predictions(state: State, cache: Cache, via: Iterable[int] = (), progress: bool = False) -> np.ndarray:
    """The predicted class (argmax of the logits, eval mode) of every test input at a stored state, cached.

    Returns:
        (n_test,) int64 array. Two states' per-example disagreement is ``a != b``: what a bootstrap over test
        images resamples (:func:`twophase_lib.verdicts.bootstrap_means`).
    """

    def compute():
        checkpoint = load_state(state, cache, via, progress)
        data = run_data(state.run)
        with compute_threads():
            model = materialise(state.run, checkpoint)
            return predict(model, data.x_test).argmax(1).cpu().numpy().astype(np.int64)

    return cache.get_or_compute("predictions", state.key(), compute)
