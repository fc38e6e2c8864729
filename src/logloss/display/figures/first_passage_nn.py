"""Figure of ``first-passage-nn`` (Fig. 3c): t_p(c) of the net, of the paper's noise model
on its spectrum and of paper Eq. (15) over many decades; their local slopes; the
Kaplan–Meier check of the regime; and the paper's protocol as the transient it is."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws
from ._first_passage import errorbar_log

_MODEL, _EQ15 = "noise model", "paper Eq. (15)"


def _rows(table, **match):
    return [r for r in table if all(r[k] == v for k, v in match.items())]


def _plain_ticks(ax):
    """Less than a decade of c: label it with plain numbers."""
    lo, hi = ax.get_xlim()
    ticks = np.unique(np.round(np.geomspace(lo * 1.01, hi / 1.01, 5), 2))
    ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
    ax.set_xticks([], minor=True)


@draws("first-passage-nn")
def plot(result: Result):
    fig, axes = plotting.panels(4, height=2.9)
    net = result.params["nets"][0]
    tp, sl = result.tables["first_passage"], result.tables["slopes"]
    ax, bx = axes[0], axes[1]
    for i, beta in enumerate(result.params["betas"]):
        color = f"C{i}"
        rows = _rows(tp, system="net", net=net, beta=beta)
        c = np.array([r["c"] for r in rows])
        t = np.array([r["t_p"] for r in rows])
        se = np.array([r["t_p_stderr"] for r in rows])
        ok = np.array([r["resolved"] for r in rows]) & np.isfinite(t)
        errorbar_log(ax, c[ok], t[ok], se[ok], fmt="o", ms=3.5, color=color,
                     label=f"net, β = {beta:g}")
        part = ~ok & np.isfinite(t)
        if part.any():
            ax.plot(c[part], t[part], "o", ms=3.5, color=color, mfc="none")
        mod = _rows(tp, system=_MODEL, net=net, beta=beta)
        ax.plot([r["c"] for r in mod], [r["t_p"] for r in mod], "-", color=color, lw=1,
                label="noise model" if i == 0 else None)
        eq = _rows(tp, system=_EQ15, net=net, beta=beta)
        ax.plot([r["c"] for r in eq], [r["t_p"] for r in eq], "--", color=color, lw=1,
                label="paper Eq. (15), n = PR" if i == 0 else None)
        br = _rows(result.tables["brute"], net=net, beta=beta)
        if br:
            ax.plot([r["c"] for r in br], [r["t_p_brute"] for r in br], "x", color="k", ms=4,
                    label="brute force" if i == 0 else None)
        s_net = _rows(sl, system="net", net=net, beta=beta)
        cm = np.array([r["c_mid"] for r in s_net])
        s = np.array([r["slope"] for r in s_net])
        s_se = np.array([r["slope_stderr"] for r in s_net])
        fin = np.isfinite(s) & np.isfinite(s_se)
        bx.errorbar(cm[fin], s[fin], yerr=s_se[fin], fmt="o", ms=3.5, color=color,
                    label=f"net, β = {beta:g}")
        s_mod = _rows(sl, system=_MODEL, net=net, beta=beta)
        bx.plot([r["c_mid"] for r in s_mod], [r["slope"] for r in s_mod], "-", color=color, lw=1,
                label="noise model" if i == 0 else None)
        bx.axhline(s_net[0]["slope_eq15"], ls="--", color=color, lw=1,
                   label="paper Eq. (15), n = PR" if i == 0 else None)
    ax.set(xscale="log", yscale="log", xlabel="$c = L/L(\\theta^*)$",
           ylabel="$t_p$ (SGD steps)")
    _plain_ticks(ax)
    ax.legend()
    bx.set(xscale="log", xlabel="$c$ (geometric midpoint)",
           ylabel="local slope $d\\log t_p/d\\log c$")
    _plain_ticks(bx)
    bx.legend()
    cx = axes[2]
    beta0 = result.params["betas"][0]
    surv = result.tables["survival"]
    esc = _rows(surv, regime="escape", net=net, beta=beta0)
    levels = sorted({r["c"] for r in esc})
    for j, cj in enumerate(levels[-3:]):  # the rarest thresholds brute force crosses
        rr = _rows(esc, c=cj)
        cx.step([r["t"] for r in rr], [r["S"] for r in rr], where="post", color="C0",
                alpha=0.5 + 0.25 * j, lw=1, label=f"escape, β = {beta0:g}, c = {cj:.3f}")
        cx.plot([r["t"] for r in rr], [r["S_exponential"] for r in rr], "--", color="C0",
                lw=0.8, alpha=0.5 + 0.25 * j)
    tr = _rows(surv, regime="transient", net=net)
    for j, cj in enumerate(sorted({r["c"] for r in tr})):
        rr = _rows(tr, c=cj)
        cx.step([r["t"] for r in rr], [r["S"] for r in rr], where="post", color="C3",
                alpha=0.5 + 0.25 * j, lw=1, label=f"paper's protocol, c = {cj:.2f}")
        cx.plot([r["t"] for r in rr], [r["S_exponential"] for r in rr], "--", color="C3",
                lw=0.8, alpha=0.5 + 0.25 * j)
    cx.plot([], [], "--", color="grey", lw=0.8, label="exponential, same mean")
    cx.set(xscale="log", yscale="log", ylim=(0.02, 1.1), xlabel="step $k$",
           ylabel="survival $S(k)$ (Kaplan–Meier)")
    cx.legend()
    dx = axes[3]
    trans = result.tables["transient"]
    c = np.array([r["c"] for r in trans])
    dx.plot(c, [r["median_step"] for r in trans], "x", color="C3", label="median crossing step")
    dx.plot(c, [r["t_p"] for r in trans], "s", color="C3", ms=3.5, mfc="none",
            label="mean $t_p$ (exponential MLE)")
    dx.set(xscale="log", yscale="log", xlabel="$c = L/L(\\theta^*)$", ylabel="steps")
    dx.legend()
    return plotting.stamp(fig, result)
