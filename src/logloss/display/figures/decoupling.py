"""Figure of ``decoupling`` (paper Fig. 1)."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("decoupling")
def plot(result: Result):
    """Histograms of log10 eigenvalues, exact against decoupled, one panel per stage."""
    stages = [r["epoch"] for r in result.tables["stages"]]
    # at most two panels a row (the book's column); a spare panel of an odd count holds the legend
    nrows = (len(stages) + 1) // 2
    fig, axes = plotting.figure(ncols=2, nrows=nrows, width=3.4, height=2.4)
    for ax, e, ex, dc in zip(axes, stages, result.arrays["spectrum_exact"],
                             result.arrays["spectrum_decoupled"]):
        floor = 1e-14 * dc[0]
        lex, ldc = np.log10(np.maximum(ex, floor)), np.log10(np.maximum(dc, floor))
        bins = np.linspace(min(lex.min(), ldc.min()), max(lex.max(), ldc.max()) + 1e-9, 40)
        ax.hist(ldc, bins=bins, alpha=0.55, label="decoupled $L\\cdot\\frac{1}{N}\\sum C_f$")
        ax.hist(lex, bins=bins, histtype="step", lw=1.5, color="C1",
                label="exact $\\frac{1}{N}\\sum \\ell_\\mu C_f$")
        ax.set(yscale="log", xlabel="$\\log_{10}$ eigenvalue", ylabel="count")
        ax.text(0.03, 0.92, f"epoch {e}", transform=ax.transAxes)
    if len(stages) % 2:
        spare = axes[len(stages)]
        spare.axis("off")
        spare.legend(*axes[0].get_legend_handles_labels(), loc="center", fontsize=8)
    else:
        axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0, fontsize=7)
    return plotting.stamp(fig, result)
