"""The cpu book's speed levers, each as a ratio against today's path measured in the same process, and a cost model.

Levers (the protocol's steps: ResNet-20 ×½ and VGG-16 ×¼ at batch 64):

* executor: 2 processes × 1 thread against 1 process × 2 threads (steps per second of the pair);
* memory format: channels_last against contiguous (one thread);
* linearized step against a standard step (one thread);
* evaluation: a twin comparison (barrier with batch-norm recomputation, disagreement) at the cpu
  design's settings against the old ones (5 α and 5 BN batches, and 11 α / 10 BN batches), with
  the barrier values each gives on the same pair;
* eNTK: one checkpoint's kernel on the cpu design's 50 inputs;
* torch.compile: the compiled training step against the eager one (one thread), and the compile time
  (lost at this scale: 1.02x for ResNet-20 x1/2, not adopted);
* width: VGG-16 at the design's width against twice that width (the session-3 design), step and eNTK.

Then a cost model: the number of SGD steps, linearized steps, comparisons and kernels each chapter's
design asks for (counted from the profiles' designs, with the sharing between schedules), times the unit
costs measured here, divided by the workers: the expected cold time and its split per chapter.

    python bench/bench_speed.py [--profile cpu] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

import torch

from twophase_book.profiles import ARCHS, design
from twophase_lib.data import load_data
from twophase_lib.linearize import Linearized
from twophase_lib.metrics import BarrierConfig, compare
from twophase_lib.perturbation import Perturbation, parameter_names, perturb
from twophase_lib.store import checkpoint_kernel
from twophase_lib.training import initial_checkpoint, make_optimizer, materialise, sgd_step, train


def step_seconds(run, steps: int, threads: int, linearized: bool = False, repeat: int = 3, compiled: bool = False,
                 warm_up: dict | None = None) -> float:
    """Best mean seconds per SGD step of the run's network (after warm-up) with ``threads`` torch threads.

    ``compiled`` wraps the network in ``torch.compile``; ``warm_up["seconds"]`` receives the warm-up's time
    (for a compiled network, mostly compiling)."""
    torch.set_num_threads(threads)
    data = load_data(run.data)
    model = materialise(run, initial_checkpoint(run))
    if linearized:
        model = Linearized(model)
    if compiled:
        model = torch.compile(model)
    opt = make_optimizer(run, model)
    model.train()
    t = time.perf_counter()
    for s in range(3):
        sgd_step(run, model, opt, data, s)
    if warm_up is not None:
        warm_up["seconds"] = time.perf_counter() - t
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for s in range(steps):
            sgd_step(run, model, opt, data, 3 + s)
        best = min(best, (time.perf_counter() - t) / steps)
    return best


def _worker(args) -> float:
    run, steps = args
    return step_seconds(run, steps, 1, repeat=1)


def pair_of_processes(run, steps: int) -> float:
    """Seconds per step per process when two one-thread processes train at once (wall time of the pair / steps)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(_worker, [(run, 3)] * 2)  # start and warm both
        t = time.perf_counter()
        pool.map(_worker, [(run, steps)] * 2)
        return (time.perf_counter() - t) / (2 * steps)


def comparison_seconds(run, barrier: BarrierConfig, a, b, repeat: int) -> tuple[float, dict]:
    """Seconds for one twin comparison at these barrier settings (one thread), and what it measured."""
    torch.set_num_threads(1)
    data = load_data(run.data)
    names = parameter_names(run)
    best, out = float("inf"), {}
    for _ in range(repeat):
        t = time.perf_counter()
        out = compare(run, a, b, data, names, barrier)
        best = min(best, time.perf_counter() - t)
    return best, out


def work_counts(profile: str, arch: str) -> dict:
    """SGD steps, linearized steps, comparisons and kernels of every chapter's design (sharing counted once)."""
    d = design(profile, arch)
    drop, t1 = d.first_drop, d.t1
    seeds, refs = len(d.seeds), len(d.reference_seeds)
    branches = [*d.t0s, d.control_t0]
    # parents: up to the drop once, then both schedules to t1; reference runs the same
    parent = (seeds + 2 * refs) * (drop + 2 * (t1 - drop))
    children = seeds * (sum(drop - t for t in branches) + 2 * len(branches) * (t1 - drop))
    eps = (len(d.eps_sizes) * (sum(drop - t for t in d.eps_t0s) + len(d.eps_t0s) * (t1 - drop))
           if arch == "resnet20" else 0)
    comparisons = (
        2 * seeds * len(branches) + 2 * 2 * refs + (len(d.eps_sizes) * len(d.eps_t0s) if arch == "resnet20" else 0)
    )
    # kernels at t1: per schedule and seed the parent's (shared by its twins) and each child's; each reference
    # pair adds its other network's
    twin_kernels = 2 * seeds * (1 + len(branches)) + 2 * 2 * refs
    cone_kernels = seeds * (len(d.cone_steps) + sum(s > drop for s in d.cone_steps))
    linear = seeds * sum(t1 - t for t in d.switches)
    return {
        "ch1 steps": parent + children + eps,
        "ch1 comparisons": comparisons,
        "ch1 kernels": twin_kernels,
        "ch2 kernels": cone_kernels,
        "ch3 linearized steps": linear,
        "ch3 evaluations": seeds * len(d.switches),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--no-compile",
        dest="compile",
        action="store_false",
        help="skip the torch.compile lever (about 40 s of compiling per network)",
    )
    args = parser.parse_args()
    report = {"cores": os.cpu_count(), "levers": {}, "cost_model": {}}
    workers = min(2, os.cpu_count() or 1)
    for arch in ARCHS:
        d = design(args.profile, arch)
        run = d.run
        contiguous = run.replace(memory_format="contiguous")
        t2 = step_seconds(contiguous, args.steps, 2, repeat=args.repeat)  # the session-1 path
        t1c = step_seconds(contiguous, args.steps, 1, repeat=args.repeat)
        t1 = step_seconds(run, args.steps, 1, repeat=args.repeat)
        pair = pair_of_processes(run, args.steps)
        lin = step_seconds(run, max(5, args.steps // 3), 1, linearized=True, repeat=args.repeat)
        # a real twin pair: train briefly, perturb, train both on (the same batches)
        base = train(run, until=40, progress=False).final
        child, _ = perturb(base, parameter_names(run), Perturbation(1e-3))
        a = train(run, until=80, start=base, progress=False).final
        b = train(run, until=80, start=child, progress=False).final
        evals = {}
        for name, bc in (
            ("cpu design", d.barrier),
            ("session 2 (5 α, 5 BN batches)", BarrierConfig(points=5, bn_batches=5, train_examples=500)),
            (
                "paper-like (11 α, 10 BN batches, 1000 train)",
                BarrierConfig(points=11, bn_batches=10, train_examples=1000),
            ),
        ):
            sec, out = comparison_seconds(run, bc, a, b, args.repeat)
            evals[name] = {
                "seconds": round(sec, 3),
                "test_loss_barrier": out["test_loss_barrier"],
                "train_loss_barrier": out["train_loss_barrier"],
            }
        torch.set_num_threads(1)
        t = time.perf_counter()
        checkpoint_kernel(run, a, d.kernel_inputs, "full")
        kernel = time.perf_counter() - t
        warm_up: dict = {}
        compiled = (
            step_seconds(run, args.steps, 1, repeat=args.repeat, compiled=True, warm_up=warm_up)
            if args.compile
            else None
        )
        width = {}
        if arch == "vgg16":
            wide = run.replace(model={"width": 2 * run.model.width})
            t = time.perf_counter()
            checkpoint_kernel(wide, initial_checkpoint(wide), d.kernel_inputs, "full")
            wide_kernel = time.perf_counter() - t
            width = {
                f"step, width {run.model.width:g} / width {wide.model.width:g} (1 thread)": round(
                    t1 / step_seconds(wide, args.steps, 1, repeat=args.repeat), 3
                ),
                f"eNTK, width {run.model.width:g} / width {wide.model.width:g}": round(kernel / wide_kernel, 3),
            }
        report["levers"][arch] = {
            "step, 1 process x 2 threads, contiguous (s)": round(t2, 4),
            "step, 1 thread, contiguous (s)": round(t1c, 4),
            "step, 1 thread, channels_last (s)": round(t1, 4),
            "channels_last / contiguous (1 thread)": round(t1 / t1c, 3),
            "2 processes x 1 thread: steps/s against 1 x 2 threads": round(t2 / pair, 3),
            "linearized step / standard step (1 thread)": round(lin / t1, 3),
            "comparison": evals,
            "kernel (s, 1 thread)": round(kernel, 3),
            **(
                {
                    "torch.compile step / eager step (1 thread)": round(compiled / t1, 3),
                    "torch.compile: compile time (s)": round(warm_up["seconds"], 1),
                }
                if compiled
                else {}
            ),
            **width,
        }
        counts = work_counts(args.profile, arch)
        per_step = pair  # wall seconds per step with both workers busy
        cost = {
            "ch1 train": counts["ch1 steps"] * per_step,
            "ch1 evaluate": counts["ch1 comparisons"] * evals["cpu design"]["seconds"] / workers,
            "ch1 eNTK": counts["ch1 kernels"] * kernel / workers,
            "ch2 eNTK": counts["ch2 kernels"] * kernel / workers,
            "ch3 train": counts["ch3 linearized steps"] * per_step * lin / t1,
        }
        report["cost_model"][arch] = {
            "counts": counts,
            "seconds": {k: round(v) for k, v in cost.items()},
            "total minutes": round(sum(cost.values()) / 60, 1),
        }
        print(json.dumps({arch: report["levers"][arch]}, indent=2, ensure_ascii=False), flush=True)
        print(json.dumps({arch: report["cost_model"][arch]}, indent=2, ensure_ascii=False), flush=True)
    total = sum(v["total minutes"] for v in report["cost_model"].values())
    print(
        f"cost model, profile {args.profile}: {total:.1f} minutes of work on {workers} workers "
        f"(chapter overheads and the first-drop waves' idle time not included)"
    )


if __name__ == "__main__":
    main()
