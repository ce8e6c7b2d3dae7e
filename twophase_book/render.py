"""How the book prints: tables (HTML in a notebook, aligned text elsewhere), notes, numbers."""

from __future__ import annotations

import html
import math

from twophase_lib.numerics import device_of, fingerprint


class Table:
    """A table that renders as HTML/Markdown in the book and as aligned text in a terminal or a test."""

    def __init__(self, header: list[str], rows: list[list], caption: str = ""):
        self.header, self.rows, self.caption = header, [[str(c) for c in r] for r in rows], caption

    def __str__(self) -> str:
        widths = [max(len(r[i]) for r in [self.header, *self.rows]) for i in range(len(self.header))]
        line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        text = [line(self.header), line(["-" * w for w in widths]), *map(line, self.rows)]
        return "\n".join(([self.caption, ""] if self.caption else []) + text)

    __repr__ = __str__

    def markdown(self) -> str:
        """The table in Markdown (pipes escaped)."""
        esc = lambda c: str(c).replace("|", "\\|").replace("\n", " ")  # noqa: E731
        lines = ["| " + " | ".join(map(esc, self.header)) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(map(esc, r)) + " |" for r in self.rows]
        return "\n".join(([f"*{self.caption}*", ""] if self.caption else []) + lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return (f'<div style="overflow-x:auto"><table class="table">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")


class Note:
    """Prose computed by the code: renders as Markdown in the book and as plain text elsewhere."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return self.text


def numerics_note(where=None) -> Note:
    """What computed a chapter's numbers: the numerics fingerprint (:mod:`twophase_lib.numerics`) of the device
    the designs ``where`` run on (any object holding a RunConfig; None: the CPU)."""
    fp = fingerprint(device_of(where))
    return Note(f"**Numerics.** Computed with {fp.describe()}. Every result this page shows is cached under "
                f"this fingerprint: nothing computed by other kernels (another CPU, another ATen capability, another "
                f"torch) enters it. Other machines round differently and the chaos amplifies it; the page "
                f"*Across machines* shows how far the headline numbers move.")


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, or 'undefined' for nan/inf."""
    return "undefined" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def fmt_range(inf: dict) -> str:
    """'estimate [low, high]' of an inflection and its seed range, saying how many seeds never halve."""
    text = f"{fmt(inf['estimate'])} [{fmt(inf['low'])}, {fmt(inf['high'])}]"
    if inf.get("undefined_seeds"):
        text += f" ({inf['undefined_seeds']} of {inf['seeds']} seeds never halve)"
    return text


