"""Drawing first-passage points and fitted slopes (shared by two figures)."""

from __future__ import annotations

import numpy as np

from .. import plotting


def errorbar_log(ax, x, t, se, **kw):
    """``ax.errorbar`` for positive values on a log axis: the lower arm is clipped at 90 %
    of the value (an arm below zero would run off the axis), the upper arm is kept."""
    t, se = np.asarray(t, dtype=float), np.asarray(se, dtype=float)
    lower = np.where(np.isfinite(se), np.minimum(se, 0.9 * t), 0.0)
    upper = np.where(np.isfinite(se), se, 0.0)
    return ax.errorbar(x, t, yerr=[lower, upper], **kw)


def _plot_fp(ax, rows, slope, color, label, *, other_slope=None, **kw):
    c = np.array([r["c"] for r in rows])
    t = np.array([r["t_p"] for r in rows], dtype=float)
    se = np.array([r["t_p_stderr"] for r in rows], dtype=float)
    cens = np.array([r["censored"] for r in rows])
    inw = np.array([r["in_window"] for r in rows])
    ok = np.isfinite(t)
    full = ok & (cens == 0)
    errorbar_log(ax, c[full], t[full], se[full], fmt=kw.pop("marker", "o"), ms=3.5, color=color,
                 label=label, **kw)
    part = ok & (cens > 0)
    if part.any():  # censored thresholds (exponential MLE): open markers
        errorbar_log(ax, c[part], t[part], se[part], fmt="^", ms=4, color=color, mfc="none")
    if slope is not None and inw.any():
        cw = c[inw & ok]
        tw = t[inw & ok]
        if len(cw):
            anchor = np.exp(np.mean(np.log(tw)) - slope * np.mean(np.log(cw)))
            grid = np.geomspace(cw.min() / 1.3, cw.max() * 1.3, 20)
            ax.plot(grid, anchor * grid**slope, "--", color=plotting.THEORY_COLOR, lw=1)
            if other_slope is not None:
                anchor = np.exp(np.mean(np.log(tw)) - other_slope * np.mean(np.log(cw)))
                ax.plot(grid, anchor * grid**other_slope, ":", color=color, lw=1.2)
