"""One small plotting helper so that every figure of the book shares a look.

Styling is an explicit call (:func:`use_style`), never an import side effect.  Figures
carry no titles (the book's captions say what they show) but every figure is stamped
with the experiment, scale and seed that produced it (:func:`stamp`).

Figures are drawn for the book's content column, :data:`COLUMN_PX` = 672 CSS pixels at a
1280-px screen, one figure inch being :data:`SCREEN_DPI` = 100 CSS pixels
(:func:`logloss.show` declares the image that wide).  The rules, applied by
:func:`figure`, :func:`panels`, :func:`grid` and :func:`tidy` to every figure:

* at most two panels a row (:data:`MAX_PANELS_PER_ROW`), no wider than the column;
* text at least :data:`MIN_TEXT_PX` = 9 px on screen at 1280 px, and at least
  :data:`MIN_PHONE_TEXT_PX` on a phone, whose column (:data:`PHONE_COLUMN_PX`) shrinks a
  wider figure: :func:`tidy` enlarges smaller text (:func:`min_font_size`);
* legends off the data: a legend that covers any drawn pixel of its panel's data moves
  to a free corner, else above its panel (:func:`legend_overlap`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..experiments.result import Result

#: Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies
#: (and in grey scale by its lightness steps), in the order matplotlib's C0, C1, ... use.
#: Their names, for captions: blue, vermilion, bluish green, orange, reddish purple,
#: sky blue, yellow, black (:data:`COLOR_NAMES`).
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
COLOR_NAMES = dict(zip(OKABE_ITO, ["blue", "vermilion", "bluish green", "orange", "reddish purple",
                                   "sky blue", "yellow", "black"]))

#: Width a cell's output has in the book at a 1280-px screen, and on a 412-px phone (CSS
#: px, measured in headless Chromium: the column less the output's padding).
COLUMN_PX = 672
PHONE_COLUMN_PX = 364
#: CSS pixels per figure inch on screen (matplotlib's figure.dpi; logloss.show declares it).
SCREEN_DPI = 100
#: The smallest text on screen at 1280 px, and on a phone, in CSS px.  The stamp (the
#: figure's provenance, not read with the figure) is held to the first only.
MIN_TEXT_PX = 9.0
MIN_PHONE_TEXT_PX = 7.0
MAX_PANELS_PER_ROW = 2
#: Width of a figure of one panel: it fits a phone's column unshrunk.
SINGLE_PANEL_IN = PHONE_COLUMN_PX / SCREEN_DPI
STAMP_GID = "logloss-stamp"

STYLE = {
    "figure.dpi": SCREEN_DPI,
    # PNGs are written at 200 dpi (:func:`logloss.show` and the CLI's figure.png): two
    # image pixels per CSS pixel, sharp on high-density screens.
    "savefig.dpi": 200,
    "font.size": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "0.85",
    "legend.fontsize": 9,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO[:7]),
}

#: Colour of theory curves, so they read the same in every figure.
THEORY_COLOR = "black"


def use_style() -> None:
    """Apply the book's matplotlib style to the current process."""
    mpl.rcParams.update(STYLE)


def _size(ncols: int, width: float | None, height: float) -> tuple[float, float]:
    """Figure size for ``ncols`` panels a row of ``width`` inches each (default: half the
    column for two, :data:`SINGLE_PANEL_IN` for one), scaled down to fit the column."""
    if width is None:
        width = COLUMN_PX / SCREEN_DPI / 2 if ncols > 1 else SINGLE_PANEL_IN
    total = width * ncols
    fit = min(1.0, COLUMN_PX / SCREEN_DPI / total)
    return total * fit, height * fit


def figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float = 2.8,
           **kwargs) -> tuple[Figure, list[Axes]]:
    """A new figure with the book style and a flat list of axes, at most two a row.

    ``width`` is a panel's width in inches (default: half the column for two panels, a
    phone's column for one); a figure wider than the column is scaled down to it, its
    aspect kept.  More than two columns is an error: use :func:`panels` or :func:`grid`.
    """
    if ncols > MAX_PANELS_PER_ROW:
        raise ValueError(f"at most {MAX_PANELS_PER_ROW} panels a row fit the book's column, "
                         f"got ncols={ncols}: use plotting.panels(n) or plotting.grid(rows, cols)")
    use_style()
    w, h = _size(ncols, width, height)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w, h * nrows), layout="constrained",
                             squeeze=False, **kwargs)
    return fig, list(axes.ravel())


def panels(n: int, *, width: float | None = None, height: float = 2.8,
           **kwargs) -> tuple[Figure, list[Axes]]:
    """A figure of ``n`` panels in reading order, two a row (one if ``n`` is 1)."""
    ncols = min(n, MAX_PANELS_PER_ROW)
    fig, axes = figure(ncols, math.ceil(n / ncols), width=width, height=height, **kwargs)
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def grid(nrows: int, ncols: int, *, width: float | None = None, height: float = 2.4,
         **kwargs) -> tuple[Figure, list[list[Axes]]]:
    """A logical grid of panels (``axes[i][j]``: row value i, column value j) that fits
    the column: as asked when it has at most two columns, transposed when it has more but
    at most two rows, else in reading order two a row.  Each panel should say which
    values it shows (its corner label); :func:`outer_labels` keeps the axis labels of the
    outer panels only."""
    if ncols <= MAX_PANELS_PER_ROW:
        fig, flat = figure(ncols, nrows, width=width, height=height, **kwargs)
        return fig, [flat[i * ncols:(i + 1) * ncols] for i in range(nrows)]
    if nrows <= MAX_PANELS_PER_ROW:
        fig, flat = figure(nrows, ncols, width=width, height=height, **kwargs)
        return fig, [[flat[j * nrows + i] for j in range(ncols)] for i in range(nrows)]
    fig, flat = panels(nrows * ncols, width=width, height=height, **kwargs)
    return fig, [flat[i * ncols:(i + 1) * ncols] for i in range(nrows)]


def outer_labels(axes) -> None:
    """Keep the x label on the lowest panel of each column and the y label on the first
    column only (panels laid out by :func:`grid` or :func:`panels`)."""
    flat = [ax for row in axes for ax in (row if isinstance(row, (list, tuple)) else [row])]
    lowest: dict[int, int] = {}
    for ax in flat:
        spec = ax.get_subplotspec()
        col = spec.colspan.start
        lowest[col] = max(lowest.get(col, -1), spec.rowspan.start)
    for ax in flat:
        spec = ax.get_subplotspec()
        if spec.rowspan.start < lowest[spec.colspan.start]:
            ax.set_xlabel("")
        if spec.colspan.start > 0:
            ax.set_ylabel("")


def stamp(fig: Figure, result: Result) -> Figure:
    """Write the experiment, scale and seed in the figure's bottom-right corner, and
    :func:`tidy` the figure."""
    corner_text(fig, f"logloss · {result.name} · scale={result.scale} · seed={result.seed}")
    return tidy(fig)


def corner_text(fig: Figure, text: str) -> Figure:
    """A small grey provenance line in the bottom-right corner (:data:`STAMP_GID`)."""
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0.045, 1, 0.955))
    fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=6.5, color="0.45", gid=STAMP_GID)
    return fig


def tidy(fig: Figure) -> Figure:
    """The readability rules every figure of the book follows, applied in place.

    * A figure wider than the column is scaled down to it (its aspect kept).
    * Text smaller than :func:`min_font_size` is enlarged to it.
    * A log axis that spans less than two decades, which would show one or two labelled
      ticks ("10⁰"), labels its minor ticks too (all of them below half a decade).
    * A legend that covers data (any pixel its panel's lines, markers, bars, fills, images
      or texts draw) moves to a corner of its axes that covers none; if every corner
      covers some, it goes above its panel, in as many columns as fit.

    Idempotent; :func:`stamp` and :func:`logloss.show` call it.
    """
    w, h = fig.get_size_inches()
    if w > COLUMN_PX / SCREEN_DPI + 1e-9:
        fig.set_size_inches(COLUMN_PX / SCREEN_DPI, h * COLUMN_PX / SCREEN_DPI / w)
    _wide_legends_out(fig)
    _legible_text(fig)
    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                 (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            if scale == "log":
                _label_log_axis(axis, *sorted(lim))
    for _ in range(3):  # a figure grown for a legend above a panel moves the others' data
        if not _legends_off_data(fig):
            break
    return fig


def check_figure(fig: Figure) -> list[str]:
    """What in ``fig`` breaks the book's figure rules (empty if nothing): more than
    :data:`MAX_PANELS_PER_ROW` panels a row (colorbars aside), wider than the column,
    text smaller than :func:`min_font_size`, a legend over its panel's data
    (:func:`legend_overlap`), a title (the caption says what a figure shows)."""
    problems = []
    w = fig.get_figwidth() * SCREEN_DPI
    if w > COLUMN_PX + 0.5:
        problems.append(f"{w:.0f} px wide, wider than the {COLUMN_PX}-px column")
    rows: dict[tuple[int, int], int] = {}
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or ax.get_label() == "<colorbar>" or not ax.get_visible():
            continue
        key = (id(spec.get_gridspec()), spec.rowspan.start)
        rows[key] = rows.get(key, 0) + 1
        if ax.get_title():
            problems.append(f"a panel has a title ({ax.get_title()!r}): the caption says it")
    if rows and max(rows.values()) > MAX_PANELS_PER_ROW:
        problems.append(f"{max(rows.values())} panels in a row (at most {MAX_PANELS_PER_ROW})")
    for t in texts(fig):
        floor = min_font_size(fig, stamp=t.get_gid() == STAMP_GID)
        if t.get_fontsize() < floor - 1e-6:
            problems.append(f"text {t.get_text()[:30]!r} at {t.get_fontsize():.1f} pt, below {floor:.1f} pt")
    for ax in fig.axes:
        n = legend_overlap(fig, ax)
        if n:
            problems.append(f"a legend covers {n} pixels of its panel's data")
    return problems


# --- text size ---------------------------------------------------------------------------


def screen_scale(fig: Figure, column_px: float) -> float:
    """CSS px on screen per figure px at :data:`SCREEN_DPI`, in a column ``column_px`` wide."""
    return min(1.0, column_px / (fig.get_figwidth() * SCREEN_DPI))


def min_font_size(fig: Figure, *, stamp: bool = False) -> float:
    """The smallest font size (pt) that keeps text at least :data:`MIN_TEXT_PX` on screen
    at 1280 px and, except for the stamp, :data:`MIN_PHONE_TEXT_PX` on a phone."""
    px_per_pt = SCREEN_DPI / 72
    size = MIN_TEXT_PX / px_per_pt / screen_scale(fig, COLUMN_PX)
    if not stamp:
        size = max(size, MIN_PHONE_TEXT_PX / px_per_pt / screen_scale(fig, PHONE_COLUMN_PX))
    return size


def texts(fig: Figure):
    """Every visible, non-empty text of ``fig`` that is drawn (tick labels of the ticks
    shown included)."""
    fig.draw_without_rendering()
    seen = set()
    for t in fig.findobj(mpl.text.Text):
        if id(t) in seen or not t.get_visible() or not t.get_text().strip():
            continue
        seen.add(id(t))
        ax = t.axes
        if ax is not None and t in ax.xaxis.get_ticklabels(which="both") + ax.yaxis.get_ticklabels(which="both"):
            lo, hi = sorted(ax.get_xlim() if t in ax.xaxis.get_ticklabels(which="both") else ax.get_ylim())
            x, y = t.get_position()
            v = x if t in ax.xaxis.get_ticklabels(which="both") else y
            if not lo - 1e-12 * abs(lo) <= v <= hi + 1e-12 * abs(hi):
                continue
        yield t


def _wide_legends_out(fig: Figure) -> None:
    """A legend wider than its panel cannot sit inside it (the layout would collapse the
    panel to make room): it goes out before the figure is laid out."""
    renderer, small = fig.canvas.get_renderer(), min_font_size(fig)
    placed = []
    for ax in fig.axes:
        legend = ax.get_legend()
        for t in [*legend.get_texts(), legend.get_title()] if legend is not None else ():
            t.set_fontsize(max(t.get_fontsize(), small))
        if legend is not None and legend._bbox_to_anchor is None \
                and legend.get_window_extent(renderer).width > ax.get_position().width * fig.bbox.width:
            placed.append((ax, _legend_above(fig, ax, legend)))
    _grow_for(fig, placed)


def _grow_for(fig: Figure, placed) -> None:
    """Make the figure taller by the height of the legends ``placed`` outside the panels
    (``(axes, legend)``; per row of panels the tallest), so that the panels keep their size."""
    renderer, rows, extra = fig.canvas.get_renderer(), {}, 0.0
    for ax, legend in placed:
        h = legend.get_window_extent(renderer).height / fig.dpi + 0.1
        if legend in fig.legends:
            extra += h
        else:
            spec = ax.get_subplotspec()
            key = (id(spec.get_gridspec()), spec.rowspan.start) if spec is not None else id(ax)
            rows[key] = max(rows.get(key, 0.0), h)
    extra += sum(rows.values())
    if extra:
        fig.set_size_inches(fig.get_figwidth(), fig.get_figheight() + extra)


def _legible_text(fig: Figure) -> None:
    small = min_font_size(fig)
    for ax in fig.axes:
        for axis in ("x", "y"):
            for which in ("major", "minor"):
                labels = getattr(ax, f"{axis}axis").get_ticklabels(which=which)
                if labels and labels[0].get_fontsize() < small:
                    ax.tick_params(axis=axis, which=which, labelsize=small)
    for t in texts(fig):
        floor = min_font_size(fig, stamp=True) if t.get_gid() == STAMP_GID else small
        if t.get_fontsize() < floor - 1e-9:
            t.set_fontsize(floor)


# --- legends -----------------------------------------------------------------------------


def _data_artists(ax: Axes) -> list:
    return [*ax.lines, *ax.collections, *ax.patches, *ax.images, *ax.texts, *ax.tables]


def _data_mask(fig: Figure, ax: Axes) -> np.ndarray:
    """Boolean image (rows from the top, one per display pixel) of the pixels that
    ``ax``'s data draw: lines, markers, bars, fills, images and texts; not the grid, the
    spines, the ticks, the legend nor any other panel.  The layout is frozen while the
    rest is hidden, so that the panel does not move."""
    import io

    keep = {id(c) for a in _data_artists(ax) for c in a.findobj()} | {id(fig), id(ax)}
    hidden = [a for a in fig.findobj() if id(a) not in keep and a.get_visible()]
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")
    for a in hidden:
        a.set_visible(False)
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=fig.dpi, facecolor="white")
    finally:
        for a in hidden:
            a.set_visible(True)
        if engine is not None:
            fig.set_layout_engine(engine)
    buf.seek(0)
    img = mpl.image.imread(buf, format="png")
    return np.any(img[:, :, :3] < 245 / 255, axis=2)


def legend_overlap(fig: Figure, ax: Axes, mask: np.ndarray | None = None) -> int:
    """How many pixels of ``ax``'s data its legend covers (0: the legend is off the data)."""
    legend = ax.get_legend()
    if legend is None:
        return 0
    if mask is None:
        fig.draw_without_rendering()
        mask = _data_mask(fig, ax)
    box = legend.get_window_extent(fig.canvas.get_renderer())  # at its loc, without a redraw
    h, w = mask.shape
    x0, x1 = max(0, int(math.floor(box.x0))), min(w, int(math.ceil(box.x1)))
    r0, r1 = max(0, int(math.floor(h - box.y1))), min(h, int(math.ceil(h - box.y0)))
    return int(mask[r0:r1, x0:x1].sum()) if x1 > x0 and r1 > r0 else 0


_CORNERS = ("upper right", "upper left", "lower left", "lower right", "center right",
            "center left", "upper center", "lower center")


def _legends_off_data(fig: Figure) -> bool:
    """One pass of the legend rule; True if a legend was moved."""
    fig.draw_without_rendering()
    moved, placed = False, []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or legend._bbox_to_anchor is not None:
            continue  # none, or anchored by hand (outside the axes, say): left as it is
        mask = _data_mask(fig, ax)
        if legend_overlap(fig, ax, mask) == 0:
            continue
        moved = True
        for loc in _CORNERS:
            legend.set_loc(loc)
            if legend_overlap(fig, ax, mask) == 0:
                break
        else:
            placed.append((ax, _legend_above(fig, ax, legend)))
    _grow_for(fig, placed)
    return moved


def _legend_above(fig: Figure, ax: Axes, legend):
    """Put ``ax``'s legend above the panel, in as many columns as fit its width; a legend
    wider than its panel even in one column goes above all panels, as wide as the figure."""
    handles, labels = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
    size = legend.get_texts()[0].get_fontsize() if labels else None
    title = legend.get_title().get_text() or None
    width = ax.get_window_extent().width
    renderer = fig.canvas.get_renderer()
    for ncols in range(len(labels), 0, -1):
        new = ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0,
                        ncols=ncols, fontsize=size, title=title)
        if new.get_window_extent(renderer).width <= width:
            return new
    new.remove()
    where = "outside lower center" if any(getattr(g, "_outside_loc", None) == "upper" for g in fig.legends) \
        else "outside upper center"
    for ncols in range(len(labels), 0, -1):
        new = fig.legend(handles, labels, loc=where, ncols=ncols, fontsize=size, title=title)
        if new.get_window_extent(renderer).width <= fig.bbox.width * 0.98 or ncols == 1:
            return new
        new.remove()


def _label_log_axis(axis, lo: float, hi: float) -> None:
    """Enough tick labels on a short log axis: below two decades, label the minor ticks
    at mantissas 2 and 5 (2, 3, 5 below 0.7 decades; all below 0.35), in plain numbers
    ("0.02", "20") where the range allows, so that they neither crowd nor vanish."""
    import math

    if not (lo > 0 and math.isfinite(hi) and hi > lo):
        return
    decades = math.log10(hi / lo)
    if decades >= 2:
        axis.set_minor_formatter(mpl.ticker.NullFormatter())
        return
    subs = {2, 5} if decades > 0.7 else {2, 3, 5} if decades > 0.35 else set(range(2, 10))
    plain = 1e-3 <= lo and hi <= 1e5
    sci = mpl.ticker.LogFormatterSciNotation(labelOnlyBase=False)

    def text(x: float) -> str:
        return f"{x:g}" if plain else sci(x)

    def minor(x: float, _pos=None) -> str:
        if x <= 0:
            return ""
        m = x / 10 ** math.floor(math.log10(x) + 1e-9)
        return text(x) if abs(m - round(m)) < 1e-6 and round(m) in subs else ""

    if plain:
        axis.set_major_formatter(mpl.ticker.FuncFormatter(lambda x, _pos=None: text(x)))
    axis.set_minor_formatter(mpl.ticker.FuncFormatter(minor))


