#!/usr/bin/env python3
"""Run chapters 1–3 under several numerics fingerprints and record their headline results for the book's page
"Across machines" (book/across_machines.json; scripts/make_scorecard.py renders it).

    python scripts/across_machines.py --profile cpu --capabilities native avx2 default

Each capability is one complete run in its own processes: ``native`` as the machine comes, the others with
``ATEN_CPU_CAPABILITY`` set (ATen then takes its kernels of that level, which round differently: a stand-in for
another CPU). The cache keys every result by its numerics fingerprint (twophase_lib.numerics), so the runs share a
cache folder without ever reading each other's results. For each: ``scripts/compute.py`` (chapters 1–3's stages,
both cores busy), then chapters 1–3 executed into ``_build/chapters/<profile>-<capability>/`` (they save their
summaries), then the summaries are read back under that fingerprint and stored, replacing an earlier record of the
same fingerprint and profile. ``--skip-compute`` goes straight to the chapters.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from twophase_book.claims import CLAIMS
from twophase_book.profiles import PROFILES
from twophase_lib.config import CACHE_VERSION

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "book" / "across_machines.json"
CAPABILITIES = ("native", "default", "avx2", "avx512")
CHAPTERS = tuple(f"notebooks/{c.chapter}.py" for c in CLAIMS if c.across_machines)
READ = """
import json, sys
from twophase_lib.cache import Cache
from twophase_lib.numerics import fingerprint
from twophase_book.pages import ACROSS_KINDS, load_claim_summary
profile = sys.argv[1]
found = {k: load_claim_summary(Cache(), k, profile) for k, _ in ACROSS_KINDS}
print(json.dumps({"fingerprint": fingerprint().as_dict(),
                  "summaries": {k: None if s is None else s.to_dict() for k, s in found.items()}}))
"""


def code_version(run: dict) -> int:
    """The code version a recorded run was computed by (:data:`twophase_lib.config.CACHE_VERSION` when it ran; 2
    for runs recorded before runs kept it)."""
    return run.get("cache_version", 2)


def environment(capability: str) -> dict:
    """This process's environment with ATEN_CPU_CAPABILITY set for ``capability`` (removed for ``native``)."""
    env = dict(os.environ)
    env.pop("ATEN_CPU_CAPABILITY", None)
    if capability != "native":
        env["ATEN_CPU_CAPABILITY"] = capability
    return env


def merge(data: dict, profile: str, run: dict) -> dict:
    """``data`` with ``run`` stored for ``profile``, replacing a run of the same fingerprint; a file of another
    profile is replaced whole (its runs would not compare), and so are runs of an older protocol when ``run`` holds
    the current one (typed summaries), and runs of another code version (``cache_version``,
    :data:`twophase_lib.config.CACHE_VERSION`; a run recorded before runs kept it is of version 2): a page never
    sets verdicts of two protocols, or of two versions of the code, side by side."""
    if data.get("profile") != profile:
        data = {"profile": profile, "runs": []}
    typed = lambda r: all("cells" in s for s in r["summaries"].values() if s)  # noqa: E731
    runs = [r for r in data.get("runs", []) if r["fingerprint"]["id"] != run["fingerprint"]["id"]
            and (typed(r) or not typed(run)) and code_version(r) == code_version(run)]
    return {"profile": profile, "runs": runs + [run]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="cpu", choices=PROFILES)
    parser.add_argument("--capabilities", nargs="+", default=["native", "avx2", "default"], choices=CAPABILITIES)
    parser.add_argument("--skip-compute", action="store_true", help="do not run scripts/compute.py first")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the JSON file (default {OUT.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    for cap in args.capabilities:
        env = environment(cap)
        print(f"across_machines: {cap}", flush=True)
        if not args.skip_compute:
            subprocess.run([sys.executable, "scripts/compute.py", "--profile", args.profile, "--only",
                            *(c.kind for c in CLAIMS if c.across_machines)], cwd=ROOT, env=env, check=True)
        subprocess.run([sys.executable, "scripts/run_chapters.py", "--profile", args.profile, "--out-dir",
                        f"_build/chapters/{args.profile}-{cap}", *CHAPTERS], cwd=ROOT, env=env, check=True)
        out = subprocess.run([sys.executable, "-c", READ, args.profile], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout
        run = {**json.loads(out), "capability": cap, "date": datetime.date.today().isoformat(),
               "cache_version": CACHE_VERSION}
        missing = [k for k, v in run["summaries"].items() if v is None]
        if missing:
            raise SystemExit(f"across_machines: no {missing} summary under {run['fingerprint']['id']} after the "
                             f"chapters ran")
        data = json.loads(args.out.read_text()) if args.out.exists() else {}
        args.out.write_text(json.dumps(merge(data, args.profile, run), indent=1, sort_keys=True) + "\n")
        print(f"across_machines: {cap} = {run['fingerprint']['id']} recorded in {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
