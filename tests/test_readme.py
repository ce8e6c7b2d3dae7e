"""The README's "Use it on your own model" example runs as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

from twophase_lib.verdicts import Outcome

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Use it on your own model", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_example_is_at_most_ten_lines_of_library_calls():
    calls = [line for line in readme_example().splitlines()
             if re.search(r"\b(Task|TensorData|RunConfig|OptimConfig|chaos_analysis|cone_analysis|switch_analysis|"
                          r"analyses_figure)\(", line)]
    assert 0 < len(calls) <= 10


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWOPHASE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)
    assert (tmp_path / "analyses.png").stat().st_size > 10_000
    assert namespace["chaos"].control_is_exact
    assert namespace["switch"].results["linearized"].accuracy.shape == (3, 5)
    assert {namespace[k].outcome for k in ("chaos", "cone", "switch")} <= set(Outcome)
    assert os.listdir(tmp_path / "cache")
