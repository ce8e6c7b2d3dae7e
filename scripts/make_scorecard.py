#!/usr/bin/env python3
"""Write the book's generated pages: book/scorecard.md (from the chapters' cached summaries) and book/rerun.md
(from the run times recorded by run_chapters.py). See twophase_lib.reporting.

With an empty cache (a fresh clone before any chapter ran) the committed scorecard is kept, not blanked."""

import json
from pathlib import Path

from twophase_lib.cache import Cache
from twophase_lib.reporting import CLAIMS, load_summary, rerun_markdown, scorecard_markdown

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    cache = Cache()
    scorecard = ROOT / "book" / "scorecard.md"
    if any(load_summary(cache, kind, p) is not None for kind, *_ in CLAIMS for p in ("smoke", "cpu", "gpu", "paper")):
        scorecard.write_text(scorecard_markdown(cache))
        print(f"make_scorecard: wrote book/scorecard.md from {cache.root}")
    else:
        print(f"make_scorecard: no chapter results in {cache.root}; kept the existing book/scorecard.md")
    times = ROOT / "book" / "run_times.json"
    (ROOT / "book" / "rerun.md").write_text(rerun_markdown(json.loads(times.read_text()) if times.exists() else {}))
    print("make_scorecard: wrote book/rerun.md")
