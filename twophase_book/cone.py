"""The cone claim (chapter 2): its studies from a design, its rule applied, its tables, summary and figures."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.cone import ConeResult, ConeStudy, LagReading, lag_reading
from twophase_lib.plotting import mark_inflection
from twophase_lib.verdicts import LagCheck, combine

from .paper import PAPER_CONE, PAPER_CONE_LAGS
from .profiles import ProtocolDesign, display_name
from .render import Note, Table, fmt
from .summary import PRIMARY, Cell, ClaimSummary, Number, check_numbers, decided_by, recorded


def _edges(steps: np.ndarray) -> np.ndarray:
    """Cell edges around unequally spaced checkpoints (midpoints), so a heatmap keeps the time axis true."""
    mid = (steps[1:] + steps[:-1]) / 2
    return np.concatenate([[steps[0] - (mid[0] - steps[0])], mid, [steps[-1] + (steps[-1] - mid[-1])]])


# ------------------------------------------------------------------- the paper's protocol (issue 21): lag curves


def lag_studies(designs: dict[str, ProtocolDesign]) -> dict[str, ConeStudy]:
    """Chapter 2's primary studies: the eNTK on the first training inputs at every checkpoint of the constant-lr
    runs (chapter 1's parents), and the kernels of independently initialised networks at the same steps."""
    return {arch: ConeStudy(d.run, d.cone.steps, d.cone.taus, d.chaos.seeds, d.cone.inputs, split="train",
                            reference_seeds=d.cone.reference_seeds, reference_steps=d.cone.reference_steps)
            for arch, d in designs.items()}


def check_input_studies(designs: dict[str, ProtocolDesign]) -> dict[str, ConeStudy]:
    """The check on test inputs: the first seed's late lag curve (the checkpoints t and t + Δ of the last lag curve),
    on as many test images as the training inputs."""
    out = {}
    for arch, d in designs.items():
        t = max(d.cone.lag_ts)
        out[arch] = ConeStudy(d.run, (t, *(t + lag for lag in d.cone.lags)), (t,), d.chaos.seeds[:1], d.cone.inputs,
                              split="test")
    return out


def lag_readings(results: dict[str, ConeResult], designs: dict[str, ProtocolDesign]) -> dict[str, LagReading]:
    """Every network's :class:`twophase_lib.cone.LagReading`."""
    return {arch: lag_reading(arch, res, designs[arch].cone.lag_ts, designs[arch].cone.lags)
            for arch, res in results.items()}


def lag_table(readings: dict[str, LagReading]) -> Table:
    """Per network and t: S(t, t + Δ) for every Δ (seed mean [range]), beside the distance travelled from
    initialisation S(0, t) at the late t (what *narrow* reads the floor against) and the calibration (shown)."""
    rows = []
    for arch, r in readings.items():
        for t, c in r.curves.items():
            late = t == r.late
            d = r.travelled_per_seed
            rows.append([display_name(arch), t, *(f"{c[:, j].mean():.3g} [{c[:, j].min():.3g}, {c[:, j].max():.3g}]"
                                               for j in range(len(r.lags))),
                         f"{d.mean():.3g} [{d.min():.3g}, {d.max():.3g}]" if late else "",
                         f"{r.calibration:.3g}" if late else ""])
    first = next(iter(readings.values()))
    return Table(["network", "t", *(f"S(t, t + {d}) (seed range)" for d in first.lags),
                  "S(0, t), travelled from initialisation (seed range)", "independent init at t (shown)"], rows)


def lag_verdict_table(readings: dict[str, LagReading], inflections: dict[str, dict]) -> Table:
    """Per network: each check with its margin and interval, the block boundary beside chapter 1's inflection, and
    the outcome."""
    rows = []
    for arch, r in readings.items():
        inf = inflections.get(arch, {})
        lo, hi = r.boundary_interval
        rows.append([display_name(arch), *(f"{c.mark} {c.margin:+.3g} [{c.interval[0]:+.3g}, {c.interval[1]:+.3g}]"
                                         if c.margin is not None else c.mark for c in r.verdict.checks),
                     f"{r.boundary[0]} [{lo:g}, {hi:g}]", _inflection_text(inf), str(r.verdict.outcome)])
    return Table(["network", *(c.value + ("" if c in DECIDING else " (descriptive)") for c in LagCheck),
                  "block boundary [90%]", "chaos inflection (ch. 1)", "outcome"], rows)


#: The checks the lag rule decides by; the others are reported.
DECIDING = (LagCheck.SLOWS_DOWN, LagCheck.FLAT_AT_LONG_LAGS, LagCheck.NARROW)


def _inflection_text(inf: dict) -> str:
    if not inf:
        return "–"

    def f(x: float) -> str:
        return "> last t0" if x == math.inf else "?" if math.isnan(x) else fmt(x)

    return f"{f(inf['estimate'])} [{f(inf['low'])}, {f(inf['high'])}]"


def tau_table(results: dict[str, ConeResult]) -> Table:
    """S(τ, t) at the end of the window from every τ (the paper's Fig. 5a), beside the paper's levels."""
    rows = []
    for arch, res in results.items():
        steps = list(res.study.steps)
        for tau in res.study.refs:
            v = res.matrices[:, steps.index(tau), -1]
            paper = PAPER_CONE[arch]["tau0"] if tau == 0 else PAPER_CONE[arch]["late_tau"]
            rows.append([display_name(arch), tau, steps[-1], f"{v.mean():.3g} [{v.min():.3g}, {v.max():.3g}]", paper])
    return Table(["network", "τ", "t", "S(τ, t) (seed range)", "paper (approximate; τ = 0, or τ ∈ {2k, …, 8k})"],
                 rows)


def levels_note(readings: dict[str, LagReading]) -> Note:
    """How our kernels' distances compare, per network: S(0, t) travelled against the distance between unrelated
    networks' kernels at the same t (the calibration) and against the paper's S(0, t), and the late floor against
    the paper's floor (:data:`twophase_book.paper.PAPER_CONE_LAGS`, approximate values read off its Fig. 5)."""
    lines = []
    for arch, r in readings.items():
        paper = PAPER_CONE_LAGS.get(arch)
        floor = float(r.curves[r.late][:, -1].mean())
        closer = r.calibration < r.travelled
        text = (f"* **{display_name(arch)}**: the kernel travelled S(0, {r.late}) = {r.travelled:.3g} from "
                f"initialisation, {'farther than' if closer else 'less far than'} the kernels of two unrelated "
                f"networks lie apart at that step ({r.calibration:.3g})"
                + (": by then a network's kernel is more like another network's than like its own "
                   "initial one" if closer else ""))
        if paper:
            text += (f". The paper's S(0, t) is ≈ {paper['travelled']:g}, {r.travelled / paper['travelled']:.1f}× "
                     f"less, its floor ≈ {paper['late'][-1]:g} against our {floor:.3g} "
                     f"({floor / paper['late'][-1]:.0f}× less)")
        lines.append(text + ".")
    return Note("\n".join(lines) + "\n\nOur narrow networks' kernels move several times farther than the "
                "paper's in both respects, before any late phase; whether that is the paper's or our scale is "
                "chapter 7's question (its predictions: both distances fall as 1/width).")


def check_input_table(train: dict[str, ConeResult], test: dict[str, ConeResult],
                     designs: dict[str, ProtocolDesign]) -> Table:
    """The check on test inputs: the first seed's late lag curve S(t, t + Δ) on training and on test inputs."""
    rows = []
    for arch, tr in train.items():
        if arch not in test:
            continue
        lags = designs[arch].cone.lags
        t = max(designs[arch].cone.lag_ts)
        a, b = tr.lag_curve(t, lags)[0], test[arch].lag_curve(t, lags)[0]
        rows += [[display_name(arch), t, lag, f"{x:.3g}", f"{y:.3g}"] for lag, x, y in zip(lags, a, b)]
    return Table(["network", "t", "Δ", "S(t, t + Δ), training inputs (first seed)",
                  "S(t, t + Δ), test inputs (first seed)"], rows)


def lag_figure(results: dict[str, ConeResult], readings: dict[str, LagReading],
               inflections: dict[str, dict] | None = None) -> plt.Figure:
    """Per network: the within-run S matrix at constant lr with its block boundary (Fig. 4), S(τ, t) from every τ
    (Fig. 5a), and the lag curves S(t, t + Δ) against Δ for every t with the calibration (Fig. 5b)."""
    archs = list(results)
    fig, axes = plt.subplots(len(archs), 3, figsize=(16, 4.4 * len(archs)), squeeze=False)
    for r, arch in enumerate(archs):
        res, rd = results[arch], readings[arch]
        steps = np.array(res.study.steps, dtype=float)
        inf = (inflections or {}).get(arch)
        ax = axes[r, 0]
        e = _edges(steps)
        im = ax.pcolormesh(e, e, res.matrices.mean(0), cmap="viridis", shading="flat")
        ax.axvline(rd.boundary[0], color="w", linestyle="--", linewidth=1)
        ax.axhline(rd.boundary[0], color="w", linestyle="--", linewidth=1, label="block boundary")
        if inf and math.isfinite(inf["estimate"]):
            ax.axvline(inf["estimate"], color="C3", linestyle=":", linewidth=1.2, label="chaos inflection (ch. 1)")
        ax.set_xlabel("checkpoint t′ (iterations)")
        ax.set_ylabel("checkpoint t (iterations)")
        ax.set_title(f"{display_name(arch)}: S(t, t′), constant lr, training inputs", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.colorbar(im, ax=ax, fraction=0.046)
        ax = axes[r, 1]
        for i, tau in enumerate(res.study.refs):
            t, s_ = res.from_reference(tau)
            ax.plot(t, s_.mean(0), marker="o", markersize=3, color=f"C{i}", label=f"τ = {tau}")
            ax.fill_between(t, s_.min(0), s_.max(0), color=f"C{i}", alpha=0.15, linewidth=0)
        if res.reference is not None:
            measured = np.isfinite(res.reference).all(0)  # the calibration's checkpoints
            ax.plot(steps[measured], res.reference[:, measured].mean(0), color="k", linestyle="--", linewidth=1,
                    marker=".", label="independently initialised networks")
        mark_inflection(ax, inf)
        ax.set_xlabel("iteration t")
        ax.set_ylabel("S(τ, t)")
        ax.set_title(f"{display_name(arch)}: distance from reference checkpoints τ (Fig. 5a)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax = axes[r, 2]
        for i, (t, c) in enumerate(rd.curves.items()):
            ax.plot(rd.lags, c.mean(0), marker="o", color=plt.cm.viridis(i / max(1, len(rd.curves) - 1)),
                    label=f"t = {t}")
            ax.fill_between(rd.lags, c.min(0), c.max(0), color=plt.cm.viridis(i / max(1, len(rd.curves) - 1)),
                            alpha=0.12, linewidth=0)
        walk = rd.curves[rd.late].mean(0)[0] * rd.lags / rd.lags[0]
        ax.plot(rd.lags, walk, color="gray", linestyle=":", label=f"a random walk from t = {rd.late} (S ∝ Δ)")
        ax.axhline(rd.travelled, color="C3", linestyle="-.", linewidth=1.2,
                   label=f"S(0, {rd.late}): travelled from initialisation")
        ax.axhline(rd.travelled / 2, color="C3", linestyle=":", linewidth=1, label="half of it (narrow's bound)")
        ax.axhline(rd.calibration, color="k", linestyle="--", linewidth=1, label="independent init (shown)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("lag Δ (iterations)")
        ax.set_ylabel("S(t, t + Δ)")
        ax.set_title(f"{display_name(arch)}: lag curves (Fig. 5b)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def lag_summary(profile: str, readings: dict[str, LagReading], inflections: dict[str, dict]) -> ClaimSummary:
    """Chapter 2's typed summary: per network, the lag rule's outcome, the late floor against the distance travelled
    from initialisation S(0, t) (and the calibration, shown), and the block boundary beside chapter 1's
    inflection."""
    cells, details = [], []
    for arch, r in readings.items():
        late = r.curves[r.late]
        floor = late[:, -1]
        lo, hi = r.boundary_interval
        inf = inflections.get(arch, {})
        d = r.travelled_per_seed
        narrow = next(c for c in r.verdict.checks if c.id is LagCheck.NARROW)
        numbers = [Number(f"S(t = {r.late}, t + {r.lags[-1]})", float(floor.mean()), float(floor.min()),
                          float(floor.max())),
                   Number(f"S(0, {r.late}), travelled", float(d.mean()), float(d.min()), float(d.max())),
                   Number("narrow: ½ S(0, t) − floor [90%]", float(narrow.margin), *map(float, narrow.interval)),
                   Number("S between independent networks", r.calibration, float(r.calibration_per_seed.min()),
                          float(r.calibration_per_seed.max())),
                   Number("block boundary (iterations)", float(r.boundary[0]), lo, hi), *check_numbers(r.verdict)]
        cells.append(Cell(display_name(arch), PRIMARY, str(r.verdict.outcome),
                          f"late floor {floor.mean():.3g} (seed range {floor.min():.3g}–{floor.max():.3g}) against "
                          f"S(0, {r.late}) = {d.mean():.3g} travelled ({floor.mean() / d.mean():.2f} of it; "
                          f"{r.calibration:.2g} between unrelated networks, shown); decided by "
                          f"{decided_by(r.verdict)}; block boundary {numbers[4].text()} (chaos inflection "
                          f"{_inflection_text(inf)})", numbers, recorded(r.verdict)))
        details.append(f"{display_name(arch)}: " + "; ".join(
            f"{c.mark} {c.name}{'' if c.deciding else ' (descriptive)'}" for c in r.verdict.checks))
    verdict = combine([c.outcome for c in cells])
    return ClaimSummary("cone", profile, str(verdict), cells, details)
