"""Figure of ``stationary`` (paper Fig. 3a)."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("stationary", "stationary-small-eta")
def plot(result: Result):
    """Paper Fig. 3a: φ against B for each η; fits, paper Eq. (17) and the exact discrete prediction."""
    rows = result.tables["phi"]
    fig, axes = plotting.figure(width=4.6, height=3.4)
    ax = axes[0]
    etas = sorted({r["eta"] for r in rows})
    for i, eta in enumerate(etas):
        sel = sorted((r for r in rows if r["eta"] == eta), key=lambda r: r["B"])
        B = np.array([r["B"] for r in sel])
        col = f"C{i}"
        ax.errorbar(B, [r["phi"] for r in sel], yerr=[2 * r["phi_stderr"] for r in sel],
                    fmt="o", ms=4, color=col, label=rf"$\eta={eta:g}$: MLE fit")
        good = [r for r in sel if r["kesten_alpha"] > 8]
        ax.errorbar([r["B"] for r in good], [r["phi_moment"] for r in good],
                    yerr=[2 * r["phi_moment_stderr"] for r in good], fmt="D", ms=5,
                    mfc="none", color=col)
        ax.plot(B, [r["phi_discrete"] for r in sel], color=col, lw=1.2)
        ax.plot(B, [r["phi_theory"] for r in sel], color=plotting.THEORY_COLOR, ls="--", lw=1)
    ax.plot([], [], "D", mfc="none", color="0.3", label="moment fit")
    ax.plot([], [], color="0.3", lw=1.2, label=r"exact discrete $\phi_d$")
    ax.plot([], [], color=plotting.THEORY_COLOR, ls="--", lw=1, label=r"$1+B/(\eta h^*)$, paper Eq. (17)")
    ax.set(xscale="log", yscale="log", xlabel="minibatch size $B$", ylabel=r"exponent $\phi$")
    ax.legend(loc="upper left")
    return plotting.stamp(fig, result)
