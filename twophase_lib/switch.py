"""The switch study: standard training to t, linearized training from t to T, for each switch time t.

θ_std→lin(T; t) of the paper's Fig. 5, over seeds; the linearized model itself is :mod:`twophase_lib.linearize`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from .cache import Cache
from .config import RunConfig, check_integer
from .executor import Executor, run_waves
from .linearize import SwitchArm, switched_model, train_linearized
from .store import State, parent_at, parent_checkpoints, state_predictions
from .task import run_data, run_loss
from .training import compute_threads, evaluate, first_diverged, initial_loss, predict
from .verdicts import RESAMPLES, Verdict, bootstrap_means, paired_switch_verdict, t_interval


@dataclass(frozen=True)
class SwitchStudy:
    """θ_std→lin(T; t): standard training to t, linearized training from t to T, for each switch time t.

    With ``via``, each switched run is also cached at those steps, and resumes from the latest one cached: a step
    schedule's switched runs and a constant lr's share their steps before the first drop, as parents do.
    """

    run: RunConfig
    switches: tuple[int, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    reset_momentum: bool = False
    train_examples: int | None = 1000  # the final training loss/accuracy on this many training images (None: all)
    arm: SwitchArm = SwitchArm.LINEARIZED  # or the network with batch norm frozen at t (the control)
    lr_scale: float = 1.0  # the lr after the switch, relative to the run's (a linearized model can diverge at 0.1)
    via: tuple[int, ...] = ()  # switched runs are cached at these steps too (another schedule resumes from them)

    def __post_init__(self):
        object.__setattr__(self, "arm", SwitchArm(self.arm))
        if not self.lr_scale > 0:
            raise ValueError(f"lr_scale must be positive, got {self.lr_scale}")
        if list(self.switches) != sorted(set(self.switches)) or self.switches[-1] != self.run.optim.steps:
            raise ValueError(f"switch times must increase and end at T = {self.run.optim.steps}: {self.switches}")
        if any(not 0 < v < self.run.optim.steps for v in self.via):
            raise ValueError(f"the switched runs' cached steps {self.via} must lie inside (0, T = "
                             f"{self.run.optim.steps})")


def _state_key(run: RunConfig, t: int, step: int, reset_momentum: bool, arm: SwitchArm, lr_scale: float) -> tuple:
    """What determines a switched run's state at ``step``: the run's prefix up to it, t and how it trains."""
    return (run.prefix(step), step, t, reset_momentum, arm.value, lr_scale)


def switch_outcome(run: RunConfig, t: int, reset_momentum: bool, cache: Cache, train_examples: int | None = 1000,
                   progress: bool = False, arm: SwitchArm = SwitchArm.LINEARIZED, lr_scale: float = 1.0,
                   via: tuple[int, ...] = ()) -> dict:
    """Final test and training loss and accuracy of θ_std→lin(T; t) (or of the ``arm`` control) for one run, cached.

    The switched run resumes from its latest state cached at a ``via`` step (strictly between t and T) and caches
    its state at the later ones (:class:`SwitchStudy`). The first study's cache key is kept for the linearized arm
    at the run's lr; other arms and lr scales extend it.
    """
    arm = SwitchArm(arm)

    def compute():
        base = parent_at(run, t, cache, progress)
        data = run_data(run)
        stops = sorted(v for v in set(via) if t < v < run.optim.steps)
        start = None
        for v in reversed(stops):
            start = cache.load("switch_state", _state_key(run, t, v, reset_momentum, arm, lr_scale))
            if start is not None:
                break
        later = [v for v in stops if start is None or v > start.step]
        with compute_threads():
            result = train_linearized(run, base, reset_momentum=reset_momentum, progress=progress, arm=arm,
                                      lr_scale=lr_scale, start=start, save_at=later)
            initial = initial_loss(run)  # the explosion rule's anchor: the run's, whichever stretch this is
        diverged_at = first_diverged(result.losses, initial)
        for v in later:  # a state is kept only while no loss before it diverged: a run resumed from it is whole
            if diverged_at is None or v <= diverged_at:
                cache.save("switch_state", _state_key(run, t, v, reset_momentum, arm, lr_scale),
                           result.checkpoints[v])
        with compute_threads():
            model = switched_model(run, base, result.final, arm)
            with torch.no_grad():  # evaluate()'s test metrics, and which images are right, from one pass
                logits = predict(model, data.x_test)
                hits = logits.argmax(1) == data.y_test
                test = {"loss": run_loss(run)(logits, data.y_test).item(), "accuracy": hits.double().mean().item()}
            correct = hits.cpu().numpy()
            train = evaluate(model, data, "train", limit=train_examples, loss=run_loss(run))
        return {"t": t, "seed": run.seed, "test_accuracy": test["accuracy"], "test_loss": test["loss"],
                "test_correct": correct, "diverged_at": diverged_at, "initial_loss": initial,
                "train_accuracy": train["accuracy"], "train_loss": train["loss"],
                "final_train_losses": [result.losses[s] for s in sorted(result.losses)[-20:]]}

    key = (run.prefix(run.optim.steps), t, reset_momentum, train_examples)
    if arm != SwitchArm.LINEARIZED or lr_scale != 1.0:
        key += (arm.value, lr_scale)
    record = cache.load("switch", key)
    if record is None or _stale_divergence(record):
        record = compute()
        cache.save("switch", key, record)
    return record


def _stale_divergence(record: dict) -> bool:
    """Whether a cached switched run's divergence was judged by the rule before it was anchored to the run's loss
    at initialisation (no ``initial_loss`` kept) and might not hold under it: one flagged as exploded while every
    loss it kept and its test loss are finite. It is recomputed. (A run flagged with a NaN loss diverged under
    either rule; one not flagged had every loss under 10⁴ times the first of its stretch, below the run's initial
    loss wherever training lowered it.)"""
    return ("initial_loss" not in record and record.get("diverged_at") is not None
            and math.isfinite(record["test_loss"]) and all(map(math.isfinite, record.get("final_train_losses", ()))))


def diverged(record: dict) -> bool:
    """Whether a switched run diverged: its training loss became NaN or infinite or exploded
    (``diverged_at``, :func:`twophase_lib.training.first_diverged`; for records cached before it was kept, a
    non-finite final test loss or one of the last training losses)."""
    if record.get("diverged_at") is not None:
        return True
    return not math.isfinite(record["test_loss"]) or not all(map(math.isfinite, record.get("final_train_losses", ())))


@dataclass
class SwitchResult:
    """Final test accuracy and loss per seed (rows) and switch time (columns); ``correct`` (seeds, n_test, switch
    times) says which test images each final model classifies correctly (None for results cached before it was
    recorded); ``diverged`` (seeds, switch times) which runs diverged. A diverged run enters no curve: its
    accuracy is NaN (a NaN network's argmax reads as one class, about a tenth of the test set), and paired
    differences leave its seed out (:func:`paired_difference`). ``parent_correct`` (seeds, n_test, switch times):
    which test images the parent θ_t itself classifies correctly at each switch time t (at T: standard training),
    what a linear phase that learned nothing would end at."""

    study: SwitchStudy
    switches: np.ndarray
    accuracy: np.ndarray
    loss: np.ndarray
    records: list[dict]
    correct: np.ndarray | None = None
    diverged: np.ndarray | None = None
    parent_correct: np.ndarray | None = None

    @property
    def parent_accuracy(self) -> np.ndarray:
        """(seeds, switch times) the parent's own test accuracy acc(θ_t) at each switch time."""
        return self.parent_correct.mean(1)


def _parent_correct(st: SwitchStudy, cache: Cache) -> np.ndarray:
    """(seeds, n_test, switch times) 0/1: the parent θ_t's correct test images at each switch time (cached
    predictions of the parent checkpoints the switched runs start from)."""
    y = run_data(st.run).y_test.cpu().numpy()
    return np.stack([np.stack([state_predictions(State(st.run.replace(seed=seed), int(t)), cache) == y
                               for t in st.switches], 1) for seed in st.seeds]).astype(float)


def run_switch_studies(studies: dict, cache: Cache | None = None, executor: Executor | None = None,
                       progress: bool = True, desc: str = "switch studies") -> dict:
    """Every (seed, switch time) outcome of several studies: parents first, then one task per linearized run.

    A switched run two studies share (the same cache key: a fixed-budget run ending at another study's T) is one
    task, and the parents of one lineage (runs that differ only in their length) are trained by one task to the
    furthest step any study needs, so no two workers compute the same thing."""
    cache = cache or Cache()
    lineages: dict = {}  # run with its length zeroed -> (the longest such run, the steps any study needs)
    tasks, keys, slots, resumes, seen = [], {}, [], [], set()
    for name, st in studies.items():
        for seed in st.seeds:
            run = st.run.replace(seed=seed)
            lineage = run.replace(optim={"steps": 0})
            longest, steps = lineages.get(lineage, (run, set()))
            lineages[lineage] = (run if run.optim.steps > longest.optim.steps else longest, steps | set(st.switches))
            for t in st.switches:
                key = (run.prefix(run.optim.steps), t, st.reset_momentum, st.train_examples, st.arm, st.lr_scale,
                       st.via)
                if key not in keys:
                    keys[key] = len(tasks)
                    tasks.append(partial(switch_outcome, run, t, st.reset_momentum, cache, st.train_examples,
                                         arm=st.arm, lr_scale=st.lr_scale, via=st.via))
                    # a switched run another study's run (same lineage but for the lr drops) caches at a via step
                    # waits for it, in a later wave, and resumes from there
                    shared = (run.replace(optim={"steps": 0, "milestones": ()}), t, st.reset_momentum, st.arm,
                              st.lr_scale)
                    resumes.append(bool(st.via) and t < run.optim.steps and shared in seen)
                    seen.add(shared)
                slots.append((name, keys[key]))
    parents = [partial(_parents, run, tuple(sorted(steps)), cache) for run, steps in lineages.values()]
    # longest linearized runs first, so the pool does not end waiting on one
    waves = [sorted((i for i in range(len(tasks)) if resumes[i] == later), key=lambda i: tasks[i].args[1])
             for later in (False, True)]
    waves = [w for w in waves if w]
    done = run_waves(executor, [parents, *[[tasks[i] for i in w] for w in waves]], desc, progress)[1:]
    records = [None] * len(tasks)
    for wave, results in zip(waves, done):
        for i, r in zip(wave, results):
            records[i] = r
    out = {}
    for name, st in studies.items():
        recs = [records[i] for n, i in slots if n == name]
        div = np.array([[diverged(r) for r in recs if r["seed"] == s] for s in st.seeds], dtype=bool)
        acc = np.array([[r["test_accuracy"] for r in recs if r["seed"] == s] for s in st.seeds], dtype=float)
        acc[div] = np.nan
        loss = np.array([[r["test_loss"] for r in recs if r["seed"] == s] for s in st.seeds])
        correct = None
        if all("test_correct" in r for r in recs):
            correct = np.array([[r["test_correct"] for r in recs if r["seed"] == s] for s in st.seeds],
                               dtype=bool).transpose(0, 2, 1)
            if div.any():  # a diverged run's "correct" images are the share of one class: NaN, not scores
                correct = correct.astype(float)
                correct[np.broadcast_to(div[:, None, :], correct.shape)] = np.nan
        out[name] = SwitchResult(st, np.array(st.switches), acc, loss, recs, correct, div,
                                 _parent_correct(st, cache))
    return out


def fixed_budget_studies(run: RunConfig, switches, budget: int, seeds=(0, 1, 2),
                         train_examples: int | None = 1000) -> dict[int, SwitchStudy]:
    """Chapter 3's fixed-budget arm, keyed by switch time t: the model linearized at t and trained ``budget``
    iterations, to t + B, beside standard training over the same iterations (each study's second switch time,
    t + B, where no switch happens: the parent θ_{t+B}). Where t + B is another study's T the two share the run
    (the cache key is the run's prefix to its end).

    Args:
        run: the recipe at a constant lr; its window must reach the last t + B.
        switches: the switch times t (iterations).
        budget: B, linearized iterations from each t (> 0).
        seeds, train_examples: as :class:`SwitchStudy`.

    Raises:
        ValueError: a budget that is not a positive integer or ends past the run's window; switch times that are not
            increasing integers ≥ 0 (or none).
    """
    budget = int(check_integer(budget, "budget (linearized iterations from each switch time)", 1))
    switches = [int(check_integer(t, "a switch time of the fixed-budget arm", 0)) for t in switches]
    if not switches or switches != sorted(set(switches)):
        raise ValueError(f"the fixed-budget arm's switch times must be increasing integers ≥ 0: {switches}")
    if switches[-1] + budget > run.optim.steps:
        raise ValueError(f"the fixed budget {budget} from the switch time {switches[-1]} ends past the run's window "
                         f"{run.optim.steps}")
    return {t: SwitchStudy(run.replace(optim={"steps": t + budget}), (t, t + budget), tuple(seeds),
                           train_examples=train_examples) for t in switches}


def fixed_budget_scores(results: dict[int, SwitchResult]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed-budget arm's results (:func:`fixed_budget_studies`, run) as the inputs of
    :func:`twophase_lib.verdicts.fixed_budget_check`.

    Returns:
        Four arrays ``(ts, linearized, standard, parent)``. ``ts`` holds the switch times t, shape (K,); the
        others the scores of the linearized model, of standard training to θ_{t+B} and of the parent θ_t, each
        (seeds, n_test, K), 0/1 per test image and NaN where the linearized run diverged, or (seeds, K) test
        accuracies when a result was cached without its per-image record. The standard and linearized models'
        batch norm is re-estimated at the end (:func:`twophase_lib.linearize.switched_model`), the parent's is
        its own running statistics (as :func:`switch_verdict`).
    """
    items = sorted(results.items())
    ts = np.array([t for t, _ in items], dtype=float)
    if all(res.correct is not None for _, res in items):
        lin = np.stack([_scores(res)[:, :, 0] for _, res in items], -1)
        std = np.stack([_scores(res)[:, :, 1] for _, res in items], -1)
        parent = np.stack([res.parent_correct[:, :, 0] for _, res in items], -1)
    else:
        lin = np.stack([res.accuracy[:, 0] for _, res in items], -1)
        std = np.stack([res.accuracy[:, 1] for _, res in items], -1)
        parent = np.stack([res.parent_accuracy[:, 0] for _, res in items], -1)
    return ts, lin, std, parent


def _parents(run: RunConfig, steps: tuple[int, ...], cache: Cache) -> None:
    """Train (or find) the parent checkpoints; return nothing, so no tensor travels back from a worker."""
    parent_checkpoints(run, steps, cache)


def paired_difference(a: SwitchResult, t: int, b: SwitchResult) -> tuple[float, float, float]:
    """Final test accuracy of ``a`` minus ``b`` at switch time ``t``, paired by seed and test image (by seed alone
    when either has no per-image record).

    Returns:
        The mean difference and its 90% t interval over seeds (bootstrap standard error over seeds and images,
        :func:`twophase_lib.verdicts.t_interval`) (mean, low, high), fractions of the test set, over the seeds
        where neither run diverged; NaN where every seed's pair holds a diverged run (the interval also where one
        seed is left).

    Raises:
        ValueError: ``t`` is not a switch time of both.
    """
    if t not in a.switches or t not in b.switches:
        raise ValueError(f"t = {t} must be a switch time of both studies: {list(a.switches)}, {list(b.switches)}")
    j, m = list(a.switches).index(t), list(b.switches).index(t)
    if a.correct is not None and b.correct is not None:
        diff = a.correct[:, :, j].astype(float) - b.correct[:, :, m].astype(float)
    else:
        diff = a.accuracy[:, [j]] - b.accuracy[:, [m]]
    kept = np.isfinite(diff).all(1)  # seeds where either run diverged enter no difference
    if not kept.any():
        return math.nan, math.nan, math.nan
    diff = diff[kept]
    lo, hi = t_interval(float(diff.mean()), bootstrap_means(diff[..., None])[:, 0], int(kept.sum()))
    return float(diff.mean()), lo, hi


def _scores(res: SwitchResult) -> np.ndarray:
    """(seeds, n_test, K) per-image correctness, or (seeds, K) accuracies for results cached without it."""
    return res.correct.astype(float) if res.correct is not None else res.accuracy


def switch_verdict(res: SwitchResult, inflection: float, frozen: SwitchResult | None = None) -> Verdict:
    """:func:`twophase_lib.verdicts.paired_switch_verdict` on a switch study: its final scores, its parents' own
    scores at each switch time, and the batch-norm-frozen control's where it was run (NaN at the switch times it
    was not run at, so the check that needs them is not applicable there; a control run that collapsed to the test
    set's chance accuracy, :func:`chance_accuracy`, is left out as a diverged one is).

    Raises:
        ValueError: the control's seeds differ from the study's.
    """
    scores = _scores(res)
    parent = res.parent_correct if res.correct is not None else res.parent_accuracy
    control = None
    if frozen is not None:
        if tuple(frozen.study.seeds) != tuple(res.study.seeds):
            raise ValueError(f"the control's seeds {frozen.study.seeds} differ from the study's {res.study.seeds}")
        theirs = _scores(frozen)
        if theirs.ndim != scores.ndim:
            theirs = frozen.accuracy
            scores, parent = res.accuracy, res.parent_accuracy
        control = np.full(scores.shape, np.nan)
        for j, t in enumerate(res.switches):
            if t in frozen.switches:
                control[..., j] = theirs[..., list(frozen.switches).index(t)]
    return judge_switch(res.switches, scores, float(inflection), parent, control,
                        chance=chance_accuracy(res.study.run) if control is not None else None)


def judge_switch(switches: np.ndarray, correct: np.ndarray, inflection: float, parent_correct: np.ndarray,
                 frozen_correct: np.ndarray | None = None, chance: float | None = None,
                 resamples: int = RESAMPLES) -> Verdict:
    """:func:`twophase_lib.verdicts.paired_switch_verdict` (its arguments are measurements already: per seed and
    test image), with the :class:`~twophase_lib.judgements.Judgement` attached (``verdict.judgement``), so that a
    recorded verdict can be re-judged without recomputing."""
    from .judgements import Judgement

    verdict = paired_switch_verdict(switches, correct, inflection, parent_correct, frozen_correct, resamples,
                                    chance)
    verdict.judgement = Judgement("paired_switch", {
        "switches": np.asarray(switches), "correct": np.asarray(correct), "inflection": float(inflection),
        "parent_correct": np.asarray(parent_correct),
        "frozen_correct": None if frozen_correct is None else np.asarray(frozen_correct),
        "chance": None if chance is None else float(chance), "resamples": int(resamples)})
    return verdict


def chance_accuracy(run: RunConfig) -> float | None:
    """The accuracy of the best constant prediction on the run's test set (its largest class's share), what a
    collapsed network scores; None when the test labels are not one class per example.
    """
    y = run_data(run).y_test
    if y.ndim != 1 or y.is_floating_point() or len(y) == 0:
        return None
    return float(torch.bincount(y.cpu()).max().item() / len(y))
