"""What each chapter of the book computes, as studies the library's cost model counts
(:func:`twophase_lib.costs.count_work`): the sizing command (``scripts/estimate_cost.py``) and the GPU benchmark
(``bench/gpu_measure.py``) price a profile's chapters from here."""

from __future__ import annotations

from .claims import CLAIMS, claim_studies


def chapter_studies(profile: str) -> dict[str, list]:
    """The studies each claim's chapter computes at a profile (the registry, :data:`twophase_book.claims.CLAIMS`),
    in the book's order ({chapter: [study, ...]}; chapter 5 trains a user's model and is not counted; a chapter that
    does not run at the profile is left out). What an earlier chapter computed is free to a later one.

    Raises:
        ValueError: an unknown profile.
    """
    return {c.chapter: list(claim_studies(c.kind, profile).values()) for c in CLAIMS if profile in c.profiles}


def chapter_costs(profile: str, workers: int, units: dict | None = None, progress: bool = True) -> dict:
    """Each chapter's modelled cost at a profile, in book order (what an earlier chapter computed is free to a
    later one), from the library's cost model: :func:`twophase_lib.costs.count_work` over :func:`chapter_studies`,
    priced with ``units`` (network label -> :class:`twophase_lib.costs.UnitCosts`; default: measured here, once
    per network and batch size, with :func:`twophase_lib.costs.measure_units`).

    Returns:
        A dict of ``work`` (the whole book's :class:`twophase_lib.costs.Work`), ``units`` (the unit costs),
        ``estimate`` (:func:`twophase_lib.costs.estimate` of the whole book) and ``chapters`` (each chapter's
        seconds on ``workers`` processes).
    """
    import sys

    from twophase_lib.costs import count_work, estimate, measure_units, network_label

    chapters = chapter_studies(profile)
    studies = [st for group in chapters.values() for st in group]
    work = count_work(studies)
    if units is None:
        barrier = next(st.barrier for st in studies if hasattr(st, "barrier"))
        units = {}
        for st in studies:
            label = network_label(st.run)
            if label not in units:
                if progress:
                    print(f"budget: timing the units of {label} ...", file=sys.stderr, flush=True)
                units[label] = measure_units(st.run, barrier, work.kernel_sizes(label))
    per_chapter, done, before = {}, [], 0.0
    for name, group in chapters.items():
        done += group
        upto = estimate(count_work(done), units, workers)["wall_s"]
        per_chapter[name], before = upto - before, upto
    return {"work": work, "units": units, "estimate": estimate(work, units, workers), "chapters": per_chapter}
