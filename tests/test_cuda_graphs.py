"""The CUDA-graph training path: when it is used (checked on any machine), and that it is bitwise the
eager path (checked where a GPU is present; bench/gpu_measure.py records the same check on an H200)."""

import pytest
import torch

from tests.conftest import tiny_config
from twophase_lib.config import OptimConfig
from twophase_lib.linearize import train_linearized
from twophase_lib.training import (
    GRAPH_MIN_STEPS,
    GraphedSteps,
    initial_checkpoint,
    make_optimizer,
    materialise,
    step_function,
    train,
    uses_cuda_graphs,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _sgd(run):
    return make_optimizer(run, materialise(run, initial_checkpoint(run)))


def test_no_graphs_on_a_cpu(tiny):
    assert not uses_cuda_graphs(tiny, _sgd(tiny), 10_000)
    fn = step_function(tiny, materialise(tiny, initial_checkpoint(tiny)), _sgd(tiny), None, 10_000)
    assert not isinstance(fn, GraphedSteps)


def test_graphs_only_for_sgd_long_runs_and_unless_switched_off(tiny, monkeypatch):
    gpu = tiny.replace(device="cuda")  # the decision reads the configuration; nothing runs on the device
    opt = _sgd(tiny)
    assert uses_cuda_graphs(gpu, opt, GRAPH_MIN_STEPS)
    assert not uses_cuda_graphs(gpu, opt, GRAPH_MIN_STEPS - 1)  # too short to be worth a capture
    adamw = tiny.replace(optim=OptimConfig(batch_size=16, steps=12, algorithm="adamw", lr=1e-3))
    assert not uses_cuda_graphs(gpu, make_optimizer(adamw, materialise(adamw, initial_checkpoint(adamw))), 1000)
    monkeypatch.setenv("TWOPHASE_CUDA_GRAPHS", "0")
    assert not uses_cuda_graphs(gpu, opt, 1000)


def _both(monkeypatch, fn):
    out = []
    for flag in ("0", "1"):
        monkeypatch.setenv("TWOPHASE_CUDA_GRAPHS", flag)
        out.append(fn())
    return out


@cuda
@pytest.mark.parametrize("arch", ["resnet20", "vgg16"])
def test_graphs_are_bitwise_the_eager_path_through_lr_drops(arch, monkeypatch):
    run = tiny_config(arch).replace(device="cuda", optim=OptimConfig(batch_size=16, steps=40, milestones=(15, 30)))
    eager, graphed = _both(monkeypatch, lambda: train(run, save_at=(10, 20), progress=False))
    assert eager.losses == graphed.losses
    for step in (10, 20, 40):
        for k, v in eager.checkpoints[step].model.items():
            assert torch.equal(v, graphed.checkpoints[step].model[k]), (step, k)


@cuda
def test_linearized_graphs_are_bitwise_the_eager_path(monkeypatch):
    run = tiny_config().replace(device="cuda", optim=OptimConfig(batch_size=16, steps=30, milestones=(15,)))
    base = initial_checkpoint(run)
    eager, graphed = _both(monkeypatch, lambda: train_linearized(run, base, progress=False))
    assert eager.losses == graphed.losses
    for k, v in eager.final.model.items():
        assert torch.equal(v, graphed.final.model[k]), k
