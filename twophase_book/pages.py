"""The book's generated pages: chapter summaries stored and read, the scorecard, the re-run page, and the
across-machines page with its figure.

Chapter summaries are cached under the designs they ran (each claim's ``designs`` in :mod:`twophase_book.claims`),
so a changed design never feeds stale results to another chapter or to the scorecard. Every number on these pages
comes from a summary a chapter computed.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.cache import Cache

from .claims import CLAIMS, claim
from .profiles import (
    ARCHS,
    display_name,
    protocol_designs,
)
from .render import fmt
from .scale import PAPER_NETWORK, SCALE_COLUMN, paper_protocol
from .summary import CHECK_PREFIX, PRIMARY, ClaimSummary

# ------------------------------------------------------------------------------------------------- at a glance

#: One mark per outcome, so the grid reads in colour and in words (an open question's finding gets the last).
BADGES = {"reproduced": "🟢", "partly": "🟡", "not reproduced": "🔴", "inconclusive": "⚪", "inapplicable": "⚫",
          "consistent with the paper at its scale": "🟢", "fails at the paper's scale": "🔴", "cannot tell": "⚪",
          "not run": "⬜"}
#: The claims the grid has a row for, with the label chapter 4's cells carry for the same claim on its tasks.
GLANCE_CLAIMS = (("chaos", "chaos effect"), ("cone", "cone effect"), ("switch", "value of the cone phase"))


def badge(outcome: str) -> str:
    """An outcome as a coloured mark and its word."""
    return f"{BADGES.get(outcome, '🔵')} {outcome}"


def glance_grid(found: dict, profile: str) -> list[str]:
    """The scorecard's grid at one profile: one row per claim of chapters 1–3, one column per network (chapters
    1–3), per paper's own network the ladder judged by chapters 1–3's rules (chapter 7's ResNet-20 ×1 at batch 128,
    once measured), per task (chapter 4, the same claims on other architectures), a badge per cell, and the scale
    ladder's column (chapter 7: whether the claim's trend over width reaches the paper at its scale) where it ran;
    then chapter 6's finding. ``found``: {(kind, profile): ClaimSummary or None}."""
    get = lambda kind: found.get((kind, profile))  # noqa: E731
    beyond = get("beyond")
    ladder = get("scale")
    nets = list(dict.fromkeys(c.network for k, _ in GLANCE_CLAIMS if get(k) for c in get(k).cells
                              if c.protocol == PRIMARY))
    tasks = list(dict.fromkeys(c.network for c in beyond.cells)) if beyond else []
    if not nets and not tasks:
        return []
    scale_head = [f"[scale](chapters/{claim('scale').chapter}.ipynb) (ch. 7)"] if ladder else []
    paper = list(dict.fromkeys(c.network for c in ladder.cells if c.protocol.startswith(PAPER_NETWORK))) \
        if ladder else []  # the paper's own networks the ladder judged by chapters 1–3's rules
    paper_head = [f"[{n}](chapters/{claim('scale').chapter}.ipynb) (ch. 7, the paper's network)" for n in paper]
    lines = ["| claim | verdict (ch. 1–3) | " + " | ".join(nets + paper_head + [f"{t} (ch. 4)" for t in tasks]
                                                         + scale_head) + " |",
             "|---|---|" + "---|" * (len(nets) + len(paper_head) + len(tasks) + len(scale_head))]
    for kind, label in GLANCE_CLAIMS:
        s = get(kind)
        title = claim(kind).title
        cells = []
        for n in nets:
            c = s.cell(n, PRIMARY) if s else None
            cells.append("–" if c is None else badge(c.outcome))
        for n in paper:
            c = ladder.cell(n, paper_protocol(kind))
            cells.append("–" if c is None else badge(c.outcome))
        for t in tasks:
            c = beyond.cell(t, label)
            cells.append("–" if c is None else badge(c.outcome))
        if ladder:
            c = ladder.cell(kind, SCALE_COLUMN)
            cells.append("–" if c is None else badge(c.outcome))
        verdict = badge(s.verdict) if s else "not run"
        lines.append(f"| [{title}](chapters/{claim(kind).chapter}.ipynb) | {verdict} | " + " | ".join(cells) + " |")
    t = get("transition")
    if t is not None:
        lines += ["", f"[{claim('transition').title}](chapters/{claim('transition').chapter}.ipynb): "
                      f"{badge(t.verdict)}" + (f"; [{claim('beyond').title}](chapters/{claim('beyond').chapter}"
                                               f".ipynb): {badge(beyond.verdict)} over its tasks" if beyond else "")]
    return lines


def check_margins(summaries: Sequence[ClaimSummary]) -> list[tuple[str, str, float, float, float]]:
    """Every deciding check's margin with its interval in the summaries' cells (numbers named
    :data:`~twophase_book.summary.CHECK_PREFIX`): (claim title, "network: check", margin, low, high)."""
    out = []
    for s in summaries:
        title = claim(s.kind).title
        for c in s.cells:
            if c.protocol != PRIMARY and s.kind != "beyond":  # controls and extensions decide no claim
                continue
            where = c.network if c.protocol == PRIMARY else f"{c.network} ({c.protocol})"
            out += [(title, f"{where}: {n.quantity[len(CHECK_PREFIX):]}", n.value, n.low, n.high)
                    for n in c.numbers if n.quantity.startswith(CHECK_PREFIX)]
    return out


def margins_figure(rows: Sequence[tuple[str, str, float, float, float]]) -> plt.Figure:
    """Every deciding check's margin with its 90% interval against zero (positive: the check passes), one row per
    check, grouped by claim. Margins come in each check's own units, so each row is scaled by the largest absolute
    value among its margin and interval ends: what the figure shows is which side of zero each interval lies on.

    Args:
        rows: (claim, label, margin, low, high), as :func:`check_margins` returns them.
    """
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(8.5, 0.22 * len(rows) + 1.2))
    for i, (title, label, m, lo, hi) in enumerate(rows):
        y = len(rows) - 1 - i
        scale = max(abs(v) for v in (m, lo, hi) if math.isfinite(v)) if any(
            math.isfinite(v) for v in (m, lo, hi)) else 1.0
        scale = scale or 1.0
        decided = math.isfinite(lo) and math.isfinite(hi) and (lo > 0 or hi < 0)
        colour = "C2" if decided and m > 0 else "C3" if decided else "0.5"
        if math.isfinite(lo) and math.isfinite(hi):
            ax.plot([lo / scale, hi / scale], [y, y], color=colour, linewidth=2)
        ax.plot([m / scale], [y], "o", color=colour, markersize=4)
    ax.axvline(0, color="k", linewidth=1)
    ax.set_yticks(range(len(rows)), [f"{t.split('. ', 1)[0]}. {label}" for t, label, *_ in rows][::-1],
                  fontsize=6)
    ax.set_xlim(-1.1, 1.1)
    ax.set_xlabel("margin ÷ its row's largest |value|: right of 0 passes\n"
                  "green / red: the 90% interval excludes 0; grey: undecided", fontsize=7)
    ax.set_title("Every deciding check, its margin and 90% interval", fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------- chapter 4


# ----------------------------------------------------------------------------------------------- pages


def save_claim_summary(cache: Cache, summary: ClaimSummary, designs: dict) -> None:
    """Store a typed summary (chapters 1-3 and 6) under the designs it ran (a re-run with other seeds,
    architectures, device or ε is stored under its own, so the scorecard, which reads the profile's designs,
    never shows it)."""
    cache.save(f"{summary.kind}-claim", tuple(designs.values()), summary.to_dict())


def load_claim_summary(cache: Cache, kind: str, profile: str) -> ClaimSummary | None:
    """A typed summary for the profile's current designs (the registry's ``designs``), or None (also when the
    claim's chapter does not run at the profile)."""
    c = claim(kind)
    if profile not in c.profiles:
        return None
    data = cache.load(f"{kind}-claim", tuple(c.designs(profile).values()))
    return None if data is None else ClaimSummary.from_dict(data)


def executed_summaries(chapters_dir) -> dict:
    """The typed summaries the executed chapters in ``chapters_dir`` (the book's: ``book/chapters``) carry in their
    metadata (``twophase.summary``, written by ``scripts/run_chapters.py`` when the chapter ran its profile's own
    designs), keyed by (claim kind, profile): what the book shows, readable on a fresh clone whose cache is empty.
    A chapter executed by another code version (``twophase.cache_version``, :data:`twophase_lib.config.CACHE_VERSION`;
    2 before chapters kept it) is left out: its numbers are not what this code computes."""
    import json
    from pathlib import Path

    from twophase_lib.config import CACHE_VERSION

    out = {}
    for c in CLAIMS:
        path = Path(chapters_dir) / f"{c.chapter}.ipynb"
        if not path.exists():
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("twophase", {})
        if meta.get("summary") and meta.get("cache_version", 2) == CACHE_VERSION:
            out[(c.kind, meta["profile"])] = ClaimSummary.from_dict(meta["summary"])
    return out


def book_summaries(cache: Cache, profiles: tuple[str, ...], chapters_dir=None) -> dict:
    """Every claim's typed summary at each profile, keyed by (claim kind, profile), None where there is none: the
    executed chapter's (:func:`executed_summaries`, what the book shows) where ``chapters_dir`` holds one for that
    profile, else the cache's (:func:`load_claim_summary`)."""
    executed = executed_summaries(chapters_dir) if chapters_dir is not None else {}
    return {(c.kind, p): executed.get((c.kind, p)) or load_claim_summary(cache, c.kind, p)
            for c in CLAIMS for p in profiles}


def lacking_summaries(summaries: dict, profile: str = "cpu") -> list[str]:
    """The chapters (notebook stems) of the claims that run at ``profile`` and have no summary in ``summaries``
    (:func:`book_summaries`): the scorecard is regenerated only when there are none, never half-filled."""
    return [c.chapter for c in CLAIMS if profile in c.profiles and summaries.get((c.kind, profile)) is None]


def _glance_cell(c) -> str:
    return "–" if c is None else f"**{c.outcome}**<br>{c.headline}"


def _design_text(d: dict) -> str:
    """A stored design (a ProtocolDesign as the cache keeps it, its chapters' designs nested) in a phrase: window,
    grids, seeds."""
    chaos, cone, switch = d["chaos"], d["cone"], d["switch"]
    return (f"{d['arch']}: window {d['run']['optim']['steps']} iterations, "
            f"t0 ∈ {{{', '.join(map(str, chaos['t0s']))}}}, Δ ∈ {{{', '.join(map(str, chaos['deltas']))}}}, "
            f"{len(chaos['seeds'])} seeds, {len(chaos['reference_seeds'])} reference pairs; "
            f"lag curves Δ ∈ {{{', '.join(map(str, cone['lags']))}}}; switches to T = {switch['T']}")


def frozen_markdown(data: dict) -> list[str]:
    """The scorecard's section on a design run once outside the book's budget (``book/longer_window.json``, written
    by ``scripts/freeze_summaries.py``): its designs, where it came from, and the same at-a-glance grid."""
    claims = {kind: ClaimSummary.from_dict(v["summary"]) for kind, v in data["claims"].items()}
    networks = list(dict.fromkeys(c.network for s in claims.values() for c in s.cells if c.protocol == PRIMARY))
    first = next(iter(data["claims"].values()))
    designs = "; ".join(_design_text(d) for d in first["designs"])
    lines = ["", f"## A longer design, run once ({data['label']})", "",
             f"The `{data['profile']}` rows above are the design the book's time budget buys. This one ran once, cold, "
             f"outside that budget ({data['source']}; numerics {first['numerics']}), judged by the rules of its time "
             f"(before issue 32: e.g. the cone's *narrow* read against unrelated networks, percentile intervals), so "
             f"its verdicts do not compare with the rows above; its summaries are kept, not "
             f"recomputed, in `book/longer_window.json` (`scripts/freeze_summaries.py`). Designs: {designs}.", "",
             "| claim | verdict | " + " | ".join(f"{n} (constant lr)" for n in networks)
             + " | extensions and controls |", "|---|---|" + "---|" * len(networks) + "---|"]
    for c in CLAIMS:
        kind, title = c.kind, c.title
        s = claims.get(kind)
        if s is None:
            continue
        extra = "<br>".join(f"{c.network}, {c.protocol}: **{c.outcome}** — {c.headline}" for c in s.cells
                            if c.protocol != PRIMARY) or "–"
        cells = [_glance_cell(s.cell(n, PRIMARY)) for n in networks]
        lines.append(f"| {title} | **{s.verdict}** | " + " | ".join(cells) + f" | {extra} |")
    return lines


def scorecard_markdown(
    cache: Cache, profiles: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper"), across: dict | None = None,
    frozen: dict | None = None, figure: str | None = None, summaries: dict | None = None,
) -> str:
    """The scorecard page: at a glance, one row per claim and profile run and one column per network on the paper's
    protocol (each outcome with its headline numbers and intervals), the extensions and controls beside them; the
    open question (chapter 4) under it; each claim's checks as details.

    ``across`` (``book/across_machines.json``): where the same rule gives different verdicts under different
    numerics fingerprints for that profile, the claim's verdict is "inconclusive" (:func:`across_flips`).
    ``frozen`` (``book/longer_window.json``): a longer design run once, shown under the grid (:func:`frozen_markdown`).
    ``figure``: the path (relative to the page) of :func:`margins_figure`'s image, shown beside the grid.
    ``summaries``: the summaries to show, keyed by (claim kind, profile) (:func:`book_summaries`); None reads them
    from ``cache``.
    """
    flipped = {}
    if across and across.get("runs") and current_protocol(across):  # an older protocol's verdicts do not apply
        flipped = {(kind, across["profile"]) for kind in across_flips(across["runs"])}
    found = summaries if summaries is not None else book_summaries(cache, profiles)
    found = {(c.kind, p): found.get((c.kind, p)) for c in CLAIMS for p in profiles}
    typed = [s for s in found.values() if s is not None]
    networks = list(dict.fromkeys(c.network for s in typed for c in s.cells if c.protocol == PRIMARY)) or \
        [display_name(a) for a in ARCHS]
    lines = [
        "# Scorecard",
        "",
        "Generated by `scripts/make_scorecard.py` from the chapters' summaries (those the executed chapters "
        "carry, else the cache's) "
        "(`twophase_book.pages.scorecard_markdown`); nothing on this page is typed by hand. Chapters 1-3 judge the "
        "paper on its own protocol: a constant lr of 0.1 (every figure of the paper lies inside its first lr stage), "
        "twins compared on fixed windows after their split, the eNTK's lag curves, switch times inside the window. "
        "The rules are in `twophase_lib.verdicts` and stated in each chapter; each is tested to say *reproduced* on "
        "the paper's own figure values and *not reproduced* on null models. Means and check margins carry 90% t "
        "intervals over seeds (symmetric; coverage measured in the test suite; a rank correlation's clipped to "
        "the values it can take; none with fewer than two seeds); inflections and block boundaries carry "
        "intervals at the grid's resolution (\"> last t0\": beyond the grid), chapter 6's shift ratios the join "
        "of two such intervals (coverage measured too). A check marked – could not be tested and does not count "
        "for or against. A claim is "
        "*inconclusive* when a check whose interval contains 0 could change its outcome, "
        "or when the rule gives different verdicts on machines with other kernels (once "
        "[Across machines](across_machines.md) holds runs of this protocol and of this code). A claim is "
        "*reproduced* only when it holds for both networks, *not reproduced* when it fails for both, *partly* "
        "otherwise. Extensions and controls (the step schedule, "
        "a lower lr) have their own outcomes and stay out of the verdict. The `smoke` profile only checks that the "
        "code runs; its verdicts mean nothing.",
        "",
        "## At a glance",
        "",
    ]
    for p in profiles:
        grid = glance_grid(found, p)
        if grid:
            lines += [f"`{p}` profile:", "", *grid, ""]
    if figure:
        lines += [f"![Every deciding check's margin with its 90% interval against zero]({figure})", "",
                  "Each row is one deciding check of one network's verdict: its margin (positive: the check passes) "
                  "with its 90% interval, scaled to the row. A grey row is undecided: its interval contains 0.", ""]
    lines += [
        "## The numbers, per claim",
        "",
        "| claim | profile | verdict | " + " | ".join(f"{n} (constant lr)" for n in networks)
        + " | extensions, controls and other tasks |",
        "|---|---|---|" + "---|" * len(networks) + "---|",
    ]
    details = []
    for c in CLAIMS:
        kind, title, paper = c.kind, c.title, c.statement
        link = f"[{title}](chapters/{c.chapter}.ipynb)"
        rows = [(p, found[(kind, p)]) for p in profiles if found[(kind, p)] is not None]
        if not rows:
            lines.append(f"| {link} | – | not run yet |" + " |" * len(networks) + " |")
        for i, (p, s) in enumerate(rows):
            verdict = f"**{s.verdict}**"
            if (kind, p) in flipped:
                verdict = f"**inconclusive** (this machine: {s.verdict}; differs across machines)"
            extra = "<br>".join(f"{c.network}, {c.protocol}: **{c.outcome}** — {c.headline}" for c in s.cells
                                if c.protocol != PRIMARY) or "–"
            cells = [_glance_cell(s.cell(n, PRIMARY)) for n in networks]
            lines.append(f"| {link if i == 0 else ''} | `{p}` | {verdict} | " + " | ".join(cells) + f" | {extra} |")
            details.append((title, p, paper, s.details))
    if frozen:
        lines += frozen_markdown(frozen)
    lines += ["", "## The claims and each check", ""]
    for c in CLAIMS:
        lines += [f"**{c.title}.** {c.statement}", ""]
        for t, p, _, items in details:
            if t == c.title:
                lines += [f"* `{p}`: " + "<br>".join(items)]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


PROFILE_TEXT = {
    "smoke": "tiny networks, a few dozen iterations: checks that the code runs (CI executes every chapter at it); "
    "its numbers mean nothing",
    "cpu": "{resnet20} ResNet-20 and {vgg16} VGG-16 on the embedded real CIFAR-10 subset (5,170 train / 1,017 "
    "test images), a {window:,}-iteration constant-lr window at batch {batch} (the step schedule's {steps:,} "
    "iterations, lr ÷10 at {drops}, as the extensions), {seeds} seeds: the results this book shows",
    "gpu": "full-width networks on the embedded subset, a {window:,}-iteration constant-lr window at batch {batch} "
    "(the step schedule's {steps:,} iterations, lr ÷10 at {drops}, as the extensions), {seeds} seeds, on one GPU, "
    "where training replays CUDA graphs (bitwise the eager result). Costs measured on an H200 are in the "
    "repository's `bench/results/README.md`; the whole book has not been run end to end at this profile yet. "
    "Chapter 4's small networks run on the CPU cores at this profile (its `cpu` design)",
    "paper": "full-width networks, full CIFAR-10, the paper's 160-epoch recipe (62,400 iterations): needs GPUs",
}


def _width_name(width: float) -> str:
    names = {1.0: "full-width", 0.5: "half-width", 0.25: "quarter-width", 0.125: "eighth-width"}
    return names.get(width, f"{width:g}-width")


def profile_text(profile: str) -> str:
    """One sentence on what a profile runs (the cpu and gpu ones read off their designs)."""
    if profile not in ("cpu", "gpu"):
        return PROFILE_TEXT[profile]
    d = protocol_designs(profile)
    o = d["resnet20"].extension.run.optim
    return PROFILE_TEXT[profile].format(
        **{a: _width_name(d[a].run.model.width) for a in ARCHS},
        window=d["resnet20"].window,
        steps=o.steps,
        batch=o.batch_size,
        seeds=len(d["resnet20"].chaos.seeds),
        drops=" and ".join(f"{m:,}" for m in o.milestones),
    )


def rerun_markdown(run_times: dict) -> str:
    """The 're-run it yourself' page: profiles, measured cost of each chapter, commands, where results are cached."""
    chapters = sorted(run_times)
    rows = ["| chapter | " + " | ".join(f"`{p}`" for p in PROFILE_TEXT) + " |", "|---|" + "---|" * len(PROFILE_TEXT)]
    for ch in chapters:
        cells = []
        for p in PROFILE_TEXT:
            r = run_times[ch].get(p)
            when = f", {r['date']}" if r and r.get("date") else ""
            cells.append(f"{r['seconds'] / 60:.1f} min ({r['machine']}{when})" if r else "not measured yet")
        rows.append(f"| {ch} | " + " | ".join(cells) + " |")
    profiles = "\n".join(f"- **`{p}`**: {profile_text(p)}." for p in PROFILE_TEXT)
    return f"""# Re-run it yourself

Every chapter is a percent-format script in `notebooks/`; its first code cell names its parameters:
`profile`, `workers` (the number of worker processes), `archs` (chapter 4: `tasks`), `seeds`, `device`,
`cache_dir` and, in chapter 1, `epsilon`. The chapter validates them; a run with other values stores its
verdicts under its own design and leaves this book's scorecard alone.

{profiles}

## Cost

Wall time of the last recorded cold run of each chapter (its training runs, branches and kernels
computed from scratch; with a warm cache a chapter re-renders in seconds), written by
`scripts/run_chapters.py` to `book/run_times.json`:

{chr(10).join(rows)}

The chapters share their training runs through the cache: chapters 2 and 3 read chapter 1's
parent runs, so run them after chapter 1 (as `make book` does) or they train those runs themselves.

## Commands

```bash
make book                                                     # every chapter at cpu, then the HTML book
make chapter NB=notebooks/01_chaos_effect.py PROFILE=smoke    # one chapter at one profile
make chapter NB=notebooks/02_cone_effect.py PROFILE=paper     # the paper's scale (GPUs, full CIFAR-10)
```

## Where results live

Every trained checkpoint, branch, kernel and summary is stored under a hash of the configuration
that determines it (`twophase_lib.store`, `twophase_lib.cache`), in `$TWOPHASE_CACHE` (the Makefile
sets `.cache/twophase/` in the repository). Files are written atomically and carry a checksum: an
interrupted sweep resumes where it stopped, and a damaged file is recomputed, never loaded. Work
runs in `$TWOPHASE_WORKERS` one-thread worker processes (default: one per core).

The full CIFAR-10 for the `paper` profile is downloaded by torchvision into `$TWOPHASE_DATA`
(default `~/.cache/twophase/data`); without internet access, place `cifar-10-batches-py` there.
"""


# ----------------------------------------------------------------------------------------------- across machines


def headline_numbers(kind: str, summary: dict) -> list[tuple[str, str, float, float, float]]:
    """The numbers a chapter's verdict rests on, with their seed ranges: (setting, quantity, seed mean, seed min,
    seed max) rows read from a chapter summary (``kind``: chaos, cone or switch; nan where no range is stored).

    Chaos: disagreement at t0 = 0, at the late t0 and at the last t0, and the inflection, per architecture and
    schedule. Cone: S(τ, first drop) per τ. Switch: test accuracy per switch time and of standard training.
    """
    if "cells" in summary:  # a typed summary (chapters 1-3 on the paper's protocol)
        return ClaimSummary.from_dict(summary).rejudged().headline_numbers()
    rows: list[tuple[str, str, float, float, float]] = []
    nan = math.nan
    if kind == "chaos":
        for key, v in summary["sweeps"].items():
            setting = key.replace("/", ", ")
            rng = v.get("disagreement_range") or [[nan, nan]] * len(v["t0s"])
            for t0 in dict.fromkeys([v["t0s"][0], v.get("late_t0", v["t0s"][-1]), v["t0s"][-1]]):
                i = v["t0s"].index(t0)
                rows.append((setting, f"disagreement, t0 = {t0}", v["disagreement_mean"][i], *rng[i]))
            inf = v["inflection"]
            rows.append((setting, "inflection (iterations)", inf["estimate"], inf["low"], inf["high"]))
    elif kind == "cone":
        for arch, v in summary["archs"].items():
            for tau, (mean, lo, hi) in sorted(v.get("s_first_drop", {}).items(), key=lambda kv: int(kv[0])):
                rows.append((arch, f"S(τ = {tau}, first drop)", mean, lo, hi))
    elif kind == "switch":
        for arch, v in summary["archs"].items():
            rng = v.get("accuracy_range") or [[nan, nan]] * len(v["switches"])
            for j, t in enumerate(v["switches"]):
                label = "standard training" if j == len(v["switches"]) - 1 else f"switch at t = {t}"
                rows.append((arch, f"test accuracy, {label}", v["accuracy_mean"][j], *rng[j]))
    else:
        raise ValueError(f"no headline numbers for {kind!r}; known: chaos, cone, switch")
    return [(s, q, float(m), float(lo), float(hi)) for s, q, m, lo, hi in rows]


def setting_verdicts(kind: str, summary: dict) -> dict[str, str]:
    """{setting: outcome} of a chapter summary, with the chapter's own verdict under ``"chapter"``."""
    if "cells" in summary:
        return ClaimSummary.from_dict(summary).rejudged().setting_verdicts()
    per = summary["sweeps"] if kind == "chaos" else summary["archs"]
    return {"chapter": summary["verdict"], **{k.replace("/", ", "): v["verdict"] for k, v in per.items()}}


#: The claims the across-machines page follows (the registry's ``across_machines``), with their titles.
ACROSS_KINDS = tuple((c.kind, c.title) for c in CLAIMS if c.across_machines)


def rejudged_note(runs: list[dict]) -> str:
    """Which runs' verdicts the current rules judged again from their recorded measurements
    (``ClaimSummary.rejudged``), and which are shown as they were recorded (runs older than the record)."""
    kept = [r["fingerprint"]["id"] for r in runs
            if any(c.get("judgements") for s in r["summaries"].values() if s and "cells" in s for c in s["cells"])]
    if not runs:
        return ""
    if len(kept) == len(runs):
        return ("Every run recorded the measurements its verdicts were judged from, so the verdicts below are "
                "the current rules' on those measurements: a change of rule re-judges them without recomputing.")
    old = [r["fingerprint"]["id"] for r in runs if r["fingerprint"]["id"] not in kept]
    return (("Runs " + ", ".join(f"`{i}`" for i in kept) + " recorded their measurements and are re-judged by "
             "the current rules; " if kept else "") + ", ".join(f"`{i}`" for i in old)
            + " recorded verdicts only, shown as they were judged then.")


def across_verdicts(runs: list[dict]) -> dict[str, dict[str, str]]:
    """{kind: {setting: verdict across the runs' fingerprints}} (:func:`twophase_lib.verdicts.across_machines`):
    the common verdict, or "inconclusive" where fingerprints disagree. Settings missing from a run are skipped."""
    from twophase_lib.verdicts import across_machines

    out: dict[str, dict[str, str]] = {}
    for kind, _ in ACROSS_KINDS:
        per_fp = {
            r["fingerprint"]["id"]: setting_verdicts(kind, r["summaries"][kind])
            for r in runs
            if r["summaries"].get(kind)
        }
        settings = list(dict.fromkeys(s for v in per_fp.values() for s in v))
        out[kind] = {s: across_machines({fp: v[s] for fp, v in per_fp.items() if s in v}) for s in settings}
    return out


def across_flips(runs: list[dict]) -> set[str]:
    """The claim kinds whose chapter verdict differs between the runs' fingerprints (a chapter inconclusive on every
    fingerprint agrees with itself: it is not a flip)."""
    flips = set()
    for kind, _ in ACROSS_KINDS:
        verdicts = {setting_verdicts(kind, r["summaries"][kind]).get("chapter") for r in runs
                    if r["summaries"].get(kind)}
        if len(verdicts - {None}) > 1:
            flips.add(kind)
    return flips


def across_rows(runs: list[dict]) -> dict[str, list[tuple[str, str, dict[str, tuple[float, float, float]]]]]:
    """{claim title: [(setting, quantity, {fingerprint id: (seed mean, min, max)})]} of the runs' headline numbers
    (:func:`headline_numbers`), in the order the first run lists them."""
    out = {}
    for kind, title in ACROSS_KINDS:
        table: dict[tuple[str, str], dict[str, tuple]] = {}
        for r in runs:
            if r["summaries"].get(kind):
                for s, q, m, lo, hi in headline_numbers(kind, r["summaries"][kind]):
                    table.setdefault((s, q), {})[r["fingerprint"]["id"]] = (m, lo, hi)
        out[title] = [(s, q, vals) for (s, q), vals in table.items()]
    return out


def current_protocol(data: dict) -> bool:
    """Whether an across-machines record holds summaries of chapters 1-3 on the paper's protocol (typed summaries),
    rather than of the earlier fixed-t1 design, computed by this code's version
    (:data:`twophase_lib.config.CACHE_VERSION`; runs recorded before runs kept it are of version 2)."""
    from twophase_lib.config import CACHE_VERSION

    runs = data.get("runs", [])
    return (bool(runs) and all("cells" in s for r in runs for s in r["summaries"].values() if s)
            and all(r.get("cache_version", 2) == CACHE_VERSION for r in runs))


def _older_code(data: dict) -> bool:
    from twophase_lib.config import CACHE_VERSION

    return any(r.get("cache_version", 2) != CACHE_VERSION for r in data.get("runs", []))


def across_machines_markdown(data: dict, book_id: str | None = None, figure: str | None = None) -> str:
    """The page "Across machines": the headline numbers of chapters 1–3 computed under several numerics
    fingerprints (``book/across_machines.json``, written by ``scripts/across_machines.py``), their spread across
    fingerprints beside the seed spread, and each verdict across fingerprints (inconclusive where it flips)."""
    runs = data.get("runs", [])
    lines = [
        "# Across machines",
        "",
        "Generated by `scripts/make_scorecard.py` from `book/across_machines.json`, which "
        "`scripts/across_machines.py` writes by running chapters 1–3 under several *numerics fingerprints* "
        "(`twophase_lib.numerics`: the CPU's instruction sets and ATen dispatch level, the torch, oneDNN and "
        "MKL versions). On one machine every number of this book is bitwise reproducible. Another machine "
        "takes other kernels, which round the last bit differently, and the chaos this book studies "
        "amplifies that into different networks — so the numbers move. Lowering ATen's dispatch level "
        "(`ATEN_CPU_CAPABILITY=avx2` or `default`) on one machine gives such other kernels without another "
        "machine. Results of different fingerprints are never mixed: the cache keys every result by its "
        "fingerprint, and each column below is a complete run of its own.",
        "",
    ]
    if not runs:
        return "\n".join(lines + ["No run recorded yet: `python scripts/across_machines.py --profile cpu`.", ""])
    typed = all("cells" in s for r in runs for s in r["summaries"].values() if s)
    if typed and _older_code(data):
        from twophase_lib.config import CACHE_VERSION

        lines += ["**These runs were computed by older code** (cache version "
                  f"{', '.join(sorted({str(r.get('cache_version', 2)) for r in runs}))}, against {CACHE_VERSION} now). "
                  "Since version 3 ResNet-20's shortcuts take their stride by subsampling: oneDNN's strided 1×1 "
                  "kernel, which these runs used, writes past its workspace for few input channels "
                  "(uxlfoundation/oneDNN#6035; a crash, a hang or wrong gradients, by machine). Their numbers and "
                  "verdicts are shown as they were computed; the scorecard applies none of them until `make "
                  "across-machines` records the current code under each fingerprint (about an hour each on two "
                  "cores).", ""]
    elif not current_protocol(data):
        lines += ["**These runs predate the paper's protocol.** They were recorded when chapters 1–3 compared twins "
                  "once, at the end of a 400-iteration step schedule; the chapters now judge fixed windows at a "
                  "constant lr, and nothing below describes their numbers or verdicts. `make across-machines` "
                  "records the current chapters under each fingerprint (about an hour per fingerprint on two "
                  "cores); until then the scorecard applies none of this page's verdicts.", ""]
    elif len(runs) == 1:
        lines += ["**One fingerprint so far.** Only this run is recorded on the current protocol, so the column "
                  "*across machines* repeats it and no verdict below has been checked against other kernels yet: "
                  "`make across-machines CAPABILITIES=\"avx2 default\"` adds the others (about an hour each on two "
                  "cores).", ""]
    ids = [r["fingerprint"]["id"] for r in runs]
    lines += [
        f"Profile `{data.get('profile')}`. The book's chapters were computed with "
        f"`{book_id or 'an unrecorded fingerprint'}`" + ("" if book_id in ids else " (not among the runs below)") + ".",
        "",
        "| fingerprint | what | computed |",
        "|---|---|---|",
    ]
    from twophase_lib.numerics import Fingerprint

    for r in runs:
        fp = Fingerprint.from_dict(r["fingerprint"])
        lines.append(f"| `{fp.id}` | {fp.describe().rsplit(' (fingerprint', 1)[0]} | {r.get('date', '')} |")

    verdicts = across_verdicts(runs)
    lines += [
        "",
        "## Verdicts",
        "",
        "The same rules on each fingerprint's results. A verdict that differs between fingerprints is "
        "decided by rounding, not by the dynamics: it counts as **inconclusive** (the scorecard shows it "
        "so). " + rejudged_note(runs),
        "",
        "| claim | setting | " + " | ".join(f"`{i}`" for i in ids) + " | across machines |",
        "|---|---|" + "---|" * len(ids) + "---|",
    ]
    flips = total = 0
    for kind, title in ACROSS_KINDS:
        per = {
            r["fingerprint"]["id"]: setting_verdicts(kind, r["summaries"][kind])
            for r in runs
            if r["summaries"].get(kind)
        }
        for setting, across in verdicts[kind].items():
            total += 1
            flips += len({v[setting] for v in per.values() if setting in v}) > 1  # fingerprints disagree
            cells = " | ".join(per.get(i, {}).get(setting, "–") for i in ids)
            lines.append(f"| {title} | {setting} | {cells} | **{across}** |")

    order = []
    for r in runs:
        sweeps = (r["summaries"].get("chaos") or {}).get("sweeps", {})
        if "resnet20/step" in sweeps and "vgg16/step" in sweeps:
            a, b = sweeps["resnet20/step"]["inflection"]["estimate"], sweeps["vgg16/step"]["inflection"]["estimate"]
            if math.isfinite(a) and math.isfinite(b):
                order.append(
                    f"`{r['fingerprint']['id']}`: ResNet-20 {fmt(a)} against VGG-16 {fmt(b)} — "
                    + ("the paper's order" if a < b else "the reverse of the paper's")
                )
    if order:
        lines += [
            "",
            "Which network's transition comes first (step schedule; the paper: ResNet-20's): " + "; ".join(order) + ".",
        ]
    lines += ["", "## Headline numbers", ""]
    if figure:
        lines += [
            f"![Headline numbers under each fingerprint, with their seed ranges]({figure})",
            "",
            "Each number's seed mean (marker) and seed range (bar) under each fingerprint, side by side.",
            "",
        ]
    lines += [
        "Seed means; *across machines*: max − min of the seed means over the fingerprints; *seed range*: "
        "max − min over the seeds, largest among the fingerprints. A ratio near or above 1 means the machine "
        "moves a number as much as the choice of seed does.",
        "",
        "| claim | setting | quantity | "
        + " | ".join(f"`{i}`" for i in ids)
        + " | across machines | seed range | ratio |",
        "|---|---|---|" + "---|" * len(ids) + "---|---|---|",
    ]
    ratios = []
    for title, items in across_rows(runs).items():
        for s, q, vals in items:
            means = [v[0] for v in vals.values() if math.isfinite(v[0])]
            spread = max(means) - min(means) if len(means) > 1 else math.nan
            seed = max((v[2] - v[1] for v in vals.values() if math.isfinite(v[2] - v[1])), default=math.nan)
            ratio = spread / seed if seed > 0 and math.isfinite(spread) else math.nan
            if math.isfinite(ratio):
                ratios.append(ratio)
            cells = " | ".join(fmt(vals[i][0]) if i in vals else "–" for i in ids)
            lines.append(f"| {title} | {s} | {q} | {cells} | {fmt(spread)} | {fmt(seed)} | {fmt(ratio, 2)} |")
    if ratios:
        r = np.array(ratios)
        lines += [
            "",
            f"Over {len(r)} numbers with a seed range, the spread across machines is a median "
            f"{np.median(r):.2f} of the seed range (largest {r.max():.2f}; {int((r >= 1).sum())} at or "
            f"above it). {flips} of {total} verdicts differ between fingerprints.",
        ]
    return "\n".join(lines) + "\n"


#: A panel of the across-machines figure with more numbers than this sets its labels upright (side by side they
#: overlap).
CROWDED_PANEL = 10


def across_machines_figure(
    rows: dict[str, list[tuple[str, str, dict[str, tuple[float, float, float]]]]], fingerprints: Sequence[str]
) -> plt.Figure:
    """Headline numbers under several numerics fingerprints (the page "Across machines").

    Args:
        rows: {panel title: [(setting, quantity, {fingerprint id: (seed mean, seed min, seed max)})]}, e.g. from
            :func:`twophase_book.pages.across_rows`.
        fingerprints: the fingerprint ids, in the order of the legend.

    Returns:
        The figure, with one panel per title, showing each number's seed mean (marker) and seed range (bar) under
        each fingerprint side by side, so the spread across machines reads against the spread across seeds. A mean
        that is not finite (an inflection beyond the grid) is left out of the figure; the page's table gives it.
    """
    panels = [(title, r) for title, r in rows.items() if r]
    crowded = [len(r) > CROWDED_PANEL for _, r in panels]  # labels turned upright, the panel taller
    heights = [5.0 if c else 2.4 for c in crowded]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, sum(heights) + 0.6), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    markers = "os^Dv<>"
    width = 0.7 / max(len(fingerprints), 1)
    for ax, (title, items), upright in zip(axes[:, 0], panels, crowded):
        for k, fp in enumerate(fingerprints):
            x, mean, lo, hi = [], [], [], []
            for i, (_, _, vals) in enumerate(items):
                if fp in vals and math.isfinite(vals[fp][0]):  # "> last t0" cannot be drawn: the table says it
                    m, a, b = vals[fp]
                    x.append(i + (k - (len(fingerprints) - 1) / 2) * width)
                    mean.append(m)
                    # an inflection of the seed-mean curve may lie outside its seeds' range: the bar then ends at it
                    lo.append(max(m - a, 0.0) if math.isfinite(a) else 0.0)
                    hi.append(max(b - m, 0.0) if math.isfinite(b) else 0.0)
            ax.errorbar(x, mean, yerr=[lo, hi], fmt=markers[k % len(markers)], capsize=2, label=fp, markersize=4)
        ax.set_xticks(range(len(items)))
        if upright:  # one line per number, read bottom to top
            ax.set_xticklabels([f"{s}: {q}" for s, q, _ in items], fontsize=6, rotation=90)
        else:
            ax.set_xticklabels([f"{s.replace(', ', chr(10))}\n{q}".strip() for s, q, _ in items], fontsize=6)
        ax.set_title(title, fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=7, title="numerics fingerprint (bars: seed range)", title_fontsize=7)
    fig.tight_layout()
    return fig
