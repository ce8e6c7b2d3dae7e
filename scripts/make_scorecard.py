#!/usr/bin/env python3
"""Write the book's generated pages: book/scorecard.md (from the chapters' cached summaries) and book/rerun.md
(from the run times recorded by run_chapters.py). See twophase_lib.reporting."""

import json
from pathlib import Path

from twophase_lib.cache import Cache
from twophase_lib.reporting import rerun_markdown, scorecard_markdown

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    (ROOT / "book" / "scorecard.md").write_text(scorecard_markdown(Cache()))
    times = ROOT / "book" / "run_times.json"
    (ROOT / "book" / "rerun.md").write_text(rerun_markdown(json.loads(times.read_text()) if times.exists() else {}))
    print("make_scorecard: wrote book/scorecard.md and book/rerun.md")
