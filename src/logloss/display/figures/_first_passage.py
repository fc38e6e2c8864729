"""Error bars of first-passage times on a log axis (shared by several figures)."""

from __future__ import annotations

import numpy as np


def errorbar_log(ax, x, t, se, **kw):
    """``ax.errorbar`` for positive values on a log axis: the lower arm is clipped at 90 %
    of the value (an arm below zero would run off the axis), the upper arm is kept."""
    t, se = np.asarray(t, dtype=float), np.asarray(se, dtype=float)
    lower = np.where(np.isfinite(se), np.minimum(se, 0.9 * t), 0.0)
    upper = np.where(np.isfinite(se), se, 0.0)
    return ax.errorbar(x, t, yerr=[lower, upper], **kw)

