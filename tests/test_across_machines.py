"""scripts/across_machines.py: each capability's environment, and how its runs are merged into the JSON file."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("across_machines", ROOT / "scripts" / "across_machines.py")
across = importlib.util.module_from_spec(spec)
spec.loader.exec_module(across)


def test_each_capability_runs_with_its_own_aten_level(monkeypatch):
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    assert "ATEN_CPU_CAPABILITY" not in across.environment("native")
    assert across.environment("default")["ATEN_CPU_CAPABILITY"] == "default"


def test_a_run_replaces_its_fingerprint_and_another_profile_starts_afresh():
    run = lambda fp, x: {"fingerprint": {"id": fp}, "summaries": {}, "x": x}  # noqa: E731
    data = across.merge({}, "cpu", run("a", 1))
    data = across.merge(data, "cpu", run("b", 1))
    data = across.merge(data, "cpu", run("a", 2))
    assert [(r["fingerprint"]["id"], r["x"]) for r in data["runs"]] == [("b", 1), ("a", 2)]
    assert across.merge(data, "smoke", run("c", 1))["runs"] == [run("c", 1)]


def test_a_run_of_the_current_protocol_replaces_runs_of_an_older_one():
    old = lambda fp: {"fingerprint": {"id": fp}, "summaries": {"chaos": {"verdict": "partly"}}}  # noqa: E731
    new = lambda fp: {"fingerprint": {"id": fp}, "summaries": {"chaos": {"verdict": "partly", "cells": []}}}  # noqa
    data = across.merge(across.merge({}, "cpu", old("amd")), "cpu", old("amd-avx2"))
    data = across.merge(data, "cpu", new("intel"))
    assert [r["fingerprint"]["id"] for r in data["runs"]] == ["intel"]
    data = across.merge(data, "cpu", new("intel-avx2"))
    assert [r["fingerprint"]["id"] for r in data["runs"]] == ["intel", "intel-avx2"]

