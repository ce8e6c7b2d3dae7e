"""The chaos claim (chapter 1): its sweeps from a design, its rule applied, its tables, summary and figures."""

from __future__ import annotations

import dataclasses
import math
import warnings

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.chaos import ChaosMap, ChaosMapResult, Reference, WindowReading, growth, window_reading
from twophase_lib.perturbation import Perturbation
from twophase_lib.plotting import LABELS, time_axis
from twophase_lib.verdicts import Outcome, WindowCheck, bootstrap_means, combine, t_interval

from .paper import PAPER_INFLECTION, PAPER_MAP_TEXT
from .profiles import (
    ProtocolDesign,
    display_name,
    protocol_design,
)
from .render import Note, Table, fmt
from .summary import PRIMARY, Cell, ClaimSummary, Number, check_numbers, decided_by, recorded

# ------------------------------------------------------------------- the paper's protocol (issue 21): (t0, t1) maps

#: The metrics chapter 1 judges on the fixed-window slices, each against its own reference level (the twins' eNTK
#: distance on the slices where it is computed, ``ChaosDesign.kernel_deltas``).
WINDOW_METRICS = ("disagreement", "test_loss_barrier", "dissimilarity", "kernel_distance")
#: The metric the claim's verdict rests on (the paper's first).
PRIMARY_METRIC = "disagreement"


def chapter_maps(designs: dict[str, ProtocolDesign]) -> dict[str, ChaosMap]:
    """Chapter 1's primary studies: per network, twins split at every t0 at a constant lr and compared on the band
    t0 < t1 ≤ t0 + max(Δ), with the barriers and the eNTK distance on the slices t1 = t0 + Δ, and the rule's
    reference pairs where it reads them (t1 = Δ, each slice's first cell): twins that differ only in SGD noise
    (one initialisation, two data orders). The parents also save chapter 2's checkpoints on the way (one pass
    instead of chapter 2 training the gaps again)."""
    out = {}
    for arch, d in designs.items():
        c = d.chaos
        out[arch] = ChaosMap(d.run, c.t0s, c.t1s, Perturbation(c.epsilon), c.seeds, c.control_t0, c.barrier,
                             c.kernel_inputs, reference_seeds=c.reference_seeds, horizon=max(c.deltas),
                             deltas=c.deltas, kernel_deltas=c.kernel_deltas,
                             reference_t1s=tuple(c.t0s[0] + delta for delta in c.deltas), parent_steps=d.cone.steps,
                             reference_kind=Reference.DATA_ORDER)
    return out


def unrelated_maps(designs: dict[str, ProtocolDesign], extra_t1s: dict[str, tuple[int, ...]] | None = None
                   ) -> dict[str, ChaosMap]:
    """:func:`chapter_maps` with independently initialised networks as the reference pairs (every twin shared, so
    only the other networks train): the level unrelated networks reach, shown beside the rule's reference (and read
    by chapter 4's precondition, at ``extra_t1s`` too)."""
    extra = extra_t1s or {}
    return {arch: dataclasses.replace(m, reference_kind=Reference.INDEPENDENT_INIT,
                                      reference_t1s=tuple(sorted({*m.reference_t1s, *extra.get(arch, ())})))
            for arch, m in chapter_maps(designs).items()}


def bn_init_maps(designs: dict[str, ProtocolDesign]) -> dict[str, ChaosMap]:
    """The batch-norm initialisation ablation, for the designs that ask for it: the first slice t1 = t0 + Δ again,
    with every batch-norm scale drawn γ ~ U(0, 1) as open_lth initialises ResNet-20 (the primary runs start at
    γ = 1, PyTorch's default). The first two seeds, test disagreement only (no barrier), its own ε = 0 control,
    and its own reference pairs (twins on two data orders, the rule's) with the same initialisation."""
    out = {}
    for arch, d in designs.items():
        c = d.chaos
        if not c.bn_init_ablation:
            continue
        delta = min(c.deltas)
        run = d.run.replace(model={"bn_init": "uniform"})
        t0s = tuple(t0 for t0 in c.t0s if t0 + delta <= d.window)
        out[arch] = ChaosMap(run, t0s, tuple(t0 + delta for t0 in t0s), Perturbation(c.epsilon), c.seeds[:2],
                             c.control_t0, c.barrier, reference_seeds=c.reference_seeds[:2], horizon=delta,
                             deltas=(), reference_t1s=(t0s[0] + delta,), reference_kind=Reference.DATA_ORDER)
    return out


def entry_maps(designs: dict[str, ProtocolDesign]) -> dict[str, ChaosMap]:
    """The other reading of "‖ε‖ = 1e-7": i.i.d. entries of standard deviation ε, on the first slice only (test
    disagreement and the realised perturbation: no barrier)."""
    out = {}
    for arch, d in designs.items():
        c = d.chaos
        delta = min(c.deltas)
        out[arch] = ChaosMap(d.run, c.entry_t0s, tuple(t0 + delta for t0 in c.entry_t0s),
                             Perturbation(c.epsilon, "entry"), c.seeds, None, c.barrier, horizon=delta, deltas=())
    return out


def extension_maps(designs: dict[str, ProtocolDesign]) -> dict[str, ChaosMap]:
    """The extension: twins split before the recipe's first lr drop, trained through the drops and compared at its
    end (a map with one t1); each seed's twins have the primary map's perturbation direction, so the two schedules'
    twins are paired by seed and direction."""
    return {arch: ChaosMap(d.extension.run, d.extension.t0s, (d.extension.run.optim.steps,),
                           Perturbation(d.chaos.epsilon), d.chaos.seeds, None, d.chaos.barrier)
            for arch, d in designs.items()}


def _has(res: ChaosMapResult, metric: str, delta: int) -> bool:
    """Whether a map measured ``metric`` on the slice t1 = t0 + Δ (the eNTK distance only on its own slices)."""
    if metric not in res.values:
        return False
    return metric != "kernel_distance" or res.study.kernel_deltas is None or delta in res.study.kernel_deltas


def window_readings(results: dict[str, ChaosMapResult], metrics=WINDOW_METRICS) -> dict[tuple, WindowReading]:
    """Every (network, metric, Δ) reading of chapter 1's maps, each judged against the maps' own reference pairs
    (the rule's: twins on two data orders)."""
    return {(arch, m, delta): window_reading(arch, res, m, delta) for arch, res in results.items() for m in metrics
            for delta in res.study.deltas if _has(res, m, delta)}


def map_inflections(readings: dict[tuple, WindowReading]) -> dict[str, dict]:
    """Per network, the primary metric's inflection (with its interval) on the shortest window: what chapters 2
    and 3 place their phases by."""
    out: dict[str, dict] = {}
    for (arch, metric, delta), r in sorted(readings.items(), key=lambda kv: kv[0][2], reverse=True):
        if metric == PRIMARY_METRIC:
            out[arch] = r.inflection
    return out


def network_verdicts(readings: dict[tuple, WindowReading]) -> dict[str, Outcome]:
    """Per network, the primary metric's outcomes over every window Δ, combined."""
    archs = dict.fromkeys(a for a, _, _ in readings)
    return {a: combine([r.verdict.outcome for (b, m, _), r in readings.items() if b == a and m == PRIMARY_METRIC])
            for a in archs}


def _t(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "?"
    return "> last t0" if x == math.inf else fmt(x)


def inflection_order(readings: dict[tuple, WindowReading], first: str = "resnet20", second: str = "vgg16"
                     ) -> dict | None:
    """The paper's timing contrast as a reported check (not a rule): VGG-16's transition comes ≈ 4–25× later than
    ResNet-20's (2,000–2,500 against 100–500 iterations). Each network's primary-metric inflection on its shortest
    window; the ratio's interval from the two intervals' ends (grid points, so conservative).

    Returns:
        {"ratio", "low", "high", "paper_low", "paper_high", "order" (a sentence)}, or None when either network is
        missing.
    """
    infl = {}
    for (arch, metric, delta), r in sorted(readings.items(), key=lambda kv: kv[0][2], reverse=True):
        if metric == PRIMARY_METRIC:
            infl[arch] = r.inflection
    if first not in infl or second not in infl:
        return None
    a, b = infl[first], infl[second]

    def ratio(x: float, y: float) -> float:
        if math.isnan(x) or math.isnan(y):
            return math.nan
        return (1 + x) / (1 + y) if math.isfinite(x) or math.isfinite(y) else math.nan

    est, low, high = ratio(b["estimate"], a["estimate"]), ratio(b["low"], a["high"]), ratio(b["high"], a["low"])
    p_lo = PAPER_INFLECTION[second][0] / PAPER_INFLECTION[first][1]
    p_hi = PAPER_INFLECTION[second][1] / PAPER_INFLECTION[first][0]
    if math.isnan(low) or math.isnan(high):
        order = "cannot tell (an inflection has no interval)"
    elif low > 1:
        order = f"{display_name(second)} later, as in the paper"
    elif high < 1:
        order = f"{display_name(second)} earlier, against the paper"
    else:
        order = "cannot tell which comes first (the ratio's interval contains 1)"
    return {"ratio": est, "low": low, "high": high, "paper_low": p_lo, "paper_high": p_hi, "order": order}


def inflection_order_table(readings: dict[tuple, WindowReading]) -> Table:
    """:func:`inflection_order` beside the paper's ratio."""
    o = inflection_order(readings)
    if o is None:
        return Table(["check", "paper", "ours"], [["order of the inflections", "VGG-16 ≈ 4–25× later",
                                                   "needs both networks"]])
    f = lambda x: "> grid" if x == math.inf else "?" if math.isnan(x) else f"{x:.2g}×"  # noqa: E731
    return Table(["check (reported, not a rule)", "paper", "ours [90%]", "reading"],
                 [["VGG-16's inflection over ResNet-20's, (1 + t) ratio",
                   f"≈ {o['paper_low']:.0f}–{o['paper_high']:.0f}×", f"{f(o['ratio'])} [{f(o['low'])}, {f(o['high'])}]",
                   o["order"]]])


def perturbation_table(results: dict[str, ChaosMapResult], entry: dict[str, ChaosMapResult]) -> Table:
    """Both readings of ε: the realised ‖θ′ − θ‖ (float32 rounds a tiny total norm away) and the share of entries
    changed, at every t0 (mean over seeds, range in brackets)."""
    rows = []
    for arch, res in results.items():
        for reading, r in (("total L2 norm", res), ("per entry", entry.get(arch))):
            if r is None:
                continue
            by_t0: dict[int, list] = {}
            for rec in r.records:
                by_t0.setdefault(rec["t0"], {})[rec["seed"]] = rec["perturbation"]
            for t0, seeds in sorted(by_t0.items()):
                norms = np.array([p["realised_norm"] for p in seeds.values()])
                shares = np.array([p["fraction_changed"] for p in seeds.values()])
                rows.append([display_name(arch), reading, f"{r.study.perturbation.size:g}", t0,
                             f"{norms.mean():.3g} [{norms.min():.3g}, {norms.max():.3g}]",
                             f"{shares.mean():.2%} [{shares.min():.2%}, {shares.max():.2%}]"])
    return Table(["network", "reading of ε", "ε", "t0", "realised ‖θ′ − θ‖ (seed range)",
                  "entries changed (seed range)"], rows)


def window_table(readings: dict[tuple, WindowReading], unrelated: dict[str, ChaosMapResult] | None = None) -> Table:
    """Every slice and metric: the value at t0 = 0 and at the last t0 with intervals, the rule's reference (twins on
    two data orders at t1 = Δ) and, where ``unrelated`` maps are given, independently initialised networks' level
    beside it, the inflection with its interval, each check's mark and the outcome."""
    rows = []
    for (arch, metric, delta), r in readings.items():
        lo, hi = r.band()
        inf = r.inflection
        ref_lo, ref_hi = r.reference_band()
        other = "–"
        if unrelated and arch in unrelated and metric in unrelated[arch].reference:
            u = unrelated[arch]
            values = u.reference[metric][:, list(u.study.t1s).index(int(r.t0s[0]) + delta)]
            other = f"{np.nanmean(values):.3g}" if np.isfinite(values).any() else "–"
        rows.append([display_name(arch), LABELS.get(metric, metric), delta,
                     f"{r.point[0]:.3g} [{lo[0]:.3g}, {hi[0]:.3g}]",
                     f"{r.point[-1]:.3g} [{lo[-1]:.3g}, {hi[-1]:.3g}] (t0 = {r.t0s[-1]})",
                     f"{r.reference:.3g} [{ref_lo:.3g}, {ref_hi:.3g}]", other,
                     f"{_t(inf['estimate'])} [{_t(inf['low'])}, {_t(inf['high'])}]",
                     " ".join(f"{c.mark}" for c in r.verdict.checks), str(r.verdict.outcome)])
    checks = " · ".join(c.value for c in WindowCheck)
    return Table(["network", "metric", "Δ", "t0 = 0 [90%]", "last t0 [90%]", "twins on two data orders at t1 = Δ "
                  "[90%] (the rule's reference)", "independent init at t1 = Δ (shown)", "inflection [90%]",
                  f"checks ({checks})", "outcome"], rows)


def entry_readings(entry: dict[str, ChaosMapResult], results: dict[str, ChaosMapResult]) -> dict[tuple, WindowReading]:
    """The per-entry reading of ε judged by the same rule on its slice, against the primary map's references."""
    return {(arch, PRIMARY_METRIC, r.study.horizon): window_reading(arch, r, PRIMARY_METRIC, r.study.horizon,
                                                                     references=results[arch])
            for arch, r in entry.items()}


def bn_init_readings(ablation: dict[str, ChaosMapResult], designs: dict[str, ProtocolDesign]
                     ) -> dict[tuple, WindowReading]:
    """The batch-norm initialisation ablation (:func:`bn_init_maps`) judged by the same rule on its slice, against
    its own reference pair and ε = 0 control."""
    return {(arch, PRIMARY_METRIC, min(designs[arch].chaos.deltas)):
            window_reading(arch, r, PRIMARY_METRIC, min(designs[arch].chaos.deltas)) for arch, r in ablation.items()}


def bn_init_table(readings: dict[tuple, WindowReading], ablation: dict[tuple, WindowReading]) -> Table:
    """Test disagreement on the first slice with batch-norm scales starting at γ = 1 (the primary runs) and at
    γ ~ U(0, 1) (open_lth's): t0 = 0, the last t0, the reference level, the inflection, each with its 90% interval,
    and the outcome."""
    rows = []
    for key, r_abl in ablation.items():
        for init, r in (("γ = 1 (primary)", readings.get(key)), ("γ ~ U(0, 1) (open_lth)", r_abl)):
            if r is None:
                continue
            lo, hi = r.band()
            inf = r.inflection
            rows.append([display_name(key[0]), init, key[2], len(r.per_seed),
                         f"{r.point[0]:.3g} [{lo[0]:.3g}, {hi[0]:.3g}]",
                         f"{r.point[-1]:.3g} [{lo[-1]:.3g}, {hi[-1]:.3g}] (t0 = {r.t0s[-1]})", f"{r.reference:.3g}",
                         f"{_t(inf['estimate'])} [{_t(inf['low'])}, {_t(inf['high'])}]", str(r.verdict.outcome)])
    return Table(["network", "batch-norm scales at initialisation", "Δ", "seeds", "t0 = 0 [90%]", "last t0 [90%]",
                  "twins on two data orders at t1 = Δ", "inflection [90%]", "outcome"], rows)


def readings_compared(results: dict[str, ChaosMapResult], entry: dict[str, ChaosMapResult]) -> Table:
    """Test disagreement on the first slice under both readings of ε, at the per-entry reading's t0."""
    rows = []
    for arch, r_entry in entry.items():
        delta = r_entry.study.horizon
        t0s, main = results[arch].window("disagreement", delta)
        e_t0s, e = r_entry.window("disagreement", delta)
        for j, t0 in enumerate(e_t0s):
            i = list(t0s).index(t0)
            rng = lambda v: f"{v.mean():.3f} [{v.min():.3f}, {v.max():.3f}]"  # noqa: E731
            rows.append([display_name(arch), delta, t0, rng(main[:, i]), rng(e[:, j])])
    return Table(["network", "Δ", "t0", "total L2 norm ε (seed range)", "per-entry ε (seed range)"], rows)


def extension_table(results: dict[str, ChaosMapResult], extension: dict[str, ChaosMapResult]) -> tuple[Table, dict]:
    """What the recipe's lr drops do to twins split before them: test disagreement at the recipe's end under the
    step schedule against the constant-lr twins at the same t1 (from the map), paired by seed, with a bootstrap
    interval of the difference over seeds.

    Returns:
        The table, and per network a dict from each t0 to (constant, step, low and high end of the difference's
        interval).
    """
    rows, found = [], {}
    for arch, ext in extension.items():
        res = results[arch]
        t1 = ext.study.t1s[-1]
        t1s = list(res.study.t1s)
        found[arch] = {}
        for j, t0 in enumerate(ext.study.t0s):
            step = ext.values["disagreement"][:, j, -1]
            if t1 not in t1s or t0 not in res.study.t0s or t1 not in res.study.t1s_after(int(t0)):
                rows.append([display_name(arch), int(t0), t1, "not on the map", f"{step.mean():.3f}", "–"])
                continue
            const = res.values["disagreement"][:, list(res.study.t0s).index(t0), t1s.index(t1)]
            lo, hi = t_interval(float((step - const).mean()), bootstrap_means((step - const)[:, None])[:, 0],
                                len(step))
            found[arch][int(t0)] = (float(const.mean()), float(step.mean()), lo, hi)
            rows.append([display_name(arch), int(t0), t1, f"{const.mean():.3f}", f"{step.mean():.3f}",
                         f"{step.mean() - const.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]"])
    return Table(["network", "t0", "t1 (the step schedule's end)", "test disagreement, constant lr",
                  "test disagreement, step schedule", "step − constant [90%]"], rows), found


def extension_outcome(found: dict) -> str:
    """The extension's own finding, in words: whether the drops shrink, grow or leave the twins' disagreement."""
    parts = []
    for arch, cells in found.items():
        for t0, (const, step, lo, hi) in cells.items():
            if not (math.isfinite(lo) and math.isfinite(hi)):
                word = "undetermined"
            elif hi < 0:
                word = "the drops shrink the twins' disagreement"
            elif lo > 0:
                word = "the drops grow the twins' disagreement"
            else:
                word = "no difference measurable"
            parts.append(f"{display_name(arch)}, t0 = {t0}: {word}")
    return "; ".join(parts)


#: The amplification the growth table converts a rate into an iteration count for (the CNNs' twins in chapter 1
#: grow from ‖ε‖ ≈ 1e-7 to distances of order 10, ×10⁸, which is what separates them).
GROWTH_TARGET = 1e8


def growth_table(results: dict[str, ChaosMapResult]) -> Table:
    """Per network (or task) and t0: the finite-time growth rate λ of the twins' distance (per iteration, the slope
    of log ‖θ′ − θ‖/‖ε‖ against t1 − t0) with its 90% t interval over seeds, the amplification reached at the
    longest lag, and the iterations a ×10⁸ amplification would take at that rate."""
    rows = []
    for name, res in results.items():
        g = growth(res)
        for i, t0 in enumerate(g.t0s):
            mean, lo, hi = g.rate_interval(i)
            if math.isnan(mean):
                continue
            amp = g.amplification[:, i]
            last = np.nanmax(np.where(np.isfinite(amp).any(0), g.t1s, np.nan))
            reached = amp[:, list(g.t1s).index(int(last))]
            needed = math.log(GROWTH_TARGET) / mean if mean > 0 else math.inf
            rows.append([display_name(name), int(t0), f"{mean:.3g} [{lo:.3g}, {hi:.3g}]",
                         f"×{np.nanmean(reached):.3g} at t1 − t0 = {int(last - t0)}",
                         "never (not growing)" if needed == math.inf else f"{needed:,.0f}"])
    return Table(["network", "t0", "growth rate λ per iteration [90%]", "amplification ‖θ′ − θ‖ / ‖ε‖ reached",
                  f"iterations to ×{GROWTH_TARGET:.0e} at that rate"], rows)


def growth_figure(results: dict[str, ChaosMapResult]) -> plt.Figure:
    """Per network (or task): the twins' amplification ‖θ′ − θ‖ / ‖ε‖ against t1 − t0 on a log axis, one line per
    t0 (seed mean; band: seed range): a straight line is a constant growth rate, its slope λ."""
    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.5), squeeze=False)
    for c, name in enumerate(names):
        ax, g = axes[0, c], growth(results[name])
        for i, t0 in enumerate(g.t0s):
            amp = g.amplification[:, i]
            keep = np.isfinite(amp).all(0)
            if not keep.any():
                continue
            lag = g.t1s[keep] - t0
            colour = plt.cm.viridis(i / max(1, len(g.t0s) - 1))
            ax.plot(lag, amp[:, keep].mean(0), marker="o", markersize=3, color=colour, label=f"t0 = {t0}")
            ax.fill_between(lag, amp[:, keep].min(0), amp[:, keep].max(0), color=colour, alpha=0.15, linewidth=0)
        ax.set_yscale("log")
        ax.axhline(1, color="k", linewidth=0.8)
        ax.set_xlabel("t1 − t0 (iterations)")
        ax.set_ylabel("‖θ′ − θ‖ / ‖ε‖")
        ax.set_title(f"{display_name(name)}: how far twins separate", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def map_figure(results: dict[str, ChaosMapResult], metrics=("disagreement", "dissimilarity", "test_loss_barrier",
                                                             "kernel_distance")) -> plt.Figure:
    """The (t0, t1) maps (the paper's Fig. 3): one row per network, one panel per metric; x is t1, y is t0, each
    cell the seed mean; blank cells lie outside the band, or off the slices for the barrier and eNTK distance."""
    archs = list(results)
    fig, axes = plt.subplots(len(archs), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(archs)),
                             squeeze=False)
    for r, arch in enumerate(archs):
        res = results[arch]
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            if metric not in res.values:
                ax.set_axis_off()
                continue
            with warnings.catch_warnings():  # cells outside the band are NaN for every seed
                warnings.simplefilter("ignore", RuntimeWarning)
                grid = np.nanmean(res.values[metric], 0) if np.isfinite(res.values[metric]).any() else None
            if grid is None:
                ax.set_axis_off()
                continue
            im = ax.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(len(res.study.t1s)), [str(t) for t in res.study.t1s], rotation=90, fontsize=7)
            ax.set_yticks(range(len(res.study.t0s)), [str(t) for t in res.study.t0s], fontsize=7)
            ax.set_xlabel("t1 (iterations)")
            ax.set_ylabel("t0 (iterations)")
            ax.set_title(f"{display_name(arch)}: {LABELS.get(metric, metric)}", fontsize=9)
            fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("Twins split at t0, compared at t1 (seed means; constant lr)")
    fig.tight_layout()
    return fig


def window_figure(readings: dict[tuple, WindowReading], metrics=WINDOW_METRICS) -> plt.Figure:
    """The fixed-window slices: one row per network, one panel per metric, a curve per Δ with its 90% t band, the
    reference level per Δ (dashed: twins on two data orders, the rule's), and the primary metric's inflection
    interval (grid points)."""
    archs = list(dict.fromkeys(a for a, _, _ in readings))
    fig, axes = plt.subplots(len(archs), len(metrics), figsize=(4.3 * len(metrics), 3.3 * len(archs)),
                             squeeze=False)
    for r, arch in enumerate(archs):
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            for k, ((a, m, delta), rd) in enumerate((key, v) for key, v in readings.items()
                                                     if key[0] == arch and key[1] == metric):
                color = f"C{k}"
                lo, hi = rd.band()
                ax.plot(rd.t0s, rd.point, marker="o", color=color, label=f"Δ = {delta}")
                ax.fill_between(rd.t0s, lo, hi, color=color, alpha=0.2, linewidth=0)
                ax.axhline(rd.reference, color=color, linestyle="--", linewidth=1,
                           label=f"{rd.reference_kind}, t1 = {delta}")
                inf = rd.inflection
                if metric == PRIMARY_METRIC and math.isfinite(inf["estimate"]):
                    ax.axvline(inf["estimate"], color=color, linestyle=":", linewidth=1.2)
                    if math.isfinite(inf["low"]):
                        ax.axvspan(inf["low"], min(inf["high"], rd.t0s[-1]), color=color, alpha=0.07)
            time_axis(ax)
            ax.set_ylabel(LABELS.get(metric, metric))
            ax.set_title(f"{display_name(arch)}: {LABELS.get(metric, metric)} at t1 = t0 + Δ", fontsize=9)
            if metric == "dissimilarity":
                ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Fixed windows: every twin gets Δ iterations to diverge (bands: 90% t intervals over seeds)")
    fig.tight_layout()
    return fig


def map_paper_table(designs: dict[str, ProtocolDesign], readings: dict[tuple, WindowReading]) -> Table:
    """The paper's approximate values (read off its Fig. 3, :mod:`twophase_book.paper`) beside ours, with the
    inflection in iterations and in epochs."""
    rows = []
    for arch in dict.fromkeys(a for a, _, _ in readings):
        d, p = designs[arch], protocol_design("paper", arch)
        lo, hi = PAPER_INFLECTION[arch]
        for (a, m, delta), r in readings.items():
            if a != arch or m != PRIMARY_METRIC:
                continue
            inf = r.inflection
            ep = lambda x: "> last t0" if x == math.inf else f"{x / d.epoch_steps:.2g}"  # noqa: E731
            rows.append([display_name(arch), delta, PAPER_MAP_TEXT[arch],
                         f"{r.point[0]:.3f} at t0 = 0 → {r.point[-1]:.3f} at t0 = {r.t0s[-1]}",
                         f"{lo:,}–{hi:,} it. ({lo / p.epoch_steps:.2g}–{hi / p.epoch_steps:.2g} epochs)",
                         f"{_t(inf['estimate'])} [{_t(inf['low'])}, {_t(inf['high'])}] it. "
                         f"({ep(inf['estimate'])} [{ep(inf['low'])}, {ep(inf['high'])}] epochs)"])
    return Table(["network", "Δ", "paper (approximate, read off Fig. 3, at fixed t1)",
                  "ours: test disagreement at t1 = t0 + Δ", "paper's inflection", "ours: inflection [90%]"], rows)


def map_summary(profile: str, readings: dict[tuple, WindowReading],
                extension_found: dict, entry_readings: dict[tuple, WindowReading] | None = None,
                bn_init: dict[tuple, WindowReading] | None = None) -> ClaimSummary:
    """Chapter 1's typed summary: per network the primary verdict (disagreement, every Δ), the other metrics,
    readings of ε and batch-norm initialisation as details, and the step schedule extension's finding."""
    per_net = network_verdicts(readings)
    cells, details = [], []
    for arch, outcome in per_net.items():
        numbers, parts, checks, judged = [], [], [], []
        for (a, m, delta), r in readings.items():
            if a != arch or m != PRIMARY_METRIC:
                continue
            inf = r.inflection
            lo, hi = r.band()
            numbers += [Number(f"disagreement, t0 = 0, Δ = {delta}", float(r.point[0]), float(lo[0]), float(hi[0])),
                        Number(f"disagreement, t0 = {r.t0s[-1]}, Δ = {delta}", float(r.point[-1]), float(lo[-1]),
                               float(hi[-1])),
                        Number(f"inflection, Δ = {delta}", inf["estimate"], inf["low"], inf["high"])]
            checks += check_numbers(r.verdict, f"Δ = {delta}: ")
            judged += recorded(r.verdict, f"Δ = {delta}: ")
            parts.append(f"Δ = {delta}: {r.verdict.outcome} ({decided_by(r.verdict)}), {r.point[0]:.2f} → "
                         f"{r.point[-1]:.2f}, inflection {numbers[-1].text()}")
        cells.append(Cell(display_name(arch), PRIMARY, str(outcome), "; ".join(parts), numbers + checks, judged))
        others = [f"{LABELS.get(m, m)} Δ = {delta}: {r.verdict.outcome}" for (a, m, delta), r in readings.items()
                  if a == arch and m != PRIMARY_METRIC]
        details.append(f"{display_name(arch)}, other metrics: " + "; ".join(others))
        if extension_found.get(arch):
            cells.append(Cell(display_name(arch), "step schedule (extension)", "measured",
                              extension_outcome({arch: extension_found[arch]}),
                              [Number(f"step − constant, t0 = {t0}", s - c, lo2, hi2)
                               for t0, (c, s, lo2, hi2) in extension_found[arch].items()]))
    for (arch, m, delta), r in (entry_readings or {}).items():
        details.append(f"{display_name(arch)}, per-entry ε, Δ = {delta}: {r.verdict.outcome} "
                       f"({r.point[0]:.2f} → {r.point[-1]:.2f})")
    for (arch, m, delta), r in (bn_init or {}).items():
        details.append(f"{display_name(arch)}, batch-norm scales γ ~ U(0, 1), Δ = {delta}: {r.verdict.outcome} "
                       f"({r.point[0]:.2f} → {r.point[-1]:.2f}, inflection {_t(r.inflection['estimate'])})")
    order = inflection_order(readings)
    if order is not None:
        f = lambda x: "> grid" if x == math.inf else "?" if math.isnan(x) else f"{x:.2g}"  # noqa: E731
        details.append(f"inflections' order (reported, not a rule): VGG-16 / ResNet-20 = {f(order['ratio'])} "
                       f"[{f(order['low'])}, {f(order['high'])}] against the paper's ≈ {order['paper_low']:.0f}–"
                       f"{order['paper_high']:.0f}: {order['order']}")
    verdict = combine(list(per_net.values()))
    return ClaimSummary("chaos", profile, str(verdict), cells, details)


def transition_note(readings: dict[tuple, WindowReading]) -> Note:
    """Where the transition is on each network and window, how far the grid looked, and where the metrics disagree
    (twins that split their predictions yet sit in one basin by the loss barrier, or the reverse)."""
    lines = []
    for arch in dict.fromkeys(a for a, _, _ in readings):
        parts = []
        for (a, m, delta), r in readings.items():
            if a != arch or m != PRIMARY_METRIC:
                continue
            inf, last = r.inflection, int(r.t0s[-1])
            if inf["estimate"] == math.inf or not math.isfinite(inf["estimate"]):
                parts.append(f"on Δ = {delta} the disagreement never halves up to t0 = {last} (t1 = {last + delta})")
            else:
                parts.append(f"on Δ = {delta} it halves by t0 ≈ {fmt(inf['estimate'])} (90% interval "
                             f"{_t(inf['low'])} to {_t(inf['high'])}; the grid looked to t0 = {last})")
        early = {m: r.verdict.checks[1].passed for (a, m, d), r in readings.items() if a == arch and d == min(
            d2 for (a2, _, d2) in readings if a2 == arch)}
        split = [LABELS.get(m, m) for m, ok in early.items() if ok]
        same = [LABELS.get(m, m) for m, ok in early.items() if not ok]
        where = ""
        if split and same:
            where = (f" At t0 = 0 on the shortest window the twins are at least half as far apart as twins on two "
                     f"data orders by {' and '.join(split)}, but not by {' or '.join(same)}: the metrics disagree.")
        lines.append(f"**{display_name(arch)}**: " + "; ".join(parts) + "." + where)
    return Note("\n\n".join(lines))
