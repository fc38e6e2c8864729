"""Figure of ``gradient-noise-scale`` (beyond the paper)."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from .. import plotting
from . import draws


@draws("gradient-noise-scale")
def plot(result: Result):
    """(a) L, 𝒩 and ‖∇L‖² against epoch; (b) B_simple exact against the two-batch estimates."""
    a = result.arrays
    fig, axes = plotting.figure(ncols=2, width=3.4)
    e = a["epochs"]
    m = e > 0
    axes[0].plot(e[m], a["L"][m], label="$L$")
    axes[0].plot(e[m], a["noise"][m], label=r"$\mathcal{N}=\mathrm{tr}\,\Sigma_1$")
    axes[0].plot(e[m], a["grad_sq"][m], label=r"$\|\nabla L\|^2$")
    axes[0].set(xscale="log", yscale="log", xlabel="epoch", ylabel="value")
    axes[0].legend(fontsize=7)
    axes[1].plot(e[m], a["noise"][m] / a["grad_sq"][m], color="C0",
                 label=r"exact $B_{\rm simple}=\mathcal{N}/\|\nabla L\|^2$")
    rows = result.tables["checkpoints"]
    ce = np.array([r["epoch"] for r in rows], dtype=float)
    axes[1].errorbar(ce, [r["two_batch"] for r in rows], [r["two_batch_se"] for r in rows],
                     fmt="o", color="C3", ms=4, capsize=2, label="two-batch, $c_B=(N-B)/(B(N-1))$")
    axes[1].errorbar(ce * 1.08, [r["one_over_B"] for r in rows], [r["one_over_B_se"] for r in rows],
                     fmt="s", mfc="none", color="C2", ms=4, capsize=2, label="two-batch, $c_B=1/B$")
    axes[1].set(xscale="log", yscale="log", xlabel="epoch", ylabel=r"$B_{\rm simple}$")
    axes[1].legend(fontsize=7)
    return plotting.stamp(fig, result)
