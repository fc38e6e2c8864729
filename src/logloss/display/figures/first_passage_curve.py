"""Figure of ``first-passage-curve``: local slope d log t_p / d log c against c (R9)."""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from ...experiments._registry import Result
from .. import plotting
from . import draws


@draws("first-passage-curve")
def plot(result: Result):
    fig, axes = plotting.panels(3, height=3.0)
    ax = axes[0]
    curves = result.tables["curves"]
    cases = [r["case"] for r in result.tables["cases"]]
    sgd_style = {}
    for i, name in enumerate(cases):
        rows = [r for r in curves if r["case"] == name and r["kind"] == "sgd" and not r["flagged"]
                and np.isfinite(r["slope"])]
        if not rows:
            continue
        c = np.array([r["c"] for r in rows])
        s = np.array([r["slope"] for r in rows])
        e = np.array([r["slope_stderr"] for r in rows])
        color = "0.6" if name.startswith("N=1e4 #") and not name.endswith("#0") else f"C{i % 10}"
        sgd_style[name] = color
        ax.errorbar(c * (1 + 0.01 * i), s, yerr=e, fmt="o", ms=3, color=color, label=f"SGD {name}")
    ref = cases[0]
    for kind, ls, label in (("discrete", "-", "exact discrete MFPT, N=1e4 #0"),
                            ("sde_paper", "--", "SDE, decoupled noise"),
                            ("sde_exact", "-.", "SDE, exact Gaussian noise")):
        rows = [r for r in curves if r["case"] == ref and r["kind"] == kind]
        ax.plot([r["c"] for r in rows], [r["slope"] for r in rows], ls, color="k", lw=1, label=label)
    for name in cases[1:]:
        if name.startswith("N=1e4 #"):
            continue
        rows = [r for r in curves if r["case"] == name and r["kind"] == "discrete"]
        if rows:
            ax.plot([r["c"] for r in rows], [r["slope"] for r in rows], ":", color=sgd_style.get(name, "k"),
                    lw=1.2, label=f"exact discrete MFPT, {name}")
    s15 = result.theory["slope"]
    ax.axhline(s15, color=plotting.THEORY_COLOR, lw=1, ls=(0, (1, 1)), label="paper Eq. (15) asymptote")
    ax.axvspan(result.params["c_lo"], result.params["c_hi"], color="0.9", zorder=-1)
    ax.set(xscale="log", xlabel="$c = L/L(\\theta^*)$", ylabel="local slope $d\\log t_p/d\\log c$",
           ylim=(0, 3 * s15), xlim=(0.98 * result.params["c_min"], 1.05 * result.params["c_max"]))
    ax.legend(loc="upper left", ncol=2)
    # the SDE quadratures over the whole range, towards the asymptote of Eq. (15)
    ax = axes[1]
    for kind, ls, label in (("sde_paper", "--", "SDE, decoupled noise"),
                            ("sde_exact", "-.", "SDE, exact Gaussian noise")):
        rows = [r for r in curves if r["case"] == ref and r["kind"] == kind]
        ax.plot([r["c"] for r in rows], [r["slope"] for r in rows], ls, color="k", lw=1, label=label)
    ax.axhline(s15, color=plotting.THEORY_COLOR, lw=1, ls=(0, (1, 1)), label="paper Eq. (15) asymptote")
    ax.axvspan(result.params["c_min"], result.params["c_max"], color="0.9", zorder=-1,
               label="range of the SGD thresholds")
    ax.set(xscale="log", xlabel="$c = L/L(\\theta^*)$", ylabel="local slope (SDE quadratures)",
           ylim=(0, 1.5 * s15))
    ax.legend(loc="lower right")
    ax = axes[2]
    half = result.tables["n_half"]
    for i, d in enumerate(sorted({r["d"] for r in half})):
        rows = [r for r in half if r["d"] == d and not r["flagged"]]
        c = np.array([r["c"] for r in rows])
        t = np.array([r["t_p"] for r in rows])
        ax.errorbar(c, t, yerr=[r["t_p_stderr"] for r in rows], fmt="o", ms=3, color=f"C{i}",
                    label=f"online SGD, d={d}")
        allr = [r for r in half if r["d"] == d]
        ax.plot([r["c"] for r in allr], [r["t_sde_exact"] for r in allr], "-.", color=f"C{i}", lw=1)
        ax.plot([r["c"] for r in allr], [r["t_sde_paper"] for r in allr], "--", color=f"C{i}", lw=1)
    ax.plot([], [], "-.", color="k", lw=1, label="SDE, exact noise")
    ax.plot([], [], "--", color="k", lw=1, label="SDE, decoupled noise")
    ax.set(xscale="log", yscale="log", xlabel="$c = L/L(\\theta^*)$", ylabel="$t_p$ (SGD steps)")

    ax.legend(loc="upper left")
    fig = plotting.stamp(fig, result)
    hc = sorted({r["c"] for r in half})
    ax.set_xticks(hc, [f"{v:.3g}" for v in hc])
    ax.set_xticks([], minor=True)
    ax.xaxis.set_minor_formatter(NullFormatter())
    a0 = axes[0]
    ticks = [t for t in (1.1, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0) if t <= result.params["c_max"] * 1.05]
    a0.set_xticks(ticks, [f"{t:g}" for t in ticks])
    a0.set_xticks([], minor=True)
    return fig
