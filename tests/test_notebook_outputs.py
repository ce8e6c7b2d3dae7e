"""The comparison of re-executed chapters with their baselines (tests/notebook_outputs.py) fails where it must."""

import nbformat
from notebook_outputs import compare_cell, compare_text, split

VERDICTS = """resnet20, step: PARTLY
✓ control exact: ε = 0 twins bitwise equal to their parents
✗ stable late: at t0 = 4 it is 0.188, 37% of its t0 = 0 value (rule: ≤ 25%)
✓ early transition: inflection 2.582 against a quarter of the 16 iterations before the first lr drop
Chaos effect at the smoke profile: NOT REPRODUCED
resnet20: switching at t = 8 recovers 133% of the gap
"""
TABLE = """model     τ  S(τ, first drop)  2nd / 1st
--------  -  ----------------  ---------
resnet20  4  0.7274            -0.095
resnet20  8  0.5220            0.0065
shared before the drop: {'resnet20': True, 'vgg16': True}
"""


def test_split_masks_numbers_verdicts_and_marks_but_not_names():
    skeleton, tokens = split("resnet20 vgg16: 1,017 images, 5.35e-08, -0.0761, 37% PARTLY ✓ t0 = 0")
    assert skeleton == "resnet20 vgg16: <NUMBER> images, <NUMBER>, <NUMBER>, <NUMBER>% <VERDICT> <CHECK> t0 = <NUMBER>"
    assert [t for _, t in tokens] == ["1,017", "5.35e-08", "-0.0761", "37", "PARTLY", "✓", "0"]


def test_exact_comparison_wants_the_same_text_after_sanitizing():
    assert compare_text("took 3.2 s at 0x7f00ab", "took 11 s at 0x11aa", True) is None
    assert "line 3" in compare_text(VERDICTS, VERDICTS.replace("0.188", "0.189"), True)


def test_on_another_machine_numbers_verdicts_outcome_wording_and_list_lengths_may_move():
    moved = (VERDICTS.replace("PARTLY", "REPRODUCED").replace("✗ stable", "✓ stable").replace("0.188", "0.02")
             .replace("NOT REPRODUCED", "inconclusive").replace("2.582 against a quarter of",
                                                               "none (the chaos curve never halves)")
             + "resnet20: t = 16 (0.126) is worse than t = 0 (0.123)\n")
    assert compare_text(VERDICTS, moved, False) is None
    wider = TABLE.replace("0.7274            -0.095", "0.12345678        3.5").replace("---------", "-----------")
    assert compare_text(TABLE, wider, False) is None


def test_on_another_machine_structure_controls_booleans_and_verdicts_must_hold():
    # an ε = 0 control that is no longer exact, or a schedule that no longer shares its checkpoints
    assert "invariant" in compare_text(VERDICTS, VERDICTS.replace("✓ control exact", "✗ control exact"), False)
    assert "invariant" in compare_text(TABLE, TABLE.replace("'vgg16': True", "'vgg16': False"), False)
    # a changed label, a missing table row label, a column renamed
    assert "structure" in compare_text(VERDICTS, VERDICTS.replace("early transition", "late transition"), False)
    assert "structure" in compare_text(TABLE, TABLE.replace("resnet20  8", "vgg16  8"), False)
    assert "structure" in compare_text(TABLE, TABLE.replace("2nd / 1st", "ratio"), False)
    # a verdict that is no longer a verdict word
    assert "verdict" in compare_text(VERDICTS, VERDICTS.replace("step: PARTLY", "step: UNKNOWN"), False)


def test_cells_compare_output_types_and_skip_stderr_and_images():
    out = nbformat.v4.new_output
    base = [out("stream", name="stdout", text="x 1\n"), out("stream", name="stdout", text="y 2\n"),
            out("display_data", data={"image/png": "AAAA", "text/plain": "<Figure>"})]
    chunked = [out("stream", name="stdout", text="x 1\ny 2\n"), out("stream", name="stderr", text="warning\n"),
               out("display_data", data={"image/png": "BBBB", "text/plain": "<Figure>"})]
    assert compare_cell(base, chunked, True) is None
    assert "outputs" in compare_cell(base, base[:2], True)
    err = [out("error", ename="ValueError", evalue="boom", traceback=[])]
    assert "outputs" in compare_cell(base, err, False)


def test_a_check_without_dynamic_range_is_a_mark_like_the_others():
    flat = "  – stable late: no dynamic range: the disagreement is 0.000 at every t0 and seed\n"
    moving = "  ✗ stable late: no dynamic range: the disagreement is 0.000 at every t0 and seed\n"
    assert split(flat)[0] == split(moving)[0]  # the same structure on a machine where the curve moves
    assert split("inflection ≈ 100–500")[1] == [("number", "100"), ("number", "500")]  # an en dash in a range is text
    undecided = "  ? chaotic early: margin +0.01 [-0.02, +0.04]\n"
    decided = "  ✓ chaotic early: margin +0.03 [+0.01, +0.05]\n"
    assert split(undecided)[1][0] == ("check", "?") and split(undecided)[0] == split(decided)[0]
    assert split("is it? yes")[1] == []  # a question mark in prose is text
