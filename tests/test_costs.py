"""The cost model: work counted from a study's grids (shared work once), unit costs measured here."""

import pytest

from tests.conftest import tiny_config
from twophase_lib.chaos import ChaosMap
from twophase_lib.cone import ConeStudy
from twophase_lib.costs import Work, count_work, estimate, kernel_unit, measure_units, network_label
from twophase_lib.metrics import BarrierConfig
from twophase_lib.switch import SwitchStudy


def test_work_is_counted_from_the_grids_with_shared_parents_once():
    run = tiny_config(steps=12)  # lr drop at 6
    chaos = ChaosMap(run, (0, 4), (4, 8, 12), seeds=(0, 1), control_t0=4, reference_seeds=(0,))
    cone = ConeStudy(run, (0, 4, 8, 12), (4,), seeds=(0, 1), n_inputs=3)  # same parents: no new steps
    constant = ConeStudy(run.replace(optim={"milestones": (), "steps": 8}), (0, 4, 8), (4,), seeds=(0,), n_inputs=3)
    switch = SwitchStudy(run, (0, 6, 12), seeds=(0,))
    work = count_work([chaos, cone, constant, switch])
    net = network_label(run)
    # parents: seeds 0 and 1 to 12, the reference network to 12, the constant-lr run's 2 steps after the drop;
    # twins: per seed (12 - 0) + (12 - 4) + (12 - 4) for t0 = 0, 4 and the ε = 0 control at 4
    assert work.counts[(net, "steps")] == 12 + 12 + 12 + 2 + 2 * 28
    assert work.counts[(net, "comparisons")] == 2 * (5 + 2) + 3  # cells, control cells, reference at every t1
    assert work.counts[(net, "predictions")] == 2 * (3 + 7) + 3
    assert work.counts[(net, kernel_unit(3))] == 2 * 4 + 3 and work.kernel_sizes() == [3]
    assert work.counts[(net, "linearized_steps")] == 12 + 6 and work.counts[(net, "evaluations")] == 3
    with pytest.raises(TypeError, match="not a study"):
        count_work([run])


def test_units_are_measured_and_multiplied():
    run = tiny_config(steps=12)
    units = measure_units(run, BarrierConfig(points=2, bn_batches=1, bn_batch_size=16, train_examples=32),
                          kernel_inputs=(2, 4), steps=2)
    assert set(units.seconds) == {"steps", "linearized_steps", "comparisons", "predictions", "evaluations",
                                  "kernels (2 inputs)", "kernels (4 inputs)"}
    assert all(v > 0 for v in units.seconds.values())
    work = count_work([SwitchStudy(run, (0, 6, 12), seeds=(0,))])
    est = estimate(work, {units.network: units}, workers=2)
    assert est["wall_s"] == pytest.approx(est["total_s"] / 2)
    assert est["total_s"] == pytest.approx(sum(n * units.seconds[u] for _, u, n in work.table()))
    with pytest.raises(KeyError, match="no measured cost"):
        estimate(work, {}, 1)
    assert Work().table() == []


def test_the_sizing_script_prints_every_network_and_a_total(capsys, tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("estimate_cost", root / "scripts" / "estimate_cost.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--profile", "smoke", "--workers", "2", "--json", str(tmp_path / "e.json")]) == 0
    out = capsys.readouterr().out
    assert "resnet20 x0.25 b" in out and "vgg16 x0.125 b" in out and "min on 2 workers" in out
    assert "vgg16 x0.0625 b" in out and "06_what_moves_the_transition" in out  # chapter 6's narrower network
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["wall_s"] == pytest.approx(data["total_s"] / 2)


def test_the_frozen_batch_norm_control_counts_ordinary_steps_and_the_calibration_its_own_kernels():
    from twophase_lib.linearize import SwitchArm

    run = tiny_config(steps=12)
    net = network_label(run)
    frozen = count_work([SwitchStudy(run, (0, 6, 12), seeds=(0,), arm=SwitchArm.FROZEN_BATCH_NORM)])
    assert frozen.counts[(net, "linearized_steps")] == 0 and frozen.counts[(net, "steps")] == 12 + 18
    cone = ConeStudy(run, (0, 4, 8, 12), (4,), seeds=(0,), n_inputs=3, reference_seeds=(0, 5),
                     reference_steps=(4, 12))
    # the seeds' 4; seed 0's calibration partner at 2 steps; seed 5 (not a cone seed): both networks at 2 steps
    assert count_work([cone]).counts[(net, kernel_unit(3))] == 4 + 2 + 2 * 2


def test_a_switched_run_resumed_at_the_first_drop_counts_only_its_steps_after_it():
    step = tiny_config(steps=12).replace(optim={"milestones": (8, 10)})
    constant = step.replace(optim={"milestones": ()})
    net = network_label(step)
    alone = count_work([SwitchStudy(step, (0, 4, 12), seeds=(0,), via=(8,))])
    assert alone.counts[(net, "linearized_steps")] == 12 + 8
    both = count_work([SwitchStudy(constant, (0, 4, 12), seeds=(0,), via=(8,)),
                       SwitchStudy(step, (0, 4, 12), seeds=(0,), via=(8,))])
    assert both.counts[(net, "linearized_steps")] == (12 + 8) + (4 + 4)  # the step schedule's from 8 on
    # without the via step cached by both, or past the steps the runs share, nothing is resumed
    apart = count_work([SwitchStudy(constant, (0, 4, 12), seeds=(0,)), SwitchStudy(step, (0, 4, 12), seeds=(0,),
                                                                                     via=(8,))])
    assert apart.counts[(net, "linearized_steps")] == 2 * (12 + 8)
    late = step.replace(optim={"milestones": (6, 10)})
    assert count_work([SwitchStudy(constant, (0, 4, 12), seeds=(0,), via=(8,)), SwitchStudy(
        late, (0, 4, 12), seeds=(0,), via=(8,))]).counts[(net, "linearized_steps")] == 2 * (12 + 8)


def test_every_chapter_that_computes_is_priced_in_book_order():
    from twophase_book.budget import chapter_studies

    chapters = chapter_studies("smoke")
    assert list(chapters) == ["01_chaos_effect", "02_cone_effect", "03_linearized_switch", "04_beyond_cifar",
                              "06_what_moves_the_transition", "07_paper_or_scale"]
    work = count_work([st for group in chapters.values() for st in group])
    labels = {net for net, _, _ in work.table()}
    assert {"vit b32", "tabular b32", "sequence b32"} <= labels  # chapter 4's three tasks are counted
    assert "resnet20 x0.125 b32" in labels  # chapter 7's smoke ladder is counted
    assert all(group for group in chapters.values())
