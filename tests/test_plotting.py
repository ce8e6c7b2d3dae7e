"""The figures' shared axes (twophase_lib.plotting)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from twophase_lib.plotting import MIN_TICK_GAP, time_axis  # noqa: E402


def _ticks(xs):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(xs, range(len(xs)), marker="o")
    ax.axvline(100)  # not data: its x is not a tick
    time_axis(ax, "switch time t (iterations)")
    fig.canvas.draw()
    out = [(float(t), lab.get_text()) for t, lab in zip(ax.get_xticks(), ax.get_xticklabels())]
    plt.close(fig)
    return out


def test_a_grid_of_times_is_labelled_at_its_own_points():
    """Chapter 3's switch times: each one a tick labelled as a plain number, none of symlog's empty decades."""
    ticks = _ticks([0, 50, 100, 200, 300, 400, 500])
    assert [t for t, _ in ticks] == [0, 50, 100, 200, 300, 400, 500]
    labels = [lab for _, lab in ticks]
    assert labels[:3] == ["0", "50", "100"] and all("10^" not in lab and "$" not in lab for lab in labels)


def test_a_crowded_label_is_left_out_and_a_long_series_keeps_decades():
    """Neighbours closer than MIN_TICK_GAP of the axis keep their tick, not their label; past 16 times the axis
    keeps matplotlib's decades."""
    ticks = _ticks([0, 50, 100, 150, 200, 250, 300, 400, 800, 1200, 1210])
    assert ticks[-1] == (1210.0, "") and ticks[-2][1] == "1200" and ticks[0][1] == "0"
    assert 0 < MIN_TICK_GAP < 0.1
    many = _ticks(list(range(0, 2000, 100)))
    assert len([t for t, _ in many]) < 20
