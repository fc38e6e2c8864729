"""Figure of ``critical-dimension`` (Eq. 16, R12): median log-loss curves and growth rates
against d, with the Lyapunov exponent of discrete SGD and the SDE's drift."""

from __future__ import annotations

import matplotlib as mpl
import numpy as np

from ...experiments.result import Result
from ...theory import lyapunov_exponent, lyapunov_exponent_sphere
from .. import plotting
from . import draws


@draws("critical-dimension")
def plot(result: Result):
    fig, axes = plotting.figure(ncols=2, width=5.2, height=3.9)
    ax = axes[0]
    k = result.arrays["steps"]
    B = result.params["B"]
    ds = result.params["ds"]
    shades = mpl.colormaps["viridis"](np.linspace(0, 0.9, len(ds)))  # one colour per d, in order
    main = {r["d"]: curve for r, curve in zip(result.tables["critical"], result.arrays["median_log_ratio"])
            if r["data"] == "gaussian" and r["B"] == B}
    for shade, d in zip(shades, ds):
        ax.plot(k, main[d] / np.log(10), color=shade, label=f"d={d}")
    ax.set(xlabel="step $k$", ylabel="median $\\log_{10}[L(\\theta_k)/L(\\theta^*)]$")
    ax.legend(title=f"B={B}, η={result.params['eta']}", ncol=3)
    ax = axes[1]
    rows = result.tables["critical"]
    for j, (Bv, eta) in enumerate(sorted({(r["B"], r["eta"]) for r in rows if r["data"] == "gaussian"})):
        rr = [r for r in rows if r["B"] == Bv and r["data"] == "gaussian" and np.isfinite(r["growth_rate"])]
        ax.errorbar([r["d"] for r in rr], [r["growth_rate"] for r in rr],
                    yerr=[r["growth_rate_stderr"] for r in rr], fmt="o", ms=3.5, color=f"C{j}",
                    label=f"SGD, Gaussian x, B={Bv}, η={eta}")
        dd = np.linspace(min(r["d"] for r in rr), max(r["d"] for r in rr), 25)
        ax.plot(dd, [2 * lyapunov_exponent(eta=eta, B=Bv, d=x) for x in dd], "-", color=f"C{j}",
                lw=1, label=f"2λ, Lyapunov (Gaussian, B={Bv})")
        ax.plot(dd, eta**2 * (dd - 2 * (Bv / eta + 1)) / Bv, "--", color=f"C{j}", lw=1,
                label=f"SDE drift, any x with H = I (B={Bv})")
    sp = [r for r in rows if r["data"] == "sphere" and np.isfinite(r["growth_rate"])]
    if sp:
        ax.errorbar([r["d"] for r in sp], [r["growth_rate"] for r in sp],
                    yerr=[r["growth_rate_stderr"] for r in sp], fmt="s", ms=4, mfc="none",
                    color="C2", label=f"SGD, sphere |x|² = d, B=1, η={sp[0]['eta']}")
        dd = np.linspace(min(r["d"] for r in sp), max(r["d"] for r in sp), 25)
        ax.plot(dd, [2 * lyapunov_exponent_sphere(eta=sp[0]["eta"], d=x) for x in dd], ":",
                color="C2", lw=1.2, label="2λ, Lyapunov (sphere)")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set(xlabel="dimension $d$", ylabel="growth of median $\\log L$ per step")
    ax.legend()
    return plotting.stamp(fig, result)
