"""Figure of ``gradient-noise-scale`` (beyond the paper)."""

from __future__ import annotations

import numpy as np

from ...experiments.result import Result
from .. import plotting
from . import draws
from ._first_passage import errorbar_log


@draws("gradient-noise-scale", "gradient-noise-scale-half-eta", "gradient-noise-scale-epoch")
def plot(result: Result):
    """(a) L, 𝒩 and ‖∇L‖² against epoch; (b) B_simple exact against the two-batch estimates."""
    a = result.arrays
    fig, axes = plotting.figure(ncols=2, width=3.4)
    e = a["epochs"]
    m = e > 0
    axes[0].plot(e[m], a["L"][m], label="$L$")
    axes[0].plot(e[m], a["noise"][m], label=r"$\mathcal{N}=\mathrm{tr}\,\Sigma_1$")
    axes[0].plot(e[m], a["grad_sq"][m], label=r"$\|\nabla L\|^2$")
    axes[0].set(xscale="log", yscale="log", xlabel="epoch", ylabel="value")
    axes[0].legend()
    axes[1].plot(e[m], a["noise"][m] / a["grad_sq"][m], color="C0",
                 label=r"exact $B_{\rm simple}=\mathcal{N}/\|\nabla L\|^2$")
    if "b_simple_predicted" in a:  # the plateau 2B tr H/(ηc tr H²) where the traces were taken
        bp = np.asarray(a["b_simple_predicted"], dtype=float)
        ok = m & np.isfinite(bp)
        axes[1].plot(e[ok], bp[ok], color=plotting.THEORY_COLOR, ls="--", lw=1.2,
                     label=r"plateau $B^*=2B\,\mathrm{tr}H/(\eta c\,\mathrm{tr}H^2)$")
    rows = result.tables["checkpoints"]
    ce = np.array([r["epoch"] for r in rows], dtype=float)
    for key, shift, kw in (("two_batch", 1.0, dict(fmt="o", color="C3",
                                                   label="two-batch, $c_B=(N-B)/(B(N-1))$")),
                           ("one_over_B", 1.08, dict(fmt="s", mfc="none", color="C2",
                                                     label="two-batch, $c_B=1/B$"))):
        # a negative estimate has no place on the log axis, nor has its error bar, whose
        # upper arm alone would look like a resolved value
        v = np.array([r[key] for r in rows], dtype=float)
        se = np.array([r[f"{key}_se"] for r in rows], dtype=float)
        pos = v > 0
        # (with no point left it is still named in the legend)
        errorbar_log(axes[1], ce[pos] * shift, v[pos], se[pos], ms=4, capsize=2, **kw)
    axes[1].set(xscale="log", yscale="log", xlabel="epoch", ylabel=r"$B_{\rm simple}$")
    # above the panel: late in training the estimates' error bars span the whole axis, and a
    # legend pushed out to the right would squeeze both panels
    axes[1].legend(loc="lower left", bbox_to_anchor=(0, 1.02), borderaxespad=0)
    return plotting.stamp(fig, result)
