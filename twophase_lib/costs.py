"""What a study costs before it runs: its work counted from its grids, shared work once, times unit costs measured
on this machine.

The units are what the store computes: an SGD step of a network (parents, twins), a step of a linearized model, a
comparison of two states (distances, disagreement, loss barrier), an eNTK, a state's test predictions, an
evaluation. :func:`count_work` counts them for any mix of studies (:class:`twophase_lib.chaos.ChaosMap`,
:class:`twophase_lib.cone.ConeStudy`, :class:`twophase_lib.switch.SwitchStudy`),
training each run's parent once to the furthest step any study needs; :func:`measure_units` times each unit for
one network on this machine, with one torch thread as every cached computation runs; :func:`estimate` multiplies
and divides by the worker processes (ideal sharing between them, which flatters the estimate, while twins shared
between schedules are counted per schedule, which inflates it: at cpu it came within 7% of a measured cold run).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from .config import RunConfig

UNITS = ("steps", "linearized_steps", "comparisons", "kernels", "predictions", "evaluations")


def kernel_unit(n_inputs: int) -> str:
    """The unit of an eNTK on ``n_inputs`` inputs (its cost grows with n: each size is its own unit)."""
    return f"kernels ({n_inputs} inputs)"


def _unit_order(unit: str) -> tuple[int, int]:
    base, _, rest = unit.partition(" (")
    return UNITS.index(base), int(rest.split()[0]) if rest else 0


def network_label(run: RunConfig) -> str:
    """The network a run trains and the batch its steps take, as the work and unit tables name them (a unit's cost
    depends on both): ``resnet20 x0.5 b64``, or the task's name and batch."""
    name = run.task.name if run.task is not None else f"{run.model.name} x{run.model.width:g}"
    return f"{name} b{run.optim.batch_size}"


def _lineage(run: RunConfig) -> RunConfig:
    # what a parent's checkpoints depend on apart from how far it trains
    return run.replace(optim={"steps": 0})


@dataclass
class Work:
    """Counts of each unit per network (``counts[(network, unit)]``), parents' furthest steps counted once."""

    counts: Counter = dataclasses.field(default_factory=Counter)

    def add(self, run: RunConfig, unit: str, n: int) -> None:
        """Add ``n`` of ``unit`` for the run's network (nothing when ``n`` is 0)."""
        if n:
            self.counts[(network_label(run), unit)] += int(n)

    def networks(self) -> list[str]:
        """The networks with work, in first-seen order."""
        return list(dict.fromkeys(net for net, _ in self.counts))

    def table(self) -> list[tuple[str, str, int]]:
        """(network, unit, count) for every nonzero count."""
        return [(net, unit, self.counts[(net, unit)]) for net in self.networks()
                for unit in sorted({u for n, u in self.counts if n == net}, key=_unit_order)
                if self.counts[(net, unit)]]

    def kernel_sizes(self, network: str | None = None) -> list[int]:
        """The input counts of the eNTKs counted (for one network, or any), increasing."""
        return sorted({_unit_order(u)[1] for n, u in self.counts if u.startswith("kernels")
                       and network in (None, n)})


def count_work(studies: Iterable) -> Work:
    """The work a set of studies does from an empty cache: each parent trained once to the furthest step any study
    needs (a step schedule's and a constant lr's share their steps before the first drop); twins, comparisons,
    kernels, predictions and linearized runs per study (twins shared between schedules are counted per schedule,
    an overestimate).

    Raises:
        TypeError: an object that is not one of the library's studies.
    """
    from .chaos import ChaosMap, reference_partner
    from .cone import ConeStudy
    from .linearize import SwitchArm
    from .switch import SwitchStudy

    work = Work()
    parents: list[tuple[RunConfig, int]] = []
    switched: list[tuple] = []  # switched runs counted so far, for the steps another one resumes from
    counted_switches: set[tuple] = set()  # switched runs counted so far (two studies may share one)

    def parent(run: RunConfig, last: int) -> None:
        parents.append((run, last))

    for st in studies:
        if isinstance(st, ChaosMap):
            last = max((st.t1s[-1], *st.parent_steps))
            t0s = [*st.t0s, *([st.control_t0] if st.control_t0 is not None else [])]
            per_seed_cells = sum(len(st.t1s_after(t0)) for t0 in t0s)
            # a cell without barrier and eNTK costs only the two states' test-set predictions, counted once each
            light = sum(not st.costly_at(t0, t1) for t0 in t0s for t1 in st.t1s_after(t0))
            twin_steps = sum(st.t1s_after(t0)[-1] - t0 for t0 in t0s if st.t1s_after(t0))
            for seed in st.seeds:
                run = st.run.replace(seed=seed)
                parent(run, last)
                work.add(run, "steps", twin_steps)
                work.add(run, "comparisons", per_seed_cells - light)
                work.add(run, "predictions", len(st.t1s) + per_seed_cells)
                # the parent's kernel at every t1 a kernel cell or reference pair reaches, and each such twin's
                kernel_t1s = {t1 for t0 in t0s for t1 in st.t1s_after(t0) if st.has_kernel(t0, t1)}
                if st.reference_seeds:
                    kernel_t1s |= {t1 for t1 in st.reference_grid if st.has_kernel(None, t1)}
                work.add(run, kernel_unit(st.kernel_inputs), len(kernel_t1s) + sum(st.has_kernel(t0, t1) for t0 in t0s
                                                               for t1 in st.t1s_after(t0)))
            for seed in st.reference_seeds:
                run = st.run.replace(seed=seed)
                grid = st.reference_grid
                parent(reference_partner(run, st.reference_kind), grid[-1])
                work.add(run, "comparisons", len(grid))
                work.add(run, "predictions", len(grid))
                if st.kernel_inputs:
                    work.add(run, kernel_unit(st.kernel_inputs), sum(st.has_kernel(None, t1) for t1 in grid))
        elif isinstance(st, ConeStudy):
            for seed in st.seeds:
                run = st.run.replace(seed=seed)
                parent(run, st.steps[-1])
                work.add(run, kernel_unit(st.n_inputs), len(st.steps))
            for seed in st.reference_seeds:
                run = st.run.replace(seed=seed)
                parent(reference_partner(run), st.steps[-1])
                own = 0 if seed in st.seeds else len(st.calibration_steps)  # a seed's own kernels are shared
                work.add(run, kernel_unit(st.n_inputs), len(st.calibration_steps) + own)
        elif isinstance(st, SwitchStudy):
            last = st.run.optim.steps
            for seed in st.seeds:
                run = st.run.replace(seed=seed)
                parent(run, max(st.switches))
                # the batch-norm-frozen control trains the network itself: ordinary steps
                unit = "steps" if st.arm == SwitchArm.FROZEN_BATCH_NORM else "linearized_steps"
                for t in st.switches:
                    key = (run.prefix(last), t, st.reset_momentum, st.train_examples, st.arm, st.lr_scale, st.via)
                    if key in counted_switches:  # another study's run (a fixed budget ending at its T): computed once
                        continue
                    counted_switches.add(key)
                    work.add(run, unit, last - t - _resumed(switched, run, t, last, st))
                    work.add(run, "evaluations", 1)
        else:
            raise TypeError(f"cannot count the work of a {type(st).__name__}: not a study of the library")
    _add_parent_steps(work, parents)
    return work


def _resumed(switched: list[tuple], run: RunConfig, t: int, last: int, st) -> int:
    """Steps of the switched run (``run``, t) that it resumes from another one counted before (at a ``via`` step
    both cache, inside the steps their runs share); records this one."""
    key = (run.replace(optim={"steps": 0, "milestones": ()}), t, st.reset_momentum, st.arm, st.lr_scale)
    done = max((v - t for k, other, n, via in switched if k == key for v in set(via) & set(st.via)
                if t < v <= _shared(run, last, other, n) and v < min(last, n)), default=0)
    switched.append((key, run, last, st.via))
    return done


def _shared(a: RunConfig, last_a: int, b: RunConfig, last_b: int) -> int:
    """Steps two parents share: up to the first lr milestone one has and the other not, within both runs."""
    if _lineage(a).replace(optim={"milestones": ()}) != _lineage(b).replace(optim={"milestones": ()}):
        return 0
    differ = set(a.optim.milestones) ^ set(b.optim.milestones)
    return min(min(differ, default=last_a), last_a, last_b)


def _add_parent_steps(work: Work, parents: list[tuple[RunConfig, int]]) -> None:
    """Each parent's steps once: a run trained further covers a shorter one, and a step schedule shares its steps
    before the first drop with a constant lr (the store keeps those checkpoints once)."""
    counted: list[tuple[RunConfig, int]] = []
    for run, last in sorted(parents, key=lambda p: -p[1]):
        shared = max((_shared(run, last, r, n) for r, n in counted), default=0)
        work.add(run, "steps", last - shared)
        counted.append((run, last))


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per unit for one network on this machine, one torch thread."""

    network: str
    seconds: dict  # unit -> seconds


def measure_units(run: RunConfig, barrier=None, kernel_inputs: int | Sequence[int] = (), kernel_mode: str = "full",
                  steps: int = 8) -> UnitCosts:
    """Time each unit once for the run's network (after a short warm-up), with one torch thread.

    Args:
        run: the network, data and recipe (its lr does not matter).
        barrier: the comparisons' :class:`twophase_lib.metrics.BarrierConfig` (default: the library's).
        kernel_inputs: the input counts of the eNTKs to time, each its own unit (:func:`kernel_unit`; batch norm
            re-estimated first, as every cached kernel is); none: kernels not timed.
        steps: SGD steps (and linearized steps) to average over.

    Returns:
        Seconds per unit, in :class:`UnitCosts`.
    """
    from .linearize import Linearized
    from .metrics import BarrierConfig, compare
    from .perturbation import parameter_names
    from .store import checkpoint_kernel
    from .task import run_data
    from .training import (
        compute_threads,
        evaluate,
        initial_checkpoint,
        make_optimizer,
        materialise,
        predict,
        sgd_step,
        snapshot,
    )

    barrier = barrier or BarrierConfig()
    data = run_data(run)
    out: dict = {}
    with compute_threads():
        for unit, wrap in (("steps", None), ("linearized_steps", Linearized)):
            model = materialise(run, initial_checkpoint(run))
            model = wrap(model) if wrap else model
            opt = make_optimizer(run, model)
            model.train()
            for s in range(2):
                sgd_step(run, model, opt, data, s)
            t = time.perf_counter()
            for s in range(steps):
                sgd_step(run, model, opt, data, 2 + s)
            out[unit] = (time.perf_counter() - t) / steps
        a = initial_checkpoint(run)
        model = materialise(run, a)
        opt = make_optimizer(run, model)
        for s in range(2):
            sgd_step(run, model, opt, data, s)
        b = snapshot(2, model)
        t = time.perf_counter()
        compare(run, a, b, data, parameter_names(run), barrier)
        out["comparisons"] = time.perf_counter() - t
        t = time.perf_counter()
        predict(model, data.x_test)
        out["predictions"] = time.perf_counter() - t
        t = time.perf_counter()
        evaluate(model, data, "test")
        evaluate(model, data, "train", limit=1000)
        out["evaluations"] = time.perf_counter() - t
        for n in ([kernel_inputs] if isinstance(kernel_inputs, int) and kernel_inputs else kernel_inputs or []):
            t = time.perf_counter()
            checkpoint_kernel(run, b, n, kernel_mode)
            out[kernel_unit(n)] = time.perf_counter() - t
    return UnitCosts(network_label(run), out)


def estimate(work: Work, units: dict[str, UnitCosts], workers: int = 1) -> dict:
    """Seconds of each network's and unit's work, their total, and the wall time on ``workers`` processes.

    Args:
        work: from :func:`count_work`.
        units: network label -> :class:`UnitCosts`.
        workers: processes sharing the work (ideal sharing).

    Returns:
        A dict with ``rows`` (network, unit, count, seconds), ``total_s`` (their sum) and ``wall_s`` (the total over
        the workers).

    Raises:
        KeyError: a network or unit of ``work`` has no measured cost.
    """
    rows = []
    for net, unit, n in work.table():
        if net not in units or unit not in units[net].seconds:
            raise KeyError(f"no measured cost of {unit} for {net}: measure_units(...) for that network")
        rows.append((net, unit, n, n * units[net].seconds[unit]))
    total = sum(r[3] for r in rows)
    return {"rows": rows, "total_s": total, "wall_s": total / max(workers, 1)}
