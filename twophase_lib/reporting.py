"""Text tables and verdicts computed from results, so the book never states a number the code did not compute."""

from __future__ import annotations

import math

from .chaos import ChaosResult, ChaosSweep

#: The paper's inflection points (iterations, of 62,560) and Frankle et al.'s stability onsets.
PAPER_INFLECTION = {"resnet20": "≈ 100–500", "vgg16": "≈ 2,500"}
FRANKLE_STABILITY = {"resnet20": "≈ 2,000", "vgg16": "≈ 1,000"}
PAPER_TOTAL_STEPS = 62_560


def _fmt(x: float, digits: int = 3) -> str:
    return "undefined" if not math.isfinite(x) else f"{x:.{digits}g}"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def sweep_table(sweeps: dict[str, ChaosSweep]) -> str:
    """The design of each sweep: model, width, data, schedule, t0 grid, t1, seeds, perturbation."""
    rows = []
    for arch, s in sweeps.items():
        o = s.run.optim
        rows.append([arch, f"{s.run.model.width:g}", s.run.data.dataset, f"{o.batch_size}", f"{o.steps}",
                     ",".join(map(str, o.milestones)) or "none", ",".join(map(str, s.t0s)), f"{s.t1}",
                     f"{len(s.seeds)}", f"{s.perturbation.kind} {s.perturbation.size:g}"])
    return table(["model", "width", "data", "batch", "steps", "lr drops at", "t0 grid", "t1", "seeds", "ε"], rows)


def chaos_verdict(results: dict[str, ChaosResult], inflections: dict[str, dict]) -> str:
    """'reproduced', 'partly' or 'not reproduced' by the chapter's stated rule."""
    ok = []
    for arch, res in results.items():
        d = res.mean("disagreement")
        ok.append(bool(d[0] > 0 and d[-1] < d[0] / 4 and math.isfinite(inflections[arch]["estimate"])))
    return "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"


def chaos_summary(profile: str, results: dict[str, ChaosResult], inflections: dict[str, dict] | None = None) -> dict:
    """Tables, verdict and the figures behind them, as a JSON-able dict (also stored for the scorecard)."""
    rows, comp, abl, per_arch = [], [], [], {}
    for arch, res in results.items():
        d, b = res.mean("disagreement"), res.mean("test_loss_barrier")
        abl.append(f"{arch}: disagreement {d[0]:.3f} at t0 = 0 -> {d[-1]:.3f} at t0 = {res.t0s[-1]}; "
                   f"test loss barrier {b[0]:.3f} -> {b[-1]:.3f}")
        if inflections is None:
            continue
        inf = inflections[arch]
        steps = res.sweep.run.optim.steps
        rows.append([arch, f"{d[0]:.3f}", f"{d[-1]:.3f}", f"{b[0]:.3f}", f"{b[-1]:.3f}",
                     f"{_fmt(inf['estimate'])} [{_fmt(inf['low'])}, {_fmt(inf['high'])}]",
                     "yes" if res.control_is_exact else "NO"])
        frac = inf["estimate"] / steps
        comp.append([arch, PAPER_INFLECTION.get(arch, "–"), FRANKLE_STABILITY.get(arch, "–"),
                     f"{_fmt(inf['estimate'])} of {steps}", "undefined" if not math.isfinite(frac) else f"{frac:.1%}"])
        per_arch[arch] = {"t0s": res.t0s.tolist(), "t1": res.sweep.t1, "steps": steps,
                          "disagreement_mean": d.tolist(), "test_loss_barrier_mean": b.tolist(),
                          "inflection": inf, "control_exact": res.control_is_exact,
                          "seeds": len(res.sweep.seeds), "width": res.sweep.run.model.width,
                          "dataset": res.sweep.run.data.dataset}
    out = {"profile": profile, "archs": per_arch, "ablation": "\n".join(abl)}
    if inflections is not None:
        out["table"] = table(["model", "disagr. t0=0", "disagr. last t0", "barrier t0=0", "barrier last t0",
                              "inflection [90% CI]", "control exact"], rows)
        out["comparison"] = table(["model", "paper inflection (of 62,560)", "Frankle et al. stability",
                                   f"ours ({profile})", "ours, fraction of training"], comp)
        out["verdict"] = chaos_verdict(results, inflections)
        out["verdict_text"] = (f"Chaos effect at the {profile} profile: {out['verdict'].upper()}.\n"
                               + out["ablation"])
    return out
