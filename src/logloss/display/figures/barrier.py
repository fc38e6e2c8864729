"""Figure of ``barrier`` (R13): mean escape time against ΔL/L(θ*) with every law."""

from __future__ import annotations

import numpy as np

from ...experiments._barrier import EXACT, LAWS
from ...experiments._registry import Result
from .. import plotting
from . import draws

#: Line style of each law (all in the theory colour): named in the legend.
STYLES = {
    "eq15": dict(ls="-", lw=1.8),
    "eq15_hessian": dict(ls="-.", lw=1.2),
    "arrhenius_min": dict(ls="--", lw=1.2),
    "arrhenius_const": dict(ls=":", lw=1.4),
    "xss": dict(ls=(0, (1, 3)), lw=1.2, color="0.45"),
    "affine": dict(ls=(0, (6, 2)), lw=1.0, color="0.45"),
    "kramers_exact": dict(ls=(0, (3, 1, 1, 1)), lw=1.0, color="0.3"),
    "sde_quadrature": dict(ls="-", lw=3.0, color="#9bb7d4", alpha=0.8),
}


@draws("barrier")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=4.3, height=3.6)
    rows = result.tables["points"]
    xr = np.array([r["dL_over_L"] for r in rows])
    t = np.array([r["sgd"] for r in rows])
    se = np.array([r["sgd_stderr"] for r in rows])
    cens = np.array([r["sgd_censored"] > 0 for r in rows])
    xc = result.arrays["curve_dL_over_L"]
    labels = dict(LAWS + EXACT)
    ax = axes[0]
    for key in [k for k, _ in LAWS] + ["sde_quadrature"]:
        st = {"color": plotting.THEORY_COLOR, **STYLES[key]}
        ax.plot(xc, result.arrays[f"curve_{key}"], label=labels[key], **st)
    ax.errorbar(xr[~cens], t[~cens], yerr=2 * se[~cens], fmt="o", ms=4, color="C0",
                label="SGD (±2 s.e.)", zorder=4)
    if cens.any():
        ax.errorbar(xr[cens], t[cens], yerr=2 * se[cens], fmt="^", ms=5, mfc="none",
                    color="C0", label="SGD, some censored (exp. MLE)", zorder=4)
    ax.plot(xr, [r["tau_chain"] for r in rows], "x", ms=6, color="C1",
            label="discrete chain, exact", zorder=5)
    ymax = 30 * max(t.max(), np.nanmax([r["tau_chain"] for r in rows]))
    ax.set(xscale="log", yscale="log", ylim=(0.3 * t.min(), ymax),
           xlabel=r"$\Delta L / L(\theta^*)$ (label noise $\sigma^2$ decreasing →)",
           ylabel=r"mean escape time $\langle k\rangle$ (SGD steps)")
    flat = "\n".join(f"{labels[k]}: {result.arrays[f'curve_{k}'][0]:.1e}"
                      for k in ("arrhenius_const", "xss"))
    ax.text(0.98, 0.02, f"off scale ↑ (flat, steps):\n{flat}", transform=ax.transAxes,
            ha="right", va="bottom")
    ax.legend(loc="upper left", ncol=1)
    # right: ratio to SGD
    ax = axes[1]
    ax.fill_between(xr, 1 - 2 * se / t, 1 + 2 * se / t, color="C0", alpha=0.2,
                    label="SGD ±2 s.e.")
    for key in [k for k, _ in LAWS] + [k for k, _ in EXACT]:
        st = {"color": plotting.THEORY_COLOR, **STYLES.get(key, dict(ls="none"))}
        if key == "chain":
            ax.plot(xr, [r["tau_chain"] / r["sgd"] for r in rows], "x", color="C1", ms=6,
                    label=labels[key])
            continue
        ax.plot(xr, [r[f"tau_{key}"] / r["sgd"] for r in rows], marker=".", ms=4,
                label=labels[key] if key in ("kramers_exact",) else None, **st)
    ax.axhline(1, color="0.6", lw=0.8)
    ax.set(xscale="log", yscale="log", ylim=(1e-3, 1e3),
           xlabel=r"$\Delta L / L(\theta^*)$",
           ylabel=r"prediction / SGD  (escape time)")
    ax.legend(loc="lower left")
    return plotting.stamp(fig, result)
