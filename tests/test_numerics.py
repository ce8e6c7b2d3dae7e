"""The numerics fingerprint: recorded with every cached result, part of every key, so results computed by other
kernels (another CPU, another ATEN_CPU_CAPABILITY) are never read, paired or mixed (issue 18)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import tiny_config

from twophase_lib import cache as cache_module
from twophase_lib.cache import Cache, NumericsMismatchError
from twophase_lib.chaos import ChaosMap, run_chaos_map
from twophase_lib.executor import Executor
from twophase_lib.metrics import BarrierConfig
from twophase_lib.numerics import Fingerprint, device_of, fingerprint
from twophase_lib.perturbation import Perturbation
from twophase_lib.store import State, parent_at


def other(fp: Fingerprint, capability: str | None = None) -> Fingerprint:
    """The same machine as seen by a process with another ATen capability (by default one that is not ``fp``'s,
    so the tests hold whatever capability they run under)."""
    capability = capability or ("DEFAULT" if fp.cpu_capability == "AVX2" else "AVX2")
    return dataclasses.replace(fp, cpu_capability=capability, env=(("ATEN_CPU_CAPABILITY", capability.lower()),))


@pytest.fixture
def elsewhere(monkeypatch):
    """Switch this process's fingerprint to another machine's (what a process under another capability sees)."""
    def switch(fp: Fingerprint | None) -> None:
        monkeypatch.setattr(cache_module, "fingerprint", (lambda device="cpu": fp) if fp else fingerprint)
    return switch


def test_fingerprint_names_what_selects_kernels():
    fp = fingerprint()
    assert fp.device == "cpu" and fp.torch == torch.__version__
    assert fp.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert fp.onednn != "" and fp.mkl != "" and fp.machine
    assert fp.id.startswith(f"cpu-{fp.cpu_capability.lower()}-") and len(fp.digest) == 16
    assert Fingerprint.from_dict(json.loads(json.dumps(fp.as_dict()))) == fp
    assert fp.id in fp.describe() and "torch" in fp.describe()
    assert other(fp).digest != fp.digest and other(fp, "ZARCH").digest != other(fp).digest
    with pytest.raises(ValueError, match="unknown device"):
        fingerprint("mps")
    with pytest.raises(ValueError, match="not a numerics fingerprint"):
        Fingerprint.from_dict({"device": "cpu"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_a_cuda_fingerprint_needs_a_gpu():
    from twophase_lib.numerics import NoDeviceError

    with pytest.raises(NoDeviceError, match="no CUDA device"):
        fingerprint("cuda")
    # nothing of this machine's can be stored for a cuda run: a lookup finds nothing (the scorecard asks)
    assert Cache().load("parent", (tiny_config().replace(device="cuda"), 4)) is None


@pytest.mark.parametrize("capability", ["default", "avx2"])
def test_aten_capability_enters_the_fingerprint(capability):
    """A process started with ATEN_CPU_CAPABILITY (which changes rounding) has another fingerprint."""
    code = "from twophase_lib.numerics import fingerprint; import json; print(json.dumps(fingerprint().as_dict()))"

    def seen(env: dict) -> Fingerprint:
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
        return Fingerprint.from_dict(json.loads(out.stdout))

    native = seen({k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"})
    there = seen({**os.environ, "ATEN_CPU_CAPABILITY": capability})
    assert there.cpu_capability == capability.upper() and dict(there.env)["ATEN_CPU_CAPABILITY"] == capability
    assert "ATEN_CPU_CAPABILITY" not in dict(native.env) and there.digest != native.digest


def test_device_of_finds_the_run_in_any_key():
    run = tiny_config()
    assert device_of(run) == "cpu" and device_of(run.replace(device="cuda:1")) == "cuda:1"
    assert device_of((run.replace(device="cuda").prefix(4), 4)) == "cuda"
    assert device_of(State(run.replace(device="cuda"), 4, 2, Perturbation(1e-7))) == "cuda"
    assert device_of({"a": [run.replace(device="cuda")]}) == "cuda"
    assert device_of(("cpu-summary", 3)) == "cpu"


def test_every_record_holds_its_fingerprint_and_keys_depend_on_it(tmp_path, elsewhere):
    cache = Cache(tmp_path)
    here = fingerprint()
    cache.save("thing", ("x", 1), 1.0)
    (record,) = cache.records("thing")
    assert record["numerics"] == here.as_dict()
    assert cache.table("thing")[0]["numerics"] == here.id

    elsewhere(other(here))  # the same cache folder seen from a process with other kernels
    assert cache.load("thing", ("x", 1)) is None, "a result of other kernels was read"
    cache.save("thing", ("x", 1), 2.0)
    assert cache.load("thing", ("x", 1)) == 2.0
    elsewhere(None)
    assert cache.load("thing", ("x", 1)) == 1.0
    assert cache.fingerprints("thing") in ([here, other(here)], [other(here), here])

    # a cache pinned to the other machine reads its results and refuses to write any
    pinned = Cache(tmp_path, numerics=other(here))
    assert pinned.load("thing", ("x", 1)) == 2.0
    with pytest.raises(NumericsMismatchError, match="cannot store"):
        pinned.save("thing", ("x", 2), 3.0)


def test_a_study_never_pairs_states_of_two_fingerprints(tmp_path, elsewhere):
    """Parents trained under one fingerprint are not the parents of twins branched under another: the second
    process recomputes its own (here, with equal kernels, bitwise the same) and the ε = 0 control stays exact."""
    cache = Cache(tmp_path)
    run = tiny_config(steps=8)
    # the barrier at its smallest: what is checked is which parents pair, not the metrics
    tiny_barrier = BarrierConfig(points=2, bn_batches=1, bn_batch_size=16, train_examples=32, test_examples=32)
    study = ChaosMap(run, t0s=(0, 4), t1s=(8,), seeds=(0,), control_t0=4, barrier=tiny_barrier)
    first = run_chaos_map(study, cache, Executor(0), progress=False)
    files = sorted(p.name for p in (tmp_path / "parent").glob("*.pt"))

    elsewhere(other(fingerprint()))
    second = run_chaos_map(study, cache, Executor(0), progress=False)
    again = sorted(p.name for p in (tmp_path / "parent").glob("*.pt"))
    assert len(again) == 2 * len(files) and set(files) < set(again), "the second fingerprint reused parents"
    assert first.control_is_exact and second.control_is_exact
    assert {r["numerics"]["id"] for r in cache.records("pair")} == {fingerprint().id, other(fingerprint()).id}
    # same kernels underneath: the recomputed parent is bitwise the first one
    elsewhere(None)
    a = parent_at(run, 8, cache).model
    elsewhere(other(fingerprint()))
    b = parent_at(run, 8, cache).model
    assert all(torch.equal(a[k], b[k]) for k in a)
