"""Chapters 1-3's designs on the paper's protocol: every profile valid, constant lr, windows inside the run,
re-runners' overrides validated, and the designs' cost counted before they run."""

import dataclasses

import pytest

from twophase_book.chaos import bn_init_maps, chapter_maps, entry_maps, extension_maps, extension_outcome
from twophase_book.cone import check_input_studies, lag_studies
from twophase_book.profiles import PROFILES, protocol_design, protocol_designs
from twophase_book.switch import ARMS, budget_studies, window_studies
from twophase_lib.costs import count_work
from twophase_lib.linearize import SwitchArm


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_has_a_valid_constant_lr_design_whose_studies_build(profile):
    for arch, d in protocol_designs(profile).items():
        assert d.run.optim.milestones == () and d.extension.run.optim.milestones
        assert d.chaos.t0s[-1] + max(d.chaos.deltas) <= d.window and d.switch.T <= d.window
        m = chapter_maps({arch: d})[arch]
        # every slice the verdict reads is a cell of the band
        for delta in d.chaos.deltas:
            assert all((t0, t0 + delta) in m.cells() for t0 in d.chaos.t0s)
        assert entry_maps({arch: d})[arch].perturbation.kind == "entry"
        assert extension_maps({arch: d})[arch].run.optim.milestones
        assert lag_studies({arch: d})[arch].split == "train" and check_input_studies({arch: d})[arch].split == "test"
        arms = window_studies({arch: d})
        assert arms[(arch, ARMS[2])].arm == SwitchArm.FROZEN_BATCH_NORM and arms[(arch, ARMS[1])].lr_scale < 1
        # the fixed-budget arm: from each switch time before T, B linearized iterations beside θ_{t+B}
        budget = budget_studies({arch: d})
        assert sorted(t for _, t in budget) == list(d.switch.switches[:-1])
        for (_, t), st in budget.items():
            assert st.switches == (t, t + d.switch.budget) and st.run.optim.steps == t + d.switch.budget <= d.window
            # the parent is the window's run, to t and to t + B (the standard column, θ_{t+B})
            assert st.run.prefix(t) == d.run.prefix(t) and st.run.prefix(t + d.switch.budget) == \
                d.run.prefix(t + d.switch.budget)
        if profile != "smoke":  # the lower lr at every switch time, so the cone-phase checks can judge it
            assert arms[(arch, ARMS[1])].switches == d.switch.switches


@pytest.mark.parametrize("profile", PROFILES)
def test_the_batch_norm_init_ablation_reruns_resnet20s_first_slice_with_uniform_scales(profile):
    designs = protocol_designs(profile)
    maps = bn_init_maps(designs)
    assert list(maps) == ["resnet20"]
    m, d = maps["resnet20"], designs["resnet20"]
    assert m.run.model.bn_init == "uniform" and m.run.replace(model={"bn_init": "ones"}) == d.run
    delta = min(d.chaos.deltas)
    t0s = [t0 for t0 in d.chaos.t0s if t0 + delta <= d.window]
    assert m.t0s == tuple(t0s) and all(m.t1s_after(t0)[-1] == t0 + delta for t0 in t0s)  # twins stop at t0 + Δ
    assert m.control_t0 == d.chaos.control_t0 and m.deltas == () and m.reference_seeds == d.chaos.reference_seeds[:2]
    assert m.reference_kind == "data order"  # the rule's reference: twins on two data orders


def test_the_cpu_designs_cost_is_counted_with_each_twin_stopping_at_its_last_cell():
    designs = protocol_designs("cpu")
    d = designs["resnet20"].chaos
    work = count_work([chapter_maps(designs)["resnet20"]])
    # parents to the window (seeds and reference networks); twins to t0 + max Δ; the control to t0 + max Δ
    twins = (len(d.t0s) + 1) * max(d.deltas)
    # the reference networks only to the last t1 the rule reads them at (t1 = max Δ)
    expected = len(d.seeds) * (twins + designs["resnet20"].window) + len(d.reference_seeds) * max(d.deltas)
    assert work.counts[("resnet20 x0.5 b64", "steps")] == expected


def test_bad_designs_and_overrides_are_refused():
    d = protocol_design("smoke", "resnet20")
    with pytest.raises(ValueError, match="constant lr"):
        dataclasses.replace(d, run=d.extension.run)
    with pytest.raises(ValueError, match="past the window"):
        dataclasses.replace(d, chaos=dataclasses.replace(d.chaos, t0s=(0, 4, 8, 12)))
    with pytest.raises(ValueError, match="increase from 0"):
        dataclasses.replace(d.chaos, t0s=(4, 8))
    with pytest.raises(ValueError, match="on the grid"):
        dataclasses.replace(d.chaos, control_t0=5)
    with pytest.raises(ValueError, match="checkpoints"):
        dataclasses.replace(d.cone, lags=(3,))
    late = dataclasses.replace(d.cone, steps=(*d.cone.steps, 18))  # valid alone, a checkpoint past the window
    with pytest.raises(ValueError, match="checkpoints inside the window: the last, 18, is past the window 16"):
        dataclasses.replace(d, cone=late)
    with pytest.raises(ValueError, match="switch times"):
        dataclasses.replace(d.switch, switches=(0, 4, 8))
    late = dataclasses.replace(d.switch, T=20, switches=(0, 8, 20), control_switches=(0, 20))  # valid alone
    with pytest.raises(ValueError, match="switch times must end at T inside the window"):
        dataclasses.replace(d, switch=late)
    with pytest.raises(ValueError, match="fixed budget 9 from the last switch time before T, 8, ends past the "
                                         "window 16"):
        dataclasses.replace(d, switch=dataclasses.replace(d.switch, budget=9))
    for bad in (-1, 2.5, "4", True):
        with pytest.raises(ValueError, match="the fixed budget"):
            dataclasses.replace(d.switch, budget=bad)
    assert budget_studies({"resnet20": dataclasses.replace(d, switch=dataclasses.replace(d.switch, budget=0))}) == {}
    with pytest.raises(ValueError, match="before the first drop"):
        dataclasses.replace(d.extension, t0s=(20,))
    with pytest.raises(ValueError, match="step schedule's switch times"):
        dataclasses.replace(d.extension, switches=(0, 16, 24))  # the second last at the first drop
    with pytest.raises(ValueError, match="calibration's steps"):
        dataclasses.replace(d.cone, reference_steps=(0, 4))  # not the last lag curve's t = 8
    with pytest.raises(ValueError, match="calibration's steps"):
        dataclasses.replace(d.cone, reference_steps=(3, 8))  # not a checkpoint
    with pytest.raises(ValueError, match="among the slices"):
        dataclasses.replace(d.chaos, kernel_deltas=(2,))
    mine = protocol_designs("smoke", "vgg16", seeds="3,4", device="cpu")["vgg16"]
    assert mine.switch.seeds == (3, 4) and mine.chaos.seeds == (3, 4)
    assert mine.run.device == mine.extension.run.device == "cpu"
    assert protocol_designs("smoke", epsilon=1e-5)["resnet20"].chaos.epsilon == 1e-5
    with pytest.raises(ValueError, match="epsilon"):
        protocol_designs("smoke", epsilon=0)
    with pytest.raises(ValueError, match="architecture"):
        protocol_designs("smoke", "resnet56")
    with pytest.raises(ValueError, match="device"):
        protocol_designs("smoke", device="tpu")


def test_the_extension_finding_is_said_in_words():
    found = {"resnet20": {100: (0.3, 0.1, -0.25, -0.15), 200: (0.2, 0.21, -0.02, 0.04)},
             "vgg16": {100: (0.1, 0.3, 0.1, 0.3), 200: (0.1, 0.1, float("nan"), float("nan"))}}
    assert extension_outcome(found) == (
        "ResNet-20, t0 = 100: the drops shrink the twins' disagreement; ResNet-20, t0 = 200: no difference "
        "measurable; VGG-16, t0 = 100: the drops grow the twins' disagreement; VGG-16, t0 = 200: undetermined")
