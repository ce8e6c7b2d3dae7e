"""The verdict rules: pure functions of measured curves, each able to say "reproduced", "partly", "not reproduced" or
"inconclusive" (and, for a task that fails the dynamic-range precondition, "inapplicable").

The rules were written before the results they judge were computed, and each is tested on synthetic curves that
reach every outcome (``tests/test_verdicts.py``, ``tests/test_protocol_rules.py``,
``tests/test_switch_and_block_rules.py``). A rule is a list of checks identified by enums; the outcome is
"reproduced" when every check passes, "not reproduced" when the checks that carry the claim's core fail, and
"partly" otherwise. Every check reports its numbers, a margin and a t interval (:func:`t_interval` on
:func:`bootstrap_means`),
and a rule says "inconclusive" when a check whose interval contains 0 could change its outcome
(:func:`decide_with_intervals`). Each rule's thresholds are named constants of its claim's module, each with its
reason.

One module per concept; every public name is re-exported here (``from twophase_lib.verdicts import ...``):

* ``outcomes``: :class:`Outcome`, :class:`Check`, :class:`Verdict`, :func:`decide_with_intervals`,
  :func:`combine`, :func:`across_machines`;
* ``intervals``: the shared statistics, :func:`bootstrap_means`, :func:`t_interval` (the rules' intervals,
  coverage measured), :func:`interval` (percentile, for rank statistics), the inflection
  (:func:`inflection_point`, :func:`inflection_interval`, :func:`inflections`) and :func:`spearman`;
* ``chaos``: chapter 1's rule on fixed windows, :class:`WindowCheck`, :func:`window_chaos_verdict`;
* ``cone``: chapter 2's rule on the eNTK's lag curves, :class:`LagCheck`, :func:`lag_cone_verdict`;
* ``switch``: chapter 3's rule on switch times, :class:`SwitchCheck`, :func:`paired_switch_verdict`, and the
  fixed-budget arm's descriptive check, :func:`fixed_budget_check`;
* ``precondition``: chapter 4's dynamic-range precondition, :class:`PreconditionCheck`, :class:`Precondition`,
  :func:`dynamic_range_precondition`;
* ``transition``: chapter 6's rules on what moves the transition, :class:`Shift`, :func:`inflection_shift`,
  :class:`Relation`, :func:`inflection_accuracy_relation`;
* ``scale``: the scale ladder's rule (issue 34), :class:`Trend`, :class:`ScaleOutcome`, :class:`ScaleTrend`,
  :func:`width_trend`.
"""

from .chaos import MAX_LATE_SHARE, MIN_EARLY_SHARE, WindowCheck, window_chaos_verdict
from .cone import MAX_FLAT_SHARE, MAX_FLOOR_SHARE, MIN_LAGS, MIN_RISE_SHARE, MIN_SLOWDOWN, LagCheck, lag_cone_verdict
from .intervals import (
    INFLECTION_FRACTION,
    INTERVAL_LEVEL,
    INTERVAL_METHOD,
    MIN_FINITE_SHARE,
    RESAMPLES,
    bootstrap_means,
    inflection_interval,
    inflection_point,
    inflections,
    interval,
    spearman,
    t_interval,
)
from .outcomes import (
    INCONCLUSIVE,
    NO_DYNAMIC_RANGE,
    OUTCOMES,
    Check,
    CheckId,
    Outcome,
    Verdict,
    across_machines,
    combine,
    decide_with_intervals,
)
from .precondition import (
    MIN_BASELINE_GAIN,
    MIN_LINEARIZATION_GAP,
    MIN_UNRELATED_DISAGREEMENT,
    Precondition,
    PreconditionCheck,
    dynamic_range_precondition,
)
from .scale import (
    MAX_LINEAR_WIDTH,
    MAX_PREDICTION_RATIO,
    MIN_RUNGS,
    NO_WIDTH,
    ScaleOutcome,
    ScaleTrend,
    Trend,
    width_trend,
)
from .switch import (
    COLLAPSE_MARGIN,
    MIN_CONE_PHASE_GAIN,
    MIN_LINEAR_GAIN,
    MIN_RANK_CORRELATION,
    MIN_SWITCHES,
    MIN_SWITCHES_IN_CONE_PHASE,
    WORST_TOLERANCE,
    BudgetCheck,
    SwitchCheck,
    fixed_budget_check,
    paired_switch_verdict,
)
from .transition import MIN_SETTINGS, Relation, Shift, inflection_accuracy_relation, inflection_shift

__all__ = [
    # outcomes
    "Outcome", "OUTCOMES", "CheckId", "Check", "NO_DYNAMIC_RANGE", "Verdict", "decide_with_intervals", "combine",
    "INCONCLUSIVE", "across_machines",
    # intervals
    "INTERVAL_LEVEL", "INTERVAL_METHOD", "RESAMPLES", "MIN_FINITE_SHARE", "INFLECTION_FRACTION", "bootstrap_means",
    "interval", "t_interval", "inflection_point", "inflection_interval", "inflections", "spearman",
    # chaos
    "MIN_EARLY_SHARE", "MAX_LATE_SHARE", "WindowCheck", "window_chaos_verdict",
    # cone
    "MIN_LAGS", "MIN_SLOWDOWN", "MIN_RISE_SHARE", "MAX_FLAT_SHARE", "MAX_FLOOR_SHARE", "LagCheck", "lag_cone_verdict",
    # switch
    "MIN_SWITCHES", "MIN_RANK_CORRELATION", "MIN_CONE_PHASE_GAIN", "MIN_LINEAR_GAIN", "COLLAPSE_MARGIN",
    "MIN_SWITCHES_IN_CONE_PHASE",
    "WORST_TOLERANCE", "SwitchCheck", "paired_switch_verdict", "BudgetCheck", "fixed_budget_check",
    # precondition
    "MIN_UNRELATED_DISAGREEMENT", "MIN_LINEARIZATION_GAP", "MIN_BASELINE_GAIN", "PreconditionCheck", "Precondition",
    "dynamic_range_precondition",
    # transition
    "MIN_SETTINGS", "Shift", "inflection_shift", "Relation", "inflection_accuracy_relation",
    # scale
    "MIN_RUNGS", "MAX_PREDICTION_RATIO", "MAX_LINEAR_WIDTH", "NO_WIDTH", "Trend", "ScaleOutcome", "ScaleTrend",
    "width_trend",
]
