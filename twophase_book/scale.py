"""Is it the paper or our scale? (chapter 7, issue 34) The scale ladder's claim in one home: its predictions,
committed before any ladder number existed, each read by :func:`twophase_lib.verdicts.width_trend`; its rungs and
their designs; the studies a rung runs and what it measures; the trends, tables, figures and the typed summary
whose per-claim cells are the scorecard's scale column; the kernel's definitions measured on chapter 2's runs.

Widths are multipliers of the paper's network (ResNet-20 ×1, VGG-16 ×1, so the paper's width is 1); a rung is a
network at a width, a batch size and a training set. The rungs run at the ``ladder`` profile, once, outside the
book's budget (their measures are cached per rung, so the ladder runs in parts, and recorded in
``book/ladder.json`` by ``scripts/record_ladder.py``); the ``cpu`` book reads that record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np

from twophase_lib.chaos import ChaosMap, Reference, window_reading
from twophase_lib.cone import ConeResult, ConeStudy, lag_reading
from twophase_lib.perturbation import Perturbation
from twophase_lib.switch import SwitchArm, SwitchResult, SwitchStudy, switch_verdict
from twophase_lib.verdicts import ScaleOutcome, width_trend

from .profiles import TRAIN_IMAGES, ProtocolDesign, display_name
from .render import Note, Table, fmt
from .summary import NOT_RUN, Cell, ClaimSummary, Number

#: What kernel theory predicts, and why it may not hold here. In the NTK parameterisation, or with the lr scaled
#: with width, the relative change of the kernel during training shrinks as width^(−1/2) (Lee et al. 2019; Geiger
#: et al.; Hanin & Nica), so S = 1 − cos of two kernels shrinks as 1/width, a log–log slope of −1. The paper's
#: networks and ours train in standard parameterisation at a fixed lr, where the theory guarantees nothing; the
#: ladder measures the slope rather than assuming it.
KERNEL_THEORY = ("S = 1 − cos of two kernels ∝ 1/width in the NTK parameterisation (Lee et al. 2019; Geiger et "
                 "al.; Hanin & Nica); standard parameterisation at a fixed lr guarantees nothing")


@dataclass(frozen=True)
class Prediction:
    """One quantity on one network: whether it falls (or grows) with width, the slope its prediction rejects
    beyond, the paper's value at the paper's width (a range read off its figures), and why; ``claim`` is the claim
    whose scale column it informs, ``measure`` the per-seed measurement of a rung it reads
    (:class:`RungMeasures`' field)."""

    quantity: str
    network: str
    falls: bool
    slope_bound: float
    paper: tuple[float, float]
    reason: str
    claim: str = "cone"
    measure: str = "floor"
    log: bool = True  # fitted in log–log (a power law); False: the value itself against log width (a gain)
    upper: float | None = None  # the largest value the quantity can take (S = 1 − cos ≤ 1)


#: The ladder's predictions (issue 34), each judged by :func:`twophase_lib.verdicts.width_trend`, the
#: slope against ``slope_bound`` (a predicted slope of −1, rejected above −0.3), and the fitted value at the
#: paper's width against the paper's (consistent: the fit's interval meets it; fails: it lies wholly outside).
PREDICTIONS = (
    Prediction("late lag floor S(t, t + Δmax)", "resnet20", True, -0.3, (0.02, 0.03),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.02 (Fig. 5b)", upper=1.0),
    Prediction("late lag floor S(t, t + Δmax)", "vgg16", True, -0.3, (0.05, 0.1),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.05 (Fig. 5b), ≈ 0.05–0.1 from late τ (Fig. 5a)", upper=1.0),
    Prediction("S(0, t), travelled from initialisation", "resnet20", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)", measure="travelled", upper=1.0),
    Prediction("S(0, t), travelled from initialisation", "vgg16", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)", measure="travelled", upper=1.0),
    Prediction("chaos inflection (epochs)", "vgg16", False, 0.0, (5.1, 6.4),
               "the paper's inflection ≈ 2,000–2,500 iterations at 390 per epoch (5.1–6.4 epochs) against ≈ 2.5 "
               "epochs at ×1/8 here: moving toward the paper's, it grows with width (slope above 0)",
               claim="chaos", measure="inflection_epochs"),
    # added before any ladder number (the commit order shows it): the switch claim's quantity
    Prediction("switch gain acc(T; t late) − acc(T; 0)", "resnet20", False, 0.0, (0.35, 0.45),
               "the paper's Fig. 6 rises from ≈ 0.44 (t = 0) to ≈ 0.85 (t = 8,000) at T = 10,000; here the linear "
               "phase gains ≈ 0 at T = 500 on the narrow networks: if narrowness hides the cone phase's value, the "
               "gain grows with width (slope above 0). The paper's value is at its T, ours at the ladder's shorter "
               "T, so 'at the paper's scale' also mixes T", claim="switch", measure="switch_gain", log=False),
    Prediction("switch gain acc(T; t late) − acc(T; 0)", "vgg16", False, 0.0, (0.6, 0.75),
               "the paper's Fig. 6 rises from ≈ 0.13 (t = 0) to ≈ 0.84 (t = 8,000) at T = 10,000; as for "
               "ResNet-20, the gain grows with width if narrowness hides the cone phase's value (slope above 0); "
               "the paper's value is at its longer T", claim="switch", measure="switch_gain", log=False),
)


# ------------------------------------------------------------------------------------------- the rungs' designs

#: The profiles the scale chapter runs at, ``smoke`` (tiny rungs, to check the code), ``cpu`` (the book: the kernel's
#: definition measured on chapter 2's cached runs, and the ladder's recorded measurements), ``ladder`` (the rungs
#: themselves, once, outside the book's budget: ``make chapter NB=notebooks/07_paper_or_scale.py PROFILE=ladder``).
SCALE_PROFILES = ("smoke", "cpu", "ladder")
#: The paper's batch size (in every code base of its first author), the ladder's primary one.
PAPER_BATCH = 128
#: The smoke ladder's batch size (its trends are read at it).
SMOKE_BATCH = 32
#: Where the ladder's measurements are recorded for the book (``scripts/record_ladder.py``), relative to the
#: repository's root.
LADDER_RECORD = "book/ladder.json"
#: The version of what a rung measures (:func:`measure_rung`): part of the measures' cache key and of the record, so a
#: change to the measurement is never read from measures computed before it. Bump it with any such change.
MEASURE_VERSION = 1


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Rung:
    """One rung of the ladder: a network at a width (a multiplier of the paper's: the paper's ResNet-20 is ×1), a
    batch size, a training set (None: the whole subset; else its first ``train_examples`` images), whether the
    rung runs the switch (the costliest study: batch 128 on the whole subset only), and whether it is a GPU rung
    (``gpu``: VGG-16 at the paper's width and half of it, which do not fit on two CPU cores; its design runs on
    ``cuda``, :data:`GPU_WIDTHS`)."""

    arch: str
    width: float
    batch_size: int
    train_examples: int | None = None
    switch: bool = True
    gpu: bool = False

    @property
    def id(self) -> str:
        """A short name a re-runner selects rungs by (``-p rungs resnet20-x0.5-b128``)."""
        return (f"{self.arch}-x{self.width:g}-b{self.batch_size}"
                + ("" if self.train_examples is None else f"-n{self.train_examples}"))

    @property
    def series(self) -> str:
        """The series the rung belongs to, one network at one batch size (``resnet20-b128``): the rungs one trend is
        fitted over, with their companion on half the data. A series' rungs are computed by one code version (the
        ladder's record refuses to mix them, :func:`record_code`)."""
        return f"{self.arch}-b{self.batch_size}"

    @property
    def label(self) -> str:
        """How the book names the rung."""
        from fractions import Fraction

        w = Fraction(self.width).limit_denominator(64)
        data = "" if self.train_examples is None else f", {self.train_examples:,} images"
        return f"{display_name(self.arch)} ×{w}, batch {self.batch_size}{data}"


def _rungs(profile: str) -> tuple[Rung, ...]:
    if profile == "smoke":  # three rungs of one network (a trend), one of the other, one with half the data
        return (*(Rung("resnet20", w, SMOKE_BATCH) for w in (0.0625, 0.125, 0.25)), Rung("vgg16", 0.03125, SMOKE_BATCH),
                Rung("resnet20", 0.125, SMOKE_BATCH, train_examples=500, switch=False))
    widths = {"resnet20": (0.25, 0.5, 1.0), "vgg16": (0.0625, 0.125, 0.25)}
    out = [Rung(a, w, PAPER_BATCH) for a, ws in widths.items() for w in ws]
    out += [Rung(a, w, 64, switch=False) for a, ws in widths.items() for w in ws]  # ours: chaos and cone only
    out.append(Rung("resnet20", 0.5, PAPER_BATCH, train_examples=TRAIN_IMAGES["cifar10-subset"] // 2, switch=False))
    out += [Rung(a, w, PAPER_BATCH, gpu=True) for a, ws in GPU_WIDTHS.items() for w in ws]
    return tuple(out)


#: The widths of the ladder's GPU rungs, at batch 128 with the switch. VGG-16 at half the paper's width and at the
#: paper's own, the top of its series, which two CPU cores cannot run (issue 34, "where a GPU is available, the
#: full-width networks are the top rung"). They run on one CUDA device (``python scripts/gpu_book.py --ladder``),
#: and on a machine without one they stay in the record's missing rungs.
GPU_WIDTHS = {"vgg16": (0.5, 1.0)}


def ladder_rungs(profile: str = "ladder") -> tuple[Rung, ...]:
    """Every rung of a profile's ladder in the ladder's order, the GPU rungs included (what a record holds or
    misses; :func:`select_rungs` chooses what one run computes)."""
    return _rungs(profile)


def gpu_rungs(profile: str = "ladder") -> tuple[Rung, ...]:
    """The GPU rungs of a profile's ladder (:data:`GPU_WIDTHS`; none at ``smoke``)."""
    return tuple(r for r in _rungs(profile) if r.gpu)


def cuda_available() -> bool:
    """Whether this process has a CUDA device (a GPU rung runs, and its cached measures are read, only there)."""
    import torch

    return torch.cuda.is_available()


def rung_design(profile: str, rung: Rung) -> ProtocolDesign:
    """A rung's design: chapters 1–3's protocol at the rung's width, batch and data, over the ladder's window
    (``ladder``: 1,500 iterations, the switch trained to T = 700; ``smoke``: tiny). The chaos slice is one fixed
    window Δ judged against data-order twins, the cone's lag curves run to the window's end with S(0, t) and the
    calibration, the switch arm and its batch-norm-frozen control at every switch time.

    Raises:
        ValueError: a profile without rungs (``cpu`` reads the ladder's record).
    """
    from twophase_lib.config import DataConfig, ModelConfig, OptimConfig, RunConfig
    from twophase_lib.metrics import BarrierConfig

    from .profiles import ChaosDesign, ConeDesign, ExtensionDesign, SwitchDesign

    if profile not in ("smoke", "ladder"):
        raise ValueError(f"rungs are computed at the smoke and ladder profiles, not {profile!r}")
    window = 16 if profile == "smoke" else 1500
    run = RunConfig(ModelConfig(rung.arch, rung.width),
                    DataConfig("cifar10-subset", train_examples=rung.train_examples),
                    OptimConfig(batch_size=rung.batch_size, steps=window, milestones=()))
    if profile == "smoke":
        chaos = ChaosDesign(t0s=(0, 4, 8), deltas=(8,), control_t0=4, seeds=(0, 1), reference_seeds=(0,),
                            barrier=BarrierConfig(points=3, bn_batches=2, bn_batch_size=64, train_examples=200,
                                                  test_examples=200),
                            kernel_inputs=0, entry_t0s=(0,), kernel_deltas=())
        cone = ConeDesign(steps=tuple(range(0, 17, 4)), lags=(4, 8, 12), lag_ts=(0, 4), taus=(0, 4), inputs=4,
                          reference_seeds=(0,), reference_steps=(0, 4, 16))
        switch = SwitchDesign(T=8, switches=(0, 4, 8), control_switches=(), seeds=(0, 1), lr_scale=0.1,
                              train_examples=200)
    else:
        # t0 up to 1,200 so the slice t1 = t0 + 300 reaches the window's end; 40 iterations per epoch at batch 128
        # (80 at 64): the grid spans 0–30 epochs, past the paper's VGG-16 inflection (5.1–6.4 epochs)
        # 150, 250 and 300 (3.75, 6.25 and 7.5 epochs at batch 128) put grid points around the paper's VGG-16
        # inflection (5.1–6.4 epochs): an inflection only takes grid values
        chaos = ChaosDesign(t0s=(0, 50, 100, 150, 200, 250, 300, 400, 800, 1200), deltas=(300,), control_t0=100,
                            seeds=(0, 1, 2),
                            reference_seeds=(0, 1, 2),
                            barrier=BarrierConfig(points=3, bn_batches=4, train_examples=500),
                            kernel_inputs=0, entry_t0s=(0,), kernel_deltas=())
        steps = tuple(sorted({0, 25, 50, 75, *range(0, window + 1, 100)}))
        cone = ConeDesign(steps=steps, lags=(100, 200, 300, 500), lag_ts=(0, 200, 400, 700, 1000),
                          taus=(0, 400, 1000), inputs=50, reference_seeds=(0, 1),
                          reference_steps=(0, 300, 600, 1000, 1500))
        switch = SwitchDesign(T=700, switches=(0, 200, 300, 400, 500, 600, 700), control_switches=(),
                              seeds=(0, 1, 2), lr_scale=0.1, train_examples=1000)
    if rung.gpu:
        run = run.replace(device="cuda")
    return ProtocolDesign(profile, rung.arch, run, chaos, cone, switch, ExtensionDesign(run, t0s=()))


def select_rungs(profile: str, rungs=None) -> tuple[Rung, ...]:
    """The rungs of a profile a re-runner asked for (``rungs``: ids, or networks, or ``"gpu"`` for the GPU rungs, as
    a list or a string; None: every rung but the GPU rungs), so the ladder can run in parts of under two hours each.
    A network's name selects its CPU rungs; a GPU rung is chosen by its id or by ``"gpu"``.

    Raises:
        ValueError: a name that is neither a rung's id nor a network of the ladder nor ``"gpu"`` (the message lists
            the ids).
    """
    from .profiles import _as_tuple

    every = _rungs(profile)
    if rungs is None:
        return tuple(r for r in every if not r.gpu)
    names = _as_tuple(rungs, str, "rungs")
    known = {r.id for r in every} | {r.arch for r in every} | ({"gpu"} if any(r.gpu for r in every) else set())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown rungs {unknown}; the {profile} profile's rungs are {', '.join(r.id for r in every)} "
                         f"(or a network: {', '.join(dict.fromkeys(r.arch for r in every))}"
                         + ("; or gpu, the GPU rungs" if "gpu" in known else "") + ")")
    return tuple(r for r in every if r.id in names or (r.arch in names and not r.gpu) or (r.gpu and "gpu" in names))


def chapter_designs(profile: str, rungs=None) -> dict:
    """The scale chapter's designs at a profile: ``{"rungs": {rung id: ProtocolDesign}, "definitions": {network:
    ProtocolDesign}}``. The rungs are computed at ``smoke`` and ``ladder`` (none at ``cpu``, which reads the ladder's
    record, ``book/ladder.json``); the kernel's definition is measured at ``smoke`` and ``cpu`` on chapter 2's own
    runs (their cached checkpoints: no training).

    Raises:
        ValueError: a profile the chapter does not run at, an unknown rung, or rungs chosen at ``cpu``.
    """
    from twophase_lib.config import check_choice

    from .profiles import protocol_designs

    check_choice(profile, SCALE_PROFILES, "profile of the scale chapter")
    computed = profile in ("smoke", "ladder")
    if not computed and rungs is not None:
        raise ValueError(f"rungs are chosen where they are computed, at the smoke and ladder profiles; at {profile} "
                         f"the chapter reads every rung the ladder's record holds ({LADDER_RECORD})")
    chosen = select_rungs(profile, rungs) if computed else ()
    gpu = [r.id for r in chosen if r.gpu]
    if gpu and not cuda_available():
        raise ValueError(f"{', '.join(gpu)}: GPU rungs (VGG-16 at the paper's width and half of it) run on a CUDA "
                         "device, and this machine has none; on one with a GPU: python scripts/gpu_book.py --ladder "
                         "--out OUT (python scripts/gpu_book.py --ladder --plan: what it runs, its modelled cost)")
    return {"rungs": {r.id: rung_design(profile, r) for r in chosen},
            "definitions": protocol_designs(profile) if profile != "ladder" else {}}


def rung(profile: str, rung_id: str) -> Rung:
    """The rung of a profile's ladder with this id.

    Raises:
        ValueError: an unknown id.
    """
    return select_rungs(profile, [rung_id])[0]


# ------------------------------------------------------------------------------------------------ the studies

#: The switch's two arms on a rung, the paper's (linearized at t) and the control its rule reads (batch norm frozen).
SWITCH_ARMS = ("linearized", "batch norm frozen")


def rung_studies(profile: str, designs: dict[str, ProtocolDesign]) -> dict:
    """Every rung's studies, keyed by (rung id, part): the chaos slice (``"map"``: twins at every t0 compared at
    t1 = t0 + Δ against twins on two data orders), the lag curves (``"lags"``: the eNTK on training inputs along the
    parents, with the calibration), and where the rung runs the switch, its arms (``SWITCH_ARMS``)."""
    out: dict = {}
    for rid, d in designs.items():
        c, k, s = d.chaos, d.cone, d.switch
        out[(rid, "map")] = ChaosMap(d.run, c.t0s, c.t1s, Perturbation(c.epsilon), c.seeds, c.control_t0, c.barrier,
                                     0, reference_seeds=c.reference_seeds, horizon=max(c.deltas), deltas=c.deltas,
                                     kernel_deltas=(), reference_t1s=tuple(c.t0s[0] + x for x in c.deltas),
                                     parent_steps=k.steps, reference_kind=Reference.DATA_ORDER)
        out[(rid, "lags")] = ConeStudy(d.run, k.steps, k.taus, c.seeds, k.inputs, split="train",
                                       reference_seeds=k.reference_seeds, reference_steps=k.reference_steps)
        if rung(profile, rid).switch:
            run = d.run.replace(optim={"steps": s.T})
            out[(rid, SWITCH_ARMS[0])] = SwitchStudy(run, s.switches, s.seeds, train_examples=s.train_examples)
            out[(rid, SWITCH_ARMS[1])] = SwitchStudy(run, s.switches, s.seeds, train_examples=s.train_examples,
                                                     arm=SwitchArm.FROZEN_BATCH_NORM)
    return out


#: The kernel's definitions measured on chapter 2's cached runs, with no training (issue 34), the book's
#: (all logits, its input count, batch norm re-estimated at each checkpoint) and one change at a time. The paper
#: states neither the logits nor the input count nor the statistics.
DEFINITIONS = {"the book's": {}, "summed logits": {"mode": "sum"}, "4× the inputs": {"inputs": 4},
               "running statistics": {"bn": "running"}}


def definition_steps(d: ProtocolDesign) -> tuple[int, int, int, int]:
    """The checkpoints the definitions are compared at: 0, the late lag curve's t, the checkpoint before the
    window's last, and the last (S(0, t) travelled, the floor S(t, end), the adjacent distance)."""
    steps = d.cone.steps
    return 0, max(d.cone.lag_ts), steps[-2], steps[-1]


def definition_studies(designs: dict[str, ProtocolDesign]) -> dict:
    """Per network and definition (:data:`DEFINITIONS`), the eNTK along chapter 2's own runs at
    :func:`definition_steps` (their checkpoints are cached: nothing is trained), keyed by (network, definition)."""
    out = {}
    for arch, d in designs.items():
        for name, change in DEFINITIONS.items():
            out[(arch, name)] = ConeStudy(d.run, definition_steps(d), (0,), d.chaos.seeds,
                                          d.cone.inputs * change.get("inputs", 1), mode=change.get("mode", "full"),
                                          split="train", bn=change.get("bn", "reestimated"))
    return out


def studies(designs: dict) -> dict:
    """The scale claim's studies (the registry's ``studies``): the rungs' and the definitions'."""
    profile = next((d.profile for d in designs["rungs"].values()), None)
    out = {("rung", *k): v for k, v in rung_studies(profile, designs["rungs"]).items()} if profile else {}
    out.update({("definition", *k): v for k, v in definition_studies(designs["definitions"]).items()})
    return out


# ------------------------------------------------------------------------------------- what a rung measures


@dataclass
class RungMeasures:
    """What one rung measured, per seed where the ladder's trends need it, and its verdicts by the book's rules.

    ``floor`` the late lag curve's last point S(t, t + Δmax) and ``travelled`` S(0, t) at the same late t, per
    seed; ``calibration`` S between independently initialised networks at that t; ``inflection_epochs`` per seed,
    the first t0 of the grid where the twins' disagreement on the slice has halved, in epochs (inf: not within the
    grid); ``inflection`` the seed-mean curve's, in iterations, with its interval; ``switch_gain`` per seed, the final
    accuracy after switching at the last switch time before T minus after switching at 0 (None: the rung runs no
    switch); ``chaos``, ``cone``, ``switch`` the rules' outcomes, ``details`` what decided them.
    """

    rung: dict
    window: int
    epoch_steps: int
    late: int
    max_lag: int
    floor: list[float]
    travelled: list[float]
    calibration: float
    inflection_epochs: list[float]
    inflection: dict
    chaos: str
    cone: str
    switch: str | None = None
    switch_gain: list[float] | None = None
    switch_times: tuple[int, int] | None = None
    details: dict = field(default_factory=dict)

    @property
    def spec(self) -> Rung:
        """The rung measured."""
        return Rung(**self.rung)

    def to_dict(self) -> dict:
        """A JSON-able dict (what the cache and the ladder's record store)."""
        import dataclasses

        return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                for k, v in dataclasses.asdict(self).items()} | {
            "inflection_epochs": [x if math.isfinite(x) else "inf" for x in self.inflection_epochs],
            "inflection": {k: (v if math.isfinite(v) else str(v)) for k, v in self.inflection.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> RungMeasures:
        """The measures a :meth:`to_dict` stored."""
        data = dict(data)
        data["inflection_epochs"] = [float(x) for x in data["inflection_epochs"]]
        data["inflection"] = {k: float(v) for k, v in data["inflection"].items()}
        data["calibration"] = float(data["calibration"])  # "nan" when the calibration was not measured
        if data.get("switch_times") is not None:
            data["switch_times"] = tuple(data["switch_times"])
        return cls(**data)


def measure_rung(profile: str, rid: str, design: ProtocolDesign, results: dict) -> RungMeasures:
    """A rung's :class:`RungMeasures` from its studies' results (keyed as :func:`rung_studies` keys them, without
    the rung id): the fixed-window chaos reading, the lag reading and, where run, the switch's paired rule."""
    from twophase_lib.verdicts import inflections

    from .summary import decided_by

    r = rung(profile, rid)
    delta = design.chaos.deltas[0]
    chaos_r = window_reading(r.label, results["map"], "disagreement", delta)
    per_seed = inflections(chaos_r.t0s, chaos_r.per_seed)
    lag = lag_reading(r.label, results["lags"], design.cone.lag_ts, design.cone.lags)
    floor = lag.curves[lag.late][:, -1]
    details = {"chaos": decided_by(chaos_r.verdict), "cone": decided_by(lag.verdict)}
    switch = gain = times = None
    if SWITCH_ARMS[0] in results:
        res: SwitchResult = results[SWITCH_ARMS[0]]
        v = switch_verdict(res, chaos_r.inflection["estimate"], results.get(SWITCH_ARMS[1]))
        switch, details["switch"] = str(v.outcome), decided_by(v)
        k = len(res.switches) - 2  # the last switch time before T
        gain = (res.accuracy[:, k] - res.accuracy[:, 0]).tolist()
        times = (int(res.switches[k]), int(res.switches[0]))
    return RungMeasures(
        rung=dict(vars(r)), window=design.window, epoch_steps=design.epoch_steps, late=lag.late,
        max_lag=int(lag.lags[-1]), floor=floor.tolist(), travelled=lag.travelled_per_seed.tolist(),
        calibration=float(lag.calibration), inflection_epochs=(per_seed / design.epoch_steps).tolist(),
        inflection={k: float(chaos_r.inflection[k]) for k in ("estimate", "low", "high")},
        chaos=str(chaos_r.verdict.outcome), cone=str(lag.verdict.outcome), switch=switch, switch_gain=gain,
        switch_times=times, details=details)


def measure_rungs(profile: str, designs: dict[str, ProtocolDesign], results: dict) -> list[RungMeasures]:
    """Every rung's measures from the chapter's results (keyed as :func:`studies` keys them)."""
    out = []
    for rid, d in designs.items():
        mine = {k[2]: v for k, v in results.items() if k[0] == "rung" and k[1] == rid}
        out.append(measure_rung(profile, rid, d, mine))
    return out


def save_measures(cache, design: ProtocolDesign, measures: RungMeasures, run: dict) -> None:
    """Store a rung's measures under its design (``scale-rung``) with the run that computed them (``run``: the
    rung ids computed together, their wall time in seconds, the date), where ``scripts/record_ladder.py`` gathers
    the ladder's parts from. Measures already stored are kept with their run: a later execution that read every
    result from the cache computed nothing, and its wall time is not the rung's."""
    if cache.load("scale-rung", (design, MEASURE_VERSION)) is None:
        cache.save("scale-rung", (design, MEASURE_VERSION), {"measures": measures.to_dict(), "run": run})


def run_record(rung_ids, wall_s: float) -> dict:
    """What :func:`save_measures` keeps of the run that computed rungs: their ids, its wall time in seconds, the date
    and the commit it ran (``git describe``; "unknown" outside a checkout), so a record says where its numbers came
    from."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=_root(), capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"rungs": list(rung_ids), "wall_s": round(wall_s), "date": datetime.date.today().isoformat(),
            "commit": commit}


def load_measures(cache, profile: str = "ladder") -> tuple[list[RungMeasures], list[str], list[dict]]:
    """The measures a cache holds for every rung of a profile's ladder (in the ladder's order), the ids of the
    rungs it lacks, and the runs that computed them (each once). Without a CUDA device the GPU rungs are counted
    missing: their cache keys hold the GPU's numerics fingerprint."""
    found, missing, runs = [], [], []
    for r in _rungs(profile):
        if r.gpu and not cuda_available():  # its key holds a CUDA fingerprint, which only a GPU can give
            missing.append(r.id)
            continue
        data = cache.load("scale-rung", (rung_design(profile, r), MEASURE_VERSION))
        if data is None:
            missing.append(r.id)
            continue
        found.append(RungMeasures.from_dict(data["measures"]))
        if data["run"] not in runs:
            runs.append(data["run"])
    return found, missing, runs


def record_numerics(data: dict) -> dict[str, str]:
    """The numerics fingerprint each rung of a ladder record (its JSON dict) was computed with, ``{rung id:
    fingerprint id}``. A rung's studies never mix kernels; the ladder runs in parts, in sessions on different
    machines, so two rungs may come from different kernels. A record written before fingerprints were kept per rung
    holds one for all its rungs."""
    numerics = data.get("numerics") or {}
    if isinstance(numerics, str):
        return {rid: numerics for rid in data["rungs"]}
    return dict(numerics)


def record_code(data: dict) -> dict[str, int]:
    """The code version (:data:`twophase_lib.config.CACHE_VERSION`) each rung of a ladder record was computed by,
    ``{rung id: version}``; 2 for a rung recorded before the record kept it."""
    return {rid: data.get("code", {}).get(rid, 2) for rid in data["rungs"]}


def read_record(path=None) -> dict | None:
    """The ladder's record (default :data:`LADDER_RECORD` in the repository, wherever the chapter runs from): its
    measures as :class:`RungMeasures` under ``"measures"`` beside where, when and on which kernels they were
    computed (``"numerics"``: a fingerprint id per rung, :func:`record_numerics`; ``"code"``: the code version per
    rung, :func:`record_code`); None when there is none.

    Raises:
        ValueError: a record of another profile, of another measurement version (:data:`MEASURE_VERSION`: re-run the
            ladder and re-record), or holding rungs the ladder no longer has.
    """
    import json
    from pathlib import Path

    path = Path(path) if path is not None else _root() / LADDER_RECORD
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("profile") != "ladder" or data.get("measure_version") != MEASURE_VERSION:
        raise ValueError(f"{path} is a record of profile {data.get('profile')!r}, measurement version "
                         f"{data.get('measure_version')!r}; this chapter reads the ladder profile's, version "
                         f"{MEASURE_VERSION}: re-run the ladder and `python scripts/record_ladder.py`")
    known = {r.id for r in _rungs("ladder")}
    if set(data["rungs"]) - known:
        raise ValueError(f"{path} holds rungs the ladder no longer has: {sorted(set(data['rungs']) - known)}")
    data["measures"] = [RungMeasures.from_dict(m) for m in data["rungs"].values()]
    data["numerics"], data["code"] = record_numerics(data), record_code(data)
    unkeyed = sorted(set(data["rungs"]) - set(data["numerics"]))
    if unkeyed:
        raise ValueError(f"{path} holds rungs {unkeyed} without the numerics fingerprint they were computed with: "
                         "re-record them with `python scripts/record_ladder.py`")
    return data


# ------------------------------------------------------------------------------------------------ the trends


def _values(m: RungMeasures, measure: str) -> list[float] | None:
    return getattr(m, measure)


def primary_batch(profile: str) -> int:
    """The batch size a profile's trends are read at: the paper's (:data:`PAPER_BATCH`), the smoke ladder's own at
    ``smoke``."""
    return SMOKE_BATCH if profile == "smoke" else PAPER_BATCH


def ladder_trends(measures: list[RungMeasures], batch_size: int = PAPER_BATCH) -> list[tuple]:
    """Each prediction (:data:`PREDICTIONS`) read by :func:`twophase_lib.verdicts.width_trend` over the rungs of
    its network at ``batch_size`` (:func:`primary_batch`) on the whole subset: (prediction, ScaleTrend or None, why
    none), in the predictions' order. None when fewer than three rungs measured the quantity, or when a rung's
    value cannot enter the fit (an inflection beyond the grid; a value not positive where a power law is fitted),
    which says so."""
    from twophase_lib.verdicts import MIN_RUNGS

    out = []
    for p in PREDICTIONS:
        rungs = sorted((m for m in measures if m.spec.arch == p.network and m.spec.batch_size == batch_size
                        and m.spec.train_examples is None and _values(m, p.measure) is not None),
                       key=lambda m: m.spec.width)
        if len(rungs) < MIN_RUNGS:
            out.append((p, None, f"{len(rungs)} rung(s) measured it at batch {batch_size} (a trend needs "
                                 f"{MIN_RUNGS})"))
            continue
        ok = (lambda v: math.isfinite(v) and v > 0) if p.log else math.isfinite
        bad = [f"{m.spec.label}: {', '.join('> grid' if v == math.inf else fmt(v) for v in _values(m, p.measure))}"
               for m in rungs
               if not all(ok(v) for v in _values(m, p.measure))]
        if bad:
            what = "positive and finite (a power law is fitted in log–log)" if p.log else "finite"
            out.append((p, None, f"no trend can be fitted, a value is not {what} (" + "; ".join(bad) + ")"))
            continue
        out.append((p, width_trend(np.array([m.spec.width for m in rungs]),
                                   [np.array(_values(m, p.measure)) for m in rungs], p.paper, p.slope_bound,
                                   p.falls, log_values=p.log, upper=p.upper), ""))
    return out


#: The claims the scorecard's scale column speaks for, those a prediction informs.
SCALE_CLAIMS = tuple(dict.fromkeys(p.claim for p in PREDICTIONS))


def claim_scale(trends: list[tuple], measured: bool = True) -> dict[str, tuple[str, str]]:
    """Per claim (:data:`SCALE_CLAIMS`), what the ladder says at the paper's scale, and why: *fails at the paper's
    scale* when a prediction's value at the paper's width lies wholly outside the paper's; *consistent* when every
    prediction of the claim meets it; *cannot tell* otherwise (an interval too wide or without width, a trend that
    could not be fitted); *not run* when no rung was measured (``measured`` False)."""
    if not measured:
        return {claim: (NOT_RUN, "the ladder has not been run") for claim in SCALE_CLAIMS}
    out = {}
    for claim in SCALE_CLAIMS:
        mine = [(p, t, why) for p, t, why in trends if p.claim == claim]
        outcomes = [t.outcome if t is not None else ScaleOutcome.CANNOT_TELL for _, t, _ in mine]
        if not mine:
            out[claim] = (str(ScaleOutcome.CANNOT_TELL), "no prediction")
            continue
        if ScaleOutcome.FAILS in outcomes:
            o = ScaleOutcome.FAILS
        elif all(x == ScaleOutcome.CONSISTENT for x in outcomes):
            o = ScaleOutcome.CONSISTENT
        else:
            o = ScaleOutcome.CANNOT_TELL
        why = "; ".join(f"{display_name(p.network)} {p.quantity}: " + (
            why_ if t is None else f"{t.outcome} (slope {t.slope:+.2f} [{t.slope_interval[0]:+.2f}, "
                                   f"{t.slope_interval[1]:+.2f}], {t.trend}; at ×1 {t.at_paper:.3g} "
                                   f"[{t.at_paper_interval[0]:.3g}, {t.at_paper_interval[1]:.3g}] against "
                                   f"{p.paper[0]:g}–{p.paper[1]:g})") for p, t, why_ in mine)
        out[claim] = (str(o), why)
    return out


# ------------------------------------------------------------------------------------------ tables and figures


def _mean_range(values) -> str:
    v = np.asarray(values, dtype=float)
    if not np.isfinite(v).all():
        return ", ".join("> grid" if x == math.inf else fmt(x) for x in v)
    return f"{v.mean():.3g} [{v.min():.3g}, {v.max():.3g}]"


def predictions_table() -> Table:
    """The predictions as committed before any ladder number (:data:`PREDICTIONS`)."""
    rows = [[p.quantity, display_name(p.network), p.claim,
             f"{'falls' if p.falls else 'grows'} (rejected when the slope's interval lies "
             f"{'above' if p.falls else 'below'} {p.slope_bound:+g})",
             f"{p.paper[0]:g}–{p.paper[1]:g}", p.reason] for p in PREDICTIONS]
    return Table(["quantity", "network", "claim", "prediction with width", "paper at its width (approximate)",
                  "why"], rows)


def rung_table(measures: list[RungMeasures]) -> Table | Note:
    """Per rung: the cone's floor and S(0, t) (seed mean [range]), their ratio, the calibration, the chaos
    inflection in epochs per seed, the switch gain, and the book's three rules' outcomes on the rung (a note when
    no rung is measured)."""
    if not measures:
        return Note("No rung measured.")
    rows = []
    for m in measures:
        floor, trav = np.array(m.floor), np.array(m.travelled)
        rows.append([m.spec.label, m.window, _mean_range(floor), _mean_range(trav),
                     f"{floor.mean() / trav.mean():.2f}", f"{m.calibration:.3g}",
                     ", ".join("> grid" if x == math.inf else f"{x:.2g}" for x in m.inflection_epochs),
                     "–" if m.switch_gain is None else _mean_range(m.switch_gain),
                     m.chaos, m.cone, m.switch or "–"])
    late = measures[0] if measures else None
    return Table(["rung", "window", f"floor S(t, t + Δ) (t = {late.late if late else '?'}, Δ = "
                  f"{late.max_lag if late else '?'})", "S(0, t) travelled", "floor / travelled",
                  "independent init at t", "chaos inflection (epochs, per seed)",
                  "switch gain acc(T; t late) − acc(T; 0)", "chaos (rung)", "cone (rung)", "switch (rung)"], rows)


def trend_table(trends: list[tuple]) -> Table:
    """Per prediction: the fitted slope and the fitted value at the paper's width with their 90% t intervals, the
    paper's value, what the rule reads off them (or why no trend could be fitted)."""
    rows = []
    for p, t, why in trends:
        if t is None:
            rows.append([display_name(p.network), p.quantity, "–", "–", f"{p.paper[0]:g}–{p.paper[1]:g}", "–",
                         f"{ScaleOutcome.CANNOT_TELL}: {why}"])
            continue
        rows.append([display_name(p.network), p.quantity,
                     f"{t.slope:+.2f} [{t.slope_interval[0]:+.2f}, {t.slope_interval[1]:+.2f}]",
                     f"{t.at_paper:.3g} [{t.at_paper_interval[0]:.3g}, {t.at_paper_interval[1]:.3g}]",
                     f"{p.paper[0]:g}–{p.paper[1]:g}", str(t.trend), str(t.outcome)])
    return Table(["network", "quantity", "slope against log width [90%]",
                  "at the paper's width ×1: measured there, else fitted [90%]", "paper",
                  "trend against its prediction", "at the paper's scale"], rows)


def other_batch_trend_table(measures: list[RungMeasures], profile: str) -> Table | Note:
    """The predictions read over the rungs at each batch size other than the profile's own (:func:`primary_batch`;
    at ``ladder``, our batch 64 beside the paper's 128), on the quantities those rungs measure (chaos and cone: they
    run no switch): whether width moves them as it does at the paper's batch. Descriptive: the scorecard's scale
    column reads the primary batch only. A note when no such rung is measured."""
    primary = primary_batch(profile)
    rows = []
    for b in sorted({m.spec.batch_size for m in measures} - {primary}):
        trends = [(p, t, why) for p, t, why in ladder_trends(measures, b)
                  if t is not None or not why.startswith("0 rung")]
        rows += [[f"{b}", *r] for r in trend_table(trends).rows]
    if not rows:
        return Note(f"No rung at a batch size other than {primary} is measured.")
    return Table(["batch", *trend_table([]).header], rows,
                 caption=f"Descriptive: the scale column reads batch {primary} only.")


def companion_table(measures: list[RungMeasures]) -> Table | Note:
    """The rungs that move one factor other than width: our batch (64) beside the paper's (128) at each width, and
    half the training images beside the whole subset (the same network, width and batch); a note when none is
    measured."""
    rows = []
    by = {(m.spec.arch, m.spec.width, m.spec.batch_size, m.spec.train_examples): m for m in measures}
    for (arch, w, b, n), m in by.items():
        if n is not None:
            base = by.get((arch, w, b, None))
            change = f"{n:,} training images instead of {TRAIN_IMAGES['cifar10-subset']:,}"
        elif b != PAPER_BATCH:
            base = by.get((arch, w, PAPER_BATCH, None))
            change = f"batch {b} instead of {PAPER_BATCH}"
        else:
            continue
        if base is None:
            continue
        f, g = np.mean(m.floor), np.mean(base.floor)
        rows.append([base.spec.label, change, f"{g:.3g} → {f:.3g} (×{f / g:.2f})",
                     f"{np.mean(base.travelled):.3g} → {np.mean(m.travelled):.3g}",
                     f"{_inflection_mean(base)} → {_inflection_mean(m)}"])
    if not rows:
        return Note("No rung that moves another factor is measured beside its base rung.")
    return Table(["rung", "change", "floor", "S(0, t) travelled",
                  "chaos inflection, seed mean: epochs (iterations; an epoch's length changes with the batch and "
                  "the data)"], rows)


def _inflection_mean(m: RungMeasures) -> str:
    v = np.array(m.inflection_epochs)
    if not np.isfinite(v).all():
        return "> grid"
    return f"{v.mean():.2g} ({v.mean() * m.epoch_steps:.0f})"


def definition_table(results: dict, designs: dict[str, ProtocolDesign], bn_effect: dict[str, np.ndarray]) -> Table:
    """Per network and kernel definition (:data:`DEFINITIONS`): the floor S(t, end), S(0, t) travelled and the
    adjacent checkpoints' distance (seed mean [range]), and for the running statistics the distance between the two
    definitions' kernels at the same checkpoint (how much of a distance the statistics alone make)."""
    rows = []
    for arch, d in designs.items():
        z, late, prev, last = definition_steps(d)
        for name in DEFINITIONS:
            res: ConeResult = results[(arch, name)]
            m = res.matrices
            st = res.study
            rows.append([display_name(arch), name, f"{'all' if st.mode == 'full' else 'summed'} logits, "
                         f"{st.n_inputs} inputs, {st.bn}", _mean_range(m[:, 1, 3]), _mean_range(m[:, 0, 1]),
                         _mean_range(m[:, 2, 3]),
                         _mean_range(bn_effect[arch]) if name == "running statistics" else ""])
    return Table(["network", "definition", "eNTK", f"floor S({late}, {last})", f"S(0, {late}) travelled",
                  f"adjacent S({prev}, {last})", f"same checkpoint {last}: running vs re-estimated"], rows)


def definition_figure(results: dict, designs: dict[str, ProtocolDesign], bn_effect: dict[str, np.ndarray]
                      ) -> plt.Figure:
    """Per network: the floor, S(0, t) travelled and the adjacent checkpoints' distance under each kernel definition
    (bars: seed means; whiskers: seed range; log scale), with the two statistics' distance at one checkpoint as a
    dashed line: a distance below it cannot be told from the definition's own effect."""
    fig, axes = plt.subplots(1, len(designs), figsize=(6 * len(designs), 3.8), squeeze=False)
    quantities = (("floor", (1, 3)), ("S(0, t) travelled", (0, 1)), ("adjacent", (2, 3)))
    width = 0.8 / len(DEFINITIONS)
    for ax, (arch, d) in zip(axes[0], designs.items()):
        z, late, prev, last = definition_steps(d)
        for k, name in enumerate(DEFINITIONS):
            m = results[(arch, name)].matrices
            vals = [m[:, i, j] for _, (i, j) in quantities]
            mean = np.array([v.mean() for v in vals])
            err = [np.maximum(mean - [v.min() for v in vals], 0), np.maximum([v.max() for v in vals] - mean, 0)]
            ax.bar(np.arange(len(quantities)) + (k - (len(DEFINITIONS) - 1) / 2) * width, mean, width, yerr=err,
                   capsize=2, label=name, color=f"C{k}")
        e = bn_effect[arch]
        ax.axhline(e.mean(), color="k", linestyle="--", linewidth=1,
                   label=f"running vs re-estimated at {last} (same checkpoint)")
        ax.set_xticks(range(len(quantities)),
                      [f"floor S({late}, {last})", f"S(0, {late})", f"adjacent S({prev}, {last})"])
        ax.set_yscale("log")
        ax.set_ylabel("kernel distance S")
        ax.set_title(f"{display_name(arch)}: one definition changed at a time (chapter 2's runs)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    return fig


def bn_effect(designs: dict[str, ProtocolDesign], cache) -> dict[str, np.ndarray]:
    """Per network, per seed: S between the eNTK with batch norm's running statistics and with re-estimated ones at
    the window's last checkpoint (both cached by the definitions' studies)."""
    from twophase_lib.ntk import kernel_distance
    from twophase_lib.store import kernel_at

    out = {}
    for arch, d in designs.items():
        last = definition_steps(d)[-1]
        out[arch] = np.array([kernel_distance(*(kernel_at(d.run.replace(seed=s), last, d.cone.inputs, "full", cache,
                                                          split="train", bn=bn) for bn in ("running", "reestimated")))
                              for s in d.chaos.seeds])
    return out


#: The ladder figure's panels, as (measure, axis label).
PANELS = (("floor", "late floor S(t, t + Δmax)"), ("travelled", "S(0, t) travelled"),
          ("inflection_epochs", "chaos inflection (epochs)"), ("switch_gain", "switch gain"))


def ladder_figure(measures: list[RungMeasures], trends: list[tuple]) -> plt.Figure:
    """Per network (rows) and quantity (columns), against width (log axis; the quantity on a log axis too where its
    law is a power law, a linear one for the switch gain): each rung's seed mean with its seed range (the paper's
    batch filled, ours open), the fitted law extended to the paper's width, the prediction's band (slopes between
    the predicted one, −1 or twice the bound's distance from 0 for a growing quantity, and the bound, drawn from the
    fit at the narrowest rung), the paper's value at ×1 (red bar), and the rungs that could not be drawn (a value
    beyond the grid, or not positive on a log axis) named in the panel."""
    archs = list(dict.fromkeys(m.spec.arch for m in measures))
    fig, axes = plt.subplots(len(archs), len(PANELS), figsize=(4 * len(PANELS), 3.4 * len(archs)), squeeze=False)
    fits = {(p.network, p.measure): (p, t) for p, t, _ in trends}
    styles = ((PAPER_BATCH, dict(marker="o", color="C0")), (64, dict(marker="o", mfc="none", color="C1")),
              (SMOKE_BATCH, dict(marker="^", color="C2")))
    for i, arch in enumerate(archs):
        for j, (measure, name) in enumerate(PANELS):
            ax = axes[i, j]
            p, t = fits.get((arch, measure), (None, None))
            log_y = p.log if p is not None else True
            drawn, dropped = False, []
            for b, style in styles:
                ms = sorted((m for m in measures if m.spec.arch == arch and m.spec.batch_size == b
                             and m.spec.train_examples is None and getattr(m, measure) is not None),
                            key=lambda m: m.spec.width)
                pts = []
                for m in ms:
                    v = np.array(getattr(m, measure), dtype=float)
                    if np.isfinite(v).all() and (not log_y or (v > 0).all()):
                        pts.append((m.spec.width, v))
                    else:
                        dropped.append(m.spec.label)
                if not pts:
                    continue
                w = np.array([q[0] for q in pts])
                mean = np.array([q[1].mean() for q in pts])
                lo = np.maximum(mean - np.array([q[1].min() for q in pts]), 0)  # rounding: never below 0
                hi = np.maximum(np.array([q[1].max() for q in pts]) - mean, 0)
                ax.errorbar(w, mean, yerr=[lo, hi], linestyle="none", capsize=3, label=f"batch {b}", **style)
                drawn = True
            if t is not None:
                ws = np.geomspace(min(m.spec.width for m in measures if m.spec.arch == arch), 1.0, 50)
                ax.plot(ws, t.fitted(ws), color="C0", linewidth=1, label=f"fit: slope {t.slope:+.2f}")
                y0 = float(t.fitted(ws[:1])[0])
                predicted = -1.0 if p.falls else 2 * p.slope_bound if p.slope_bound else 1.0
                band = [(y0 * (ws / ws[0]) ** s) if log_y else y0 + s * np.log(ws / ws[0])
                        for s in (predicted, p.slope_bound)]
                # an open-ended prediction ("above 0") is drawn up to a little above the panel's values only
                top = p.upper if p.upper is not None else 1.25 * max(p.paper[1], float(np.max(t.fitted(ws))))
                band = [np.minimum(b, top) for b in band]
                ax.fill_between(ws, np.minimum(*band), np.maximum(*band), color="gray", alpha=0.15, linewidth=0,
                                label="predicted slopes")
            if p is not None:
                mid = float(np.mean(p.paper))
                ax.errorbar([1.0], [mid], yerr=[[mid - p.paper[0]], [p.paper[1] - mid]], color="C3", marker="s",
                            capsize=4, label="paper (×1, approximate)")
            ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
            if drawn or p is not None:
                ax.legend(fontsize=6)
            notes = ([] if drawn else ["no rung measured it"]) + ([f"not drawn: {', '.join(dropped)}"]
                                                                  if dropped else [])
            if notes:
                ax.text(0.02, 0.02, "\n".join(notes), ha="left", va="bottom", transform=ax.transAxes, fontsize=6,
                        color="0.3")
            ax.set_xlabel("width (× the paper's network)")
            ax.set_ylabel(name)
            ax.set_title(f"{display_name(arch)}: {name}", fontsize=9)
            ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------------------- summary


#: The summary's protocol for the verdicts of the paper's own network (:func:`paper_rungs`), the scorecard's column
#: for it beside the book's networks.
PAPER_NETWORK = "the paper's own network"
def rung_claims() -> list[str]:
    """The claims whose rules a rung runs (its outcomes are :class:`RungMeasures` fields of the claim's kind), in the
    registry's order (chapters 1–3)."""
    import dataclasses

    from .claims import CLAIMS

    outcomes = {f.name for f in dataclasses.fields(RungMeasures)}
    return [c.kind for c in CLAIMS if c.kind in outcomes]


def paper_protocol(kind: str) -> str:
    """The protocol of the paper's own network's cell for one claim (``"the paper's own network: cone"``)."""
    return f"{PAPER_NETWORK}: {kind}"


def paper_rungs(measures: list[RungMeasures]) -> list[RungMeasures]:
    """The measured rungs that are the paper's own network: width ×1, the paper's batch, the whole subset (ResNet-20
    on the ladder; only the data and the window's length differ from the paper's runs)."""
    return [m for m in measures if m.spec.width == 1 and m.spec.batch_size == PAPER_BATCH
            and m.spec.train_examples is None]


def paper_network_cells(measures: list[RungMeasures]) -> list[Cell]:
    """One cell per claim the paper's own network was judged on (:func:`paper_rungs`): its network the rung's label,
    its protocol :func:`paper_protocol` of the claim; the rung's outcome by the book's rule, what decided it and the
    rung's numbers for that claim (seed mean [range])."""
    cells = []
    for m in paper_rungs(measures):
        numbers = {
            "chaos": f"inflection {_inflection_mean(m)} epochs (iterations), per seed "
                     + ", ".join("> grid" if x == math.inf else f"{x:.2g}" for x in m.inflection_epochs),
            "cone": f"floor S({m.late}, {m.late + m.max_lag}) {_mean_range(m.floor)} against S(0, {m.late}) "
                    f"{_mean_range(m.travelled)} travelled",
            "switch": "" if m.switch_gain is None else
                      "gain acc(T; {}) − acc(T; {}) {}".format(*(m.switch_times or ("t late", 0)),
                                                              _mean_range(m.switch_gain)),
        }
        for kind in rung_claims():
            outcome = getattr(m, kind)
            if outcome is None:
                continue
            decided = m.details.get(kind, "")
            cells.append(Cell(m.spec.label, paper_protocol(kind), outcome,
                              f"{m.window:,}-iteration window: " + "; ".join(
                                  x for x in (f"decided by {decided}" if decided else "", numbers[kind]) if x)))
    return cells


def paper_network_note(measures: list[RungMeasures]) -> Note:
    """The paper's own network judged by chapters 1–3's rules (:func:`paper_network_cells`), in words."""
    cells = paper_network_cells(measures)
    if not cells:
        return Note("The paper's own network (ResNet-20 ×1 at batch 128) has not been measured yet.")
    return Note("\n".join(f"* **{c.network}, {c.protocol[len(PAPER_NETWORK) + 2:]}**: *{c.outcome}* — "
                          f"{c.headline}" for c in cells))


def scale_summary(profile: str, trends: list[tuple], claims: dict[str, tuple[str, str]],
                  measures: list[RungMeasures] = ()) -> ClaimSummary:
    """The scale chapter's typed summary: one cell per prediction (its outcome at the paper's scale, the slope and
    the fitted value at ×1 with their intervals), one per claim under the protocol ``"scale column"`` (what the
    scorecard's scale column shows), and the paper's own network's verdicts where ``measures`` hold it
    (:func:`paper_network_cells`, the scorecard's column for it); the verdict *fails at the paper's scale* if any
    claim does, *consistent* if every claim is, *not run* when no rung was, else *cannot tell*."""
    cells = []
    for p, t, why in trends:
        if t is None:
            cells.append(Cell(display_name(p.network), p.quantity, str(ScaleOutcome.CANNOT_TELL), why))
            continue
        cells.append(Cell(display_name(p.network), p.quantity, str(t.outcome), t.detail,
                          [Number("slope against log width", t.slope, *t.slope_interval),
                           Number("at the paper's width", t.at_paper, *t.at_paper_interval)]))
    for claim, (o, why) in claims.items():
        cells.append(Cell(claim, SCALE_COLUMN, o, why))
    cells += paper_network_cells(list(measures))
    outcomes = [o for o, _ in claims.values()]
    verdict = (NOT_RUN if outcomes and all(o == NOT_RUN for o in outcomes) else ScaleOutcome.FAILS
               if str(ScaleOutcome.FAILS) in outcomes else ScaleOutcome.CONSISTENT
               if outcomes and all(o == str(ScaleOutcome.CONSISTENT) for o in outcomes) else ScaleOutcome.CANNOT_TELL)
    return ClaimSummary("scale", profile, str(verdict), cells)


#: The protocol name of the summary's per-claim cells (what the scorecard's scale column reads).
SCALE_COLUMN = "scale column"


def design_table(designs: dict, record_path=None) -> Table:
    """The rungs' designs (network, width, batch, data, window, chaos slice, lag curves, switch) and the
    definitions' runs. Where the chapter computes no rung (``cpu``) it lists every rung of the ladder, each marked
    recorded or not yet run by the ladder's record (``record_path``, default :data:`LADDER_RECORD`)."""
    rows = []
    profile = next((d.profile for d in designs["rungs"].values()), None)
    shown = designs["rungs"]
    status = {}
    if not shown:  # the book (cpu) computes no rung: it shows the ladder's, and which of them the record holds
        profile = "ladder"
        shown = {r.id: rung_design("ladder", r) for r in _rungs("ladder")}
        record = read_record(record_path)
        held = set() if record is None else {m.spec.id for m in record["measures"]}
        status = {r.id: f" (ladder profile{', on a GPU' if r.gpu else ''}, "
                        f"{'recorded' if r.id in held else 'not yet run'})" for r in _rungs("ladder")}
    for rid, d in shown.items():
        r = rung(profile, rid)
        rows.append([r.label + status.get(rid, ""), rid, d.window,
                     d.epoch_steps, f"t0 ∈ {list(d.chaos.t0s)}, Δ = {d.chaos.deltas[0]}",
                     f"t ∈ {list(d.cone.lag_ts)}, Δ ∈ {list(d.cone.lags)}, {d.cone.inputs} inputs",
                     f"T = {d.switch.T}, t ∈ {list(d.switch.switches)}" if r.switch else "–",
                     ", ".join(map(str, d.chaos.seeds))])
    for arch, d in designs["definitions"].items():
        rows.append([f"{display_name(arch)} (chapter 2's runs)", "definitions", d.window, d.epoch_steps, "–",
                     f"checkpoints {list(definition_steps(d))}", "–", ", ".join(map(str, d.chaos.seeds))])
    return Table(["rung", "id", "window", "iterations per epoch", "chaos slice", "lag curves", "switch", "seeds"],
                 rows)


def ladder_source(profile: str, cache, record_path=None) -> tuple[list[RungMeasures], Note]:
    """The measures the chapter reads at a profile, and a note that says where they come from: at ``smoke`` and
    ``ladder`` this cache's (every rung of the profile's ladder measured so far on these kernels, the ones just
    computed among them); at ``cpu`` the ladder's record (:data:`LADDER_RECORD`), with its date, numerics
    fingerprint, source and wall times, or the command that makes it when there is none."""
    if profile in ("smoke", "ladder"):
        measures, missing, runs = load_measures(cache, profile)
        walls = "; ".join(_run_text(r) for r in runs)
        text = (f"**Computed at `{profile}` in this cache** ({len(measures)} of {len(measures) + len(missing)} "
                f"rungs; wall times of the runs that finished them, a run resumed from the cache after an "
                f"interruption counting only its own part: {walls or 'none'}).")
        return measures, Note(text + _missing_text(missing, f" (`make chapter NB=notebooks/07_paper_or_scale.py "
                                                            f"PROFILE={profile} PARAMS='-p rungs <ids>'`)"))
    record = read_record(record_path)
    if record is None:
        return [], Note(f"**The ladder has not been run on this checkout** (no `{LADDER_RECORD}`): its rungs run "
                        "outside the book's budget, `make chapter NB=notebooks/07_paper_or_scale.py "
                        "PROFILE=ladder` (in parts: `PARAMS='-p rungs resnet20'`), then "
                        "`python scripts/record_ladder.py`. Until then this chapter can say nothing of the trends.")
    parts = "; ".join(_run_text(r) for r in record["runs"])
    missing = record.get("missing") or []
    kernels: dict[tuple[str, int], list[str]] = {}
    for rid, fp in record["numerics"].items():
        kernels.setdefault((fp, record["code"][rid]), []).append(rid)
    numerics = "; ".join(f"`{fp}`, code version {v}: {', '.join(ids)}" for (fp, v), ids in kernels.items())
    return record["measures"], Note(
        f"**Recorded, not recomputed here:** the `ladder` profile's measurements, run once outside the book's "
        f"budget ({record['source']}; parts and wall times on 2 cores, a part resumed from the cache after an "
        f"interruption counting only its own time: {parts}), kept in `{LADDER_RECORD}` by "
        f"`scripts/record_ladder.py`. The kernels and code that computed each rung: {numerics}. A rung's studies "
        f"never mix kernels, and a series (one network at one batch size, the rungs a trend is fitted over) never "
        f"mixes code; but the ladder runs in parts, in sessions on different machines, so the rungs of one trend "
        f"may come from different kernels. Their rounding differs, and the chaos makes each run another "
        f"realisation, as another seed would: the page *Across machines* measures how far that moves chapters "
        f"1–3's headline numbers beside the seeds' spread. `make chapter NB=notebooks/07_paper_or_scale.py "
        f"PROFILE=ladder` recomputes a rung bitwise on its fingerprint."
        + _missing_text(missing))


def _missing_text(missing: list[str], how: str = "") -> str:
    """The missing rungs (the CPU ones followed by ``how``, the command that runs them), the GPU rungs apart with
    theirs."""
    gpu = {r.id for r in gpu_rungs()}
    cpu, top = [m for m in missing if m not in gpu], [m for m in missing if m in gpu]
    return ((f" Rungs not yet measured: {', '.join(cpu)}{how}." if cpu else "")
            + (f" The GPU rungs, not yet measured (no GPU has run them): {', '.join(top)}; prepared, on a machine "
               "with one GPU: `python scripts/gpu_book.py --ladder --out OUT` (`--plan`: their modelled cost)."
               if top else ""))


def _run_text(run: dict) -> str:
    return (f"{', '.join(run['rungs'])}: {run['wall_s'] / 60:.0f} min on {run['date']}"
            + (f" at {run['commit']}" if run.get("commit") else "")
            + (f" under `{run['numerics']}`" if run.get("numerics") else ""))



def verdict_note(claims: dict[str, tuple[str, str]], measures: list[RungMeasures]) -> Note:
    """The chapter's answer per claim in words, computed from its rule's outcomes."""
    if not measures:
        return Note("No rung has been measured: every claim's scale column says *not run*.")
    lines = [f"* **{k}**: *{o}* — {why}" for k, (o, why) in claims.items()]
    return Note("\n".join(lines))
