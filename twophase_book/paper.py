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
