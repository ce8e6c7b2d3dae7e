"""The chaos claim (chapter 1): its sweeps from a design, its rule applied, its tables, summary and figures."""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.chaos import REFERENCES, ChaosResult, ChaosSweep, inflection_range
from twophase_lib.perturbation import Perturbation
from twophase_lib.plotting import LABELS, band, mark_lr_drops, time_axis
from twophase_lib.verdicts import chaos_verdict, combine, late_t0

from .paper import FRANKLE_STABILITY, PAPER_INFLECTION
from .profiles import ARCHS, EPSILON_ARCH, SCHEDULE_NAMES, SCHEDULES, Design, chapter_designs, design
from .render import Note, Table, fmt, fmt_range


def sweep_from_design(d: Design, schedule: str, *, references: bool = True) -> ChaosSweep:
    """Chapter 1's main sweep of a design under a schedule ("step" or "constant")."""
    return ChaosSweep(d.schedule(schedule), d.t0s, d.t1, Perturbation(d.epsilon), d.seeds, d.control_t0, d.barrier,
                      d.kernel_inputs, reference_seeds=d.reference_seeds if references else (), via=(d.first_drop,),
                      parent_steps=d.parent_steps())


def epsilon_sweeps(d: Design) -> dict[float, ChaosSweep]:
    """The ε sweep of a design: total-norm perturbations of several sizes at a few t0, first seed, step schedule."""
    return {size: ChaosSweep(d.run, d.eps_t0s, d.t1, Perturbation(size), d.seeds[:1], None, d.barrier,
                             via=(d.first_drop,)) for size in d.eps_sizes}


def design_sweeps(designs: dict[str, Design]) -> dict:
    """Chapter 1's sweeps of ``designs`` (architectures, or chapter 4's tasks) under both schedules, keyed by
    (name, schedule)."""
    return {(name, sch): sweep_from_design(d, sch) for name, d in designs.items() for sch in SCHEDULES}


def chapter_sweeps(profile: str, designs: dict | None = None) -> dict:
    """Chapter 1's sweeps at a profile (or for ``designs``, see :func:`twophase_book.profiles.chapter_designs`):
    every architecture under both schedules, keyed by (arch, schedule)."""
    return design_sweeps(designs or chapter_designs(profile))


def chapter_epsilon_sweeps(profile: str, arch: str = EPSILON_ARCH, designs: dict | None = None) -> dict:
    """Chapter 1's ε sweep at a profile, keyed by ε (empty when ``designs`` leave ``arch`` out; by default
    :data:`twophase_book.profiles.EPSILON_ARCH`)."""
    designs = designs or chapter_designs(profile, archs=(arch,))
    return epsilon_sweeps(designs[arch]) if arch in designs else {}


def chaos_inflections(results: dict) -> dict:
    """The inflection (mean curve halves) and the seeds' range for every sweep of a result dict."""
    return {k: inflection_range(r.t0s, r.values["disagreement"]) for k, r in results.items()}


def chaos_verdicts(results: dict, inflections: dict, as_first_written: bool = False) -> dict:
    """Chapter 1's verdict for every (arch, schedule) sweep; ``as_first_written`` judges stability at the last t0."""
    out = {}
    for key, res in results.items():
        out[key] = chaos_verdict(res.t0s, res.values["disagreement"], res.reference("independent init", "disagreement"),
                                 res.control_is_exact, _first_drop(res), inflections[key]["estimate"],
                                 judge_t0=int(res.t0s[-1]) if as_first_written else None)
    return out


def _first_drop(res: ChaosResult) -> int:
    """The step schedule's first drop (a constant-lr sweep keeps it as the step ``via`` it shares with the step
    schedule)."""
    return min(res.sweep.via) if res.sweep.via else res.sweep.run.optim.first_drop


def _label(key) -> str:
    arch, schedule = key
    return f"{arch}, {SCHEDULE_NAMES[schedule]}"


def chaos_table(results: dict, inflections: dict) -> Table:
    """Per sweep: each metric at the first and last t0 next to the two reference levels, inflection, control."""
    rows = []
    for key, res in results.items():
        for metric in ("disagreement", "test_loss_barrier", "dissimilarity", "kernel_distance"):
            if metric not in res.values:
                continue
            m = res.mean(metric)
            refs = [fmt(res.reference(kind, metric)) for kind in REFERENCES]
            rows.append([_label(key), metric.replace("_", " "), fmt(m[0]), fmt(m[-1]), *refs])
        rows.append([_label(key), "inflection [seed range]", fmt_range(inflections[key]), "", "", "", ""])
        rows.append([_label(key), "ε = 0 control exact", "yes" if res.control_is_exact else "NO", "", "", "", ""])
    t0s = next(iter(results.values())).t0s
    return Table(
        ["sweep", "metric at t1", f"t0 = {t0s[0]}", f"t0 = {t0s[-1]}", *[f"unrelated: {k}" for k in REFERENCES]],
        rows,
        caption="seed means at t1; unrelated pairs: " + "; ".join(f"{k} = {v}" for k, v in REFERENCES.items()),
    )


def other_metrics_table(results: dict) -> Table:
    """The metrics the figure leaves out, seed means at the first and last t0."""
    metrics = ("train_loss_barrier", "test_error_barrier", "train_error_barrier", "relative_distance")
    rows = [[_label(k), *[f"{r.mean(m)[0]:.3g} → {r.mean(m)[-1]:.3g}" for m in metrics]] for k, r in results.items()]
    return Table(
        ["sweep", "train loss barrier", "test error barrier", "train error barrier", "‖θ − θ′‖ / ‖θ‖"],
        rows,
        caption="seed means, first t0 → last t0",
    )


def inflection_scales_table(profile: str, inflections: dict) -> Table:
    """Each inflection in iterations, epochs, fraction of training and of the time before the first drop, with the
    paper's."""
    rows = []
    for arch in ARCHS:
        p = design("paper", arch)
        lo, hi = PAPER_INFLECTION[arch]
        span = lambda a, b, f: f"{f(a)}" if a == b else f"{f(a)}–{f(b)}"  # noqa: E731
        rows.append(
            [
                f"{arch}, paper",
                span(lo, hi, lambda x: f"{x:,}"),
                span(lo, hi, lambda x: f"{x / p.epoch_steps:.2g}"),
                span(lo, hi, lambda x: f"{x / p.t1:.1%}"),
                span(lo, hi, lambda x: f"{x / p.first_drop:.1%}"),
            ]
        )
        rows.append(
            [
                f"{arch}, Frankle et al. (stability to SGD noise)",
                f"{FRANKLE_STABILITY[arch]:,}",
                f"{FRANKLE_STABILITY[arch] / p.epoch_steps:.2g}",
                f"{FRANKLE_STABILITY[arch] / p.t1:.1%}",
                f"{FRANKLE_STABILITY[arch] / p.first_drop:.1%}",
            ]
        )
        d = design(profile, arch)
        for schedule in SCHEDULE_NAMES:
            inf = inflections.get((arch, schedule))
            if inf is None:
                continue
            undefined = (
                f" ({inf['undefined_seeds']} of {inf['seeds']} seeds never halve)" if inf.get("undefined_seeds") else ""
            )

            def scale(f, inf=inf, undefined=undefined):
                return " ".join([fmt(f(inf["estimate"])), f"[{fmt(f(inf['low']))}, {fmt(f(inf['high']))}]"]) + undefined

            rows.append(
                [
                    f"{arch}, ours ({profile}, {SCHEDULE_NAMES[schedule]})",
                    scale(lambda x: x),
                    scale(lambda x: x / d.epoch_steps),
                    scale(lambda x: 100 * x / d.t1) + " %",
                    scale(lambda x: 100 * x / d.first_drop) + " %",
                ]
            )
    return Table(["where", "iterations", "epochs", "of training", "of the time before the first lr drop"], rows)


def schedule_note(results: dict) -> Note:
    """What the lr drops do, per network: disagreement at the late and the last t0 relative to t0 = 0, both
    schedules."""
    lines = []
    for arch in ARCHS:
        step, const = results.get((arch, "step")), results.get((arch, "constant"))
        if step is None or const is None:
            continue
        late = late_t0(step.t0s, _first_drop(step))
        j = int(np.where(step.t0s == late)[0][0])
        share = lambda r, i: r.mean("disagreement")[i] / r.mean("disagreement")[0]  # noqa: E731
        lines.append(
            f"- **{arch}**: twins split at t0 = {late} disagree at t1 {share(step, j):.0%} as much as twins "
            f"split at t0 = 0 under the step schedule and {share(const, j):.0%} under a constant lr; split at "
            f"t0 = {int(step.t0s[-1])}, {share(step, -1):.0%} and {share(const, -1):.0%}. Unrelated networks "
            f"(independent initialisations) disagree {step.reference('independent init', 'disagreement'):.3f} "
            f"and {const.reference('independent init', 'disagreement'):.3f}."
        )
    return Note("\n".join(lines))


def _distance_to_range(x: float, lo: float, hi: float) -> float:
    """How many times x lies outside [lo, hi] (1 when inside; > 1 above or below)."""
    return 1.0 if lo <= x <= hi else (lo / x if x < lo else x / hi)


def scales_note(profile: str, inflections: dict, schedule: str = "step") -> Note:
    """On which scale (iterations or epochs) each of our inflections comes closest to the paper's, computed."""
    lines = []
    for arch in ARCHS:
        inf = inflections.get((arch, schedule))
        if inf is None or not math.isfinite(inf["estimate"]) or inf["estimate"] <= 0:
            lines.append(f"- **{arch}**: no inflection under the {SCHEDULE_NAMES[schedule]}.")
            continue
        d, p = design(profile, arch), design("paper", arch)
        lo, hi = PAPER_INFLECTION[arch]
        parts = []
        for name, ours, (a, b) in (
            ("iterations", inf["estimate"], (lo, hi)),
            ("epochs", inf["estimate"] / d.epoch_steps, (lo / p.epoch_steps, hi / p.epoch_steps)),
        ):
            k = _distance_to_range(ours, a, b)
            where = (
                "inside the paper's range"
                if k == 1
                else f"{k:.2g}× {'below' if ours < a else 'above'} the paper's range"
            )
            parts.append((k, name, f"{ours:.3g} {name} ({where})"))
        closest = min(parts)[1]
        lines.append(
            f"- **{arch}** ({SCHEDULE_NAMES[schedule]}): "
            + "; ".join(text for *_, text in parts)
            + f". Closer on the {closest} scale."
        )
    return Note("\n".join(lines))


def ordering_note(inflections: dict, schedule: str = "step") -> str:
    """Whether ResNet-20's transition comes before VGG-16's, as in the paper, with the seed ranges."""
    r, v = inflections.get(("resnet20", schedule)), inflections.get(("vgg16", schedule))
    if r is None or v is None or not (math.isfinite(r["estimate"]) and math.isfinite(v["estimate"])):
        return f"Ordering ({SCHEDULE_NAMES[schedule]}): undefined (an inflection is missing)."
    same = r["estimate"] < v["estimate"]
    apart = r["high"] < v["low"] or v["high"] < r["low"]
    ranges = "do not overlap" if apart else f"overlap, so {r['seeds']} seeds do not resolve the order"
    return (
        f"Ordering ({SCHEDULE_NAMES[schedule]}): ResNet-20 {fmt_range(r)} against VGG-16 {fmt_range(v)} — "
        f"{'the same order as' if same else 'the reverse of'} the paper's (ResNet-20 first); the seed ranges "
        f"{ranges}."
    )


def epsilon_table(eps_results: dict, main: ChaosResult) -> tuple[Table, dict]:
    """Disagreement at t1 against t0 for each ε (the main sweep's first seed gives ε = 1e-7), with the realised norm."""
    seed = main.sweep.seeds[0]
    t0s = sorted(next(iter(eps_results.values())).sweep.t0s)
    records = {size: [r for r in res.records if r["seed"] == seed] for size, res in eps_results.items()}
    records[main.sweep.perturbation.size] = [r for r in main.records if r["seed"] == seed and r["t0"] in t0s]
    rows, curves = [], {}
    for size in sorted(records):
        by = {r["t0"]: r for r in records[size]}
        curves[size] = (np.array(t0s), np.array([by[t]["disagreement"] for t in t0s]))
        rep = by[t0s[0]]["perturbation"]
        rows.append(
            [
                f"{size:g}",
                f"{rep['realised_norm']:.2e}",
                f"{rep['fraction_changed']:.1%}",
                *[f"{by[t]['disagreement']:.3f}" for t in t0s],
            ]
        )
    return Table(
        ["ε (total norm)", "realised ‖θ′ − θ‖", "entries changed", *[f"disagreement, t0 = {t}" for t in t0s]],
        rows,
        caption=f"seed {seed}, {SCHEDULE_NAMES['step']}",
    ), curves


def chaos_summary(
    profile: str,
    results: dict,
    inflections: dict,
    verdicts: dict,
    eps: dict | None = None,
    first_written: dict | None = None,
) -> dict:
    """Chapter 1's results as a JSON-able dict for the scorecard (stored under the profile's design)."""
    per = {}
    for key, res in results.items():
        d = res.mean("disagreement")
        per["/".join(key)] = {
            "t0s": res.t0s.tolist(),
            "disagreement_mean": d.tolist(),
            "late_t0": late_t0(res.t0s, _first_drop(res)),
            "disagreement_range": np.stack(
                [res.values["disagreement"].min(0), res.values["disagreement"].max(0)], 1
            ).tolist(),
            "reference_independent_init": res.reference("independent init", "disagreement"),
            "reference_data_order": res.reference("data order", "disagreement"),
            "inflection": inflections[key],
            "control_exact": res.control_is_exact,
            "verdict": str(verdicts[key].outcome),
            "checks": verdicts[key].explain(),
        }
    step = [verdicts[(a, "step")].outcome for a in ARCHS if (a, "step") in verdicts]
    const = [verdicts[(a, "constant")].outcome for a in ARCHS if (a, "constant") in verdicts]
    mismatches = [ordering_note(inflections, "step")]
    for arch in ARCHS:
        inf = inflections.get((arch, "step"))
        if inf is not None and math.isfinite(inf["estimate"]):
            d = design(profile, arch)
            p = design("paper", arch)
            lo, hi = PAPER_INFLECTION[arch]
            mismatches.append(
                f"{arch} position: {inf['estimate'] / d.first_drop:.1%} of the time before the first "
                f"drop ({inf['estimate'] / d.epoch_steps:.2g} epochs); paper "
                f"{lo / p.first_drop:.1%}"
                + ("" if lo == hi else f"–{hi / p.first_drop:.1%}")
                + f" ({lo / p.epoch_steps:.2g}"
                + ("" if lo == hi else f"–{hi / p.epoch_steps:.2g}")
                + " epochs)"
            )
    if first_written:
        mismatches.append(
            "judged at the last t0, as the rule was first written: "
            + "; ".join(f"{_label(k)} {v.outcome}" for k, v in first_written.items())
        )
    return {
        "profile": profile,
        "sweeps": per,
        "verdict": str(combine(step + const)),
        "step": str(combine(step)) if step else None,
        "constant": str(combine(const)) if const else None,
        "mismatches": mismatches,
        "epsilon": eps or {},
    }


REFERENCE_STYLE = {"independent init": ("k", "--"), "data order": ("C7", "-.")}


def chaos_figure(
    results: dict,
    metrics: Sequence[str],
    inflections: dict | None = None,
    title: str = "Chaos effect: twins perturbed at t0, compared at t1",
) -> plt.Figure:
    """One row per sweep, one column per metric: seed mean and range, ε = 0 control, reference levels, inflection."""
    keys = list(results)
    fig, axes = plt.subplots(len(keys), len(metrics), figsize=(4.1 * len(metrics), 3.2 * len(keys)), squeeze=False)
    for r, key in enumerate(keys):
        res = results[key]
        name = ", ".join(key) if isinstance(key, tuple) else str(key)
        for c, metric in enumerate(metrics):
            ax = axes[r, c]
            band(ax, res.t0s, res.values[metric], f"ε = {res.sweep.perturbation.size:g}")
            if res.control:
                ax.scatter(
                    [rec["t0"] for rec in res.control],
                    [rec[metric] for rec in res.control],
                    marker="x",
                    color="k",
                    zorder=5,
                    label="ε = 0 control",
                )
            for kind, (color, style) in REFERENCE_STYLE.items():
                level = res.reference(kind, metric)
                if math.isfinite(level):
                    ax.axhline(level, color=color, linestyle=style, linewidth=1, label=f"reference: {kind}")
            inf = (inflections or {}).get(key)
            if inf and math.isfinite(inf["estimate"]):
                ax.axvline(inf["estimate"], color="C3", linestyle="--", label="inflection (seed range shaded)")
                if math.isfinite(inf["low"]):
                    ax.axvspan(inf["low"], inf["high"], color="C3", alpha=0.1)
            mark_lr_drops(ax, res.sweep.run.optim.milestones)
            time_axis(ax)
            ax.set_ylabel(LABELS.get(metric, metric))
            ax.set_title(f"{name}: {LABELS.get(metric, metric)}", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def epsilon_figure(curves: dict, title: str) -> plt.Figure:
    """Disagreement at t1 against t0 for each perturbation size (one seed)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (size, (t0s, d)) in enumerate(sorted(curves.items())):
        ax.plot(t0s, d, marker="os^dv"[i % 5], label=f"‖ε‖ = {size:g}")
    time_axis(ax)
    ax.set_ylabel(LABELS["disagreement"])
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
