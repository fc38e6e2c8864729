"""Figures of ``first-passage-linreg`` (paper Fig. 3b, R9) and ``rare-first-passage-linreg``:
t_p(c) over 20+ decades, and the local slope d log t_p / d log c against c."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws

_N_LABEL = {0: "online"}


def _label(N: int) -> str:
    return _N_LABEL.get(N, f"N = {N:.0e}".replace("e+0", "e"))


def _cases(result: Result):
    return [(c["d"], c["N"], c["dataset"]) for c in result.tables["cases"]]


def _pick(rows, d, N, k):
    return [r for r in rows if r["d"] == d and r["N"] == N and r["dataset"] == k]


@draws("first-passage-linreg", "rare-first-passage-linreg")
def plot(result: Result):
    """Top left: t_p against c for every case (splitting: filled where the escape is rare,
    open where t_p < 100 relaxation times; crosses: brute force; lines: the SDEs).  Other
    panels, one per N: the local slope against c, with Eq. (15)'s and Kesten's asymptotes."""
    Ns = sorted({N for _, N, _ in _cases(result)}, key=lambda N: (N == 0, N))
    fig, axes = plotting.figure(ncols=2, nrows=(len(Ns) + 2) // 2, width=3.4, height=2.9)
    ds = sorted({d for d, _, _ in _cases(result)})
    color = {d: plotting.OKABE_ITO[i % 7] for i, d in enumerate(ds)}
    ax = axes[0]
    rows = result.tables["first_passage"]
    for d, N, k in _cases(result):
        r = _pick(rows, d, N, k)
        c = np.array([x["c"] for x in r])
        t = np.array([x["t_p"] for x in r])
        reg = np.array([x["in_regime"] for x in r])
        res = np.array([x["resolved"] for x in r])
        mk = {0: "o", 10_000: "s"}.get(N, "D")
        ax.plot(c[reg], t[reg], mk, color=color[d], ms=3.5, ls="none")
        ax.plot(c[res & ~reg], t[res & ~reg], mk, color=color[d], ms=3.5, mfc="none", ls="none")
        tb = np.array([x["t_brute"] for x in r])
        ax.plot(c, tb, "x", color=color[d], ms=3.5, ls="none")
        if k == 0:
            ax.plot(c, [x["t_sde_paper"] for x in r], "--", color=color[d], lw=0.9)
    ax.set(xscale="log", yscale="log", xlabel="$c = L/L(\\theta^*)$",
           ylabel="mean first-passage time $t_p$ (steps)")
    handles = [ax.plot([], [], "o", color=color[d], ms=4, label=f"d = {d}")[0] for d in ds]
    ax.legend(handles=handles, loc="lower right", fontsize=7.5)
    slopes = result.tables["slopes"]
    cases = {(c["d"], c["N"], c["dataset"]): c for c in result.tables["cases"]}
    for ax, N in zip(axes[1:], Ns):
        for d, N2, k in _cases(result):
            if N2 != N:
                continue
            s = _pick(slopes, d, N, k)
            c = np.array([x["c_mid"] for x in s])
            y = np.array([x["slope"] for x in s])
            e = np.array([x["slope_stderr"] for x in s])
            reg = np.array([x["in_regime"] for x in s]) & np.isfinite(e)
            ax.errorbar(c[reg], y[reg], e[reg], fmt="o", color=color[d], ms=3, lw=0.8,
                        alpha=1.0 if k == 0 else 0.55)
            if k == 0:
                ax.plot(c, [x["slope_sde_paper"] for x in s], "--", color=color[d], lw=0.9)
                ax.plot(c, [x["slope_sde_exact"] for x in s], "-.", color=color[d], lw=0.9)
            ch = np.array([x["slope_chain"] for x in s])
            if np.isfinite(ch).any():
                ax.plot(c, ch, "-", color=color[d], lw=1.2, alpha=1.0 if k == 0 else 0.55)
            case = cases[(d, N, k)]
            if k == 0:
                ax.axhline(case["slope_eq15"], color=color[d], ls=":", lw=0.9)
            if np.isfinite(case["slope_kesten"]):
                ax.axhline(case["slope_kesten"], color=color[d], ls=(0, (1, 3)), lw=1.6,
                           alpha=1.0 if k == 0 else 0.55)
        ax.set(xscale="log", xlabel="$c$", ylabel="local slope $d\\log t_p/d\\log c$")
        ax.text(0.03, 0.95, _label(N), transform=ax.transAxes, va="top", fontsize=8.5)
        top = max([x["slope"] for x in slopes if x["N"] == N and x["in_regime"]
                   and np.isfinite(x["slope"])] + [15.0])
        ax.set_ylim(0, min(1.15 * top, 120))
    for ax in axes[1 + len(Ns):]:
        ax.set_visible(False)
    return plotting.stamp(fig, result)
