"""Figure of ``noise-hessian`` (paper Eqs. (6)–(11))."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("noise-hessian")
def plot(result: Result):
    """(a) linear regression: relative gap against distance; (b) MLP: top eigenvalues."""
    fig, axes = plotting.figure(ncols=2, width=3.4)
    t = result.tables["linreg"]
    dist = np.array(sorted({r["distance"] for r in t}))
    for key, lab, c in [("err_eq6", r"$\Sigma$ vs $c(2L/B)H$, paper Eq. (6)", "C0"),
                        ("err_gauss", r"$\Sigma$ vs $c(2LH+\nabla L\nabla L^T)/B$", "C1")]:
        m = np.array([np.mean([r[key] for r in t if r["distance"] == s]) for s in dist])
        sd = np.array([np.std([r[key] for r in t if r["distance"] == s]) for s in dist])
        axes[0].errorbar(dist, m, yerr=sd, fmt="o-", ms=4, color=c, label=lab)
    pg = np.array([np.mean([r["predicted_gap"] for r in t if r["distance"] == s]) for s in dist])
    # The predicted gap vanishes at θ* (∇L = 0), which a log axis cannot show.
    away = dist > 0
    axes[0].plot(dist[away], pg[away], color=plotting.THEORY_COLOR, ls="--",
                 label=r"$\|\nabla L\nabla L^T\|/\|2LH\|$")
    axes[0].set(xlabel=r"distance $\|\theta-\theta^*\|$", ylabel="relative Frobenius gap", yscale="log")
    # above its own panel: every corner of this one holds data, and a legend above both
    # panels would read as if it named the right panel's lines too
    axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0)
    a = result.arrays
    i = np.arange(1, len(a["hess_top"]) + 1)
    axes[1].plot(i, a["hess_top"], "o-", ms=4, color=plotting.THEORY_COLOR, label="Hessian $H$")
    axes[1].plot(i, a["gn_top"], "s--", ms=4, mfc="none", label=r"$\frac{1}{N}\sum\nabla f\nabla f^T$, paper Eq. (11)")
    axes[1].plot(i, a["sigma_top"], "^", ms=5, label=r"$\Sigma B/(2Lc)$")
    axes[1].set(xlabel="eigenvalue index $i$", ylabel="eigenvalue", yscale="log")
    axes[1].legend()
    return plotting.stamp(fig, result)
