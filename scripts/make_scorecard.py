#!/usr/bin/env python3
"""Write the book's generated pages: book/scorecard.md (from the chapters' cached summaries, and a longer design's
kept in book/longer_window.json by scripts/freeze_summaries.py), book/across_machines.md
and its figure book/figures/across_machines.png (from book/across_machines.json, written by
scripts/across_machines.py) and book/rerun.md (from the run times recorded
by run_chapters.py). See twophase_book.pages.

Each claim's summary is the one its executed chapter in book/chapters carries (what the book shows; written by
scripts/run_chapters.py), else the cache's. The scorecard is rewritten only when every claim that runs at the ``cpu``
profile has one: otherwise (a fresh clone whose chapters predate the summaries in their metadata, a cache holding
only the chapters just re-run) the committed scorecard is kept, not blanked or left half-filled, and the claims
without a summary are named."""

import argparse
import json
import re
from pathlib import Path

from twophase_book.pages import (
    across_machines_markdown,
    across_rows,
    book_summaries,
    lacking_summaries,
    rerun_markdown,
    scorecard_markdown,
)
from twophase_lib.cache import Cache
from twophase_lib.config import CACHE_VERSION
from twophase_lib.numerics import fingerprint

ROOT = Path(__file__).resolve().parents[1]
BOOK_PROFILES = ("cpu", "gpu", "paper")
# the figure's panels: (pattern of a headline quantity, the panel's name); the pattern's group is the tick label
PANELS = ((r"disagreement, (t0 = \d+, Δ = \d+)", "test disagreement at t1 = t0 + Δ"),
          (r"inflection, (Δ = \d+)", "inflection on the fixed windows (iterations)"),
          (r"(S\(t = \d+, t \+ \d+\))", "the late lag curve's floor"),
          (r"test accuracy, (t = \d+)", "final test accuracy after switching at t (constant lr)"),
          (r"disagreement, (t0 = \d+)", "test disagreement at t1 of twins split at t0"),
          (r"inflection \(iterations\)()", "inflection (iterations)"),
          (r"S\((τ = \d+), first drop\)", "S(τ, t) at the first lr drop, per τ"),
          (r"test accuracy, (switch at t = \d+|standard training)", "final test accuracy after switching at t"))


def book_fingerprint() -> str | None:
    """The numerics fingerprint id the book's cpu chapters were computed with (their notebooks' metadata)."""
    for path in sorted((ROOT / "book" / "chapters").glob("0[1-3]_*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("twophase", {})
        if "numerics" in meta:
            return meta["numerics"]["cpu"]["id"]
    return None


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help describes, writes nothing
    cache = Cache()
    across_path = ROOT / "book" / "across_machines.json"
    across = json.loads(across_path.read_text()) if across_path.exists() else {}
    scorecard = ROOT / "book" / "scorecard.md"
    # the smoke profile only checks that the code runs: its verdicts stay out of the book
    summaries = book_summaries(cache, BOOK_PROFILES, ROOT / "book" / "chapters")
    found = list(summaries.values())
    lacking = lacking_summaries(summaries, "cpu")
    if not lacking:
        frozen_path = ROOT / "book" / "longer_window.json"
        frozen = json.loads(frozen_path.read_text()) if frozen_path.exists() else None
        import matplotlib

        matplotlib.use("Agg")
        from twophase_book.pages import check_margins, margins_figure

        margins = check_margins([s for s in found if s is not None and s.profile == "cpu"])
        margins_path = None
        if margins:
            (ROOT / "book" / "figures").mkdir(exist_ok=True)
            fig = margins_figure(margins)
            fig.savefig(ROOT / "book" / "figures" / "scorecard_margins.png", dpi=110, bbox_inches="tight",
                        metadata={"Software": None})
            margins_path = "figures/scorecard_margins.png"
        scorecard.write_text(scorecard_markdown(cache, BOOK_PROFILES, across=across, frozen=frozen,
                                                figure=margins_path, summaries=summaries))
        print(f"make_scorecard: wrote book/scorecard.md from the executed chapters and {cache.root} "
              f"({fingerprint().id})")
    else:
        print(f"make_scorecard: no cpu summary of {', '.join(lacking)} computed by this code (neither in "
              f"book/chapters' metadata at code version {CACHE_VERSION} nor in {cache.root} under "
              f"{fingerprint().id}): kept the existing book/scorecard.md; re-execute them (make chapter "
              "NB=notebooks/<chapter>.py) and run this again")
    figure = None
    if across.get("runs"):
        import matplotlib

        matplotlib.use("Agg")
        from twophase_book.pages import across_machines_figure

        panels: dict = {}
        for title, items in across_rows(across["runs"]).items():
            for setting, quantity, vals in items:  # one quantity per panel, named in its title
                for pattern, name in PANELS:
                    m = re.fullmatch(pattern, quantity)
                    if m:
                        short = m.group(1).replace("switch at ", "").replace("standard training", "standard")
                        panels.setdefault(f"{title}: {name}", []).append((setting, short, vals))
                        break
        fig = across_machines_figure(panels, [r["fingerprint"]["id"] for r in across["runs"]])
        (ROOT / "book" / "figures").mkdir(exist_ok=True)
        fig.savefig(ROOT / "book" / "figures" / "across_machines.png", dpi=110, metadata={"Software": None})
        figure = "figures/across_machines.png"
    (ROOT / "book" / "across_machines.md").write_text(across_machines_markdown(across, book_fingerprint(), figure))
    print("make_scorecard: wrote book/across_machines.md" + (f" and book/{figure}" if figure else ""))
    times = ROOT / "book" / "run_times.json"
    (ROOT / "book" / "rerun.md").write_text(rerun_markdown(json.loads(times.read_text()) if times.exists() else {}))
    print("make_scorecard: wrote book/rerun.md")
