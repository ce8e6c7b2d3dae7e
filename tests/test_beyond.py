"""Chapter 4's tasks, designs and the wiring of its precondition (issue 22)."""

from __future__ import annotations

import dataclasses
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from twophase_book import beyond
from twophase_book.summary import ClaimSummary
from twophase_lib.verdicts import Check, Outcome, Verdict, WindowCheck


@pytest.mark.parametrize("name", sorted(beyond.TABLES))
def test_every_candidate_table_loads_standardised_with_a_deterministic_split(name):
    data = beyond.table_data(name)
    again = beyond.table_data(name)
    assert torch.equal(data.x_test, again.x_test) and torch.equal(data.y_train, again.y_train)
    n_numeric = len(beyond.TABLES[name][2])
    assert torch.allclose(data.x_train[:, :n_numeric].mean(0), torch.zeros(n_numeric), atol=1e-4)
    assert set(data.x_train[:, n_numeric:].unique().tolist()) <= {0.0, 1.0}  # one-hot
    assert data.y_train.min() == 0 and len(data.x_test) == pytest.approx(0.25 * len(data.x_train), rel=0.01)
    with pytest.raises(ValueError, match="unknown table"):
        beyond.table_data("titanic")


def test_word_labels_are_read_off_the_pronunciations():
    vowels = beyond.vowel_data()
    words = {"".join(beyond.LETTERS[i - 1] for i in row if i): beyond.VOWELS[int(y)] for row, y in
             zip(torch.cat([vowels.x_train, vowels.x_test]), torch.cat([vowels.y_train, vowels.y_test]))}
    assert words["about"] == "AW" and words["table"] == "EY" and words["cat"] == "AE"  # AH0 B AW1 T; T EY1 …
    assert len(vowels.x_test) == 5000
    data = beyond.stress_data()
    words = {"".join(beyond.LETTERS[i - 1] for i in row if i): int(y) for row, y in
             zip(torch.cat([data.x_train, data.x_test]), torch.cat([data.y_train, data.y_test]))}
    assert words["table"] == 0 and words["about"] == 1 and words["understand"] == 2  # T EY1 …; AH0 B AW1 T; …AE1 …
    assert "cat" not in words  # one syllable: no stress position to predict
    assert (data.x_train[:, 0] == 0).float().mean() > 0.5  # left-padded: most words are shorter than 16


def test_designs_are_valid_protocol_designs_with_the_reference_at_the_window_end():
    for profile in ("smoke", "cpu"):
        designs = beyond.chapter_designs(profile)
        assert list(designs) == list(beyond.TASKS)
        for name, d in designs.items():
            assert d.switch.switches[0] == 0 and d.switch.T == d.window  # the precondition's t = 0 and T
            m = beyond.beyond_unrelated_maps(designs)[name]  # the precondition reads unrelated networks there
            assert m.reference_kind == "independent init"
            assert d.window in m.reference_t1s and d.window in m.t1s
            assert beyond.beyond_maps(designs)[name].reference_kind == "data order"  # the chaos rule's reference
    assert beyond.chapter_designs("cpu", "tabular", seeds=[4, 5])["tabular"].chaos.seeds == (4, 5)
    with pytest.raises(ValueError, match="unknown task"):
        beyond.check_task("resnet-on-imagenet")


def test_a_task_that_fails_the_precondition_is_inapplicable_on_every_claim():
    n = 400
    rng = np.random.default_rng(0)
    close = rng.random((3, n)) < 0.02  # unrelated networks agree on 98% of inputs
    correct = rng.random((2, n)) < 0.7
    t1s = (4, 8)
    maps = {"t": SimpleNamespace(study=SimpleNamespace(t1s=t1s, run=SimpleNamespace(optim=SimpleNamespace(steps=8))),
                                 reference_disagreements=np.stack([np.zeros((3, n), bool), close], 1))}
    switches = {("t", "linearized"): SimpleNamespace(correct=np.stack([correct, correct], 2))}
    pre = beyond.preconditions(maps, switches)["t"]
    assert not pre.applicable
    passed = Verdict(Outcome.REPRODUCED, [Check(WindowCheck.CHAOTIC_EARLY, True, "")])
    verdicts = beyond.claim_verdicts({"t": pre}, {("t", "disagreement", 4): SimpleNamespace(verdict=passed)},
                                     {"t": SimpleNamespace(verdict=passed)}, {("t", "linearized"): passed})
    assert {v.outcome for v in verdicts.values()} == {Outcome.INAPPLICABLE}
    far = rng.random((3, n)) < 0.5
    maps["t"].reference_disagreements = np.stack([np.zeros((3, n), bool), far], 1)
    lin = rng.random((2, n)) < 0.3
    switches[("t", "linearized")].correct = np.stack([lin, correct], 2)
    assert beyond.preconditions(maps, switches)["t"].applicable


def test_the_screen_table_marks_the_choice_and_the_tabular_task_trains_on_it(tmp_path):
    check = {"check": "x", "margin": 0.1, "low": 0.05, "high": 0.15, "mark": "✓"}
    row = {"train": 10, "test": 5, "majority class": 0.4, "logistic regression": 0.6, "standard": 0.7,
           "linearized at initialisation": 0.5, "unrelated disagreement": 0.3, "checks": [check, check],
           "applicable": True}
    one_pair = {**row, "checks": [{**check, "low": math.nan, "high": math.nan, "mark": "?"}] * 3}
    path = tmp_path / "screen.json"
    path.write_text(json.dumps({"choices": {"table": "a", "sequence": "c", "vit": "r"},
                                "candidates": {"table: a": row, "table: b": row, "sequence: c": row, "vit: r": one_pair,
                                               "vit: a": one_pair}}))
    rows = beyond.screen_table(path).rows
    assert [r[0] for r in rows] == ["table: a (chosen)", "table: b", "sequence: c (chosen)", "vit: r (chosen)",
                                    "vit: a"]  # a candidate named like another kind's choice is not marked
    assert rows[0][-2] == "— (screened before this check)" and rows[0][-1] == "applicable"
    assert "(one pair: no interval)" in rows[3][-2] and rows[3][-1] == "not decided by one pair"
    if beyond.SCREEN.exists():  # the committed screen chose the data the tasks train on, and the ViT's recipe
        choices = json.loads(beyond.SCREEN.read_text())["choices"]
        assert choices == {"table": beyond.TABLE, "sequence": beyond.SEQUENCE, "vit": beyond.VIT_RECIPE}
        assert beyond.RECIPES["vit"][1] == beyond.VIT_RECIPES[beyond.VIT_RECIPE]


def test_the_answer_names_every_task_and_its_precondition():
    from twophase_book.summary import Cell

    cells = [Cell("MLP", "dynamic range", "inapplicable", ""), Cell("MLP", "chaos effect", "inapplicable", ""),
             Cell("ViT", "dynamic range", "applicable", ""), Cell("ViT", "chaos effect", "reproduced", "")]
    text = beyond.beyond_answer(ClaimSummary("beyond", "cpu", "reproduced", cells)).text
    assert "**MLP** (dynamic range: inapplicable): chaos effect: **inapplicable**" in text
    assert "**ViT** (dynamic range: applicable): chaos effect: **reproduced**" in text


def test_the_epsilon_sweep_changes_only_the_twins_perturbation():
    designs = beyond.chapter_designs("smoke", tasks=("tabular",))
    base = beyond.beyond_maps(designs)["tabular"]
    sweep = beyond.beyond_epsilon_maps(designs)
    assert list(sweep) == [("tabular", e) for e in beyond.EPSILON_SWEEP]
    for (_, e), m in sweep.items():
        assert m.perturbation.size == e and m.perturbation.size != base.perturbation.size
        assert dataclasses.replace(m, perturbation=base.perturbation) == base
