#!/usr/bin/env python3
"""Keep the scale ladder's measurements for the book: every rung the ``ladder`` profile measured in a cache, with the
runs that computed them (rungs, wall times, dates), the numerics fingerprint and the commit, in book/ladder.json,
which chapter 7 reads at the ``cpu`` profile. Nothing is recomputed or typed by hand.

    make chapter NB=notebooks/07_paper_or_scale.py PROFILE=ladder PARAMS='-p rungs resnet20'   # a part, < 2 h
    python scripts/record_ladder.py                  # all rungs measured so far (the missing ones are listed)

The ladder runs in parts, often in different sessions whose caches do not survive, on machines that differ: the
record accumulates them. The rungs already recorded are kept, and the cache's rungs are added (a rung in both is taken
from the cache). Each rung keeps the numerics fingerprint and the code version (``CACHE_VERSION``; 2 in a record that
predates it) that computed it: a rung's studies never mix kernels, and rungs of one trend may come from different
machines (chapter 7 lists them). Code is never mixed within a series, one network at one batch size (``Rung.series``:
the rungs one trend is fitted over, with their half-data companion): when this cache's rungs belong to a series whose
recorded rungs another code version computed, the script refuses (exit 3) unless ``--replace`` is given, which drops
those recorded rungs (the other series are kept). A record of an older measurement version (:data:`MEASURE_VERSION`)
is replaced, and the script says so. The GPU rungs (``scale.GPU_WIDTHS``) are read only where CUDA is (their keys
hold the GPU's fingerprint): ``scripts/gpu_book.py --ladder`` runs this script there, on a copy of the record. Exits
with 2 when neither the cache nor the record holds a rung of the ladder.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from twophase_book.scale import (
    LADDER_RECORD,
    MEASURE_VERSION,
    Rung,
    ladder_rungs,
    load_measures,
    record_code,
    record_numerics,
)
from twophase_lib.cache import Cache
from twophase_lib.config import CACHE_VERSION
from twophase_lib.numerics import fingerprint

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="the cache the ladder ran in (default "
                        "$TWOPHASE_CACHE)")
    parser.add_argument("--out", type=Path, default=ROOT / LADDER_RECORD)
    parser.add_argument("--replace", action="store_true", help="drop the recorded rungs another code version "
                        "computed in a series this cache adds to")
    args = parser.parse_args(argv)
    cache = Cache(args.cache)
    here = fingerprint().id
    measures, _, runs = load_measures(cache, "ladder")
    rungs = {m.spec.id: m.to_dict() for m in measures}
    # a GPU rung ran on the CUDA device (its cache key holds that fingerprint), the others on this CPU
    numerics = {m.spec.id: fingerprint("cuda").id if m.spec.gpu else here for m in measures}
    runs = [{**r, "numerics": numerics[r["rungs"][0]], "cache_version": CACHE_VERSION}  # the cache's keys hold both
            for r in runs]
    code = {rid: CACHE_VERSION for rid in rungs}
    old = json.loads(args.out.read_text()) if args.out.exists() else None
    if old is not None and old.get("measure_version") != MEASURE_VERSION:
        print(f"record_ladder: {args.out} holds measurement version {old.get('measure_version')!r}, not "
              f"{MEASURE_VERSION}: it is replaced by this cache's rungs", file=sys.stderr)
        old = None
    if old is not None:
        was, was_code = record_numerics(old), record_code(old)
        series = {Rung(**v["rung"]).series for v in rungs.values()}
        clash = {rid: v for rid, v in was_code.items() if rid not in rungs and v != CACHE_VERSION
                 and Rung(**old["rungs"][rid]["rung"]).series in series}
        if clash and not args.replace:
            print(f"record_ladder: {args.out} holds {', '.join(f'{r} (code version {v})' for r, v in clash.items())} "
                  f"in the series of this cache's rungs, computed by code version {CACHE_VERSION}: a series never "
                  "mixes code. Re-run those rungs here, or pass --replace to drop them", file=sys.stderr)
            return 3
        kept = {k: v for k, v in old["rungs"].items() if k not in rungs and k not in clash}
        numerics = {**{r: was[r] for r in kept}, **numerics}
        code = {**{r: was_code[r] for r in kept}, **code}
        rungs = {**kept, **rungs}
        # a run recorded before runs kept their fingerprint and code version ran under its first rung's
        old_runs = [{"numerics": was[r["rungs"][0]], "cache_version": was_code[r["rungs"][0]], **r}
                    for r in old["runs"] if set(r["rungs"]) & set(kept)]
        runs = old_runs + [r for r in runs if r not in old_runs]
    if not rungs:
        print(f"record_ladder: no rung of the ladder is measured in {cache.root} under {here}", file=sys.stderr)
        return 2
    order = [r.id for r in ladder_rungs("ladder")]
    missing = [r for r in order if r not in rungs]
    commits = sorted({r.get("commit", "unknown") for r in runs})
    held = [k for k in order if k in rungs]
    data = {"profile": "ladder", "measure_version": MEASURE_VERSION,
            "numerics": {k: numerics[k] for k in held}, "code": {k: code[k] for k in held},
            "source": f"computed at commit {', '.join(commits)}", "recorded": datetime.date.today().isoformat(),
            "runs": runs, "missing": missing, "rungs": {k: rungs[k] for k in order if k in rungs}}
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"record_ladder: {len(rungs)} rungs ({len(missing)} missing: {', '.join(missing) or 'none'}) -> "
          f"{args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
