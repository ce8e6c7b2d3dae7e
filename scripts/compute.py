#!/usr/bin/env python3
"""Compute every result the book's chapters read at a profile, on one pool of worker processes.

    python scripts/compute.py --profile cpu [--workers N] [--only cone switch]

The stages are the claims of the registry (twophase_book.claims.CLAIMS), in the book's order; each computes its
claim's studies with the study functions the chapters call, so the chapters then find everything in the cache.
Running this first keeps both cores busy across chapter boundaries. Results go to $TWOPHASE_CACHE (see README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from twophase_book.claims import CLAIMS, claim_studies, compute
from twophase_lib.cache import Cache
from twophase_lib.ray_executor import executor_from_env

STAGES = tuple(c.kind for c in CLAIMS)
PROFILES = tuple(dict.fromkeys(p for c in CLAIMS for p in c.profiles))  # the book's, and the scale ladder's


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: $TWOPHASE_WORKERS or the cores)"
    )
    parser.add_argument("--only", nargs="+", choices=STAGES, default=STAGES, help="compute only these stages")
    args = parser.parse_args(argv)
    cache, times = Cache(), {}
    with executor_from_env(args.workers) as ex:
        workers = ex.workers  # read while the executor is open: a Ray executor asks its cluster
        for c in CLAIMS:
            if c.kind not in args.only or args.profile not in c.profiles:
                continue
            start = time.perf_counter()
            compute(claim_studies(c.kind, args.profile), cache, ex, desc=f"{c.title}")
            times[c.kind] = round(time.perf_counter() - start, 1)
            print(f"compute: {c.kind} done in {times[c.kind]:.0f} s", flush=True)
    print(json.dumps({"profile": args.profile, "workers": workers, "seconds": times}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
