"""One small plotting helper so that every figure of the book shares a look.

Styling is an explicit call (:func:`use_style`), never an import side effect.  Figures
carry no titles (the book's captions say what they show) but every figure is stamped
with the experiment, scale and seed that produced it (:func:`stamp`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.pyplot as plt

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..experiments._registry import Result

#: Okabe & Ito's palette, distinguishable with the common colour-vision deficiencies
#: (and in grey scale by its lightness steps), in the order matplotlib's C0, C1, ... use.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

STYLE = {
    "figure.dpi": 100,
    # PNGs are written at 200 dpi (:func:`logloss.show` and the CLI's figure.png), so
    # that the 6.5 pt stamp and the tick labels of three-panel figures stay sharp.
    "savefig.dpi": 200,
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.edgecolor": "0.85",
    "legend.fontsize": 8.5,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(color=OKABE_ITO[:7]),
}

#: Colour of theory curves, so they read the same in every figure.
THEORY_COLOR = "black"


def use_style() -> None:
    """Apply the book's matplotlib style to the current process."""
    mpl.rcParams.update(STYLE)


def figure(ncols: int = 1, nrows: int = 1, *, width: float = 3.4, height: float = 2.8,
           **kwargs) -> tuple[Figure, list[Axes]]:
    """A new figure with the book style and a flat list of axes."""
    use_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             layout="constrained", squeeze=False, **kwargs)
    return fig, list(axes.ravel())


def stamp(fig: Figure, result: Result) -> Figure:
    """Write the experiment, scale and seed in the figure's bottom-right corner, and
    :func:`tidy` the figure."""
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0.045, 1, 0.955))
    fig.text(0.995, 0.005, f"logloss · {result.name} · scale={result.scale} · seed={result.seed}",
             ha="right", va="bottom", fontsize=6.5, color="0.45")
    return tidy(fig)


def tidy(fig: Figure) -> Figure:
    """The readability rules every figure of the book follows, applied in place.

    * A log axis that spans less than two decades, which would show one or two labelled
      ticks ("10⁰"), labels its minor ticks too (all of them below half a decade).
    * A legend that covers data (a line's path, a marker or a bar) moves to a corner of
      its axes that covers none; if every corner covers some, it moves outside: to the
      right of the rightmost panel of a row, or above all panels in a grid.

    Idempotent; :func:`stamp` and :func:`logloss.show` call it.
    """
    for ax in fig.axes:
        for axis, scale, lim in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                 (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
            if scale == "log":
                _label_log_axis(axis, *sorted(lim))
    _legends_off_data(fig)
    return fig


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


def _data_points(ax: Axes):
    """Display coordinates of an axes' data: markers, and points every few pixels along
    each line, so that a line crossing a legend between two vertices is seen too."""
    import numpy as np

    chunks = []
    for line in ax.get_lines():
        xy = np.column_stack([np.asarray(line.get_xdata(), dtype=float),
                              np.asarray(line.get_ydata(), dtype=float)])
        if len(xy) == 0 or not line.get_visible():
            continue
        with np.errstate(all="ignore"):  # the line's own transform: axhline's is blended
            pts = line.get_transform().transform(xy)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if len(pts) > 1 and line.get_linestyle() not in ("None", "", " "):
            seg = np.diff(pts, axis=0)
            n = np.clip((np.hypot(*seg.T) / 4).astype(int), 1, 200)
            dense = [p0 + np.outer(np.arange(k) / k, d) for p0, d, k in zip(pts[:-1], seg, n)]
            pts = np.vstack([*dense, pts[-1:]])
        chunks.append(pts)
    for patch in ax.patches:
        if not patch.get_visible():
            continue
        if isinstance(patch, mpl.patches.Rectangle):
            x0, y0 = patch.get_xy()
            corners = [(x0, y0), (x0 + patch.get_width(), y0 + patch.get_height())]
            with np.errstate(all="ignore"):
                (xa, ya), (xb, yb) = patch.get_data_transform().transform(corners)
            # the bar's area, as points every few pixels
            if np.all(np.isfinite([xa, ya, xb, yb])):
                gx = np.linspace(min(xa, xb), max(xa, xb), max(2, int(abs(xb - xa) / 4)))
                gy = np.linspace(min(ya, yb), max(ya, yb), max(2, int(abs(yb - ya) / 4)))
                chunks.append(np.column_stack([g.ravel() for g in np.meshgrid(gx, gy)]))
            continue
        verts = patch.get_verts()  # display coordinates of the outline
        if len(verts) > 1:
            seg = np.diff(verts, axis=0)
            n = np.clip((np.hypot(*seg.T) / 4).astype(int), 1, 200)
            dense = [p0 + np.outer(np.arange(k) / k, d) for p0, d, k in zip(verts[:-1], seg, n)]
            pts = np.vstack([*dense, verts[-1:]])
            chunks.append(pts[np.all(np.isfinite(pts), axis=1)])
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if len(offsets) and coll.get_visible():
            with np.errstate(all="ignore"):
                pts = coll.get_offset_transform().transform(np.asarray(offsets, dtype=float))
            chunks.append(pts[np.all(np.isfinite(pts), axis=1)])
    return np.vstack(chunks) if chunks else np.empty((0, 2))


def _legends_off_data(fig: Figure) -> None:
    import numpy as np

    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend() is not None]
    if not legends:
        return
    fig.draw_without_rendering()
    for ax, legend in legends:
        pts = _data_points(ax)
        if not len(pts):
            continue
        inside = ax.get_window_extent()
        pts = pts[(pts[:, 0] >= inside.x0) & (pts[:, 0] <= inside.x1)
                  & (pts[:, 1] >= inside.y0) & (pts[:, 1] <= inside.y1)]

        def covered(legend=legend, pts=pts) -> int:
            box = legend.get_window_extent().padded(2)
            return int(np.sum((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
                              & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)))

        if legend._bbox_to_anchor is not None:
            continue  # anchored by hand (outside the axes, say): leave it
        if covered() == 0:
            continue
        best = (covered(), legend._loc)
        for loc in ("upper right", "upper left", "lower left", "lower right", "center right",
                    "center left", "upper center", "lower center"):
            legend.set_loc(loc)
            fig.draw_without_rendering()
            n = covered()
            if n < best[0]:
                best = (n, legend._loc)
            if n == 0:
                break
        spec = ax.get_subplotspec()
        rightmost = spec is None or spec.colspan.stop == spec.get_gridspec().ncols
        if best[0] == 0:
            legend.set_loc(best[1])
        elif rightmost:
            legend.set_loc("upper left")
            legend.set_bbox_to_anchor((1.01, 1.0), transform=ax.transAxes)
        elif not fig.legends and fig.get_layout_engine() is not None:
            # inside a grid: one legend above all panels, keeping the grid's columns
            handles, texts = legend.legend_handles, [t.get_text() for t in legend.get_texts()]
            size = legend.get_texts()[0].get_fontsize() if texts else None
            legend.remove()
            fig.legend(handles, texts, loc="outside upper center", ncols=min(len(texts), 5),
                       fontsize=size)
        else:
            legend.set_loc(best[1])
        fig.draw_without_rendering()
