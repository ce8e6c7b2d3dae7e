"""The cone claim (chapter 2): its studies from a design, its rule applied, its tables, summary and figures."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.cone import ConeStudy
from twophase_lib.plotting import mark_inflection, mark_lr_drops
from twophase_lib.verdicts import combine, cone_verdict

from .paper import PAPER_INFLECTION, PAPER_TAUS
from .profiles import ARCHS, SCHEDULE_NAMES, SCHEDULES, Design, chapter_designs, design
from .render import Table, fmt


def study_from_design(d: Design, schedule: str) -> ConeStudy:
    """Chapter 2's study of a design under a schedule: its parent runs, every cone checkpoint, its τ."""
    return ConeStudy(d.schedule(schedule), d.cone_steps, d.cone_refs, d.seeds, d.kernel_inputs)


def chapter_studies(profile: str, designs: dict | None = None) -> dict:
    """Chapter 2's studies at a profile (or for ``designs``): every architecture under both schedules,
    keyed by (arch, schedule)."""
    designs = designs or chapter_designs(profile)
    return {(arch, sch): study_from_design(d, sch) for arch, d in designs.items() for sch in SCHEDULES}


def cone_verdicts(results: dict, inflections: dict) -> dict:
    """Chapter 2's verdict per architecture on the windows before the first lr drop (step schedule's runs)."""
    out = {}
    for (arch, schedule), res in results.items():
        if schedule != "step":
            continue
        out[arch] = cone_verdict(np.array(res.study.steps), res.matrices.mean(0), res.study.refs,
                                 res.study.run.optim.first_drop, inflections[(arch, "step")]["estimate"])
    return out


def shared_before_drop(results: dict) -> dict:
    """Per architecture: whether the two schedules' distance matrices agree exactly up to the first drop."""
    out = {}
    for arch in ARCHS:
        a, b = results.get((arch, "step")), results.get((arch, "constant"))
        if a is None or b is None:
            continue
        k = sum(s <= a.study.run.optim.first_drop for s in a.study.steps)
        out[arch] = bool(np.array_equal(a.matrices[:, :k, :k], b.matrices[:, :k, :k]))
    return out


def after_drop_table(results: dict) -> Table:
    """What the drop does: S(τ, T) and the kernel velocity after the first drop, step schedule against constant lr."""
    rows = []
    for (arch, schedule), res in results.items():
        steps = np.array(res.study.steps)
        i1 = int(np.where(steps == results[(arch, "step")].study.run.optim.first_drop)[0][0])
        v = res.velocity.mean(0)
        m = res.matrices.mean(0)
        tau = res.study.refs[-1]
        it = int(np.where(steps == tau)[0][0])
        rows.append([arch, SCHEDULE_NAMES[schedule], f"{m[it, i1]:.4f}", f"{m[it, -1]:.4f}",
                     f"{v[:i1][-3:].mean():.2e}", f"{v[i1:].mean():.2e}"])
    tau = next(iter(results.values())).study.refs[-1]
    return Table(["model", "schedule", f"S(τ={tau}, first drop)", f"S(τ={tau}, T)", "velocity before the drop",
                  "velocity after it"], rows)


def cone_paper_table(profile: str, inflections: dict) -> Table:
    """Where τ sits relative to the inflection and the first drop, in the paper and here."""
    rows = []
    for arch in ARCHS:
        p, d = design("paper", arch), design(profile, arch)
        lo, hi = PAPER_INFLECTION[arch]
        rows.append(
            [
                f"{arch}, paper",
                ", ".join(f"{t:,}" for t in PAPER_TAUS),
                f"{lo:,}" + ("" if lo == hi else f"–{hi:,}"),
                f"{p.first_drop:,}",
                ", ".join(f"{t / p.first_drop:.0%}" for t in PAPER_TAUS),
            ]
        )
        inf = inflections.get((arch, "step"), {"estimate": math.nan})
        rows.append(
            [
                f"{arch}, ours ({profile})",
                ", ".join(map(str, d.cone_refs)),
                fmt(inf["estimate"]),
                str(d.first_drop),
                ", ".join(f"{t / d.first_drop:.0%}" for t in d.cone_refs),
            ]
        )
    return Table(["where", "τ", "inflection", "first lr drop", "τ as a share of the time before the drop"], rows)


def cone_table(results: dict, verdicts: dict) -> Table:
    """Per architecture and τ: growth of S(τ, t) over the two halves of its window before the first drop."""
    rows = []
    for arch, v in verdicts.items():
        res = results[(arch, "step")]
        steps = np.array(res.study.steps)
        d1 = res.study.run.optim.first_drop
        m = res.matrices.mean(0)
        for tau in res.study.refs:
            i = int(np.where(steps == tau)[0][0])
            window = [j for j in range(i, len(steps)) if steps[j] <= d1]
            s = m[i, window]
            mid = len(window) // 2
            first, second = s[mid] - s[0], s[-1] - s[mid]
            rows.append(
                [
                    arch,
                    tau,
                    f"{steps[window[0]]}–{steps[window[-1]]}",
                    f"{s[-1]:.4f}",
                    f"{first:.4f}",
                    f"{second:.4f}",
                    fmt(second / first if first > 0 else math.nan, 2),
                ]
            )
    return Table(
        [
            "model",
            "τ",
            "window",
            "S(τ, first drop)",
            "growth, 1st half",
            "growth, 2nd half",
            "2nd / 1st (rule: ≤ 0.33)",
        ],
        rows,
    )


def cone_summary(profile: str, verdicts: dict, shared: dict, results: dict | None = None) -> dict:
    """Chapter 2's results for the scorecard, with the mismatches against the paper the code can compute; with
    ``results``, also S(τ, first drop) per τ (step schedule: seed mean, min, max)."""
    p = design("paper", "resnet20")
    mismatches = []
    for arch, v in verdicts.items():
        d = design(profile, arch)
        share = f"{min(d.cone_refs) / d.first_drop:.0%}–{max(d.cone_refs) / d.first_drop:.0%}"
        paper = f"{min(PAPER_TAUS) / p.first_drop:.0%}–{max(PAPER_TAUS) / p.first_drop:.0%}"
        mismatches.append(f"{arch}: τ at {share} of the time before the first drop (paper: {paper})")
        mismatches += [f"{arch}: fails '{check.value}'" for check in v.failed()]
    return {
        "profile": profile,
        "verdict": str(combine([v.outcome for v in verdicts.values()])),
        "archs": {
            a: {
                "verdict": str(v.outcome),
                "checks": v.explain(),
                **({"s_first_drop": _s_first_drop(results[(a, "step")])} if results else {}),
            }
            for a, v in verdicts.items()
        },
        "shared_before_drop": shared,
        "mismatches": mismatches,
    }


def _s_first_drop(res) -> dict:
    """{τ: [mean, min, max] over seeds of S(τ, t) at the last checkpoint before the first drop}."""
    steps = np.array(res.study.steps)
    last = int(np.where(steps <= res.study.run.optim.first_drop)[0][-1])
    out = {}
    for tau in res.study.refs:
        i = int(np.where(steps == tau)[0][0])
        v = res.matrices[:, i, last]
        out[str(tau)] = [float(v.mean()), float(v.min()), float(v.max())]
    return out


def _edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around unequally spaced checkpoints (midpoints), so a heatmap keeps the time axis true."""
    mid = (steps[1:] + steps[:-1]) / 2
    return np.concatenate([[steps[0] - (mid[0] - steps[0])], mid, [steps[-1] + (steps[-1] - mid[-1])]])


def cone_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: the distance heatmap (step schedule), S(τ, t) and kernel velocity under both schedules."""
    archs = list(dict.fromkeys(arch for arch, _ in results))
    fig, axes = plt.subplots(len(archs), 3, figsize=(16, 4.4 * len(archs)), squeeze=False)
    styles = {"step": ("-", "o", "step schedule"), "constant": ("--", "s", "constant lr")}
    for r, arch in enumerate(archs):
        main = results[(arch, "step")]
        steps = np.array(main.study.steps)
        drop = main.study.run.optim.first_drop
        inf = (inflections or {}).get((arch, "step"))
        ax = axes[r, 0]
        e = _edges(steps.astype(float))
        im = ax.pcolormesh(e, e, main.matrices.mean(0), cmap="viridis", shading="flat")
        ax.set_xlabel("checkpoint t′ (iterations)")
        ax.set_ylabel("checkpoint t (iterations)")
        ax.set_title(f"{arch}: S(t, t′), step schedule, mean of {len(main.study.seeds)} seeds", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
        for m in main.study.run.optim.milestones:
            ax.axvline(m, color="w", linestyle=":", linewidth=1)
            ax.axhline(m, color="w", linestyle=":", linewidth=1)
        ax = axes[r, 1]
        for schedule, (ls, mk, name) in styles.items():
            res = results.get((arch, schedule))
            if res is None:
                continue
            for i, tau in enumerate(res.study.refs):
                t, s_ = res.from_reference(tau)
                keep = t >= drop if schedule == "constant" else np.ones(len(t), bool)
                ax.plot(
                    t[keep],
                    s_.mean(0)[keep],
                    linestyle=ls,
                    marker=mk,
                    markersize=3,
                    color=f"C{i}",
                    label=f"τ = {tau}" if schedule == "step" else None,
                )
                if schedule == "step":
                    ax.fill_between(t, s_.min(0), s_.max(0), color=f"C{i}", alpha=0.15, linewidth=0)
        ax.axvspan(drop, steps[-1], color="gray", alpha=0.08, label="after the first drop (dashed: constant lr)")
        mark_inflection(ax, inf)
        mark_lr_drops(ax, main.study.run.optim.milestones)
        ax.set_xlabel("iteration t")
        ax.set_ylabel("S(τ, t)")
        ax.set_title(f"{arch}: distance from reference checkpoints τ", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[r, 2]
        for schedule, (ls, mk, name) in styles.items():
            res = results.get((arch, schedule))
            if res is None:
                continue
            ax.plot(
                steps[1:],
                res.velocity.mean(0),
                linestyle=ls,
                marker=mk,
                markersize=3,
                color="C0" if schedule == "step" else "C1",
                label=name,
            )
        mark_inflection(ax, inf)
        mark_lr_drops(ax, main.study.run.optim.milestones)
        ax.set_yscale("log")
        ax.set_xscale("log")
        ax.set_xlim(steps[1] * 0.8, steps[-1] * 1.1)
        ax.set_xlabel("iteration t (end of interval)")
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("kernel velocity S(t_i, t_i+1) / Δt")
        ax.set_title(f"{arch}: kernel velocity between adjacent checkpoints", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
