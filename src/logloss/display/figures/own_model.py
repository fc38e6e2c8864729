"""Figure of ``own-model``: 𝒩 and L along training, 𝒩 against L, B_simple, first passage."""

from __future__ import annotations

import numpy as np

from .. import plotting
from . import draws
from ._first_passage import errorbar_log


def _ticks_on_a_short_log_axis(axis, values) -> None:
    """Four labelled ticks (two significant digits) on a log axis spanning less than half
    a decade, where a short run of the model may leave a single labelled tick."""
    lo, hi = float(np.min(values)), float(np.max(values))
    if not (lo > 0 and hi / lo < 10**0.5):
        return
    ticks = np.unique([float(f"{v:.2g}") for v in np.geomspace(lo, hi, 4)])
    axis.set_ticks(ticks, [f"{v:g}" for v in ticks])
    axis.set_ticks([], minor=True)


@draws("own-model")
def plot(result):
    a = result.arrays
    fig, axes = plotting.panels(4, height=2.7)
    steps = np.maximum(a["step"], 1)
    ax = axes[0]
    ax.plot(steps, a["L"], "o-", ms=3, label="loss $L$")
    ax.plot(steps, a["noise"], "s--", ms=3, label=r"noise strength $\mathcal{N}$")
    ax.set(xscale="log", yscale="log", xlabel="SGD step (log; step 0 at 1)", ylabel=r"$L$, $\mathcal{N}$")
    ax.legend(loc="lower left")
    ax = axes[1]
    ax.plot(a["L"], a["noise"], "o-", ms=3, label="training run")
    Lg = np.geomspace(a["L"].min(), a["L"].max(), 20)
    i = int(np.argmin(a["L"]))
    ax.plot(Lg, a["noise"][i] * Lg / a["L"][i], color=plotting.THEORY_COLOR, ls="--",
            label=r"$\mathcal{N}\propto L$")
    ax.plot(Lg, a["noise"][i] * (Lg / a["L"][i]) ** 2, color=plotting.THEORY_COLOR, ls=":",
            label=r"$\mathcal{N}\propto L^2$")
    ax.set(xscale="log", yscale="log", xlabel="loss $L$", ylabel=r"$\mathcal{N}$")
    _ticks_on_a_short_log_axis(ax.xaxis, a["L"])
    ax.legend(loc="upper left")
    ax = axes[2]
    ax.plot(steps, a["noise_scale"], "o-", ms=3, color="C2")
    ax.set(xscale="log", yscale="log", xlabel="SGD step (log)",
           ylabel=r"$B_{\rm simple}=\mathcal{N}/\|\nabla L\|^2$ (samples)")
    ax = axes[3]
    rows = result.tables["first_passage"]
    c = np.array([r["c"] for r in rows])
    t = np.array([r["t_p"] for r in rows], dtype=float)
    se = np.array([r["t_p_stderr"] for r in rows], dtype=float)
    cens = np.array([r["censored"] for r in rows])
    full = np.isfinite(t) & (cens == 0)
    part = np.isfinite(t) & (cens > 0)
    ax.set(xlabel=r"$c = L_{\rm threshold}/L(\theta^*)$", ylabel="mean first-passage time (steps)")
    if not (full | part).any():
        ax.text(0.5, 0.5, "no replica crossed\nwithin the budget", ha="center", va="center",
                transform=ax.transAxes)
        return plotting.stamp(fig, result)
    errorbar_log(ax, c[full], t[full], se[full], fmt="o", ms=4, label="all replicas crossed")
    errorbar_log(ax, c[part], t[part], se[part], fmt="^", ms=6, mfc="white", mew=1.3,
                 label="some censored (exponential MLE)")
    ax.set(xscale="log", yscale="log")
    ax.margins(x=0.12)  # no point on the frame, where the legend could hide it
    shown = c[full | part]
    ax.set_xticks(shown, [f"{v:g}" for v in shown])  # a few thresholds within one decade
    ax.set_xticks([], minor=True)
    # above the panel: inside, it can cover a point, and pushed out to the right it would
    # narrow every panel of the row
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0)
    return plotting.stamp(fig, result)
