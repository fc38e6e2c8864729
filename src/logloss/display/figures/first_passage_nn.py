"""Figure of ``first-passage-nn`` (Fig. 3c)."""

from __future__ import annotations

from ...experiments._registry import Result
from .. import plotting
from . import draws
from ._first_passage import _plot_fp


@draws("first-passage-nn")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.6)
    ax = axes[0]
    net = result.params["nets"][0]
    rows = [r for r in result.tables["first_passage"] if r["net"] == net]
    fits = [f for f in result.tables["slopes"] if f["net"] == net]
    for i, f in enumerate(fits):
        _plot_fp(ax, [r for r in rows if r["beta"] == f["beta"]], f["slope_theory"], f"C{i}",
                 f"η={f['eta']:.3g}", other_slope=f["slope_theory_n9"])
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="mean first-passage time $t_p$ (steps)")
    ax.legend(loc="upper left")
    return plotting.stamp(fig, result)
