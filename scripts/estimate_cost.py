"""Estimate what computing a profile's chapters costs on this machine before running them.

    python scripts/estimate_cost.py --profile cpu [--workers 2]

Counts the work of chapters 1-3's studies (twophase_lib.costs.count_work: SGD and linearized steps, comparisons,
kernels, predictions, evaluations; shared parents once), times each unit once per network here
(twophase_lib.costs.measure_units, one torch thread), and prints the table, the total and the wall time on the
workers, beside the chapters' last measured cold times (book/run_times.json) where there are some.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from twophase_book.chaos import chapter_maps, entry_maps, extension_sweeps
from twophase_book.cone import check_input_studies, lag_studies
from twophase_book.profiles import PROFILES, protocol_designs
from twophase_book.switch import window_studies
from twophase_lib.costs import UnitCosts, count_work, estimate, measure_units, network_label

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, help="also write the estimate here")
    args = parser.parse_args(argv)
    designs = protocol_designs(args.profile)
    studies = [*chapter_maps(designs).values(), *entry_maps(designs).values(), *extension_sweeps(designs).values(),
               *lag_studies(designs).values(), *check_input_studies(designs).values(),
               *window_studies(designs).values()]
    work = count_work(studies)
    units = {}
    for d in designs.values():
        print(f"estimate_cost: timing the units of {network_label(d.run)} ...", file=sys.stderr, flush=True)
        u = measure_units(d.run, d.barrier, d.kernel_inputs)
        # the chapters' kernels differ in size (twins' eNTK on test inputs, chapter 2's on training inputs): an
        # average weighted by how many of each the design computes
        cone = measure_units(d.run, d.barrier, d.cone_inputs, steps=1).seconds["kernels"]
        n_map = len(d.seeds) * len(d.t0s) * len(d.deltas)
        n_cone = len(d.cone_steps) * (len(d.seeds) + len(d.cone_reference_seeds) + 1)
        seconds = dict(u.seconds, kernels=(u.seconds["kernels"] * n_map + cone * n_cone) / (n_map + n_cone))
        units[u.network] = UnitCosts(u.network, seconds)
    est = estimate(work, units, args.workers)
    print(f"{'network':<16} {'unit':<17} {'count':>9} {'s/unit':>9} {'seconds':>9}")
    for net, unit, n, s in est["rows"]:
        print(f"{net:<16} {unit:<17} {n:>9,} {units[net].seconds[unit]:>9.4f} {s:>9.0f}")
    print(f"total {est['total_s'] / 60:.1f} min of one core; {est['wall_s'] / 60:.1f} min on {args.workers} workers "
          "(ideal sharing between workers; twins shared between schedules counted per schedule)")
    times_path = ROOT / "book" / "run_times.json"
    if times_path.exists():
        times = json.loads(times_path.read_text())
        measured = [times.get(ch, {}).get(args.profile, {}).get("seconds") for ch in
                    ("01_chaos_effect", "02_cone_effect", "03_linearized_switch")]
        if all(measured):
            print(f"measured cold (book/run_times.json): chapters 1-3 {sum(measured) / 60:.1f} min")
    if args.json:
        args.json.write_text(json.dumps({"profile": args.profile, "workers": args.workers, **est,
                                         "units": {k: v.seconds for k, v in units.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
