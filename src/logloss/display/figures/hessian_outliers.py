"""Figure of ``hessian-outliers`` (Fig. 6)."""

from __future__ import annotations

import numpy as np

from ...experiments._shared import PAPER
from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("hessian-outliers")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=3.6, height=3.0)
    a = result.arrays
    ax = axes[0]
    bins = np.geomspace(max(a["density_nodes"][a["density_nodes"] > 0].min(), 1e-6),
                        a["top"].max() * 1.5, 40)
    ax.hist(np.clip(a["density_nodes"], bins[0], None), bins=bins, weights=a["density_counts"],
            color="C0", alpha=0.6, label="SLQ estimate (all P)")
    ax.hist(a["top"], bins=bins, histtype="step", color="C1", lw=1.5, label="Lanczos top-k")
    ax.set(xscale="log", yscale="log", xlabel="eigenvalue $h_i$", ylabel="count")
    ax.legend(loc="upper right")
    ax = axes[1]
    tops = a["top_by_seed"]
    for s in range(tops.shape[0]):
        ax.plot(np.arange(1, tops.shape[1] + 1), tops[s], "o-", ms=3, lw=0.8, label=f"seed {s}")
    if not result.params["model"]:
        ax.axhline(PAPER["lambda_max"], color=plotting.THEORY_COLOR, ls=":", lw=1,
                   label="paper $\\lambda_1$")
    ax.set(yscale="log", xlabel="index $i$", ylabel="$h_i$")
    ax.legend(loc="upper right")
    return plotting.stamp(fig, result)
