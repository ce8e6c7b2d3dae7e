"""Estimate what computing a profile's chapters costs on this machine before running them.

    python scripts/estimate_cost.py --profile cpu [--workers 2]
    python scripts/estimate_cost.py --profile ladder      # chapter 7's rungs, run outside the book

Counts the work of every chapter's studies (twophase_book.budget.chapter_studies; twophase_lib.costs.count_work:
SGD and linearized steps, comparisons, kernels by input count, predictions, evaluations; shared parents once),
times each unit once per network and batch size here (twophase_lib.costs.measure_units, one torch thread), and
prints the table, each chapter's cost as it runs in order (what an earlier chapter already computed is free to a
later one), the total, and the chapters' last measured cold times (book/run_times.json) where there are some.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from twophase_book.budget import chapter_costs
from twophase_book.claims import CLAIMS

ROOT = Path(__file__).resolve().parents[1]
PROFILES = tuple(dict.fromkeys(p for c in CLAIMS for p in c.profiles))  # the book's, and chapter 7's ladder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="also write the estimate here")
    args = parser.parse_args(argv)
    costs = chapter_costs(args.profile, args.workers)
    est, units = costs["estimate"], costs["units"]
    print(f"{'network':<22} {'unit':<20} {'count':>9} {'s/unit':>9} {'seconds':>9}")
    for net, unit, n, s in est["rows"]:
        print(f"{net:<22} {unit:<20} {n:>9,} {units[net].seconds[unit]:>9.4f} {s:>9.0f}")
    times_path = ROOT / "book" / "run_times.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    print(f"{'chapter':<30} {'modelled (min)':>15} {'last measured cold (min)':>25}")
    for name, seconds in costs["chapters"].items():
        measured = times.get(name, {}).get(args.profile, {}).get("seconds")
        print(f"{name:<30} {seconds / 60:>15.1f} {(f'{measured / 60:.1f}' if measured else '–'):>25}")
    print(f"total {est['total_s'] / 60:.1f} min of one core; {est['wall_s'] / 60:.1f} min on {args.workers} workers "
          "(ideal sharing between workers; twins shared between schedules counted per schedule)")
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "workers": args.workers, **est,
                                         "chapters": costs["chapters"],
                                         "units": {k: v.seconds for k, v in units.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
