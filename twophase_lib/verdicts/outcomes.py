"""What a rule says and how it is decided: the outcomes, a check with its margin and interval, a verdict, and how
outcomes are combined across settings and across machines.

A rule is a list of checks identified by enums (one enum per claim, in the claim's module); the outcome is
"reproduced" when every check passes, "not reproduced" when the checks that carry the claim's core fail, and
"partly" otherwise. Every check reports its numbers, a margin (positive: passes) and a bootstrap interval of the
margin; a rule says "inconclusive" when a check whose interval contains 0 could change its outcome
(:func:`~twophase_lib.verdicts.decide_with_intervals`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np


class Outcome(enum.StrEnum):
    """What a rule says of a claim (``str(outcome)`` is its display text)."""

    REPRODUCED = "reproduced"
    PARTLY = "partly"
    NOT_REPRODUCED = "not reproduced"
    #: A rule whose undecided checks could move its outcome (:func:`decide_with_intervals`), or results of several
    #: numerics fingerprints that disagree (:func:`across_machines`).
    INCONCLUSIVE = "inconclusive"
    #: A task that cannot show the effects at all, failing
    #: :func:`~twophase_lib.verdicts.dynamic_range_precondition` (issue 22).
    INAPPLICABLE = "inapplicable"


#: The outcomes a rule can give.
OUTCOMES = (Outcome.REPRODUCED, Outcome.PARTLY, Outcome.NOT_REPRODUCED, Outcome.INCONCLUSIVE, Outcome.INAPPLICABLE)

#: A check's identity, a member of one rule's check enum (``WindowCheck``, ``LagCheck``, ``SwitchCheck``,
#: ``PreconditionCheck``, each in its claim's module) whose value is the check's display text.
CheckId: TypeAlias = enum.Enum


@dataclass
class Check:
    """One condition of a rule (``id``), whether it held, and the numbers behind it.

    ``applicable=False`` marks a check the measured curve cannot decide (it has no dynamic range: twins that
    never diverge cannot show a decay); it neither passes nor fails, and the explanation says why.

    ``margin`` and ``interval``: how far the measurement lies on the passing side of the check's threshold
    (positive: passes) and a t interval of that margin (:func:`~twophase_lib.verdicts.t_interval`). A check whose
    interval contains 0 is *undecided*: the noise could put it on either side (:attr:`decided`).

    ``deciding=False`` marks a descriptive check: reported with its margin, never moving the outcome (a rule's
    function does not read it, and :func:`decide_with_intervals` does not try its two sides).
    """

    id: CheckId
    passed: bool
    detail: str
    applicable: bool = True
    margin: float | None = None
    interval: tuple[float, float] | None = None
    deciding: bool = True

    def __post_init__(self):
        if not self.applicable:
            self.passed = False

    @property
    def decided(self) -> bool:
        """False when the margin's interval contains 0 (or is not finite), or the check is not applicable."""
        if not self.applicable:
            return False
        if self.interval is None:
            return True
        lo, hi = self.interval
        return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))

    @property
    def name(self) -> str:
        """The check's display text."""
        return self.id.value

    @property
    def mark(self) -> str:
        """✓ passed, ✗ failed, ? undecided (the margin's interval contains 0), – not applicable."""
        if not self.applicable:
            return "–"
        if not self.decided:
            return "?"
        return "✓" if self.passed else "✗"


#: What a check says of a curve that is the same at every point.
NO_DYNAMIC_RANGE = "no dynamic range"


@dataclass
class Verdict:
    """The outcome of a rule and the checks it was decided by."""

    outcome: Outcome
    checks: list[Check] = field(default_factory=list)
    #: The measurements it was decided from (:class:`twophase_lib.judgements.Judgement`), where the caller recorded
    #: them: the rule can then be applied again to them without recomputing.
    judgement: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        self.outcome = Outcome(self.outcome)

    def failed(self) -> list[CheckId]:
        """The deciding checks that failed (not those the curve could not decide, nor undecided or descriptive ones)."""
        return [c.id for c in self.checks if c.deciding and c.applicable and c.decided and not c.passed]

    def undecided(self) -> list[CheckId]:
        """The deciding checks whose margin's interval contains 0."""
        return [c.id for c in self.checks if c.deciding and c.applicable and not c.decided]

    def not_applicable(self) -> list[CheckId]:
        """The checks the curve could not decide (no dynamic range)."""
        return [c.id for c in self.checks if not c.applicable]

    def deciding(self) -> list[Check]:
        """The checks the outcome was decided by (not the descriptive ones)."""
        return [c for c in self.checks if c.deciding]

    def explain(self) -> str:
        """One line per check: ✓, ✗, ? (undecided) or – (not applicable), its name and its numbers; a descriptive
        check's line says so."""
        return "\n".join(f"{c.mark} {c.name}{'' if c.deciding else ' (descriptive)'}: {c.detail}"
                         for c in self.checks)


def decide_with_intervals(checks: list[Check], rule) -> Verdict:
    """The outcome ``rule`` gives the checks, if it is the same whichever side each undecided check falls on;
    else INCONCLUSIVE (a deciding check's margin lies inside its interval).

    Args:
        checks: the rule's checks, with margins and intervals where they have them.
        rule: ``rule(passed: dict[CheckId, bool]) -> Outcome``, the outcome for given check results.
    """
    undecided = [c.id for c in checks if c.deciding and c.applicable and not c.decided]
    base = {c.id: bool(c.passed) for c in checks}
    found = set()
    for bits in range(1 << len(undecided)):
        trial = dict(base)
        for k, cid in enumerate(undecided):
            trial[cid] = bool(bits >> k & 1)
        found.add(Outcome(rule(trial)))
    return Verdict(found.pop() if len(found) == 1 else Outcome.INCONCLUSIVE, checks)


def combine(outcomes: list[Outcome | str]) -> Outcome:
    """One outcome from several (architectures, schedules, tasks): all reproduced, none reproduced, or partly;
    inconclusive when the settings that are decided agree and at least one other is inconclusive (or none is
    decided). Inapplicable settings (tasks that cannot show the effects) are left out; all inapplicable gives
    inapplicable.

    Raises:
        ValueError: no outcomes.
    """
    if not outcomes:
        raise ValueError("no outcomes to combine")
    applicable = [o for o in outcomes if o != Outcome.INAPPLICABLE]
    if not applicable:
        return Outcome.INAPPLICABLE
    outcomes = applicable
    decided = {Outcome(o) for o in outcomes if o != Outcome.INCONCLUSIVE}
    if len(decided) < len(set(map(Outcome, outcomes))) and len(decided) <= 1:
        return Outcome.INCONCLUSIVE
    if all(o == Outcome.REPRODUCED for o in outcomes):
        return Outcome.REPRODUCED
    if all(o == Outcome.NOT_REPRODUCED for o in outcomes):
        return Outcome.NOT_REPRODUCED
    return Outcome.PARTLY


#: What a verdict that differs between machines (numerics fingerprints) counts as.
INCONCLUSIVE = Outcome.INCONCLUSIVE


def across_machines(outcomes: dict[str, Outcome | str]) -> Outcome:
    """One verdict from the same rule applied to results of several numerics fingerprints (issue 18).

    Args:
        outcomes: {fingerprint id: outcome} for one claim and setting, each in ``OUTCOMES``.

    Returns:
        The common outcome when every fingerprint gives the same one; ``INCONCLUSIVE`` when they differ: a
        verdict that rounding differences between CPUs can flip is decided inside the noise.

    Raises:
        ValueError: no outcomes, or one outside ``OUTCOMES``.
    """
    if not outcomes:
        raise ValueError("no outcomes to compare across machines")
    unknown = sorted({str(o) for o in outcomes.values() if o not in OUTCOMES})
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; known: {', '.join(OUTCOMES)}")
    found = {Outcome(o) for o in outcomes.values()}
    return found.pop() if len(found) == 1 else INCONCLUSIVE
