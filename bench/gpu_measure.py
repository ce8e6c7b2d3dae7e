#!/usr/bin/env python3
"""Every GPU measurement the project needs, in one run of at most ~8 minutes on one H200-class GPU.

Made to run once, blind: each measurement is timed out and its errors caught and reported, one JSON
line is printed per measurement as it finishes, and the whole report is rewritten after each one to
``$OUT/gpu_measure.json`` (when ``$OUT`` is set; ``--out`` overrides), so a run cut short still leaves
everything measured so far. Measurements that would not fit in ``--budget-s`` are skipped (reported
as such); the cheap, essential ones run first and ``torch.compile`` last.

Sections (keys of the JSON):

* ``a_step_rates``: SGD steps per second of each training path for ResNet-20 and VGG-16 at full width,
  batch 128, on the embedded subset, as a ratio against one eager model (contiguous tensors, the
  library's deterministic settings): channels_last, the library's CUDA-graph path (and whether it is
  bitwise the eager path through two lr drops), the same with the batches planned ahead and the loss left on
  the device (issue 23: bitwise against the host-fed eager path, an ε = 0 twin exact, its rate against the
  host-fed graphs in the same process), ``torch.compile`` (its compile time separately), 4 and 8
  processes sharing the device (aggregate; with and without graphs), a ``vmap``-ped ensemble of K = 4
  and 8 models on the same batch (aggregate, and whether a member matches the same network trained
  alone), and eager with ``cudnn.benchmark`` (not deterministic, so not for the library).
  Every path pays what the library's ``sgd_step`` pays per step (the batch drawn and augmented, the
  loss read back with ``.item()``);
* ``b_determinism``: a small chaos sweep with an ε = 0 control, run twice on the device: is the
  control exact, are the two runs bitwise equal, which non-deterministic operations torch warned of;
* ``c_entk``: ``twophase_lib.ntk.empirical_ntk`` against the per-output autograd loop
  (``bench/bench_ntk.py``), ResNet-20 width 1, n = 50 and 100, synchronised timings (target >= 20x);
* ``d_book_time``: unit costs (linearized step eager and graphed, one checkpoint's eNTK, one twin
  comparison, a whole parent run of the ``gpu`` protocol's window) and the ``gpu`` and ``paper`` profiles'
  whole-book time: every chapter's studies (``twophase_book.budget``) counted by the library's cost model
  (``twophase_lib.costs``) and priced with these units, on 1, 2, 4 and 8 GPUs (ideal scaling, and the
  longest serial chain that bounds it).

    python bench/gpu_measure.py [--device cuda] [--budget-s 420]
    python bench/gpu_measure.py --only "cuda graphs" c_entk --merge earlier.json   # re-measure a part
    python bench/gpu_measure.py --device cpu --tiny --budget-s 60     # the same code on tiny CPU models
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import math
import multiprocessing
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # twophase_lib from this checkout; bench_ntk and bench_speed
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from twophase_book.profiles import ARCHS, protocol_design  # noqa: E402
from twophase_lib.cache import Cache  # noqa: E402
from twophase_lib.chaos import ChaosMap, run_chaos_map  # noqa: E402
from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig  # noqa: E402
from twophase_lib.data import load_data  # noqa: E402
from twophase_lib.executor import Executor  # noqa: E402
from twophase_lib.linearize import Linearized  # noqa: E402
from twophase_lib.metrics import BarrierConfig, compare  # noqa: E402
from twophase_lib.models import build_model, count_parameters  # noqa: E402
from twophase_lib.perturbation import Perturbation, parameter_names  # noqa: E402
from twophase_lib.store import BN_REESTIMATE_BATCHES, checkpoint_kernel  # noqa: E402
from twophase_lib.training import initial_checkpoint, make_optimizer, materialise, set_deterministic, sgd_step  # noqa: E402

SECTIONS = ("a_step_rates", "b_determinism", "c_entk", "d_book_time")
GPU_COUNTS = (1, 2, 4, 8)


# ---------------------------------------------------------------------------------------------------------------
# settings


class Settings:
    """Sizes of every measurement: the real ones on a GPU, tiny ones (same code paths) with --tiny."""

    def __init__(self, args: argparse.Namespace):
        self.device, self.tiny = args.device, args.tiny
        self.width = 0.125 if args.tiny else 1.0
        self.batch = 16 if args.tiny else 128
        self.seconds = 0.2 if args.tiny else 3.0  # timed window of a step-rate measurement
        self.min_steps = 2 if args.tiny else 20
        self.warmup = 1 if args.tiny else 10
        self.loop_repeat = 1 if args.tiny else 2  # timed calls of the per-output loop (the best is kept)
        self.procs = tuple(args.procs) if args.procs else ((2,) if args.tiny else (4, 8))
        self.ensembles = tuple(args.ensemble) if args.ensemble else ((2, 4) if args.tiny else (4, 8))
        self.ntk_n = (3, 6) if args.tiny else (50, 100)
        self.compile_backend = args.compile_backend or ("eager" if args.tiny else "inductor")
        self.archs = tuple(args.arch)
        # the slowest checks on tiny CPU models (spawned processes, two sweeps) for the first architecture only
        self.slow_archs = self.archs[:1] if args.tiny else self.archs

    def run(self, arch: str, memory_format: str = "contiguous", seed: int = 0) -> RunConfig:
        """The ``gpu`` profile's recipe (full width, batch 128, subset) on the device; tiny widths with --tiny."""
        return RunConfig(ModelConfig(arch, self.width), DataConfig("cifar10-subset"),
                         OptimConfig(batch_size=self.batch, steps=1200, milestones=(800, 1000)),
                         seed=seed, device=self.device, memory_format=memory_format)


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------------------------
# the report: budget, per-measurement timeouts and errors, JSON lines and the JSON file


class MeasurementTimeout(Exception):
    """A measurement ran past its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise MeasurementTimeout in this (main) thread after ``seconds``."""

    def handler(signum, frame):
        raise MeasurementTimeout(f"timed out after {seconds:.1f} s")

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


class Report:
    """Runs measurements within a global time budget and records each result, error or skip."""

    def __init__(self, budget_s: float, out: Path | None, device: str, need_scale: float = 1.0,
                 only: tuple[str, ...] = ()):
        self.start, self.need_scale, self.only = time.monotonic(), need_scale, only
        self.deadline = self.start + budget_s
        self.out, self.device = out, device
        self.data: dict = {"meta": {}, **{s: {} for s in SECTIONS}}

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def value(self, section: str, name: str) -> dict | None:
        """A measurement's record when it succeeded, else None."""
        rec = self.data[section].get(name)
        return rec if isinstance(rec, dict) and "error" not in rec and "skipped" not in rec else None

    def measure(self, section: str, name: str, fn, need_s: float, cap_s: float) -> dict | None:
        """Run ``fn()`` (a dict) unless fewer than ``need_s`` seconds are left; at most ``cap_s`` or what is left."""
        if self.only and name != "estimates" and not any(o in f"{section}:{name}" for o in self.only):
            return self.value(section, name)  # not asked for this time (a merged earlier record stays)
        left, need_s = self.left(), need_s * self.need_scale
        if left < need_s:
            rec = {"skipped": f"time budget: {max(left, 0):.0f} s left, this needs about {need_s:.0f} s"}
        else:
            limit = min(cap_s, left)
            t = time.perf_counter()
            cuda = self.device.startswith("cuda") and torch.cuda.is_available()
            try:
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                with time_limit(limit):
                    rec = dict(fn())
                if cuda:
                    rec["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
            except Exception as e:  # every failure is a result: report it and go on
                rec = {"error": f"{type(e).__name__}: {e}"[:2000],
                       "traceback": traceback.format_exc(limit=-6)[-3000:]}
            rec["wall_s"] = round(time.perf_counter() - t, 3)
            gc.collect()
            if cuda:
                with contextlib.suppress(Exception):
                    torch.cuda.empty_cache()
        rec = _jsonable(rec)
        self.data[section][name] = rec
        print(json.dumps({"section": section, "name": name, **rec}), flush=True)
        self.write()
        return self.value(section, name)

    def write(self) -> None:
        self.data["meta"]["elapsed_s"] = round(time.monotonic() - self.start, 1)
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.out)


# ---------------------------------------------------------------------------------------------------------------
# (a) step rates


def timed_steps(step, device: str, warmup: int, seconds: float, min_steps: int) -> dict:
    """Seconds per call of ``step(i)`` after ``warmup`` calls: as many calls as fit in ``seconds`` (>= min_steps)."""
    t = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync(device)
    first = time.perf_counter() - t
    t, n = time.perf_counter(), 0
    while n < min_steps or time.perf_counter() - t < seconds:
        step(warmup + n)
        n += 1
    sync(device)
    per = (time.perf_counter() - t) / n
    return {"step_s": per, "steps_per_s": 1 / per, "timed_steps": n, "warmup_s": first}


def trainable(run: RunConfig, linearized: bool = False) -> tuple:
    """(data, network at initialisation in train mode — linearized around it if asked — and its optimiser)."""
    data = load_data(run.data, run.device)
    model = materialise(run, initial_checkpoint(run))
    if linearized:
        model = Linearized(model)
    opt = make_optimizer(run, model)
    model.train()
    return data, model, opt


def single_model(s: Settings, arch: str, memory_format: str, compiled: bool = False, benchmark: bool = False) -> dict:
    """One model trained with the library's sgd_step (deterministic settings unless ``benchmark``)."""
    run = s.run(arch, memory_format)
    set_deterministic(run.device)
    if benchmark:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = False, True
    try:
        data, model, opt = trainable(run)
        out = {"memory_format": memory_format, "parameters": count_parameters(model),
               "deterministic": not benchmark}
        if compiled:
            from torch import _dynamo

            _dynamo.reset()
            cmodel = torch.compile(model, backend=s.compile_backend)
            t = time.perf_counter()
            sgd_step(run, cmodel, opt, data, 0)  # compiles the forward and backward graphs
            sync(run.device)
            out["first_step_s"] = time.perf_counter() - t
            out["backend"] = s.compile_backend
            model = cmodel
        res = timed_steps(lambda i: sgd_step(run, model, opt, data, 1 + i), run.device, s.warmup, s.seconds,
                          s.min_steps)
        if compiled:
            out["compile_s"] = out["first_step_s"] - res["step_s"]
        return {**out, **res}
    finally:
        set_deterministic(run.device)
        if benchmark:
            torch.use_deterministic_algorithms(True, warn_only=True)


def _train_twice(fn) -> tuple:
    """``fn()`` with CUDA graphs off, then on (the library's switch $TWOPHASE_CUDA_GRAPHS)."""
    before = os.environ.get("TWOPHASE_CUDA_GRAPHS")
    try:
        out = []
        for flag in ("0", "1"):
            os.environ["TWOPHASE_CUDA_GRAPHS"] = flag
            out.append(fn())
        return tuple(out)
    finally:
        if before is None:
            os.environ.pop("TWOPHASE_CUDA_GRAPHS", None)
        else:
            os.environ["TWOPHASE_CUDA_GRAPHS"] = before


def _state_diff(a: dict, b: dict) -> tuple[bool, float]:
    """(bitwise equal, max abs difference) of two state dicts (floating entries)."""
    diff = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())
    return all(torch.equal(a[k], b[k]) for k in a), diff


def graphed(s: Settings, arch: str, memory_format: str) -> dict:
    """The library's CUDA-graph path (training.GraphedSteps): bitwise against eager through two lr drops, and its
    rate."""
    from twophase_lib.training import GraphedSteps, train

    steps = 12 if s.tiny else 60
    run = s.run(arch, memory_format)
    run = run.replace(optim=OptimConfig(batch_size=s.batch, steps=steps, milestones=(steps // 3, 2 * steps // 3)))
    eager, graph = _train_twice(lambda: train(run, progress=False))
    equal, diff = _state_diff(eager.final.model, graph.final.model)
    mom = [
        (eager.final.optimizer["state"][i]["momentum_buffer"], graph.final.optimizer["state"][i]["momentum_buffer"])
        for i in eager.final.optimizer["state"]
    ]
    losses_equal = eager.losses == graph.losses
    set_deterministic(run.device)
    data, model, opt = trainable(run)
    stepper = GraphedSteps(run, model, opt, data)
    res = timed_steps(stepper, run.device, s.warmup, s.seconds, s.min_steps)
    return {
        "memory_format": memory_format,
        "bitwise_equal_to_eager_after_steps": steps,
        "bitwise_equal": equal,
        "momentum_bitwise_equal": all(torch.equal(a, b) for a, b in mom),
        "losses_equal": losses_equal,
        "max_abs_param_diff": diff,
        "graphs_captured": len(stepper.graphs),
        **res,
    }


@contextlib.contextmanager
def _env(**values: str):
    """The library's switches (environment variables) set for a block, restored after."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def planned(s: Settings, arch: str) -> dict:
    """The GPU step without host round trips (issue 23): a run's batch indices and crop/flip draws prepared ahead
    and moved in one copy, the loss left on the device, updates replayed from CUDA graphs. Bitwise against the
    eager path fed from the host (no graphs, no plan) through two lr drops; an ε = 0 twin branched on the way
    exact; its step rate against today's graphed path (batches from the host, loss read back) in this process."""
    from twophase_lib.perturbation import Perturbation, perturb
    from twophase_lib.training import GraphedSteps, train

    steps = 12 if s.tiny else 60
    run = s.run(arch, "channels_last")
    run = run.replace(optim=OptimConfig(batch_size=s.batch, steps=steps, milestones=(steps // 3, 2 * steps // 3)))
    with _env(TWOPHASE_CUDA_GRAPHS="0", TWOPHASE_PLANNED_BATCHES="0"):
        host = train(run, progress=False)
    with _env(TWOPHASE_CUDA_GRAPHS="1", TWOPHASE_PLANNED_BATCHES="1"):
        new = train(run, progress=False)
        branch = train(run, until=steps // 4, progress=False).final
        twin = train(run, start=perturb(branch, parameter_names(run), Perturbation(0.0))[0], progress=False)
    equal, diff = _state_diff(host.final.model, new.final.model)
    rates = {}
    for name, with_plan in (("graphed, batches from the host", False), ("graphed, planned batches", True)):
        set_deterministic(run.device)
        data, model, opt = trainable(run)
        plan = data.plan_batches(run.batch_seed, 0, 20_000, run.optim.batch_size) if with_plan else None
        rates[name] = timed_steps(GraphedSteps(run, model, opt, data, plan=plan), run.device, s.warmup, s.seconds,
                                  s.min_steps)
    res = rates["graphed, planned batches"]
    return {
        "memory_format": "channels_last",
        "bitwise_equal_to_eager_after_steps": steps,
        "bitwise_equal": equal,
        "max_abs_param_diff": diff,
        "losses_equal": host.losses == new.losses,
        "control_exact": _state_diff(twin.final.model, new.final.model)[0],
        "host_fed_graphed_step_s": rates["graphed, batches from the host"]["step_s"],
        "speedup_over_host_fed_graphs": rates["graphed, batches from the host"]["step_s"] / res["step_s"],
        **res,
    }


def graphed_linearized(s: Settings, arch: str) -> dict:
    """Linearized training through the CUDA-graph path: bitwise against eager, and its step rate."""
    from twophase_lib.linearize import train_linearized
    from twophase_lib.training import GraphedSteps

    steps = 10 if s.tiny else 40
    run = s.run(arch, "channels_last")
    run = run.replace(optim=OptimConfig(batch_size=s.batch, steps=steps, milestones=(steps // 2,)))
    eager, graph = _train_twice(lambda: train_linearized(run, initial_checkpoint(run), progress=False))
    equal, diff = _state_diff(eager.final.model, graph.final.model)
    set_deterministic(run.device)
    data, model, opt = trainable(run, linearized=True)
    stepper = GraphedSteps(run, model, opt, data)
    res = timed_steps(stepper, run.device, s.warmup, s.seconds, s.min_steps)
    return {
        "bitwise_equal_to_eager_after_steps": steps,
        "bitwise_equal": equal,
        "max_abs_param_diff": diff,
        "losses_equal": eager.losses == graph.losses,
        "graphs_captured": len(stepper.graphs),
        **res,
    }


def ensemble(s: Settings, arch: str, k: int) -> dict:
    """K models stacked (torch.func.stack_module_state) and stepped together with vmap(functional_call) on one batch."""
    from torch.func import functional_call, stack_module_state, vmap

    run = s.run(arch, "contiguous")
    o = run.optim
    set_deterministic(run.device)
    data = load_data(run.data, run.device)
    base = copy.deepcopy(build_model(run.model)).to("meta").train()

    def f(p, b, x):
        return functional_call(base, (p, b), (x,))

    forward = vmap(f, in_dims=(0, 0, None))

    def fresh():
        """The K members at initialisation (seeds 0..K-1), stacked, and their optimiser."""
        models = [materialise(run.replace(seed=i), initial_checkpoint(run.replace(seed=i))).train() for i in range(k)]
        params, buffers = stack_module_state(models)  # batch-norm running statistics stacked too: updated per member
        opt = torch.optim.SGD(list(params.values()), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        return params, buffers, opt

    def step(state, i: int) -> float:
        params, buffers, opt = state
        x, y = data.train_batch(run.batch_seed, i, o.batch_size, run.data.augment)
        for g in opt.param_groups:
            g["lr"] = o.lr_at(i)
        logits = forward(params, buffers, x)  # (k, batch, classes)
        # the sum over members of each member's mean cross-entropy: each member's gradient is its own
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.repeat(k), reduction="sum") / len(y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    state = fresh()
    res = timed_steps(lambda i: step(state, i), run.device, s.warmup, s.seconds, s.min_steps)
    # the first member against the same network trained alone (same initialisation, same batches)
    check = 3 if s.tiny else 20
    state = fresh()
    alone = materialise(run, initial_checkpoint(run))
    aopt = make_optimizer(run, alone)
    alone.train()
    for i in range(check):
        step(state, i)
        sgd_step(run, alone, aopt, data, i)
    mine = alone.state_dict()
    diff = max(float((p[0].detach() - mine[n]).abs().max()) for n, p in state[0].items())
    return {
        "k": k,
        "aggregate_steps_per_s": k * res["steps_per_s"],
        "ensemble_step_s": res["step_s"],
        "timed_steps": res["timed_steps"],
        "warmup_s": res["warmup_s"],
        "member_vs_alone_after_steps": check,
        "member_vs_alone_max_abs_param_diff": diff,
        "member_vs_alone_bitwise": diff == 0.0,
    }


def _process_worker(run: RunConfig, warmup: int, seconds: float, barrier, queue, graphs: bool = False) -> None:
    """One of several processes sharing the device: warm up, wait for the others, train for ``seconds``."""
    try:
        torch.set_num_threads(1)
        set_deterministic(run.device)
        data, model, opt = trainable(run)
        if graphs:
            from twophase_lib.training import GraphedSteps

            step = GraphedSteps(run, model, opt, data)
        else:

            def step(i):
                return sgd_step(run, model, opt, data, i)

        for i in range(warmup):
            step(i)
        sync(run.device)
        barrier.wait(timeout=300)
        t, n = time.perf_counter(), 0
        while time.perf_counter() - t < seconds:
            step(warmup + n)
            n += 1
        sync(run.device)
        queue.put({"steps": n, "seconds": time.perf_counter() - t})
    except BaseException as e:  # reported by the parent
        queue.put({"error": f"{type(e).__name__}: {e}"})
        with contextlib.suppress(Exception):
            barrier.abort()


def processes(s: Settings, arch: str, count: int, memory_format: str, graphs: bool = False) -> dict:
    """``count`` spawned processes each training its own model on the device at once: aggregate steps per second."""
    run = s.run(arch, memory_format)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(count), ctx.Queue()
    seconds = 0.5 if s.tiny else 5.0
    procs = [
        ctx.Process(
            target=_process_worker, args=(run.replace(seed=i), s.warmup, seconds, barrier, queue, graphs), daemon=True
        )
        for i in range(count)
    ]
    t = time.perf_counter()
    try:
        for p in procs:
            p.start()
        results = [queue.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(10)
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} processes failed: {errors[0]}")
    window = max(r["seconds"] for r in results)
    return {
        "processes": count,
        "memory_format": memory_format,
        "cuda_graphs": graphs,
        "aggregate_steps_per_s": sum(r["steps"] for r in results) / window,
        "per_process_steps_per_s": [r["steps"] / r["seconds"] for r in results],
        "window_s": window,
        "start_to_end_s": time.perf_counter() - t,
    }


# ---------------------------------------------------------------------------------------------------------------
# (b) determinism


def determinism(s: Settings, arch: str) -> dict:
    """A small (t0, t1) map with an ε = 0 control on the device, twice in fresh caches: is the control exact, are
    the runs equal?"""
    steps = 6 if s.tiny else 30
    run = RunConfig(
        ModelConfig(arch, s.width),
        DataConfig("cifar10-subset"),
        OptimConfig(batch_size=s.batch, steps=steps, milestones=(steps // 2,)),
        device=s.device,
    )
    barrier = (
        BarrierConfig(points=2, bn_batches=1, bn_batch_size=32, train_examples=64, test_examples=64)
        if s.tiny
        else BarrierConfig(points=3, bn_batches=4, train_examples=1000)
    )
    study = ChaosMap(run, t0s=(0, steps // 5), t1s=(steps // 2, steps), perturbation=Perturbation(1e-3), seeds=(0,),
                     control_t0=steps // 5, barrier=barrier, kernel_inputs=0 if s.tiny else 10)
    results, parents = [], []
    with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("always")
        for i in range(2):
            cache = Cache(Path(tmp) / str(i))
            results.append(run_chaos_map(study, cache, Executor(0), progress=False))
            parents.append(cache.load("parent", (run.prefix(steps), steps)))
    a, b = results
    metrics_equal = all(np.array_equal(a.values[m], b.values[m], equal_nan=True) for m in a.values)
    plain = lambda recs: [{k: v for k, v in r.items() if k != "disagreement_per_example"} for r in recs]  # noqa: E731
    controls_equal = plain(a.control) == plain(b.control) and all(
        np.array_equal(x["disagreement_per_example"], y["disagreement_per_example"])
        for x, y in zip(a.control, b.control))
    params_equal = (
        parents[0] is not None
        and parents[1] is not None
        and all(torch.equal(parents[0].model[k], parents[1].model[k]) for k in parents[0].model)
    )
    nondeterministic = sorted({str(w.message)[:300] for w in caught if "determinis" in str(w.message)})
    return {
        "control_is_exact": a.control_is_exact,
        "control": [
            {k: c[k] for k in ("l2_distance", "disagreement", "dissimilarity", "kernel_distance") if k in c}
            for c in a.control
        ],
        "two_runs_bitwise_equal": bool(metrics_equal and controls_equal and params_equal),
        "metrics_equal": metrics_equal,
        "controls_equal": controls_equal,
        "parent_parameters_equal": params_equal,
        "perturbed_relative_distance": a.values["relative_distance"].tolist(),
        "nondeterministic_op_warnings": nondeterministic,
        "settings": {
            "use_deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn.deterministic": torch.backends.cudnn.deterministic,
            "cudnn.benchmark": torch.backends.cudnn.benchmark,
            "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        },
    }


# ---------------------------------------------------------------------------------------------------------------
# (c) eNTK against the per-output loop


def entk_speedup(s: Settings, n: int) -> dict:
    from bench_ntk import per_output_loop, seconds  # synchronises the device around each call

    from twophase_lib.ntk import _no_tf32, default_memory_budget, empirical_ntk, plan_kernel

    model = build_model(ModelConfig("resnet20", s.width), 0, s.device).eval()
    x = load_data(DataConfig("cifar10-subset"), s.device).x_test[:n]
    budget = default_memory_budget(x.device)
    plan = plan_kernel(model, n, 10, budget)
    first = seconds(lambda: empirical_ntk(model, x, "full"))
    fast = seconds(lambda: empirical_ntk(model, x, "full"), 3)
    with _no_tf32():  # the reference in full float32, as the library's kernel
        loop = seconds(lambda: per_output_loop(model, x), s.loop_repeat)
        k_loop = per_output_loop(model, x)
    k_fast = empirical_ntk(model, x, "full")
    rel = float((k_fast.double() - k_loop.double()).abs().max() / k_loop.double().abs().max())
    return {
        "n": n,
        "width": s.width,
        "parameters": count_parameters(model),
        "entk_s": fast,
        "entk_first_call_s": first,
        "per_output_loop_s": loop,
        "speedup": loop / fast,
        "target": 20.0,
        "meets_target": loop / fast >= 20.0,
        "max_relative_difference": rel,
        "memory_budget_gib": budget / 2**30,
        "groups": len(plan.groups),
        "passes": plan.passes(n),
        "tf32_off": True,
    }


# ---------------------------------------------------------------------------------------------------------------
# (d) unit costs and the whole book's time


def linearized_step(s: Settings, arch: str) -> dict:
    """One SGD step of the model linearized around its initialisation, against a standard step, same settings."""
    run = s.run(arch, "channels_last")  # the library's default format, in which chapter 3's runs train
    set_deterministic(run.device)
    data, model, opt = trainable(run, linearized=True)
    return timed_steps(
        lambda i: sgd_step(run, model, opt, data, i), run.device, s.warmup // 2 + 1, s.seconds, s.min_steps
    )


def kernel_cost(s: Settings, arch: str) -> dict:
    """One checkpoint's eNTK as the store computes it (batch norm re-estimated), on as many inputs as the gpu
    protocol's largest kernel (chapter 2's training inputs)."""
    run = s.run(arch, "channels_last")
    n = 4 if s.tiny else protocol_design("gpu", arch).cone.inputs
    ckpt = initial_checkpoint(run)
    checkpoint_kernel(run, ckpt, min(n, 2), "full")  # warm up
    sync(run.device)
    t = time.perf_counter()
    k = checkpoint_kernel(run, ckpt, n, "full")
    sync(run.device)
    from twophase_lib.ntk import default_memory_budget

    return {
        "n_inputs": n,
        "kernel_s": time.perf_counter() - t,
        "shape": list(k.shape),
        "memory_budget_gib": default_memory_budget(run.device) / 2**30,
        "finite": bool(torch.isfinite(k).all()),
    }


def parent_run(s: Settings, arch: str) -> dict:
    """A whole parent run of the gpu protocol's window through the library's train() (every checkpoint a chapter
    reads saved): seconds per step. A short run with --tiny."""
    from twophase_lib.training import train

    d = protocol_design("gpu", arch)
    run = s.run(arch).replace(optim={"steps": 40, "milestones": ()}) if s.tiny else d.run
    save = [t for t in sorted({*d.chaos.t0s, *d.chaos.t1s, *d.cone.steps}) if t <= run.optim.steps]
    t = time.perf_counter()
    res = train(run, save_at=save, progress=False)
    sync(run.device)
    sec = time.perf_counter() - t
    steps = run.optim.steps
    return {
        "steps": steps,
        "seconds": sec,
        "seconds_per_step": sec / steps,
        "checkpoints": len(res.checkpoints),
        "final_loss": res.losses[steps - 1],
    }


def evaluated_images(bc: BarrierConfig, test_n: int, train_n: int) -> int:
    """Images a comparison runs through a network: disagreement on the test split, then each α of the barrier."""
    train = min(bc.train_examples, train_n)
    test = test_n if bc.test_examples is None else min(bc.test_examples, test_n)
    bn = bc.bn_batches * bc.bn_batch_size if bc.bn_mode == "recompute" else 0
    return 2 * test_n + bc.points * (bn + train + test)


def comparison_cost(s: Settings, arch: str) -> dict:
    """One twin comparison (distances, disagreement, barriers) at the gpu design's settings (a tiny one with --tiny)."""
    run = s.run(arch, "channels_last")
    bc = (
        BarrierConfig(points=2, bn_batches=1, bn_batch_size=32, train_examples=64, test_examples=64)
        if s.tiny
        else protocol_design("gpu", arch).chaos.barrier
    )
    data = load_data(run.data, run.device)
    a = initial_checkpoint(run)
    b = initial_checkpoint(run.replace(seed=1))
    names = parameter_names(run)
    compare(run, a, b, data, names, BarrierConfig(points=2, bn_batches=1, train_examples=64, test_examples=64))  # warm
    sync(run.device)
    t = time.perf_counter()
    compare(run, a, b, data, names, bc)
    sync(run.device)
    sec = time.perf_counter() - t
    images = evaluated_images(bc, len(data.x_test), len(data.x_train))
    return {"comparison_s": sec, "barrier": str(bc), "images": images, "seconds_per_image": sec / images}


def longest_chain(profile: str, arch: str, step_s: float, lin_s: float, cmp_s: float) -> float:
    """The longest chain of work that must run in sequence whatever the number of GPUs: a parent through the
    window, then a twin through the widest slice and its comparison, then the longest switched run."""
    d = protocol_design(profile, arch)
    return d.window * step_s + max(d.chaos.deltas) * step_s + cmp_s + d.switch.T * lin_s


def step_paths(report: Report, arch: str) -> dict[str, float]:
    """Seconds per SGD step (aggregate over what shares the device) of every measured training path of ``arch``."""
    paths = {}
    for name, rec in report.data["a_step_rates"].items():
        if not name.startswith(f"{arch}/") or not report.value("a_step_rates", name):
            continue
        kind = name.split("/", 1)[1]
        if "aggregate_steps_per_s" in rec:
            label = (
                f"{rec['processes']} processes sharing the GPU ({rec['memory_format']}"
                f"{', CUDA graphs' if rec.get('cuda_graphs') else ''})"
                if "processes" in rec
                else f"vmap ensemble of {rec['k']} (not in the library)"
            )
            paths[label] = 1 / rec["aggregate_steps_per_s"]
        elif kind == "eager":
            paths["eager, 1 process (reference)"] = rec["step_s"]
        elif kind == "channels_last":
            paths["channels_last, 1 process (library default)"] = rec["step_s"]
        elif kind == "cuda graphs, planned batches" and rec.get("bitwise_equal") and rec.get("control_exact"):
            paths[f"CUDA graphs, planned batches, 1 process ({rec['memory_format']}, library default on a GPU)"] = \
                rec["step_s"]
        elif kind.startswith("cuda graphs") and rec.get("bitwise_equal"):
            paths[f"CUDA graphs, batches from the host, 1 process ({rec['memory_format']})"] = rec["step_s"]
        elif kind == "compile":
            paths["torch.compile, 1 process (not in the library)"] = rec["step_s"]
    return paths  # cudnn.benchmark is left out: not deterministic, so the library cannot use it


#: Test and training images of each profile's data: (test, train).
DATA_SIZES = {"gpu": (1017, 5170), "paper": (10_000, 50_000)}


def unit_costs(report: Report, arch: str, step_s: float, profile: str, label: str, kernel_sizes) -> tuple:
    """The library's units (:mod:`twophase_lib.costs`) of one network from the report, with SGD steps at
    ``step_s``: (UnitCosts, what is missing). A comparison, prediction or evaluation costs what its images cost
    (measured per image); an eNTK on n inputs costs the measured one × n / n_measured (the Jacobian's rows)."""
    from twophase_lib.costs import UnitCosts, kernel_unit

    lin = report.value("d_book_time", f"{arch}/linearized step")
    glin = report.value("d_book_time", f"{arch}/linearized step, cuda graphs")
    if glin and glin.get("bitwise_equal") and (not lin or glin["step_s"] < lin["step_s"]):
        lin = glin  # the library's path on a GPU
    ker = report.value("d_book_time", f"{arch}/kernel")
    cmp_ = report.value("d_book_time", f"{arch}/comparison")
    missing = [f"{arch}: {n}" for n, v in (("linearized step", lin), ("kernel", ker), ("comparison", cmp_)) if not v]
    test_n, train_n = DATA_SIZES[profile]
    d = protocol_design(profile, arch)
    per_image = cmp_["seconds_per_image"] if cmp_ else 0.0
    seconds = {
        "steps": step_s,
        "linearized_steps": lin["step_s"] if lin else 0.0,
        "comparisons": per_image * evaluated_images(d.chaos.barrier, test_n, train_n),
        "predictions": per_image * test_n,
        "evaluations": per_image * (BN_REESTIMATE_BATCHES * 128 + test_n + min(d.switch.train_examples, train_n)),
        **{kernel_unit(n): (ker["kernel_s"] * n / ker["n_inputs"] if ker else 0.0) for n in kernel_sizes},
    }
    return UnitCosts(label, seconds), missing


def _extrapolated(chapters: dict, per_arch: dict, missing: list[str]) -> dict:
    """Each unmeasured network's work (chapter 6's other widths and batch sizes) priced at its architecture's
    measured unit costs times the FLOPs ratio, never below 1: {label: {"from": arch, "step_ratio", "seconds"}}
    (seconds on the reference path; :func:`book_estimates` scales them to each path as it scales the arch)."""
    from twophase_lib.costs import UnitCosts, count_work, estimate, network_label

    out = {}
    for arch, info in per_arch.items():
        base = next(st.run for group in chapters.values() for st in group if network_label(st.run) == info["network"])
        for label in missing:
            studies = [st for group in chapters.values() for st in group if network_label(st.run) == label
                       and st.run.model.name == arch]
            if not studies:
                continue
            run = studies[0].run
            w = (run.model.width / base.model.width) ** 2
            ratio = {"steps": w * run.optim.batch_size / base.optim.batch_size}
            units = {u: c * max(1.0, ratio.get(u, w)) for u, c in info["units_s"].items()}
            seconds = estimate(count_work(studies), {label: UnitCosts(label, units)})["total_s"]
            out[label] = {"from": arch, "step_ratio": max(1.0, ratio["steps"]), "seconds": seconds}
    return out


def book_estimates(report: Report, s: Settings) -> dict:
    """The gpu and paper profiles' whole-book time: the work of every chapter's studies counted by the library's
    cost model (:func:`twophase_book.budget.chapter_studies`, :func:`twophase_lib.costs.count_work`), priced
    with the unit costs measured here, per training path."""
    from twophase_book.budget import chapter_studies
    from twophase_lib.costs import count_work, estimate, network_label

    out: dict = {
        "assumptions": [
            "work: twophase_lib.costs.count_work over twophase_book.budget.chapter_studies(profile), the studies on "
            "the GPU (chapter 4's small networks run on the CPU cores: not counted here)",
            "time = work x unit costs: SGD steps at the path's step time (aggregate when several processes or "
            "ensemble members share the GPU), the other units measured in one process (conservative)",
            "comparisons, predictions and evaluations scale with the images they run through the network "
            "(measured per image); an eNTK on n inputs costs the measured one x n / n_measured",
            "networks the report has no step rate for (chapter 6's other widths and batch sizes) are listed as "
            "missing; 'with_extrapolated' prices them at the measured network's unit costs times their FLOPs "
            "ratio (width squared x batch for a step, width squared for the rest), never below 1 (a launch-bound "
            "step is no cheaper on a smaller network): an extrapolation, labelled as one",
            "N GPUs: ideal scaling, work / N ('ideal'), and never below the longest serial chain ('bounded')",
            "paper profile: full CIFAR-10 (not on this machine): a step costs what it costs on the subset",
            "cudnn.benchmark is not used: the library needs deterministic kernels",
        ]
    }
    if s.tiny:
        out["assumptions"].append("--tiny: unit costs of tiny CPU models; the numbers exercise the code, nothing more")
    for profile in ("gpu", "paper"):
        chapters = {name: [st for st in group if st.run.device.startswith("cuda")]
                    for name, group in chapter_studies(profile).items()}
        work = count_work([st for group in chapters.values() for st in group])
        labels = {arch: network_label(protocol_design(profile, arch).run) for arch in s.archs}
        missing = [net for net in work.networks() if net not in labels.values()]
        per_path: dict[str, dict] = {}
        chains, per_arch = {}, {}
        for arch in s.archs:
            paths = step_paths(report, arch)
            if not paths:
                missing.append(f"{arch}: every step rate")
                continue
            single = paths.get("eager, 1 process (reference)",
                               paths.get("channels_last, 1 process (library default)", min(paths.values())))
            units, miss = unit_costs(report, arch, single, profile, labels[arch], work.kernel_sizes(labels[arch]))
            missing += miss
            mine = count_work([st for group in chapters.values() for st in group
                               if network_label(st.run) == labels[arch]])
            for name, step_s in paths.items():
                priced, _ = unit_costs(report, arch, step_s, profile, labels[arch], work.kernel_sizes(labels[arch]))
                per_path.setdefault(name, {})[arch] = estimate(mine, {labels[arch]: priced})["total_s"]
            chains[arch] = longest_chain(profile, arch, single, units.seconds["linearized_steps"],
                                         units.seconds["comparisons"])
            per_arch[arch] = {"network": labels[arch], "units_s": units.seconds,
                              "total_s": estimate(mine, {labels[arch]: units})["total_s"],
                              "counts": {u: n for net, u, n in mine.table()}, "step_s": paths,
                              "longest_serial_chain_hours": chains[arch] / 3600}
        extrapolated = _extrapolated(chapters, per_arch, missing)
        chain = max(chains.values(), default=0.0)  # the waves hold both networks: their chains overlap
        totals = {}
        for name, by_arch in per_path.items():
            if set(by_arch) != set(per_arch):
                continue  # a path measured for one network only
            total = sum(by_arch.values())
            totals[name] = {
                "hours_1_gpu": total / 3600,
                "hours_1_gpu_with_extrapolated": (total + sum(
                    e["seconds"] * min(1.0, by_arch[e["from"]] / max(per_arch[e["from"]]["total_s"], 1e-9))
                    for e in extrapolated.values())) / 3600,
                "hours_n_gpus_ideal": {n: total / n / 3600 for n in GPU_COUNTS},
                "hours_n_gpus_bounded": {n: max(total / n, chain) / 3600 for n in GPU_COUNTS},
            }
        res = {
            "per_arch": per_arch,
            "by_path": totals,
            "longest_serial_chain_hours": chain / 3600,
            "extrapolated": extrapolated,
            "complete": not missing and set(per_arch) == set(ARCHS),
            "missing": missing,
        }
        if totals:
            res["best_path"] = min(totals, key=lambda k: totals[k]["hours_1_gpu"])
            library = [k for k in totals if "not in the library" not in k]
            res["best_library_path"] = min(library, key=lambda k: totals[k]["hours_1_gpu"]) if library else None
            for label, key in (
                ("best measured path", res["best_path"]),
                ("best path the library runs today", res["best_library_path"]),
            ):
                if key is None:
                    continue
                hrs, ideal = totals[key]["hours_n_gpus_bounded"], totals[key]["hours_n_gpus_ideal"]
                note = "" if res["complete"] else f" PARTIAL, missing {'; '.join(missing) or 'a network'}"
                print(
                    f"{profile} profile, {label} ({key}):{note} "
                    + ", ".join(
                        f"{n} GPU{'s' if n > 1 else ''} {ideal[n]:.2f} h ideal / {hrs[n]:.2f} h bounded"
                        for n in GPU_COUNTS
                    )
                    + f" (ideal scaling = work / N; bounded by the longest serial chain, {chain / 3600:.2f} h)"
                    + (f"; with the missing networks extrapolated (FLOPs): 1 GPU "
                       f"{totals[key]['hours_1_gpu_with_extrapolated'] * 60:.1f} min" if extrapolated else ""),
                    flush=True,
                )
        out[profile] = res
    return out


# ---------------------------------------------------------------------------------------------------------------


def _try(fn):
    """``fn()``, or the error it raised as a string (what a machine reports about itself must never stop the run)."""
    try:
        return fn()
    except Exception as e:
        return f"error: {type(e).__name__}: {e}"


def meta(s: Settings, args) -> dict:
    import subprocess

    out = {
        "argv": sys.argv[1:],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": s.device,
        "tiny": s.tiny,
        "budget_s": args.budget_s,
        "cpu_count": os.cpu_count(),
        "archs": list(s.archs),
        "width": s.width,
        "batch": s.batch,
        "procs": list(s.procs),
        "ensembles": list(s.ensembles),
        "compile_backend": s.compile_backend,
        "commit": _try(
            lambda: subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        ),
    }
    if s.device.startswith("cuda"):
        out.update(
            {
                "cuda_available": _try(torch.cuda.is_available),
                "cuda": torch.version.cuda,
                "cudnn": _try(torch.backends.cudnn.version),
            }
        )
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            out.update(
                {
                    "gpu": p.name,
                    "gpu_memory_gib": p.total_memory / 2**30,
                    "gpus": torch.cuda.device_count(),
                    "capability": _try(lambda: list(torch.cuda.get_device_capability(0))),
                    "tf32_matmul": _try(lambda: torch.backends.cuda.matmul.allow_tf32),
                    "tf32_cudnn": _try(lambda: torch.backends.cudnn.allow_tf32),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny widths and few steps (a CPU check of the script)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="skip what would not fit in this many seconds")
    parser.add_argument("--out", type=Path, default=None, help="JSON report (default: $OUT/gpu_measure.json if $OUT)")
    parser.add_argument("--arch", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument(
        "--procs",
        type=int,
        nargs="+",
        default=None,
        help="numbers of processes sharing the device (default 4 8; tiny 2)",
    )
    parser.add_argument("--ensemble", type=int, nargs="+", default=None, help="vmap ensemble sizes (default 4 8)")
    parser.add_argument("--compile-backend", default=None, help="torch.compile backend (default inductor; tiny eager)")
    parser.add_argument(
        "--only",
        nargs="+",
        default=(),
        help="measure only what 'section:name' contains one of these strings for (e.g. 'cuda graphs')",
    )
    parser.add_argument(
        "--merge",
        type=Path,
        default=None,
        help="an earlier report whose records stand where this run does not measure (with --only)",
    )
    args = parser.parse_args(argv)
    out = args.out or (Path(os.environ["OUT"]) / "gpu_measure.json" if os.environ.get("OUT") else None)
    s = Settings(args)
    if s.tiny:  # tiny models: one thread is fastest, and steadier on a busy machine
        torch.set_num_threads(1)
    # the needs given below are seconds on an H200-class GPU; tiny CPU models need a fraction of them
    report = Report(args.budget_s, out, s.device, need_scale=0.15 if s.tiny else 1.0, only=tuple(args.only))
    if args.merge is not None:
        earlier = json.loads(args.merge.read_text())
        for section in SECTIONS:
            report.data[section].update({k: v for k, v in earlier.get(section, {}).items() if k != "estimates"})
        report.data["merged_from"] = {"file": str(args.merge), "meta": earlier.get("meta")}
    try:
        report.data["meta"] = meta(s, args)
    except Exception as e:
        report.data["meta"] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps({"section": "meta", **_jsonable(report.data["meta"])}), flush=True)
    if s.device.startswith("cuda") and not torch.cuda.is_available():
        for section in SECTIONS:
            report.data[section]["all"] = {"error": "CUDA is not available (run with --device cpu --tiny on a CPU)"}
        report.write()
        print(json.dumps({"error": "CUDA is not available"}), flush=True)
        return 1
    A, B, C, D = SECTIONS
    # cheap and essential first; what else is wanted after; torch.compile last
    for arch in s.archs:
        report.measure(A, f"{arch}/eager", lambda: single_model(s, arch, "contiguous"), 10, 90)
        report.measure(A, f"{arch}/channels_last", lambda: single_model(s, arch, "channels_last"), 8, 90)
    for arch in s.archs:  # the library's path on a GPU: graphs, and graphs with planned batches
        report.measure(A, f"{arch}/cuda graphs", lambda: graphed(s, arch, "channels_last"), 12, 90)
        report.measure(A, f"{arch}/cuda graphs, planned batches", lambda: planned(s, arch), 15, 90)
    for arch in s.slow_archs:
        report.measure(B, arch, lambda: determinism(s, arch), 25, 150)
    for n in s.ntk_n:
        report.measure(C, f"resnet20/n={n}", lambda: entk_speedup(s, n), 15 if n <= 50 else 30, 150)
    for arch in s.archs:
        report.measure(D, f"{arch}/linearized step", lambda: linearized_step(s, arch), 8, 90)
        report.measure(D, f"{arch}/linearized step, cuda graphs", lambda: graphed_linearized(s, arch), 10, 90)
        report.measure(D, f"{arch}/kernel", lambda: kernel_cost(s, arch), 10, 120)
        report.measure(D, f"{arch}/comparison", lambda: comparison_cost(s, arch), 8, 90)
        report.measure(D, f"{arch}/parent run", lambda: parent_run(s, arch), 15, 60)
    for arch in s.archs:
        for k in s.ensembles:
            report.measure(A, f"{arch}/vmap ensemble k={k}", lambda: ensemble(s, arch, k), 12, 90)

    def compiled() -> None:
        for arch in s.archs:
            report.measure(A, f"{arch}/compile", lambda: single_model(s, arch, "contiguous", compiled=True), 60, 200)

    fmt = {}
    for arch in s.slow_archs:  # the faster memory format of one process
        cl, eg = report.value(A, f"{arch}/channels_last"), report.value(A, f"{arch}/eager")
        fmt[arch] = "channels_last" if cl and (not eg or cl["step_s"] <= eg["step_s"]) else "contiguous"
    for i, count in enumerate(s.procs):
        if i == 1:  # further process counts after torch.compile
            compiled()
        for arch in s.slow_archs:
            report.measure(A, f"{arch}/{count} processes", lambda: processes(s, arch, count, fmt[arch]), 30, 150)
            report.measure(
                A,
                f"{arch}/{count} processes, cuda graphs",
                lambda: processes(s, arch, count, "channels_last", graphs=True),
                30,
                150,
            )
    if len(s.procs) < 2:
        compiled()
    for arch in s.archs:
        report.measure(
            A,
            f"{arch}/eager, cudnn.benchmark (not deterministic)",
            lambda: single_model(s, arch, "contiguous", benchmark=True),
            8,
            60,
        )
    # ratios against one eager model
    for arch in s.archs:
        ref = report.value(A, f"{arch}/eager")
        if not ref:
            continue
        for name, rec in report.data[A].items():
            if name.startswith(f"{arch}/") and report.value(A, name):
                rate = rec.get("aggregate_steps_per_s", rec.get("steps_per_s"))
                if rate:
                    rec["ratio_to_eager"] = rate / ref["steps_per_s"]
    report.data["ratios"] = {
        name: rec.get("ratio_to_eager")
        for name, rec in report.data[A].items()
        if isinstance(rec, dict) and "ratio_to_eager" in rec
    }
    print(json.dumps({"section": "ratios", **report.data["ratios"]}), flush=True)
    report.deadline = max(report.deadline, time.monotonic() + 30)  # the estimates are arithmetic: always made
    report.measure(D, "estimates", lambda: book_estimates(report, s), 0, 30)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
