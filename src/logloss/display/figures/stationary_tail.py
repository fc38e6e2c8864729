"""Figure of ``stationary-tail``."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("stationary-tail")
def plot(result: Result):
    """Left: survival function of |u| with the Kesten–Goldie and paper slopes; right: Hill plot."""
    rows = result.tables["tail"]
    a = result.arrays
    fig, (ax, bx) = plotting.figure(2, width=3.3, height=3.0)
    for i, r in enumerate(rows):
        color = plotting.OKABE_ITO[i % len(plotting.OKABE_ITO)]
        label = rf"$\eta={r['eta']:g}, B={r['B']}$"
        x, s = a[f"x_{i}"], a[f"surv_{i}"]
        ax.loglog(x, s, color=color, label=label)
        x0, s0 = x[-1] / 30, np.interp(x[-1] / 30, x, s)
        xs = np.array([x0, x[-1]])
        ax.loglog(xs, s0 * (xs / x0) ** -r["kesten_alpha"], color=color, ls=":", lw=1.2)
        ax.loglog(xs, s0 * (xs / x0) ** -r["alpha_paper"], color=plotting.THEORY_COLOR, ls="--",
                  lw=0.8)
        f, al, se = a[f"hill_fraction_{i}"], a[f"hill_alpha_{i}"], a[f"hill_stderr_{i}"]
        bx.fill_between(f, al - 2 * se, al + 2 * se, color=color, alpha=0.25, lw=0)
        bx.semilogx(f, al, color=color, marker="o", ms=3, label=label)
        bx.axhline(r["kesten_alpha"], color=color, ls=":", lw=1.2)
    ax.plot([], [], ":", color="0.3", label="Kesten–Goldie")
    ax.plot([], [], "--", color=plotting.THEORY_COLOR, lw=0.8, label=r"$2\phi-1$ (paper)")
    ax.set(xlabel=r"$x$ on $|u| = |\theta-\theta^*|$", ylabel=r"survival $P(|u| > x)$")
    ax.set_xlim(left=1e-2)
    ax.legend(loc="lower left")
    bx.set(xlabel=r"tail fraction $k/n$", ylabel=r"Hill's $\hat\alpha$")
    bx.invert_xaxis()
    return plotting.stamp(fig, result)
