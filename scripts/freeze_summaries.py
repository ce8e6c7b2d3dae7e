#!/usr/bin/env python3
"""Keep chapters 1-3's typed summaries of a design the book no longer runs, so the scorecard can show what it found.

    python scripts/freeze_summaries.py --cache OLD_CACHE --profile cpu --source "commit 898f936" \
        --label "window 900" --out book/longer_window.json

The cpu book runs the design its budget buys (``twophase_book.profiles.protocol_design``). A longer design run once
outside that budget leaves its summaries in a cache; this script copies them, with the designs they ran (as the
cache stored them), the numerics fingerprint they were computed with and where they came from, into one JSON file
that ``scripts/make_scorecard.py`` renders as its own section. Nothing is recomputed or typed by hand.

Exits with 2 when the cache holds no summary of the profile for a claim, or more than one (name the right cache).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from twophase_book.claims import CLAIMS
from twophase_book.summary import ClaimSummary
from twophase_lib.cache import Cache

KINDS = tuple(c.kind for c in CLAIMS if c.across_machines)  # chapters 1-3's claims, on the paper's protocol


def freeze(cache: Cache, profile: str) -> dict[str, dict]:
    """{kind: {"summary", "designs", "numerics"}} for each claim of chapters 1-3 stored in ``cache`` at ``profile``.

    Raises:
        LookupError: a claim with no stored summary of the profile, or several (from different designs).
    """
    out = {}
    for kind in KINDS:
        found = [r for r in cache.records(f"{kind}-claim") if r["value"].get("profile") == profile]
        if len(found) != 1:
            raise LookupError(f"{len(found)} stored {kind} summaries of profile {profile!r} in {cache.root} "
                              "(expected exactly one)")
        record = found[0]
        ClaimSummary.from_dict(record["value"])  # refuses a summary that is not a typed one
        out[kind] = {"summary": record["value"], "designs": record["config"], "numerics": record["numerics"]["id"]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, required=True, help="the cache the longer design ran in")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--label", required=True, help="what distinguishes the design, e.g. 'window 900'")
    parser.add_argument("--source", required=True, help="where its code is, e.g. 'commit 898f936'")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        claims = freeze(Cache(args.cache), args.profile)
    except LookupError as e:
        print(f"freeze_summaries: {e}", file=sys.stderr)
        return 2
    data = {"label": args.label, "source": args.source, "profile": args.profile, "claims": claims}
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"freeze_summaries: {', '.join(claims)} summaries of {args.profile} ({args.label}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
