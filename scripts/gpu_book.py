#!/usr/bin/env python3
"""The gpu edition in one prepared run on one GPU (issue 23): the step paths measured, then every chapter that
runs at the ``gpu`` profile (all but chapter 7, which runs at smoke, cpu and ladder), cold, with the executed
notebooks, the wall times and the measurements left under ``--out``.

    python scripts/gpu_book.py --out "$OUT" [--budget-s 540]      # on a machine with one GPU
    python scripts/gpu_book.py --plan                             # what it will run, and its modelled cost

A device call is limited to 10 minutes and a session's device time to 15: the book (17 minutes of GPU work
modelled) runs in two calls, on one warm machine or in two sessions, sharing a cache folder (carried in ``$OUT``
when the machine is not the same), each with its own ``--out``::

    python scripts/gpu_book.py --out "$OUT" --cache .cache/gpu-book --chapters 01 02 03
    python scripts/gpu_book.py --out "$OUT" --cache .cache/gpu-book --chapters 04 05 06 --no-measure

The run, in order, each step under what is left of ``--budget-s``:

1. ``bench/gpu_measure.py --only "/cuda graphs"``: the graphed path with batches from the host and with planned
   batches (bitwise against the host-fed eager path, an ε = 0 twin exact, steps per second of both), into
   ``OUT/gpu_measure.json``;
2. ``scripts/run_chapters.py --profile gpu --record-time`` on those chapters, on a fresh cache (a cold run), the
   executed notebooks into ``OUT/chapters/``; ``book/run_times.json`` (the measured times) copied to ``OUT``.

``--plan`` prints the chapters and their modelled cost from the committed H200 report
(``bench/results/``; ``twophase_book.budget.chapter_studies`` counted by ``twophase_lib.costs``), on any machine.
Exits 2 without a GPU (except with ``--plan``), 1 when a step fails or the budget runs out (what finished is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "results" / "gpu_measure_h200_2026-11-30_run3.json"
ALL_CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("0[0-9]_*.py"))


def _not_at_gpu() -> set[str]:
    """The chapter files whose claim (in the registry) does not run at the ``gpu`` profile."""
    sys.path.insert(0, str(ROOT))
    try:
        from twophase_book.claims import CLAIMS
    finally:
        sys.path.pop(0)
    return {f"{c.chapter}.py" for c in CLAIMS if "gpu" not in c.profiles}


#: The chapters the gpu book runs, in book order: chapter 7 runs at its own profiles (smoke, cpu, ladder).
CHAPTERS = [c for c in ALL_CHAPTERS if c not in _not_at_gpu()]


def _named(chapter: str, name: str) -> bool:
    """Whether ``name`` (a number such as ``01`` or ``1``, or a file name or its start) names ``chapter``."""
    return chapter == name or chapter.startswith(f"{int(name):02d}_" if name.isdigit() else name)


def plan(report: Path = REPORT) -> dict:
    """The gpu book's chapters and each one's modelled minutes on one GPU (the library's path), from ``report``."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_measure.py"), "--device", "cpu", "--only",
                          "estimates", "--merge", str(report), "--out", str(Path(tempfile.mkdtemp()) / "e.json")],
                         capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("gpu profile")]
    return {"chapters": CHAPTERS, "estimate": lines, "returncode": out.returncode,
            "stderr": out.stderr[-2000:] if out.returncode else ""}


def select_chapters(wanted: list[str] | None) -> list[str]:
    """The chapter files named by ``wanted`` (numbers such as ``01`` or ``1``, or file names), in book order.

    Raises:
        SystemExit: a name that matches no chapter (listing the chapters).
    """
    if not wanted:
        return list(CHAPTERS)
    out = []
    for w in wanted:
        others = [c for c in ALL_CHAPTERS if c not in CHAPTERS and _named(c, w)]
        if others:
            raise SystemExit(f"gpu_book: {others[0]} does not run at the gpu profile; the gpu book's chapters: "
                             f"{', '.join(CHAPTERS)}")
        hits = [c for c in CHAPTERS if _named(c, w)]
        if len(hits) != 1:
            raise SystemExit(f"gpu_book: {w!r} names no single chapter; the chapters: {', '.join(CHAPTERS)}")
        out.append(hits[0])
    return [c for c in CHAPTERS if c in out]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "artifacts" / "gpu")))
    parser.add_argument("--budget-s", type=float, default=540.0)
    parser.add_argument("--cache", type=Path, default=None,
                        help="the results cache (default: a fresh folder, a cold run); a second call on the same "
                             "machine passes the first call's folder")
    parser.add_argument("--chapters", nargs="*", default=None,
                        help="chapter numbers or file names to run (default: every chapter)")
    parser.add_argument("--no-measure", action="store_true", help="skip the step paths' measurement")
    parser.add_argument("--plan", action="store_true", help="print the plan and its modelled cost, run nothing")
    args = parser.parse_args(argv)
    if args.plan:
        print(json.dumps(plan(), indent=2))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_book: no CUDA device here (use --plan to see what it would run)", file=sys.stderr)
        return 2
    chapters = select_chapters(args.chapters)
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    cache = args.cache.resolve() if args.cache else Path(tempfile.mkdtemp(prefix="twophase-gpu-cache-"))
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TWOPHASE_CACHE": str(cache), "TQDM_DISABLE": "1"}
    steps = [] if args.no_measure else [
        ("measure", [sys.executable, "bench/gpu_measure.py", "--only", "/cuda graphs", "--budget-s", "90",
                     "--out", str(args.out / "gpu_measure.json")])]
    steps.append(("chapters", [sys.executable, "scripts/run_chapters.py", "--profile", "gpu", "--record-time",
                               "--out-dir", str(args.out / "chapters"), *[f"notebooks/{c}" for c in chapters]]))
    status = {}
    for name, cmd in steps:
        left = deadline - time.monotonic()
        if left < 30:
            status[name] = "skipped: the budget ran out"
            break
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=left)
            status[name] = {"returncode": proc.returncode, "seconds": time.perf_counter() - t}
        except subprocess.TimeoutExpired:
            status[name] = {"returncode": None, "seconds": time.perf_counter() - t, "timed_out": True}
        print(f"gpu_book: {name}: {status[name]}", flush=True)
    shutil.copy(ROOT / "book" / "run_times.json", args.out / "run_times.json")
    (args.out / "gpu_book.json").write_text(json.dumps(status, indent=2) + "\n")
    ok = all(isinstance(v, dict) and v.get("returncode") == 0 for v in status.values()) and len(status) == len(steps)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
