"""The dynamic-range precondition (chapter 4, issue 22), applied before any claim's rule on a new task: twins cannot
diverge further than unrelated networks differ, and a phase of training that linearization loses cannot matter when
the model linearized at initialisation already trains as well as the network. A task that fails it is
"inapplicable" on every claim."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .intervals import RESAMPLES, _margin_check, bootstrap_means
from .outcomes import Check, Outcome, Verdict

#: The precondition's first threshold, the share of the test set independently initialised networks must disagree
#: on (the whole 90% interval above it): twins cannot diverge further than unrelated networks differ, so below a
#: tenth of the test set there is too little room for a chaotic phase to show.
MIN_UNRELATED_DISAGREEMENT = 0.10
#: The precondition's second threshold, how far (test accuracy) the model linearized at initialisation must fall
#: short of standard training (the whole 90% interval above it): with a smaller gap there is too little accuracy
#: for a later switch time to recover.
MIN_LINEARIZATION_GAP = 0.05
#: The precondition's third threshold, by how much (test accuracy) standard training at the window's end must beat
#: the task's simple baseline (the better of the majority class and logistic regression; the whole 90% interval
#: above it): a network that learns no more than a linear model in the window has no nonlinear phase to study.
MIN_BASELINE_GAIN = 0.01


class PreconditionCheck(enum.Enum):
    """The checks of :func:`dynamic_range_precondition`; a member's value is its display text."""

    UNRELATED_DISAGREE = "unrelated networks disagree"
    LINEARIZATION_FALLS_SHORT = "linearized training falls short"
    BEATS_BASELINE = "standard training beats the baseline"


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
                               resamples: int = RESAMPLES, baseline: float | None = None) -> Precondition:
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
        baseline: the task's simple baseline's test accuracy (the better of the majority class and logistic
            regression), a fixed number; None leaves the third check out.

    Checks (margins positive when they pass; t intervals over pairs or seeds):

    * **unrelated networks disagree**: mean disagreement −
      :data:`~twophase_lib.verdicts.precondition.MIN_UNRELATED_DISAGREEMENT`;
    * **linearized training falls short**: standard − linearized test accuracy −
      :data:`~twophase_lib.verdicts.precondition.MIN_LINEARIZATION_GAP`;
    * **standard training beats the baseline** (with ``baseline``): standard test accuracy − baseline −
      :data:`~twophase_lib.verdicts.precondition.MIN_BASELINE_GAIN`.

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
    checks = [
        _margin_check(PreconditionCheck.UNRELATED_DISAGREE, d - MIN_UNRELATED_DISAGREEMENT,
                      d_reps - MIN_UNRELATED_DISAGREEMENT,
                      f"independently initialised networks disagree on {d:.3f} of the test set "
                      f"(rule: > {MIN_UNRELATED_DISAGREEMENT:g})", unrelated.shape[0]),
        _margin_check(PreconditionCheck.LINEARIZATION_FALLS_SHORT, g - MIN_LINEARIZATION_GAP,
                      g_reps - MIN_LINEARIZATION_GAP,
                      f"standard {std.mean():.3f} against linearized at initialisation {lin.mean():.3f} test accuracy "
                      f"(rule: gap > {MIN_LINEARIZATION_GAP:g})", std.shape[0]),
    ]
    if baseline is not None:
        s_reps = bootstrap_means(std[:, :, None], resamples, seed=2)[:, 0]
        gain = float(std.mean()) - float(baseline)
        checks.append(_margin_check(PreconditionCheck.BEATS_BASELINE, gain - MIN_BASELINE_GAIN,
                                    s_reps - float(baseline) - MIN_BASELINE_GAIN,
                                    f"standard {std.mean():.3f} against the baseline's {baseline:.3f} test accuracy "
                                    f"(rule: gain > {MIN_BASELINE_GAIN:g})", std.shape[0]))
    return Precondition(checks)
