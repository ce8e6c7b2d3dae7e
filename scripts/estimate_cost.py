"""Estimate what computing a profile's chapters costs on this machine before running them.

    python scripts/estimate_cost.py --profile cpu [--workers 2]

Counts the work of the studies of chapters 1-3 and 6 (twophase_lib.costs.count_work: SGD and linearized steps,
comparisons, kernels by input count, predictions, evaluations; shared parents once), times each unit once per
network and batch size here (twophase_lib.costs.measure_units, one torch thread), and prints the table, each
chapter's cost as it runs in order (what an earlier chapter already computed is free to a later one), the total,
and the chapters' last measured cold times (book/run_times.json) where there are some.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from twophase_book.chaos import bn_init_maps, chapter_maps, entry_maps, extension_sweeps
from twophase_book.cone import check_input_studies, lag_studies
from twophase_book.profiles import PROFILES, protocol_designs
from twophase_book.switch import window_studies
from twophase_book.transition import transition_design, transition_maps
from twophase_lib.costs import count_work, estimate, measure_units, network_label

ROOT = Path(__file__).resolve().parents[1]


def chapter_studies(profile: str) -> dict[str, list]:
    """The studies each chapter computes, in the book's order."""
    designs = protocol_designs(profile)
    return {
        "01_chaos_effect": [*chapter_maps(designs).values(), *entry_maps(designs).values(),
                            *bn_init_maps(designs).values(), *extension_sweeps(designs).values()],
        "02_cone_effect": [*lag_studies(designs).values(), *check_input_studies(designs).values()],
        "03_linearized_switch": list(window_studies(designs).values()),
        "06_what_moves_the_transition": list(transition_maps(transition_design(profile)).values()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="also write the estimate here")
    args = parser.parse_args(argv)
    chapters = chapter_studies(args.profile)
    studies = [st for group in chapters.values() for st in group]
    work = count_work(studies)
    barrier = next(iter(protocol_designs(args.profile).values())).barrier
    runs = {network_label(st.run): st.run for st in studies}
    units = {}
    for label, run in runs.items():
        print(f"estimate_cost: timing the units of {label} ...", file=sys.stderr, flush=True)
        units[label] = measure_units(run, barrier, work.kernel_sizes(label))
    est = estimate(work, units, args.workers)
    print(f"{'network':<22} {'unit':<20} {'count':>9} {'s/unit':>9} {'seconds':>9}")
    for net, unit, n, s in est["rows"]:
        print(f"{net:<22} {unit:<20} {n:>9,} {units[net].seconds[unit]:>9.4f} {s:>9.0f}")
    times_path = ROOT / "book" / "run_times.json"
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    print(f"{'chapter':<30} {'modelled (min)':>15} {'last measured cold (min)':>25}")
    done: list = []
    per_chapter = {}
    before = 0.0
    for name, group in chapters.items():
        done += group
        upto = estimate(count_work(done), units, args.workers)["wall_s"]
        per_chapter[name] = upto - before
        before = upto
        measured = times.get(name, {}).get(args.profile, {}).get("seconds")
        print(f"{name:<30} {per_chapter[name] / 60:>15.1f} {(f'{measured / 60:.1f}' if measured else '–'):>25}")
    print(f"total {est['total_s'] / 60:.1f} min of one core; {est['wall_s'] / 60:.1f} min on {args.workers} workers "
          "(ideal sharing between workers; twins shared between schedules counted per schedule)")
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "workers": args.workers, **est,
                                         "chapters": per_chapter, "units": {k: v.seconds for k, v in units.items()}},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
