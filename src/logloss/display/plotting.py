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

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 10,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 8.5,
    "lines.linewidth": 1.6,
    "image.cmap": "viridis",
    "axes.prop_cycle": mpl.cycler(
        color=["#1f5fa8", "#d1495b", "#2e933c", "#edae49", "#6b4c9a", "#00798c", "#7f7f7f"]
    ),
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
    """Write the experiment, scale and seed in the figure's bottom-right corner.

    Also thins the minor tick labels of log axes that span about a decade, which
    matplotlib would otherwise print on top of each other.
    """
    for ax in fig.axes:
        for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
            if scale == "log":
                axis.set_minor_formatter(mpl.ticker.LogFormatterSciNotation(
                    labelOnlyBase=False, minor_thresholds=(0.5, 0.25)))
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0.045, 1, 0.955))
    fig.text(0.995, 0.005, f"logloss · {result.name} · scale={result.scale} · seed={result.seed}",
             ha="right", va="bottom", fontsize=6.5, color="0.45")
    return fig
