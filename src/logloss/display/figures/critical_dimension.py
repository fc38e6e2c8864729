"""Figure of ``critical-dimension`` (Eq. 16)."""

from __future__ import annotations

import numpy as np

from ...experiments._registry import Result
from .. import plotting
from . import draws


@draws("critical-dimension")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.4)
    ax = axes[0]
    k = result.arrays["steps"]
    for i, d in enumerate(result.params["ds"]):
        ax.plot(k, result.arrays[f"median_log_ratio_d{d}"] / np.log(10), color=f"C{i}",
                label=f"d={d}")
    ax.set(xlabel="step $k$", ylabel="median $\\log_{10}[L(\\theta_k)/L(\\theta^*)]$")
    ax.legend(title=f"$n_c$={result.theory['n_c']:.3g}", ncol=2)
    return plotting.stamp(fig, result)
