"""The table and note that open chapters 1-3: every profile's design, as a reader needs it."""

from __future__ import annotations

from .profiles import protocol_design
from .render import Note, Table


def protocol_table(designs: dict) -> Table:
    """Chapters 1-3's designs on the paper's protocol (:class:`twophase_book.profiles.ProtocolDesign`), one row per
    network: the constant-lr window and where each chapter looks in it."""
    rows = []
    for arch, d in designs.items():
        o, x = d.run.optim, d.extension
        rows.append([arch, f"{d.run.model.width:g}", f"{d.run.data.dataset} ({d.train_images:,} training images)",
                     d.run.device, o.batch_size, f"{o.lr:g}",
                     f"{d.window} ({d.window / d.epoch_steps:.3g} epochs)", ", ".join(map(str, d.chaos.t0s)),
                     ", ".join(map(str, d.chaos.deltas)),
                     f"{', '.join(map(str, d.chaos.seeds))} ({len(d.chaos.reference_seeds)})",
                     f"{d.chaos.epsilon:g}",
                     f"t = {', '.join(map(str, d.cone.lag_ts))}; Δ = {', '.join(map(str, d.cone.lags))}",
                     _switch_text(d.switch),
                     f"{x.run.optim.steps} (lr ÷10 at {', '.join(map(str, x.run.optim.milestones))})"
                     + (f"; ch. 3 switches at {', '.join(map(str, x.switches))}" if x.switches else "")])
    return Table(["model", "width", "data", "device", "batch", "lr", "constant-lr window (iterations)", "t0 (ch. 1)",
                  "windows Δ (ch. 1)", "seeds (reference pairs)", "ε (total L2)", "lag curves (ch. 2)",
                  "switch times (ch. 3)", "step-schedule extension (iterations)"], rows)


def _switch_text(s) -> str:
    """Chapter 3's switch times, seeds, the lower-lr control's switch times and the fixed budget, in one cell."""
    lower = "every one" if tuple(s.control_switches) == tuple(s.switches) else ", ".join(map(str, s.control_switches))
    return (f"{', '.join(map(str, s.switches))} (T = {s.T}; {len(s.seeds)} seeds"
            + (f"; lr × {s.lr_scale:g} at {lower}" if s.control_switches else "")
            + (f"; fixed budget {s.budget} iterations" if s.budget else "") + ")")


def protocol_note(designs: dict) -> Note:
    """Where the window of the chapter's designs sits on the paper's scale (the first design's epoch; the paper's
    from its profile)."""
    d = next(iter(designs.values()))
    profile, p = d.profile, protocol_design("paper", "resnet20")
    return Note(
        f"At `{profile}` the training set has {d.train_images:,} images, so one epoch is {d.epoch_steps:,} "
        f"iterations at batch {d.run.optim.batch_size}; the paper's is {p.epoch_steps:,}. The constant-lr window is "
        f"{d.window:,} iterations ({d.window / d.epoch_steps:.3g} epochs); the paper's figures reach 2,000 "
        f"iterations for ResNet-20 ({2_000 / p.epoch_steps:.3g} epochs) and 10,000 for VGG-16 "
        f"({10_000 / p.epoch_steps:.3g} epochs), all before its "
        f"first lr drop at iteration {p.extension.run.optim.first_drop:,}. A transition at the same number "
        f"of epochs as the paper's would sit at {p.epoch_steps / d.epoch_steps:.3g} times fewer iterations here."
    )
