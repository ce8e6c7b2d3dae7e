"""The scale chapter (issue 34): the ladder's designs, what a rung measures, the trends read from its measures, the
scorecard's scale column, and the library options the ladder added (a smaller training set, the eNTK with training's
running batch-norm statistics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.conftest import tiny_config
from twophase_book import scale
from twophase_book.claims import CLAIMS, claim
from twophase_book.render import Note
from twophase_book.scale import (
    PREDICTIONS,
    RungMeasures,
    claim_scale,
    ladder_trends,
    other_batch_trend_table,
    select_rungs,
)
from twophase_lib.cache import Cache
from twophase_lib.cone import ConeStudy
from twophase_lib.config import CACHE_VERSION, DataConfig, config_hash, to_dict
from twophase_lib.data import load_data
from twophase_lib.ntk import kernel_distance
from twophase_lib.numerics import fingerprint
from twophase_lib.store import kernel_at
from twophase_lib.verdicts import ScaleOutcome

# ------------------------------------------------------------------------------------ the library's new options


@pytest.mark.parametrize("split,n,too_many,message,least", [
    ("train", 100, 10_000, "train_examples = 10000 is more than the 5,170 training images", 2),
    ("test", 64, 2000, "test_examples = 2000 is more than the 1,017 test images", 1)])
def test_a_smaller_split_is_its_first_images_and_enters_the_key_only_when_set(split, n, too_many, message, least):
    other = "test" if split == "train" else "train"
    field = f"{split}_examples"
    full, few = load_data(DataConfig()), load_data(DataConfig(**{field: n}))
    assert torch.equal(getattr(few, f"x_{split}"), getattr(full, f"x_{split}")[:n])
    assert torch.equal(getattr(few, f"y_{split}"), getattr(full, f"y_{split}")[:n])
    assert torch.equal(getattr(few, f"x_{other}"), getattr(full, f"x_{other}"))  # the other split whole
    assert field not in to_dict(DataConfig(), for_hash=True)  # old results keep their keys
    assert config_hash(DataConfig(**{field: n})) != config_hash(DataConfig())
    with pytest.raises(ValueError, match=message):
        load_data(DataConfig(**{field: too_many}))
    with pytest.raises(ValueError, match=f"{field} must be an integer ≥ {least}"):
        DataConfig(**{field: least - 1})


def test_the_entk_with_running_statistics_is_its_own_result_and_the_default_keeps_its_key():
    run = tiny_config(steps=4).replace(optim={"milestones": ()})
    cache = Cache()
    a = kernel_at(run, 4, 4, "full", cache, split="train")
    b = kernel_at(run, 4, 4, "full", cache, split="train", bn="running")
    assert a.shape == b.shape == (40, 40)
    assert kernel_distance(a, b) > 0  # 4 steps of running averages are not the re-estimated statistics
    assert torch.equal(kernel_at(run, 4, 4, "full", cache, split="train", bn="running"), b)  # cached, bitwise
    assert len(cache.records("entk")) == 2
    st = ConeStudy(run, (0, 4), (0,), (0,), 4)
    assert "bn" not in to_dict(st, for_hash=True)
    with pytest.raises(ValueError, match="batch-norm statistics"):
        ConeStudy(run, (0, 4), (0,), (0,), 4, bn="batch")
    with pytest.raises(ValueError, match="batch-norm statistics"):
        kernel_at(run, 4, 4, "full", cache, bn="frozen")


# --------------------------------------------------------------------------------------------------- designs


def test_the_ladders_rungs_and_designs():
    ladder = scale.chapter_designs("ladder")
    assert not ladder["definitions"]
    rungs = select_rungs("ladder")
    assert {(r.arch, r.width) for r in rungs if r.batch_size == 128 and r.train_examples is None} == {
        ("resnet20", 0.25), ("resnet20", 0.5), ("resnet20", 1.0), ("vgg16", 0.0625), ("vgg16", 0.125),
        ("vgg16", 0.25)}
    assert {r.batch_size for r in rungs} == {64, 128}
    for rid, d in ladder["rungs"].items():
        r = scale.rung("ladder", rid)
        assert d.window >= 1500 and d.switch.T >= 700
        assert (d.run.model.width, d.run.optim.batch_size, d.run.data.train_examples) == (r.width, r.batch_size,
                                                                                           r.train_examples)
        assert r.switch == (r.batch_size == 128 and r.train_examples is None)
    half = scale.rung("ladder", "resnet20-x0.5-b128-n2585")
    assert ladder["rungs"][half.id].epoch_steps == 2585 // 128 and half.label.endswith("2,585 images")
    # the book reads the ladder's record and measures the definitions on chapter 2's runs
    cpu = scale.chapter_designs("cpu")
    assert cpu["rungs"] == {} and set(cpu["definitions"]) == {"resnet20", "vgg16"}
    studies = scale.studies(cpu)
    assert {k[2] for k in studies} == set(scale.DEFINITIONS)
    assert {s.bn for s in studies.values()} == {"reestimated", "running"}
    assert {s.n_inputs for s in studies.values()} == {50, 200} and {s.mode for s in studies.values()} == {"full",
                                                                                                         "sum"}


def test_the_gpu_rungs_are_vgg16_at_the_papers_width_and_half_chosen_only_by_name_and_refused_without_cuda():
    gpu = scale.gpu_rungs("ladder")
    assert [(r.arch, r.width, r.batch_size, r.switch) for r in gpu] == [("vgg16", 0.5, 128, True),
                                                                          ("vgg16", 1.0, 128, True)]
    assert scale.gpu_rungs("smoke") == ()
    assert all(scale.rung_design("ladder", r).run.device == "cuda" for r in gpu)
    assert all(scale.rung_design("ladder", r).run.device == "cpu" for r in select_rungs("ladder"))
    assert not set(gpu) & set(select_rungs("ladder"))  # never by default, nor by a network's name
    assert not set(gpu) & set(select_rungs("ladder", "vgg16"))
    assert select_rungs("ladder", "gpu") == gpu and select_rungs("ladder", "vgg16-x1-b128") == gpu[1:]
    assert set(scale.ladder_rungs("ladder")) == set(select_rungs("ladder")) | set(gpu)
    assert {r.series for r in gpu} == {"vgg16-b128"}  # the top of the CPU rungs' series
    if scale.cuda_available():
        pytest.skip("a GPU is here: the GPU rungs are not refused")
    with pytest.raises(ValueError, match=r"vgg16-x0.5-b128, vgg16-x1-b128: GPU rungs .* this machine has none; .*"
                                         r"gpu_book.py --ladder"):
        scale.chapter_designs("ladder", rungs="gpu")
    with pytest.raises(ValueError, match="or gpu, the GPU rungs"):
        select_rungs("ladder", "gpus")


def test_a_rerunner_selects_rungs_by_id_or_network_and_a_wrong_name_lists_them():
    assert [r.id for r in select_rungs("ladder", "vgg16-x0.25-b128")] == ["vgg16-x0.25-b128"]
    assert {r.arch for r in select_rungs("ladder", ["resnet20"])} == {"resnet20"}
    assert len(select_rungs("ladder", "resnet20, vgg16-x0.25-b64")) == 8
    with pytest.raises(ValueError, match=r"unknown rungs \['resnet'\]; the ladder profile's rungs are resnet20-x0.25"):
        select_rungs("ladder", "resnet")
    with pytest.raises(ValueError, match="rungs are chosen where they are computed"):
        scale.chapter_designs("cpu", rungs="resnet20")



def test_the_books_design_table_marks_which_rungs_the_record_holds(tmp_path):
    import json

    designs = scale.chapter_designs("cpu")
    table = str(scale.design_table(designs, record_path=tmp_path / "none.json"))  # no record yet
    assert "resnet20-x1-b128" in table and "recorded" not in table and table.count("not yet run") == 15
    assert table.count("on a GPU, not yet run") == 2
    rec = {"profile": "ladder", "measure_version": scale.MEASURE_VERSION, "numerics": "x", "source": "s",
           "runs": [], "missing": [], "rungs": {m.spec.id: m.to_dict() for m in measures("vgg16", {}, widths=(
               0.0625, 0.125, 0.25))}}
    (tmp_path / "ladder.json").write_text(json.dumps(rec))
    rows = str(scale.design_table(designs, record_path=tmp_path / "ladder.json")).splitlines()
    assert all("(ladder profile, recorded)" in r for r in rows if "vgg16-" in r and "-b128" in r and "GPU" not in r)
    assert all("not yet run" in r for r in rows if "resnet20-" in r or "-b64" in r)


def test_only_the_scale_chapter_runs_at_the_ladder_profile():
    from twophase_book import budget
    from twophase_book.chapter import setup

    assert claim("scale").profiles == scale.SCALE_PROFILES
    assert list(budget.chapter_studies("ladder")) == ["07_paper_or_scale"]
    with pytest.raises(ValueError, match="profile of 1. Chaos effect"):
        setup("chaos", "ladder", workers=0)
    with pytest.raises(ValueError, match="profile of 7. Is it the paper or the scale"):
        setup("scale", "gpu", workers=0)
    assert [c.kind for c in CLAIMS if "ladder" in c.profiles] == ["scale"]


# ----------------------------------------------------------------------------------- measures and the trends


def measures(arch: str, values: dict[str, list[list[float]]], widths=(0.25, 0.5, 1.0), batch: int = 128
             ) -> list[RungMeasures]:
    """Synthetic rungs: per measure, per rung, per-seed values."""
    out = []
    for i, w in enumerate(widths):
        get = lambda k, d: values.get(k, [d] * len(widths))[i]  # noqa: E731
        out.append(RungMeasures(
            rung={"arch": arch, "width": w, "batch_size": batch, "train_examples": None, "switch": True},
            window=1500, epoch_steps=40, late=1000, max_lag=500, floor=get("floor", [0.1, 0.1, 0.1]),
            travelled=get("travelled", [0.3, 0.3, 0.3]), calibration=0.5,
            inflection_epochs=get("inflection_epochs", [2.0, 2.5, 3.0]), inflection={"estimate": 100.0, "low": 50.0,
                                                                                     "high": math.inf},
            chaos="inconclusive", cone="inconclusive", switch="inconclusive",
            switch_gain=get("switch_gain", [0.1, 0.12, 0.11])))
    return out


def falls_as(level: float, slope: float, widths=(0.25, 0.5, 1.0), jitter: float = 0.01) -> list[list[float]]:
    """Per-seed values y = level · w^slope with a little seed noise."""
    return [[level * w ** slope * (1 + jitter * s) for s in (-1, 0, 1)] for w in widths]


def test_a_rung_measure_survives_its_record_with_inflections_beyond_the_grid():
    m = measures("vgg16", {"inflection_epochs": [[1.0, math.inf, 2.0]] * 3})[0]
    back = RungMeasures.from_dict(__import__("json").loads(__import__("json").dumps(m.to_dict())))
    assert back == m and back.spec.id == "vgg16-x0.25-b128"


def test_the_trends_reach_every_scale_outcome_and_say_why_none_could_be_fitted():
    # the paper's values at ×1 on a slope of −1: consistent; ten times them: fails
    consistent = measures("resnet20", {"floor": falls_as(0.025, -1.0), "travelled": falls_as(0.17, -1.0),
                                       "switch_gain": falls_as(0.4, 0.5)})
    trends = {(p.network, p.measure): (t, why) for p, t, why in ladder_trends(consistent)}
    t, _ = trends[("resnet20", "floor")]
    assert t.slope == pytest.approx(-1.0, abs=0.05) and str(t.trend) == "as predicted"
    assert t.outcome is ScaleOutcome.CONSISTENT
    assert trends[("resnet20", "switch_gain")][0].outcome is ScaleOutcome.CONSISTENT
    # VGG-16 has no rung: cannot tell, and says so
    t, why = trends[("vgg16", "floor")]
    assert t is None and "0 rung(s) measured it at batch 128" in why
    far = measures("resnet20", {"floor": falls_as(0.25, -1.0)})
    t, _ = next((t, w) for p, t, w in ladder_trends(far) if p.measure == "floor" and p.network == "resnet20")
    assert t.outcome is ScaleOutcome.FAILS
    flat = measures("resnet20", {"floor": falls_as(0.3, 0.0)})
    t = next(t for p, t, _ in ladder_trends(flat) if p.measure == "floor" and p.network == "resnet20")
    assert str(t.trend) == "rejected"
    # a switch gain at or below zero is fitted on a linear axis; seeds that agree exactly give no interval
    lost = measures("resnet20", {"switch_gain": [[0.01, -0.02, 0.0], [0.1] * 3, [0.2] * 3]})
    t = next(t for p, t, _ in ladder_trends(lost) if p.measure == "switch_gain" and p.network == "resnet20")
    assert t.outcome is ScaleOutcome.CANNOT_TELL and "identical values" in t.detail
    # an inflection beyond the grid on a rung: no power law, cannot tell, with the values
    beyond = measures("vgg16", {"inflection_epochs": [[1.0, math.inf, 2.0], [2.0] * 3, [3.0] * 3]})
    t, why = next((t, w) for p, t, w in ladder_trends(beyond) if p.measure == "inflection_epochs")
    assert t is None and "not positive and finite" in why and "1, > grid, 2" in why
    # only the paper's batch on the whole subset enters a trend
    ours = measures("resnet20", {"floor": falls_as(0.025, -1.0)}, batch=64)
    assert next(t for p, t, _ in ladder_trends(ours + measures("vgg16", {}))
                if p.measure == "floor" and p.network == "resnet20") is None
    # ... and the rungs at our batch are read on their own, descriptively, on what they measure (no switch)
    ours = measures("resnet20", {"floor": falls_as(0.025, -1.0), "switch_gain": [None] * 3}, batch=64)
    table = other_batch_trend_table(ours, "ladder")
    rows = {(r[1], r[2]): r for r in table.rows}
    assert all(r[0] == "64" for r in table.rows) and len(table.rows) == 2  # floor and S(0, t): no switch, no VGG
    floor = next(r for (net, q), r in rows.items() if net == "ResNet-20" and "floor" in q)
    assert floor[3].startswith("-1.0") and floor[-1] == str(ScaleOutcome.CONSISTENT)
    assert isinstance(other_batch_trend_table(consistent, "ladder"), Note)


def test_the_scale_column_per_claim_reaches_every_outcome():
    both = lambda f: measures("resnet20", f("resnet20")) + measures("vgg16", f("vgg16"),  # noqa: E731
                                                                   widths=(0.0625, 0.125, 0.25))
    paper = {"resnet20": (0.025, 0.17, 0.4), "vgg16": (0.075, 0.17, 0.65)}

    def at_paper(arch, scale_floor=1.0):
        floor, trav, gain = paper[arch]
        w = (0.25, 0.5, 1.0) if arch == "resnet20" else (0.0625, 0.125, 0.25)
        return {"floor": falls_as(floor * scale_floor, -1.0, w), "travelled": falls_as(trav, -1.0, w),
                "switch_gain": [[gain + 0.05 * math.log(x) + 0.005 * s for s in (-1, 0, 1)] for x in w],
                "inflection_epochs": falls_as(5.5, 0.4, w)}

    good = claim_scale(ladder_trends(both(at_paper)))
    assert {k: o for k, (o, _) in good.items()} == {k: str(ScaleOutcome.CONSISTENT) for k in scale.SCALE_CLAIMS}
    bad = claim_scale(ladder_trends(both(lambda a: at_paper(a, 20.0))))
    assert bad["cone"][0] == str(ScaleOutcome.FAILS) and bad["chaos"][0] == str(ScaleOutcome.CONSISTENT)
    none = claim_scale(ladder_trends([]))
    assert {o for o, _ in none.values()} == {str(ScaleOutcome.CANNOT_TELL)}
    not_run = claim_scale(ladder_trends([]), measured=False)
    assert {o for o, _ in not_run.values()} == {"not run"}
    assert scale.scale_summary("cpu", ladder_trends([]), not_run).verdict == "not run"
    summary = scale.scale_summary("cpu", ladder_trends(both(at_paper)), good)
    assert summary.verdict == str(ScaleOutcome.CONSISTENT)
    assert scale.scale_summary("cpu", ladder_trends([]), none).verdict == str(ScaleOutcome.CANNOT_TELL)
    assert scale.scale_summary("cpu", [], bad).verdict == str(ScaleOutcome.FAILS)
    assert summary.cell("cone", scale.SCALE_COLUMN).outcome == str(ScaleOutcome.CONSISTENT)
    assert {p.claim for p in PREDICTIONS} == set(scale.SCALE_CLAIMS)


def test_the_scorecard_shows_the_scale_column_beside_the_claims():
    from twophase_book.pages import glance_grid
    from twophase_book.summary import PRIMARY, Cell, ClaimSummary

    cone = ClaimSummary("cone", "cpu", "inconclusive", [Cell("ResNet-20", PRIMARY, "inconclusive", "h")])
    ladder = scale.scale_summary("cpu", [], {"cone": (str(ScaleOutcome.FAILS), "why"),
                                             "chaos": (str(ScaleOutcome.CANNOT_TELL), "why")})
    grid = glance_grid({("cone", "cpu"): cone, ("scale", "cpu"): ladder}, "cpu")
    assert "(ch. 7)" in grid[0]
    row = next(line for line in grid if "Cone effect" in line)
    assert row.rstrip(" |").endswith("🔴 fails at the paper's scale")
    assert "(ch. 7)" not in glance_grid({("cone", "cpu"): cone}, "cpu")[0]


def test_the_paper_s_own_network_is_a_column_of_its_own_on_the_scorecard():
    """ResNet-20 ×1 at batch 128 on the whole subset is the paper's own network: its verdicts by chapters 1–3's
    rules are a column beside the book's networks; a narrower rung, or another batch, is not."""
    from twophase_book.pages import glance_grid
    from twophase_book.summary import PRIMARY, Cell, ClaimSummary

    ms = measures("resnet20", {}) + measures("resnet20", {}, batch=64)
    top = ms[2]
    top.cone, top.details = "reproduced", {"cone": "every deciding check passing"}
    assert [m.spec.id for m in scale.paper_rungs(ms)] == ["resnet20-x1-b128"]
    summary = scale.scale_summary("cpu", ladder_trends(ms), claim_scale(ladder_trends(ms)), ms)
    cell = summary.cell("ResNet-20 ×1, batch 128", scale.paper_protocol("cone"))
    assert cell.outcome == "reproduced" and "decided by every deciding check passing" in cell.headline
    assert "floor S(1000, 1500) 0.1 [0.1, 0.1]" in cell.headline
    cone = ClaimSummary("cone", "cpu", "inconclusive", [Cell("ResNet-20", PRIMARY, "inconclusive", "h")])
    grid = glance_grid({("cone", "cpu"): cone, ("scale", "cpu"): summary}, "cpu")
    assert "ResNet-20 ×1, batch 128](chapters/07_paper_or_scale.ipynb) (ch. 7, the paper's network)" in grid[0]
    row = next(line for line in grid if "Cone effect" in line)
    assert "| ⚪ inconclusive | 🟢 reproduced |" in row  # the book's ResNet-20, then the paper's
    assert "the paper's network" not in glance_grid({("cone", "cpu"): cone, ("scale", "cpu"): scale.scale_summary(
        "cpu", ladder_trends(ms[:2]), claim_scale(ladder_trends(ms[:2])), ms[:2])}, "cpu")[0]
    note = scale.paper_network_note(ms).text
    assert "**ResNet-20 ×1, batch 128, cone**: *reproduced*" in note
    assert "not been measured" in scale.paper_network_note(ms[:2]).text


def test_the_ladder_figure_draws_fits_bands_and_the_paper(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    ms = measures("resnet20", {"floor": falls_as(0.025, -1.0)}) + measures("resnet20", {}, batch=64)
    fig = scale.ladder_figure(ms, ladder_trends(ms))
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and any("fit: slope" in t.get_text() for t in ax.get_legend().get_texts())
    assert any("paper" in t.get_text() for t in ax.get_legend().get_texts())
    assert np.isfinite([line.get_ydata() for line in ax.get_lines() if len(line.get_xdata()) == 50][0]).all()


def _record_ladder():
    """scripts/record_ladder.py as a module."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("record_ladder", Path(__file__).parents[1] / "scripts" /
                                                  "record_ladder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ladders_parts_accumulate_in_the_cache_and_the_record_is_what_the_book_reads(tmp_path):
    record_ladder = _record_ladder()
    out = tmp_path / "ladder.json"
    assert record_ladder.main(["--out", str(out)]) == 2 and not out.exists()  # nothing measured yet
    cache = Cache()
    part = {"rungs": ["resnet20-x0.25-b128", "resnet20-x0.5-b128"], "wall_s": 3600, "date": "2026-12-06"}
    part = {**scale.run_record(part["rungs"], 3600), "date": "2026-12-06"}
    assert part["commit"] != "unknown"  # the tests run in a checkout
    for m in measures("resnet20", {}, widths=(0.25, 0.5)):
        scale.save_measures(cache, scale.rung_design("ladder", m.spec), m, part)
    again = measures("resnet20", {"floor": [[9.0] * 3] * 2}, widths=(0.25, 0.5))[0]
    scale.save_measures(cache, scale.rung_design("ladder", again.spec), again, {**part, "wall_s": 1})
    found, missing, runs = scale.load_measures(cache, "ladder")
    assert [m.spec.id for m in found] == part["rungs"] and runs == [part]  # the first computation is kept
    assert found[0].floor == [0.1, 0.1, 0.1] and len(missing) == 13
    if not scale.cuda_available():  # a GPU rung's key holds the GPU's fingerprint: missing where there is none
        assert missing[-2:] == [r.id for r in scale.gpu_rungs()]
    assert record_ladder.main(["--out", str(out)]) == 0
    record = scale.read_record(out)
    assert record["measures"] == found and record["missing"] == missing
    assert record["runs"] == [{**part, "numerics": fingerprint().id, "cache_version": CACHE_VERSION}]  # its kernels
    got, note = scale.ladder_source("cpu", cache, record_path=out)
    assert got == found and "Recorded, not recomputed here" in note.text and "60 min on 2026-12-06" in note.text
    assert "resnet20-x1-b128" in note.text  # the rungs still missing are named
    assert "The GPU rungs, not yet measured (no GPU has run them): vgg16-x0.5-b128, vgg16-x1-b128" in note.text
    assert "gpu_book.py --ladder" in note.text and "vgg16-x1-b128" not in note.text.split("The GPU rungs")[0]
    text = scale.ladder_source("ladder", cache)[1].text  # the ladder profile's own note: the same split
    assert "PARAMS='-p rungs <ids>'" in text and "The GPU rungs, not yet measured" in text
    assert "vgg16-x1-b128" not in text.split("The GPU rungs")[0]
    assert scale.ladder_source("cpu", cache, record_path=tmp_path / "none.json")[0] == []
    import json

    stale = json.loads(out.read_text()) | {"measure_version": 0}
    (tmp_path / "stale.json").write_text(json.dumps(stale))
    with pytest.raises(ValueError, match="measurement version 0"):
        scale.read_record(tmp_path / "stale.json")


def test_the_record_accumulates_parts_run_in_sessions_whose_caches_are_lost_and_never_mixes_kernels(tmp_path):
    import json

    record_ladder = _record_ladder()
    out = tmp_path / "ladder.json"
    first, second = Cache(tmp_path / "session1"), Cache(tmp_path / "session2")
    vgg = measures("vgg16", {}, widths=(0.0625, 0.125, 0.25))
    part1 = {**scale.run_record([m.spec.id for m in vgg], 5400), "date": "2026-12-06"}
    for m in vgg:
        scale.save_measures(first, scale.rung_design("ladder", m.spec), m, part1)
    assert record_ladder.main(["--cache", str(first.root), "--out", str(out)]) == 0
    resnet = measures("resnet20", {"floor": falls_as(0.025, -0.5)})
    part2 = {**scale.run_record([m.spec.id for m in resnet], 7000), "date": "2026-12-07"}
    for m in resnet:  # a later session: a fresh cache holding only its own part
        scale.save_measures(second, scale.rung_design("ladder", m.spec), m, part2)
    assert record_ladder.main(["--cache", str(second.root), "--out", str(out)]) == 0
    record = scale.read_record(out)
    ids = [m.spec.id for m in record["measures"]]
    assert sorted(ids) == sorted(m.spec.id for m in resnet + vgg)
    assert [{k: v for k, v in r.items() if k not in ("numerics", "cache_version")} for r in record["runs"]] == [
        part1, part2]
    assert ids == [r.id for r in scale.select_rungs("ladder") if r.id in ids]  # in the ladder's order
    assert "vgg16-x0.25-b128" not in record["missing"] and "vgg16-x0.25-b64" in record["missing"]
    assert record_ladder.main(["--cache", str(second.root), "--out", str(out)]) == 0  # idempotent
    assert [{k: v for k, v in r.items() if k not in ("numerics", "cache_version")}
            for r in scale.read_record(out)["runs"]] == [part1, part2]
    assert record_ladder.main(["--cache", str(tmp_path / "empty"), "--out", str(out)]) == 0  # nothing lost
    assert len(scale.read_record(out)["measures"]) == 6
    here = fingerprint().id
    record = scale.read_record(out)
    assert record["numerics"] == {i: here for i in ids} and record["code"] == {i: CACHE_VERSION for i in ids}
    assert all(r["numerics"] == here and r["cache_version"] == CACHE_VERSION for r in record["runs"])
    # a record written before rungs kept their kernels and code: one fingerprint for all, code version 2
    legacy = json.loads(out.read_text()) | {"numerics": "cpu-default-00000000"}
    legacy["runs"] = [{k: v for k, v in r.items() if k not in ("numerics", "cache_version")} for r in legacy["runs"]]
    del legacy["code"]
    out.write_text(json.dumps(legacy))
    third = Cache(tmp_path / "session3")  # a part holding one ResNet-20 rung, computed by this code
    scale.save_measures(third, scale.rung_design("ladder", resnet[0].spec), resnet[0], part2)
    assert record_ladder.main(["--cache", str(third.root), "--out", str(out)]) == 3  # its series' others: older code
    assert json.loads(out.read_text()) == legacy  # left alone
    assert record_ladder.main(["--cache", str(third.root), "--out", str(out), "--replace"]) == 0
    record = scale.read_record(out)  # ResNet-20's older rungs dropped, VGG-16's kept on their kernels and code
    assert [m.spec.id for m in record["measures"]] == [resnet[0].spec.id] + [m.spec.id for m in vgg]
    assert record["numerics"] == {resnet[0].spec.id: here} | {m.spec.id: "cpu-default-00000000" for m in vgg}
    assert record["code"] == {resnet[0].spec.id: CACHE_VERSION} | {m.spec.id: 2 for m in vgg}
    assert [(r["numerics"], r["cache_version"]) for r in record["runs"]] == [("cpu-default-00000000", 2),
                                                                             (here, CACHE_VERSION)]
    note = scale.ladder_source("cpu", None, record_path=out)[1].text
    assert f"`cpu-default-00000000`, code version 2: {vgg[0].spec.id}" in note and f"`{here}`, code version" in note
    assert record_ladder.main(["--cache", str(second.root), "--out", str(out)]) == 0  # the series' rest: this code
    assert record_ladder.main(["--cache", str(first.root), "--out", str(out)]) == 0  # VGG-16 recomputed here
    record = scale.read_record(out)  # rungs of one trend may come from other kernels; here they are all this one's
    assert set(record["numerics"].values()) == {here} and set(record["code"].values()) == {CACHE_VERSION}
    unkeyed = json.loads(out.read_text())
    del unkeyed["numerics"][vgg[0].spec.id]
    out.write_text(json.dumps(unkeyed))
    with pytest.raises(ValueError, match=r"rungs \['vgg16-x0.0625-b128'\] without the numerics fingerprint"):
        scale.read_record(out)
    stale = json.loads(out.read_text()) | {"measure_version": 0}
    out.write_text(json.dumps(stale))
    assert record_ladder.main(["--cache", str(first.root), "--out", str(out)]) == 0  # an older measurement: replaced
    assert [m.spec.id for m in scale.read_record(out)["measures"]] == [m.spec.id for m in vgg]
