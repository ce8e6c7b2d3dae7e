#!/usr/bin/env python3
"""Does this machine's oneDNN compute a strided 1×1 convolution's weight gradient right in channels-last?

    python scripts/check_onednn_pointwise.py [--channels 2 4 8 12 16] [--batch 16 64] [--size 32 16]

oneDNN's ``jit_1x1`` backward-weights kernel writes past its workspace when a 1×1 convolution of stride 2 has fewer
input channels than its channel block (8 with AVX2, 16 with AVX-512): a crash, a hang or silently wrong gradients,
by machine (uxlfoundation/oneDNN#6035). The zoo's networks avoid it (``twophase_lib.models.PointwiseConv2d``); this
script says whether results computed with ``nn.Conv2d`` on this machine — as the book's ResNet-20 runs were before
CACHE_VERSION 3 — were affected. Each case runs in its own process, one torch thread as every cached computation,
and is compared with a float64 reference: ``ok``, ``WRONG`` (max relative error), ``CRASH`` (signal) or ``HANG``
(timeout). Exits 1 when any case is not ``ok``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CASE = """
import sys, torch
torch.set_num_threads(1)
c_in, batch, size = map(int, sys.argv[1:4])
g = torch.Generator().manual_seed(0)
w, x = torch.randn(2 * c_in, c_in, 1, 1, generator=g), torch.randn(batch, c_in, size, size, generator=g)
dy = torch.randn(batch, 2 * c_in, size // 2, size // 2, generator=g)
def grad(w, x, dy, layout):
    w = w.contiguous(memory_format=layout).requires_grad_(True)
    y = torch.nn.functional.conv2d(x.contiguous(memory_format=layout), w, stride=2)
    return torch.autograd.grad(y, w, dy.contiguous(memory_format=layout))[0]
got = grad(w, x, dy, torch.channels_last).double()
want = grad(w.double(), x.double(), dy.double(), torch.contiguous_format)
print(float(((got - want).abs().max() / want.abs().max())))
"""


def check(c_in: int, batch: int, size: int, timeout: float) -> str:
    """One case's outcome: "ok", "WRONG (relative error e)", "CRASH (signal n)" or "HANG"."""
    try:
        p = subprocess.run([sys.executable, "-c", CASE, str(c_in), str(batch), str(size)], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "HANG"
    if p.returncode != 0:
        return f"CRASH (exit {p.returncode})"
    err = float(p.stdout.strip().splitlines()[-1])
    return "ok" if err < 1e-4 else f"WRONG (relative error {err:.2g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[2, 4, 8, 12, 16])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--size", type=int, nargs="+", default=[32, 16])
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    args = parser.parse_args(argv)
    from twophase_lib.numerics import fingerprint

    here = fingerprint()
    print(f"numerics {here.id}: torch {here.torch}, oneDNN {here.onednn}, CPU capability {here.cpu_capability}")
    bad = 0
    for c_in in args.channels:
        for batch in args.batch:
            for size in args.size:
                outcome = check(c_in, batch, size, args.timeout)
                bad += outcome != "ok"
                print(f"input channels {c_in:>3}, batch {batch:>4}, {size}×{size}: {outcome}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
