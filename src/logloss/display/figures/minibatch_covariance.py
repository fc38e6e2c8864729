"""Figure of ``minibatch-covariance`` (paper Eq. (8))."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from ...measure.covariance import (
    finite_population_factor,
)
from .. import plotting
from . import draws


@draws("minibatch-covariance")
def plot(result: Result):
    """tr Σ against B for both models: Monte Carlo, paper Eq. (8), and the with-replacement law."""
    rows = [r for r in result.tables["covariance"] if r["statistic"] == "trace"]
    models = sorted({r["model"] for r in rows})
    fig, axes = plotting.panels(len(models))
    for ax, model in zip(axes, models):
        sel = [r for r in rows if r["model"] == model]
        B = np.array([r["B"] for r in sel])
        ax.errorbar(B, [r["mc"] for r in sel], yerr=[2 * r["mc_stderr"] for r in sel], fmt="o",
                    ms=4, label="Monte Carlo (±2 s.e.)")
        grid = np.unique(np.concatenate([np.geomspace(1, B.max(), 60).round(), B])).astype(int)
        trC = sel[0]["with_replacement"] * sel[0]["B"]
        ax.plot(grid, [trC * finite_population_factor(result.params["N"], b) / b for b in grid],
                color=plotting.THEORY_COLOR, label="exact, paper Eq. (8)")
        ax.plot(grid, trC / grid, ls="--", color="0.5", label="with replacement, tr C/B")
        ax.set(xscale="log", yscale="log", xlabel="minibatch size $B$",
               ylabel=r"$\mathrm{tr}\,\Sigma$ (squared gradient units)")
        ax.text(0.97, 0.95, "linear regression" if model == "linreg" else "MLP",
                transform=ax.transAxes, ha="right", va="top")
    axes[0].legend(loc="lower left")
    return plotting.stamp(fig, result)
