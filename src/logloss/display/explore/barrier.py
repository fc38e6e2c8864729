"""Explorer of the barrier chapter: five escape laws against ΔL/L(θ*) as σ², η and B move."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import theory
from .. import plotting
from ._widgets import HIGHLIGHT_COLOR, MEASURED_COLOR, explorer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["barrier_data", "draw_barrier", "barrier_grid", "barrier_explorer"]

_LAWS = (
    ("eq15", dict(ls="-", lw=1.8), "paper Eq. (15), h = noise curvature"),
    ("eq15_hessian", dict(ls="-.", lw=1.1), "paper Eq. (15), h = true Hessian"),
    ("arrhenius_min", dict(ls="--", lw=1.1), "Arrhenius, noise at θ*"),
    ("arrhenius_const", dict(ls=":", lw=1.4), "Arrhenius, loss-independent"),
    ("xss", dict(ls=(0, (1, 3)), lw=1.2, color="0.45"), "Xie et al. (2021)"),
    ("affine", dict(ls=(0, (6, 2)), lw=1.0, color="0.45"), "affine noise αL + β"),
)


def barrier_data(landscape: Mapping[str, float], *, eta: float, B: int, sigma2: float,
                 measured: Mapping[str, Any] | None = None, points: int = 120) -> dict[str, Any]:
    """The five laws of :func:`logloss.theory.barrier_escape_laws` for both saddles of the
    barrier landscape (rates added), on a grid of σ², and the value at ``sigma2``.

    Parameters
    ----------
    landscape : mapping
        A row of the ``barrier`` experiment's ``landscape`` table (L_star at σ² = 0,
        dL_lo/hi, h_star, h_saddle_lo/hi, h_noise, affine_alpha/beta_lo/hi).
    eta, B : float, int
        Learning rate and minibatch size (keyword-only).
    sigma2 : float
        The label-noise variance to highlight: L(θ*) = L₀* + σ²/2.
    measured : mapping, optional
        Keys ``dL_over_L``, ``t`` (steps) and ``stderr``; shown only when ``eta`` and
        ``B`` equal the measurement's (keys ``eta`` and ``B``).

    Returns
    -------
    dict
        ``x`` (ΔL/L* on the grid), ``t_<law>`` (steps), ``here`` (law → value at
        ``sigma2``), ``x_here`` and, when they apply, the measured points.
    """
    if not sigma2 >= 0:
        raise ValueError(f"σ² must be >= 0, got {sigma2!r}")
    lr = landscape
    L0 = lr["L_star"] - 0.5 * lr.get("sigma2", 0.0)
    s2 = np.concatenate([[0.0], np.geomspace(1e-3, 200.0, points)])
    s2 = np.union1d(s2, [sigma2])
    L = L0 + 0.5 * s2
    rates: dict[str, np.ndarray] = {}
    for side in ("lo", "hi"):
        t = theory.barrier_escape_laws(L, eta=eta, B=B, dL=lr[f"dL_{side}"], h_star=lr["h_star"],
                                       h_saddle=lr[f"h_saddle_{side}"], h_noise=lr["h_noise"],
                                       L_ref=L0, alpha=lr.get(f"affine_alpha_{side}", 1.0),
                                       beta=lr.get(f"affine_beta_{side}", 0.0))
        for k, v in t.items():
            rates[k] = rates.get(k, 0.0) + 1.0 / v
    dL = 0.5 * (lr["dL_lo"] + lr["dL_hi"])
    out: dict[str, Any] = {"params": {"eta": float(eta), "B": int(B), "sigma2": float(sigma2)},
                           "x": dL / L, "exponent": B / (eta * lr["h_noise"]) + 0.5}
    i = int(np.searchsorted(s2, sigma2))
    out["x_here"] = float(dL / L[i])
    out["here"] = {}
    for k, r in rates.items():
        out[f"t_{k}"] = 1.0 / r
        out["here"][k] = float(1.0 / r[i])
    if measured is not None and math.isclose(float(measured.get("eta", np.nan)), eta) \
            and int(measured.get("B", -1)) == B:
        out["measured_x"] = np.asarray(measured["dL_over_L"], float)
        out["measured_t"] = np.asarray(measured["t"], float)
        out["measured_stderr"] = np.asarray(measured.get("stderr", np.zeros_like(out["measured_t"])), float)
    return out


def draw_barrier(data: Mapping[str, Any], axes: Sequence[Axes], *, legend: bool = True) -> None:
    """Draw :func:`barrier_data` into ``axes[0]`` (log–log, time against ΔL/L*)."""
    ax = axes[0]
    for key, st, label in _LAWS:
        ax.plot(data["x"], data[f"t_{key}"], label=label, **{"color": plotting.THEORY_COLOR, **st})
    ax.plot([data["x_here"]] * len(data["here"]), list(data["here"].values()), "o", ms=4,
            color=HIGHLIGHT_COLOR, label="chosen σ²", zorder=4)
    if "measured_x" in data:
        ax.errorbar(data["measured_x"], data["measured_t"], yerr=2 * data["measured_stderr"],
                    fmt="s", ms=3.5, color=MEASURED_COLOR, label="measured SGD (±2 s.e.)", zorder=5)
    p = data["params"]
    lo = min(np.min(data["t_eq15"]), np.min(data["t_affine"]))
    hi = max(np.max(data["t_eq15"]), 1e3 * lo)
    ax.set(xscale="log", yscale="log", ylim=(lo / 3, hi * 100),
           xlabel=r"$\Delta L/L(\theta^*)$", ylabel="escape time (steps)")
    ax.text(0.02, 0.98, f"η = {p['eta']:.3g}, B = {p['B']}, σ² = {p['sigma2']:.3g}\n"
            f"paper Eq. (15) slope in c: {data['exponent']:.3g}", transform=ax.transAxes,
            va="top", fontsize=7.5)
    if legend:
        ax.legend(loc="lower right")


def barrier_grid(landscape: Mapping[str, float], etas: Sequence[float] = (0.01, 0.02, 0.04),
                 Bs: Sequence[int] = (1, 4), *, sigma2: float = 4.0,
                 measured: Mapping[str, Any] | None = None) -> Figure:
    """Small multiples of :func:`barrier_data`, one panel per (B, η), each labelled with its
    values, laid out by :func:`logloss.display.plotting.grid` (at most two a row); the
    measurement in its panel."""
    fig, axes = plotting.grid(len(Bs), len(etas), height=2.6)
    for i, B in enumerate(Bs):
        for j, eta in enumerate(etas):
            draw_barrier(barrier_data(landscape, eta=eta, B=B, sigma2=sigma2, measured=measured),
                         [axes[i][j]], legend=(i == 0 and j == 0))
    plotting.outer_labels(axes)
    return plotting.corner_text(fig, "logloss · explorer grid · barrier laws")


def barrier_explorer(landscape: Mapping[str, float], measured: Mapping[str, Any] | None = None,
                     *, eta: float = 0.02, B: int = 1, sigma2: float = 4.0):
    """Sliders for σ², η and B over :func:`barrier_data`; returns an ipywidgets ``VBox``."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    controls = {
        "sigma2": w.FloatLogSlider(value=max(sigma2, 1e-3), base=10, min=-3, max=2.3, step=0.05,
                                   description="σ²", style=style, readout_format=".3g"),
        "eta": w.FloatLogSlider(value=eta, base=10, min=-3, max=-0.5, step=0.05, description="η",
                                style=style, readout_format=".3g"),
        "B": w.IntSlider(value=B, min=1, max=32, description="B", style=style),
    }
    return explorer(controls, lambda **v: barrier_data(landscape, **v, measured=measured),
                    draw_barrier, ncols=1)
