"""The verdict rules: pure functions of measured curves, each able to say "reproduced", "partly" or "not reproduced".

The rules were written before the cpu results they judge were computed, and each is tested on
synthetic curves that reach every outcome (``tests/test_verdicts.py``). A rule is a list of named
checks; the outcome is "reproduced" when every check passes, "not reproduced" when the checks
that carry the claim's core fail, and "partly" otherwise. Every check reports its numbers.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np


class Outcome(enum.StrEnum):
    """What a rule says of a claim (``str(outcome)`` is its display text)."""

    REPRODUCED = "reproduced"
    PARTLY = "partly"
    NOT_REPRODUCED = "not reproduced"
    #: Results of several numerics fingerprints that disagree (:func:`across_machines`); no rule gives it alone.
    INCONCLUSIVE = "inconclusive"


#: The outcomes a rule can give.
OUTCOMES = (Outcome.REPRODUCED, Outcome.PARTLY, Outcome.NOT_REPRODUCED)


class ChaosCheck(enum.Enum):
    """The checks of :func:`chaos_verdict`; a member's value is its display text."""

    CONTROL_EXACT = "control exact"
    CHAOTIC_EARLY = "chaotic early"
    STABLE_LATE = "stable late"
    SEEDS_SEPARATE = "seeds separate"
    EARLY_TRANSITION = "early transition"
    CURVE_HALVES = "curve halves"


class ConeCheck(enum.Enum):
    """The checks of :func:`cone_verdict`; a member's value is its display text."""

    AFTER_TRANSITION = "after the transition"
    RISES = "rises"
    LEVELS_OFF = "levels off"
    VELOCITY_FALLS = "velocity falls, not to zero"


class SwitchCheck(enum.Enum):
    """The checks of :func:`switch_verdict`; a member's value is its display text."""

    ZERO_IS_WORST = "t = 0 is worst"
    GROWS_WITH_T = "grows with t"
    CONE_PHASE_MATTERS = "the cone phase matters"


CheckId = ChaosCheck | ConeCheck | SwitchCheck


@dataclass
class Check:
    """One condition of a rule (``id``), whether it held, and the numbers behind it.

    ``applicable=False`` marks a check the measured curve cannot decide (it has no dynamic range: twins that
    never diverge cannot show a decay); it neither passes nor fails, and the explanation says why.
    """

    id: CheckId
    passed: bool
    detail: str
    applicable: bool = True

    def __post_init__(self):
        if not self.applicable:
            self.passed = False

    @property
    def name(self) -> str:
        """The check's display text."""
        return self.id.value

    @property
    def mark(self) -> str:
        """✓ passed, ✗ failed, – not applicable."""
        return "–" if not self.applicable else ("✓" if self.passed else "✗")


#: What a check says of a curve that is the same at every point.
NO_DYNAMIC_RANGE = "no dynamic range"


@dataclass
class Verdict:
    """The outcome of a rule and the checks it was decided by."""

    outcome: Outcome
    checks: list[Check] = field(default_factory=list)

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        self.outcome = Outcome(self.outcome)

    def failed(self) -> list[CheckId]:
        """The checks that failed (not those the curve could not decide)."""
        return [c.id for c in self.checks if c.applicable and not c.passed]

    def not_applicable(self) -> list[CheckId]:
        """The checks the curve could not decide (no dynamic range)."""
        return [c.id for c in self.checks if not c.applicable]

    def explain(self) -> str:
        """One line per check: ✓, ✗ or – (not applicable), its name and its numbers."""
        return "\n".join(f"{c.mark} {c.name}: {c.detail}" for c in self.checks)


def _decide(checks: list[Check], necessary: list[CheckId]) -> Verdict:
    """Reproduced if every check passes; not reproduced if any ``necessary`` check fails or cannot be decided;
    partly otherwise."""
    if all(c.passed for c in checks):
        return Verdict(Outcome.REPRODUCED, checks)
    if any(not c.passed for c in checks if c.id in necessary):
        return Verdict(Outcome.NOT_REPRODUCED, checks)
    return Verdict(Outcome.PARTLY, checks)


def combine(outcomes: list[Outcome | str]) -> Outcome:
    """One outcome from several (architectures, schedules): all reproduced, none reproduced, or partly.

    Raises:
        ValueError: no outcomes.
    """
    if not outcomes:
        raise ValueError("no outcomes to combine")
    if all(o == Outcome.REPRODUCED for o in outcomes):
        return Outcome.REPRODUCED
    if all(o == Outcome.NOT_REPRODUCED for o in outcomes):
        return Outcome.NOT_REPRODUCED
    return Outcome.PARTLY


#: What a verdict that differs between machines (numerics fingerprints) counts as.
INCONCLUSIVE = Outcome.INCONCLUSIVE


def across_machines(outcomes: dict[str, Outcome | str]) -> Outcome:
    """One verdict from the same rule applied to results of several numerics fingerprints (issue 18).

    Args:
        outcomes: {fingerprint id: outcome} for one claim and setting, each in ``OUTCOMES``.

    Returns:
        The common outcome when every fingerprint gives the same one; ``INCONCLUSIVE`` when they differ: a
        verdict that rounding differences between CPUs can flip is decided inside the noise.

    Raises:
        ValueError: no outcomes, or one outside ``OUTCOMES``.
    """
    if not outcomes:
        raise ValueError("no outcomes to compare across machines")
    unknown = sorted({str(o) for o in outcomes.values() if o not in OUTCOMES})
    if unknown:
        raise ValueError(f"unknown outcome(s) {unknown}; known: {', '.join(OUTCOMES)}")
    found = {Outcome(o) for o in outcomes.values()}
    return found.pop() if len(found) == 1 else INCONCLUSIVE


def late_t0(t0s: np.ndarray, first_drop: int) -> int:
    """Where late stability is judged: the last t0 that leaves its twin at least half the pre-drop time at the high lr.

    A twin split just before the drop has almost no high-lr steps left to diverge in, whatever the dynamics:
    it would be "stable" because of the drop. (Amended after partial cpu results were seen: the rule first
    judged the last t0; ``chaos_verdict(..., judge_t0=t0s[-1])`` gives that reading.)
    """
    early = [int(t) for t in t0s if t <= first_drop / 2]
    return early[-1] if len(early) > 1 else int(t0s[-1])


def _share(ratio: float) -> str:
    """A ratio as a percentage, or why there is none (the t0 = 0 value is zero)."""
    return f"{ratio:.0%}" if math.isfinite(ratio) else "undefined (zero at t0 = 0)"


def chaos_verdict(t0s: np.ndarray, per_seed: np.ndarray, reference: float, control_exact: bool, first_drop: int,
                  inflection: float, judge_t0: int | None = None) -> Verdict:
    """Chapter 1's rule on the test disagreement at t1 (seeds × t0, every t0 before the first lr drop).

    * **control exact**: every ε = 0 control ended bitwise on its parent (else nothing can be read);
    * **chaotic early**: twins split at t0 = 0 disagree at least half as much as two networks with
      independent initialisations (``reference``) — "very different networks";
    * **stable late**: at the late t0 (``judge_t0``, default :func:`late_t0`: the last t0 in the first half of the
      time before the first drop) the disagreement is at most a quarter of its t0 = 0 value;
    * **seeds separate**: every seed's value at the late t0 is below every seed's value at t0 = 0;
    * **early transition**: the inflection (the mean curve halves) exists and lies in the first
      quarter of the time before the first lr drop.

    Necessary (either failing → not reproduced): chaotic early, and a mean curve that at least halves by the late t0.
    A curve with no dynamic range (the same value at every t0 and seed) leaves the last four checks undecided
    (``applicable=False``, "no dynamic range"): it is not reproduced, with that reason, not "unstable late".
    """
    t0s, per_seed = np.asarray(t0s), np.asarray(per_seed, dtype=float)
    judge = late_t0(t0s, first_drop) if judge_t0 is None else int(judge_t0)
    j = int(np.where(t0s == judge)[0][0])
    mean = per_seed.mean(0)
    d0, dl = float(mean[0]), float(mean[j])
    ratio = dl / d0 if d0 > 0 else math.nan
    flat = bool(np.ptp(per_seed) == 0)  # the same value at every t0 and seed (twins that never diverge)
    why = f"{NO_DYNAMIC_RANGE}: the disagreement is {d0:.3f} at every t0 and seed, so there is no decay to judge"
    checks = [
        Check(
            ChaosCheck.CONTROL_EXACT,
            bool(control_exact),
            "ε = 0 twins bitwise equal to their parents"
            if control_exact
            else "an ε = 0 twin drifted from its parent: branching leaks randomness",
        ),
        Check(
            ChaosCheck.CHAOTIC_EARLY,
            bool(math.isfinite(reference) and reference > 0 and d0 >= 0.5 * reference),
            f"disagreement at t0 = 0 is {d0:.3f}; independent initialisations give {reference:.3f}",
        ),
        Check(
            ChaosCheck.STABLE_LATE,
            bool(d0 > 0 and dl <= 0.25 * d0),
            why if flat else f"at t0 = {judge} it is {dl:.3f}, {_share(ratio)} of its t0 = 0 value (rule: ≤ 25%)",
            applicable=not flat,
        ),
        Check(
            ChaosCheck.SEEDS_SEPARATE,
            bool(per_seed[:, j].max() < per_seed[:, 0].min()),
            why
            if flat
            else f"seed range at t0 = {judge}: [{per_seed[:, j].min():.3f}, {per_seed[:, j].max():.3f}], "
            f"at t0 = 0: [{per_seed[:, 0].min():.3f}, {per_seed[:, 0].max():.3f}]",
            applicable=not flat,
        ),
        Check(
            ChaosCheck.EARLY_TRANSITION,
            bool(math.isfinite(inflection) and inflection <= first_drop / 4),
            why
            if flat
            else f"inflection {inflection:.4g} against a quarter of the {first_drop} iterations before the first "
            "lr drop"
            if math.isfinite(inflection)
            else "the mean curve never halves: no inflection",
            applicable=not flat,
        ),
        Check(
            ChaosCheck.CURVE_HALVES,
            bool(d0 > 0 and dl <= 0.5 * d0),
            why if flat else f"at t0 = {judge}: {_share(ratio)} of t0 = 0 (≤ 50%)",
            applicable=not flat,
        ),
    ]
    if not control_exact:
        return Verdict(Outcome.NOT_REPRODUCED, checks)
    return _decide(checks, necessary=[ChaosCheck.CHAOTIC_EARLY, ChaosCheck.CURVE_HALVES])


#: A curve "levels off" when its growth over the second half of a window is at most this share of the first
#: half's. A random walk of the kernel's direction gives S ∝ t (share 1), a drift S ∝ t² (share 3); a curve
#: that saturates gives a share near 0.
LEVEL_SHARE = 1 / 3


def cone_verdict(
    steps: np.ndarray, distance: np.ndarray, refs: tuple[int, ...], first_drop: int, inflection: float
) -> Verdict:
    """Chapter 2's rule on the seed-mean kernel-distance matrix, using only checkpoints up to the first lr drop.

    * **after the transition**: every τ lies after chapter 1's inflection;
    * **rises**: for every τ, S(τ, t) grows over the first half of the window [τ, first drop];
    * **levels off**: for every τ, its growth over the second half is at most ``LEVEL_SHARE`` of the first half's;
    * **velocity falls, not to zero**: the adjacent-checkpoint kernel velocity over the last three
      intervals before the drop is positive and below a tenth of its mean over the intervals that end by the
      inflection (at least the first interval).

    Necessary (failing → not reproduced): at least one τ's window levels off. A kernel that never moves (every
    distance 0) has no dynamic range: not reproduced, every check undecided.
    """
    steps, distance = np.asarray(steps), np.asarray(distance, dtype=float)
    rises, levels, details = [], [], []
    for tau in refs:
        i = int(np.where(steps == tau)[0][0])
        window = [j for j in range(i, len(steps)) if steps[j] <= first_drop]
        s = distance[i, window]
        mid = len(window) // 2
        first, second = float(s[mid] - s[0]), float(s[-1] - s[mid])
        rises.append(first > 0)
        levels.append(first > 0 and second <= LEVEL_SHARE * first)
        details.append(f"τ = {tau}: {first:+.3g} then {second:+.3g}")
    if not np.any(distance):
        why = f"{NO_DYNAMIC_RANGE}: the kernel distance is 0 between every pair of checkpoints (the eNTK never moves)"
        return Verdict(Outcome.NOT_REPRODUCED, [Check(c, False, why, applicable=False) for c in ConeCheck])
    vel = np.array([distance[j, j + 1] / (steps[j + 1] - steps[j]) for j in range(len(steps) - 1)])
    ends = steps[1:]
    # the intervals that end by the inflection (at least the first one)
    before = vel[ends <= max(inflection, ends[0])] if math.isfinite(inflection) else vel[:0]
    late = vel[ends <= first_drop][-3:]
    v_early = float(before.mean()) if len(before) else math.nan
    v_late = float(late.mean())
    checks = [
        Check(
            ConeCheck.AFTER_TRANSITION,
            bool(math.isfinite(inflection) and min(refs) > inflection),
            f"τ ∈ {{{', '.join(map(str, refs))}}}, inflection "
            + (f"{inflection:.4g}" if math.isfinite(inflection) else "none (the chaos curve never halves)"),
        ),
        Check(ConeCheck.RISES, all(rises), "; ".join(details)),
        Check(
            ConeCheck.LEVELS_OFF,
            all(levels),
            f"{sum(levels)} of {len(levels)} windows (second-half growth ≤ {LEVEL_SHARE:.2f} × first-half growth)",
        ),
        Check(
            ConeCheck.VELOCITY_FALLS,
            bool(math.isfinite(v_early) and 0 < v_late < v_early / 10),
            (
                f"{v_early:.2e} per iteration before the inflection"
                if math.isfinite(v_early)
                else "no inflection, so no velocity before it"
            )
            + f", {v_late:.2e} just before the first lr drop",
        ),
    ]
    if not any(levels):
        return Verdict(Outcome.NOT_REPRODUCED, checks)
    return _decide(checks, necessary=[])


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their average rank."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x))
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation with average ranks for ties (nan when a variable is constant)."""
    rx, ry = _ranks(x), _ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def recovered_share(accuracy_mean: np.ndarray) -> np.ndarray:
    """Share of the gap between fully linearized (first) and standard training (last) recovered at each switch."""
    acc = np.asarray(accuracy_mean, dtype=float)
    gap = acc[-1] - acc[0]
    return (acc - acc[0]) / gap if gap > 0 else np.full(len(acc), math.nan)


def switch_verdict(switches: np.ndarray, accuracy: np.ndarray, inflection: float) -> Verdict:
    """Chapter 3's rule on final test accuracy (seeds × switch times; the last switch time T is standard training).

    * **t = 0 is worst**: fully linearized training has the lowest mean accuracy of all switch times;
    * **grows with t**: Spearman(t, mean accuracy) ≥ 0.7;
    * **the cone phase matters**: between the first switch after the inflection and the last switch
      before T, mean accuracy still rises by more than 1 point and more than half the larger seed range there.

    Not reproduced when accuracy neither grows with t nor rises in the cone phase, or when it is the same at every
    switch time (no dynamic range: every check undecided).
    """
    switches, accuracy = np.asarray(switches), np.asarray(accuracy, dtype=float)
    mean = accuracy.mean(0)
    rho = spearman(switches, mean)
    after = [j for j in range(len(switches) - 1) if math.isfinite(inflection) and switches[j] > inflection]
    if len(after) >= 2:
        a, b = after[0], after[-1]
        gain = float(mean[b] - mean[a])
        noise = float(max(np.ptp(accuracy[:, a]), np.ptp(accuracy[:, b])) / 2)
        late = Check(
            SwitchCheck.CONE_PHASE_MATTERS,
            gain > max(0.01, noise),
            f"accuracy {mean[a]:.3f} at t = {switches[a]} → {mean[b]:.3f} at t = {switches[b]} "
            f"({gain:+.3f}; half the seed range {noise:.3f})",
        )
    else:
        late = Check(SwitchCheck.CONE_PHASE_MATTERS, False, "fewer than two switch times after the inflection")
    if np.ptp(mean) == 0:
        why = f"{NO_DYNAMIC_RANGE}: mean accuracy is {mean[0]:.3f} at every switch time"
        return Verdict(Outcome.NOT_REPRODUCED, [Check(c, False, why, applicable=False) for c in SwitchCheck])
    checks = [
        Check(
            SwitchCheck.ZERO_IS_WORST,
            bool(mean[0] < mean[1:].min()),
            f"accuracy {mean[0]:.3f} at t = 0; lowest elsewhere {mean[1:].min():.3f} at t = "
            f"{switches[1 + int(np.argmin(mean[1:]))]}",
        ),
        Check(SwitchCheck.GROWS_WITH_T, bool(math.isfinite(rho) and rho >= 0.7), f"Spearman {rho:.2f} (rule: ≥ 0.7)"),
        late,
    ]
    grows = next(c for c in checks if c.id == SwitchCheck.GROWS_WITH_T)
    if not grows.passed and not late.passed:
        return Verdict(Outcome.NOT_REPRODUCED, checks)
    return _decide(checks, necessary=[])
