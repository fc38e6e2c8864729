"""Figure of ``barrier-dimension`` (R12 on a real barrier): escape time against the effective
dimension n at fixed c, and the spectators' share of the loss at the exit."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import MaxNLocator

from ...experiments._registry import Result
from .. import plotting
from . import draws

#: Vertical markers: the critical dimensions (all grey, named in the legend).
_CRITICAL = (("n_c", "-.", r"$n_c$, paper Eq. (16)"),
             ("n_c_lyapunov", (0, (5, 2)), r"$n_c$, discrete (Lyapunov)"),
             ("n_c_mean_square", (0, (1, 1.5)), r"$n_c$, discrete (mean square)"))


def _cases(result: Result):
    rows = result.tables["points"]
    keys = []
    for r in rows:
        key = (r["case"], r["sigma2"])
        if key not in keys:
            keys.append(key)
    for i, key in enumerate(keys):
        rr = [r for r in rows if (r["case"], r["sigma2"]) == key]
        main = key[0] == "main"
        color = f"C{[0, 2, 4, 5][i % 4]}" if main else "C1"
        label = (fr"$\sigma^2$ = {key[1]:g}, $c$ = {rr[0]['c']:.2f}, $h_s = h^*$" if main else
                 fr"control: $h_s = {rr[0]['h_ratio']:g}\,h^*$, $c$ = {rr[0]['c']:.2f}")
        yield rr, color, label


@draws("barrier-dimension")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=4.4, height=3.6)
    ax = axes[0]
    for rr, color, _label in _cases(result):
        n = np.array([r["n"] for r in rr])
        t = np.array([r["sgd"] for r in rr])
        se = np.array([r["sgd_stderr"] for r in rr])
        ax.errorbar(n, t, yerr=np.minimum(2 * se, 0.9 * t), fmt="o", ms=4, color=color,
                    zorder=4)
        if rr[0]["case"] == "main":   # paper Eq. (15) does not depend on h_s
            ax.plot(n, [r["tau_eq15"] for r in rr], "-", color=color, lw=1.2)
        ax.plot(n, [r["tau_eq15_discrete"] for r in rr], ":", color=color, lw=1.4)
        ax.plot(n, [r["tau_sde"] for r in rr], "--", color=color, lw=1.0)
        ax.plot(n, [r["tau_chain"] for r in rr], "x", color=color, ms=6, zorder=5)
    # legend entries for the line styles (theory colour)
    for st, lab in (("-", "paper Eq. (15), $c^{-(n-1)/2}$"),
                    (":", "paper Eq. (15) with discrete spectator noise"),
                    ("--", "adiabatic SDE, quadrature")):
        ax.plot([], [], st, color=plotting.THEORY_COLOR, lw=1.2, label=lab)
    ax.plot([], [], "x", color=plotting.THEORY_COLOR, label="adiabatic discrete chain")
    ax.plot([], [], "o", color=plotting.THEORY_COLOR, label="SGD (± 2 s.e.)")
    for ax_ in axes:
        for key, ls, lab in _CRITICAL:
            ax_.axvline(result.theory[key], color="0.5", ls=ls, lw=1.0,
                        label=lab if ax_ is axes[0] else None)
    ax.set(yscale="log", xlabel="effective dimension $n$ (1 + number of spectators)",
           ylabel=r"mean escape time $\langle k\rangle$ (SGD steps)")
    ax.legend(loc="upper right")
    ax = axes[1]
    for rr, color, label in _cases(result):
        rr = [r for r in rr if r["n"] > 1]
        n = np.array([r["n"] for r in rr])
        ax.plot(n, [r["spectator_loss_exit"] for r in rr], "o", ms=4, color=color,
                label=f"SGD, {label}")
        for key, st, lw in (("kappa_chain", ":", 1.4), ("kappa_sde", "--", 1.0)):
            y = np.array([(r[key] - 1) * r["c"] for r in rr])
            ax.plot(n, np.where(np.isfinite(y), y, np.nan), st, color=color, lw=lw)
    ax.plot([], [], ":", color=plotting.THEORY_COLOR, label="stationary, discrete SGD")
    ax.plot([], [], "--", color=plotting.THEORY_COLOR, label="stationary, SDE")
    ax.set(yscale="log", xlabel="effective dimension $n$",
           ylabel=r"median $\frac{1}{2}h_s|\varphi|^2 / L(\theta^*)$ at exit")
    ax.legend(loc="upper left")
    for ax_ in axes:
        ax_.xaxis.set_major_locator(MaxNLocator(integer=True))
    return plotting.stamp(fig, result)
