"""The verdict rules: pure functions of measured curves, each able to say "reproduced", "partly" or "not reproduced",
and, for the rules of the paper's protocol, "inconclusive".

The rules were written before the cpu results they judge were computed, and each is tested on
synthetic curves that reach every outcome (``tests/test_verdicts.py``, ``tests/test_protocol_rules.py``).
A rule is a list of checks identified by enums; the outcome is "reproduced" when every check passes,
"not reproduced" when the checks that carry the claim's core fail, and "partly" otherwise. Every check
reports its numbers. The rules of the paper's own protocol (:func:`window_chaos_verdict`,
:func:`lag_cone_verdict`) give each check a margin and a bootstrap interval (:func:`bootstrap_means`)
and say "inconclusive" when a check whose interval contains 0 could change the outcome
(:func:`decide_with_intervals`).
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
    #: A rule whose undecided checks could move its outcome (:func:`decide_with_intervals`), or results of several
    #: numerics fingerprints that disagree (:func:`across_machines`).
    INCONCLUSIVE = "inconclusive"
    #: A task that cannot show the effects at all, failing :func:`dynamic_range_precondition` (issue 22).
    INAPPLICABLE = "inapplicable"


#: The outcomes a rule can give.
OUTCOMES = (Outcome.REPRODUCED, Outcome.PARTLY, Outcome.NOT_REPRODUCED, Outcome.INCONCLUSIVE, Outcome.INAPPLICABLE)


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


class PreconditionCheck(enum.Enum):
    """The checks of :func:`dynamic_range_precondition`; a member's value is its display text."""

    UNRELATED_DISAGREE = "unrelated networks disagree"
    LINEARIZATION_FALLS_SHORT = "linearized training falls short"


class WindowCheck(enum.Enum):
    """The checks of :func:`window_chaos_verdict` (twins compared a fixed window Δ after their split)."""

    CONTROL_EXACT = "control exact"
    CHAOTIC_EARLY = "chaotic early"
    STABLE_LATE = "stable late"
    TRANSITION_FOUND = "transition found"


class LagCheck(enum.Enum):
    """The checks of :func:`lag_cone_verdict` (the eNTK's lag curve S(t, t + Δ) against Δ, the paper's Fig. 5b)."""

    SLOWS_DOWN = "slows down"
    RISES_AT_SHORT_LAGS = "rises at short lags"
    FLAT_AT_LONG_LAGS = "flat at long lags"
    NARROW = "narrow"


CheckId = ChaosCheck | ConeCheck | SwitchCheck | WindowCheck | LagCheck | PreconditionCheck


@dataclass
class Check:
    """One condition of a rule (``id``), whether it held, and the numbers behind it.

    ``applicable=False`` marks a check the measured curve cannot decide (it has no dynamic range: twins that
    never diverge cannot show a decay); it neither passes nor fails, and the explanation says why.

    ``margin`` and ``interval``: how far the measurement lies on the passing side of the check's threshold
    (positive: passes) and a bootstrap interval of that margin. A check whose interval contains 0 is
    *undecided*: the noise could put it on either side (:attr:`decided`).
    """

    id: CheckId
    passed: bool
    detail: str
    applicable: bool = True
    margin: float | None = None
    interval: tuple[float, float] | None = None

    def __post_init__(self):
        if not self.applicable:
            self.passed = False

    @property
    def decided(self) -> bool:
        """False when the margin's interval contains 0 (or is not finite), or the check is not applicable."""
        if not self.applicable:
            return False
        if self.interval is None:
            return True
        lo, hi = self.interval
        return bool(np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0))

    @property
    def name(self) -> str:
        """The check's display text."""
        return self.id.value

    @property
    def mark(self) -> str:
        """✓ passed, ✗ failed, ? undecided (the margin's interval contains 0), – not applicable."""
        if not self.applicable:
            return "–"
        if not self.decided:
            return "?"
        return "✓" if self.passed else "✗"


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
        """The checks that failed (not those the curve could not decide, nor undecided ones)."""
        return [c.id for c in self.checks if c.applicable and c.decided and not c.passed]

    def undecided(self) -> list[CheckId]:
        """The checks whose margin's interval contains 0."""
        return [c.id for c in self.checks if c.applicable and not c.decided]

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


def decide_with_intervals(checks: list[Check], rule) -> Verdict:
    """The outcome ``rule`` gives the checks, if it is the same whichever side each undecided check falls on;
    else INCONCLUSIVE (a deciding check's margin lies inside its interval).

    Args:
        checks: the rule's checks, with margins and intervals where they have them.
        rule: ``rule(passed: dict[CheckId, bool]) -> Outcome``, the outcome for given check results.
    """
    undecided = [c.id for c in checks if c.applicable and not c.decided]
    base = {c.id: bool(c.passed) for c in checks}
    found = set()
    for bits in range(1 << len(undecided)):
        trial = dict(base)
        for k, cid in enumerate(undecided):
            trial[cid] = bool(bits >> k & 1)
        found.add(Outcome(rule(trial)))
    return Verdict(found.pop() if len(found) == 1 else Outcome.INCONCLUSIVE, checks)


def combine(outcomes: list[Outcome | str]) -> Outcome:
    """One outcome from several (architectures, schedules, tasks): all reproduced, none reproduced, or partly;
    inconclusive when the settings that are decided agree and at least one other is inconclusive (or none is
    decided). Inapplicable settings (tasks that cannot show the effects) are left out; all inapplicable gives
    inapplicable.

    Raises:
        ValueError: no outcomes.
    """
    if not outcomes:
        raise ValueError("no outcomes to combine")
    applicable = [o for o in outcomes if o != Outcome.INAPPLICABLE]
    if not applicable:
        return Outcome.INAPPLICABLE
    outcomes = applicable
    decided = {Outcome(o) for o in outcomes if o != Outcome.INCONCLUSIVE}
    if len(decided) < len(set(map(Outcome, outcomes))) and len(decided) <= 1:
        return Outcome.INCONCLUSIVE
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


# ------------------------------------------------------------------------------- the paper's protocol (issue 21)


#: Bootstrap intervals are central intervals of this probability.
INTERVAL_LEVEL = 0.9


def bootstrap_means(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates of a mean curve, resampling seeds and, where given, items within each seed.

    Args:
        values: (seeds, K) per-seed values of K grid points, or (seeds, items, K) per-item values (e.g. each test
            image's 0/1 disagreement): the mean is over seeds (and items).
        resamples: number of replicates R.
        seed: seed of the resampling (the same indices for every grid point, so replicate curves are curves).

    Returns:
        (R, K) replicates of the mean curve.

    Raises:
        ValueError: ``values`` is not 2- or 3-dimensional, or has no seed.
    """
    values = np.asarray(values, dtype=float)
    if values.ndim not in (2, 3) or values.shape[0] == 0:
        raise ValueError(f"values must be (seeds, K) or (seeds, items, K), got shape {values.shape}")
    rng = np.random.default_rng(seed)
    n = values.shape[0]
    out = np.empty((resamples, values.shape[-1]))
    chunk = max(1, int(2e7 // max(1, values[0].size)))
    for start in range(0, resamples, chunk):
        r = min(chunk, resamples - start)
        seeds = rng.integers(0, n, size=(r, n))
        if values.ndim == 2:
            out[start : start + r] = values[seeds].mean(1)
        else:
            items = rng.integers(0, values.shape[1], size=(r, n, values.shape[1]))
            out[start : start + r] = values[seeds[:, :, None], items].mean((1, 2))
    return out


def interval(replicates: np.ndarray, level: float = INTERVAL_LEVEL) -> tuple[float, float]:
    """The central ``level`` interval of bootstrap replicates; (nan, nan) when more than a tenth of them are not
    finite (the quantity is undefined in too many resamples to bound it)."""
    r = np.asarray(replicates, dtype=float).ravel()
    finite = r[np.isfinite(r)]
    if finite.size == 0 or finite.size < 0.9 * r.size:  # undefined in too many resamples: no interval
        return (math.nan, math.nan)
    r = finite
    lo, hi = np.quantile(r, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _margin_check(cid: CheckId, margin: float, replicates: np.ndarray, detail: str) -> Check:
    lo, hi = interval(replicates)
    return Check(cid, bool(margin > 0), f"{detail}; margin {margin:+.3g} [{lo:+.3g}, {hi:+.3g}]", margin=margin,
                 interval=(lo, hi))


def inflection_point(t0s: np.ndarray, curve: np.ndarray, fraction: float = 0.5) -> float:
    """First t0 where the curve falls to ``fraction`` of its value at the first t0 (log-linear interpolation in 1 + t0).

    Returns nan when the curve never falls that far, or when its early level is zero.
    """
    early = curve[0]
    if not early > 0:
        return math.nan
    threshold = fraction * early
    for i in range(1, len(t0s)):
        if curve[i] <= threshold:
            x0, x1 = math.log1p(t0s[i - 1]), math.log1p(t0s[i])
            y0, y1 = curve[i - 1], curve[i]
            w = (y0 - threshold) / (y0 - y1) if y0 != y1 else 1.0
            return math.expm1(x0 + w * (x1 - x0))
    return math.nan


def inflection_interval(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray, fraction: float = 0.5) -> dict:
    """The inflection (first t0 where the curve falls to ``fraction`` of its t0 = 0 value, log-interpolated in 1 + t0)
    of a mean curve, with the bootstrap interval of the replicates' inflections.

    A replicate that never falls that far counts as beyond the last t0 (+inf), so the interval's high end reads
    "> last t0" rather than dropping those replicates.

    Returns:
        {"estimate", "low", "high", "beyond_share" (replicates with no inflection), "last_t0"}.
    """
    t0s = np.asarray(t0s, dtype=float)

    def first(curve: np.ndarray) -> float:
        x = inflection_point(t0s, curve, fraction)
        return x if math.isfinite(x) else math.inf

    each = np.array([first(r) for r in np.asarray(replicates, dtype=float)])
    # no interpolation between order statistics: some of them may be +inf ("beyond the last t0")
    lo, hi = np.quantile(each, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], method="inverted_cdf")
    return {"estimate": first(np.asarray(point, dtype=float)), "low": float(lo), "high": float(hi),
            "beyond_share": float(np.mean(~np.isfinite(each))), "last_t0": float(t0s[-1])}


def _fmt_t(x: float, last: float) -> str:
    return f"> {last:g}" if not math.isfinite(x) else f"{x:.3g}"


def window_chaos_verdict(t0s: np.ndarray, point: np.ndarray, replicates: np.ndarray, reference: float,
                         reference_replicates: np.ndarray, control_exact: bool, window: int) -> Verdict:
    """The chaos claim on twins compared a fixed window after their split (t1 = t0 + Δ): every twin has the same
    time to diverge, so a falling curve is a change in the dynamics, not a shorter run (issue 21).

    Args:
        t0s: (K,) increasing perturbation times, the first 0.
        point: (K,) the seed-mean metric (e.g. test disagreement) at t1 = t0 + ``window``.
        replicates: (R, K) bootstrap replicates of ``point`` (:func:`bootstrap_means`).
        reference: the same metric between two independently initialised networks at the same time.
        reference_replicates: (R,) its bootstrap replicates, paired with ``replicates`` (same resamples).
        control_exact: every ε = 0 control ended bitwise on its parent.
        window: Δ, in iterations (for the explanation).

    Checks (margins positive when they pass, each with its bootstrap interval):

    * **control exact** (no interval): else nothing can be read;
    * **chaotic early**: the value at t0 = 0 is at least half the reference, margin d(0) − ref/2;
    * **stable late**: at the last t0 it is at most a quarter of its t0 = 0 value, margin d(0)/4 − d(last);
    * **transition found**: the curve halves somewhere in the grid, margin d(0)/2 − min over t0 > 0.

    Outcome: not reproduced when the control drifted or *chaotic early* or *transition found* fails; reproduced
    when all pass; partly otherwise; **inconclusive** when undecided checks (interval containing 0) could move
    the outcome (:func:`decide_with_intervals`).

    Raises:
        ValueError: shapes disagree, or the grid does not start at t0 = 0.
    """
    t0s, point = np.asarray(t0s), np.asarray(point, dtype=float)
    replicates, ref_rep = np.asarray(replicates, dtype=float), np.asarray(reference_replicates, dtype=float)
    if point.shape != t0s.shape or replicates.shape[1:] != t0s.shape or ref_rep.shape != replicates.shape[:1]:
        raise ValueError(f"shapes disagree: t0s {t0s.shape}, point {point.shape}, replicates {replicates.shape}, "
                         f"reference replicates {ref_rep.shape}")
    if t0s[0] != 0:
        raise ValueError(f"the t0 grid must start at 0, got {t0s[0]}")
    d0, last = point[0], point[-1]
    inf = inflection_interval(t0s, point, replicates)
    checks = [
        Check(WindowCheck.CONTROL_EXACT, bool(control_exact), "ε = 0 twins bitwise equal to their parents"
              if control_exact else "an ε = 0 twin drifted from its parent: branching leaks randomness"),
        _margin_check(WindowCheck.CHAOTIC_EARLY, d0 - reference / 2, replicates[:, 0] - ref_rep / 2,
                      f"Δ = {window}: {d0:.3f} at t0 = 0 against {reference:.3f} for independent initialisations"),
        _margin_check(WindowCheck.STABLE_LATE, d0 / 4 - last, replicates[:, 0] / 4 - replicates[:, -1],
                      f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, {last / d0:.0%} of t0 = 0 (rule: ≤ 25%)"
                      if d0 > 0 else f"Δ = {window}: {last:.3f} at t0 = {t0s[-1]}, and 0 at t0 = 0"),
        _margin_check(WindowCheck.TRANSITION_FOUND, d0 / 2 - point[1:].min(),
                      replicates[:, 0] / 2 - replicates[:, 1:].min(1),
                      f"Δ = {window}: inflection {_fmt_t(inf['estimate'], inf['last_t0'])} "
                      f"[{_fmt_t(inf['low'], inf['last_t0'])}, {_fmt_t(inf['high'], inf['last_t0'])}] iterations"),
    ]

    def rule(passed: dict) -> Outcome:
        if not passed[WindowCheck.CONTROL_EXACT]:
            return Outcome.NOT_REPRODUCED
        if not (passed[WindowCheck.CHAOTIC_EARLY] and passed[WindowCheck.TRANSITION_FOUND]):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(passed.values()) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(a, dtype=float) / np.asarray(b, dtype=float))


def lag_cone_verdict(lags: np.ndarray, early: np.ndarray, early_replicates: np.ndarray, late: np.ndarray,
                     late_replicates: np.ndarray, calibration: float, calibration_replicates: np.ndarray) -> Verdict:
    """The cone claim on lag curves S(t, t + Δ) against Δ (the paper's Fig. 5b), early and late in training.

    A kernel moving inside a narrow cone moves more over a longer lag at first, then no further: its lag curve
    rises at short lags and is flat at long ones, at a level well below the distance between unrelated
    networks' kernels. A random walk keeps growing (S ∝ Δ); pure jitter is flat from the shortest lag (nothing
    moves *inside* anything at the resolution of the grid).

    Args:
        lags: (L,) increasing lags Δ in iterations, at least three.
        early, late: (L,) seed-mean lag curves at an early t (before the transition) and a late t (after it).
        early_replicates, late_replicates: (R, L) their bootstrap replicates (same resamples).
        calibration: S between the eNTKs of independently initialised networks at the late t.
        calibration_replicates: (R,) its replicates.

    Checks (Δ_mid: the lag nearest the geometric middle of the grid; margins with bootstrap intervals):

    * **slows down**: S at the shortest lag falls from early to late by more than half, margin S_e(Δ0) − 2 S_l(Δ0);
    * **rises at short lags**: late, log S(Δ_mid)/S(Δ0) exceeds a quarter of a walk's log Δ_mid/Δ0;
    * **flat at long lags**: late, log S(Δmax)/S(Δ_mid) stays below half of a walk's log Δmax/Δ_mid;
    * **narrow**: the late floor S(Δmax) is at most half the calibration.

    Outcome: not reproduced when rises, flat or narrow fails (jitter, a walk, or a cone as wide as unrelated
    networks); reproduced when all pass; partly when only *slows down* fails; inconclusive when undecided checks
    could move the outcome.

    Raises:
        ValueError: fewer than three lags, or shapes disagree.
    """
    lags = np.asarray(lags, dtype=float)
    early, late = np.asarray(early, dtype=float), np.asarray(late, dtype=float)
    er, lr = np.asarray(early_replicates, dtype=float), np.asarray(late_replicates, dtype=float)
    cr = np.asarray(calibration_replicates, dtype=float)
    if len(lags) < 3 or early.shape != lags.shape or late.shape != lags.shape or er.shape[1:] != lags.shape \
            or lr.shape != er.shape or cr.shape != er.shape[:1]:
        raise ValueError(f"need at least three lags and matching shapes: lags {lags.shape}, early {early.shape}, "
                         f"late {late.shape}, replicates {er.shape} / {lr.shape}, calibration {cr.shape}")
    mid = int(np.argmin(np.abs(np.log(lags) - np.log(lags).mean())))
    mid = min(max(mid, 1), len(lags) - 2)
    rise_need = 0.25 * math.log(lags[mid] / lags[0])
    flat_allow = 0.5 * math.log(lags[-1] / lags[mid])
    checks = [
        _margin_check(LagCheck.SLOWS_DOWN, early[0] - 2 * late[0], er[:, 0] - 2 * lr[:, 0],
                      f"S(t, t + {lags[0]:g}) {early[0]:.3g} early, {late[0]:.3g} late"),
        _margin_check(LagCheck.RISES_AT_SHORT_LAGS, float(_log_ratio(late[mid], late[0])) - rise_need,
                      _log_ratio(lr[:, mid], lr[:, 0]) - rise_need,
                      f"late S {late[0]:.3g} at Δ = {lags[0]:g} → {late[mid]:.3g} at Δ = {lags[mid]:g} "
                      f"(a walk: ×{lags[mid] / lags[0]:.3g})"),
        _margin_check(LagCheck.FLAT_AT_LONG_LAGS, flat_allow - float(_log_ratio(late[-1], late[mid])),
                      flat_allow - _log_ratio(lr[:, -1], lr[:, mid]),
                      f"late S {late[mid]:.3g} at Δ = {lags[mid]:g} → {late[-1]:.3g} at Δ = {lags[-1]:g} "
                      f"(a walk: ×{lags[-1] / lags[mid]:.3g})"),
        _margin_check(LagCheck.NARROW, calibration / 2 - late[-1], cr / 2 - lr[:, -1],
                      f"late floor {late[-1]:.3g} against {calibration:.3g} between independently initialised "
                      "networks"),
    ]

    def rule(passed: dict) -> Outcome:
        if not all(passed[c] for c in (LagCheck.RISES_AT_SHORT_LAGS, LagCheck.FLAT_AT_LONG_LAGS, LagCheck.NARROW)):
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if passed[LagCheck.SLOWS_DOWN] else Outcome.PARTLY

    return decide_with_intervals(checks, rule)


def paired_switch_verdict(switches: np.ndarray, correct: np.ndarray, inflection: float,
                          resamples: int = 2000) -> Verdict:
    """The value of the cone phase on switch times inside the constant-lr window, with bootstrap intervals paired by
    seed and test image (every switch time is scored on the same images of the same seeds' runs).

    Args:
        switches: (K,) increasing switch times t, the last T (standard training all the way).
        correct: (seeds, n_test, K) whether θ_std→lin(T; t) classifies each test image correctly (0/1), or
            (seeds, K) test accuracies (then only seeds are resampled).
        inflection: chapter 1's inflection in iterations (nan: none found, so no cone phase in the grid).
        resamples: bootstrap replicates.

    Checks (margins positive when they pass):

    * **t = 0 is worst**: margin min over t > 0 of acc(t) − acc(0);
    * **grows with t**: Spearman rank correlation of t (T included) and accuracy above 0.7, margin ρ − 0.7;
    * **the cone phase matters**: from the first switch at or after the inflection to the last one before T,
      accuracy rises by more than a point, margin acc(late) − acc(first after) − 0.01; not applicable when fewer
      than two switch times before T lie after the inflection.

    Outcome: not reproduced when accuracy neither grows with t nor rises in the cone phase; reproduced when all
    pass; partly otherwise; inconclusive when undecided checks could move it.

    Raises:
        ValueError: fewer than three switch times, or shapes that disagree.
    """
    switches = np.asarray(switches, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(switches) < 3 or correct.shape[-1] != len(switches) or correct.ndim not in (2, 3):
        raise ValueError(f"need three or more switch times and (seeds[, n_test], K) scores: switches "
                         f"{switches.shape}, scores {correct.shape}")
    mean = correct.mean(tuple(range(correct.ndim - 1)))
    reps = bootstrap_means(correct, resamples)
    later = np.arange(1, len(switches))
    rho_reps = np.array([spearman(switches, r) for r in reps])
    rho = spearman(switches, mean)
    checks = [
        _margin_check(SwitchCheck.ZERO_IS_WORST, float(mean[later].min() - mean[0]),
                      reps[:, later].min(1) - reps[:, 0],
                      f"{mean[0]:.3f} at t = 0, lowest later {mean[later].min():.3f}"),
        _margin_check(SwitchCheck.GROWS_WITH_T, rho - 0.7, rho_reps - 0.7, f"Spearman ρ = {rho:.2f} (rule: > 0.7)"),
    ]
    inside = [i for i in range(len(switches) - 1) if math.isfinite(inflection) and switches[i] >= inflection]
    if len(inside) >= 2:
        a, b = inside[0], inside[-1]
        checks.append(_margin_check(
            SwitchCheck.CONE_PHASE_MATTERS, float(mean[b] - mean[a] - 0.01), reps[:, b] - reps[:, a] - 0.01,
            f"{mean[a]:.3f} at t = {switches[a]:g} → {mean[b]:.3f} at t = {switches[b]:g} (rule: > +0.01)"))
    else:
        where = f"the inflection {inflection:.3g}" if math.isfinite(inflection) else "no inflection"
        checks.append(Check(SwitchCheck.CONE_PHASE_MATTERS, False,
                            f"fewer than two switch times before T lie after {where}", applicable=False))

    def rule(passed: dict) -> Outcome:
        if not passed[SwitchCheck.GROWS_WITH_T] and not passed[SwitchCheck.CONE_PHASE_MATTERS]:
            return Outcome.NOT_REPRODUCED
        return Outcome.REPRODUCED if all(passed.values()) else Outcome.PARTLY

    return decide_with_intervals(checks, rule)


#: The precondition's first threshold, the share of the test set independently initialised networks must disagree
#: on (the whole 90% interval above it).
MIN_UNRELATED_DISAGREEMENT = 0.10
#: The precondition's second threshold, how far (test accuracy) the model linearized at initialisation must fall
#: short of standard training (the whole 90% interval above it).
MIN_LINEARIZATION_GAP = 0.05


@dataclass
class Precondition:
    """Whether a task has the dynamic range the three effects need (:func:`dynamic_range_precondition`)."""

    checks: list[Check]

    @property
    def applicable(self) -> bool:
        """True when every check passes with its interval on the passing side."""
        return all(c.passed and c.decided for c in self.checks)

    def explain(self) -> str:
        """One line per check: its mark, name and numbers."""
        return "\n".join(f"{c.mark} {c.name}: {c.detail}" for c in self.checks)

    def apply(self, verdict: Verdict) -> Verdict:
        """``verdict`` itself on an applicable task; else INAPPLICABLE, with the precondition's checks first."""
        if self.applicable:
            return verdict
        return Verdict(Outcome.INAPPLICABLE, [*self.checks, *verdict.checks])


def dynamic_range_precondition(unrelated: np.ndarray, standard_correct: np.ndarray, linear_correct: np.ndarray,
                               resamples: int = 2000) -> Precondition:
    """Whether a task can show the effects at all, before any verdict on it (issue 22): twins cannot diverge
    further than unrelated networks differ, and a phase of training that linearization loses cannot matter when
    the model linearized at initialisation already trains as well as the network.

    Args:
        unrelated: (pairs, n_test) 0/1, whether each pair of independently initialised networks (trained on the
            same batches) disagrees on each test input at the end of the window.
        standard_correct: (seeds, n_test) 0/1, standard training's correctness on each test input at T.
        linear_correct: (seeds, n_test) 0/1, the same seeds' model linearized at initialisation (switch at t = 0)
            and trained to T.
        resamples: bootstrap replicates (pairs or seeds, and test inputs, resampled; the gap paired by seed and
            input).

    Checks (margins positive when they pass; a check passes only with its 90% interval above 0):

    * **unrelated networks disagree**: mean disagreement − :data:`MIN_UNRELATED_DISAGREEMENT`;
    * **linearized training falls short**: standard − linearized test accuracy − :data:`MIN_LINEARIZATION_GAP`.

    Returns:
        A :class:`Precondition`; its :meth:`Precondition.apply` turns a claim's verdict into INAPPLICABLE when the
        task fails.

    Raises:
        ValueError: arrays that are not 2-dimensional, or correctness arrays of different shapes.
    """
    unrelated, std, lin = (np.asarray(a, dtype=float) for a in (unrelated, standard_correct, linear_correct))
    if unrelated.ndim != 2 or std.ndim != 2 or std.shape != lin.shape or unrelated.shape[0] == 0:
        raise ValueError(f"need (pairs, n_test) disagreements and two equal (seeds, n_test) correctness arrays: "
                         f"{unrelated.shape}, {std.shape}, {lin.shape}")
    d = float(unrelated.mean())
    d_reps = bootstrap_means(unrelated[:, :, None], resamples)[:, 0]
    gap = std - lin
    g = float(gap.mean())
    g_reps = bootstrap_means(gap[:, :, None], resamples, seed=1)[:, 0]
    return Precondition([
        _margin_check(PreconditionCheck.UNRELATED_DISAGREE, d - MIN_UNRELATED_DISAGREEMENT,
                      d_reps - MIN_UNRELATED_DISAGREEMENT,
                      f"independently initialised networks disagree on {d:.3f} of the test set "
                      f"(rule: > {MIN_UNRELATED_DISAGREEMENT:g})"),
        _margin_check(PreconditionCheck.LINEARIZATION_FALLS_SHORT, g - MIN_LINEARIZATION_GAP,
                      g_reps - MIN_LINEARIZATION_GAP,
                      f"standard {std.mean():.3f} against linearized at initialisation {lin.mean():.3f} test accuracy "
                      f"(rule: gap > {MIN_LINEARIZATION_GAP:g})"),
    ])


class Shift(enum.StrEnum):
    """Which way a change of one factor moves the inflection (:func:`inflection_shift`)."""

    LATER = "later"
    EARLIER = "earlier"
    NONE = "no change measurable"


def inflections(t0s: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Each curve's inflection (:func:`inflection_point`), +inf where it never halves within the grid.

    Args:
        t0s: (K,) the grid.
        curves: (K,) one curve or (R, K) several (e.g. bootstrap replicates).

    Returns:
        (R,) inflections in iterations (R = 1 for one curve).
    """
    out = np.array([inflection_point(t0s, c) for c in np.atleast_2d(curves)])
    return np.where(np.isfinite(out), out, np.inf)


def _log_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log((1 + b) / (1 + a)), elementwise; +inf or -inf where only one side is beyond the grid, 0 where both are."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    out = np.zeros(a.shape)
    both = np.isfinite(a) & np.isfinite(b)
    out[both] = np.log1p(b[both]) - np.log1p(a[both])
    out[~np.isfinite(b) & np.isfinite(a)] = np.inf
    out[np.isfinite(b) & ~np.isfinite(a)] = -np.inf
    return out


def inflection_shift(t0s: np.ndarray, base_point: np.ndarray, base_replicates: np.ndarray, point: np.ndarray,
                     replicates: np.ndarray) -> dict:
    """How far a setting's inflection lies from the baseline's (chapter 6, "what moves the transition"), with the
    bootstrap interval of the shift and its direction.

    The shift is the factor (1 + t_setting) / (1 + t_base) between the two inflections (a ratio: the grids are
    spaced by factors); an inflection beyond the grid counts as later than any inside it. Replicates of the two
    settings come from independent bootstraps of independent runs and are paired by index.

    Args:
        t0s: (K,) the slice's t0 grid, shared by both settings.
        base_point, point: (K,) the two mean curves (e.g. test disagreement on t1 = t0 + Δ).
        base_replicates, replicates: (R, K) their bootstrap replicates (:func:`bootstrap_means`).

    Returns:
        {"base", "setting" (inflections, iterations; inf beyond the grid), "factor", "low", "high" (the ratio and
        its 90% interval), "shift" (:class:`Shift`: LATER when the whole interval lies above 1, EARLIER below,
        NONE otherwise)}.

    Raises:
        ValueError: shapes that disagree.
    """
    t0s = np.asarray(t0s, dtype=float)
    base_replicates, replicates = np.asarray(base_replicates, float), np.asarray(replicates, float)
    if base_replicates.shape != replicates.shape or replicates.shape[-1] != len(t0s) or \
            np.shape(point) != (len(t0s),) or np.shape(base_point) != (len(t0s),):
        raise ValueError(f"need (K,) curves and equal (R, K) replicates on {len(t0s)} t0s: {np.shape(base_point)}, "
                         f"{np.shape(point)}, {base_replicates.shape}, {replicates.shape}")
    a, b = inflections(t0s, base_point)[0], inflections(t0s, point)[0]
    shifts = _log_shift(inflections(t0s, base_replicates), inflections(t0s, replicates))
    lo, hi = np.quantile(shifts, [(1 - INTERVAL_LEVEL) / 2, (1 + INTERVAL_LEVEL) / 2], method="inverted_cdf")
    shift = Shift.LATER if lo > 0 else Shift.EARLIER if hi < 0 else Shift.NONE
    return {"base": float(a), "setting": float(b), "factor": float(np.exp(_log_shift(a, b))),
            "low": float(np.exp(lo)), "high": float(np.exp(hi)), "shift": shift}


class Relation(enum.StrEnum):
    """How the inflection relates to final test accuracy across settings (:func:`inflection_accuracy_relation`)."""

    LATER_IS_BETTER = "a later transition goes with higher accuracy"
    LATER_IS_WORSE = "a later transition goes with lower accuracy"
    NONE = "no relation measurable at this scale"


def inflection_accuracy_relation(inflections: np.ndarray, accuracies: np.ndarray) -> dict:
    """The rank correlation between settings' inflections and their final test accuracies, with a bootstrap interval
    (the paper's fourth open question: does the transition relate to how well the network generalises?).

    Args:
        inflections: (S, R + 1) per setting, the inflection of the mean curve (column 0) and of each bootstrap
            replicate (columns 1..R; inf beyond the grid ranks as the latest).
        accuracies: (S, R + 1) per setting, the final test accuracy (column 0) and its replicates, resampled
            independently of the inflection's.

    Returns:
        {"rho" (Spearman ρ of the point values), "low", "high" (90% interval of the replicates' ρ), "relation"
        (:class:`Relation`: LATER_IS_BETTER when the interval lies above 0, LATER_IS_WORSE below, NONE
        otherwise), "settings"}.

    Raises:
        ValueError: fewer than 4 settings, or shapes that disagree.
    """
    inf, acc = np.asarray(inflections, dtype=float), np.asarray(accuracies, dtype=float)
    if inf.shape != acc.shape or inf.ndim != 2 or inf.shape[0] < 4 or inf.shape[1] < 2:
        raise ValueError(f"need two equal (settings ≥ 4, 1 + replicates) arrays: {inf.shape}, {acc.shape}")
    big = np.nanmax(np.where(np.isfinite(inf), inf, np.nan)) if np.isfinite(inf).any() else 0.0
    ranked = np.where(np.isfinite(inf), inf, big + 1.0)  # beyond the grid: later than every inflection inside it
    rho = spearman(ranked[:, 0], acc[:, 0])
    reps = np.array([spearman(ranked[:, r], acc[:, r]) for r in range(1, inf.shape[1])])
    lo, hi = interval(reps)
    relation = Relation.LATER_IS_BETTER if lo > 0 else Relation.LATER_IS_WORSE if hi < 0 else Relation.NONE
    return {"rho": rho, "low": lo, "high": hi, "relation": relation, "settings": int(inf.shape[0])}
