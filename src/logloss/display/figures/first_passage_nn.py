"""Figure of ``first-passage-nn`` (Fig. 3c): escape from the quasi-stationary state, the
paper's protocol as a transient, and Kaplan–Meier survival curves."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from .. import plotting
from . import draws
from ._first_passage import errorbar_log


def _points(ax, rows, color, label):
    c = np.array([r["c"] for r in rows])
    t = np.array([r["t_p"] for r in rows], dtype=float)
    se = np.array([r["t_p_stderr"] for r in rows], dtype=float)
    fit = np.array([r["fitted"] for r in rows])
    ok = np.isfinite(t)
    errorbar_log(ax, c[ok & fit], t[ok & fit], se[ok & fit], fmt="o", ms=3.5, color=color,
                 label=label)
    other = ok & ~fit
    errorbar_log(ax, c[other], t[other], se[other], fmt="^", ms=3.5, color=color, mfc="none")


@draws("first-passage-nn")
def plot(result: Result):
    fig, axes = plotting.panels(3, height=2.9)
    ax = axes[0]
    net = result.params["nets"][0]
    fits = [f for f in result.tables["slopes"] if f["net"] == net]
    for i, f in enumerate(fits):
        rows = [r for r in result.tables["first_passage"] if r["run"] == f["run"]]
        _points(ax, rows, f"C{i}", f"β={f['beta']:g}, ηλ₁={f['eta_lambda']:.2f}")
        if np.isfinite(f["slope"]):
            fr = [r for r in rows if r["fitted"]]
            cw = np.array([r["c"] for r in fr])
            tw = np.array([r["t_p"] for r in fr])
            g = np.geomspace(cw.min(), cw.max(), 10)
            for s, ls, name in ((f["slope_theory"], "--", "paper Eq. (15), n = PR"),
                                (f["slope_theory_n9"], ":", "paper Eq. (15), n = 9")):
                a = np.exp(np.mean(np.log(tw)) - s * np.mean(np.log(cw)))
                ax.plot(g, a * g**s, ls, color=f"C{i}", lw=1,
                        label=name if i == 0 else None)
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="$t_p$ (SGD steps)")
    ax.legend(loc="upper left")
    lo, hi = ax.get_xlim()  # less than a decade of c: label it with plain numbers
    ticks = np.unique(np.round(np.geomspace(lo * 1.02, hi / 1.02, 5), 2))
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.set_xticks([], minor=True)
    ax = axes[1]
    tr = result.tables["transient"]
    c = np.array([r["c"] for r in tr])
    med = np.array([r["median_step"] for r in tr])
    t = np.array([r["t_p"] for r in tr])
    ax.plot(c, t, "s", color="C3", ms=3.5, label="mean $t_p$ (exponential MLE)")
    ax.plot(c, med, "x", color="C3", label="median crossing step")
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="steps")
    ax.legend(loc="upper left")
    ax = axes[2]
    surv = result.tables["survival"]
    for regime, color in (("escape", "C0"), ("transient", "C3")):
        rows = [r for r in surv if r["regime"] == regime and r["net"] == net
                and (regime == "transient" or r["beta"] == fits[0]["beta"])]
        for j, cj in enumerate(sorted({r["c"] for r in rows})):
            rr = [r for r in rows if r["c"] == cj]
            tt = np.array([r["t"] for r in rr])
            S = np.array([r["S"] for r in rr])
            ax.step(tt, S, where="post", color=color, alpha=0.5 + 0.25 * j, lw=1,
                    label=f"{regime}, c={cj:.2f}")
            ax.plot(tt, [r["S_exponential"] for r in rr], "--", color=color, lw=0.8,
                    alpha=0.5 + 0.25 * j)
    ax.plot([], [], "--", color="grey", lw=0.8, label="exponential, same mean")
    ax.set(xscale="log", yscale="log", ylim=(0.02, 1.1), xlabel="step $k$",
           ylabel="survival $S(k)$ (Kaplan–Meier)")
    ax.legend(loc="lower left")
    return plotting.stamp(fig, result)
