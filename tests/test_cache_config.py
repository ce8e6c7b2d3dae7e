"""Configuration hashing, profiles, and the on-disk cache (round trip, atomicity, corruption)."""

import pytest
import torch

from twophase_lib.cache import Cache, CorruptCacheWarning
from twophase_lib.config import DataConfig, RunConfig, base_run_config, check_profile, config_hash


def test_hash_is_stable_and_sensitive():
    a = RunConfig()
    assert config_hash(a) == config_hash(RunConfig())
    assert config_hash(a) != config_hash(a.replace(seed=1))
    assert config_hash(a) != config_hash(a.replace(optim={"lr": 0.1000001}))
    assert config_hash(a) != config_hash(a.replace(model={"width": 0.5}))


def test_hash_ignores_where_data_is_stored():
    a = RunConfig(data=DataConfig("cifar10", root="/a"))
    b = RunConfig(data=DataConfig("cifar10", root="/b"))
    assert config_hash(a) == config_hash(b)


def test_profiles():
    paper = base_run_config("paper", "resnet20")
    assert paper.optim.steps == 160 * 390 and paper.optim.milestones == (80 * 390, 120 * 390)
    assert paper.optim.batch_size == 128 and paper.data.dataset == "cifar10" and paper.model.width == 1.0
    assert base_run_config("cpu", "vgg16").data.dataset == "cifar10-subset"
    with pytest.raises(ValueError, match="unknown profile 'gpu'.*smoke, cpu, paper"):
        check_profile("gpu")
    with pytest.raises(ValueError, match="unknown profile"):
        base_run_config("laptop", "resnet20")


def test_cache_round_trip(tmp_path):
    cache = Cache(tmp_path)
    cfg = RunConfig()
    value = {"t": torch.arange(5.0), "x": [1, 2.5, "a"]}
    assert cache.load("thing", cfg) is None and not cache.contains("thing", cfg)
    path = cache.save("thing", cfg, value)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    got = cache.load("thing", cfg)
    assert torch.equal(got["t"], value["t"]) and got["x"] == value["x"]
    assert cache.load("thing", cfg.replace(seed=3)) is None
    [record] = cache.records("thing")
    assert record["config"]["seed"] == 0


def test_get_or_compute_computes_once(tmp_path):
    cache = Cache(tmp_path)
    calls = []
    compute = lambda: calls.append(1) or 42  # noqa: E731
    assert cache.get_or_compute("k", RunConfig(), compute) == 42
    assert cache.get_or_compute("k", RunConfig(), compute) == 42
    assert len(calls) == 1


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_file_is_recomputed_not_loaded(tmp_path, damage):
    cache = Cache(tmp_path)
    cfg = RunConfig()
    path = cache.save("k", cfg, torch.arange(1000.0))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = b"not a cache file"
    path.write_bytes(bytes(raw))
    with pytest.warns(CorruptCacheWarning):
        value = cache.get_or_compute("k", cfg, lambda: "recomputed")
    assert value == "recomputed"
    assert cache.load("k", cfg) == "recomputed"


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    cache = Cache(tmp_path)

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.save("k", RunConfig(), Boom())
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
