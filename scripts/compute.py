#!/usr/bin/env python3
"""Compute every result the book's chapters read at a profile, on one pool of worker processes.

    python scripts/compute.py --profile cpu [--workers N] [--only cone switch]

The chapters call the same study functions and find everything in the cache; running this first
keeps both cores busy across chapter boundaries. Results go to $TWOPHASE_CACHE (see README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from twophase_book import beyond
from twophase_book.chaos import bn_init_maps, chapter_maps, entry_maps, extension_maps
from twophase_book.cone import check_input_studies, lag_studies
from twophase_book.profiles import PROFILES, protocol_designs
from twophase_book.switch import window_studies
from twophase_book.transition import transition_design, transition_maps
from twophase_lib.cache import Cache
from twophase_lib.chaos import run_chaos_maps
from twophase_lib.cone import run_studies
from twophase_lib.ray_executor import executor_from_env
from twophase_lib.switch import run_switch_studies

STAGES = ("chaos", "cone", "switch", "beyond", "transition")


def chaos_all(profile: str, cache: Cache, ex) -> None:
    """Chapter 1's maps (both readings of ε, the batch-norm initialisation ablation) and the step-schedule
    extension."""
    designs = protocol_designs(profile)
    run_chaos_maps({**chapter_maps(designs), **{f"{a} (per-entry ε)": m for a, m in entry_maps(designs).items()},
                    **{f"{a} (batch-norm init)": m for a, m in bn_init_maps(designs).items()},
                    **{f"{a} (step schedule)": m for a, m in extension_maps(designs).items()}},
                   cache, ex, desc="chapter 1: (t0, t1) maps")


def beyond_all(profile: str, cache: Cache, ex) -> None:
    """Chapter 4's three analyses on its three tasks."""
    designs = beyond.chapter_designs(profile)
    run_chaos_maps(beyond.beyond_maps(designs), cache, ex, desc="chapter 4: (t0, t1) maps")
    run_studies(lag_studies(designs), cache, ex, desc="chapter 4: eNTK on training inputs")
    run_switch_studies(beyond.beyond_switches(designs), cache, ex, desc="chapter 4: switched runs")


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
        for name, work in (
            ("chaos", lambda: chaos_all(args.profile, cache, ex)),
            ("cone", lambda: run_studies({**lag_studies(protocol_designs(args.profile)),
                                          **{f"{a} (test inputs)": s for a, s in
                                             check_input_studies(protocol_designs(args.profile)).items()}},
                                         cache, ex, desc="chapter 2: eNTK along the runs")),
            ("switch", lambda: run_switch_studies(window_studies(protocol_designs(args.profile)), cache, ex,
                                                  desc="chapter 3: switched runs")),
            ("beyond", lambda: beyond_all(args.profile, cache, ex)),
            ("transition", lambda: run_chaos_maps(transition_maps(transition_design(args.profile)), cache, ex,
                                                  desc="chapter 6: settings")),
        ):
            if name not in args.only:
                continue
            start = time.perf_counter()
            work()
            times[name] = round(time.perf_counter() - start, 1)
            print(f"compute: {name} done in {times[name]:.0f} s", flush=True)
    print(json.dumps({"profile": args.profile, "workers": workers, "seconds": times}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
