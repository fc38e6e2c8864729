"""Figure of ``escape-sde``: the SDE's exact t_p(c) and its local slope against c (R8)."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("escape-sde")
def plot(result: Result):
    """Left: t_p against c (solid: the paper's decoupled noise; dashed: the exact noise of
    Gaussian data).  Right: the local slope, with paper Eq. (15)'s exponent dotted."""
    fig, (ax, bx) = plotting.figure(ncols=2, width=3.4, height=2.9)
    rows = result.tables["curves"]
    for i, n in enumerate(result.params["ns"]):
        col = plotting.OKABE_ITO[i % 7]
        for noise, ls in (("paper", "-"), ("exact", "--")):
            r = [x for x in rows if x["n"] == n and x["noise"] == noise]
            c = np.array([x["c"] for x in r])
            ax.plot(c, [x["t_p"] for x in r], ls, color=col, lw=1.3,
                    label=f"n = {n}" if noise == "paper" else None)
            bx.plot(c, [x["slope"] for x in r], ls, color=col, lw=1.3)
        eq15 = next(a["slope_eq15"] for a in result.tables["asymptote"] if a["n"] == n)
        bx.axhline(eq15, color=col, ls=":", lw=1.0)
    ax.set(xscale="log", yscale="log", xlabel="$c = L/L(\\theta^*)$",
           ylabel="$t_p$ (steps)")
    top = max(a["slope_eq15"] for a in result.tables["asymptote"])
    bx.set(xscale="log", xlabel="$c$", ylabel="local slope $d\\log t_p/d\\log c$",
           ylim=(0, 1.5 * top))
    ax.legend(loc="upper left", fontsize=7.5)
    return plotting.stamp(fig, result)
