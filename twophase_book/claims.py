"""The claim registry: one record per claim the book judges (and per open question it answers), which the
scorecard, the pages, the cost model, ``scripts/compute.py`` and the chapters iterate.

A record says which chapter judges the claim, what the paper states, which designs its typed summary is stored under
at a profile, which library studies those designs compute, and which rule its verdict comes from. Adding a claim is
a record here, its home module (``twophase_book/<claim>.py``: designs → studies, the rule applied, tables, figures,
the typed summary), its chapter (``notebooks/NN_<claim>.py``) and its line in ``_toc.yml``: see ARCHITECTURE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from twophase_lib.cache import Cache
from twophase_lib.chaos import ChaosMap, run_chaos_maps
from twophase_lib.cone import ConeStudy, run_studies
from twophase_lib.switch import SwitchStudy, run_switch_studies
from twophase_lib.verdicts import (
    dynamic_range_precondition,
    fixed_budget_check,
    inflection_accuracy_relation,
    inflection_shift,
    lag_cone_verdict,
    paired_switch_verdict,
    width_trend,
    window_chaos_verdict,
)

from . import beyond, chaos, cone, scale, switch, transition
from .designs import protocol_table
from .profiles import PROFILES, protocol_designs
from .summary import ClaimSummary


@dataclass(frozen=True)
class Claim:
    """One claim (or open question) of the book.

    ``kind`` names it in caches, summaries and the scorecard; ``title`` and ``chapter`` (the notebook's stem) place
    it in the book; ``statement`` is what the paper says (or asks). ``designs(profile, **overrides)`` gives the
    designs its typed summary is stored under (``{name: design}``; the overrides are the chapter's re-run
    parameters, validated), ``design_table(designs)`` the table that opens its chapter; ``studies(designs)`` the
    library studies those designs compute (``{key: study}``: :class:`twophase_lib.chaos.ChaosMap`,
    :class:`twophase_lib.cone.ConeStudy`, :class:`twophase_lib.switch.SwitchStudy`), which :func:`compute` runs and
    the cost model prices; ``rules`` the rule functions its verdict (and the checks it reports beside the verdict)
    comes from; ``across_machines`` whether the
    across-machines page follows it.
    """

    kind: str
    title: str
    chapter: str
    statement: str
    designs: Callable[..., dict]
    design_table: Callable[[dict], object]
    studies: Callable[[dict], dict]
    rules: tuple[Callable, ...]
    across_machines: bool = False
    summary: type = ClaimSummary
    profiles: tuple[str, ...] = PROFILES

    def check_profile(self, profile: str) -> str:
        """Return ``profile`` if this claim's chapter runs at it.

        Raises:
            ValueError: a profile it does not run at, listing those it does.
        """
        from twophase_lib.config import check_choice

        return check_choice(profile, self.profiles, f"profile of {self.title}")


def _chaos_studies(designs: dict) -> dict:
    return {**{(a, "total"): m for a, m in chaos.chapter_maps(designs).items()},
            **{(a, "unrelated"): m for a, m in chaos.unrelated_maps(designs).items()},
            **{(a, "entry"): m for a, m in chaos.entry_maps(designs).items()},
            **{(a, "bn init"): m for a, m in chaos.bn_init_maps(designs).items()},
            **{(a, "extension"): m for a, m in chaos.extension_maps(designs).items()}}


def _cone_studies(designs: dict) -> dict:
    return {**{(a, "train"): s for a, s in cone.lag_studies(designs).items()},
            **{(a, "test"): s for a, s in cone.check_input_studies(designs).items()}}


def _switch_studies(designs: dict) -> dict:
    return {**switch.window_studies(designs),
            **{(a, f"fixed budget, t = {t}"): st for (a, t), st in switch.budget_studies(designs).items()}}


def _beyond_studies(designs: dict) -> dict:
    return {**{(t, "map"): m for t, m in beyond.beyond_maps(designs).items()},
            **{(t, "unrelated"): m for t, m in beyond.beyond_unrelated_maps(designs).items()},
            **{(t, "lags"): s for t, s in cone.lag_studies(designs).items()},
            **{key: s for key, s in beyond.beyond_switches(designs).items()},
            **{(t, f"ε = {e:g}"): m for (t, e), m in beyond.beyond_epsilon_maps(designs).items()}}


#: Every claim and open question, in the book's order.
CLAIMS = (
    Claim("chaos", "1. Chaos effect", "01_chaos_effect",
          "A 1e-7 perturbation early in training sends the twin elsewhere; after an inflection point (≈ 100–500 "
          "iterations for ResNet-20, ≈ 2,000–2,500 for VGG-16) it changes almost nothing.",
          protocol_designs, protocol_table, _chaos_studies, (window_chaos_verdict,), across_machines=True),
    Claim("cone", "2. Cone effect", "02_cone_effect",
          "After the transition the eNTK keeps moving inside a narrow cone: S(τ, t) rises then plateaus for "
          "τ ∈ {2000, …, 8000}; the adjacent-checkpoint kernel distance drops to a small non-zero value.",
          protocol_designs, protocol_table, _cone_studies, (lag_cone_verdict,), across_machines=True),
    Claim("switch", "3. Value of the cone phase", "03_linearized_switch",
          "Final test accuracy of θ_std→lin(T; t) grows with the switch time t, especially for t > 2000; fully "
          "linearized training (t = 0) is worst.",
          protocol_designs, protocol_table, _switch_studies, (paired_switch_verdict, fixed_budget_check),
          across_machines=True),
    Claim("beyond", "4. Beyond CIFAR-10", "04_beyond_cifar",
          "Open question (§6): do the chaos and cone effects hold for other architectures and modalities, such as "
          "transformers or MLPs on tabular data? Not answered in the paper.",
          beyond.chapter_designs, beyond.design_table, _beyond_studies,
          (dynamic_range_precondition, window_chaos_verdict, lag_cone_verdict, paired_switch_verdict)),
    Claim("transition", "6. What moves the transition", "06_what_moves_the_transition",
          "Open questions (§6): what sets when the transition happens, and does it relate to how well the network "
          "generalises? Not answered in the paper.",
          lambda profile: {"design": transition.transition_design(profile)}, transition.design_table,
          lambda designs: transition.transition_maps(designs["design"]),
          (inflection_shift, inflection_accuracy_relation)),
    Claim("scale", "7. Is it the paper or the scale?", "07_paper_or_scale",
          "Not a claim of the paper: whether the book's negative verdicts come from the paper or from our small "
          "scale. Predictions committed before any number (the kernel's distances fall as 1/width, the chaos "
          "inflection and the switch gain grow with width), read by power laws over a ladder of widths.",
          scale.chapter_designs, scale.design_table, scale.studies,
          (width_trend, window_chaos_verdict, lag_cone_verdict, paired_switch_verdict), profiles=scale.SCALE_PROFILES),
)

#: Every rule function the book's claims use; chapter 5 may import no other (``tests/test_claims.py``).
RULES = tuple(dict.fromkeys(r for c in CLAIMS for r in c.rules))


def claim(kind: str) -> Claim:
    """The record of ``kind``.

    Raises:
        ValueError: an unknown kind, listing the known ones.
    """
    for c in CLAIMS:
        if c.kind == kind:
            return c
    raise ValueError(f"unknown claim {kind!r}; known: {', '.join(c.kind for c in CLAIMS)}")


def claim_studies(kind: str, profile: str) -> dict:
    """The studies a claim computes at a profile (its designs at that profile, no overrides).

    Raises:
        ValueError: an unknown claim or profile.
    """
    c = claim(kind)
    return c.studies(c.designs(c.check_profile(profile)))


def compute(studies: dict, cache: Cache | None = None, executor=None, desc: str = "studies",
            progress: bool = True) -> dict:
    """Compute (or load) a claim's studies, each kind in its library's shared waves (every map in one
    :func:`twophase_lib.chaos.run_chaos_maps`, every eNTK study in one :func:`twophase_lib.cone.run_studies`, every
    switch study in one :func:`twophase_lib.switch.run_switch_studies`), and return the results under the
    studies' keys.

    Raises:
        TypeError: a study of another kind.
    """
    runners = ((ChaosMap, run_chaos_maps, "maps"), (ConeStudy, run_studies, "eNTK along the runs"),
               (SwitchStudy, run_switch_studies, "switched runs"))
    out = {}
    for kind, run, what in runners:
        mine = {k: s for k, s in studies.items() if isinstance(s, kind)}
        if mine:
            out.update(run(mine, cache, executor, progress, desc=f"{desc}: {what}"))
    unknown = [k for k in studies if k not in out]
    if unknown:
        raise TypeError(f"not a study of the library: {unknown}")
    return out
