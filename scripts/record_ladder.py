#!/usr/bin/env python3
"""Keep the scale ladder's measurements for the book: every rung the ``ladder`` profile measured in a cache, with the
runs that computed them (rungs, wall times, dates), the numerics fingerprint and the commit, in book/ladder.json,
which chapter 7 reads at the ``cpu`` profile. Nothing is recomputed or typed by hand.

    make chapter NB=notebooks/07_paper_or_scale.py PROFILE=ladder PARAMS='-p rungs resnet20'   # a part, < 2 h
    python scripts/record_ladder.py                  # all rungs measured so far (the missing ones are listed)

The cache keys every result by its numerics fingerprint, so a record holds rungs computed by one set of kernels
only (this machine's). Exits with 2 when the cache holds no rung of the ladder under it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from twophase_book.scale import LADDER_RECORD, MEASURE_VERSION, load_measures
from twophase_lib.cache import Cache
from twophase_lib.numerics import fingerprint

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="the cache the ladder ran in (default "
                        "$TWOPHASE_CACHE)")
    parser.add_argument("--out", type=Path, default=ROOT / LADDER_RECORD)
    args = parser.parse_args(argv)
    cache = Cache(args.cache)
    measures, missing, runs = load_measures(cache, "ladder")
    if not measures:
        print(f"record_ladder: no rung of the ladder is measured in {cache.root} under {fingerprint().id}",
              file=sys.stderr)
        return 2
    commits = sorted({r.get("commit", "unknown") for r in runs})
    data = {"profile": "ladder", "measure_version": MEASURE_VERSION, "numerics": fingerprint().id,
            "source": f"computed at commit {', '.join(commits)}", "recorded": datetime.date.today().isoformat(),
            "runs": runs, "missing": missing, "rungs": {m.spec.id: m.to_dict() for m in measures}}
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"record_ladder: {len(measures)} rungs ({len(missing)} missing: {', '.join(missing) or 'none'}) -> "
          f"{args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
