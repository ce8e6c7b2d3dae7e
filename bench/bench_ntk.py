"""eNTK cost against two references measured in the same process: the per-output autograd loop and the floor.

The floor is what any method must pay: n·K per-example backward passes at the trainer's measured
backward throughput, plus one GEMM of 2·(nK)²·P flops at the measured matmul rate. Also reports
the ``sum`` kernel's cost relative to ``full``, float64 products against float32, and (``--memory-check``)
the peak resident memory of a budgeted VGG-16 kernel, measured in a fresh subprocess.

    python bench/bench_ntk.py [--n 50 200] [--width 1.0] [--memory-check [--budget-gib 2]]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from twophase_lib.config import ModelConfig
from twophase_lib.data import DataConfig, load_data
from twophase_lib.models import build_model
from twophase_lib.ntk import empirical_ntk, kernel_distance, plan_kernel


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def seconds(fn, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (the device synchronised around each)."""
    best = float("inf")
    for _ in range(repeat):
        _sync()
        t = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - t)
    return best


def per_output_loop(model, x) -> torch.Tensor:
    """The brute-force reference: one autograd call per (example, logit)."""
    rows = []
    params = list(model.parameters())
    for i in range(len(x)):
        out = model(x[i : i + 1])[0]
        for k in range(out.shape[0]):
            rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(out[k], params, retain_graph=True)]))
    j = torch.stack(rows)
    return j @ j.T


def tutorial_ntk(model, x) -> torch.Tensor:
    """The torch.func NTK tutorial's method, the simplest peer: ``vmap(jacrev)`` Jacobians and an ``einsum`` per
    tensor."""
    from torch.func import functional_call, jacrev, vmap

    params = {k: v.detach() for k, v in model.named_parameters()}
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def f(p, xi):
        return functional_call(model, (p, buffers), (xi.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(f), (None, 0))(params, x)
    jac = [j.flatten(2) for j in jac.values()]  # each (n, K, P_i)
    out = torch.stack([torch.einsum("Naf,Mbf->NaMb", j, j) for j in jac]).sum(0)
    n, k = out.shape[:2]
    return out.reshape(n * k, n * k)


def floor_seconds(model, x, k: int) -> tuple[float, float, float]:
    """(backward part, GEMM part, GEMM rate in GFLOP/s) of the floor for n inputs and K logits."""
    n, p = len(x), sum(v.numel() for v in model.parameters())
    batch = x[:64].repeat((128 + 63) // 64, 1, 1, 1)[:128]
    y = torch.zeros(len(batch), dtype=torch.long, device=x.device)
    model.train()
    for _ in range(2):
        F.cross_entropy(model(batch), y).backward()
    t = seconds(lambda: F.cross_entropy(model(batch), y).backward(), 3)
    model.eval()
    per_example = t / len(batch)
    a = torch.randn(n * k, p, device=x.device)
    gemm = seconds(lambda: a @ a.T, 2)
    rate = 2 * (n * k) ** 2 * p / gemm / 1e9
    return n * k * per_example, gemm, rate


def peak_rss() -> int:
    """The process's peak resident set size in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_child(arch: str, width: float, n: int, budget: int) -> None:
    """In a fresh process: the rise of peak RSS while computing one budgeted kernel (float32), as JSON."""
    model = build_model(ModelConfig(arch, width)).eval()
    x = load_data(DataConfig("cifar10-subset")).x_test[:n]
    with torch.no_grad():
        model(x[:2])
    plan = plan_kernel(model, n, 10, budget)
    before = peak_rss()
    t = time.perf_counter()
    k = empirical_ntk(model, x, "full", memory_budget=budget)
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - t,
                "before": before,
                "after": peak_rss(),
                "groups": len(plan.groups),
                "passes": plan.passes(n),
                "planned": plan.peak_bytes,
                "p": sum(v.numel() for v in model.parameters()),
                "shape": list(k.shape),
                "finite": bool(torch.isfinite(k).all()),
            }
        )
    )


def memory_check(arch: str, width: float, n: int, budget_gib: float) -> None:
    """Run :func:`memory_child` in a subprocess and compare the peak-RSS rise with the budget."""
    budget = int(budget_gib * 2**30)
    cmd = [sys.executable, __file__, "--child", arch, str(width), str(n), str(budget)]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    rise = r["after"] - r["before"]
    whole = n * 10 * r["p"] * 4
    print(
        f"\nmemory: {arch} width {width} (P = {r['p']:,}), n = {n}, K = 10: the whole float32 Jacobian would be "
        f"{whole / 2**30:.1f} GiB; budget {budget / 2**30:.2f} GiB -> plan of {r['groups']} parameter groups, "
        f"{r['passes']} example-Jacobians (vs {n} unblocked), planned peak {r['planned'] / 2**30:.2f} GiB"
    )
    print(
        f"  peak RSS rise during the kernel {rise / 2**30:.2f} GiB ({rise / budget:.2f}x the budget; "
        f"process peak {r['after'] / 2**30:.2f} GiB, {r['before'] / 2**30:.2f} GiB before); {r['seconds']:.0f} s; "
        f"kernel {r['shape']} finite: {r['finite']}"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        arch, width, n, budget = sys.argv[2:6]
        memory_child(arch, float(width), int(n), int(budget))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[50, 200])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--loop-max-n", type=int, default=50, help="skip the slow per-output loop above this n")
    parser.add_argument("--tutorial-max-n", type=int, default=200, help="skip the tutorial's method above this n")
    parser.add_argument("--memory-check", action="store_true", help="VGG-16 at full width, n = 100, in a subprocess")
    parser.add_argument("--budget-gib", type=float, default=2.0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (for the GPU target: >= 20x the per-output loop)")
    args = parser.parse_args()
    model = build_model(ModelConfig("resnet20", args.width)).to(args.device).eval()
    data = load_data(DataConfig("cifar10-subset"), args.device)
    p = sum(v.numel() for v in model.parameters())
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"{torch.get_num_threads()} threads"
    print(
        f"ResNet-20 width {args.width}: P = {p:,}, K = 10, {where}; times are the best "
        f"of 3 warm calls (first call in brackets); default memory budget 2 GiB"
    )
    for n in args.n:
        x = data.x_test[:n]
        first = seconds(lambda: empirical_ntk(model, x, "full"))
        full = seconds(lambda: empirical_ntk(model, x, "full"), 3)
        full64 = seconds(lambda: empirical_ntk(model, x, "full", accumulate_dtype=torch.float64), 2)
        summed = seconds(lambda: empirical_ntk(model, x, "sum"), 3)
        back, gemm, rate = floor_seconds(model, x, 10)
        floor = back + gemm
        plan = plan_kernel(model, n, 10, 2 << 30)
        print(
            f"\nn = {n}: full kernel {full:.2f} s [{first:.2f} s] ({len(plan.groups)} parameter group(s)); "
            f"floor {floor:.2f} s (backward {back:.2f} s + GEMM {gemm:.2f} s at {rate:.0f} GFLOP/s): "
            f"ratio to floor {full / floor:.2f}x (target <= 1.25x)"
        )
        print(f"  sum kernel {summed:.2f} s: full/sum = {full / summed:.1f}x (target >= 5x)")
        k32 = empirical_ntk(model, x, "full")
        k64 = empirical_ntk(model, x, "full", accumulate_dtype=torch.float64)
        print(
            f"  float64 products {full64:.2f} s ({full64 / full:.2f}x float32); S(float32 kernel, float64 kernel) = "
            f"{kernel_distance(k32, k64):.1e}, max relative entry difference "
            f"{float(((k32.double() - k64).abs().max() / k64.abs().max())):.1e}"
        )
        if n <= args.tutorial_max_n:
            tut = seconds(lambda: tutorial_ntk(model, x), 2)
            agree = kernel_distance(tutorial_ntk(model, x), k32)
            print(
                f"  torch.func tutorial (vmap(jacrev) + einsum) {tut:.2f} s: ours is {tut / full:.2f}x faster "
                f"(target >= 1); S(tutorial, ours) = {agree:.1e}"
            )
        if n <= args.loop_max_n:
            loop = seconds(lambda: per_output_loop(model, x), 2)
            print(f"  per-output autograd loop {loop:.2f} s: speed-up {loop / full:.2f}x")
    print(f"\npeak resident memory of this process: {peak_rss() / 2**30:.2f} GiB")
    if args.memory_check:
        memory_check("vgg16", 1.0, 100, args.budget_gib)


if __name__ == "__main__":
    main()
