"""plotting.tidy: legends off the data, readable log axes, and the book's PNG resolution."""

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")

from logloss.display import plotting  # noqa: E402


def _covered(fig, ax):
    return plotting.legend_overlap(fig, ax)


def test_legend_moves_off_the_data():
    fig, (ax,) = plotting.figure()
    x = np.linspace(0, 1, 5)  # few vertices: the line between them must count too
    ax.plot(x, 1 - x, label="falling")
    ax.plot(x, 0.5 + 0 * x, label="flat")
    ax.legend(loc="upper left")
    assert _covered(fig, ax) > 0
    plotting.tidy(fig)
    assert _covered(fig, ax) == 0
    plotting.tidy(fig)  # idempotent
    assert _covered(fig, ax) == 0


def test_legend_goes_outside_when_every_corner_is_covered():
    fig, (ax,) = plotting.figure()
    rng = np.random.default_rng(0)
    ax.scatter(rng.uniform(size=4000), rng.uniform(size=4000), s=2, label="cloud")
    ax.legend()
    plotting.tidy(fig)
    assert ax.get_legend()._bbox_to_anchor is not None  # anchored outside, above the panel
    assert _covered(fig, ax) == 0


def test_short_log_axis_labels_minor_ticks():
    fig, (ax,) = plotting.figure()
    ax.plot([1, 2, 5], [0.4, 1.0, 3.0])
    ax.set_yscale("log")
    plotting.tidy(fig)
    fig.draw_without_rendering()
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True) if t.get_text()]
    assert len(labels) >= 2


def test_style_resolution_and_palette():
    assert plotting.STYLE["savefig.dpi"] >= 200
    assert plotting.STYLE["axes.prop_cycle"].by_key()["color"][:3] == plotting.OKABE_ITO[:3]
    fig, (ax,) = plotting.figure(width=2, height=1)
    plotting.use_style()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    width = int.from_bytes(buf.getvalue()[16:20], "big")
    assert width >= 2 * 200 * 0.95


def test_legend_moves_off_histogram_bars():
    fig, (ax,) = plotting.figure()
    rng = np.random.default_rng(1)
    ax.hist(rng.normal(size=2000), bins=30, label="bars")
    ax.hist(rng.normal(0.5, 1, size=2000), bins=30, histtype="step", label="step")
    ax.legend(loc="center")
    assert _covered(fig, ax) > 0
    plotting.tidy(fig)
    assert _covered(fig, ax) == 0


def test_log_axis_labels_do_not_crowd():
    fig, (ax,) = plotting.figure()
    ax.plot([1, 30], [1, 2])
    ax.set_xscale("log")
    plotting.tidy(fig)
    fig.draw_without_rendering()
    lo, hi = ax.get_xlim()
    fmt = ax.xaxis.get_minor_formatter()
    labels = [fmt(x) for x in ax.xaxis.get_minorticklocs() if lo <= x <= hi]
    assert [t for t in labels if t] == ["2", "5", "20"]


def test_legend_of_a_grid_panel_goes_above_its_panel():
    fig, grid = plotting.grid(2, 3, height=1.6)
    axes = [ax for row in grid for ax in row]
    rng = np.random.default_rng(0)
    for ax in axes:
        ax.scatter(rng.uniform(size=3000), rng.uniform(size=3000), s=2, label="cloud")
    axes[0].legend()
    plotting.tidy(fig)
    assert axes[0].get_legend()._bbox_to_anchor is not None and _covered(fig, axes[0]) == 0


def test_reference_lines_count_as_data():
    fig, (ax,) = plotting.figure()
    ax.plot([1, 2, 3], [1, 2, 3], label="data")
    ax.axhline(2.9, ls=":", label="paper value")
    ax.legend(loc="upper left")
    plotting.tidy(fig)
    assert _covered(fig, ax) == 0
