"""Figure of ``barrier-dimension`` (R12 on a real barrier): escape time against the effective
dimension n at fixed c, at strong noise (up to and beyond the critical dimensions) and at
weak noise (the test of n)."""

from __future__ import annotations

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ...experiments.result import Result
from .. import plotting
from . import draws

#: Vertical markers: the critical dimensions (all grey, named in the legend).
_CRITICAL = (("n_c", "-.", r"$n_c$, paper Eq. (16)"),
             ("n_c_lyapunov", (0, (5, 2)), r"$n_c$, discrete (Lyapunov)"),
             ("n_c_mean_square", (0, (1, 1.5)), r"$n_c$, discrete (mean square)"))


def _cases(rows, eta):
    keys = []
    for r in rows:
        if r["eta"] == eta and (r["case"], r["sigma2"]) not in keys:
            keys.append((r["case"], r["sigma2"]))
    mains = 0
    for key in keys:
        rr = [r for r in rows if r["eta"] == eta and (r["case"], r["sigma2"]) == key]
        if key[0] == "main":
            color = f"C{[0, 2, 4, 5][mains % 4]}"
            mains += 1
        else:
            color = "C1"
        yield rr, color


def _draw(ax, rows, eta):
    for rr, color in _cases(rows, eta):
        n = np.array([r["n"] for r in rr])
        t = np.array([r["sgd"] for r in rr])
        se = np.array([r["sgd_stderr"] for r in rr])
        bf = np.array([r["sgd_method"] == "brute force" for r in rr])
        lo = np.maximum(t - 2 * se, t / 10)
        for sel, mk, fill in ((bf, "o", color), (~bf, "D", "white")):
            ax.errorbar(n[sel], t[sel], yerr=[t[sel] - lo[sel], 2 * se[sel]], fmt=mk, ms=4.5,
                        color=color, mfc=fill, zorder=4)
        if rr[0]["case"] == "main":   # paper Eq. (15) does not depend on h_s
            ax.plot(n, [r["tau_eq15"] for r in rr], "-", color=color, lw=1.2)
        ax.plot(n, [r["tau_eq15_discrete"] for r in rr], ":", color=color, lw=1.4)
        ax.plot(n, [r["tau_sde"] for r in rr], "--", color=color, lw=1.0)
        ax.plot(n, [r["tau_chain"] for r in rr], "x", color=color, ms=6, zorder=5)
    ax.set(yscale="log", xlabel="effective dimension $n$ (1 + spectators)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


@draws("barrier-dimension")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=3.4, height=3.3)
    rows = result.tables["points"]
    etas = sorted({r["eta"] for r in rows}, reverse=True)
    for ax, eta in zip(axes, etas):
        _draw(ax, rows, eta)
        first = next(r for r in rows if r["eta"] == eta)
        ax.text(0.98, 0.98, fr"$\eta$ = {eta:g}, $c$ = {first['c']:.2f}", transform=ax.transAxes,
                ha="right", va="top", fontsize=8)
    axes[0].set_ylabel("mean escape time (SGD steps)")
    for key, ls, _lab in _CRITICAL:
        axes[0].axvline(result.theory[key], color="0.5", ls=ls, lw=1.0)
    handles = [Line2D([], [], color="C0", lw=4, label=r"$h_s = h^*$"),
               Line2D([], [], color="C1", lw=4,
                      label=fr"control: $h_s$ = {rows[-1]['h_ratio']:g} $h^*$"),
               Line2D([], [], ls="none", marker="o", color="0.3", label="SGD, brute force"),
               Line2D([], [], ls="none", marker="D", mfc="white", color="0.3",
                      label="SGD, splitting"),
               Line2D([], [], ls="none", marker="x", color="0.3", label="adiabatic discrete chain"),
               Line2D([], [], ls="-", color="0.3", label=r"paper Eq. (15), $c^{-(n-1)/2}$"),
               Line2D([], [], ls=":", color="0.3", label="paper Eq. (15), discrete spectator noise"),
               Line2D([], [], ls="--", color="0.3", label="adiabatic SDE")]
    handles += [Line2D([], [], color="0.5", ls=ls, lw=1.0, label=lab) for _k, ls, lab in _CRITICAL]
    fig.legend(handles=handles, loc="outside upper center", ncol=3, fontsize=7)
    return plotting.stamp(fig, result)
