#!/usr/bin/env python3
"""Execute the book's chapters (jupytext percent scripts) with papermill at a profile.

Usage (from the repository root, inside .venv; ``make book`` and ``make chapter`` call this)::

    python scripts/run_chapters.py                          # every notebooks/NN_*.py, profile cpu
    python scripts/run_chapters.py --profile smoke          # ... at the smoke profile
    python scripts/run_chapters.py notebooks/01_chaos_effect.py -p seeds 2

Each ``notebooks/NN_name.py`` is converted to a notebook in memory (``jupytext.read``), its
``parameters`` cell is overridden with ``profile`` (and any ``-p KEY VALUE``), and it is executed
by papermill with the ``python3`` kernel of the running interpreter's environment, in the
repository root as working directory. Chapters must not depend on the working directory anyway:
nbval runs the smoke baselines in their own folder.

Where the executed notebook goes (``--out-dir`` overrides):

* ``cpu``   -> ``book/chapters/NN_name.ipynb``  (the notebooks the book renders)
* ``smoke`` -> ``tests/baselines/NN_name.ipynb`` (the baselines nbval re-executes)
* ``paper`` -> ``artifacts/paper/NN_name.ipynb`` (git-ignored; long GPU runs)

Timing and machine-specific metadata (papermill's start/end times and durations, nbclient's
per-cell ``execution`` timestamps, absolute input/output paths, random cell ids) are stripped, so
re-running a deterministic chapter gives a byte-identical file. The script stops at the first
failing chapter and exits non-zero, naming it; the failed notebook, with its traceback, is kept
under ``_build/papermill/``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
FAILED_DIR = ROOT / "_build" / "papermill"
KERNEL = "python3"
PROFILES = ("smoke", "cpu", "paper")
OUT_DIRS = {
    "cpu": ROOT / "book" / "chapters",
    "smoke": ROOT / "tests" / "baselines",
    "paper": ROOT / "artifacts" / "paper",
}
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


def parse_value(text: str):
    """A ``-p`` value as papermill's CLI reads it: bool/None/int/float literals, else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
    return value if isinstance(value, (int, float, list, tuple, dict, str)) else text


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
        base = "injected-parameters" if "injected-parameters" in tags else hashlib.sha1(
            (cell.cell_type + "\0" + cell.source).encode()
        ).hexdigest()[:12]
        n = seen.get(base, 0)
        seen[base] = n + 1
        if "id" in cell or nb.nbformat_minor >= 5:
            cell["id"] = base if n == 0 else f"{base}-{n}"


def strip_volatile(nb) -> None:
    """Remove what changes from run to run without the results changing."""
    pm = nb.metadata.get("papermill", {})
    nb.metadata["papermill"] = {k: pm[k] for k in ("parameters",) if k in pm}
    nb.metadata.pop("jupytext", None)  # the executed copy is not paired with the .py
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
    _cell_ids(nb)


def run_chapter(path: Path, profile: str, extra: dict, out_dir: Path) -> Path:
    """Execute one chapter; return the path of the executed, stripped notebook."""
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb = jupytext.read(path)
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise ChapterError(
            f"{path.name}: no cell tagged 'parameters' (add `# %% tags=[\"parameters\"]` above `profile = ...`)"
        )
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3 (ipykernel)", "language": "python"}
    params = {"profile": profile, **extra}
    FAILED_DIR.mkdir(parents=True, exist_ok=True)
    source = FAILED_DIR / f"{path.stem}.input.ipynb"  # papermill reads an .ipynb, not a percent script
    nbformat.write(nb, str(source))
    partial = FAILED_DIR / f"{path.stem}.{profile}.ipynb"
    try:
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
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{path.stem}.ipynb"
    tmp = out.with_name(f".{out.name}.tmp")
    nbformat.write(executed, str(tmp))
    os.replace(tmp, out)
    partial.unlink(missing_ok=True)
    source.unlink(missing_ok=True)
    return out


RUN_TIMES = ROOT / "book" / "run_times.json"


def record_run_time(chapter: str, profile: str, seconds: float, extra: dict) -> None:
    """Keep the longest wall time of plain runs of a chapter per profile: a cold-cache run (the re-run page shows it)."""
    import json
    import platform

    if extra:
        return
    times = json.loads(RUN_TIMES.read_text()) if RUN_TIMES.exists() else {}
    old = times.get(chapter, {}).get(profile, {}).get("seconds", 0.0)
    if seconds > old:
        times.setdefault(chapter, {})[profile] = {
            "seconds": round(seconds, 1), "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}"}
        RUN_TIMES.write_text(json.dumps(times, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter .py files (default: every notebooks/NN_*.py)")
    parser.add_argument("--profile", default="cpu", choices=PROFILES, help="value of the `profile` parameter")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="extra notebook parameter (repeatable), as in papermill's -p")
    parser.add_argument("--out-dir", type=Path, help="where executed notebooks go (default depends on the profile)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TQDM_DISABLE", "1")
    extra = {k: parse_value(v) for k, v in args.parameter}
    if "profile" in extra:
        parser.error("use --profile, not -p profile")
    out_dir = (args.out_dir or OUT_DIRS[args.profile]).resolve()
    try:
        chapters = find_chapters(args.chapters)
        if not chapters:
            print(f"run_chapters: no chapters (notebooks/NN_*.py) found under {NOTEBOOKS}; nothing to do")
            return 0
        check_kernel()
        for path in chapters:
            start = time.perf_counter()
            print(f"run_chapters: {path.name} (profile {args.profile}) ...", flush=True)
            out = run_chapter(path, args.profile, extra, out_dir)
            seconds = time.perf_counter() - start
            record_run_time(path.stem, args.profile, seconds, extra)
            print(f"run_chapters: {path.name} -> {os.path.relpath(out, ROOT)} in {seconds:.1f} s", flush=True)
    except ChapterError as exc:
        print(f"run_chapters: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
