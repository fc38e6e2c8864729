"""Figure of ``barrier`` (R13): mean escape time against ΔL/L(θ*) at strong and weak noise,
and how many decades each law misses at the weakest noise."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D

from ...experiments._barrier import EXACT, LAWS
from ...experiments.result import Result
from .. import plotting
from . import draws

#: Line style of each law on the right panel (theory colour), named in the legend.
STYLES = {
    "eq15": dict(ls="-", lw=1.6),
    "eq15_hessian": dict(ls="-.", lw=1.2),
    "arrhenius_min": dict(ls="--", lw=1.2),
    "arrhenius_const": dict(ls=(0, (1, 1)), lw=2.0, color="0.45"),
    "xss": dict(ls=(0, (1, 3)), lw=1.2, color="0.45"),
    "affine": dict(ls=(0, (6, 2)), lw=1.0, color="0.45"),
    "kramers_exact": dict(ls=(0, (3, 1, 1, 1)), lw=1.0, color="0.3"),
    "sde_quadrature": dict(ls=":", lw=1.6),
}
#: The laws drawn on the left panel, in each η's colour.
_LEFT = ("eq15", "arrhenius_min", "sde_quadrature")
#: Decades shown on the right panel; laws beyond it are named in a note.
_SPAN = (-6.0, 8.0)


def _block(rows, eta):
    return [r for r in rows if r["eta"] == eta]


@draws("barrier")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=3.4, height=3.3)
    rows = result.tables["points"]
    etas = list(result.arrays["etas"])
    xc = result.arrays["curve_dL_over_L"]
    labels = dict(LAWS + EXACT)
    handles = []
    ax = axes[0]
    for i, eta in enumerate(etas):
        color = f"C{i}"
        rr = _block(rows, eta)
        x = np.array([r["dL_over_L"] for r in rr])
        t = np.array([r["sgd"] for r in rr])
        se = np.array([r["sgd_stderr"] for r in rr])
        bf = np.array([r["sgd_method"] == "brute force" for r in rr])
        for key in _LEFT:
            ax.plot(xc, result.arrays[f"curve_{key}"][i], **{**STYLES[key], "color": color})
        lo = np.maximum(t - 2 * se, t / 10)   # ±2 s.e., clipped at a decade on a log axis
        for sel, mk, fill in ((bf, "o", color), (~bf, "D", "white")):
            ax.errorbar(x[sel], t[sel], yerr=[t[sel] - lo[sel], 2 * se[sel]], fmt=mk, ms=4.5,
                        color=color, mfc=fill, zorder=4)
        ax.plot(x, [r["tau_chain"] for r in rr], "x", ms=6, color="0.2", zorder=5)
        handles.append(Line2D([], [], color=color, lw=4,
                              label=fr"$\eta$ = {eta:g}, $B/(\eta h)$ = {rr[0]['temperature']:.1f}"))
    tmax = max(r["sgd"] for r in rows)
    ax.set(xscale="log", yscale="log", ylim=(0.3 * min(r["sgd"] for r in rows), 1e3 * tmax),
           xlabel=r"$\Delta L / L(\theta^*)$ ($\sigma^2$ decreasing →)",
           ylabel=r"mean escape time (SGD steps)")
    handles += [Line2D([], [], ls="none", marker="o", color="0.3", label="SGD, brute force"),
                Line2D([], [], ls="none", marker="D", mfc="white", color="0.3",
                       label="SGD, splitting"),
                Line2D([], [], ls="none", marker="x", color="0.2", label="discrete chain (exact)")]
    # right: decades off SGD at the weakest noise
    ax = axes[1]
    eta = etas[-1]
    rr = _block(rows, eta)
    x = np.array([r["dL_over_L"] for r in rr])
    t = np.array([r["sgd"] for r in rr])
    d_se = np.array([r["sgd_stderr"] / r["sgd"] for r in rr]) / np.log(10)
    ax.fill_between(x, -2 * d_se, 2 * d_se, color="C1", alpha=0.25)
    off = []
    for key in [k for k, _ in LAWS] + ["kramers_exact", "sde_quadrature"]:
        dec = np.log10([r[f"tau_{key}"] for r in rr] / t)
        if np.min(dec) > _SPAN[1]:
            off.append(f"{labels[key]}: +{np.min(dec):.0f} to +{np.max(dec):.0f}")
            continue
        st = {"color": plotting.THEORY_COLOR, **STYLES[key]}
        ax.plot(x, dec, marker=".", ms=4, **st)
        handles.append(Line2D([], [], **st, label=labels[key]))
    ax.plot(x, np.log10([r["tau_chain"] for r in rr] / t), "x", ms=6, color="0.2")
    rare = np.array([r["rare"] for r in rr])
    if (~rare).any():
        ax.axvspan(x.min() / 1.5, x[~rare].max() * 1.15, color="0.9", zorder=0)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set(xscale="log", ylim=_SPAN, xlabel=r"$\Delta L / L(\theta^*)$",
           ylabel=r"$\log_{10}$(prediction / SGD)")
    if off:
        ax.text(0.02, 0.98, "off scale:\n" + "\n".join(off), transform=ax.transAxes,
                ha="left", va="top", fontsize=7, color="0.3")
    handles.append(Line2D([], [], color="C1", alpha=0.4, lw=6, label="SGD ± 2 s.e."))
    fig.legend(handles=handles, loc="outside upper center", ncol=3, fontsize=7)
    return plotting.stamp(fig, result)
