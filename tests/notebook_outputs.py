"""Comparing a re-executed chapter's outputs with its committed smoke baseline, on any machine.

On the machine (numerics fingerprint) that computed a baseline, a re-execution must print exactly what the
baseline holds: the library is bitwise deterministic there. On a machine with other kernels (another CPU,
another ``ATEN_CPU_CAPABILITY``) the chaos this book studies amplifies last-bit rounding differences into
different networks. At the smoke profile the change is as large as a change of seed (measured under
``ATEN_CPU_CAPABILITY=avx2`` against AVX-512: ResNet-20's disagreement at t0 = 0 went from 0.419 to 0.202, a
switch's share of the gap recovered from 0.28 to -3, and verdicts flipped), so no tolerance on trained numbers
holds everywhere. There a checked cell must still show what holds on any machine:

* the same outputs, of the same types;
* the same structure: each output's lines, reduced to their labels (the text before the first ":" or number,
  with verdict words and check marks masked and runs of spaces collapsed), give the same sequence once
  repeated labels are merged (the same tables with the same columns, the same sentences; a list may grow or
  shrink with the outcome, as the mismatches with the paper do);
* the same invariant lines, exactly up to their numbers: every line that reports a boolean (``True``/``False``,
  ``yes``/``NO``: exact ε = 0 controls, schedules sharing their checkpoints) or an ε = 0 control, check marks
  included;
* verdicts from the vocabulary (reproduced, partly, not reproduced, inconclusive) on the same lines;
* and in cells tagged ``exact-everywhere`` (designs, data, nothing trained) exactly the baseline's text.
"""

from __future__ import annotations

import re

#: Addresses, timings and dates (what nbval's sanitizers masked before), masked on both sides first.
SANITIZE = ((re.compile(r"0x[0-9a-fA-F]+"), "0xADDRESS"),
            (re.compile(r"\d+(\.\d+)?\s*(s|ms|sec|seconds)\b"), "TIME"),
            (re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?"), "DATETIME"))

VERDICT = re.compile(r"\b(?:NOT REPRODUCED|not reproduced|Not reproduced|REPRODUCED|reproduced|Reproduced|"
                     r"PARTLY|partly|Partly|INCONCLUSIVE|inconclusive|Inconclusive)\b")
# ✓ passed, ✗ failed, and as marks only (whitespace on both sides): – not applicable (a curve with no dynamic
# range), ? undecided (a margin inside its bootstrap interval)
CHECK = re.compile(r"[✓✗]|(?<!\S)[–?](?=\s)")
# a number: optional sign, digits with thousands commas or decimals, an exponent; not part of a word (resnet20)
NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])|"
                    r"(?<![\w.])[-+−]?\.\d+(?![\w])|\bnan\b|\binf\b")
SPACES = re.compile(r"[ \t]+")
RULE = re.compile(r"-{2,}")
INVARIANT = re.compile(r"control exact|\b(?:True|False|yes|NO)\b")
LABEL_END = re.compile(r":|<NUMBER>|<VERDICT>")
TOKEN = re.compile(f"(?P<verdict>{VERDICT.pattern})|(?P<check>{CHECK.pattern})|(?P<number>{NUMBER.pattern})")


def sanitize(text: str) -> str:
    """The text with addresses, timings and dates masked."""
    for pattern, replacement in SANITIZE:
        text = pattern.sub(replacement, text)
    return text


def split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(skeleton, tokens): the text with each number, verdict word and check mark replaced by a placeholder, and
    the (kind, text) of what was replaced, in order."""
    tokens: list[tuple[str, str]] = []

    def mask(m: re.Match) -> str:
        kind = m.lastgroup
        tokens.append((kind, m.group(0)))
        return {"verdict": "<VERDICT>", "check": "<CHECK>", "number": "<NUMBER>"}[kind]

    return TOKEN.sub(mask, text), tokens


def _label(skeleton_line: str) -> str:
    """A line's label: its skeleton up to the first ":", number or verdict word, spaces and table rules collapsed."""
    m = LABEL_END.search(skeleton_line)
    label = RULE.sub(
        "--", skeleton_line[: m.start()] if m else skeleton_line
    )  # a table's rule is as wide as its column
    return SPACES.sub(" ", label).strip()


def _merged(labels: list[str]) -> list[str]:
    return [x for i, x in enumerate(labels) if i == 0 or x != labels[i - 1]]


def _invariants(text: str) -> list[str]:
    """The invariant lines of a text, numbers and verdict words masked, check marks kept, spaces collapsed."""
    out = []
    for line in text.splitlines():
        if INVARIANT.search(line):
            marks = {"✓": "CHECK-YES", "✗": "CHECK-NO", "–": "CHECK-NA", "?": "CHECK-UNDECIDED"}
            skeleton, _ = split(CHECK.sub(lambda m: marks[m.group(0)], line))
            out.append(SPACES.sub(" ", skeleton).strip())
    return out


def compare_text(expected: str, actual: str, exact: bool) -> str | None:
    """Why ``actual`` does not stand for ``expected``, or None: exactly equal (after sanitizing) when ``exact``,
    else the same structure, invariant lines and verdict-bearing lines (see the module's docstring)."""
    expected, actual = sanitize(expected), sanitize(actual)
    if exact:
        if expected == actual:
            return None
        return _first_difference(expected.splitlines(), actual.splitlines(), "text")
    skel_e, skel_a = split(expected)[0].splitlines(), split(actual)[0].splitlines()
    labels_e, labels_a = _merged([_label(x) for x in skel_e]), _merged([_label(x) for x in skel_a])
    if labels_e != labels_a:
        return _first_difference(labels_e, labels_a, "structure (line labels)")
    inv_e, inv_a = _invariants(expected), _invariants(actual)
    if inv_e != inv_a:
        return _first_difference(inv_e, inv_a, "invariant lines (booleans, ε = 0 controls)")
    verdicts_e = sorted({_label(x) for x in skel_e if "<VERDICT>" in x})
    verdicts_a = sorted({_label(x) for x in skel_a if "<VERDICT>" in x})
    if verdicts_e != verdicts_a:
        return f"lines with a verdict: {verdicts_a} where the baseline has {verdicts_e}"
    return None


def _first_difference(e: list[str], a: list[str], what: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(e, a)) if x != y), min(len(e), len(a)))
    ex = e[n] if n < len(e) else "(nothing)"
    ac = a[n] if n < len(a) else "(nothing)"
    return f"{what} differs at line {n + 1}: baseline {ex[:160]!r}, now {ac[:160]!r}"


def output_texts(outputs: list) -> list[tuple[str, str]]:
    """(output type, text) of a cell's outputs: stdout text, or an execute_result's / display_data's text/plain;
    stderr and images are left out (nbval ignores them too; the figures' numbers are printed in checked cells)."""
    out = []
    for o in outputs:
        kind = o.get("output_type")
        if kind == "stream" and o.get("name") == "stderr":
            continue  # warnings depend on the environment; a failing cell gives an error output instead
        if kind == "stream":
            text = o.get("text", "")
            text = "".join(text) if isinstance(text, list) else text
            if out and out[-1][0] == f"stream:{o.get('name')}":  # the kernel may split one print into chunks
                out[-1] = (out[-1][0], out[-1][1] + text)
            else:
                out.append((f"stream:{o.get('name')}", text))
        elif kind in ("execute_result", "display_data"):
            text = o.get("data", {}).get("text/plain", "")
            out.append((kind, "".join(text) if isinstance(text, list) else text))
        elif kind == "error":
            out.append(("error", f"{o.get('ename')}: {o.get('evalue')}"))
    return out


def compare_cell(expected: list, actual: list, exact: bool) -> str | None:
    """Why a cell's ``actual`` outputs do not stand for the baseline's ``expected`` ones, or None."""
    e, a = output_texts(expected), output_texts(actual)
    if [k for k, _ in e] != [k for k, _ in a]:
        return f"outputs {[k for k, _ in a]} where the baseline has {[k for k, _ in e]}"
    for i, ((kind, x), (_, y)) in enumerate(zip(e, a)):
        problem = compare_text(x, y, exact)
        if problem:
            return f"output {i + 1} ({kind}): {problem}"
    return None
