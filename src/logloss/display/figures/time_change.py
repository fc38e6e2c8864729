"""Figure of ``time-change`` (paper App. C)."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("time-change")
def plot(result: Result):
    """(a) stationary densities of paper Eqs. (12) and (14) and their ratio; (b) laws at matched τ."""
    a = result.arrays
    fig, axes = plotting.figure(ncols=2, width=3.6)
    ax = axes[0]
    ax.loglog(a["L_grid"], a["density_12"], "o", ms=3, label="paper Eq. (12), $P_s$")
    ax.loglog(a["L_grid"], a["density_14"], "s", ms=3, label=r"paper Eq. (14), $\tilde P_s$")
    ax.loglog(a["L_grid"], a["ratio"], "^", ms=3, label=r"ratio $P_s/\tilde P_s$")
    ref = a["ratio"][0] * a["L_grid"][0] / a["L_grid"]
    ax.loglog(a["L_grid"], ref, color=plotting.THEORY_COLOR, lw=1, ls="--",
              label=r"$\propto L^{-1}$ (paper App. C)")
    ax.set(xlabel=r"loss $L(\theta)$", ylabel="density per unit $L$ (arb. units)")
    ax.legend(loc="lower left")
    ax = axes[1]
    for j, tau in enumerate(result.params["tau_targets"]):
        x = np.sort(a["at_tau_12"][j])
        y = np.sort(a["at_tau_14"][j])
        p = (np.arange(x.size) + 0.5) / x.size
        ax.plot(x, p, color=f"C{j}", label=rf"$\tau={tau:g}$")
        ax.plot(y, (np.arange(y.size) + 0.5) / y.size, color=f"C{j}", ls=":", lw=2.2)
    # line styles once, in grey: the colour says τ, the style which equation
    ax.plot([], [], color="0.4", label=r"paper Eq. (12) at $t(\tau)$")
    ax.plot([], [], color="0.4", ls=":", lw=2.2, label="paper Eq. (14)")
    ax.set(xlabel=r"$u = \theta-\theta^*$", ylabel="cumulative probability")
    ax.legend(loc="upper left")
    return plotting.stamp(fig, result)
