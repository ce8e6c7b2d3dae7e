"""The claim registry: everything that enumerates claims reads it, and the public API judges with the book's rules."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import re
from pathlib import Path

import pytest

from twophase_book import claims
from twophase_book.claims import CLAIMS, RULES, claim, claim_studies, compute
from twophase_lib import analyses

ROOT = Path(__file__).resolve().parents[1]
CLAIM_MODULES = ("chaos", "cone", "switch", "precondition", "transition", "scale")


def rule_functions() -> dict[str, object]:
    """Every rule the library has: the public functions defined in the verdicts package's claim modules."""
    out = {}
    for name in CLAIM_MODULES:
        module = importlib.import_module(f"twophase_lib.verdicts.{name}")
        out.update({n: f for n, f in vars(module).items() if inspect.isfunction(f) and not n.startswith("_")
                    and f.__module__ == module.__name__})
    return out


def imported_names(source: str, module_prefix: str) -> set[str]:
    """Names a source imports from modules starting with ``module_prefix`` (``from x import a, b``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and ("." * node.level + (node.module or "")).startswith(module_prefix):
            names |= {a.name for a in node.names}
    return names


def test_every_claim_has_its_chapter_a_toc_entry_and_rules_of_the_library():
    toc = (ROOT / "_toc.yml").read_text()
    rules = rule_functions()
    assert len({c.kind for c in CLAIMS}) == len(CLAIMS)
    for c in CLAIMS:
        assert (ROOT / "notebooks" / f"{c.chapter}.py").exists(), c.chapter
        assert f"book/chapters/{c.chapter}" in toc, c.chapter
        assert c.rules and all(r in rules.values() for r in c.rules), c.kind
        assert claim(c.kind) is c
    with pytest.raises(ValueError, match="unknown claim 'nope'; known: chaos"):
        claim("nope")


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cost_model_the_compute_script_and_the_pages_iterate_the_registry():
    from twophase_book import budget, pages

    assert list(budget.chapter_studies("smoke")) == [c.chapter for c in CLAIMS]
    assert load_script("compute").STAGES == tuple(c.kind for c in CLAIMS)
    assert [k for k, _ in pages.ACROSS_KINDS] == [c.kind for c in CLAIMS if c.across_machines]
    for c in CLAIMS:
        studies = claim_studies(c.kind, "smoke")
        assert studies and all(type(s).__name__ in ("ChaosMap", "ConeStudy", "SwitchStudy") for s in studies.values())


def test_nothing_else_lists_the_claim_kinds_by_hand():
    """A claim's kind appears as a string only in the registry and in its own home (its summary's kind)."""
    kinds = [c.kind for c in CLAIMS]
    pattern = re.compile(r'\(\s*"chaos",\s*"cone"')  # a hand-written tuple of kinds
    for path in [*(ROOT / "twophase_book").glob("*.py"), *(ROOT / "scripts").glob("*.py")]:
        if path.name != "claims.py":
            assert not pattern.search(path.read_text()), f"{path.name} lists claim kinds by hand"
    assert kinds[:3] == ["chaos", "cone", "switch"]


def test_chapter_5_and_the_public_api_judge_with_the_rules_of_the_books_claims():
    rules = rule_functions()
    chapter = (ROOT / "notebooks" / "05_your_own_model.py").read_text()
    used = imported_names(chapter, "twophase_lib.verdicts") & set(rules)
    assert all(rules[n] in RULES for n in used), used
    # the analyses judge through the library's readings (chaos.window_reading, cone.lag_reading) and directly
    api_rules = {n for m in (analyses, *(importlib.import_module(f"twophase_lib.{x}") for x in ("chaos", "cone",
                                                                                              "switch")))
                 for n in imported_names(inspect.getsource(m), ".verdicts") if n in rules}
    assert api_rules == {"window_chaos_verdict", "lag_cone_verdict", "paired_switch_verdict", "fixed_budget_check"}
    assert all(rules[n] in RULES for n in api_rules)
    assert {"chaos_analysis", "cone_analysis", "switch_analysis"} <= imported_names(chapter, "twophase_lib.analyses")
    # the old generation is gone
    for old in ("chaos_verdict", "cone_verdict", "switch_verdict", "recovered_share", "late_t0"):
        assert old not in rules and not hasattr(importlib.import_module("twophase_lib.verdicts"), old)
    for old in ("ChaosSweep", "run_sweep", "run_sweeps", "inflection_range"):
        assert not hasattr(importlib.import_module("twophase_lib.chaos"), old)


def test_compute_refuses_what_is_not_a_study():
    with pytest.raises(TypeError, match="not a study"):
        compute({"x": object()})
    assert claims.compute({}) == {}
