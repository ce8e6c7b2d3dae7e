"""Is it the paper or our scale? (issue 34) The scale ladder's predictions, committed before any ladder number
exists, each read by :func:`twophase_lib.verdicts.width_trend`.

Widths are multipliers of the paper's network (ResNet-20 ×1, VGG-16 ×1, so the paper's width is 1); a rung is a
width the chapter trains at. The chapter, its designs and studies come later, through the claim registry; what is
fixed here is what each quantity is predicted to do and what the paper reports at its own width, so no number of
the ladder can move either.
"""

from __future__ import annotations

from dataclasses import dataclass

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


#: The ladder's predictions (issue 34), each judged by :func:`twophase_lib.verdicts.width_trend`, the
#: slope against ``slope_bound`` (a predicted slope of −1, rejected above −0.3), and the fitted value at the
#: paper's width against the paper's (consistent: the fit's interval meets it; fails: it lies wholly outside).
PREDICTIONS = (
    Prediction("late lag floor S(t, t + Δmax)", "resnet20", True, -0.3, (0.02, 0.03),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.02 (Fig. 5b)"),
    Prediction("late lag floor S(t, t + Δmax)", "vgg16", True, -0.3, (0.05, 0.1),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.05 (Fig. 5b), ≈ 0.05–0.1 from late τ (Fig. 5a)"),
    Prediction("S(0, t), travelled from initialisation", "resnet20", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)", measure="travelled"),
    Prediction("S(0, t), travelled from initialisation", "vgg16", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)", measure="travelled"),
    Prediction("chaos inflection (epochs)", "vgg16", False, 0.0, (5.1, 6.4),
               "the paper's inflection ≈ 2,000–2,500 iterations at 390 per epoch (5.1–6.4 epochs) against ≈ 2.5 "
               "epochs at ×1/8 here: moving toward the paper's, it grows with width (slope above 0)",
               claim="chaos", measure="inflection_epochs"),
    # added before any ladder number (the commit order shows it): the switch claim's quantity
    Prediction("switch gain acc(T; t late) − acc(T; 0)", "resnet20", False, 0.0, (0.35, 0.45),
               "the paper's Fig. 6 rises from ≈ 0.44 (t = 0) to ≈ 0.85 (t = 8,000) at T = 10,000; here the linear "
               "phase gains ≈ 0 at T = 500 on the narrow networks: if narrowness hides the cone phase's value, the "
               "gain grows with width (slope above 0). The paper's value is at its T, ours at the ladder's shorter "
               "T, so 'at the paper's scale' also mixes T", claim="switch", measure="switch_gain"),
    Prediction("switch gain acc(T; t late) − acc(T; 0)", "vgg16", False, 0.0, (0.6, 0.75),
               "the paper's Fig. 6 rises from ≈ 0.13 (t = 0) to ≈ 0.84 (t = 8,000) at T = 10,000; as for "
               "ResNet-20, the gain grows with width if narrowness hides the cone phase's value (slope above 0); "
               "the paper's value is at its longer T", claim="switch", measure="switch_gain"),
)
