"""Shared fixtures: tiny configurations that train in well under a second."""

import os
import tempfile

import pytest

from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig

# Notebook kernels started by nbval inherit this: smoke chapters compute from scratch, never from a warm cache.
os.environ["TWOPHASE_CACHE"] = tempfile.mkdtemp(prefix="twophase-test-cache-")
os.environ["TQDM_DISABLE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty result cache."""
    monkeypatch.setenv("TWOPHASE_CACHE", str(tmp_path / "cache"))


def tiny_config(arch: str = "resnet20", width: float = 0.125, steps: int = 12, seed: int = 0) -> RunConfig:
    """A configuration small enough for unit tests, with the lr schedule crossing a milestone."""
    return RunConfig(
        model=ModelConfig(arch, width),
        data=DataConfig("cifar10-subset"),
        optim=OptimConfig(batch_size=16, steps=steps, milestones=(steps // 2,)),
        seed=seed,
    )


def with_schedule(run: RunConfig, schedule: str) -> RunConfig:
    """``run`` under the ``step`` schedule (as configured) or at a ``constant`` lr (no milestones)."""
    assert schedule in ("step", "constant"), schedule
    return run if schedule == "step" else run.replace(optim={"milestones": ()})


@pytest.fixture
def tiny():
    """The tiny ResNet-20 configuration."""
    return tiny_config()
