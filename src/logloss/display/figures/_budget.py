"""The error-budget figure shared by ``error-budget`` and ``error-budget-linreg``: every
layer's escape time divided by discrete SGD, one colour per case."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .. import plotting

#: The simulated layers carry error bars (the others are exact or closed forms).
_SIMULATED = ("sgd", "sde_em")


def budget_figure(result, layers: Sequence[str], labels: Mapping[str, str],
                  case_label: Callable[[dict], str]):
    """Markers per case at each layer, ± 2 s.e. for the simulated ones (log y)."""
    fig, axes = plotting.figure(ncols=1, width=5.4, height=3.4)
    ax = axes[0]
    rows = result.tables["budget"]
    pos = np.arange(len(layers))
    for i, r in enumerate(rows):
        ratio = np.array([r[k] / r["sgd"] for k in layers])
        err = np.array([r[f"{k}_stderr"] / r["sgd"] if k in _SIMULATED else 0.0 for k in layers])
        ax.errorbar(pos + 0.12 * (i - (len(rows) - 1) / 2), ratio,
                    yerr=np.minimum(2 * err, 0.9 * ratio), fmt="o", ms=4, color=f"C{i}",
                    label=case_label(r))
    ax.axhline(1, color="0.6", lw=0.8)
    ax.set_xticks(pos, [labels[k] for k in layers], rotation=35, ha="right", fontsize=7)
    ax.set(yscale="log", ylabel="escape time / discrete SGD")
    ax.legend()
    return plotting.stamp(fig, result)
