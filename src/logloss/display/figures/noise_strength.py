"""Figure of ``noise-strength`` (paper Figs. 2 and 5)."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from .. import plotting
from . import draws


@draws("noise-strength", "noise-strength-cnn", "noise-strength-ce", "noise-strength-cnn-ce",
       "noise-strength-narrow", "noise-strength-narrow-long")
def plot(result: Result):
    """(a) L and rescaled 𝒩 against epoch, (b) 𝒩 against L with slope guides, (c) local slope."""
    a = result.arrays
    fig, axes = plotting.panels(3)
    seeds = int(a["L"].shape[0])
    for s in range(seeds):
        e, L, n = a["epochs"], a["L"][s], a["noise"][s]
        scale = L[-1] / n[-1]
        mask = e > 0
        kw = dict(alpha=1.0 if s == 0 else 0.4)
        axes[0].plot(e[mask], L[mask], color="C0", label="$L$" if s == 0 else None, **kw)
        axes[0].plot(e[mask], scale * n[mask], color="C1", ls="--",
                     label=r"$\mathcal{N}\times$const" if s == 0 else None, **kw)
        axes[1].plot(L, n, "o-", ms=3, color="C0", label="measured" if s == 0 else None, **kw)
        axes[2].plot(L, a["local_slope"][s], "o-", ms=3, color="C0", **kw)
    L0 = a["L"][0]
    sel = a["fit_mask"].astype(bool)
    fit = result.measured["slope"].value
    for ax in axes[:2]:
        ax.set(xscale="log", yscale="log")
    axes[0].set(xlabel="epoch", ylabel="loss $L$ (and rescaled $\\mathcal{N}$)")
    axes[0].legend()
    # slope guides through the first point of the fit window
    Lg = np.geomspace(L0[sel].min(), L0.max(), 20)
    n_ref, L_ref = a["noise"][0][sel][0], L0[sel][0]
    axes[1].plot(Lg, n_ref * Lg / L_ref, color=plotting.THEORY_COLOR, ls="--", label="slope 1")
    if result.params["loss"] == "ce":
        axes[1].plot(Lg, n_ref * (Lg / L_ref) ** 2, color="0.5", ls=":", label="slope 2")
    axes[1].plot(L0[sel], a["noise"][0][sel], "s", mfc="none", ms=7, color="C3",
                 label=f"fit window; late slope {fit:.2f} (mean of seeds)")
    axes[1].set(xlabel="loss $L$", ylabel=r"noise strength $\mathcal{N}$")
    axes[1].legend(loc="upper left")
    axes[2].axhline(1, color=plotting.THEORY_COLOR, ls="--")
    if result.params["loss"] == "ce":
        axes[2].axhline(2, color="0.5", ls=":")
    axes[2].set(xscale="log", xlabel="loss $L$", ylabel=r"local slope $d\log\mathcal{N}/d\log L$")
    axes[2].invert_xaxis()
    return plotting.stamp(fig, result)
