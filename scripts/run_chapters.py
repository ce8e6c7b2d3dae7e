#!/usr/bin/env python3
"""Execute the book's chapters (jupytext percent scripts) with papermill at a profile.

Usage (from the repository root, inside .venv; ``make book``, ``make baselines`` and ``make chapter`` call this)::

    python scripts/run_chapters.py                              # every notebooks/NN_*.py, profile cpu
    python scripts/run_chapters.py --profile cpu --record-time  # ... and record the run times (make book)
    python scripts/run_chapters.py --profile smoke              # smoke, into _build/chapters/smoke/
    python scripts/run_chapters.py --profile smoke --update-baselines   # regenerate tests/baselines/
    python scripts/run_chapters.py --profile paper notebooks/01_chaos_effect.py -p NAME VALUE
                                        # NAME: a name the chapter's parameters cell assigns

Each ``notebooks/NN_name.py`` is converted to a notebook in memory (``jupytext.read``), its
``parameters`` cell is overridden with ``profile`` (and any ``-p KEY VALUE``), and it is executed
by papermill with the ``python3`` kernel of the running interpreter's environment, in the
repository root as working directory. nbval (make test: pytest --nbval-lax tests/baselines) runs the
baselines there too. A ``-p`` name that the chapter's parameters
cell does not assign is an error (the message lists the names it does assign); every chapter to
run is checked before the first one starts.

Where the executed notebook goes (``--out-dir`` overrides):

* ``cpu``   -> ``book/chapters/NN_name.ipynb``     (the notebooks the book renders)
* ``smoke`` -> ``_build/chapters/smoke/NN_name.ipynb`` (a scratch copy, git-ignored); with
  ``--update-baselines`` -> ``tests/baselines/NN_name.ipynb`` (the baselines nbval re-executes in make test).
  Regenerating the baselines is an explicit act: ``make baselines``.
* ``gpu``   -> ``artifacts/gpu/NN_name.ipynb``     (git-ignored; one GPU, ``scripts/gpu_book.py``)
* ``paper`` -> ``artifacts/paper/NN_name.ipynb``   (git-ignored; long GPU runs)
* ``ladder`` -> ``artifacts/ladder/NN_name.ipynb`` (git-ignored; the scale chapter's rungs, run once outside the
  book's budget: ``scripts/record_ladder.py`` then keeps their measurements in ``book/ladder.json``)

Timing and machine-specific metadata (papermill's start/end times and durations, nbclient's
per-cell ``execution`` timestamps, absolute input/output paths, random cell ids) are stripped, so
re-running a deterministic chapter gives a byte-identical file. The notebook's metadata records the numerics
fingerprints it was computed with (``twophase.numerics``; the chapter also prints its fingerprint). The chapter's
own ``parameters``
cell is tagged ``remove-cell``, so the book shows only papermill's ``injected-parameters`` cell
(the values the chapter actually ran with). The script stops at the first failing chapter and
exits non-zero, naming it; the failed notebook, with its traceback, is kept under
``_build/papermill/``.

Progress: while a chapter runs, ``$TWOPHASE_PROGRESS`` names a fresh file
``_build/progress/NN_name.log`` (the kernel inherits it); ``twophase_lib`` appends one line per
finished task there, and this script echoes each line as ``  [NN_name] ...``. Each chapter starts
with ``chapter i of n`` and ends with its wall time and the total so far.

Run times: with ``--record-time`` (or ``TWOPHASE_COLD_RUN=1`` in the environment) the caller
declares the runs cold (nothing cached), and each successful chapter's wall time is written to
``book/run_times.json`` as the latest measurement for that chapter and profile (seconds, machine,
ISO date), replacing the previous one. ``make book`` passes it. A chapter that computed no new
result (everything came from the cache) is not recorded, nor are runs with ``-p`` parameters.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import json
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAILED_DIR = ROOT / "_build" / "papermill"
PROGRESS_DIR = ROOT / "_build" / "progress"
PROGRESS_ENV = "TWOPHASE_PROGRESS"
COLD_RUN_ENV = "TWOPHASE_COLD_RUN"
KERNEL = "python3"
PROFILES = ("smoke", "cpu", "gpu", "paper", "ladder")
OUT_DIRS = {
    "ladder": ROOT / "artifacts" / "ladder",
    "cpu": ROOT / "book" / "chapters",
    "smoke": ROOT / "_build" / "chapters" / "smoke",
    "gpu": ROOT / "artifacts" / "gpu",
    "paper": ROOT / "artifacts" / "paper",
}
BASELINES = ROOT / "tests" / "baselines"
RUN_TIMES = ROOT / "book" / "run_times.json"
CHAPTER_RE = re.compile(r"^\d\d_[A-Za-z0-9_]+\.py$")


class ChapterError(RuntimeError):
    """A chapter could not be executed."""


def find_chapters(names: list[str]) -> list[Path]:
    """The chapters to run: the given paths, else every ``notebooks/NN_*.py`` in name order."""
    if not names:
        return sorted(p for p in NOTEBOOKS.glob("*.py") if CHAPTER_RE.match(p.name))
    paths = []
    for name in names:
        path = Path(name)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else (ROOT / path)
        if not path.is_file():
            raise ChapterError(f"{name}: no such chapter file")
        paths.append(path.resolve())
    return paths


def output_dir(profile: str, update_baselines: bool = False, out_dir: Path | None = None) -> Path:
    """Where executed notebooks of ``profile`` go (see the module docstring).

    ``update_baselines`` (``--update-baselines``) selects ``tests/baselines/`` and is valid only with
    the smoke profile and without ``out_dir``; a ``ValueError`` says why otherwise.
    """
    if update_baselines:
        if profile != "smoke":
            raise ValueError(
                f"--update-baselines writes the smoke baselines; it cannot be used with --profile {profile}"
            )
        if out_dir is not None:
            raise ValueError("--update-baselines writes to tests/baselines/; it cannot be combined with --out-dir")
        return BASELINES
    return Path(out_dir).resolve() if out_dir is not None else OUT_DIRS[profile]


def parse_value(text: str):
    """A ``-p`` value as papermill's CLI reads it: bool/None/int/float literals, lists (``"0,1,2"`` and
    ``"(0, 1, 2)"`` give ``[0, 1, 2]``, which papermill injects as a list), else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    if isinstance(value, tuple):  # "0,1,2" reads as a tuple, which papermill would inject as the text "(0, 1, 2)"
        value = list(value)
    return value if isinstance(value, (int, float, list, dict, str)) else text


def _is_tagged(cell, tag: str) -> bool:
    return tag in cell.get("metadata", {}).get("tags", [])


def parameter_names(nb, name: str = "notebook") -> list[str]:
    """The names assigned at the top level of the cell tagged ``parameters``, in order.

    Plain, annotated and augmented assignments count, tuple targets included (``a, b = 1, 2``). A
    ``ChapterError`` when there is no such cell or it is not valid Python.
    """
    cells = [c for c in nb.cells if c.cell_type == "code" and _is_tagged(c, "parameters")]
    if not cells:
        raise ChapterError(
            f"{name}: no cell tagged 'parameters' (add `# %% tags=[\"parameters\"]` above `profile = ...`)"
        )
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError as exc:
        raise ChapterError(f"{name}: the parameters cell is not valid Python: {exc}") from exc
    names: list[str] = []

    def add(target) -> None:
        if isinstance(target, ast.Name):
            if target.id not in names:
                names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                add(elt)
        elif isinstance(target, ast.Starred):
            add(target.value)

    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return names


def check_parameters(nb, params: dict, name: str = "notebook") -> None:
    """Fail with a ``ChapterError`` unless every key of ``params`` is assigned in the parameters cell.

    papermill would inject an unknown name without complaint and the chapter would ignore it.
    """
    known = parameter_names(nb, name)
    unknown = [k for k in params if k not in known]
    if unknown:
        raise ChapterError(
            f"{name}: unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the chapter's parameters cell assigns: {', '.join(known) or '(nothing)'}"
        )


def check_kernel() -> None:
    """Fail unless the ``python3`` kernelspec papermill will find runs this interpreter.

    ``make`` installs it with ``python -m ipykernel install --sys-prefix --name python3``. A user-level
    kernelspec (e.g. ``~/.local/share/jupyter/kernels/python3``) takes precedence over the venv's
    and could point at another Python; this check catches that.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel as exc:
        raise ChapterError(
            f"no '{KERNEL}' kernelspec; run: {sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}"
        ) from exc
    exe = spec.argv[0]
    # jupyter_client replaces a bare python/python3/python3.X by sys.executable itself.
    bare = {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}
    if exe in bare:
        return
    if os.path.abspath(exe) != os.path.abspath(sys.executable):
        raise ChapterError(
            f"kernelspec '{KERNEL}' in {spec.resource_dir} runs {exe}, not this interpreter "
            f"({sys.executable}). If that folder is outside {sys.prefix}, it shadows the venv's kernelspec "
            f"(JUPYTER_PATH and ~/.local/share/jupyter come first): remove it. Then run: "
            f"{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}"
        )


def _cell_ids(nb) -> None:
    """Replace random cell ids by ids derived from the cell's content (unique, stable across runs)."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        base = (
            "injected-parameters"
            if "injected-parameters" in tags
            else hashlib.sha1((cell.cell_type + "\0" + cell.source).encode()).hexdigest()[:12]
        )
        n = seen.get(base, 0)
        seen[base] = n + 1
        if "id" in cell or nb.nbformat_minor >= 5:
            cell["id"] = base if n == 0 else f"{base}-{n}"


def hide_original_parameters(nb) -> None:
    """Tag the chapter's own ``parameters`` cell ``remove-cell`` when papermill injected the values it ran with.

    Jupyter Book 1.x drops cells tagged ``remove-cell`` from the page, so the book shows the parameters once:
    in the ``injected-parameters`` cell right after it, which stays visible (and keeps its tag, which the
    guards in tests/test_notebooks.py look for). Without an injected cell nothing is hidden.
    """
    if not any(_is_tagged(c, "injected-parameters") for c in nb.cells):
        return
    for cell in nb.cells:
        if _is_tagged(cell, "parameters"):
            tags = cell.setdefault("metadata", {}).setdefault("tags", [])
            if "remove-cell" not in tags:
                tags.append("remove-cell")
        elif _is_tagged(cell, "injected-parameters"):
            for hiding in ("remove-cell", "remove-input", "hide-cell", "hide-input"):
                if hiding in cell.metadata["tags"]:
                    cell.metadata["tags"].remove(hiding)


def strip_volatile(nb) -> None:
    """Remove what changes from run to run without the results changing (metadata, and what computing wrote to
    stderr: a cold run's warnings, printed to the terminal instead); show the parameters once."""
    pm = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {k: pm[k] for k in ("parameters",) if k in pm}
    nb.metadata.pop("jupytext", None)  # the executed copy is not paired with the .py
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":  # what computing printed (warnings of a cold run) goes to the terminal, so the
            # page is the same whether its results were computed or loaded from the cache
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    print(out.get("text", ""), end="", file=sys.stderr)
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    hide_original_parameters(nb)
    _cell_ids(nb)


def format_duration(seconds: float) -> str:
    """``42.3s``, ``3m10s``, ``1h02m03s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def read_new_lines(path: Path, offset: int) -> tuple[list[str], int]:
    """The complete lines appended to ``path`` since byte ``offset``, and the offset after them.

    A missing file gives no lines; a file that shrank (rewritten) is read again from its start; a last
    line without its newline yet is left for the next call.
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < offset:
                offset = 0
            f.seek(offset)
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    lines = data[:end].split(b"\n")
    return [line.decode("utf-8", "replace").rstrip("\r") for line in lines], offset + end + 1


def follow(path: Path, prefix: str, stop: threading.Event, out: TextIO | None = None, interval: float = 0.5) -> None:
    """Print each line appended to ``path`` as ``prefix + line`` until ``stop`` is set, then what is left."""
    offset = 0
    while True:
        stopping = stop.wait(interval)
        lines, offset = read_new_lines(path, offset)
        stream = out if out is not None else sys.stdout
        for line in lines:
            if line.strip():
                print(f"{prefix}{line}", file=stream, flush=True)
        if stopping:
            return


class ProgressTail:
    """Context manager: a fresh progress file for one chapter, exported as ``$TWOPHASE_PROGRESS`` (so the kernel
    papermill starts inherits it), and a background thread echoing its lines prefixed by ``  [stem] ``."""

    def __init__(self, stem: str, directory: Path = PROGRESS_DIR, out: TextIO | None = None, interval: float = 0.5):
        self.path = directory / f"{stem}.log"
        self.prefix = f"  [{stem}] "
        self.out, self.interval = out, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous: str | None = None

    def __enter__(self) -> "ProgressTail":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._previous = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(self.path)
        self._thread = threading.Thread(
            target=follow,
            name=f"progress {self.path.stem}",
            daemon=True,
            args=(self.path, self.prefix, self._stop, self.out, self.interval),
        )
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._previous


def prepare_chapter(path: Path, profile: str, extra: dict):
    """The chapter as a notebook (``jupytext.read``) and its parameters, checked against its parameters cell."""
    import jupytext

    nb = jupytext.read(path)
    params = {"profile": profile, **extra}
    check_parameters(nb, params, path.name)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb, params


def run_chapter(path: Path, profile: str, extra: dict, out_dir: Path) -> Path:
    """Execute one chapter; return the path of the executed, stripped notebook."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb, params = prepare_chapter(path, profile, extra)
    FAILED_DIR.mkdir(parents=True, exist_ok=True)
    source = FAILED_DIR / f"{path.stem}.input.ipynb"  # papermill reads an .ipynb, not a percent script
    nbformat.write(nb, str(source))
    partial = FAILED_DIR / f"{path.stem}.{profile}.ipynb"
    try:
        with ProgressTail(path.stem):
            executed = papermill.execute_notebook(
                str(source),
                str(partial),
                parameters=params,
                kernel_name=KERNEL,
                language="python",
                cwd=str(ROOT),
                progress_bar=False,
                request_save_on_cell_execute=True,
            )
    except PapermillExecutionError as exc:
        raise ChapterError(
            f"chapter {path.name} failed at profile {profile!r} in cell In [{exc.exec_count}]: "
            f"{exc.ename}: {exc.evalue}\n  executed notebook with the traceback: {partial.relative_to(ROOT)}"
        ) from exc
    except Exception as exc:  # kernel died, timeout, bad notebook ...
        raise ChapterError(f"chapter {path.name} failed at profile {profile!r}: {type(exc).__name__}: {exc}") from exc
    strip_volatile(executed)
    from twophase_lib.config import CACHE_VERSION

    executed.metadata["twophase"] = {"profile": profile, "numerics": numerics_metadata(profile, extra),
                                     "cache_version": CACHE_VERSION}
    summary = chapter_summary(path.stem, profile, extra)
    if summary is not None:
        executed.metadata["twophase"]["summary"] = summary
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.ipynb"
    tmp = out.with_name(f".{out.name}.tmp")
    nbformat.write(executed, str(tmp))
    os.replace(tmp, out)
    partial.unlink(missing_ok=True)
    source.unlink(missing_ok=True)
    return out


#: The parameters that leave a chapter's designs as its profile's own (where results are kept, how many workers).
SAME_DESIGNS = {"cache_dir", "workers"}


def chapter_summary(stem: str, profile: str, extra: dict) -> dict | None:
    """The typed summary (as a dict) a chapter just stored in its cache for its profile's own designs, which the
    executed notebook carries in its metadata (``twophase.summary``) so the scorecard can be generated from the book
    alone (twophase_book.pages.book_summaries); None for a chapter without one, or run with other designs (a
    re-runner's seeds, networks, ε ...), whose summary is stored under those."""
    from twophase_book.chapter import check_cache_dir
    from twophase_book.claims import CLAIMS
    from twophase_book.pages import load_claim_summary
    from twophase_lib.cache import Cache

    kinds = [c.kind for c in CLAIMS if c.chapter == stem and profile in c.profiles]
    if not kinds or set(extra) - SAME_DESIGNS:
        return None
    found = load_claim_summary(Cache(check_cache_dir(extra.get("cache_dir"))), kinds[0], profile)
    return None if found is None else found.to_dict()


def numerics_metadata(profile: str, extra: dict) -> dict:
    """The numerics fingerprints (twophase_lib.numerics) a chapter computed with, by device kind: the CPU's always,
    a GPU's when the chapter ran on one. Stored in the executed notebook's metadata (``twophase.numerics``)."""
    import torch

    from twophase_lib.numerics import fingerprint

    device = str(extra.get("device") or ("cuda" if profile in ("gpu", "paper") else "cpu"))
    out = {"cpu": fingerprint("cpu").as_dict()}
    if device.startswith("cuda") and torch.cuda.is_available():
        out["cuda"] = fingerprint(device).as_dict()
    return out


def machine_description() -> str:
    """What the run times were measured on, e.g. ``2 CPU cores, x86_64``."""
    return f"{os.cpu_count()} CPU cores, {platform.machine()}"


def load_run_times(path: Path | None = None) -> dict:
    """``{chapter: {profile: record}}`` from ``path``; an absent or unreadable file, or entries of the wrong
    shape, count as nothing recorded (older files, with hand-written ``note`` fields, read as they are)."""
    try:
        data = json.loads((path or RUN_TIMES).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {
        ch: {p: r for p, r in per.items() if isinstance(r, dict)} for ch, per in data.items() if isinstance(per, dict)
    }


def record_run_time(
    chapter: str,
    profile: str,
    seconds: float,
    path: Path | None = None,
    machine: str | None = None,
    day: datetime.date | None = None,
) -> dict:
    """Store the wall time of a cold run as the latest one of ``chapter`` at ``profile``; return the record.

    The record replaces the previous one whole (a longer or shorter time, an old ``note``): the re-run page
    shows what the last cold run cost. Other chapters and profiles are kept as they are. Written atomically to
    ``path`` (default: ``book/run_times.json``).
    """
    path = path or RUN_TIMES
    record = {
        "seconds": round(float(seconds), 1),
        "machine": machine or machine_description(),
        "date": (day or datetime.date.today()).isoformat(),
    }
    times = load_run_times(path)
    times.setdefault(chapter, {})[profile] = record
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return record


def count_results(root: Path | None = None) -> int:
    """Result files in the cache (``$TWOPHASE_CACHE``), chapter summaries excluded: what a chapter computed."""
    from twophase_lib.cache import default_root

    root = Path(root) if root is not None else default_root()
    if not root.is_dir():
        return 0
    return sum(
        1 for kind in root.iterdir() if kind.is_dir() and not kind.name.endswith("-summary") for _ in kind.glob("*.pt")
    )


def cold_run_requested(flag: bool) -> bool:
    """``--record-time`` given, or ``TWOPHASE_COLD_RUN=1`` in the environment."""
    return flag or os.environ.get(COLD_RUN_ENV, "").strip() == "1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter .py files (default: every notebooks/NN_*.py)")
    parser.add_argument("--profile", default="cpu", choices=PROFILES, help="value of the `profile` parameter")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="extra notebook parameter (repeatable), as in papermill's -p; it must be assigned "
        "in the chapter's parameters cell",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="where executed notebooks go (default depends on the profile: "
        "book/chapters, _build/chapters/smoke, artifacts/gpu, artifacts/paper)",
    )
    parser.add_argument(
        "--update-baselines",
        action="store_true",
        help="with --profile smoke: write to tests/baselines/ (the notebooks nbval re-executes in make test)",
    )
    parser.add_argument(
        "--record-time",
        action="store_true",
        help=f"these are cold runs: record each chapter's wall time in book/run_times.json "
        f"(also when {COLD_RUN_ENV}=1)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("TQDM_DISABLE", "1")
    extra = {k: parse_value(v) for k, v in args.parameter}
    if "profile" in extra:
        parser.error("use --profile, not -p profile")
    try:
        out_dir = output_dir(args.profile, args.update_baselines, args.out_dir)
    except ValueError as exc:
        parser.error(str(exc))
    record = cold_run_requested(args.record_time)
    if record and extra:
        print("run_chapters: runs with -p parameters are not recorded in book/run_times.json", flush=True)
        record = False
    try:
        chapters = find_chapters(args.chapters)
        if not chapters:
            print(f"run_chapters: no chapters (notebooks/NN_*.py) found under {NOTEBOOKS}; nothing to do")
            return 0
        for path in chapters:  # every chapter's parameters, before the first one spends any time
            prepare_chapter(path, args.profile, extra)
        check_kernel()
        total_start = time.perf_counter()
        n = len(chapters)
        for i, path in enumerate(chapters, 1):
            start, before = time.perf_counter(), count_results()
            print(
                f"run_chapters: chapter {i} of {n}: {path.name} (profile {args.profile}), "
                f"{format_duration(start - total_start)} elapsed so far ...",
                flush=True,
            )
            out = run_chapter(path, args.profile, extra, out_dir)
            seconds = time.perf_counter() - start
            computed = count_results() - before
            # a chapter that found everything in the cache is not a cold run, whatever the caller says
            recorded = record and computed > 0
            if recorded:
                record_run_time(path.stem, args.profile, seconds)
            print(
                f"run_chapters: chapter {i} of {n}: {path.name} -> {os.path.relpath(out, ROOT)} in "
                f"{format_duration(seconds)} ({format_duration(time.perf_counter() - total_start)} elapsed; "
                f"{computed} results computed)" + (", time recorded" if recorded else ""),
                flush=True,
            )
    except ChapterError as exc:
        print(f"run_chapters: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
