"""eNTK cost against two references measured in the same process: the per-output autograd loop and the floor.

The floor is what any method must pay: n·K per-example backward passes at the trainer's measured
backward throughput, plus one GEMM of 2·(nK)²·P flops at the measured matmul rate. Also reports
the ``sum`` kernel's cost relative to ``full`` and the peak resident memory of a budgeted kernel.

    python bench/bench_ntk.py [--n 50 200] [--width 1.0]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from twophase_lib.config import ModelConfig
from twophase_lib.data import DataConfig, load_data
from twophase_lib.models import build_model
from twophase_lib.ntk import empirical_ntk


def seconds(fn, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
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


def floor_seconds(model, x, k: int) -> tuple[float, float, float]:
    """(backward part, GEMM part, GEMM rate in GFLOP/s) of the floor for n inputs and K logits."""
    n, p = len(x), sum(v.numel() for v in model.parameters())
    batch = x[:64].repeat((128 + 63) // 64, 1, 1, 1)[:128]
    y = torch.zeros(len(batch), dtype=torch.long)
    model.train()
    for _ in range(2):
        F.cross_entropy(model(batch), y).backward()
    t = seconds(lambda: F.cross_entropy(model(batch), y).backward(), 3)
    model.eval()
    per_example = t / len(batch)
    a = torch.randn(n * k, p)
    gemm = seconds(lambda: a @ a.T, 2)
    rate = 2 * (n * k) ** 2 * p / gemm / 1e9
    return n * k * per_example, gemm, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--loop-max-n", type=int, default=50, help="skip the slow per-output loop above this n")
    args = parser.parse_args()
    model = build_model(ModelConfig("resnet20", args.width)).eval()
    data = load_data(DataConfig("cifar10-subset"))
    p = sum(v.numel() for v in model.parameters())
    print(f"ResNet-20 width {args.width}: P = {p:,}, K = 10, {torch.get_num_threads()} threads")
    for n in args.n:
        x = data.x_test[:n]
        full = seconds(lambda: empirical_ntk(model, x, "full", accumulate_dtype=torch.float32))
        summed = seconds(lambda: empirical_ntk(model, x, "sum", accumulate_dtype=torch.float32))
        back, gemm, rate = floor_seconds(model, x, 10)
        floor = back + gemm
        print(f"\nn = {n}: full kernel {full:.2f} s; floor {floor:.2f} s (backward {back:.2f} s + GEMM {gemm:.2f} s "
              f"at {rate:.0f} GFLOP/s): ratio to floor {full / floor:.2f}x (target <= 1.25x)")
        print(f"  sum kernel {summed:.2f} s: full/sum = {full / summed:.1f}x (target >= 5x)")
        if n <= args.loop_max_n:
            loop = seconds(lambda: per_output_loop(model, x))
            print(f"  per-output autograd loop {loop:.2f} s: speed-up {loop / full:.2f}x")
    print(f"\npeak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
