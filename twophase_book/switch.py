"""The value of the cone phase (chapter 3): its studies from a design, its rule applied, its tables, summary
and figures."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.plotting import band, mark_inflection, mark_lr_drops, time_axis
from twophase_lib.switch import SwitchStudy
from twophase_lib.verdicts import SwitchCheck, combine, recovered_share, spearman, switch_verdict

from .paper import PAPER_INFLECTION, RECIPE_ACCURACY
from .profiles import Design, chapter_designs, design
from .render import Table, fmt


def study_from_design(d: Design, schedule: str = "step") -> SwitchStudy:
    """Chapter 3's study of a design: its parent runs, switch times from 0 to T."""
    return SwitchStudy(d.schedule(schedule), d.switches, d.seeds, train_examples=d.switch_train_examples)


def design_studies(designs: dict[str, Design]) -> dict:
    """Chapter 3's studies of ``designs`` (architectures, or chapter 4's tasks) under the step schedule, keyed
    by name."""
    return {name: study_from_design(d) for name, d in designs.items()}


def chapter_studies(profile: str, designs: dict | None = None) -> dict:
    """Chapter 3's studies at a profile (or for ``designs``): every architecture under the step schedule,
    keyed by architecture."""
    return design_studies(designs or chapter_designs(profile))


def switch_paper_table(profile: str, results: dict, inflections: dict) -> Table:
    """The switch times relative to the inflection and the first drop, and standard training's accuracy, paper vs
    ours."""
    rows = []
    for arch, res in results.items():
        p, d = design("paper", arch), design(profile, arch)
        lo, hi = PAPER_INFLECTION[arch]
        rows.append(
            [
                f"{arch}, paper",
                "t > 2,000 matters most; t = 0 worst",
                f"{lo:,}" + ("" if lo == hi else f"–{hi:,}"),
                f"{p.first_drop:,}",
                f"{RECIPE_ACCURACY[arch]:.1%} (recipe, Frankle et al.)",
            ]
        )
        rows.append(
            [
                f"{arch}, ours ({profile})",
                ", ".join(map(str, d.switches[:-1])),
                fmt(inflections[(arch, "step")]["estimate"]),
                str(d.first_drop),
                f"{res.accuracy[:, -1].mean():.1%}",
            ]
        )
    return Table(["where", "switch times", "inflection", "first lr drop", "standard training, test accuracy"], rows)


def switch_verdicts(results: dict, inflections: dict) -> dict:
    """Chapter 3's verdict per architecture."""
    return {
        arch: switch_verdict(res.switches, res.accuracy, inflections[(arch, "step")]["estimate"])
        for arch, res in results.items()
    }


def switch_table(results: dict) -> Table:
    """Per architecture and switch time: test accuracy (mean, seed range), share of the gap recovered, test loss."""
    rows = []
    for arch, res in results.items():
        acc = res.accuracy.mean(0)
        share = recovered_share(acc)
        for j, t in enumerate(res.switches):
            label = "standard training" if j == len(res.switches) - 1 else str(t)
            rows.append(
                [
                    arch,
                    label,
                    f"{acc[j]:.3f}",
                    f"[{res.accuracy[:, j].min():.3f}, {res.accuracy[:, j].max():.3f}]",
                    fmt(share[j], 2),
                    f"{res.loss.mean(0)[j]:.3g}",
                ]
            )
    return Table(["model", "switch t", "test accuracy", "seed range", "share of the gap recovered", "test loss"], rows)


def switch_summary(profile: str, results: dict, verdicts: dict, inflections: dict | None = None) -> dict:
    """Chapter 3's results for the scorecard, with the mismatches against the paper."""
    mismatches = []
    for arch, res in results.items():
        acc = res.accuracy.mean(0)
        share = recovered_share(acc)
        v = verdicts[arch]
        if SwitchCheck.ZERO_IS_WORST in v.failed():
            j = 1 + int(np.argmin(acc[1:]))
            mismatches.append(f"{arch}: t = {res.switches[j]} ({acc[j]:.3f}) is worse than t = 0 ({acc[0]:.3f})")
        inf = inflections.get((arch, "step"), {}).get("estimate", math.nan) if inflections else math.nan
        after = [j for j in range(len(res.switches) - 1) if math.isfinite(inf) and res.switches[j] > inf]
        if after and math.isfinite(share[after[0]]):
            j = after[0]
            fort = " — closer to Fort et al.'s picture than to the claim" if share[j] >= 0.9 else ""
            mismatches.append(
                f"{arch}: switching at t = {res.switches[j]}, the first switch after the inflection, "
                f"recovers {share[j]:.0%} of the gap between linearized and standard training (Fort et "
                f"al.: most of it after a few epochs){fort}"
            )
        mismatches.append(
            f"{arch}: standard training reaches {acc[-1]:.1%} test accuracy here against the recipe's "
            f"{RECIPE_ACCURACY[arch]:.1%} at full scale"
        )
    return {
        "profile": profile,
        "verdict": str(combine([v.outcome for v in verdicts.values()])),
        "archs": {
            a: {
                "verdict": str(v.outcome),
                "checks": v.explain(),
                "spearman": spearman(r.switches, r.accuracy.mean(0)),
                "accuracy_mean": r.accuracy.mean(0).tolist(),
                "switches": r.switches.tolist(),
                "accuracy_range": np.stack([r.accuracy.min(0), r.accuracy.max(0)], 1).tolist(),
                "recovered_share": recovered_share(r.accuracy.mean(0)).tolist(),
            }
            for a, v in verdicts.items()
            for r in [results[a]]
        },
        "mismatches": mismatches,
    }


def switch_figure(results: dict, inflections: dict | None = None) -> plt.Figure:
    """Per architecture: final test accuracy and test loss of θ_std→lin(T; t) against the switch time t."""
    archs = list(results)
    fig, axes = plt.subplots(2, len(archs), figsize=(6.2 * len(archs), 7), squeeze=False)
    for c, arch in enumerate(archs):
        res = results[arch]
        inf = (inflections or {}).get((arch, "step"))
        for row, (values, ylabel, log) in enumerate(
            ((res.accuracy, "final test accuracy", False), (res.loss, "final test loss", True))
        ):
            ax = axes[row, c]
            band(ax, res.switches, values, "switch to linearized at t")
            ax.axhline(values[:, -1].mean(), color="k", linestyle=":", label="standard training throughout")
            ax.axhline(values[:, 0].mean(), color="gray", linestyle="-.", label="linearized from initialisation")
            mark_inflection(ax, inf)
            mark_lr_drops(ax, res.study.run.optim.milestones)
            time_axis(ax, "switch time t (iterations)")
            if log:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{arch}: θ_std→lin(T; t), T = {res.switches[-1]}", fontsize=10)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
