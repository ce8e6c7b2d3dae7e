"""Configuration hashing, profiles, and the on-disk cache (round trip, atomicity, corruption)."""

import pytest
import torch

from twophase_book.profiles import check_arch, check_profile, protocol_designs, protocol_run, run_config
from twophase_lib.cache import Cache, CorruptCacheWarning
from twophase_lib.config import DataConfig, RunConfig, config_hash


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
    paper = run_config("paper", "resnet20")
    assert paper.optim.steps == 160 * 390 and paper.optim.milestones == (80 * 390, 120 * 390)
    assert paper.optim.batch_size == 128 and paper.data.dataset == "cifar10" and paper.model.width == 1.0
    assert run_config("cpu", "vgg16").data.dataset == "cifar10-subset"
    with pytest.raises(ValueError, match="unknown profile 'laptop'.*smoke, cpu, gpu, paper"):
        check_profile("laptop")
    with pytest.raises(ValueError, match="unknown profile"):
        run_config("laptop", "resnet20")
    with pytest.raises(ValueError, match="unknown architecture 'resnet56'"):
        check_arch("resnet56")


def test_prefix_shares_what_the_first_steps_cannot_see():
    const, step = protocol_run("cpu", "resnet20")
    assert const.optim.milestones == () and step.optim.milestones == (320, 360)
    const = const.replace(optim={"steps": step.optim.steps})  # the constant-lr window, as long as the recipe
    assert config_hash(step.prefix(320)) == config_hash(const.prefix(320))  # same run up to the first drop
    assert config_hash(step.prefix(321)) != config_hash(const.prefix(321))  # the update at 320 differs
    assert config_hash(step.prefix(100)) != config_hash(step.replace(seed=1).prefix(100))
    assert step.prefix(400).optim.milestones == (320, 360)


def test_data_seed_separates_batches_from_initialisation():
    run = RunConfig()
    assert run.batch_seed == 0 and run.replace(data_seed=5).batch_seed == 5
    assert config_hash(run) != config_hash(run.replace(data_seed=0))
    with pytest.raises(ValueError, match="memory format"):
        RunConfig(memory_format="nhwc")
    with pytest.raises(ValueError, match="milestones must increase"):
        run.replace(optim={"milestones": (30, 20)})


def test_cache_round_trip(tmp_path):
    cache = Cache(tmp_path)
    cfg = RunConfig()
    value = {"t": torch.arange(5.0), "x": [1, 2.5, "a"]}
    assert cache.load("thing", cfg) is None
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


def test_results_export_as_flat_rows(tmp_path):
    import csv
    import subprocess
    import sys

    cache = Cache(tmp_path / "cache")
    cache.save("pair", (RunConfig(), 5), {"disagreement": 0.25, "path": {"alpha": list(range(30))},
                                          "kernel": torch.zeros(3), "tags": [1, 2]})
    [row] = cache.table("pair")
    assert row["value.disagreement"] == 0.25 and row["value.tags"] == "1 2"
    assert row["config.0.model.width"] == "1.0" and row["config.1"] == 5  # config floats are exact repr text
    assert not any(k.startswith(("value.path", "value.kernel")) for k in row)
    out = tmp_path / "pairs.csv"
    script = __import__("pathlib").Path(__file__).resolve().parents[1] / "scripts" / "export_results.py"
    done = subprocess.run(
        [sys.executable, str(script), "--cache", str(cache.root), "--kind", "pair", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 1 and rows[0]["value.disagreement"] == "0.25"
    bad = subprocess.run(
        [sys.executable, str(script), "--cache", str(cache.root), "--kind", "nope"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "stored kinds: pair" in bad.stderr


def test_chapter_parameters_are_validated():
    default = protocol_designs("cpu")
    assert protocol_designs("cpu", epsilon=1e-7) == default  # the book's ε: the same designs, the same summary key
    mine = protocol_designs("cpu", "vgg16", "0, 3,4", "cpu", 1e-5)
    assert list(mine) == ["vgg16"] and mine["vgg16"].chaos.seeds == (0, 3, 4) and mine["vgg16"].chaos.epsilon == 1e-5
    assert mine["vgg16"].switch.seeds == (0, 3, 4)
    assert mine["vgg16"].chaos.reference_seeds == default["vgg16"].chaos.reference_seeds
    for bad, match in (
        (dict(archs="resnet50"), "unknown architecture"),
        (dict(seeds="0, x"), "cannot read seeds"),
        (dict(seeds=[1, 1]), "distinct"),
        (dict(seeds=[-1]), "non-negative"),
        (dict(device="tpu"), "device"),
        (dict(device="nonsense:x"), "unknown device"),
        (dict(epsilon=0), "epsilon"),
        (dict(archs=[]), "non-empty"),
    ):
        with pytest.raises(ValueError, match=match):
            protocol_designs("cpu", **bad)
    with pytest.raises(ValueError, match="unknown profile"):
        protocol_designs("laptop")


def test_fields_added_later_keep_old_keys_at_their_default():
    """ModelConfig.bn_init came after results were cached: at its default it is left out of the hash, so every
    cached result keeps its key (this literal is the default configuration's key since CACHE_VERSION 3)."""
    from twophase_lib.config import ModelConfig, to_dict

    assert config_hash(RunConfig()) == "b150f83111898fb0"
    assert "bn_init" not in to_dict(ModelConfig(), for_hash=True)
    assert config_hash(RunConfig(model=ModelConfig(bn_init="uniform"))) != config_hash(RunConfig())
    with pytest.raises(ValueError, match="unknown batch-norm initialisation"):
        ModelConfig(bn_init="zeros")


def test_open_lth_batch_norm_initialisation_draws_scales_in_zero_one():
    import torch

    from twophase_lib.config import ModelConfig
    from twophase_lib.models import build_model

    ones = build_model(ModelConfig("resnet20", 0.25))
    uniform = build_model(ModelConfig("resnet20", 0.25, bn_init="uniform"))
    assert torch.equal(ones.bn.weight, torch.ones_like(ones.bn.weight))
    w = torch.cat([m.weight.detach() for m in uniform.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert (w >= 0).all() and (w < 1).all() and w.std() > 0.1
    assert torch.equal(ones.conv.weight, uniform.conv.weight)  # only the scales differ
    again = build_model(ModelConfig("resnet20", 0.25, bn_init="uniform"))
    assert all(torch.equal(a, b) for a, b in zip(uniform.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("field,value", [
    ("batch_size", 0), ("batch_size", -5), ("batch_size", 2.0), ("batch_size", True), ("lr", float("nan")),
    ("lr", 0.0), ("lr", -0.1), ("lr", float("inf")), ("lr", "0.1"), ("momentum", 1.0), ("momentum", -0.1),
    ("weight_decay", -1e-4), ("steps", -1), ("steps", 2.5), ("gamma", 0.0), ("warmup_steps", -1),
    ("beta2", 1.0), ("milestones", [5]), ("milestones", (0, 5)), ("milestones", (5, 5)), ("milestones", (2.5,)),
])
def test_bad_optimiser_settings_are_refused_where_they_are_made_naming_the_field(field, value):
    from twophase_lib.config import OptimConfig

    with pytest.raises(ValueError, match=field.rstrip("s") if field == "milestones" else f"OptimConfig.{field}"):
        OptimConfig(**{field: value})


@pytest.mark.parametrize("field,value", [("width", 0.0), ("width", float("nan")), ("width", -1.0),
                                         ("num_classes", 1), ("num_classes", 2.0)])
def test_bad_model_settings_are_refused_naming_the_field(field, value):
    from twophase_lib.config import ModelConfig

    with pytest.raises(ValueError, match=f"ModelConfig.{field}"):
        ModelConfig(**{field: value})


def test_validation_accepts_numpy_and_integer_values_and_converts_nothing():
    import numpy as np

    from twophase_lib.config import OptimConfig

    o = OptimConfig(batch_size=np.int64(64), lr=1, momentum=0.0, steps=0, milestones=(np.int64(3),))
    # stored as given, so the cache keys of existing configurations do not move
    assert type(o.lr) is int and type(o.batch_size) is np.int64 and o.milestones == (3,)


def test_run_dtype_and_device_are_checked_where_the_configuration_is_made():
    assert RunConfig(dtype=torch.float64).dtype == "float64"  # the form a cache key can hold
    assert RunConfig(device=torch.device("cpu")).device == "cpu"
    for bad, field in [(dict(dtype="float99"), "dtype"), (dict(dtype="int64"), "dtype"), (dict(dtype=3), "dtype"),
                       (dict(device="gpu"), "device")]:
        with pytest.raises(ValueError, match=f"RunConfig.{field}"):
            RunConfig(**bad)
