"""Figure of ``stationary-tail``."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from .. import plotting
from . import draws


@draws("stationary-tail")
def plot(result: Result):
    """Survival function of |u| on log–log axes with two of the predicted tail slopes."""
    rows = result.tables["tail"]
    a = result.arrays
    fig, axes = plotting.figure(width=4.6, height=3.4)
    ax = axes[0]
    for i, r in enumerate(rows):
        x, s = a[f"x_{i}"], a[f"surv_{i}"]
        ax.loglog(x, s, color=f"C{i}", label=rf"$\eta={r['eta']:g}, B={r['B']}$")
        x0, s0 = x[-1] / 30, np.interp(x[-1] / 30, x, s)
        xs = np.array([x0, x[-1]])
        ax.loglog(xs, s0 * (xs / x0) ** -r["kesten_alpha"], color=f"C{i}", ls=":", lw=1)
        ax.loglog(xs, s0 * (xs / x0) ** -r["alpha_paper"], color=plotting.THEORY_COLOR, ls="--",
                  lw=0.8)
    ax.plot([], [], ":", color="0.3", label="Kesten–Goldie slope")
    ax.plot([], [], "--", color=plotting.THEORY_COLOR, lw=0.8, label=r"slope $2\phi-1$ (paper)")
    ax.set(xlabel=r"threshold $x$ on $|u| = |\theta-\theta^*|$", ylabel=r"survival $P(|u| > x)$")
    ax.set_xlim(left=1e-2)
    ax.legend(loc="lower left")
    return plotting.stamp(fig, result)
