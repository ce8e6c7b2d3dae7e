"""bench/gpu_measure.py, the one-shot GPU measurement script, runs end to end on tiny CPU models.

It is meant to run once, blind, on a GPU machine: this checks that every section comes back (each
measurement a value, an error string or a budget skip), that the JSON lines and the JSON file agree,
and that the essential measurements give values on a CPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("a_step_rates", "b_determinism", "c_entk", "d_book_time")


@pytest.mark.slow  # about 35-40 s on two busy cores (spawned processes, two sweeps, eNTK loops)
def test_gpu_measure_runs_tiny_on_cpu_and_reports_every_section(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_measure.py"), "--device", "cpu", "--tiny",
                           "--budget-s", "60"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_measure.json").read_text())
    assert report["meta"]["device"] == "cpu" and report["meta"]["tiny"] is True
    assert report["meta"]["elapsed_s"] <= 60 + 30  # the budget, and the estimates made after it

    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    printed = {(r["section"], r["name"]) for r in lines if "name" in r}
    for section in SECTIONS:
        assert report[section], f"section {section} is empty"
        for name, rec in report[section].items():
            assert (section, name) in printed, f"{section}/{name} was not printed as a JSON line"
            # each measurement: a value, or an error string, or a skip for lack of time
            for key in ("error", "skipped"):
                assert key not in rec or (isinstance(rec[key], str) and rec[key]), (section, name, rec)
            if "error" not in rec and "skipped" not in rec:
                assert len(rec) > 1, (section, name, rec)

    value = lambda section, name: report[section].get(name, {})  # noqa: E731
    eager = value("a_step_rates", "resnet20/eager")
    assert eager.get("steps_per_s", 0) > 0 and eager["ratio_to_eager"] == 1.0, eager
    det = value("b_determinism", "resnet20")
    assert det.get("control_is_exact") is True and det.get("two_runs_bitwise_equal") is True, det
    entk = [r for n, r in report["c_entk"].items() if n.startswith("resnet20/n=")]
    assert entk and all(r.get("speedup", 0) > 0 and r["max_relative_difference"] < 1e-4 for r in entk), entk
    est = value("d_book_time", "estimates")
    for profile in ("gpu", "paper"):  # only chapter 6's other widths and batch sizes go unpriced
        assert all(m.startswith("resnet20 x") and m != "resnet20 x1 b128" for m in est[profile]["missing"])
        best = est[profile]["by_path"][est[profile]["best_library_path"]]
        hours = best["hours_n_gpus_ideal"]
        assert set(hours) == {"1", "2", "4", "8"} and hours["1"] > 0
        assert hours["8"] == pytest.approx(hours["1"] / 8)
        assert all(best["hours_n_gpus_bounded"][n] >= hours[n] for n in hours)
    assert "gpu profile, best path the library runs today" in proc.stdout


def test_estimates_from_the_h200_measurements_pick_the_graph_path(tmp_path):
    """--merge an earlier report, measure nothing (--only estimates): the estimates come from the merged records.

    The report is the one measured on an H200 (bench/results/): the work is the library's cost model's count of
    every chapter's studies on the GPU (twophase_book.budget), the library's path the bitwise CUDA-graph one, and
    only networks the report never measured (chapter 6's other widths and batch sizes) are missing.
    """
    measured = ROOT / "bench" / "results" / "gpu_measure_h200_2026-11-30_run3.json"
    out = tmp_path / "estimates.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_measure.py"), "--device", "cpu", "--merge",
                           str(measured), "--only", "estimates", "--out", str(out)], cwd=ROOT,
                          env={**os.environ, "TQDM_DISABLE": "1"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    merged = json.loads(measured.read_text())
    assert report["a_step_rates"] == {k: v for k, v in merged["a_step_rates"].items()}  # nothing re-measured
    gpu = report["d_book_time"]["estimates"]["gpu"]
    assert gpu["best_library_path"].startswith("CUDA graphs") and set(gpu["per_arch"]) == {"resnet20", "vgg16"}
    assert gpu["missing"] and all(m.startswith("resnet20 x") and m != "resnet20 x1 b128" for m in gpu["missing"])
    counts = gpu["per_arch"]["resnet20"]["counts"]
    assert counts["steps"] > 0 and counts["linearized_steps"] > 0 and counts["comparisons"] > 0
    best = gpu["by_path"][gpu["best_library_path"]]
    assert 0 < best["hours_1_gpu"] < gpu["by_path"]["eager, 1 process (reference)"]["hours_1_gpu"]
    # the unmeasured networks priced by their FLOPs, labelled; the gpu design's GPU work sized to two device
    # sessions (chapters 1-3, then 4-6), each 15 minutes of device time less the 4 under which no machine starts
    # (the device's README)
    assert set(gpu["extrapolated"]) == set(gpu["missing"])
    ratios = {net: e["step_ratio"] for net, e in gpu["extrapolated"].items()}
    assert ratios["resnet20 x2 b128"] == 4 and ratios["resnet20 x1 b256"] == 2 and ratios["resnet20 x0.5 b128"] == 1
    assert best["hours_1_gpu"] < best["hours_1_gpu_with_extrapolated"] <= 2 * 11 / 60
    paper = report["d_book_time"]["estimates"]["paper"]
    assert paper["by_path"][paper["best_library_path"]]["hours_1_gpu"] > best["hours_1_gpu"]


def test_the_gpu_book_script_needs_a_gpu_and_says_so():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_book.py"), "--out", "/tmp/unused"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script would run the gpu book")
    assert proc.returncode == 2 and "no CUDA device" in proc.stderr


def test_the_gpu_book_script_selects_chapters_for_a_run_split_over_two_calls():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_book
    finally:
        sys.path.pop(0)
    assert gpu_book.select_chapters(None) == gpu_book.CHAPTERS and len(gpu_book.CHAPTERS) == 6
    assert "07_paper_or_scale.py" in gpu_book.ALL_CHAPTERS and "07_paper_or_scale.py" not in gpu_book.CHAPTERS
    assert gpu_book.select_chapters(["3", "01", "06_what_moves_the_transition.py"]) == [
        "01_chaos_effect.py", "03_linearized_switch.py", "06_what_moves_the_transition.py"]
    with pytest.raises(SystemExit, match="names no single chapter.*01_chaos_effect.py"):
        gpu_book.select_chapters(["9"])
    with pytest.raises(SystemExit, match="07_paper_or_scale.py does not run at the gpu profile"):
        gpu_book.select_chapters(["7"])


def test_the_gpu_ladder_is_planned_from_the_h200_report_and_refused_beside_older_code_in_its_series(tmp_path):
    import json

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gpu_book
    finally:
        sys.path.pop(0)
    from twophase_lib.config import CACHE_VERSION

    plan = gpu_book.ladder_plan()
    assert set(plan["rungs"]) == {"vgg16-x0.5-b128", "vgg16-x1-b128"}
    for rung in plan["rungs"].values():
        assert rung["missing"] == [] and 0 < rung["minutes"] < 60
        assert rung["work"]["steps"] > 0 and rung["work"]["linearized_steps"] > 0  # the switch runs there
    assert plan["minutes"] == pytest.approx(sum(r["minutes"] for r in plan["rungs"].values()), abs=0.11)
    record = {"rungs": {rid: {"rung": {"arch": a, "width": w, "batch_size": b}} for rid, a, w, b in (
        ("vgg16-x0.25-b128", "vgg16", 0.25, 128), ("vgg16-x0.25-b64", "vgg16", 0.25, 64),
        ("resnet20-x1-b128", "resnet20", 1.0, 128))},
        "code": {"vgg16-x0.25-b128": CACHE_VERSION - 1, "vgg16-x0.25-b64": CACHE_VERSION - 1,
                 "resnet20-x1-b128": CACHE_VERSION - 1}}
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps(record))
    assert gpu_book.series_clash(path) == [f"vgg16-x0.25-b128 (code version {CACHE_VERSION - 1})"]  # its series only
    record["code"]["vgg16-x0.25-b128"] = CACHE_VERSION
    path.write_text(json.dumps(record))
    assert gpu_book.series_clash(path) == [] and gpu_book.series_clash(tmp_path / "none.json") == []
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_book.py"), "--ladder", "--plan"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and json.loads(proc.stdout)["rungs"].keys() == plan["rungs"].keys()
