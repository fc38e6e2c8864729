"""Figure of ``noise-strength`` (paper Figs. 2 and 5)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws


@draws("noise-strength", "noise-strength-cnn", "noise-strength-ce", "noise-strength-cnn-ce",
       "noise-strength-narrow", "noise-strength-narrow-long")
def plot(result: Result):
    """(a) L and rescaled 𝒩 against epoch, (b) 𝒩 against L with slope guides, (c) local slope,
    (d) the factors of 𝒩 over the fit window (measure.kernel), first seed, when measured."""
    a = result.arrays
    fac = a.get("factors")
    with_factors = fac is not None and np.isfinite(fac[0]).any()
    plotting.use_style()
    fig = plt.figure(figsize=(6.8, 5.6), layout="constrained")
    panels = fig.subplot_mosaic([["a", "b"], ["c", "d"]] if with_factors else [["a", "b"], ["c", "c"]])
    axes = [panels[k] for k in ("a", "b", "c", "d") if k in panels]
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
    above = dict(loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0, fontsize=7)
    axes[0].legend(ncols=2, **above)
    # slope guides through the first point of the fit window
    Lg = np.geomspace(L0[sel].min(), L0.max(), 20)
    n_ref, L_ref = a["noise"][0][sel][0], L0[sel][0]
    axes[1].plot(Lg, n_ref * Lg / L_ref, color=plotting.THEORY_COLOR, ls="--", label="slope 1")
    if result.params["loss"] == "ce":
        axes[1].plot(Lg, n_ref * (Lg / L_ref) ** 2, color="0.5", ls=":", label="slope 2")
    axes[1].plot(L0[sel], a["noise"][0][sel], "s", mfc="none", ms=7, color="C3",
                 label=f"fit window (slope {fit:.2f})")
    axes[1].set(xlabel="loss $L$", ylabel=r"noise strength $\mathcal{N}$")
    axes[1].legend(ncols=2, **above)
    axes[2].axhline(1, color=plotting.THEORY_COLOR, ls="--")
    if result.params["loss"] == "ce":
        axes[2].axhline(2, color="0.5", ls=":")
    axes[2].set(xscale="log", xlabel="loss $L$", ylabel=r"local slope $d\log\mathcal{N}/d\log L$")
    axes[2].invert_xaxis()
    if with_factors:
        _factors(axes[3], a, result.params, above)
    return plotting.stamp(fig, result)


def _factors(ax, a, params, legend_kw) -> None:
    """Each factor of 𝒩 = L^p·M_p·s·κ·a·w·g over the fit window, relative to its first value."""
    fac = a["factors"]
    ok = np.isfinite(fac[0, :, 0])
    L = a["L"][0][ok]
    f = fac[0][ok]
    # FACTORS = moment, shape, kernel, across, within, gradient (measure.kernel)
    lines = [(f[:, 0] * f[:, 1], r"$M_p\,s$", "C2", ":"),
             (f[:, 2], r"kernel $\kappa$", "C0", "-"),
             (f[:, 3] * f[:, 4], r"coupling $a\,w$", "C1", "--"),
             (f[:, 5], r"gradient $g$", "0.5", "-.")]
    for v, lab, c, ls in lines:
        ax.plot(L, v / v[0], ls=ls, color=c, marker="o", ms=2.5, label=lab)
    power = "L" if params.get("loss", "mse") == "mse" else "L^2"
    ax.axhline(1, color="0.7", lw=0.8)
    ax.set(xscale="log", xlabel="loss $L$",
           ylabel=rf"factor of $\mathcal{{N}}/{power}$, relative to the first")
    ax.invert_xaxis()
    ax.legend(ncols=2, **legend_kw)
