"""Text tables and verdicts computed from results, so the book never states a number the code did not compute."""

from __future__ import annotations

import math

import numpy as np

from .cache import Cache
from .chaos import ARCHS, ChaosResult, ChaosSweep, bootstrap_inflection, run_sweep
from .chaos import preset as chaos_preset

#: The paper's inflection points (iterations, of 62,560) and Frankle et al.'s stability onsets.
PAPER_INFLECTION = {"resnet20": "≈ 100–500", "vgg16": "≈ 2,500"}
FRANKLE_STABILITY = {"resnet20": "≈ 2,000", "vgg16": "≈ 1,000"}
PAPER_TOTAL_STEPS = 62_560  # 160 epochs of 391 batches of 128 (the last one partial)
PAPER_INFLECTION_RANGE = {"resnet20": (100, 500), "vgg16": (2500, 2500)}


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
                     f"{len(s.seeds)}", f"{s.perturbation.kind} {s.perturbation.size:g}",
                     f"{s.barrier.points} α, BN {s.barrier.bn_mode} ({s.barrier.bn_batches} batches)"])
    return table(["model", "width", "data", "batch", "steps", "lr drops at", "t0 grid", "t1", "seeds", "ε", "barrier"],
                 rows)


def lr_ablation_note(step: ChaosResult, constant: ChaosResult) -> str:
    """How much of the late stability survives without lr drops: last-t0 disagreement as a fraction of t0 = 0's."""
    a, b = step.mean("disagreement"), constant.mean("disagreement")
    ra, rb = a[-1] / a[0], b[-1] / b[0]
    share = "most of" if rb > 0.5 else "part of" if rb > 2 * ra + 0.05 else "little of"
    return (f"At t0 = {step.t0s[-1]} the twins disagree on {ra:.1%} of what they do at t0 = 0 with the step "
            f"schedule, and on {rb:.1%} with a constant lr: the lr drops account for {share} the late stability "
            f"at this scale.")


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
        k = res.mean("kernel_distance") if "kernel_distance" in res.values else np.full(len(res.t0s), np.nan)
        rows.append([arch, f"{d[0]:.3f}", f"{d[-1]:.3f}", f"{b[0]:.3f}", f"{b[-1]:.3f}", f"{k[0]:.2e}", f"{k[-1]:.2e}",
                     f"{_fmt(inf['estimate'])} [{_fmt(inf['low'])}, {_fmt(inf['high'])}]",
                     "yes" if res.control_is_exact else "NO"])
        frac = inf["estimate"] / steps
        lo, hi = PAPER_INFLECTION_RANGE.get(arch, (math.nan, math.nan))
        paper_frac = f"{lo / PAPER_TOTAL_STEPS:.1%}" + ("" if lo == hi else f"–{hi / PAPER_TOTAL_STEPS:.1%}")
        comp.append([arch, PAPER_INFLECTION.get(arch, "–"), paper_frac, FRANKLE_STABILITY.get(arch, "–"),
                     f"{_fmt(inf['estimate'])} of {steps}", "undefined" if not math.isfinite(frac) else f"{frac:.1%}"])
        per_arch[arch] = {"t0s": res.t0s.tolist(), "t1": res.sweep.t1, "steps": steps,
                          "disagreement_mean": d.tolist(), "test_loss_barrier_mean": b.tolist(),
                          "kernel_distance_mean": [None if math.isnan(v) else float(v) for v in k], "inflection": inf, "control_exact": res.control_is_exact,
                          "seeds": len(res.sweep.seeds), "width": res.sweep.run.model.width,
                          "dataset": res.sweep.run.data.dataset}
    out = {"profile": profile, "archs": per_arch, "ablation": "\n".join(abl)}
    if inflections is not None:
        out["table"] = table(["model", "disagr. t0=0", "disagr. last t0", "barrier t0=0", "barrier last t0",
                              "eNTK dist. t0=0", "eNTK dist. last t0", "inflection [90% CI]", "control exact"], rows)
        out["comparison"] = table(["model", "paper inflection (of 62,560)", "paper, fraction of training",
                                   "Frankle et al. stability", f"ours ({profile})", "ours, fraction of training"], comp)
        out["verdict"] = chaos_verdict(results, inflections)
        out["verdict_text"] = (f"Chaos effect at the {profile} profile: {out['verdict'].upper()}.\n"
                               + out["ablation"])
    return out


def chaos_inflections(profile: str, cache: Cache) -> dict[str, dict]:
    """Chapter 1's inflection estimates for a profile: from its cached summary, else recomputed from its sweeps."""
    summary = cache.load("chaos-summary", profile)
    if summary is not None:
        return {arch: s["inflection"] for arch, s in summary["archs"].items()}
    out = {}
    for arch in ARCHS:
        res = run_sweep(chaos_preset(profile, arch), cache)
        out[arch] = bootstrap_inflection(res.t0s, res.values["disagreement"])
    return out


def cone_design(studies: dict, inflections: dict[str, dict]) -> str:
    """The design of chapter 2's studies, with chapter 1's inflection for reference."""
    rows = []
    for arch, s in studies.items():
        o = s.run.optim
        rows.append([arch, f"{s.run.model.width:g}", f"{o.steps}", ",".join(map(str, o.milestones)) or "none",
                     f"{len(s.steps)} ({s.steps[0]}..{s.steps[-1]})", ",".join(map(str, s.refs)),
                     f"{s.n_inputs} x {s.mode}", f"{len(s.seeds)}", _fmt(inflections[arch]["estimate"])])
    return table(["model", "width", "steps", "lr drops at", "checkpoints", "τ", "eNTK inputs", "seeds",
                  "ch.1 inflection"], rows)


def cone_lr_note(results: dict) -> str:
    """Kernel velocity just before and just after the first lr drop: how much of the slow-down the schedule makes."""
    lines = []
    for arch, res in results.items():
        milestones = res.study.run.optim.milestones
        if not milestones:
            lines.append(f"{arch}: no lr drop in this run")
            continue
        ends = np.array(res.study.steps[1:])
        v = res.velocity.mean(0)
        before = v[ends <= milestones[0]][-1]
        after = v[ends > milestones[0]][0]
        lines.append(f"{arch}: kernel velocity {before:.2e} in the interval ending at the first lr drop "
                     f"(iteration {milestones[0]}), {after:.2e} in the next: {before / after:.1f}x slower")
    return "\n".join(lines)


def cone_summary(profile: str, results: dict) -> dict:
    """Plateau test of every S(τ, t) curve and early/late kernel velocity, with the chapter's verdict."""
    rows, flags, per_arch = [], [], {}
    for arch, res in results.items():
        v = res.velocity.mean(0)
        early, late = float(v[:3].mean()), float(v[-3:].mean())
        slow = 0 < late < early / 10
        per_arch[arch] = {"velocity_early": early, "velocity_late": late, "curves": {}}
        for tau in res.study.refs:
            t, s = res.from_reference(tau)
            m = s.mean(0)
            mid = len(t) // 2
            first, second = float(m[mid] - m[0]), float(m[-1] - m[mid])
            plateau = bool(first > 0 and second < first / 4 and slow)
            flags.append(plateau)
            per_arch[arch]["curves"][int(tau)] = {"S_end": float(m[-1]), "growth_first_half": first,
                                                  "growth_second_half": second, "plateau": plateau}
            rows.append([arch, str(tau), f"{m[-1]:.4f}", f"{first:.4f}", f"{second:.4f}", f"{early:.2e}",
                         f"{late:.2e}", "yes" if plateau else "no"])
    verdict = "reproduced" if all(flags) else "partly" if any(flags) else "not reproduced"
    return {"profile": profile, "archs": per_arch, "verdict": verdict, "lr_note": cone_lr_note(results),
            "table": table(["model", "τ", "S(τ, T)", "growth 1st half", "growth 2nd half", "velocity early",
                            "velocity late", "plateau"], rows),
            "verdict_text": f"Cone effect at the {profile} profile: {verdict.upper()} "
                            f"({sum(flags)} of {len(flags)} curves plateau)."}


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def linear_step_cost(studies: dict, steps: int = 5) -> str:
    """Seconds per standard and per linearized SGD step for each study's network, measured here, and their ratio."""
    import time

    from .data import load_data
    from .linearize import Linearized
    from .training import initial_checkpoint, make_optimizer, materialise, sgd_step

    rows = []
    for arch, study in studies.items():
        run = study.run
        data = load_data(run.data, run.device, run.dtype)
        costs = []
        for wrap in (lambda m: m, Linearized):
            model = wrap(materialise(run, initial_checkpoint(run)))
            opt = make_optimizer(run, model)
            sgd_step(run, model, opt, data, 0)
            t = time.perf_counter()
            for s in range(1, steps + 1):
                sgd_step(run, model, opt, data, s)
            costs.append((time.perf_counter() - t) / steps)
        rows.append([arch, f"{costs[0] * 1e3:.0f} ms", f"{costs[1] * 1e3:.0f} ms", f"{costs[1] / costs[0]:.2f}x"])
    return table(["model", "standard step", "linearized step", "ratio"], rows)


def switch_summary(profile: str, results: dict) -> dict:
    """Accuracy of θ_std→lin(T; t) per switch time, rank correlation, recovered fraction, and the verdict."""
    rows, flags, per_arch = [], [], {}
    for arch, res in results.items():
        acc = res.accuracy.mean(0)
        rho = _spearman(res.switches, acc)
        gap = acc[-1] - acc[0]
        recovered = (acc[1] - acc[0]) / gap if gap > 0 else math.nan
        ok = bool(acc[-2] > acc[0] and rho >= 0.7)
        flags.append(ok)
        per_arch[arch] = {"switches": res.switches.tolist(), "accuracy_mean": acc.tolist(), "spearman": rho,
                          "recovered_at_first_switch": recovered, "reproduced": ok}
        for t, a, lo, hi, loss in zip(res.switches, acc, res.accuracy.min(0), res.accuracy.max(0), res.loss.mean(0)):
            rows.append([arch, str(t), f"{a:.3f}", f"[{lo:.3f}, {hi:.3f}]", f"{loss:.4g}"])
        rows.append([arch, "Spearman(t, acc)", _fmt(rho), f"recovered at t={res.switches[1]}: {_fmt(recovered)}", ""])
    verdict = "reproduced" if all(flags) else "partly" if any(flags) else "not reproduced"
    return {"profile": profile, "archs": per_arch, "verdict": verdict,
            "table": table(["model", "switch t", "test acc (mean)", "seed range", "test loss (mean)"], rows),
            "verdict_text": f"Value of the cone phase at the {profile} profile: {verdict.upper()}."}


CLAIMS = (
    ("chaos", "chaos-summary", "1. Chaos effect", "01_chaos_effect",
     "A 1e-7 perturbation early in training sends the twin elsewhere (high disagreement, loss barrier); after an "
     "inflection point (≈ 100–500 iterations for ResNet-20, ≈ 2,500 for VGG-16, of 62,560) it changes almost nothing."),
    ("cone", "cone-summary", "2. Cone effect", "02_cone_effect",
     "After the transition the eNTK keeps moving but inside a narrow cone: S(τ, t) rises then plateaus for "
     "τ ∈ {2000, …, 8000}; adjacent-checkpoint kernel distance drops to a small non-zero value."),
    ("switch", "switch-summary", "3. Value of the cone phase", "03_linearized_switch",
     "Final test accuracy of θ_std→lin(T; t) grows with the switch time t, especially for t > 2000; "
     "fully linearized training (t = 0) is worst."),
)


def _measured(kind: str, summary: dict) -> str:
    parts = []
    for arch, s in summary["archs"].items():
        if kind == "chaos":
            inf = s["inflection"]
            d = s["disagreement_mean"]
            k = s.get("kernel_distance_mean") or [None]
            kernel = "" if k[0] is None else f"; twins' eNTK distance {k[0]:.1e} → {k[-1]:.1e}"
            parts.append(f"{arch}: disagreement {d[0]:.3f} → {d[-1]:.3f} (t0 = 0 → {s['t0s'][-1]}){kernel}, inflection "
                         f"{_fmt(inf['estimate'])} [{_fmt(inf['low'])}, {_fmt(inf['high'])}] of {s['steps']} "
                         f"iterations; ε = 0 control exact: {'yes' if s['control_exact'] else 'NO'}")
        elif kind == "cone":
            n = sum(c["plateau"] for c in s["curves"].values())
            parts.append(f"{arch}: {n} of {len(s['curves'])} S(τ, t) curves plateau; kernel velocity "
                         f"{s['velocity_early']:.1e} → {s['velocity_late']:.1e} per iteration")
        else:
            acc = s["accuracy_mean"]
            parts.append(f"{arch}: test accuracy {acc[0]:.3f} (t = 0) → {acc[-2]:.3f} (t = {s['switches'][-2]}) → "
                         f"{acc[-1]:.3f} (standard); Spearman {_fmt(s['spearman'])}")
    return "<br>".join(parts)


def scorecard_markdown(cache: Cache, profiles: tuple[str, ...] = ("smoke", "cpu", "paper")) -> str:
    """The book's scorecard page: per claim, the paper's report, what we measured at each profile run, the verdict."""
    lines = ["# Scorecard", "",
             "Generated by `scripts/make_scorecard.py` from the results cached by the chapters "
             "(`twophase_lib.reporting.scorecard_markdown`); nothing on this page is typed by hand. "
             "A profile appears once its chapter has been executed at it. The `smoke` profile only checks that "
             "the code runs: its networks train for a few dozen iterations, so its verdicts mean nothing.", "",
             "| claim | the paper | profile | what we measured | verdict |", "|---|---|---|---|---|"]
    for kind, key, title, page, paper in CLAIMS:
        found = [(p, cache.load(key, p)) for p in profiles]
        found = [(p, s) for p, s in found if s is not None]
        link = f"[{title}](chapters/{page}.ipynb)"
        if not found:
            lines.append(f"| {link} | {paper} | – | not run yet | – |")
        for i, (p, s) in enumerate(found):
            lines.append(f"| {link if i == 0 else ''} | {paper if i == 0 else ''} | `{p}` | {_measured(kind, s)} | "
                         f"**{s['verdict']}** |")
    return "\n".join(lines) + "\n"


PROFILE_TEXT = {
    "smoke": "tiny networks, a few dozen iterations, two seeds: checks that the code runs (CI executes every "
             "chapter at it); its numbers mean nothing",
    "cpu": "narrow ResNet-20 / VGG-16 on the embedded real CIFAR-10 subset (5,170 train / 1,017 test images), "
           "400 iterations, three seeds: the results this book shows",
    "paper": "full-width networks, full CIFAR-10 (downloaded by torchvision), the paper's 160-epoch recipe "
             "(62,560 iterations): needs a GPU",
}


def rerun_markdown(run_times: dict) -> str:
    """The 're-run it yourself' page: profiles, measured cost of each chapter, commands, where results are cached."""
    chapters = sorted(run_times)
    rows = ["| chapter | " + " | ".join(f"`{p}`" for p in PROFILE_TEXT) + " |",
            "|---|" + "---|" * len(PROFILE_TEXT)]
    for ch in chapters:
        cells = []
        for p in PROFILE_TEXT:
            r = run_times[ch].get(p)
            note = f"; {r['note']}" if r and r.get("note") else ""
            cells.append(f"{r['seconds'] / 60:.1f} min ({r['machine']}{note})" if r else "not measured yet")
        rows.append(f"| {ch} | " + " | ".join(cells) + " |")
    profiles = "\n".join(f"- **`{p}`**: {t}." for p, t in PROFILE_TEXT.items())
    return f"""# Re-run it yourself

Every chapter is a percent-format script in `notebooks/` with one parameter, `profile`.

{profiles}

## Cost

Longest recorded wall time of each chapter with its own work uncached (its training runs, branches and
kernels computed from scratch; with a warm cache a chapter re-renders in seconds), written by
`scripts/run_chapters.py` to `book/run_times.json`:

{chr(10).join(rows)}

The chapters share their training runs through the cache: chapters 2 and 3 reuse chapter 1's parent runs,
so run them after chapter 1 (as `make book` does) or they retrain those runs themselves. GPU times have
not been measured yet.

## Commands

```bash
make book                                                     # every chapter at cpu, then the HTML book
make chapter NB=notebooks/01_chaos_effect.py PROFILE=smoke    # one chapter at one profile
make chapter NB=notebooks/02_cone_effect.py PROFILE=paper     # the paper's scale (GPU, full CIFAR-10)
```

`make chapter` writes the executed notebook to `book/chapters/` (cpu), `tests/baselines/` (smoke) or
`artifacts/paper/` (paper). Outside the Makefile, the same runs are
`python scripts/run_chapters.py --profile PROFILE notebooks/NN_name.py`.

## Where results live

Every trained checkpoint, branch, kernel and summary is stored under a hash of its full configuration
(`twophase_lib.cache`), in `$TWOPHASE_CACHE` (the Makefile sets `.cache/twophase/` in the repository).
Files are written atomically and carry a checksum: an interrupted sweep resumes where it stopped, and a
damaged file is recomputed, never loaded. Delete the folder to recompute everything. A unit of work is a
pure function of its configuration, so any executor can compute it; the library runs them in this
process by default (`twophase_lib.chaos.run_sweep(..., executor=...)` takes another).

The full CIFAR-10 for the `paper` profile is downloaded by torchvision into `$TWOPHASE_DATA`
(default `~/.cache/twophase/data`); without internet access, place `cifar-10-batches-py` there.
"""
