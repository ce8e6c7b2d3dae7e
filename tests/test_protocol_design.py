"""Chapters 1-3's designs on the paper's protocol: every profile valid, constant lr, windows inside the run,
re-runners' overrides validated, and the designs' cost counted before they run."""

import dataclasses

import pytest

from twophase_book.chaos import bn_init_maps, chapter_maps, entry_maps, extension_maps, extension_outcome
from twophase_book.cone import check_input_studies, lag_studies
from twophase_book.profiles import PROFILES, protocol_design, protocol_designs
from twophase_book.switch import ARMS, window_studies
from twophase_lib.costs import count_work
from twophase_lib.linearize import SwitchArm


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_has_a_valid_constant_lr_design_whose_studies_build(profile):
    for arch, d in protocol_designs(profile).items():
        assert d.run.optim.milestones == () and d.step_run.optim.milestones
        assert d.t0s[-1] + max(d.deltas) <= d.window and d.switch_T <= d.window
        m = chapter_maps({arch: d})[arch]
        # every slice the verdict reads is a cell of the band
        for delta in d.deltas:
            assert all((t0, t0 + delta) in m.cells() for t0 in d.t0s)
        assert entry_maps({arch: d})[arch].perturbation.kind == "entry"
        assert extension_maps({arch: d})[arch].run.optim.milestones
        assert lag_studies({arch: d})[arch].split == "train" and check_input_studies({arch: d})[arch].split == "test"
        arms = window_studies({arch: d})
        assert arms[(arch, ARMS[2])].arm == SwitchArm.FROZEN_BATCH_NORM and arms[(arch, ARMS[1])].lr_scale < 1


@pytest.mark.parametrize("profile", PROFILES)
def test_the_batch_norm_init_ablation_reruns_resnet20s_first_slice_with_uniform_scales(profile):
    designs = protocol_designs(profile)
    maps = bn_init_maps(designs)
    assert list(maps) == ["resnet20"]
    m, d = maps["resnet20"], designs["resnet20"]
    assert m.run.model.bn_init == "uniform" and m.run.replace(model={"bn_init": "ones"}) == d.run
    delta = min(d.deltas)
    t0s = [t0 for t0 in d.t0s if t0 + delta <= d.window]
    assert m.t0s == tuple(t0s) and all(m.t1s_after(t0)[-1] == t0 + delta for t0 in t0s)  # twins stop at t0 + Δ
    assert m.control_t0 == d.control_t0 and m.deltas == () and m.reference_seeds == d.reference_seeds[:1]


def test_the_cpu_designs_cost_is_counted_with_each_twin_stopping_at_its_last_cell():
    designs = protocol_designs("cpu")
    d = designs["resnet20"]
    work = count_work([chapter_maps(designs)["resnet20"]])
    # parents to the window (seeds and reference networks); twins to t0 + max Δ; the control to t0 + max Δ
    twins = (len(d.t0s) + 1) * max(d.deltas)
    # the reference networks only to the last t1 the rule reads them at (t1 = max Δ)
    expected = len(d.seeds) * (twins + d.window) + len(d.reference_seeds) * max(d.deltas)
    assert work.counts[("resnet20 x0.5 b64", "steps")] == expected


def test_bad_designs_and_overrides_are_refused():
    d = protocol_design("smoke", "resnet20")
    with pytest.raises(ValueError, match="constant lr"):
        dataclasses.replace(d, run=d.step_run)
    with pytest.raises(ValueError, match="past the window"):
        dataclasses.replace(d, t0s=(0, 4, 12))
    with pytest.raises(ValueError, match="checkpoints"):
        dataclasses.replace(d, lags=(3,))
    with pytest.raises(ValueError, match="switch times"):
        dataclasses.replace(d, switches=(0, 4, 8))
    with pytest.raises(ValueError, match="before the first drop"):
        dataclasses.replace(d, extension_t0s=(20,))
    with pytest.raises(ValueError, match="calibration's steps"):
        dataclasses.replace(d, cone_reference_steps=(0, 4))  # not the last lag curve's t = 8
    with pytest.raises(ValueError, match="calibration's steps"):
        dataclasses.replace(d, cone_reference_steps=(3, 8))  # not a checkpoint
    with pytest.raises(ValueError, match="among the slices"):
        dataclasses.replace(d, kernel_deltas=(2,))
    assert protocol_designs("smoke", "vgg16", seeds="3,4")["vgg16"].switch_seeds == (3, 4)
    assert protocol_designs("smoke", epsilon=1e-5)["resnet20"].epsilon == 1e-5
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
