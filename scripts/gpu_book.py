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

``--ladder`` runs instead chapter 7's GPU rungs (``twophase_book.scale.GPU_WIDTHS``: VGG-16 at the paper's width and
half of it, the top of its series, which two CPU cores cannot run) under the ``ladder`` profile, then
``scripts/record_ladder.py`` on a copy of ``book/ladder.json`` into ``OUT/ladder.json`` (copy it to ``book/`` and run
chapter 7 at ``cpu``)::

    python scripts/gpu_book.py --ladder --out "$OUT" --cache "$OUT/cache"     # resumes from the cache when cut off
    python scripts/gpu_book.py --ladder --plan                                # the rungs and their modelled cost

It refuses before any GPU work when the record's CPU rungs of the same series were computed by another code version
(a series never mixes code: re-run them on a CPU first, the message says how).

``--plan`` prints the chapters and their modelled cost from the committed H200 report
(``bench/results/``; ``twophase_book.budget.chapter_studies`` counted by ``twophase_lib.costs``), on any machine.
Exits 2 without a GPU (except with ``--plan``), 1 when a step fails or the budget runs out (what finished is kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "bench" / "results" / "gpu_measure_h200_2026-11-30_run3.json"
ALL_CHAPTERS = sorted(p.name for p in (ROOT / "notebooks").glob("0[0-9]_*.py"))


@contextlib.contextmanager
def _importable() -> Iterator[None]:
    """The repository's packages and ``bench/``'s scripts importable in the block (this script runs from anywhere)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    try:
        yield
    finally:
        del sys.path[:2]


def _not_at_gpu() -> set[str]:
    """The chapter files whose claim (in the registry) does not run at the ``gpu`` profile."""
    with _importable():
        from twophase_book.claims import CLAIMS
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


def ladder_plan(report: Path = REPORT) -> dict:
    """The ladder's GPU rungs and their modelled seconds on one GPU: their studies' work
    (:func:`twophase_lib.costs.count_work`) priced with the report's full-width VGG-16 unit costs at batch 128 (its
    fastest bitwise path for SGD and linearized steps), every GPU rung at ×1's costs (an upper bound for ×1/2);
    comparisons priced per image as the report's, with the ``gpu`` profile's larger barrier (conservative)."""
    with _importable():
        import gpu_measure as gm

        from twophase_book.scale import gpu_rungs, rung_design, rung_studies
        from twophase_lib.costs import count_work, estimate, network_label
    data = json.loads(report.read_text())
    rep = gm.Report(0.0, None, "cpu")
    rep.data.update(data)
    paths = gm.step_paths(rep, "vgg16")
    bitwise = {k: v for k, v in paths.items() if "not in the library" not in k and "not deterministic" not in k}
    step_s = min(bitwise.values())
    out = {"report": str(report.relative_to(ROOT)), "step_path": min(bitwise, key=bitwise.get), "rungs": {}}
    for r in gpu_rungs():
        d = rung_design("ladder", r)
        work = count_work(list(rung_studies("ladder", {r.id: d}).values()))
        label = network_label(d.run)
        units, missing = gm.unit_costs(rep, "vgg16", step_s, "gpu", label, work.kernel_sizes(label))
        est = estimate(work, {label: units})
        out["rungs"][r.id] = {"minutes": round(est["total_s"] / 60, 1), "missing": missing,
                              "work": {u: n for _, u, n in work.table()}}
    out["minutes"] = round(sum(v["minutes"] for v in out["rungs"].values()), 1)
    return out


def series_clash(record: Path) -> list[str]:
    """The recorded CPU rungs of the GPU rungs' series (``Rung.series``) that another code version computed: the
    record would refuse the GPU rungs beside them (``scripts/record_ladder.py``), so they are re-run first."""
    with _importable():
        from twophase_book.scale import Rung, gpu_rungs, record_code
        from twophase_lib.config import CACHE_VERSION
    if not record.exists():
        return []
    data = json.loads(record.read_text())
    series = {r.series for r in gpu_rungs()}
    return [f"{rid} (code version {v})" for rid, v in record_code(data).items()
            if v != CACHE_VERSION and Rung(**data["rungs"][rid]["rung"]).series in series]


def run_ladder(args) -> int:
    """``--ladder``: the GPU rungs, then their record (:func:`ladder_plan` says what they cost)."""
    clash = series_clash(ROOT / "book" / "ladder.json")
    if clash:
        print(f"gpu_book: book/ladder.json holds {', '.join(clash)} in the GPU rungs' series, and a series never "
              "mixes code: re-run them on a CPU first (make chapter NB=notebooks/07_paper_or_scale.py PROFILE=ladder "
              f"PARAMS='-p rungs {' '.join(c.split()[0] for c in clash)}', then python scripts/record_ladder.py)",
              file=sys.stderr)
        return 3
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache.resolve() if args.cache else Path(tempfile.mkdtemp(prefix="twophase-gpu-cache-"))
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TWOPHASE_CACHE": str(cache), "TQDM_DISABLE": "1"}
    record = args.out / "ladder.json"
    if (ROOT / "book" / "ladder.json").exists() and not record.exists():
        shutil.copy(ROOT / "book" / "ladder.json", record)
    steps = [("ladder", [sys.executable, "scripts/run_chapters.py", "--profile", "ladder", "-p", "rungs", "gpu",
                         "--out-dir", str(args.out / "chapters"), "notebooks/07_paper_or_scale.py"]),
             ("record", [sys.executable, "scripts/record_ladder.py", "--cache", str(cache), "--out", str(record)])]
    status = run_steps(steps, time.monotonic() + args.budget_s, env, stop_on_failure=True,
                       skipped="skipped: the budget ran out (call again with the same --cache: it resumes)")
    (args.out / "gpu_book.json").write_text(json.dumps(status, indent=2) + "\n")
    return 0 if succeeded(status, steps) else 1


def run_steps(steps: list[tuple[str, list[str]]], deadline: float, env: dict, stop_on_failure: bool = False,
              skipped: str = "skipped: the budget ran out") -> dict:
    """Run each (name, command) in the repository until ``deadline`` (``time.monotonic()``), each under what is left
    of it: ``{name: {"returncode", "seconds"[, "timed_out"]}}``, or ``skipped`` for a step no time was left for."""
    status: dict = {}
    for name, cmd in steps:
        left = deadline - time.monotonic()
        if left < 30:
            status[name] = skipped
            break
        t = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=left)
            status[name] = {"returncode": proc.returncode, "seconds": time.perf_counter() - t}
        except subprocess.TimeoutExpired:
            status[name] = {"returncode": None, "seconds": time.perf_counter() - t, "timed_out": True}
        print(f"gpu_book: {name}: {status[name]}", flush=True)
        if stop_on_failure and status[name]["returncode"] != 0:
            break
    return status


def succeeded(status: dict, steps: list) -> bool:
    """Whether every step ran and returned 0."""
    return all(isinstance(v, dict) and v.get("returncode") == 0 for v in status.values()) and len(status) == len(steps)


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
    parser.add_argument("--ladder", action="store_true", help="run chapter 7's GPU rungs (VGG-16 x1/2 and x1 at "
                        "batch 128) and record them into OUT/ladder.json, instead of the chapters")
    args = parser.parse_args(argv)
    if args.plan:
        print(json.dumps(ladder_plan() if args.ladder else plan(), indent=2))
        return 0
    import torch

    if not torch.cuda.is_available():
        print("gpu_book: no CUDA device here (use --plan to see what it would run)", file=sys.stderr)
        return 2
    if args.ladder:
        return run_ladder(args)
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
    status = run_steps(steps, deadline, env)
    shutil.copy(ROOT / "book" / "run_times.json", args.out / "run_times.json")
    (args.out / "gpu_book.json").write_text(json.dumps(status, indent=2) + "\n")
    return 0 if succeeded(status, steps) else 1


if __name__ == "__main__":
    sys.exit(main())
