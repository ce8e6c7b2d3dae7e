"""The cpu book's speed levers, each as a ratio against today's path measured in the same process, and a cost model.

Levers (the protocol's steps: ResNet-20 ×½ and VGG-16 ×⅛ at batch 64, the cpu designs):

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

Then the library's cost model (``twophase_book.budget.chapter_costs``, the same as ``scripts/estimate_cost.py``):
every chapter's studies counted, priced with the unit costs measured here, on the workers.

    python bench/bench_speed.py [--profile cpu] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time

import torch

from twophase_book.budget import chapter_costs
from twophase_book.profiles import ARCHS, protocol_design
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
        d = protocol_design(args.profile, arch)
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
            ("cpu design", d.chaos.barrier),
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
        checkpoint_kernel(run, a, d.cone.inputs, "full")
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
            checkpoint_kernel(wide, initial_checkpoint(wide), d.cone.inputs, "full")
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
        print(json.dumps({arch: report["levers"][arch]}, indent=2, ensure_ascii=False), flush=True)
    costs = chapter_costs(args.profile, workers)
    report["cost_model"] = {name: round(seconds / 60, 1) for name, seconds in costs["chapters"].items()}
    print(json.dumps({"cost_model_minutes": report["cost_model"]}, indent=2), flush=True)
    print(f"cost model, profile {args.profile}: {costs['estimate']['wall_s'] / 60:.1f} minutes on {workers} "
          "workers (twophase_book.budget.chapter_costs; chapter overheads not included)")


if __name__ == "__main__":
    main()
