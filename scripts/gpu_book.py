#!/usr/bin/env python3
"""The gpu edition in one prepared run on one GPU (issue 23): the step paths measured, then every chapter at the
``gpu`` profile, cold, with the executed notebooks, the wall times and the measurements left under ``--out``.

    python scripts/gpu_book.py --out "$OUT" [--budget-s 660]      # on a machine with one GPU
    python scripts/gpu_book.py --plan                             # what it will run, and its modelled cost

The run, in order, each step under what is left of ``--budget-s``:

1. ``bench/gpu_measure.py --only "/cuda graphs"``: the graphed path with batches from the host and with planned
   batches (bitwise against the host-fed eager path, an ε = 0 twin exact, steps per second of both), into
   ``OUT/gpu_measure.json``;
2. ``scripts/run_chapters.py --profile gpu --record-time`` on every chapter, on a fresh cache (a cold run), the
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
CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("0[0-9]_*.py"))


def plan(report: Path = REPORT) -> dict:
    """The gpu book's chapters and each one's modelled minutes on one GPU (the library's path), from ``report``."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_measure.py"), "--device", "cpu", "--only",
                          "estimates", "--merge", str(report), "--out", str(Path(tempfile.mkdtemp()) / "e.json")],
                         capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("gpu profile")]
    return {"chapters": CHAPTERS, "estimate": lines, "returncode": out.returncode,
            "stderr": out.stderr[-2000:] if out.returncode else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", ROOT / "artifacts" / "gpu")))
    parser.add_argument("--budget-s", type=float, default=660.0)
    parser.add_argument("--plan", action="store_true", help="print the plan and its modelled cost, run nothing")
    args = parser.parse_args(argv)
    if args.plan:
        print(json.dumps(plan(), indent=2))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_book: no CUDA device here (use --plan to see what it would run)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + args.budget_s
    env = {**os.environ, "TWOPHASE_CACHE": tempfile.mkdtemp(prefix="twophase-gpu-cache-"), "TQDM_DISABLE": "1"}
    steps = [
        ("measure", [sys.executable, "bench/gpu_measure.py", "--only", "/cuda graphs", "--budget-s", "90",
                     "--out", str(args.out / "gpu_measure.json")]),
        ("chapters", [sys.executable, "scripts/run_chapters.py", "--profile", "gpu", "--record-time", "--out-dir",
                      str(args.out / "chapters")]),
    ]
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
