"""scripts/run_chapters.py without executing a chapter: parameter checks, output folders, run-time records,
the progress tail and the post-processing of executed notebooks."""

from __future__ import annotations

import datetime
import importlib.util
import io
import json
import os
import threading
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_script():
    spec = importlib.util.spec_from_file_location("run_chapters", ROOT / "scripts" / "run_chapters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rc = _load_script()

PERCENT = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A tiny chapter

# %% tags=["parameters"]
profile = "cpu"
seeds: int = 3
width, depth = 0.5, 20
steps = 10
steps += 0

# %%
print(profile, seeds)
'''


@pytest.fixture
def chapter(tmp_path) -> Path:
    path = tmp_path / "01_tiny.py"
    path.write_text(PERCENT)
    return path


# --- parameters -----------------------------------------------------------------------------------------------


def test_parameter_names_are_the_assignments_of_the_parameters_cell(chapter):
    nb = jupytext.read(chapter)
    assert rc.parameter_names(nb) == ["profile", "seeds", "width", "depth", "steps"]


def test_known_parameters_pass(chapter):
    nb, params = rc.prepare_chapter(chapter, "smoke", {"seeds": 2, "width": 0.25})
    assert params == {"profile": "smoke", "seeds": 2, "width": 0.25}
    assert nb.metadata["kernelspec"]["name"] == rc.KERNEL


def test_an_unknown_parameter_is_an_error_listing_the_known_ones(chapter):
    with pytest.raises(rc.ChapterError) as err:
        rc.prepare_chapter(chapter, "smoke", {"seeds": 2, "sedes": 2})
    message = str(err.value)
    assert "01_tiny.py" in message and "'sedes'" in message and "'seeds'" not in message
    assert "profile, seeds, width, depth, steps" in message


def test_main_rejects_an_unknown_parameter_before_running_anything(chapter, monkeypatch, capsys):
    ran = []
    monkeypatch.setattr(rc, "run_chapter", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(rc, "check_kernel", lambda: None)
    assert rc.main(["--profile", "smoke", "-p", "nope", "1", str(chapter)]) == 1
    assert not ran
    assert "unknown parameter 'nope'" in capsys.readouterr().err


def test_a_chapter_without_a_parameters_cell_is_an_error(tmp_path):
    path = tmp_path / "02_bare.py"
    path.write_text(PERCENT.replace(' tags=["parameters"]', ""))
    with pytest.raises(rc.ChapterError, match="no cell tagged 'parameters'"):
        rc.prepare_chapter(path, "smoke", {})


def test_the_real_chapters_declare_profile():
    chapters = rc.find_chapters([])
    assert chapters
    for path in chapters:
        assert "profile" in rc.parameter_names(jupytext.read(path), path.name)


# --- output folders -------------------------------------------------------------------------------------------


def test_output_folder_per_profile():
    assert rc.output_dir("cpu") == ROOT / "book" / "chapters"
    assert rc.output_dir("paper") == ROOT / "artifacts" / "paper"
    smoke = rc.output_dir("smoke")
    assert smoke == ROOT / "_build" / "chapters" / "smoke"
    assert smoke != rc.BASELINES, "a plain smoke run must not overwrite the committed baselines"


def test_update_baselines_writes_the_baselines_and_only_at_smoke(tmp_path):
    assert rc.output_dir("smoke", update_baselines=True) == ROOT / "tests" / "baselines"
    for profile in ("cpu", "paper"):
        with pytest.raises(ValueError, match="smoke"):
            rc.output_dir(profile, update_baselines=True)
    with pytest.raises(ValueError, match="--out-dir"):
        rc.output_dir("smoke", update_baselines=True, out_dir=tmp_path)
    assert rc.output_dir("cpu", out_dir=tmp_path) == tmp_path.resolve()


@pytest.mark.parametrize("argv", [["--profile", "cpu", "--update-baselines"],
                                  ["--profile", "paper", "--update-baselines"]])
def test_main_rejects_update_baselines_outside_smoke(argv, monkeypatch):
    monkeypatch.setattr(rc, "run_chapter", lambda *a, **k: pytest.fail("must not run"))
    with pytest.raises(SystemExit) as exit_:
        rc.main(argv)
    assert exit_.value.code == 2


def test_main_sends_smoke_runs_to_the_scratch_folder_unless_updating_baselines(chapter, monkeypatch):
    seen = []

    def fake_run(path, profile, extra, out_dir):
        seen.append(out_dir)
        return out_dir / f"{path.stem}.ipynb"

    monkeypatch.setattr(rc, "run_chapter", fake_run)
    monkeypatch.setattr(rc, "check_kernel", lambda: None)
    monkeypatch.delenv(rc.COLD_RUN_ENV, raising=False)
    assert rc.main(["--profile", "smoke", str(chapter)]) == 0
    assert rc.main(["--profile", "smoke", "--update-baselines", str(chapter)]) == 0
    assert seen == [ROOT / "_build" / "chapters" / "smoke", ROOT / "tests" / "baselines"]


# --- run times ------------------------------------------------------------------------------------------------


def test_record_run_time_keeps_the_last_run_not_the_longest(tmp_path):
    path = tmp_path / "run_times.json"
    rc.record_run_time("01_x", "cpu", 900.04, path, machine="m1", day=datetime.date(2025, 6, 1))
    rc.record_run_time("01_x", "cpu", 300.0, path, machine="m2", day=datetime.date(2025, 6, 2))
    rc.record_run_time("01_x", "smoke", 20.0, path, machine="m2", day=datetime.date(2025, 6, 2))
    times = json.loads(path.read_text())
    assert times["01_x"]["cpu"] == {"seconds": 300.0, "machine": "m2", "date": "2025-06-02"}
    assert times["01_x"]["smoke"]["seconds"] == 20.0


def test_record_run_time_reads_old_files_and_replaces_their_notes(tmp_path):
    path = tmp_path / "run_times.json"
    path.write_text(json.dumps({
        "01_x": {"cpu": {"seconds": 2307.8, "machine": "2 CPU cores, x86_64", "note": "typed by hand"},
                 "smoke": {"seconds": 77.6, "machine": "2 CPU cores, x86_64"}},
        "02_y": {"cpu": {"seconds": 528.2, "machine": "2 CPU cores, x86_64"}, "broken": "not a record"},
    }))
    record = rc.record_run_time("01_x", "cpu", 1500.0, path, machine="m", day=datetime.date(2025, 7, 3))
    times = json.loads(path.read_text())
    assert times["01_x"]["cpu"] == record == {"seconds": 1500.0, "machine": "m", "date": "2025-07-03"}
    assert times["01_x"]["smoke"] == {"seconds": 77.6, "machine": "2 CPU cores, x86_64"}
    assert times["02_y"] == {"cpu": {"seconds": 528.2, "machine": "2 CPU cores, x86_64"}}


@pytest.mark.parametrize("text", [None, "", "not json", "[1, 2]"])
def test_record_run_time_starts_afresh_from_a_missing_or_unreadable_file(tmp_path, text):
    path = tmp_path / "run_times.json"
    if text is not None:
        path.write_text(text)
    rc.record_run_time("01_x", "cpu", 12.34, path)
    record = json.loads(path.read_text())["01_x"]["cpu"]
    assert record["seconds"] == 12.3 and record["machine"] == rc.machine_description()
    assert record["date"] == datetime.date.today().isoformat()


def _fake_main(monkeypatch, tmp_path, computes: bool = True):
    """main() with run_chapter faked (no kernel; it stores one new result file in the cache if ``computes``)
    and run times recorded under tmp_path."""
    path = tmp_path / "run_times.json"
    cache = tmp_path / "cache" / "parent"
    cache.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TWOPHASE_CACHE", str(cache.parent))
    monkeypatch.setattr(rc, "RUN_TIMES", path)

    def fake_run(p, profile, extra, out):
        if computes:
            (cache / f"{len(list(cache.iterdir()))}.pt").write_bytes(b"x")
        return out / f"{p.stem}.ipynb"

    monkeypatch.setattr(rc, "run_chapter", fake_run)
    monkeypatch.setattr(rc, "check_kernel", lambda: None)
    return path


def test_times_are_recorded_only_when_the_caller_says_the_run_is_cold(chapter, tmp_path, monkeypatch):
    path = _fake_main(monkeypatch, tmp_path)
    out = ["--out-dir", str(tmp_path / "out"), str(chapter)]
    monkeypatch.delenv(rc.COLD_RUN_ENV, raising=False)
    assert rc.main(out) == 0
    assert not path.exists(), "a run without --record-time must not be recorded"
    assert rc.main(["--record-time", *out]) == 0
    assert set(json.loads(path.read_text())["01_tiny"]) == {"cpu"}
    monkeypatch.setenv(rc.COLD_RUN_ENV, "1")
    assert rc.main(["--profile", "smoke", *out]) == 0
    assert set(json.loads(path.read_text())["01_tiny"]) == {"cpu", "smoke"}
    path.unlink()
    assert rc.main(["--record-time", "-p", "seeds", "2", *out]) == 0
    assert not path.exists(), "a run with -p parameters is not the chapter's standard run"


def test_a_chapter_that_computed_nothing_is_not_recorded(chapter, tmp_path, monkeypatch):
    path = _fake_main(monkeypatch, tmp_path, computes=False)
    assert rc.main(["--record-time", "--out-dir", str(tmp_path / "out"), str(chapter)]) == 0
    assert not path.exists(), "a warm run (everything cached) is not a cold run"


# --- progress -------------------------------------------------------------------------------------------------


def test_read_new_lines_returns_complete_lines_once(tmp_path):
    path = tmp_path / "p.log"
    assert rc.read_new_lines(path, 0) == ([], 0)  # no file yet
    path.write_text("one\ntwo\nthr")
    lines, offset = rc.read_new_lines(path, 0)
    assert lines == ["one", "two"] and offset == len("one\ntwo\n")
    assert rc.read_new_lines(path, offset) == ([], offset)  # "thr" is not finished
    with open(path, "a") as f:
        f.write("ee\n")
    assert rc.read_new_lines(path, offset) == (["three"], offset + len("three\n"))
    path.write_text("new\n")  # rewritten, shorter: start again
    assert rc.read_new_lines(path, 100) == (["new"], 4)


def test_follow_prints_appended_lines_with_the_prefix(tmp_path):
    path = tmp_path / "sub" / "p.log"  # neither the file nor its folder exists when following starts
    out, stop = io.StringIO(), threading.Event()
    thread = threading.Thread(target=rc.follow, args=(path, "  [01_x] ", stop, out, 0.01))
    thread.start()
    time.sleep(0.05)
    path.parent.mkdir()
    with open(path, "a") as f:
        f.write("chaos sweep resnet20: 1/4 tasks, 3s elapsed, ~9s left\n")
    deadline = time.monotonic() + 5
    while "1/4" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    with open(path, "a") as f:
        f.write("chaos sweep resnet20: 4/4 tasks, 12s elapsed\n")
    stop.set()  # the last line is printed even when it arrives just before the chapter ends
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert out.getvalue() == ("  [01_x] chaos sweep resnet20: 1/4 tasks, 3s elapsed, ~9s left\n"
                              "  [01_x] chaos sweep resnet20: 4/4 tasks, 12s elapsed\n")


def test_progress_tail_exports_a_fresh_file_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(rc.PROGRESS_ENV, "/somewhere/else.log")
    stale = tmp_path / "01_x.log"
    stale.write_text("from an earlier run\n")
    out = io.StringIO()
    with rc.ProgressTail("01_x", directory=tmp_path, out=out, interval=0.01) as tail:
        assert os.environ[rc.PROGRESS_ENV] == str(stale) == str(tail.path)
        with open(os.environ[rc.PROGRESS_ENV], "a") as f:  # what the kernel's library does
            f.write("step 1\n")
    assert os.environ[rc.PROGRESS_ENV] == "/somewhere/else.log"
    assert out.getvalue() == "  [01_x] step 1\n"


def test_format_duration():
    assert rc.format_duration(42.34) == "42.3s"
    assert rc.format_duration(190) == "3m10s"
    assert rc.format_duration(3723) == "1h02m03s"


# --- post-processing ------------------------------------------------------------------------------------------


def _executed(chapter: Path):
    """The chapter as papermill leaves it, without running it: an injected-parameters cell after the parameters."""
    nb = jupytext.read(chapter)
    nb = nbformat.reads(jupytext.writes(nb, fmt="ipynb"), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\n',
                                         metadata={"tags": ["injected-parameters"], "papermill": {}})
    nb.cells.insert(at + 1, injected)
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke"}, "start_time": "x", "duration": 1.0}
    return nb


def test_strip_volatile_hides_the_original_parameters_cell_only(chapter):
    nb = _executed(chapter)
    rc.strip_volatile(nb)
    rc.strip_volatile(nb)  # idempotent
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and params[0].metadata["tags"] == ["parameters", "remove-cell"]
    assert len(injected) == 1 and injected[0].metadata["tags"] == ["injected-parameters"]
    assert injected[0].id == "injected-parameters"
    hidden = [c for c in nb.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden == params
    assert nb.metadata["papermill"] == {"parameters": {"profile": "smoke"}}
    nbformat.validate(nb)


def test_strip_volatile_keeps_the_parameters_cell_when_nothing_was_injected(chapter):
    nb = nbformat.reads(jupytext.writes(jupytext.read(chapter), fmt="ipynb"), as_version=4)
    rc.strip_volatile(nb)
    assert not any("remove-cell" in c.metadata.get("tags", []) for c in nb.cells)


def test_count_results_ignores_summaries(tmp_path):
    (tmp_path / "parent").mkdir()
    (tmp_path / "parent" / "a.pt").write_bytes(b"x")
    (tmp_path / "parent" / "b.pt").write_bytes(b"x")
    (tmp_path / "chaos-summary").mkdir()
    (tmp_path / "chaos-summary" / "c.pt").write_bytes(b"x")
    assert rc.count_results(tmp_path) == 2
    assert rc.count_results(tmp_path / "missing") == 0


def test_what_computing_wrote_to_stderr_leaves_the_page_for_the_terminal(capsys):
    """A cold run's warnings (a VmapFallbackWarning with the checkout's path, say) must not make the rendered page
    depend on whether the results were computed or loaded from the cache."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="/work/x.py:3: VmapFallbackWarning: slow\n"),
                    nbformat.v4.new_output("stream", name="stdout", text="kept\n")]
    nb.cells = [cell]
    rc.strip_volatile(nb)
    assert [o["name"] for o in nb.cells[0].outputs] == ["stdout"]
    assert "VmapFallbackWarning" in capsys.readouterr().err


def test_an_executed_chapter_carries_the_summary_of_its_profiles_own_designs_only(tmp_path):
    from twophase_book.pages import save_claim_summary
    from twophase_book.profiles import protocol_designs
    from twophase_book.summary import Cell, ClaimSummary
    from twophase_lib.cache import Cache

    cache = tmp_path / "cache"
    s = ClaimSummary("cone", "smoke", "partly", [Cell("ResNet-20", "constant lr", "reproduced", "floor 0.02")])
    assert rc.chapter_summary("02_cone_effect", "smoke", {"cache_dir": str(cache)}) is None  # nothing stored yet
    save_claim_summary(Cache(cache), s, protocol_designs("smoke"))
    assert rc.chapter_summary("02_cone_effect", "smoke", {"cache_dir": str(cache), "workers": 0}) == s.to_dict()
    assert rc.chapter_summary("02_cone_effect", "cpu", {"cache_dir": str(cache)}) is None  # another profile's
    # a re-run with other seeds ran other designs: the default designs' summary must not be attached to it
    assert rc.chapter_summary("02_cone_effect", "smoke", {"cache_dir": str(cache), "seeds": [3, 4]}) is None
    assert rc.chapter_summary("05_your_own_model", "smoke", {"cache_dir": str(cache)}) is None  # no claim summary
