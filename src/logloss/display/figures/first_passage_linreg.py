"""Figure of ``first-passage-linreg`` (Fig. 3b)."""

from __future__ import annotations

from ...experiments._registry import Result
from .. import plotting
from . import draws
from ._first_passage import _plot_fp


@draws("first-passage-linreg")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.6)
    ax = axes[0]
    rows = result.tables["first_passage"]
    theory = {f["d"]: f["slope_theory"] for f in result.tables["slopes"] if f["N"] == result.params["N"]}
    for i, d in enumerate(result.params["ds"]):
        _plot_fp(ax, [r for r in rows if r["d"] == d and r["N"] == result.params["N"]],
                 theory[d], f"C{i}", f"d={d}")
    if result.params["N_large"]:
        d = result.params["d_large"]
        _plot_fp(ax, [r for r in rows if r["N"] == result.params["N_large"]], None, "0.4",
                 f"d={d}, N={result.params['N_large']:.0e}", marker="s", mfc="none")
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="mean first-passage time $t_p$ (steps)")
    ax.legend(ncol=2, loc="upper left")
    return plotting.stamp(fig, result)
