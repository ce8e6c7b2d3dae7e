"""The value of the cone phase (chapter 3): its studies from a design, its rule applied, its tables, summary
and figures."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.linearize import SwitchArm
from twophase_lib.plotting import band, mark_inflection, mark_lr_drops, time_axis
from twophase_lib.switch import (
    SwitchStudy,
    fixed_budget_scores,
    fixed_budget_studies,
    paired_difference,
    switch_verdict,
)
from twophase_lib.verdicts import bootstrap_means, combine, fixed_budget_check, t_interval

from .paper import PAPER_SWITCH
from .profiles import ProtocolDesign, display_name
from .render import Table, fmt
from .summary import PRIMARY, Cell, ClaimSummary, Number, check_numbers, decided_by, recorded

# ------------------------------------------------------ the paper's protocol (issue 21): switches inside the window

#: Chapter 3's arms, the paper's (linearized at the run's lr), the two controls, and the extension (the paper's arm
#: under the recipe's step schedule, outside the claim's verdict).
ARMS = ("linearized", "linearized, lower lr", "batch norm frozen", "linearized, step schedule")
#: The extension's arm.
EXTENSION = ARMS[3]


def window_studies(designs: dict[str, ProtocolDesign]) -> dict[tuple[str, str], SwitchStudy]:
    """Chapter 3's studies on the constant-lr runs, trained to T inside the window, keyed by (arch, arm): the
    model linearized at t (the paper's), the same at a lower lr (one where it does not diverge) at the control
    switch times, and the network itself trained on with batch norm frozen at t at every switch time (the rule's
    *beyond frozen batch norm* separates "linear" from "batch norm frozen"); and, where the
    design's extension has switch times, the extension: the paper's arm trained through the recipe's lr drops to its
    end. Its switched runs resume from the constant-lr ones at the first drop (the two schedules agree before it)."""
    out = {}
    for arch, d in designs.items():
        s, x = d.switch, d.extension
        run = d.run.replace(optim={"steps": s.T})
        via = (x.run.optim.first_drop,) if x.switches else ()
        out[(arch, ARMS[0])] = SwitchStudy(run, s.switches, s.seeds, train_examples=s.train_examples,
                                           via=tuple(v for v in via if v < s.T))
        out[(arch, ARMS[1])] = SwitchStudy(run, s.control_switches, s.seeds, train_examples=s.train_examples,
                                           lr_scale=s.lr_scale)
        out[(arch, ARMS[2])] = SwitchStudy(run, s.switches, s.seeds, train_examples=s.train_examples,
                                           arm=SwitchArm.FROZEN_BATCH_NORM)
        if x.switches:
            out[(arch, EXTENSION)] = SwitchStudy(x.run, x.switches, s.seeds, train_examples=s.train_examples, via=via)
    return out


def budget_studies(designs: dict[str, ProtocolDesign]) -> dict[tuple[str, int], SwitchStudy]:
    """Chapter 3's fixed-budget arm (:func:`twophase_lib.switch.fixed_budget_studies`), keyed by (arch, switch time
    t): from each switch time before T, ``design.switch.budget`` linearized iterations beside standard training over
    the same iterations. Designs without a budget give none."""
    return {(arch, t): st for arch, d in designs.items() if d.switch.budget
            for t, st in fixed_budget_studies(d.run, d.switch.switches[:-1], d.switch.budget, d.switch.seeds,
                                              d.switch.train_examples).items()}


def _budget_scores(budget: dict, arch: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return fixed_budget_scores({t: res for (a, t), res in budget.items() if a == arch})


def _paired_text(diff: np.ndarray) -> str:
    """Mean of (seeds, n_test) paired differences (or (seeds,) accuracies' differences) with its 90% t interval over
    the seeds without a NaN."""
    diff = diff.reshape(len(diff), -1)
    kept = np.isfinite(diff).all(1)
    if not kept.any():
        return "– (diverged)"
    d = diff[kept]
    lo, hi = t_interval(float(d.mean()), bootstrap_means(d[..., None])[:, 0], int(kept.sum()))
    return f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"


def budget_table(budget: dict, inflections: dict[str, dict]) -> Table:
    """The fixed-budget arm per network and switch time t: the parent's accuracy at t, the model linearized at t
    after B iterations, standard training after the same B iterations (θ_{t+B}), what the linear phase adds to the
    parent and what linearizing costs against standard training (paired by seed and test image, 90% t intervals),
    and whether t lies in the cone phase (at or after chapter 1's inflection)."""
    rows = []
    for arch in dict.fromkeys(a for a, _ in budget):
        ts, lin, std, parent = _budget_scores(budget, arch)
        inf = inflections.get(arch, {}).get("estimate", math.nan)
        b = int(budget[(arch, int(ts[0]))].switches[1] - ts[0])
        for j, t in enumerate(ts):
            res = budget[(arch, int(t))]
            rows.append([display_name(arch), int(t), f"{int(t)} → {int(t) + b}", f"{np.nanmean(parent[..., j]):.3f}",
                         _accuracy_text(res, 0), f"{np.nanmean(std[..., j]):.3f}",
                         _paired_text(lin[..., j] - parent[..., j]), _paired_text(std[..., j] - lin[..., j]),
                         "yes" if math.isfinite(inf) and t >= inf else "no"])
    return Table(["network", "switch t", "iterations", "parent at t, acc(θ_t) (its running batch-norm statistics)",
                  "linearized for B", "standard for B, acc(θ_{t+B}) (batch norm re-estimated, as the linearized "
                  "model's)", "linear gain over the parent [90%]", "cost of linearizing: standard − linearized [90%]",
                  "cone phase (t ≥ inflection)"], rows)


def budget_checks(budget: dict, inflections: dict[str, dict]) -> dict:
    """Per network, :func:`twophase_lib.verdicts.fixed_budget_check` on the fixed-budget arm (descriptive: the
    claim's verdict does not read it)."""
    out = {}
    for arch in dict.fromkeys(a for a, _ in budget):
        ts, lin, std, _ = _budget_scores(budget, arch)
        out[arch] = fixed_budget_check(ts, lin, std, inflections.get(arch, {}).get("estimate", math.nan))
    return out


def budget_figure(budget: dict, inflections: dict[str, dict] | None = None) -> plt.Figure:
    """Per network, the cost of linearizing on the fixed budget, acc(θ_{t+B}) − acc_lin(t+B; t), against the switch
    time t: each seed (dots), the seed mean (line), zero dashed, chapter 1's inflection marked."""
    archs = list(dict.fromkeys(a for a, _ in budget))
    if not archs:
        raise ValueError("no fixed-budget results to draw (the designs have no budget)")
    fig, axes = plt.subplots(1, len(archs), figsize=(6.5 * len(archs), 3.6), squeeze=False)
    for c, arch in enumerate(archs):
        ax = axes[0, c]
        ts, lin, std, _ = _budget_scores(budget, arch)
        cost = np.nanmean(std - lin, 1)  # (seeds, K)
        b = int(budget[(arch, int(ts[0]))].switches[1] - ts[0])
        for row in cost:
            ax.plot(ts, row, "o", color="C0", alpha=0.5, markersize=4)
        ax.plot(ts, np.nanmean(cost, 0), "-", color="C0", label="seed mean (dots: seeds)")
        ax.axhline(0, color="k", linestyle="--", linewidth=0.8)
        mark_inflection(ax, (inflections or {}).get(arch))
        time_axis(ax, "switch time t (iterations)")
        ax.set_ylabel(f"standard − linearized after {b} iterations")
        ax.set_title(f"{display_name(arch)}: what linearizing at t costs on a budget of {b} iterations", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _arm_name(arm: str, res) -> str:
    return f"linearized, lr × {res.study.lr_scale:g}" if arm == ARMS[1] else arm


def window_switch_verdicts(results: dict, inflections: dict[str, dict]) -> dict:
    """The paired rule (:func:`twophase_lib.verdicts.paired_switch_verdict`, through
    :func:`twophase_lib.switch.switch_verdict`) for each (arch, linearized arm): its final scores against the
    parents' own at each switch time and, for the paper's arm, the batch-norm-frozen control's (trained at the same
    lr and schedule: the lower-lr arm and the step-schedule extension have no control of their own)."""
    return {key: switch_verdict(res, inflections.get(key[0], {}).get("estimate", math.nan),
                                results.get((key[0], ARMS[2])) if key[1] == ARMS[0] else None)
            for key, res in results.items() if key[1] != ARMS[2]}


def _gap_share(accuracy_mean: np.ndarray) -> np.ndarray:
    """Share of the gap between fully linearized (first) and standard training (last) each switch time recovers;
    nan everywhere when standard training is not above fully linearized training."""
    acc = np.asarray(accuracy_mean, dtype=float)
    gap = acc[-1] - acc[0]
    return (acc - acc[0]) / gap if gap > 0 else np.full(len(acc), math.nan)


def window_switch_table(results: dict) -> Table:
    """Per network, arm and switch time: test accuracy (seed mean, range), the parent's own accuracy at t, acc(θ_t)
    (where a linear phase that learned nothing would end), the gain over it, and test loss (a linearized model that
    takes steps too large for its frozen kernel shows it in its loss first)."""
    rows = []
    for (arch, arm), res in results.items():
        acc = res.accuracy.mean(0)  # NaN where a run diverged: it enters no share
        share = _gap_share(acc)
        parent = res.parent_accuracy.mean(0) if res.parent_correct is not None else np.full(len(acc), np.nan)
        for j, t in enumerate(res.switches):
            last = j == len(res.switches) - 1
            rows.append([display_name(arch), "— (no switch)" if last else _arm_name(arm, res),
                         f"T = {t}: standard training" if last else str(t), _accuracy_text(res, j),
                         _seed_range(res, j), "" if last else f"{parent[j]:.3f}",
                         "" if last or math.isnan(acc[j]) else f"{acc[j] - parent[j]:+.3f}",
                         fmt(share[j], 2), f"{res.loss.mean(0)[j]:.3g}"])
    return Table(["network", "arm", "switch t", "test accuracy", "seed range", "parent at t, acc(θ_t)",
                  "gain over the parent", "share of the gap from t = 0 to standard training", "test loss"], rows)


def _accuracy_text(res, j: int) -> str:
    """A column's seed mean, saying how many of its runs diverged (they enter no mean)."""
    div = res.diverged[:, j] if res.diverged is not None else np.zeros(len(res.accuracy), dtype=bool)
    if div.all():
        return f"diverged ({len(div)} of {len(div)} seeds)"
    text = f"{np.nanmean(res.accuracy[:, j]):.3f}"
    return text + (f" ({int(div.sum())} of {len(div)} seeds diverged)" if div.any() else "")


def _seed_range(res, j: int) -> str:
    col = res.accuracy[:, j]
    return "–" if np.isnan(col).all() else f"[{np.nanmin(col):.3f}, {np.nanmax(col):.3f}]"


def _difference_text(d: tuple[float, float, float]) -> str:
    if math.isnan(d[0]):
        return "– (diverged)"
    if not (math.isfinite(d[1]) and math.isfinite(d[2])):
        return f"{d[0]:+.3f} (one seed: no interval)"
    return f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"


def control_table(results: dict) -> Table:
    """The controls at each switch time, paired by seed and test image: linearized minus batch-norm-frozen (what
    linearity costs beyond freezing batch norm, at every switch time) and, at the control switch times, the lower
    lr minus the run's lr, with 90% t intervals."""
    rows = []
    for arch in dict.fromkeys(a for a, _ in results):
        lin, slow, frozen = (results.get((arch, arm)) for arm in ARMS[:3])
        if lin is None or frozen is None or slow is None:
            continue
        for t in frozen.switches[:-1]:
            f = paired_difference(lin, int(t), frozen)
            acc = lambda r: _accuracy_text(r, list(r.switches).index(t))  # noqa: E731
            j = list(frozen.switches).index(t)
            kept = ~frozen.diverged[:, j] if frozen.diverged is not None else np.ones(len(frozen.loss), bool)
            loss = frozen.loss[kept, j].mean() if kept.any() else math.nan  # diverged seeds enter no mean
            at_lower = t in slow.switches
            rows.append([display_name(arch), int(t), acc(lin), acc(frozen), f"{loss:.3g}", _difference_text(f),
                         acc(slow) if at_lower else "–",
                         _difference_text(paired_difference(slow, int(t), lin)) if at_lower else "–"])
    return Table(["network", "switch t", "linearized", "batch norm frozen", "frozen: test loss (seeds that did not "
                  "diverge)", "linearized − frozen [90%] (seeds where neither diverged)", "linearized at the lower lr",
                  "lower lr − run's lr [90%]"], rows)


def extension_table(results: dict) -> Table:
    """What the recipe's lr drops do to each switch time: the paper's arm trained to the step schedule's end against
    the same switch time trained to T at the constant lr (standard training at the last row), paired by seed and
    test image, with 90% intervals."""
    rows = []
    for arch in dict.fromkeys(a for a, _ in results):
        lin, ext = results.get((arch, ARMS[0])), results.get((arch, EXTENSION))
        if lin is None or ext is None:
            continue
        for j, t in enumerate(ext.switches):
            last = j == len(ext.switches) - 1
            k = len(lin.switches) - 1 if last else list(lin.switches).index(t) if t in lin.switches else None
            if k is None:
                continue
            d = paired_difference(ext, int(t), lin) if ext.switches[j] == lin.switches[k] else None
            rows.append([display_name(arch), "standard training" if last else int(t),
                         f"{_accuracy_text(lin, k)} (T = {lin.switches[-1]})",
                         f"{_accuracy_text(ext, j)} (to {ext.switches[-1]})",
                         _difference_text(d) if d else
                         f"{ext.accuracy[:, j].mean() - lin.accuracy[:, k].mean():+.3f} (unpaired: T differs)"])
    return Table(["network", "switch t", "constant lr", "step schedule", "step − constant [90%] (paired by seed and "
                  "image; the two end at different T)"], rows)


def window_switch_paper_table(results: dict, inflections: dict[str, dict]) -> Table:
    """The paper's Fig. 6 (approximate) beside ours: accuracy from the earliest to the latest switch before T."""
    rows = []
    for (arch, arm), res in results.items():
        if arm != ARMS[0]:
            continue
        acc = res.accuracy.mean(0)
        inf = inflections.get(arch, {}).get("estimate", math.nan)
        rows.append([display_name(arch), PAPER_SWITCH[arch], f"{acc[0]:.3f} at t = 0 → {acc[-2]:.3f} at t = "
                     f"{res.switches[-2]} (T = {res.switches[-1]}, standard training {acc[-1]:.3f})", fmt(inf)])
    return Table(["network", "paper (T = 10,000; approximate, read off Fig. 6)", "ours", "chaos inflection (ch. 1)"],
                 rows)


def window_switch_figure(results: dict, inflections: dict[str, dict] | None = None) -> plt.Figure:
    """Per network: final test accuracy (top) and test loss (bottom) against the switch time, one line per arm
    (band: seed range), the parent's own accuracy at t (dotted, black), chapter 1's inflection dashed, the
    extension's lr drops dotted."""
    archs = list(dict.fromkeys(a for a, _ in results))
    fig, axes = plt.subplots(2, len(archs), figsize=(6.5 * len(archs), 7.5), squeeze=False)
    for c, arch in enumerate(archs):
        for i, arm in enumerate(ARMS):
            res = results.get((arch, arm))
            if res is None:
                continue
            band(axes[0, c], res.switches, res.accuracy, _arm_name(arm, res), f"C{i}", "os^D"[i])
            band(axes[1, c], res.switches, res.loss, _arm_name(arm, res), f"C{i}", "os^D"[i])
        lin = results.get((arch, ARMS[0]))
        if lin is not None and lin.parent_correct is not None:
            axes[0, c].plot(lin.switches, lin.parent_accuracy.mean(0), color="k", linestyle=":", marker=".",
                            label="the parent's own accuracy at t")
        extension = results.get((arch, EXTENSION))
        for r in range(2):
            mark_inflection(axes[r, c], (inflections or {}).get(arch))
            if extension is not None:  # where the extension's lr drops (it trains through them after every switch)
                mark_lr_drops(axes[r, c], extension.study.run.optim.milestones)
            time_axis(axes[r, c], "switch time t (iterations)")
        axes[0, c].set_ylabel("final test accuracy")
        axes[1, c].set_ylabel("final test loss")
        axes[1, c].set_yscale("log")
        axes[0, c].set_title(f"{display_name(arch)}: trained to T at a constant lr, switched at t", fontsize=9)
        axes[0, c].legend(fontsize=7)
    fig.tight_layout()
    return fig


def window_switch_summary(profile: str, results: dict, verdicts: dict) -> ClaimSummary:
    """Chapter 3's typed summary: per network, the paper's arm's outcome (primary) with the checks that decided it,
    the lower-lr arm's outcome."""
    cells, details = [], []
    for (arch, arm), v in verdicts.items():
        res = results[(arch, arm)]
        acc = res.accuracy.mean(0)
        numbers = [Number(f"test accuracy, t = {t}", float(acc[j]), float(np.nanmin(res.accuracy[:, j])),
                          float(np.nanmax(res.accuracy[:, j]))) if np.isfinite(res.accuracy[:, j]).any()
                   else Number(f"test accuracy, t = {t}", math.nan, math.nan, math.nan)
                   for j, t in enumerate(res.switches)]
        numbers += check_numbers(v)
        protocol = {ARMS[0]: PRIMARY, EXTENSION: "step schedule (extension)"}.get(
            arm, f"linearized at lr × {res.study.lr_scale:g} (control)")
        cells.append(Cell(display_name(arch), protocol, str(v.outcome),
                          f"{acc[0]:.3f} (t = 0) → {acc[-2]:.3f} (t = {res.switches[-2]}); standard {acc[-1]:.3f}; "
                          f"decided by {decided_by(v)}", numbers, recorded(v)))
        details.append(f"{display_name(arch)}, {_arm_name(arm, res)}: "
                       + "; ".join(f"{c.mark} {c.name}: {c.detail}" for c in v.checks))
    verdict = combine([c.outcome for c in cells if c.protocol == PRIMARY])
    return ClaimSummary("switch", profile, str(verdict), cells, details)
