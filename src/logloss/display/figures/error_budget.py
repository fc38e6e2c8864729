"""Figure of ``error-budget`` (X2): every layer's escape time relative to discrete SGD."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from ...experiments.error_budget import LAYERS
from .. import plotting
from . import draws

_LABELS = {"sgd": "discrete SGD (simulated)", "chain": "discrete chain (exact)",
           "sde_em": "SDE (Euler–Maruyama)", "sde_quadrature": "SDE (quadrature, exact)",
           "kramers_exact": "Kramers, exact Σ(θ)", "eq15": "Eq. (15)",
           "arrhenius_min": "Arrhenius, noise at θ*",
           "arrhenius_const": "Arrhenius, loss-independent noise"}


@draws("error-budget")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.4, height=3.4)
    ax = axes[0]
    rows = result.tables["budget"]
    pos = np.arange(len(LAYERS))
    for i, r in enumerate(rows):
        ratio = np.array([r[k] / r["sgd"] for k in LAYERS])
        err = np.zeros_like(ratio)
        err[0] = r["sgd_stderr"] / r["sgd"]
        err[2] = r["sde_em_stderr"] / r["sgd"]
        ax.errorbar(pos + 0.12 * (i - 1), ratio, yerr=2 * err, fmt="o", ms=4, color=f"C{i}",
                    label=fr"$\sigma^2$ = {r['sigma2']:g} ($\Delta L/L^*$ = {r['dL_over_L']:.2g})")
    ax.axhline(1, color="0.6", lw=0.8)
    ax.set_xticks(pos, [_LABELS[k] for k in LAYERS], rotation=35, ha="right", fontsize=7)
    ax.set(yscale="log", ylabel="escape time / discrete SGD")
    ax.legend(fontsize=7)
    return plotting.stamp(fig, result)
