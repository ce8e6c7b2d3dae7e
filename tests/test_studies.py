"""Chapter 2 and 3 studies on tiny runs, the reporting tables, and the generated pages."""

import math

import numpy as np
import pytest

from tests.conftest import tiny_config, with_schedule
from twophase_book.pages import rerun_markdown, scorecard_markdown
from twophase_book.render import Table
from twophase_lib.cache import Cache
from twophase_lib.cone import ConeStudy, run_studies
from twophase_lib.config import CACHE_VERSION
from twophase_lib.executor import Executor
from twophase_lib.switch import SwitchStudy, run_switch_studies

HERE = Executor(0)


def test_cone_study_on_a_tiny_run(tmp_path):
    study = ConeStudy(tiny_config(steps=8), steps=(0, 2, 4, 8), refs=(2,), seeds=(0, 1), n_inputs=3)
    res = run_studies({"s": study}, Cache(tmp_path), HERE, progress=False)["s"]
    assert res.matrices.shape == (2, 4, 4)
    assert np.allclose(res.matrices[:, range(4), range(4)], 0, atol=1e-12)
    assert np.allclose(res.matrices, res.matrices.transpose(0, 2, 1))
    assert (res.matrices[:, 0, 1:] > 0).all()
    t, s = res.from_reference(2)
    assert list(t) == [2, 4, 8] and s.shape == (2, 3) and np.allclose(s[:, 0], 0, atol=1e-12)


def test_two_schedules_give_the_same_kernels_before_the_drop_and_different_ones_after(tmp_path):
    run = tiny_config(steps=8)  # lr drop at 4
    studies = {("resnet20", sch): ConeStudy(with_schedule(run, sch), steps=(0, 2, 4, 6, 8), refs=(2,), seeds=(0,),
                                            n_inputs=3) for sch in ("step", "constant")}
    res = run_studies(studies, Cache(tmp_path), HERE, progress=False)
    step, constant = res[("resnet20", "step")], res[("resnet20", "constant")]
    assert np.array_equal(step.matrices[:, :3, :3], constant.matrices[:, :3, :3])  # steps 0, 2, 4: bitwise
    assert not np.array_equal(res[("resnet20", "step")].matrices, res[("resnet20", "constant")].matrices)


def test_cone_study_validates():
    with pytest.raises(ValueError, match="reference"):
        ConeStudy(tiny_config(steps=8), steps=(0, 4, 8), refs=(2,))
    with pytest.raises(ValueError, match="increasing"):
        ConeStudy(tiny_config(steps=8), steps=(0, 8, 4), refs=(4,))


def test_switch_study_on_a_tiny_run(tmp_path):
    study = SwitchStudy(tiny_config(steps=8), switches=(0, 4, 8), seeds=(0,), train_examples=100)
    res = run_switch_studies({"resnet20": study}, Cache(tmp_path), HERE, progress=False)["resnet20"]
    assert res.accuracy.shape == (1, 3) and ((0 <= res.accuracy) & (res.accuracy <= 1)).all()
    # t = T is the standard run itself, evaluated with batch norm re-estimated as every switch point is
    from twophase_lib.data import load_data
    from twophase_lib.store import evaluation_model, parent_at
    from twophase_lib.training import compute_threads, evaluate

    run = study.run.replace(seed=0)
    with compute_threads():
        acc = evaluate(evaluation_model(run, parent_at(run, 8, Cache(tmp_path))), load_data(run.data), "test")[
            "accuracy"
        ]
    assert res.accuracy[0, -1] == pytest.approx(acc, abs=1e-9)
    with pytest.raises(ValueError, match="end at T"):
        SwitchStudy(tiny_config(steps=8), switches=(0, 4))


def test_table_renders_as_text_markdown_and_html():
    t = Table(["a", "b|c"], [[1, "x<y"], [22, 3.5]], caption="cap")
    assert str(t).splitlines()[2].startswith("a ") and "22" in str(t)
    assert "b\\|c" in t.markdown() and "&lt;" in t._repr_html_() and "<caption>cap</caption>" in t._repr_html_()


def _claim(kind: str, verdict: str, acc: float = 0.42):
    from twophase_book.summary import Cell, ClaimSummary, Number

    cells = [Cell("ResNet-20", "constant lr", verdict, f"inflection 45 [30, 80]; accuracy {acc}",
                  [Number("inflection, Δ = 100", 45.0, 30.0, 80.0), Number("test accuracy, t = 100", acc, 0.4, 0.44)]),
             Cell("VGG-16", "constant lr", "not reproduced", "no transition in the window",
                  [Number("inflection, Δ = 100", math.inf, 200.0, math.inf)]),
             Cell("ResNet-20", "step schedule (extension)", "measured", "drops shrink it")]
    return ClaimSummary(kind, "cpu", verdict, cells, [f"{kind}: ✓ control exact"])


def test_the_scorecard_reads_the_executed_chapters_summaries_first_and_is_never_half_filled(tmp_path):
    import json

    from twophase_book.claims import CLAIMS
    from twophase_book.pages import book_summaries, lacking_summaries, save_claim_summary
    from twophase_book.profiles import protocol_designs

    cache, chapters = Cache(tmp_path / "cache"), tmp_path / "chapters"
    chapters.mkdir()
    assert lacking_summaries(book_summaries(cache, ("cpu",), chapters)) == [c.chapter for c in CLAIMS]
    shown, cached = _claim("switch", "partly"), _claim("switch", "reproduced")
    save_claim_summary(cache, cached, protocol_designs("cpu"))
    (chapters / "03_linearized_switch.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {"twophase": {"profile": "cpu", "summary": shown.to_dict(), "cache_version": 2}}}))
    assert book_summaries(cache, ("cpu",), chapters)[("switch", "cpu")] == cached  # older code's: not shown
    (chapters / "03_linearized_switch.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {"twophase": {"profile": "cpu", "summary": shown.to_dict(),
                                                "cache_version": CACHE_VERSION}}}))
    (chapters / "02_cone_effect.ipynb").write_text(json.dumps(  # executed before summaries were kept
        {"cells": [], "metadata": {"twophase": {"profile": "cpu"}}}))
    found = book_summaries(cache, ("cpu", "gpu"), chapters)
    assert found[("switch", "cpu")] == shown  # what the book shows, not what the cache holds
    assert found[("switch", "gpu")] is None and found[("cone", "cpu")] is None
    assert book_summaries(cache, ("cpu",))[("switch", "cpu")] == cached  # no chapters: the cache's
    assert "03_linearized_switch" not in lacking_summaries(found) and "02_cone_effect" in lacking_summaries(found)
    page = scorecard_markdown(cache, ("cpu",), summaries=found)
    row = next(line for line in page.splitlines() if "03_linearized_switch" in line and "`cpu`" in line)
    assert "**partly**" in row and page.count("not run yet") == 5


def test_summaries_are_keyed_by_design_and_the_scorecard_shows_them(tmp_path):
    from twophase_book.pages import load_claim_summary, save_claim_summary
    from twophase_book.profiles import protocol_designs
    from twophase_book.summary import ClaimSummary

    cache = Cache(tmp_path)
    empty = scorecard_markdown(cache)
    assert empty.count("not run yet") == 6  # three claims, chapter 6's open question, chapters 4 and 7
    s = _claim("switch", "partly")
    assert ClaimSummary.from_dict(s.to_dict()) == s
    save_claim_summary(cache, s, protocol_designs("cpu"))
    assert load_claim_summary(cache, "switch", "cpu") == s
    assert load_claim_summary(cache, "switch", "smoke") is None
    # a re-run with other seeds is stored under its own designs: the scorecard never shows it
    save_claim_summary(cache, _claim("chaos", "reproduced"), protocol_designs("cpu", seeds=[5, 6]))
    assert load_claim_summary(cache, "chaos", "cpu") is None
    page = scorecard_markdown(cache)
    assert page.count("not run yet") == 5 and "`cpu`" in page and "`paper`" not in page
    assert "| ResNet-20 (constant lr) | VGG-16 (constant lr) | extensions, controls and other tasks |" in page
    glance = next(line for line in page.splitlines() if "03_linearized_switch" in line)  # the grid's row first
    assert [c.strip() for c in glance.split("|")][2:5] == ["🟡 partly", "🟡 partly", "🔴 not reproduced"]
    row = next(line for line in page.splitlines() if "03_linearized_switch" in line and "`cpu`" in line)
    cells = [c.strip() for c in row.split("|")]
    assert cells[3] == "**partly**" and cells[4].startswith("**partly**<br>inflection 45 [30, 80]")
    assert cells[5].startswith("**not reproduced**") and "step schedule (extension): **measured**" in cells[6]
    assert "switch: ✓ control exact" in page


def test_the_glance_grid_has_one_badge_per_claim_and_network_and_the_figure_every_deciding_margin(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from twophase_book.pages import badge, check_margins, glance_grid, margins_figure, save_claim_summary
    from twophase_book.profiles import protocol_designs
    from twophase_book.summary import CHECK_PREFIX, Cell, ClaimSummary, check_numbers
    from twophase_lib.verdicts import Check, Outcome, Verdict, WindowCheck

    v = Verdict(Outcome.PARTLY, [Check(WindowCheck.CHAOTIC_EARLY, True, "", margin=0.2, interval=(0.1, 0.3)),
                                 Check(WindowCheck.STABLE_LATE, False, "", margin=-0.1, interval=(-0.2, 0.05)),
                                 Check(WindowCheck.CONTROL_EXACT, True, "exact"),  # no margin: not drawn
                                 Check(WindowCheck.TRANSITION_FOUND, True, "", margin=0.1, interval=(0.0, 0.2),
                                       deciding=False)])
    numbers = check_numbers(v, "Δ = 100: ")
    assert [n.quantity for n in numbers] == [f"{CHECK_PREFIX}Δ = 100: chaotic early",
                                             f"{CHECK_PREFIX}Δ = 100: stable late"]
    cache = Cache(tmp_path)
    s = _claim("chaos", "partly")
    s.cells[0].numbers += numbers
    save_claim_summary(cache, s, protocol_designs("cpu"))
    beyond = ClaimSummary("beyond", "cpu", "partly", [Cell("ViT", "chaos effect", "inapplicable", ""),
                                                      Cell("ViT", "cone effect", "not reproduced", "")])
    found = {("chaos", "cpu"): s, ("beyond", "cpu"): beyond}
    grid = glance_grid(found, "cpu")
    assert grid[0] == "| claim | verdict (ch. 1–3) | ResNet-20 | VGG-16 | ViT (ch. 4) |"
    chaos_row = [c.strip() for c in grid[2].split("|")]
    assert chaos_row[2:6] == [badge("partly"), badge("partly"), badge("not reproduced"), badge("inapplicable")]
    assert "🔴 not reproduced" in grid[3] and grid[4].count("–") == 3  # cone: ViT only; switch: not run
    assert glance_grid({}, "cpu") == []
    rows = check_margins([s, beyond])
    assert [r[1] for r in rows] == ["ResNet-20: Δ = 100: chaotic early", "ResNet-20: Δ = 100: stable late"]
    fig = margins_figure(rows)
    assert len(fig.axes[0].get_yticklabels()) == 2
    page = scorecard_markdown(cache, ("cpu",), figure="figures/m.png")
    assert "🟡 partly" in page and "![Every deciding check" in page and "## The numbers, per claim" in page


def test_a_longer_design_run_once_is_kept_and_shown_under_the_grid(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    from twophase_book.pages import frozen_markdown, save_claim_summary
    from twophase_book.profiles import protocol_designs

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("freeze", root / "scripts" / "freeze_summaries.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    old = Cache(tmp_path / "old")
    designs = protocol_designs("cpu")
    save_claim_summary(old, _claim("chaos", "partly"), designs)
    out = tmp_path / "longer.json"
    args = ["--cache", str(old.root), "--label", "window 900", "--source", "commit abc", "--out", str(out)]
    assert script.main(args) == 2  # the cone and switch summaries are missing
    for kind in ("cone", "switch"):
        save_claim_summary(old, _claim(kind, "not reproduced"), designs)
    assert script.main(args) == 0
    data = json.loads(out.read_text())
    assert data["claims"]["chaos"]["designs"][0]["chaos"]["t0s"] == list(designs["resnet20"].chaos.t0s)
    lines = frozen_markdown(data)
    assert any("window 900" in line for line in lines) and any("commit abc" in line for line in lines)
    row = next(line for line in lines if line.startswith("| 1. Chaos effect"))
    assert "**partly**" in row and "inflection 45 [30, 80]" in row
    page = scorecard_markdown(Cache(tmp_path / "new"), frozen=data)
    assert "## A longer design, run once (window 900)" in page
    save_claim_summary(old, _claim("cone", "partly"), protocol_designs("cpu", seeds=[7]))  # a second cone summary
    assert script.main(args) == 2


def test_numbers_print_their_intervals_and_beyond_the_window():
    from twophase_book.summary import Number

    assert Number("x", 45.0, 30.0, 80.0).text() == "45 [30, 80]"
    assert Number("x", math.inf, 200.0, math.inf).text() == "> last t0 [200, > last t0]"
    assert Number("x", 0.5).text() == "0.5" and Number("x", math.nan).text() == "undefined"


def test_rerun_page_shows_measured_times_only():
    page = rerun_markdown(
        {"01_chaos_effect": {"cpu": {"seconds": 90.0, "machine": "2 CPU cores, x86_64", "date": "2026-11-28"}}}
    )
    assert "1.5 min (2 CPU cores, x86_64, 2026-11-28)" in page and page.count("not measured yet") == 3


def _summaries(chaos_verdict: str, switch_acc: float) -> dict:
    """Chapters 1-3's summaries as the notebooks save them, reduced to what the across-machines page reads."""
    inf = {"estimate": 80.0, "low": 60.0, "high": 120.0, "seeds": 3}
    chaos = {
        "profile": "cpu",
        "verdict": chaos_verdict,
        "sweeps": {
            "resnet20/step": {
                "t0s": [0, 150, 300],
                "late_t0": 150,
                "disagreement_mean": [0.33, 0.12, 0.004],
                "disagreement_range": [[0.3, 0.36], [0.1, 0.15], [0.0, 0.01]],
                "inflection": inf,
                "verdict": chaos_verdict,
                "reference_independent_init": 0.34,
            }
        },
        "step": chaos_verdict,
        "constant": None,
        "mismatches": [],
    }
    cone = {
        "profile": "cpu",
        "verdict": "partly",
        "archs": {"resnet20": {"verdict": "partly", "s_first_drop": {"70": [0.3, 0.25, 0.35]}}},
    }
    switch = {
        "profile": "cpu",
        "verdict": "reproduced",
        "archs": {
            "resnet20": {
                "verdict": "reproduced",
                "switches": [0, 150, 400],
                "accuracy_mean": [0.2, switch_acc, 0.46],
                "accuracy_range": [[0.19, 0.21], [0.4, 0.44], [0.45, 0.47]],
            }
        },
    }
    return {"chaos": chaos, "cone": cone, "switch": switch}


def _fp_dict(capability: str) -> dict:
    import dataclasses

    from twophase_lib.numerics import fingerprint

    return dataclasses.replace(fingerprint(), cpu_capability=capability).as_dict()


def test_across_machines_page_shows_spreads_and_flipped_verdicts_are_inconclusive(tmp_path):
    from twophase_book.pages import across_flips, across_machines_markdown, across_verdicts, headline_numbers

    rows = headline_numbers("chaos", _summaries("partly", 0.42)["chaos"])
    assert [r[1] for r in rows] == [
        "disagreement, t0 = 0",
        "disagreement, t0 = 150",
        "disagreement, t0 = 300",
        "inflection (iterations)",
    ]
    assert rows[0][2:] == (0.33, 0.3, 0.36)
    with pytest.raises(ValueError, match="no headline numbers"):
        headline_numbers("beyond", {})

    a, b = _fp_dict("AVX512"), _fp_dict("AVX2")
    same = {
        "profile": "cpu",
        "runs": [
            {"fingerprint": a, "summaries": _summaries("partly", 0.42), "cache_version": CACHE_VERSION},
            {"fingerprint": b, "summaries": _summaries("partly", 0.40), "cache_version": CACHE_VERSION},
        ],
    }
    assert across_verdicts(same["runs"])["chaos"] == {"chapter": "partly", "resnet20, step": "partly"}
    flipped = {
        "profile": "cpu",
        "runs": [same["runs"][0], {"fingerprint": b, "summaries": _summaries("reproduced", 0.40),
                                   "cache_version": CACHE_VERSION}],
    }
    assert across_verdicts(flipped["runs"])["chaos"]["chapter"] == "inconclusive"
    page = across_machines_markdown(flipped, a["id"])
    assert f"`{a['id']}`" in page and f"`{b['id']}`" in page and "**inconclusive**" in page
    # switch at t = 150: means 0.42 and 0.40 -> spread 0.02 against a seed range of 0.04 -> ratio 0.5
    assert "| test accuracy, switch at t = 150 | 0.42 | 0.4 | 0.02 | 0.04 | 0.5 |" in page
    assert "2 of 6 verdicts differ between fingerprints" in page
    # a setting inconclusive on every fingerprint is inconclusive across machines, but no fingerprint disagrees
    both = {"profile": "cpu", "runs": [{"fingerprint": a, "summaries": _summaries("inconclusive", 0.42)},
                                       {"fingerprint": b, "summaries": _summaries("inconclusive", 0.40)}]}
    assert across_verdicts(both["runs"])["chaos"]["chapter"] == "inconclusive"
    assert "0 of 6 verdicts differ between fingerprints" in across_machines_markdown(both, a["id"])
    assert "No run recorded yet" in across_machines_markdown({})

    from twophase_book.pages import save_claim_summary
    from twophase_book.profiles import protocol_designs

    cache = Cache(tmp_path)
    save_claim_summary(cache, _claim("chaos", "partly"), protocol_designs("cpu"))
    typed = {"profile": "cpu", "runs": [
        {"fingerprint": a, "summaries": {"chaos": _claim("chaos", "partly").to_dict()}, "cache_version": CACHE_VERSION},
        {"fingerprint": b, "summaries": {"chaos": _claim("chaos", "reproduced").to_dict()},
         "cache_version": CACHE_VERSION}]}
    assert "**inconclusive** (this machine: partly" in scorecard_markdown(cache, across=typed)
    # every fingerprint agreeing (even on "inconclusive") is no flip: the scorecard keeps the machine's verdict
    agreeing = {"profile": "cpu", "runs": [
        {"fingerprint": fp, "summaries": {"chaos": _claim("chaos", "partly").to_dict()}, "cache_version": CACHE_VERSION}
        for fp in (a, b)]}
    assert "(this machine" not in scorecard_markdown(cache, across=agreeing)
    assert across_flips(typed["runs"]) == {"chaos"} and across_flips(agreeing["runs"]) == set()
    # runs of the earlier design (dict summaries) say nothing of the current verdicts
    assert "**inconclusive** (this machine" not in scorecard_markdown(cache, across=flipped)
    assert "predate the paper's protocol" in page and "predate" not in across_machines_markdown(typed, a["id"])
    # typed summaries (chapters 1-3 on the paper's protocol) give their numbers and settings the same way
    typed = _claim("switch", "partly").to_dict()
    assert headline_numbers("switch", typed)[1] == ("ResNet-20, constant lr", "test accuracy, t = 100", 0.42, 0.4,
                                                    0.44)
    assert across_verdicts([{"fingerprint": a, "summaries": {"switch": typed}},
                            {"fingerprint": b, "summaries": {"switch": _claim("switch", "reproduced").to_dict()}}]
                           )["switch"]["chapter"] == "inconclusive"


def test_across_machines_figure_has_a_panel_per_quantity_and_a_series_per_fingerprint():
    import matplotlib

    matplotlib.use("Agg")
    from twophase_book.pages import across_machines_figure, across_rows

    runs = [
        {"fingerprint": _fp_dict("AVX512"), "summaries": _summaries("partly", 0.42)},
        {"fingerprint": _fp_dict("AVX2"), "summaries": _summaries("partly", 0.40)},
    ]
    rows = across_rows(runs)
    assert [len(v) for v in rows.values()] == [4, 1, 3]
    ids = [r["fingerprint"]["id"] for r in runs]
    fig = across_machines_figure({**rows, "empty": []}, ids)
    assert len(fig.axes) == 3
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ids
    # a crowded panel (more numbers than CROWDED_PANEL) turns its labels upright, one line each, and is taller
    from twophase_book.pages import CROWDED_PANEL

    many = [(f"net {i}", "q", {ids[0]: (0.1 * i, 0.0, 1.0)}) for i in range(CROWDED_PANEL + 1)]
    fig = across_machines_figure({"few": rows[next(iter(rows))], "many": many}, ids)
    few_ax, many_ax = fig.axes[:2]
    assert {t.get_rotation() for t in many_ax.get_xticklabels()} == {90.0}
    assert many_ax.get_xticklabels()[0].get_text() == "net 0: q" and "\n" in few_ax.get_xticklabels()[0].get_text()
    assert many_ax.get_position().height > few_ax.get_position().height


def test_across_machines_figure_leaves_out_an_inflection_beyond_the_grid_without_a_warning():
    import math
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    from twophase_book.pages import across_machines_figure

    rows = {"inflection": [("ResNet-20", "inflection", {"a": (100.0, 25.0, 200.0), "b": (math.inf, 50.0, math.inf)}),
                           ("VGG-16", "inflection", {"a": (50.0, 25.0, 100.0), "b": (75.0, 50.0, 100.0)})]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = across_machines_figure(rows, ["a", "b"])
    drawn = [len(c.lines[0].get_xdata()) for c in fig.axes[0].containers]
    assert drawn == [2, 1]  # fingerprint b's infinite inflection is not drawn


def test_chapter_summaries_hold_plain_strings_not_enums():
    """Summaries are stored and printed as plain JSON values: an Outcome member in them would print as
    <Outcome.PARTLY: 'partly'> inside a dict and tie the cached file to the class."""
    import json

    import numpy as np

    from tests.conftest import tiny_config
    from twophase_book.switch import ARMS, window_switch_summary
    from twophase_lib.switch import SwitchResult, SwitchStudy
    from twophase_lib.verdicts import paired_switch_verdict

    run = tiny_config(steps=12).replace(optim={"milestones": ()})
    study = SwitchStudy(run, (0, 6, 12), (0,))
    acc = np.array([[0.2, 0.3, 0.4]])
    res = {("resnet20", ARMS[0]): SwitchResult(study, np.array([0, 6, 12]), acc, acc, [])}
    v = {("resnet20", ARMS[0]): paired_switch_verdict(np.array([0, 6, 12]), acc, 3.0, acc - 0.1)}
    s = window_switch_summary("smoke", res, v).to_dict()
    assert type(s["verdict"]) is str and all(type(c["outcome"]) is str for c in s["cells"])
    json.dumps(s)


def test_the_committed_rerun_page_is_what_the_run_times_and_profiles_give():
    """book/rerun.md is generated (scripts/make_scorecard.py): a design or run-time change must regenerate it."""
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    times = json.loads((root / "book" / "run_times.json").read_text())
    assert (root / "book" / "rerun.md").read_text() == rerun_markdown(times), "run scripts/make_scorecard.py"


def test_runs_of_another_code_version_are_never_set_side_by_side_nor_applied_by_the_scorecard(tmp_path):
    import importlib.util
    from pathlib import Path

    from twophase_book.pages import across_machines_markdown, current_protocol

    path = Path(__file__).parents[1] / "scripts" / "across_machines.py"
    spec = importlib.util.spec_from_file_location("across", path)
    across = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(across)
    old = lambda fp, v: {"fingerprint": _fp_dict(fp), "summaries": {"chaos": _claim("chaos", v).to_dict()}}  # noqa
    data = across.merge(across.merge({}, "cpu", old("AVX512", "partly")), "cpu", old("AVX2", "reproduced"))
    assert [across.code_version(r) for r in data["runs"]] == [2, 2] and not current_protocol(data)
    assert "**These runs were computed by older code** (cache version 2" in across_machines_markdown(data)
    new = {**old("AVX2", "partly"), "cache_version": CACHE_VERSION}
    merged = across.merge(data, "cpu", new)
    assert merged["runs"] == [new] and current_protocol(merged)
    assert "older code" not in across_machines_markdown(merged)
    cache = Cache(tmp_path)
    from twophase_book.pages import save_claim_summary, scorecard_markdown
    from twophase_book.profiles import protocol_designs

    save_claim_summary(cache, _claim("chaos", "partly"), protocol_designs("cpu"))
    assert "**inconclusive** (this machine" not in scorecard_markdown(cache, across=data)  # the flip: older code
