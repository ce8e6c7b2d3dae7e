"""Typed chapter summaries: what a chapter concluded, per network and protocol, in the form the scorecard reads.

A :class:`ClaimSummary` holds one claim's verdict at one profile and one :class:`Cell` per (network, protocol):
the rule's outcome, a one-line headline and the :class:`Number` s it rests on, each with its interval. The
scorecard draws one row per claim and one column per network and protocol (:meth:`ClaimSummary.scorecard_cells`);
the across-machines page reads the numbers. Summaries travel through the cache as plain dicts
(:meth:`ClaimSummary.to_dict`, :meth:`ClaimSummary.from_dict`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from twophase_lib.verdicts import Outcome, Relation, ScaleOutcome, Verdict

#: The scale ladder's outcome while none of its rungs has been measured (chapter 7 before its ladder ran).
NOT_RUN = "not run"

#: The primary protocol's name (the paper's constant lr 0.1, twins over a (t0, t1) band); other cells are extensions.
PRIMARY = "constant lr"


@dataclass
class Number:
    """A measured quantity with its interval (low = high = value when it has none; nan when undefined)."""

    quantity: str
    value: float
    low: float = math.nan
    high: float = math.nan

    def text(self, digits: int = 3) -> str:
        """'value [low, high]', or the value alone without an interval."""
        def f(x: float) -> str:
            if x == math.inf:
                return "> last t0"
            return f"{x:.{digits}g}" if math.isfinite(x) else "undefined"

        if math.isnan(self.low) and math.isnan(self.high):
            return f(self.value)
        return f"{f(self.value)} [{f(self.low)}, {f(self.high)}]"


#: The start of the quantity of a Number that is a deciding check's margin (positive when it passes) with its
#: interval, which the scorecard's figure draws against zero.
CHECK_PREFIX = "check: "


def check_numbers(verdict: Verdict, label: str = "") -> list[Number]:
    """The deciding checks of a verdict that carry a margin, as numbers (quantity ``check: <label><check>``)."""
    return [Number(f"{CHECK_PREFIX}{label}{c.name}", float(c.margin), *map(float, c.interval))
            for c in verdict.checks if c.deciding and c.applicable and c.margin is not None
            and c.interval is not None]


def decided_by(verdict: Verdict) -> str:
    """What decided a verdict, in words: its deciding checks that failed, were undecided or could not be tested
    ("every deciding check passing" when none)."""
    failed, undecided = verdict.failed(), verdict.undecided()
    untestable = [c.id for c in verdict.checks if c.deciding and not c.applicable]
    parts = [f"{', '.join(c.value for c in ids)} {word}"
             for ids, word in ((failed, "failing"), (undecided, "undecided"), (untestable, "not testable")) if ids]
    if untestable and not failed and not undecided:
        return f"every testable deciding check passing ({parts[0]})"
    return "; ".join(parts) if parts else "every deciding check passing"


def recorded(verdict: Verdict, label: str = "") -> list[dict]:
    """A verdict's measurements as a :class:`Cell` records them (``judgements``): its
    :class:`~twophase_lib.judgements.Judgement` with ``label`` (the prefix of its check numbers,
    :func:`check_numbers`); [] when the rule's caller recorded none."""
    return [] if verdict.judgement is None else [{"label": label, **verdict.judgement.to_dict()}]


@dataclass
class Cell:
    """One network under one protocol: the rule's outcome (or a descriptive finding), a headline, its numbers, and
    the measurements its outcome was judged from (``judgements``, :func:`recorded`; the outcome combines their
    verdicts), which :meth:`ClaimSummary.rejudged` judges again by the current rules."""

    network: str
    protocol: str
    outcome: str
    headline: str
    numbers: list[Number] = field(default_factory=list)
    judgements: list[dict] = field(default_factory=list)

    def rejudged(self) -> Cell:
        """This cell judged again from its recorded measurements by the current rules: the combined outcome, the
        deciding checks' numbers replaced, the headline extended where the outcome changed; itself when it
        recorded none."""
        from twophase_lib.judgements import judge
        from twophase_lib.verdicts import combine

        if not self.judgements:
            return self
        verdicts = [(j.get("label", ""), judge(j)) for j in self.judgements]
        outcome = str(combine([v.outcome for _, v in verdicts]))
        numbers = [n for n in self.numbers if not n.quantity.startswith(CHECK_PREFIX)]
        numbers += [n for label, v in verdicts for n in check_numbers(v, label)]
        headline = self.headline
        if outcome != self.outcome:
            why = "; ".join(f"{label}{decided_by(v)}" for label, v in verdicts)
            headline += f" — re-judged by the current rules: {outcome} (decided by {why})"
        return dataclasses.replace(self, outcome=outcome, numbers=numbers, headline=headline)

    def __post_init__(self):
        self.numbers = [n if isinstance(n, Number) else Number(**n) for n in self.numbers]


@dataclass
class ClaimSummary:
    """One claim's result at one profile: verdict (primary protocol; for an open question, its finding, e.g. a
    :class:`twophase_lib.verdicts.Relation`; for the scale ladder a :class:`twophase_lib.verdicts.ScaleOutcome`),
    cells, and details the scorecard lists.

    Raises:
        ValueError: a verdict that is neither an outcome nor a relation.
    """

    kind: str
    profile: str
    verdict: str
    cells: list[Cell]
    details: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.cells = [c if isinstance(c, Cell) else Cell(**c) for c in self.cells]
        if self.verdict not in {*map(str, Outcome), *map(str, Relation), *map(str, ScaleOutcome), NOT_RUN}:
            raise ValueError(f"unknown verdict {self.verdict!r}: an outcome of a claim's rule, a relation "
                             "(chapter 6's open question) or a scale outcome (chapter 7's ladder)")

    def to_dict(self) -> dict:
        """A JSON-able dict (what the cache stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ClaimSummary:
        """The summary a :meth:`to_dict` stored."""
        return cls(**data)

    def columns(self) -> list[tuple[str, str]]:
        """(network, protocol) of every cell, the primary protocol first."""
        keys = list(dict.fromkeys((c.network, c.protocol) for c in self.cells))
        return sorted(keys, key=lambda k: (k[1] != PRIMARY, keys.index(k)))

    def cell(self, network: str, protocol: str) -> Cell | None:
        """The cell of a network and protocol, if any."""
        return next((c for c in self.cells if c.network == network and c.protocol == protocol), None)

    def scorecard_cells(self, columns: list[tuple[str, str]]) -> list[str]:
        """One Markdown cell per column: '**outcome** headline', or '–' where this claim has no such cell."""
        out = []
        for net, proto in columns:
            c = self.cell(net, proto)
            out.append("–" if c is None else f"**{c.outcome}**<br>{c.headline}")
        return out

    def headline_numbers(self) -> list[tuple[str, str, float, float, float]]:
        """(setting, quantity, value, low, high) rows of every cell's numbers."""
        return [(f"{c.network}, {c.protocol}", n.quantity, n.value, n.low, n.high) for c in self.cells
                for n in c.numbers]

    def rejudged(self) -> ClaimSummary:
        """This summary judged again by the current rules from the measurements its cells recorded
        (:meth:`Cell.rejudged`), without recomputing anything: the claim's verdict combines the primary protocol's
        cells again where every one of them recorded its measurements (as chapters 1–3 combine them), and is kept
        otherwise. With unchanged rules it is the summary itself, bitwise."""
        from twophase_lib.verdicts import combine

        cells = [c.rejudged() for c in self.cells]
        primary = [c for c in cells if c.protocol == PRIMARY]
        verdict = self.verdict
        if primary and all(c.judgements for c in primary):
            verdict = str(combine([c.outcome for c in primary]))
        return dataclasses.replace(self, cells=cells, verdict=verdict)

    def setting_verdicts(self) -> dict[str, str]:
        """{setting: outcome} of the cells a rule judged (not the descriptive findings of an extension), with the
        claim's verdict under ``"chapter"``."""
        judged = {str(o) for o in Outcome}
        return {"chapter": self.verdict, **{f"{c.network}, {c.protocol}": c.outcome for c in self.cells
                                            if c.outcome in judged}}
