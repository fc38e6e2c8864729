"""Explorer of the escape chapter: the power law (Eq. 15) against Arrhenius, and n_c (Eq. 16)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import theory
from ...core.measured import Measured
from .. import plotting
from ._widgets import HIGHLIGHT_COLOR, MEASURED_COLOR, explorer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["escape_data", "draw_escape", "escape_grid", "escape_explorer"]


def escape_data(*, eta: float, B: int, h: float = 1.0, n: float = 1.0, c_max: float = 10.0,
                h_saddle: float | None = None, points: int = 200,
                measured: Mapping[str, Any] | None = None,
                fit_prefactor: bool | None = None) -> dict[str, Any]:
    """Predicted mean escape time t_p against c = L(θˢ)/L(θ*) under three laws.

    * **power law** (Eq. 15): t_p = 1/κ = (2π/√(h*|hˢ|)) · c^(B/(ηh*) + 1 − n/2);
    * **Arrhenius, noise matched at the minimum**: gradient Langevin dynamics
      dθ = −∇L dt + √(2D) dW with D = ηL*h*/B, the SGD diffusion coefficient
      ηL(θ)h*/B along the escape direction (from Σ ≈ 2L H/B, Eq. 9, and t = ηk) frozen at
      θ*.  Kramers: t_p = (2π/√(h*|hˢ|)) · exp(ΔL/D) with ΔL = (c − 1)L*, so
      ΔL/D = (c − 1) B/(ηh*);
    * **Arrhenius, noise matched at the saddle**: the same with D = ηcL*h*/B, so
      ΔL/D = (1 − 1/c) B/(ηh*).

    Since 1 − 1/c ≤ log c ≤ c − 1, the power law (at n = 2) lies between the two
    Arrhenius laws, which depend on the difference ΔL and not on n.  The power law's
    exponent B/(ηh*) + 1 − n/2 vanishes at n = n_c = 2(B/(ηh*) + 1) (Eq. 16).

    Parameters
    ----------
    eta, B, h : float
        η, B, h*.
    n : float
        Effective dimension.
    c_max : float
        Largest c shown (c runs from 1 to c_max on a log grid).
    h_saddle : float, optional
        hˢ (sign ignored); default −h*.  It sets only the prefactor.
    measured : mapping, optional
        The caller's measurements, keys ``c``, ``t_p`` and optionally ``stderr`` (arrays
        of equal length).  t_p in continuous time t = ηk, or in any unit if the
        prefactors are fitted.
    fit_prefactor : bool, optional
        Fit each law's prefactor to the measured points (weighted least squares of
        log t_p), so that the shapes are compared.  Default: True when ``measured`` is given.

    Returns
    -------
    dict
        ``params``, ``c``, ``t_power``, ``t_arrhenius_min``, ``t_arrhenius_saddle``,
        ``exponent``, ``n_c``, ``inv_T`` (= B/(ηh*)), ``prefactor`` (per law),
        ``n_grid`` and ``exponent_vs_n`` (the line through n_c), and with ``measured``:
        ``measured_c``, ``measured_t``, ``measured_stderr``, ``rms_log_residual`` (per law).
    """
    if not c_max > 1:
        raise ValueError(f"largest loss ratio c_max must be > 1, got {c_max!r}")
    hs = -h if h_saddle is None else h_saddle
    if hs == 0:
        raise ValueError("saddle eigenvalue h^s must be nonzero")
    c = np.geomspace(1.0, c_max, points)
    logs = theory.log_escape_time_laws(c, eta=eta, B=B, h=h, n=n)
    base = 2 * np.pi / np.sqrt(h * abs(hs))
    prefactor = {k: base for k in logs}
    out: dict[str, Any] = {
        "params": {"eta": float(eta), "B": int(B), "h": float(h), "n": float(n),
                   "h_saddle": float(hs), "c_max": float(c_max)},
        "c": c,
        "exponent": theory.escape_exponent(B=B, eta=eta, h=h, n=n),
        "n_c": theory.critical_dimension(B=B, eta=eta, h=h),
        "inv_T": 1.0 / theory.temperature(eta=eta, B=B, h=h),
    }
    if measured is not None:
        mc = np.asarray(measured["c"], dtype=float)
        mt = np.asarray(measured["t_p"], dtype=float)
        ms = np.asarray(measured.get("stderr", np.full_like(mt, np.nan)), dtype=float)
        if mc.shape != mt.shape or ms.shape != mt.shape:
            raise ValueError("measured c, t_p and stderr must have the same length")
        ok = (mc >= 1) & (mt > 0) & np.isfinite(mt)
        mc, mt, ms = mc[ok], mt[ok], ms[ok]
        out.update(measured_c=mc, measured_t=mt, measured_stderr=ms)
        if fit_prefactor is None:
            fit_prefactor = True
        # weights 1/σ² of log t_p, σ = stderr/t_p (equal weights unless every point has one)
        rel = ms / mt
        sigma = (np.maximum(rel, 1e-12) if np.all(np.isfinite(rel) & (rel > 0))
                 else np.ones_like(mt))
        mlogs = theory.log_escape_time_laws(mc, eta=eta, B=B, h=h, n=n)
        rms = {}
        for k, lf in mlogs.items():
            if fit_prefactor and mt.size:
                prefactor[k] = float(np.exp(Measured.weighted_mean(np.log(mt) - lf, sigma).value))
            resid = np.log(mt) - np.log(prefactor[k]) - lf
            rms[k] = float(np.sqrt(np.mean(resid**2))) if mt.size else float("nan")
        out["rms_log_residual"] = rms
    out["fit_prefactor"] = bool(fit_prefactor)
    out["prefactor"] = prefactor
    for k, lf in logs.items():
        out[f"t_{k}"] = prefactor[k] * np.exp(lf)
    n_top = max(2.0 * out["n_c"], n + 1.0)
    out["n_grid"] = np.linspace(0.0, n_top, 101)
    out["exponent_vs_n"] = out["inv_T"] + 1.0 - out["n_grid"] / 2.0
    return out


_LAWS = (
    ("power", "-", "power law, paper Eq. (15)"),
    ("arrhenius_min", "--", "Arrhenius, $D$ at $\\theta^*$"),
    ("arrhenius_saddle", ":", "Arrhenius, $D$ at $\\theta^s$"),
)


def draw_escape(data: Mapping[str, Any], axes: Sequence[Axes], *, legend: bool = True) -> None:
    """Draw :func:`escape_data`: ``axes[0]`` t_p against c (log–log); ``axes[1]`` (if
    given) the power-law exponent of c against n, with n_c and the chosen n marked."""
    p = data["params"]
    ax = axes[0]
    for key, ls, label in _LAWS:
        ax.plot(data["c"], data[f"t_{key}"], color=plotting.THEORY_COLOR, ls=ls, label=label)
    if "measured_c" in data and data["measured_c"].size:
        err = data["measured_stderr"]
        ax.errorbar(data["measured_c"], data["measured_t"],
                    yerr=None if not np.all(np.isfinite(err)) else 2 * err, fmt="o", ms=4,
                    color=MEASURED_COLOR, label="measured (±2 s.e.)", zorder=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"loss ratio $c = L(\theta^s)/L(\theta^*)$")
    unit = "fitted units" if data.get("fit_prefactor") else r"$t=\eta k$"
    ax.set_ylabel(f"mean escape time $t_p$ ({unit})")
    top = data["t_power"].max()
    lo = min(data["t_power"].min(), data["t_arrhenius_saddle"].min())
    ax.set_ylim(lo / 2, max(top, data["t_arrhenius_saddle"].max()) * 20)
    ax.text(0.02, 0.98, f"η = {p['eta']:.3g}, B = {p['B']}, $h^*$ = {p['h']:.3g}, n = {p['n']:g}\n"
            f"slope $B/(\\eta h^*)+1-n/2$ = {data['exponent']:.3g}",
            transform=ax.transAxes, va="top", fontsize=7.5)
    if legend:
        ax.legend(loc="lower right")
    if len(axes) > 1:
        ax = axes[1]
        ax.plot(data["n_grid"], data["exponent_vs_n"], color=plotting.THEORY_COLOR,
                label="exponent of $c$ in $t_p$")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(data["n_c"], color=plotting.THEORY_COLOR, ls=":", lw=1)
        ax.annotate(f"$n_c$ = {data['n_c']:.3g}", (data["n_c"], 0), xytext=(4, 8),
                    textcoords="offset points", fontsize=7.5)
        ax.plot([p["n"]], [data["exponent"]], "o", color=HIGHLIGHT_COLOR, label=f"n = {p['n']:g}")
        ax.set_xlabel("effective dimension $n$")
        ax.set_ylabel(r"exponent $B/(\eta h^*)+1-n/2$")
        if legend:
            ax.legend(loc="upper right")


def escape_grid(etas: Sequence[float] = (0.05, 0.1, 0.2), Bs: Sequence[int] = (1, 2), *,
                h: float = 1.0, ns: Sequence[float] = (1, 10, 40), c_max: float = 10.0,
                measured: Mapping[str, Any] | None = None) -> Figure:
    """Small multiples of :func:`escape_data`: rows B, columns η, one curve per n.

    Each panel shows the power law for every n in ``ns`` (one colour and marker each) and the
    two Arrhenius laws (which do not depend on n), with n_c printed.  ``measured`` (keys
    ``c``, ``t_p``, optional ``stderr``, ``eta``, ``B``, ``n``) is overlaid in the panel
    with its η and B, every law's prefactor fitted to it there.
    """
    fig, axes = plotting.grid(len(Bs), len(etas), height=2.5)
    markers = ("o", "s", "^", "D", "v", "P")
    for i, B in enumerate(Bs):
        for j, eta in enumerate(etas):
            ax = axes[i][j]
            here = (measured is not None and math.isclose(float(measured.get("eta", np.nan)), eta)
                    and int(measured.get("B", -1)) == B)
            for k, n in enumerate(ns):
                data = escape_data(eta=eta, B=B, h=h, n=n, c_max=c_max, measured=measured if here else None)
                ax.plot(data["c"], data["t_power"], color=f"C{k}", marker=markers[k % len(markers)],
                        markevery=max(len(data["c"]) // 6, 1), ms=3.5, label=f"power law, n={n:g}")
            n_ref = float(measured.get("n", ns[0])) if here else ns[0]
            data = escape_data(eta=eta, B=B, h=h, n=n_ref, c_max=c_max, measured=measured if here else None)
            ax.plot(data["c"], data["t_arrhenius_min"], color=plotting.THEORY_COLOR, ls="--",
                    lw=1, label="Arrhenius, $D$ at $\\theta^*$")
            ax.plot(data["c"], data["t_arrhenius_saddle"], color=plotting.THEORY_COLOR, ls=":",
                    lw=1, label="Arrhenius, $D$ at $\\theta^s$")
            if here:
                ax.errorbar(data["measured_c"], data["measured_t"], fmt="x", ms=4,
                            color=plotting.THEORY_COLOR, label="measured")
            ax.set_xscale("log")
            ax.set_yscale("log")
            t_all = data["t_power"]
            ax.set_ylim(t_all.min() / 3, data["t_arrhenius_saddle"].max() * 1e3)
            ax.text(0.03, 0.97, f"η={eta:g}, B={B}\n$n_c$={data['n_c']:.3g}",
                    transform=ax.transAxes, va="top", fontsize=7.5)
            ax.set_xlabel(r"$c = L(\theta^s)/L(\theta^*)$")
            ax.set_ylabel(r"$t_p$ ($t=\eta k$)")
    plotting.outer_labels(axes)
    axes[0][0].legend(loc="lower right")
    return plotting.corner_text(fig, f"logloss · explorer grid · escape laws · h*={h:g}")



def escape_explorer(measured: Mapping[str, Any] | None = None, *, eta: float = 0.1, B: int = 1,
                    h: float = 1.0, n: float = 1.0, c_max: float = 10.0):
    """Sliders for η, B, h*, n and the largest c: t_p(c) under the power law and the
    two Arrhenius laws (:func:`escape_data`), and the exponent against n with n_c marked.

    ``measured`` (keys ``c``, ``t_p``, optional ``stderr``) is overlaid with every law's
    prefactor fitted to it.  Returns an ipywidgets ``VBox``.
    """
    import ipywidgets as w

    style = {"description_width": "initial"}
    controls = {
        "eta": w.FloatLogSlider(value=eta, base=10, min=-2.5, max=0, step=0.05, description="η",
                                continuous_update=True, style=style, readout_format=".3g"),
        "B": w.IntSlider(value=B, min=1, max=64, description="B", style=style),
        "h": w.FloatLogSlider(value=h, base=10, min=-1, max=1, step=0.05, description="h*",
                              style=style, readout_format=".3g"),
        "n": w.FloatSlider(value=n, min=0, max=100, step=0.5, description="n", style=style),
        "c_max": w.FloatLogSlider(value=c_max, base=10, min=0.1, max=3, step=0.05,
                                  description="largest c", style=style, readout_format=".3g"),
    }
    return explorer(controls, lambda **v: escape_data(**v, measured=measured), draw_escape)


