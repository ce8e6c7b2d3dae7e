"""What the paper and its cross-checks report (the claims themselves: :mod:`twophase_book.claims`).

The paper reports its chaos and cone results as figures only: every value here was read off them by a third party
(the project's protocol notes, kept outside this repository), so each is approximate and labelled so in the book.
"""

from __future__ import annotations

# What the paper and its cross-checks report (the protocol notes); the paper's schedule length comes from the profiles.
PAPER_INFLECTION = {"resnet20": (100, 500), "vgg16": (2000, 2500)}


FRANKLE_STABILITY = {"resnet20": 2000, "vgg16": 1000}


PAPER_TAUS = (2000, 4000, 6000, 8000)

#: The paper's maps over t0 and t1 (its Fig. 3) in words, approximate values read off the figures by a third
#: party (the protocol notes); the paper has no tables for them.
PAPER_MAP_TEXT = {
    "resnet20": "disagreement ≈ 0.5 at t1 = 100, then ≈ 0.1–0.2; test-loss barrier ≈ 2 for t0 = 0, falling over "
                "t0 = 100–500, ≈ 0 beyond 500; 1 − cos ≈ 0.06 at t1 = 100–200 for t0 = 0 only",
    "vgg16": "t0 ≤ 1,500: disagreement ≈ 0.3 at t1 = 2,500, then ≈ 0.10–0.15, barrier ≈ 1–2 at t1 ≥ 5,000; "
             "t0 ≥ 2,500: barrier ≈ 0; 1 − cos ≤ 8e-4",
}

#: The paper's eNTK figures 4 and 5 as approximate values read off the figures (the protocol notes) — the within-run
#: block boundary, the level S(τ, t) stays at from late τ and from τ = 0, and the floor of the lag curves.
PAPER_CONE = {
    "resnet20": {"boundary": "≈ 100–500", "late_tau": "≈ 0.02–0.03", "tau0": "≈ 0.15–0.2",
                 "lag": "falls from ≈ 0.25 to a floor ≈ 0.02, the same for every dt ∈ {100, …, 500}"},
    "vgg16": {"boundary": "≈ 2,000", "late_tau": "≈ 0.05–0.1", "tau0": "≈ 0.15–0.2",
              "lag": "falls from ≈ 1 to a floor ≈ 0.05, the same for every dt ∈ {100, …, 500}"},
}

#: The paper's Fig. 6 (linearized from t to T = 10000) as approximate test accuracies for early and late t.
PAPER_SWITCH = {"resnet20": "≈ 0.44 for t ≤ 200 → ≈ 0.84 at t = 5,000", "vgg16": "≈ 0.13 for t ≤ 200 → ≈ 0.82 at "
                "t = 5,000"}


RECIPE_ACCURACY = {"resnet20": 0.917, "vgg16": 0.937}


# ------------------------------------------------------------------------------ the paper's values as rule inputs
#: The paper's figures as inputs of the book's rules (``tests/test_rule_fairness.py``: every rule must say
#: "reproduced" on them). Approximate values read off the figures (the texts above); where the paper shows nothing
#: a rule needs, the value is an assumption, named in ``"assumed"``. Curves are seed means; the test adds seeds.

#: The inputs of chapter 1's rule on a fixed window t1 = t0 + Δ, each metric at each t0, from the maps of the
#: paper's Fig. 3 read along the diagonal t1 = t0 + Δ.
PAPER_CHAOS_WINDOWS = {
    "resnet20": {"t0s": (0, 100, 200, 500, 1000, 2000), "delta": 500,
                 "disagreement": (0.15, 0.12, 0.08, 0.03, 0.02, 0.02),
                 "test_loss_barrier": (2.0, 1.5, 0.8, 0.05, 0.0, 0.0),
                 "dissimilarity": (0.06, 0.02, 0.01, 0.002, 0.001, 0.001)},
    "vgg16": {"t0s": (0, 500, 1000, 1500, 2500, 4000), "delta": 2500,
              "disagreement": (0.15, 0.13, 0.12, 0.12, 0.03, 0.02),
              "test_loss_barrier": (1.5, 1.5, 1.2, 1.0, 0.05, 0.0),
              "dissimilarity": (8e-4, 6e-4, 5e-4, 4e-4, 5e-5, 3e-5)},
    "assumed": "the level of twins that differ only in SGD noise equals the t0 = 0 twins' (Frankle et al. 2020: "
               "both networks are unstable to SGD noise at initialisation); VGG-16's late 1 − cos a tenth of its "
               "bound 8e-4; disagreement on the diagonal where the maps show only the barrier",
}

#: The inputs of chapter 2's rule, the lag curves S(t, t + dt) early and late (Fig. 5b) and S(0, t) late (Fig. 5a).
PAPER_CONE_LAGS = {
    "resnet20": {"lags": (100, 200, 300, 400, 500), "early": (0.25, 0.3, 0.33, 0.35, 0.36),
                 "late": (0.02, 0.02, 0.02, 0.02, 0.02), "travelled": 0.17},
    "vgg16": {"lags": (100, 200, 300, 400, 500), "early": (0.9, 0.95, 1.0, 1.0, 1.0),
              "late": (0.05, 0.05, 0.05, 0.05, 0.05), "travelled": 0.17},
    "assumed": "the early curves' rise with dt (the paper gives their level only); no calibration between "
               "independently initialised networks (the paper has none)",
}

#: The inputs of chapter 3's rule, the final test accuracy of the model linearized at t and trained to T = 10,000
#: (Fig. 6), and the parent's own accuracy at t.
PAPER_SWITCH_CURVES = {
    "resnet20": {"switches": (0, 100, 200, 500, 1000, 2000, 5000, 8000, 10000), "inflection": 500,
                 "final": (0.44, 0.44, 0.45, 0.55, 0.65, 0.75, 0.84, 0.85, 0.86),
                 "parent": (0.10, 0.30, 0.38, 0.45, 0.55, 0.65, 0.72, 0.75, 0.86)},
    "vgg16": {"switches": (0, 100, 200, 500, 1000, 2000, 5000, 8000, 10000), "inflection": 2000,
              "final": (0.13, 0.13, 0.13, 0.3, 0.5, 0.65, 0.82, 0.84, 0.85),
              "parent": (0.10, 0.15, 0.2, 0.35, 0.5, 0.6, 0.7, 0.74, 0.85)},
    "assumed": "the parents' accuracy at t and standard training's at T (the paper plots neither: a typical "
               "constant-lr 0.1 curve), the final accuracies between the two ends the text gives and at t = 8,000",
}
