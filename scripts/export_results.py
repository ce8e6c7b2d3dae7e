#!/usr/bin/env python3
"""Export cached results as one tidy CSV table per kind, for analysis elsewhere.

    python scripts/export_results.py                       # every kind, into results/<kind>.csv
    python scripts/export_results.py --kind pair --out pairs.csv

Rows: one per cached result; columns: the configuration that produced it and the values, nested keys joined
by dots (``config.0.0.model.width``, ``value.disagreement``). Checkpoints and kernels are left out.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from twophase_lib.cache import Cache


def write_csv(rows: list[dict], path: Path) -> None:
    """Rows with possibly different keys as one CSV (the union of the keys, in first-seen order)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", action="append", help="kind of result (default: every kind in the cache)")
    parser.add_argument("--out", type=Path, help="output file (with one --kind) or folder (default: results/)")
    parser.add_argument("--cache", type=Path, help="cache folder (default: $TWOPHASE_CACHE)")
    args = parser.parse_args(argv)
    cache = Cache(args.cache)
    kinds = args.kind or cache.kinds()
    unknown = sorted(set(kinds) - set(cache.kinds()))
    if unknown:
        print(f"export_results: no results of kind {', '.join(unknown)} in {cache.root}; "
              f"stored kinds: {', '.join(cache.kinds()) or 'none'}", file=sys.stderr)
        return 2
    for kind in kinds:
        rows = cache.table(kind)
        out = args.out if (args.out and len(kinds) == 1 and args.out.suffix == ".csv") else \
            (args.out or Path("results")) / f"{kind}.csv"
        write_csv(rows, out)
        print(f"export_results: {len(rows)} rows of {kind} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
