"""Tables, verdict texts and the book's generated pages, computed from results (never from a training run).

Every number the book prints comes from here or from a figure; the rules that turn numbers into
verdicts live in :mod:`twophase_lib.verdicts`. Chapter summaries are cached under the full design
of their profile (:func:`twophase_lib.presets.profile_summary_key`), so a changed preset never
feeds stale results to another chapter or to the scorecard.
"""

from __future__ import annotations

import html
import math

import numpy as np

from .cache import Cache
from .chaos import REFERENCES, ChaosResult, inflection_range
from .models import count_parameters
from .numerics import device_of, fingerprint
from .presets import ARCHS, SCHEDULE_NAMES, SCHEDULES, chapter_designs, design, profile_summary_key
from .verdicts import chaos_verdict, combine, cone_verdict, late_t0, recovered_share, spearman, switch_verdict

# What the paper and its cross-checks report (PROTOCOL.md); the paper's schedule length comes from the presets.
PAPER_INFLECTION = {"resnet20": (100, 500), "vgg16": (2500, 2500)}
FRANKLE_STABILITY = {"resnet20": 2000, "vgg16": 1000}
PAPER_TAUS = (2000, 4000, 6000, 8000)
RECIPE_ACCURACY = {"resnet20": 0.917, "vgg16": 0.937}


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


# ----------------------------------------------------------------------------------------------- designs


def design_table(profile: str, designs: dict | None = None) -> Table:
    """The profile's design (or ``designs``) for every architecture: network, data, schedule, where each chapter looks."""
    rows = []
    for arch, d in (designs or chapter_designs(profile)).items():
        o = d.run.optim
        rows.append([arch, f"{d.run.model.width:g}", d.run.data.dataset, o.batch_size,
                     f"{o.steps} ({o.steps / d.epoch_steps:.3g} epochs)", ", ".join(map(str, o.milestones)),
                     ", ".join(map(str, d.t0s)), d.t1, len(d.seeds), ", ".join(map(str, d.cone_refs)),
                     ", ".join(map(str, d.switches))])
    return Table(["model", "width", "data", "batch", "iterations", "lr ÷10 at (step schedule)", "t0 grid (ch. 1)",
                  "t1", "seeds", "τ (ch. 2)", "switch times (ch. 3)"], rows)


def design_note(profile: str) -> Note:
    """The numbers a reader needs to place this profile's schedule next to the paper's, computed from the presets."""
    d, p = design(profile, "resnet20"), design("paper", "resnet20")
    return Note(
        f"At `{profile}` the training set has {d.train_images:,} images, so one epoch is "
        f"{d.epoch_steps:.3g} iterations at batch {d.run.optim.batch_size}; the paper's is {p.epoch_steps:.3g} "
        f"({p.train_images:,} images at batch {p.run.optim.batch_size}). We train {d.t1:,} iterations "
        f"({d.t1 / d.epoch_steps:.3g} epochs) with the first lr drop at {d.first_drop:,} "
        f"({d.first_drop / d.epoch_steps:.3g} epochs); the paper trains {p.t1:,} ({p.t1 / p.epoch_steps:.3g} epochs) "
        f"with the first drop at {p.first_drop:,}. An inflection at the same number of epochs as the paper's would "
        f"sit at {p.epoch_steps / d.epoch_steps:.3g} times fewer iterations here. The eNTK uses the first "
        f"{d.kernel_inputs} test images (the paper's scale: {p.kernel_inputs}).")


# ----------------------------------------------------------------------------------------------- chapter 1


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
    """The step schedule's first drop (a constant-lr sweep keeps it as the step ``via`` it shares with the step schedule)."""
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
    return Table(["sweep", "metric at t1", f"t0 = {t0s[0]}", f"t0 = {t0s[-1]}",
                  *[f"unrelated: {k}" for k in REFERENCES]], rows,
                 caption="seed means at t1; unrelated pairs: " + "; ".join(f"{k} = {v}" for k, v in REFERENCES.items()))


def other_metrics_table(results: dict) -> Table:
    """The metrics the figure leaves out, seed means at the first and last t0."""
    metrics = ("train_loss_barrier", "test_error_barrier", "train_error_barrier", "relative_distance")
    rows = [[_label(k), *[f"{r.mean(m)[0]:.3g} → {r.mean(m)[-1]:.3g}" for m in metrics]] for k, r in results.items()]
    return Table(["sweep", "train loss barrier", "test error barrier", "train error barrier", "‖θ − θ′‖ / ‖θ‖"], rows,
                 caption="seed means, first t0 → last t0")


def inflection_scales_table(profile: str, inflections: dict) -> Table:
    """Each inflection in iterations, epochs, fraction of training and of the time before the first drop, with the paper's."""
    rows = []
    for arch in ARCHS:
        p = design("paper", arch)
        lo, hi = PAPER_INFLECTION[arch]
        span = lambda a, b, f: f"{f(a)}" if a == b else f"{f(a)}–{f(b)}"  # noqa: E731
        rows.append([f"{arch}, paper", span(lo, hi, lambda x: f"{x:,}"), span(lo, hi, lambda x: f"{x / p.epoch_steps:.2g}"),
                     span(lo, hi, lambda x: f"{x / p.t1:.1%}"), span(lo, hi, lambda x: f"{x / p.first_drop:.1%}")])
        rows.append([f"{arch}, Frankle et al. (stability to SGD noise)", f"{FRANKLE_STABILITY[arch]:,}",
                     f"{FRANKLE_STABILITY[arch] / p.epoch_steps:.2g}", f"{FRANKLE_STABILITY[arch] / p.t1:.1%}",
                     f"{FRANKLE_STABILITY[arch] / p.first_drop:.1%}"])
        d = design(profile, arch)
        for schedule in SCHEDULE_NAMES:
            inf = inflections.get((arch, schedule))
            if inf is None:
                continue
            undefined = f" ({inf['undefined_seeds']} of {inf['seeds']} seeds never halve)" if inf.get("undefined_seeds") else ""
            scale = lambda f: " ".join([fmt(f(inf["estimate"])), f"[{fmt(f(inf['low']))}, {fmt(f(inf['high']))}]"]) + undefined  # noqa: E731
            rows.append([f"{arch}, ours ({profile}, {SCHEDULE_NAMES[schedule]})", scale(lambda x: x),
                         scale(lambda x: x / d.epoch_steps), scale(lambda x: 100 * x / d.t1) + " %",
                         scale(lambda x: 100 * x / d.first_drop) + " %"])
    return Table(["where", "iterations", "epochs", "of training", "of the time before the first lr drop"], rows)


def schedule_note(results: dict) -> Note:
    """What the lr drops do, per network: disagreement at the late and the last t0 relative to t0 = 0, both schedules."""
    lines = []
    for arch in ARCHS:
        step, const = results.get((arch, "step")), results.get((arch, "constant"))
        if step is None or const is None:
            continue
        late = late_t0(step.t0s, _first_drop(step))
        j = int(np.where(step.t0s == late)[0][0])
        share = lambda r, i: r.mean("disagreement")[i] / r.mean("disagreement")[0]  # noqa: E731
        lines.append(f"- **{arch}**: twins split at t0 = {late} disagree at t1 {share(step, j):.0%} as much as twins "
                     f"split at t0 = 0 under the step schedule and {share(const, j):.0%} under a constant lr; split at "
                     f"t0 = {int(step.t0s[-1])}, {share(step, -1):.0%} and {share(const, -1):.0%}. Unrelated networks "
                     f"(independent initialisations) disagree {step.reference('independent init', 'disagreement'):.3f} "
                     f"and {const.reference('independent init', 'disagreement'):.3f}.")
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
        for name, ours, (a, b) in (("iterations", inf["estimate"], (lo, hi)),
                                   ("epochs", inf["estimate"] / d.epoch_steps, (lo / p.epoch_steps, hi / p.epoch_steps))):
            k = _distance_to_range(ours, a, b)
            where = "inside the paper's range" if k == 1 else f"{k:.2g}× {'below' if ours < a else 'above'} the paper's range"
            parts.append((k, name, f"{ours:.3g} {name} ({where})"))
        closest = min(parts)[1]
        lines.append(f"- **{arch}** ({SCHEDULE_NAMES[schedule]}): " + "; ".join(text for *_, text in parts)
                     + f". Closer on the {closest} scale.")
    return Note("\n".join(lines))


def ordering_note(inflections: dict, schedule: str = "step") -> str:
    """Whether ResNet-20's transition comes before VGG-16's, as in the paper, with the seed ranges."""
    r, v = inflections.get(("resnet20", schedule)), inflections.get(("vgg16", schedule))
    if r is None or v is None or not (math.isfinite(r["estimate"]) and math.isfinite(v["estimate"])):
        return f"Ordering ({SCHEDULE_NAMES[schedule]}): undefined (an inflection is missing)."
    same = r["estimate"] < v["estimate"]
    apart = r["high"] < v["low"] or v["high"] < r["low"]
    ranges = "do not overlap" if apart else f"overlap, so {r['seeds']} seeds do not resolve the order"
    return (f"Ordering ({SCHEDULE_NAMES[schedule]}): ResNet-20 {fmt_range(r)} against VGG-16 {fmt_range(v)} — "
            f"{'the same order as' if same else 'the reverse of'} the paper's (ResNet-20 first); the seed ranges "
            f"{ranges}.")


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
        rows.append([f"{size:g}", f"{rep['realised_norm']:.2e}", f"{rep['fraction_changed']:.1%}",
                     *[f"{by[t]['disagreement']:.3f}" for t in t0s]])
    return Table(["ε (total norm)", "realised ‖θ′ − θ‖", "entries changed", *[f"disagreement, t0 = {t}" for t in t0s]],
                 rows, caption=f"seed {seed}, {SCHEDULE_NAMES['step']}"), curves


def chaos_summary(profile: str, results: dict, inflections: dict, verdicts: dict, eps: dict | None = None,
                  first_written: dict | None = None) -> dict:
    """Chapter 1's results as a JSON-able dict for the scorecard (stored under the profile's design)."""
    per = {}
    for key, res in results.items():
        d = res.mean("disagreement")
        per["/".join(key)] = {
            "t0s": res.t0s.tolist(), "disagreement_mean": d.tolist(), "late_t0": late_t0(res.t0s, _first_drop(res)),
            "disagreement_range": np.stack([res.values["disagreement"].min(0), res.values["disagreement"].max(0)],
                                           1).tolist(),
            "reference_independent_init": res.reference("independent init", "disagreement"),
            "reference_data_order": res.reference("data order", "disagreement"),
            "inflection": inflections[key], "control_exact": res.control_is_exact,
            "verdict": verdicts[key].outcome, "checks": verdicts[key].explain()}
    step = [verdicts[(a, "step")].outcome for a in ARCHS if (a, "step") in verdicts]
    const = [verdicts[(a, "constant")].outcome for a in ARCHS if (a, "constant") in verdicts]
    mismatches = [ordering_note(inflections, "step")]
    for arch in ARCHS:
        inf = inflections.get((arch, "step"))
        if inf is not None and math.isfinite(inf["estimate"]):
            d = design(profile, arch)
            p = design("paper", arch)
            lo, hi = PAPER_INFLECTION[arch]
            mismatches.append(f"{arch} position: {inf['estimate'] / d.first_drop:.1%} of the time before the first "
                              f"drop ({inf['estimate'] / d.epoch_steps:.2g} epochs); paper "
                              f"{lo / p.first_drop:.1%}" + ("" if lo == hi else f"–{hi / p.first_drop:.1%}")
                              + f" ({lo / p.epoch_steps:.2g}" + ("" if lo == hi else f"–{hi / p.epoch_steps:.2g}")
                              + " epochs)")
    if first_written:
        mismatches.append("judged at the last t0, as the rule was first written: " + "; ".join(
            f"{_label(k)} {v.outcome}" for k, v in first_written.items()))
    return {"profile": profile, "sweeps": per, "verdict": combine(step + const),
            "step": combine(step) if step else None, "constant": combine(const) if const else None,
            "mismatches": mismatches, "epsilon": eps or {}}


# ----------------------------------------------------------------------------------------------- chapter 2


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
        rows.append([f"{arch}, paper", ", ".join(f"{t:,}" for t in PAPER_TAUS), f"{lo:,}" + ("" if lo == hi else f"–{hi:,}"),
                     f"{p.first_drop:,}", ", ".join(f"{t / p.first_drop:.0%}" for t in PAPER_TAUS)])
        inf = inflections.get((arch, "step"), {"estimate": math.nan})
        rows.append([f"{arch}, ours ({profile})", ", ".join(map(str, d.cone_refs)), fmt(inf["estimate"]),
                     str(d.first_drop), ", ".join(f"{t / d.first_drop:.0%}" for t in d.cone_refs)])
    return Table(["where", "τ", "inflection", "first lr drop", "τ as a share of the time before the drop"], rows)


def switch_paper_table(profile: str, results: dict, inflections: dict) -> Table:
    """The switch times relative to the inflection and the first drop, and standard training's accuracy, paper vs ours."""
    rows = []
    for arch, res in results.items():
        p, d = design("paper", arch), design(profile, arch)
        lo, hi = PAPER_INFLECTION[arch]
        rows.append([f"{arch}, paper", "t > 2,000 matters most; t = 0 worst", f"{lo:,}" + ("" if lo == hi else f"–{hi:,}"),
                     f"{p.first_drop:,}", f"{RECIPE_ACCURACY[arch]:.1%} (recipe, Frankle et al.)"])
        rows.append([f"{arch}, ours ({profile})", ", ".join(map(str, d.switches[:-1])),
                     fmt(inflections[(arch, "step")]["estimate"]), str(d.first_drop), f"{res.accuracy[:, -1].mean():.1%}"])
    return Table(["where", "switch times", "inflection", "first lr drop", "standard training, test accuracy"], rows)


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
            rows.append([arch, tau, f"{steps[window[0]]}–{steps[window[-1]]}", f"{s[-1]:.4f}", f"{first:.4f}",
                         f"{second:.4f}", fmt(second / first if first > 0 else math.nan, 2)])
    return Table(["model", "τ", "window", "S(τ, first drop)", "growth, 1st half", "growth, 2nd half",
                  "2nd / 1st (rule: ≤ 0.33)"], rows)


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
        mismatches += [f"{arch}: fails '{name}'" for name in v.failed()]
    return {"profile": profile, "verdict": combine([v.outcome for v in verdicts.values()]),
            "archs": {a: {"verdict": v.outcome, "checks": v.explain(),
                          **({"s_first_drop": _s_first_drop(results[(a, "step")])} if results else {})}
                      for a, v in verdicts.items()},
            "shared_before_drop": shared, "mismatches": mismatches}


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


# ----------------------------------------------------------------------------------------------- chapter 3


def switch_verdicts(results: dict, inflections: dict) -> dict:
    """Chapter 3's verdict per architecture."""
    return {arch: switch_verdict(res.switches, res.accuracy, inflections[(arch, "step")]["estimate"])
            for arch, res in results.items()}


def switch_table(results: dict) -> Table:
    """Per architecture and switch time: test accuracy (mean, seed range), share of the gap recovered, test loss."""
    rows = []
    for arch, res in results.items():
        acc = res.accuracy.mean(0)
        share = recovered_share(acc)
        for j, t in enumerate(res.switches):
            label = "standard training" if j == len(res.switches) - 1 else str(t)
            rows.append([arch, label, f"{acc[j]:.3f}", f"[{res.accuracy[:, j].min():.3f}, {res.accuracy[:, j].max():.3f}]",
                         fmt(share[j], 2), f"{res.loss.mean(0)[j]:.3g}"])
    return Table(["model", "switch t", "test accuracy", "seed range", "share of the gap recovered", "test loss"], rows)


def switch_summary(profile: str, results: dict, verdicts: dict, inflections: dict | None = None) -> dict:
    """Chapter 3's results for the scorecard, with the mismatches against the paper."""
    mismatches = []
    for arch, res in results.items():
        acc = res.accuracy.mean(0)
        share = recovered_share(acc)
        v = verdicts[arch]
        if "t = 0 is worst" in v.failed():
            j = 1 + int(np.argmin(acc[1:]))
            mismatches.append(f"{arch}: t = {res.switches[j]} ({acc[j]:.3f}) is worse than t = 0 ({acc[0]:.3f})")
        inf = inflections.get((arch, "step"), {}).get("estimate", math.nan) if inflections else math.nan
        after = [j for j in range(len(res.switches) - 1) if math.isfinite(inf) and res.switches[j] > inf]
        if after and math.isfinite(share[after[0]]):
            j = after[0]
            fort = " — closer to Fort et al.'s picture than to the claim" if share[j] >= 0.9 else ""
            mismatches.append(f"{arch}: switching at t = {res.switches[j]}, the first switch after the inflection, "
                              f"recovers {share[j]:.0%} of the gap between linearized and standard training (Fort et "
                              f"al.: most of it after a few epochs){fort}")
        mismatches.append(f"{arch}: standard training reaches {acc[-1]:.1%} test accuracy here against the recipe's "
                          f"{RECIPE_ACCURACY[arch]:.1%} at full scale")
    return {"profile": profile, "verdict": combine([v.outcome for v in verdicts.values()]),
            "archs": {a: {"verdict": v.outcome, "checks": v.explain(), "spearman": spearman(r.switches, r.accuracy.mean(0)),
                          "accuracy_mean": r.accuracy.mean(0).tolist(), "switches": r.switches.tolist(),
                          "accuracy_range": np.stack([r.accuracy.min(0), r.accuracy.max(0)], 1).tolist(),
                          "recovered_share": recovered_share(r.accuracy.mean(0)).tolist()}
                      for a, v in verdicts.items() for r in [results[a]]},
            "mismatches": mismatches}


# ----------------------------------------------------------------------------------------------- chapter 4


def beyond_design_table(designs: dict) -> Table:
    """Chapter 4's design for every task: network, data, optimiser, schedule, where each analysis looks."""
    rows = []
    for name, d in designs.items():
        o, data, model = d.run.optim, d.run.task.tensors(), d.run.task.build(0)
        params = count_parameters(model)
        rows.append([name, f"{type(model).__name__} ({params:,} parameters)",
                     f"{data.name} ({len(data.x_train):,} / {len(data.x_test):,})", f"{o.algorithm}, lr {o.lr:g}",
                     o.batch_size, f"{o.steps} ({o.steps / d.epoch_steps:.3g} epochs)", ", ".join(map(str, o.milestones)),
                     ", ".join(map(str, d.t0s)), f"{d.epsilon:g}", ", ".join(map(str, d.seeds)), d.kernel_inputs,
                     ", ".join(map(str, d.cone_refs)), ", ".join(map(str, d.switches))])
    return Table(["task", "network", "data (train / test)", "optimiser", "batch", "iterations",
                  "lr ÷10 at (step schedule)", "t0 grid", "ε (total norm)", "seeds", "eNTK inputs", "τ",
                  "switch times"], rows)


def accuracy_note(curves: dict, designs: dict) -> Note:
    """Per task and schedule: parents' test accuracy (seed mean) at the first drop, its largest rise over one
    checkpoint interval before it (a late jump is a qualitative change of the function, not a settled phase), and
    at the end."""
    lines = []
    for (name, schedule), (steps, acc) in curves.items():
        d1 = designs[name].first_drop
        mean = acc.mean(0)
        at_drop = mean[steps.tolist().index(d1)]
        before = [j for j in range(1, len(steps)) if steps[j] <= d1]
        jump = max(before, key=lambda j: mean[j] - mean[j - 1])
        lines.append(f"- **{name}**, {SCHEDULE_NAMES[schedule]}: test accuracy {at_drop:.3f} at the "
                     f"first drop ({d1}) and {mean[-1]:.3f} at the end ({steps[-1]}, {mean[-1] - at_drop:+.3f} "
                     f"after the drop's iteration); its largest rise before the drop, "
                     f"{mean[jump] - mean[jump - 1]:+.3f}, is between iterations {steps[jump - 1]} and {steps[jump]}.")
    return Note("\n".join(lines))


def beyond_answer(summary: dict) -> Note:
    """Chapter 4's answer, one line per claim: the outcome over the tasks and each task's verdict."""
    titles = {"chaos": "Chaos effect", "cone": "Cone effect", "switch": "Value of the cone phase"}
    lines = []
    for claim, outcome in summary["claims"].items():
        per = "; ".join(
            f"{name}: " + (", ".join(f"{SCHEDULE_NAMES[s]} {o}" for s, o in t["chaos"].items()) if claim == "chaos"
                           else t[claim]) for name, t in summary["tasks"].items())
        lines.append(f"- **{titles[claim]}**: {outcome} over the {len(summary['tasks'])} task(s) ({per}).")
    return Note("\n".join(lines))


def beyond_summary(profile: str, chaos: dict, inflections: dict, chaos_v: dict, cone_v: dict, switch: dict,
                   switch_v: dict) -> dict:
    """Chapter 4's results for the scorecard: per task, the three claims' verdicts and the numbers behind them."""
    tasks = {}
    for name in cone_v:
        res = chaos[(name, "step")]
        d = res.mean("disagreement")
        tasks[name] = {
            "chaos": {sch: chaos_v[(name, sch)].outcome for sch in SCHEDULES if (name, sch) in chaos_v},
            "cone": cone_v[name].outcome, "switch": switch_v[name].outcome,
            "inflection": inflections[(name, "step")],
            "disagreement": f"{d[0]:.3f} (t0 = 0) → {d[-1]:.3f} (t0 = {res.t0s[-1]}), unrelated networks "
                            f"{fmt(res.reference('independent init', 'disagreement'))}",
            "accuracy": [round(float(a), 4) for a in switch[name].accuracy.mean(0)],
            "switches": switch[name].switches.tolist(),
            "checks": {"chaos": chaos_v[(name, "step")].explain(), "cone": cone_v[name].explain(),
                       "switch": switch_v[name].explain()}}
    claims = {"chaos": combine([o for t in tasks.values() for o in t["chaos"].values()]),
              "cone": combine([t["cone"] for t in tasks.values()]),
              "switch": combine([t["switch"] for t in tasks.values()])}
    return {"profile": profile, "tasks": tasks, "claims": claims, "verdict": combine(list(claims.values()))}


# ----------------------------------------------------------------------------------------------- pages


def _summary_key(kind: str, profile: str, designs: dict | None = None) -> tuple:
    if designs is not None:
        return tuple(designs.values())
    if kind == "beyond":
        from .beyond import summary_key

        return summary_key(profile)
    return profile_summary_key(profile)


def save_summary(cache: Cache, kind: str, profile: str, summary: dict, designs: dict | None = None) -> None:
    """Store a chapter's summary under the designs it ran (default: the profile's; chapter 4: its tasks').

    A re-run with other seeds, architectures, device or ε is stored under its own designs, so the scorecard
    (which reads the profile's designs) never shows it in place of the book's run.
    """
    cache.save(f"{kind}-summary", _summary_key(kind, profile, designs), summary)


def load_summary(cache: Cache, kind: str, profile: str) -> dict | None:
    """A chapter's summary for the profile's current design, or None."""
    return cache.load(f"{kind}-summary", _summary_key(kind, profile))


CLAIMS = (
    ("chaos", "1. Chaos effect", "01_chaos_effect",
     "A 1e-7 perturbation early in training sends the twin elsewhere; after an inflection point (≈ 100–500 "
     "iterations for ResNet-20, ≈ 2,500 for VGG-16) it changes almost nothing."),
    ("cone", "2. Cone effect", "02_cone_effect",
     "After the transition the eNTK keeps moving inside a narrow cone: S(τ, t) rises then plateaus for "
     "τ ∈ {2000, …, 8000}; the adjacent-checkpoint kernel distance drops to a small non-zero value."),
    ("switch", "3. Value of the cone phase", "03_linearized_switch",
     "Final test accuracy of θ_std→lin(T; t) grows with the switch time t, especially for t > 2000; fully "
     "linearized training (t = 0) is worst."),
    ("beyond", "4. Beyond CIFAR-10", "04_beyond_cifar",
     "Open question (§6): do the chaos and cone effects hold for other architectures and modalities, such as "
     "transformers or MLPs on tabular data? Not answered in the paper."),
)


def _measured(kind: str, s: dict) -> tuple[str, str, str]:
    """(per-setting outcomes, ablations, mismatches) cells of a scorecard row."""
    if kind == "chaos":
        def late(v: dict) -> str:
            if "late_t0" not in v:
                return ""
            return f" → {v['disagreement_mean'][v['t0s'].index(v['late_t0'])]:.3f} (t0 = {v['late_t0']})"

        main = "<br>".join(f"{k.replace('/', ', ')}: **{v['verdict']}** (inflection {fmt_range(v['inflection'])}; "
                           f"disagreement {v['disagreement_mean'][0]:.3f} (t0 = 0){late(v)} → "
                           f"{v['disagreement_mean'][-1]:.3f} (t0 = {v['t0s'][-1]}), unrelated networks "
                           f"{fmt(v['reference_independent_init'])})" for k, v in s["sweeps"].items())
        abl = f"step schedule: **{s['step']}**; constant lr: **{s['constant']}**"
        if s.get("epsilon"):
            abl += "<br>ε sweep (resnet20, seed 0): " + "; ".join(f"ε = {k}: {v}" for k, v in s["epsilon"].items())
        return main, abl, "<br>".join(s["mismatches"])
    if kind == "cone":
        main = "<br>".join(f"{a}: **{v['verdict']}** — " + v["checks"].replace("\n", "; ") for a, v in s["archs"].items())
        abl = "windows before the first drop are the same run under both schedules: " + ", ".join(
            f"{a} {'bitwise identical' if same else 'DIFFERENT'}" for a, same in s["shared_before_drop"].items())
        return main, abl, "<br>".join(s.get("mismatches", []))
    if kind == "beyond":
        main = "<br>".join(
            f"{name}: chaos " + ", ".join(f"{sch} **{o}**" for sch, o in t["chaos"].items())
            + f"; cone **{t['cone']}**; switch **{t['switch']}** (inflection {fmt_range(t['inflection'])}; "
              f"disagreement {t['disagreement']})" for name, t in s["tasks"].items())
        abl = "; ".join(f"{c}: **{o}**" for c, o in s["claims"].items())
        return main, abl, "not a claim of the paper: an answer to its open question, by the same rules"
    main = "<br>".join(f"{a}: **{v['verdict']}** (Spearman {fmt(v['spearman'], 2)})" for a, v in s["archs"].items())
    return main, "step schedule only", "<br>".join(s["mismatches"])


def scorecard_markdown(cache: Cache, profiles: tuple[str, ...] = ("smoke", "cpu", "gpu", "paper"),
                       across: dict | None = None) -> str:
    """The scorecard page: per claim and profile run, the verdict, each setting's outcome, ablations and mismatches.

    ``across`` (``book/across_machines.json``): where the same rule gives different verdicts under different
    numerics fingerprints for that profile, the claim's verdict is "inconclusive" (:func:`across_verdicts`)."""
    flipped = {}
    if across and across.get("runs"):
        flipped = {(kind, across["profile"]): v["chapter"] for kind, v in across_verdicts(across["runs"]).items()
                   if v.get("chapter") == "inconclusive"}
    lines = ["# Scorecard", "",
             "Generated by `scripts/make_scorecard.py` from the chapters' cached summaries "
             "(`twophase_lib.reporting.scorecard_markdown`); nothing on this page is typed by hand. The rules behind "
             "each verdict are in `twophase_lib.verdicts` and stated in each chapter. A claim is *reproduced* only when "
             "it holds for both networks under both schedules (step and constant lr), *not reproduced* when it fails "
             "for all, *partly* otherwise, and *inconclusive* when the rule gives different verdicts on machines "
             "with other kernels ([Across machines](across_machines.md)). The `smoke` profile only checks that the "
             "code runs; its verdicts mean nothing.", "",
             "| claim | the paper | profile | verdict | per setting | ablations | mismatches with the paper |",
             "|---|---|---|---|---|---|---|"]
    for kind, title, page, paper in CLAIMS:
        found = [(p, load_summary(cache, kind, p)) for p in profiles]
        found = [(p, s) for p, s in found if s is not None]
        link = f"[{title}](chapters/{page}.ipynb)"
        if not found:
            lines.append(f"| {link} | {paper} | – | not run yet | | | |")
        for i, (p, s) in enumerate(found):
            main, abl, mis = _measured(kind, s)
            verdict = f"**{s['verdict']}**"
            if (kind, p) in flipped:
                verdict = (f"**inconclusive** (this machine: {s['verdict']}; the verdict differs across machines, see "
                           f"[Across machines](across_machines.md))")
            lines.append(f"| {link if i == 0 else ''} | {paper if i == 0 else ''} | `{p}` | {verdict} | "
                         f"{main} | {abl} | {mis} |")
    return "\n".join(lines) + "\n"


PROFILE_TEXT = {
    "smoke": "tiny networks, a few dozen iterations: checks that the code runs (CI executes every chapter at it); "
             "its numbers mean nothing",
    "cpu": "{resnet20} ResNet-20 and {vgg16} VGG-16 on the embedded real CIFAR-10 subset (5,170 train / 1,017 "
           "test images), {steps} iterations at batch {batch} with the first lr drop at {drop}, {seeds} seeds: the "
           "results this book shows",
    "gpu": "full-width networks on the embedded subset, {steps:,} iterations at batch {batch} with lr drops at "
           "{drops}, {seeds} seeds, on one GPU, where training replays CUDA graphs (bitwise the eager result). Costs "
           "measured on an H200 are in the repository's `bench/results/README.md`; the whole book has not been run "
           "end to end at this profile yet. Chapter 4's small networks run on the CPU cores at this profile (its "
           "`cpu` design)",
    "paper": "full-width networks, full CIFAR-10, the paper's 160-epoch recipe (62,400 iterations): needs GPUs",
}


def _width_name(width: float) -> str:
    names = {1.0: "full-width", 0.5: "half-width", 0.25: "quarter-width", 0.125: "eighth-width"}
    return names.get(width, f"{width:g}-width")


def profile_text(profile: str) -> str:
    """One sentence on what a profile runs (the cpu and gpu ones read off their designs)."""
    if profile not in ("cpu", "gpu"):
        return PROFILE_TEXT[profile]
    d = chapter_designs(profile)
    o = d["resnet20"].run.optim
    return PROFILE_TEXT[profile].format(**{a: _width_name(d[a].run.model.width) for a in ARCHS}, steps=o.steps,
                                        batch=o.batch_size, drop=o.first_drop, seeds=len(d["resnet20"].seeds),
                                        drops=" and ".join(f"{m:,}" for m in o.milestones))


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
    per = summary["sweeps"] if kind == "chaos" else summary["archs"]
    return {"chapter": summary["verdict"], **{k.replace("/", ", "): v["verdict"] for k, v in per.items()}}


ACROSS_KINDS = (("chaos", "1. Chaos effect"), ("cone", "2. Cone effect"), ("switch", "3. Value of the cone phase"))


def across_verdicts(runs: list[dict]) -> dict[str, dict[str, str]]:
    """{kind: {setting: verdict across the runs' fingerprints}} (:func:`twophase_lib.verdicts.across_machines`):
    the common verdict, or "inconclusive" where fingerprints disagree. Settings missing from a run are skipped."""
    from .verdicts import across_machines

    out: dict[str, dict[str, str]] = {}
    for kind, _ in ACROSS_KINDS:
        per_fp = {r["fingerprint"]["id"]: setting_verdicts(kind, r["summaries"][kind])
                  for r in runs if r["summaries"].get(kind)}
        settings = list(dict.fromkeys(s for v in per_fp.values() for s in v))
        out[kind] = {s: across_machines({fp: v[s] for fp, v in per_fp.items() if s in v}) for s in settings}
    return out


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


def across_machines_markdown(data: dict, book_id: str | None = None, figure: str | None = None) -> str:
    """The page "Across machines": the headline numbers of chapters 1–3 computed under several numerics
    fingerprints (``book/across_machines.json``, written by ``scripts/across_machines.py``), their spread across
    fingerprints beside the seed spread, and each verdict across fingerprints (inconclusive where it flips)."""
    runs = data.get("runs", [])
    lines = ["# Across machines", "",
             "Generated by `scripts/make_scorecard.py` from `book/across_machines.json`, which "
             "`scripts/across_machines.py` writes by running chapters 1–3 under several *numerics fingerprints* "
             "(`twophase_lib.numerics`: the CPU's instruction sets and ATen dispatch level, the torch, oneDNN and "
             "MKL versions). On one machine every number of this book is bitwise reproducible. Another machine "
             "takes other kernels, which round the last bit differently, and the chaos this book studies "
             "amplifies that into different networks — so the numbers move. Lowering ATen's dispatch level "
             "(`ATEN_CPU_CAPABILITY=avx2` or `default`) on one machine gives such other kernels without another "
             "machine. Results of different fingerprints are never mixed: the cache keys every result by its "
             "fingerprint, and each column below is a complete run of its own.", ""]
    if not runs:
        return "\n".join(lines + ["No run recorded yet: `python scripts/across_machines.py --profile cpu`.", ""])
    ids = [r["fingerprint"]["id"] for r in runs]
    lines += [f"Profile `{data.get('profile')}`. The book's chapters were computed with "
              f"`{book_id or 'an unrecorded fingerprint'}`"
              + ("" if book_id in ids else " (not among the runs below)") + ".", "",
              "| fingerprint | what | computed |", "|---|---|---|"]
    from .numerics import Fingerprint

    for r in runs:
        fp = Fingerprint.from_dict(r["fingerprint"])
        lines.append(f"| `{fp.id}` | {fp.describe().rsplit(' (fingerprint', 1)[0]} | {r.get('date', '')} |")

    verdicts = across_verdicts(runs)
    lines += ["", "## Verdicts", "",
              "The same rules on each fingerprint's results. A verdict that differs between fingerprints is "
              "decided by rounding, not by the dynamics: it counts as **inconclusive** (the scorecard shows it "
              "so).", "",
              "| claim | setting | " + " | ".join(f"`{i}`" for i in ids) + " | across machines |",
              "|---|---|" + "---|" * len(ids) + "---|"]
    flips = total = 0
    for kind, title in ACROSS_KINDS:
        per = {r["fingerprint"]["id"]: setting_verdicts(kind, r["summaries"][kind]) for r in runs
               if r["summaries"].get(kind)}
        for setting, across in verdicts[kind].items():
            total += 1
            flips += across == "inconclusive"
            cells = " | ".join(per.get(i, {}).get(setting, "–") for i in ids)
            lines.append(f"| {title} | {setting} | {cells} | **{across}** |")

    order = []
    for r in runs:
        sweeps = (r["summaries"].get("chaos") or {}).get("sweeps", {})
        if "resnet20/step" in sweeps and "vgg16/step" in sweeps:
            a, b = sweeps["resnet20/step"]["inflection"]["estimate"], sweeps["vgg16/step"]["inflection"]["estimate"]
            if math.isfinite(a) and math.isfinite(b):
                order.append(f"`{r['fingerprint']['id']}`: ResNet-20 {fmt(a)} against VGG-16 {fmt(b)} — "
                             + ("the paper's order" if a < b else "the reverse of the paper's"))
    if order:
        lines += ["", "Which network's transition comes first (step schedule; the paper: ResNet-20's): "
                  + "; ".join(order) + "."]
    lines += ["", "## Headline numbers", ""]
    if figure:
        lines += [f"![Headline numbers under each fingerprint, with their seed ranges]({figure})", "",
                  "Each number's seed mean (marker) and seed range (bar) under each fingerprint, side by side.", ""]
    lines += [
              "Seed means; *across machines*: max − min of the seed means over the fingerprints; *seed range*: "
              "max − min over the seeds, largest among the fingerprints. A ratio near or above 1 means the machine "
              "moves a number as much as the choice of seed does.", "",
              "| claim | setting | quantity | " + " | ".join(f"`{i}`" for i in ids)
              + " | across machines | seed range | ratio |", "|---|---|---|" + "---|" * len(ids) + "---|---|---|"]
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
        lines += ["", f"Over {len(r)} numbers with a seed range, the spread across machines is a median "
                      f"{np.median(r):.2f} of the seed range (largest {r.max():.2f}; {int((r >= 1).sum())} at or "
                      f"above it). {flips} of {total} verdicts differ between fingerprints."]
    return "\n".join(lines) + "\n"
