"""Figure of ``kick-ablation`` (X7): t_p and its local slope for the four kick laws."""

from __future__ import annotations

import numpy as np

from ...experiments.kick_ablation import LAWS
from ...experiments.result import Result
from .. import plotting
from . import draws

_STYLE = {"sgd": ("-", 0), "gauss": ("--", 1), "a_sgd_b_gauss": ("-.", 2),
          "a_gauss_b_sgd": (":", 3), "sde_exact": ((0, (1, 3)), 7)}


@draws("kick-ablation")
def plot(result: Result):
    """Left: exact t_p against c for each law; right: its local slope, with each law's
    Kesten asymptote α/2 as a short tick at the right edge."""
    fig, (ax, bx) = plotting.figure(ncols=2, width=3.4, height=2.9)
    rows = result.tables["curves"]
    kesten = {r["law"]: r["slope_kesten"] for r in result.tables["laws"]}
    for law, (ls, i) in _STYLE.items():
        r = [x for x in rows if x["law"] == law]
        c = np.array([x["c"] for x in r])
        col = plotting.OKABE_ITO[i]
        label = LAWS.get(law, "SDE, exact noise")
        ax.plot(c, [x["t_p"] for x in r], ls=ls, color=col, lw=1.4, label=label)
        bx.plot(c, [x["slope"] for x in r], ls=ls, color=col, lw=1.4)
        if law in kesten and np.isfinite(kesten[law]):
            bx.plot([c[-1]], [kesten[law]], marker="<", color=col, ms=6)
    ax.set(xscale="log", yscale="log", xlabel="$c = L/L^*$", ylabel="$t_p$ (steps)")
    bx.set(xscale="log", xlabel="$c$", ylabel="local slope $d\\log t_p/d\\log c$")
    ax.legend(loc="upper left", fontsize=7.5)
    return plotting.stamp(fig, result)
