"""Chapters 1-3's readings of the paper's protocol on tiny runs: the fixed-window readings and their verdicts, the
per-entry reading judged with the primary map's control and references, lag readings, the paired switch arms, and
each claim's typed summary."""

import json
import math
from types import SimpleNamespace

import numpy as np

from tests.conftest import tiny_config
from tests.test_chaos_map import tiny_map
from twophase_book.chaos import (
    bn_init_readings,
    bn_init_table,
    entry_readings,
    map_inflections,
    map_summary,
    transition_note,
    window_readings,
)
from twophase_book.summary import ClaimSummary
from twophase_lib.cache import Cache
from twophase_lib.chaos import run_chaos_maps
from twophase_lib.executor import Executor
from twophase_lib.perturbation import Perturbation
from twophase_lib.verdicts import OUTCOMES


def test_window_readings_verdicts_and_the_per_entry_reading(tmp_path):
    maps = {"total": tiny_map(t0s=(0, 4, 8), horizon=4, deltas=(4,)),
            "entry": tiny_map(t0s=(0, 8), t1s=(4, 12), horizon=4, deltas=(4,), control_t0=None, reference_seeds=(),
                              perturbation=Perturbation(1e-3, "entry"))}
    out = run_chaos_maps(maps, Cache(tmp_path), Executor(0), progress=False)
    results, entry = {"resnet20": out["total"]}, {"resnet20": out["entry"]}
    readings = window_readings(results)
    assert set(readings) == {("resnet20", m, 4) for m in ("disagreement", "test_loss_barrier", "dissimilarity")}
    r = readings[("resnet20", "disagreement", 4)]
    assert r.point.shape == (3,) and r.replicates.shape == (2000, 3) and r.verdict.outcome in OUTCOMES
    lo, hi = r.band()
    assert np.all(lo <= r.point + 1e-12) and np.all(r.point <= hi + 1e-12)
    # the per-entry map has no control of its own: the primary map's (exact) control judges it
    e = entry_readings(entry, results)[("resnet20", "disagreement", 4)]
    assert e.verdict.checks[0].passed and e.reference == r.reference
    inf = map_inflections(readings)["resnet20"]
    assert set(inf) >= {"estimate", "low", "high"}
    assert "ResNet-20" in repr(transition_note(readings))
    # the batch-norm initialisation ablation: its own control and reference pair, the same rule
    uniform = tiny_map(run=tiny_config(steps=12).replace(model={"bn_init": "uniform"}), t0s=(0, 4, 8), horizon=4,
                       deltas=())
    abl = run_chaos_maps({"bn": uniform}, Cache(tmp_path), Executor(0), progress=False)["bn"]
    assert np.isnan(abl.values["test_loss_barrier"]).all() and abl.control_is_exact
    b = bn_init_readings({"resnet20": abl}, {"resnet20": SimpleNamespace(chaos=SimpleNamespace(deltas=(4, 8)))})
    assert set(b) == {("resnet20", "disagreement", 4)} and b[("resnet20", "disagreement", 4)].verdict.checks[0].passed
    table = bn_init_table(readings, b)
    assert len(table.rows) == 2 and "U(0, 1)" in table.rows[1][1]
    s = map_summary("smoke", readings, {}, {("resnet20", "disagreement", 4): e}, b)
    assert any("γ ~ U(0, 1)" in d for d in s.details)
    assert ClaimSummary.from_dict(s.to_dict()) == s and s.cells[0].numbers[0].quantity.startswith("disagreement")
    # its measurements are recorded: judged again through JSON, the summary is itself (tests/test_judgements.py)
    stored = ClaimSummary.from_dict(json.loads(json.dumps(s.to_dict())))
    assert s.cells[0].judgements and json.dumps(stored.rejudged().to_dict()) == json.dumps(s.to_dict())
    assert any("per-entry" in d for d in s.details)
    assert all(math.isnan(n.value) or n.value >= 0 for n in s.cells[0].numbers if not n.quantity.startswith("check"))
    assert any(n.quantity.startswith("check: Δ = 4: chaotic early") for n in s.cells[0].numbers)
