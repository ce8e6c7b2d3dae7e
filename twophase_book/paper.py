"""What the paper and its cross-checks report (``../shared/paper/PROTOCOL.md``), and the claims the
scorecard states."""

from __future__ import annotations

# What the paper and its cross-checks report (PROTOCOL.md); the paper's schedule length comes from the profiles.
PAPER_INFLECTION = {"resnet20": (100, 500), "vgg16": (2500, 2500)}


FRANKLE_STABILITY = {"resnet20": 2000, "vgg16": 1000}


PAPER_TAUS = (2000, 4000, 6000, 8000)


RECIPE_ACCURACY = {"resnet20": 0.917, "vgg16": 0.937}


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


