"""The table and note that open chapters 1-3: every profile's design, as a reader needs it."""

from __future__ import annotations

from .profiles import chapter_designs, design
from .render import Note, Table


def design_table(profile: str, designs: dict | None = None) -> Table:
    """The profile's design (or ``designs``) for every architecture: network, data, schedule, where each chapter
    looks."""
    rows = []
    for arch, d in (designs or chapter_designs(profile)).items():
        o = d.run.optim
        rows.append(
            [
                arch,
                f"{d.run.model.width:g}",
                d.run.data.dataset,
                o.batch_size,
                f"{o.steps} ({o.steps / d.epoch_steps:.3g} epochs)",
                ", ".join(map(str, o.milestones)),
                ", ".join(map(str, d.t0s)),
                d.t1,
                len(d.seeds),
                ", ".join(map(str, d.cone_refs)),
                ", ".join(map(str, d.switches)),
            ]
        )
    return Table(
        [
            "model",
            "width",
            "data",
            "batch",
            "iterations",
            "lr ÷10 at (step schedule)",
            "t0 grid (ch. 1)",
            "t1",
            "seeds",
            "τ (ch. 2)",
            "switch times (ch. 3)",
        ],
        rows,
    )


def design_note(profile: str) -> Note:
    """The numbers a reader needs to place this profile's schedule next to the paper's, computed from the profiles."""
    d, p = design(profile, "resnet20"), design("paper", "resnet20")
    return Note(
        f"At `{profile}` the training set has {d.train_images:,} images, so one epoch is "
        f"{d.epoch_steps:.3g} iterations at batch {d.run.optim.batch_size}; the paper's is {p.epoch_steps:.3g} "
        f"({p.train_images:,} images at batch {p.run.optim.batch_size}). We train {d.t1:,} iterations "
        f"({d.t1 / d.epoch_steps:.3g} epochs) with the first lr drop at {d.first_drop:,} "
        f"({d.first_drop / d.epoch_steps:.3g} epochs); the paper trains {p.t1:,} ({p.t1 / p.epoch_steps:.3g} epochs) "
        f"with the first drop at {p.first_drop:,}. An inflection at the same number of epochs as the paper's would "
        f"sit at {p.epoch_steps / d.epoch_steps:.3g} times fewer iterations here. The eNTK uses the first "
        f"{d.kernel_inputs} test images (the paper's scale: {p.kernel_inputs})."
    )
