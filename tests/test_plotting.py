"""The book's figure rules (logloss.display.plotting): at most two panels a row, no wider
than the 672-px column, text at least 9 px on screen at 1280 px and 7 px on a 412-px phone,
legends off the data.  Checked with an oracle of their own (the rendered pixels and the
figure's size), on hand-made figures and on the figures of fast experiments at the smoke
scale; every other figure of the book passes logloss.show, which refuses a figure that
breaks them, in the chapters' nbval runs and in the book build.  Then plotting.tidy on its
own: legends off the data, readable log axes, and the book's PNG resolution."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import logloss  # noqa: E402
from logloss.display import explore, plotting  # noqa: E402

COLUMN, PHONE = 672, 364  # CSS px: a cell output's width at 1280 px, and on a 412-px phone


def _screen_px(fig, size_pt, column):
    """On-screen size of text of ``size_pt`` when the figure (100 px an inch) is shown in
    a column ``column`` px wide, shrunk if it is wider."""
    width_px = fig.get_figwidth() * 100
    return size_pt * 100 / 72 * min(1.0, column / width_px)


def _rgb(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    buf.seek(0)
    return plt.imread(buf)[:, :, :3]


def _covered_pixels(fig, ax):
    """Pixels of ``ax``'s data under its legend: the figure rendered with the legend and
    the grid hidden, the non-white pixels inside the legend's box."""
    legend = ax.get_legend()
    if legend is None:
        return 0
    fig.draw_without_rendering()
    box = legend.get_window_extent()
    grids = [line for line in ax.get_xgridlines() + ax.get_ygridlines() if line.get_visible()]
    legend.set_visible(False)
    for line in grids:
        line.set_visible(False)
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")
    try:
        img = _rgb(fig)
    finally:
        legend.set_visible(True)
        for line in grids:
            line.set_visible(True)
        fig.set_layout_engine(engine)
    h = img.shape[0]
    inner = img[int(h - box.y1) + 2:int(h - box.y0) - 2, int(box.x0) + 2:int(box.x1) - 2]
    return int(np.sum(np.any(inner < 0.95, axis=2)))


def _assert_rules(fig):
    assert fig.get_figwidth() * 100 <= COLUMN + 0.5
    fig.draw_without_rendering()
    rows = {}
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        y = round(ax.get_position().y1, 2)
        rows[y] = rows.get(y, 0) + 1
    assert max(rows.values()) <= 2, rows
    for t in plotting.texts(fig):
        size = t.get_fontsize()
        assert _screen_px(fig, size, COLUMN) >= 9 - 1e-6, (t.get_text(), size)
        if t.get_gid() != plotting.STAMP_GID:
            assert _screen_px(fig, size, PHONE) >= 7 - 1e-6, (t.get_text(), size)
    for ax in fig.axes:
        assert _covered_pixels(fig, ax) == 0, ax.get_legend()
    assert plotting.check_figure(fig) == []


def test_more_than_two_panels_a_row_is_refused_and_panels_wrap():
    with pytest.raises(ValueError, match="at most 2 panels a row"):
        plotting.figure(3)
    fig, axes = plotting.panels(3)
    assert len(axes) == 3 and len(fig.axes) == 3
    assert fig.get_figwidth() * 100 == pytest.approx(COLUMN)
    fig, grid = plotting.grid(2, 3)  # 2 rows of 3 values: transposed to 3 rows of 2
    assert grid[1][2].get_subplotspec().rowspan.start == 2
    assert grid[1][2].get_subplotspec().colspan.start == 1
    plt.close("all")


def test_small_text_is_enlarged_and_the_oracle_sees_the_old_size():
    fig, axes = plotting.figure(2)
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="a line")
        ax.text(0.5, 0.2, "note", fontsize=5)
    axes[0].legend(fontsize=5)
    assert _screen_px(fig, 5, PHONE) < 7  # what the old figures had
    assert any("pt, below" in p for p in plotting.check_figure(fig))
    plotting.tidy(fig)
    _assert_rules(fig)
    plt.close(fig)


def test_legend_over_data_moves_and_the_oracle_sees_it():
    fig, (ax,) = plotting.figure()
    x = np.linspace(0, 1, 5)
    ax.plot(x, 1 - x, label="falling")
    ax.fill_between(x, 0.4, 0.6, alpha=0.2, label="band")
    ax.legend(loc="upper left")
    assert _covered_pixels(fig, ax) > 0
    plotting.tidy(fig)
    _assert_rules(fig)
    plt.close(fig)


def test_crowded_panels_put_their_legends_above_without_shrinking():
    fig, axes = plotting.figure(2)
    rng = np.random.default_rng(0)
    for ax in axes:
        ax.scatter(rng.uniform(size=3000), rng.uniform(size=3000), s=2, label="a cloud of points")
        ax.plot([0, 1], [0, 1], label="a long label for a line, wider than half a panel" * 2)
        ax.legend()
    before = axes[0].get_position().height * fig.get_figheight()
    plotting.tidy(fig)
    _assert_rules(fig)
    fig.draw_without_rendering()
    assert axes[0].get_position().height * fig.get_figheight() >= 0.9 * before
    plt.close(fig)


def test_show_refuses_a_figure_that_breaks_the_rules():
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    with pytest.raises(ValueError, match="figure rules"):
        logloss.show(fig)


@pytest.mark.parametrize("name", ["minibatch-covariance", "gradient-noise-scale", "noise-strength",
                                  "first-passage-linreg", "error-budget-linreg", "stationary-tail"])
def test_experiment_figures_follow_the_rules(name):
    res = logloss.run_experiment(name, "smoke", verbose=False)
    fig = logloss.plot(res)
    _assert_rules(fig)
    plt.close(fig)


def test_explorer_grids_follow_the_rules():
    fig = explore.escape_grid(etas=(0.05, 0.1, 0.2), Bs=(1, 2), ns=(1, 10), c_max=10)
    plotting.tidy(fig)
    _assert_rules(fig)
    plt.close(fig)


# plotting.tidy on its own
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
