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
    beyond, the paper's value at the paper's width (a range read off its figures), and why."""

    quantity: str
    network: str
    falls: bool
    slope_bound: float
    paper: tuple[float, float]
    reason: str


#: The ladder's predictions (issue 34), each judged by :func:`twophase_lib.verdicts.width_trend`, the
#: slope against ``slope_bound`` (a predicted slope of −1, rejected above −0.3), and the fitted value at the
#: paper's width against the paper's (consistent: the fit's interval meets it; fails: it lies wholly outside).
PREDICTIONS = (
    Prediction("late lag floor S(t, t + Δmax)", "resnet20", True, -0.3, (0.02, 0.03),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.02 (Fig. 5b)"),
    Prediction("late lag floor S(t, t + Δmax)", "vgg16", True, -0.3, (0.05, 0.1),
               f"{KERNEL_THEORY}; the paper's floor ≈ 0.05 (Fig. 5b), ≈ 0.05–0.1 from late τ (Fig. 5a)"),
    Prediction("S(0, t), travelled from initialisation", "resnet20", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)"),
    Prediction("S(0, t), travelled from initialisation", "vgg16", True, -0.3, (0.15, 0.2),
               f"{KERNEL_THEORY}; the paper's S(0, t) ≈ 0.15–0.2 (Fig. 5a)"),
    Prediction("chaos inflection (epochs)", "vgg16", False, 0.0, (5.1, 6.4),
               "the paper's inflection ≈ 2,000–2,500 iterations at 390 per epoch (5.1–6.4 epochs) against ≈ 2.5 "
               "epochs at ×1/8 here: moving toward the paper's, it grows with width (slope above 0)"),
)
