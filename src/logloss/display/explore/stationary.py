"""Explorer of the stationary chapter: SGD's stationary law against P_s ∝ L^(−φ) (Eq. 17).

Symbols as in the paper: η learning rate, B minibatch size, h* the top Hessian eigenvalue,
d the dimension, φ = 1 + B/(ηh*).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ... import theory
from ...core.errors import SGDDiverged
from ...dynamics.linreg_sgd import sgd_linreg
from ...models.linreg import make_linear_regression
from .. import plotting
from ._widgets import HIGHLIGHT_COLOR, MEASURED_COLOR, explorer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["stationary_data", "draw_stationary", "stationary_grid", "stationary_explorer"]


def _phi_discrete(X: np.ndarray, y: np.ndarray, *, eta: float, B: int) -> float | None:
    """The finite-η φ of discrete SGD on this dataset (:func:`logloss.theory.phi_discrete`);
    None where the second moment diverges."""
    value = theory.phi_discrete(X, y, eta=eta, B=B)
    return value if math.isfinite(value) and value > 1 + X.shape[1] / 2 else None


def stationary_data(*, B: int, eta: float, d: int = 1, seed: int = 0, N: int = 2000,
                    replicas: int = 256, records: int = 16, bins: int = 41,
                    work: float = 5e6) -> dict[str, Any]:
    """Simulate SGD on a small linear regression and histogram its stationary law.

    A fresh dataset (x, y i.i.d. N(0, 1), :func:`logloss.models.linreg.make_linear_regression`)
    is drawn from ``seed``; ``replicas`` SGD runs start at θ*, burn in for ⌈5/(ηh*)⌉
    steps and are then sampled every ⌈1/(ηh*)⌉ steps ``records`` times
    (:func:`logloss.sgd_linreg`).  h* = tr(H)/d (:attr:`LinearRegression.h_star`) and
    u₁ is the projection of u = θ − θ* on the top eigenvector of H = XᵀX/N.

    Parameters
    ----------
    B : int
        Minibatch size.
    eta : float
        Learning rate η.
    d : int
        Dimension d (= effective dimension n of this quadratic minimum).
    seed : int
        Seeds both the dataset and the SGD replicas.
    N, replicas, records, bins : int
        Size of the simulation and of the histograms.
    work : float
        Budget of replicas × steps × B × d; ``replicas`` is lowered (not below 64) to stay
        within it, so that small η with large B and d still updates in well under a second.

    Returns
    -------
    dict
        ``params``; ``h_star``, ``L_star``; ``phi`` (continuous, Eq. 17), ``phi_discrete``
        (finite η: :func:`logloss.theory.phi_discrete` on this dataset, the φ whose law
        L^(−φ) has the exact second moment of discrete SGD), ``n_c``;
        ``u_edges``, ``u_density`` (histogram of u₁, normalised by all samples),
        ``u_std``; ``u_grid``, ``u_theory``, ``u_theory_discrete`` (marginal of
        P ∝ L^(−φ), see :func:`_u_marginal_pdf`); ``x_edges``, ``x_density`` (histogram of
        x = L/L* − 1 on log bins), ``x_grid``, ``x_theory``, ``x_theory_discrete``
        (beta-prime law, tail x^(d/2 − 1 − φ)); ``diverged`` and ``message``.

    Notes
    -----
    The continuous theory (Eq. 17) is the η/B → 0 limit; at larger η the simulated tails
    are heavier than L^(−φ) predicts, which is what the discrete-time φ corrects.
    """
    rng = np.random.default_rng(seed)
    prob = make_linear_regression(N, d, rng)
    v1 = np.linalg.eigh(prob.hessian)[1][:, -1]  # the stiffest direction
    h_star = prob.h_star
    L_star = prob.L_star
    rate = eta * h_star
    burn_in = math.ceil(5.0 / rate)
    record_every = math.ceil(1.0 / rate)
    n_burn = math.ceil(burn_in / record_every)
    steps = (n_burn + records) * record_every
    replicas = int(max(min(replicas, work // (steps * B * d)), min(replicas, 64)))
    phi = theory.phi(eta=eta, B=B, h=h_star)
    phi_d = _phi_discrete(prob.X, prob.y, eta=eta, B=B)
    out: dict[str, Any] = {
        "params": {"B": int(B), "eta": float(eta), "d": int(d), "seed": int(seed), "N": int(N),
                   "replicas": int(replicas), "steps": int(steps),
                   "burn_in": int(n_burn * record_every), "record_every": int(record_every)},
        "h_star": h_star, "L_star": L_star, "phi": phi, "phi_discrete": phi_d,
        "n_c": theory.critical_dimension(B=B, eta=eta, h=h_star),
        "diverged": False, "message": "",
    }
    try:
        run = sgd_linreg(prob, eta=eta, B=B, steps=steps, replicas=replicas, seed=seed,
                         record_every=record_every)
    except SGDDiverged as err:
        out.update(diverged=True, message=str(err))
        return out
    u = run.samples[n_burn:].reshape(-1, d) - prob.theta_star
    u1 = u @ v1
    x = 0.5 * np.einsum("si,ij,sj->s", u, prob.hessian, u) / L_star
    n_s = u1.size
    # u₁: symmetric bins out to the 99.9 % quantile of |u₁|; density over *all* samples
    q = float(np.quantile(np.abs(u1), 0.999))
    u_edges = np.linspace(-q, q, bins + 1)
    counts, _ = np.histogram(u1, u_edges)
    u_density = counts / (n_s * np.diff(u_edges))
    u_grid = np.linspace(-q, q, 301)
    # x = L/L* − 1: log bins over the bulk and the tail
    xpos = x[x > 0]
    lo, hi = np.quantile(xpos, [0.001, 1.0])
    x_edges = np.geomspace(max(lo, 1e-6), hi * 1.0001, bins + 1)
    xc, _ = np.histogram(x, x_edges)
    x_density = xc / (n_s * np.diff(x_edges))
    x_grid = np.geomspace(x_edges[0], x_edges[-1], 301)
    out.update(
        u_edges=u_edges, u_density=u_density, u_std=float(np.std(u1)),
        u_grid=u_grid, u_theory=theory.marginal_pdf(u_grid, phi=phi, d=d, h=h_star, L_star=L_star),
        u_theory_discrete=(None if phi_d is None
                           else theory.marginal_pdf(u_grid, phi=phi_d, d=d, h=h_star, L_star=L_star)),
        x_edges=x_edges, x_density=x_density, x_grid=x_grid,
        x_theory=theory.excess_loss_pdf(x_grid, phi=phi, d=d),
        x_theory_discrete=None if phi_d is None else theory.excess_loss_pdf(x_grid, phi=phi_d, d=d),
        samples=int(n_s),
    )
    return out


def _draw_hist(ax: Axes, edges: np.ndarray, density: np.ndarray, label: str) -> None:
    ax.stairs(np.where(density > 0, density, np.nan), edges, color=MEASURED_COLOR,
              fill=True, alpha=0.35, label=label)


def draw_stationary(data: Mapping[str, Any], axes: Sequence[Axes], *, legend: bool = True,
                    annotate: bool = True) -> None:
    """Draw :func:`stationary_data` into one or two axes.

    ``axes[0]``: density of u₁ (log y) with the theory marginals; ``axes[1]`` (if given):
    density of L/L* − 1 on log–log axes, where L^(−φ) is a straight line in the tail.
    """
    p = data["params"]
    ax = axes[0]
    if data["diverged"]:
        for a in axes:
            a.text(0.5, 0.5, "SGD diverged at this η:\nlower η or raise B", ha="center",
                   va="center", transform=a.transAxes, color=HIGHLIGHT_COLOR)
        return
    phi, phi_d = data["phi"], data["phi_discrete"]
    _draw_hist(ax, data["u_edges"], data["u_density"], f"SGD, {data['samples']} samples")
    if data["u_theory"] is not None:
        ax.plot(data["u_grid"], data["u_theory"], color=plotting.THEORY_COLOR,
                label=f"$L^{{-\\varphi}}$, $\\varphi$ = {phi:.3g} (continuous)")
    if data["u_theory_discrete"] is not None:
        ax.plot(data["u_grid"], data["u_theory_discrete"], color=plotting.THEORY_COLOR, ls="--",
                label=f"$\\varphi$ = {phi_d:.3g} (discrete time)")
    ax.set_yscale("log")
    ax.set_xlabel(r"$u_1 = v_1^\top(\theta-\theta^*)$ (parameter units)")
    ax.set_ylabel("probability density")
    pos = data["u_density"][data["u_density"] > 0]
    if pos.size:  # headroom above the peak for the text and the legend
        ax.set_ylim(pos.min() / 3, pos.max() * (300 if legend or annotate else 3))
    if annotate:
        ax.text(0.02, 0.98, f"η = {p['eta']:.3g}, B = {p['B']}, d = {p['d']}\n"
                f"$h^*$ = {data['h_star']:.3f}, $n_c$ = {data['n_c']:.3g}",
                transform=ax.transAxes, va="top", fontsize=7.5)
    if legend:
        ax.legend(loc="upper right")
    if len(axes) > 1:
        ax = axes[1]
        _draw_hist(ax, data["x_edges"], data["x_density"], "SGD")
        if data["x_theory"] is not None:
            ax.plot(data["x_grid"], data["x_theory"], color=plotting.THEORY_COLOR,
                    label=f"$L^{{-\\varphi}}$ law, tail slope {p['d'] / 2 - 1 - phi:.3g}")
        if data["x_theory_discrete"] is not None:
            ax.plot(data["x_grid"], data["x_theory_discrete"], color=plotting.THEORY_COLOR,
                    ls="--", label="discrete-time φ")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"excess loss ratio $L/L^* - 1$")
        ax.set_ylabel("probability density")
        pos = data["x_density"][data["x_density"] > 0]
        if pos.size:
            ax.set_ylim(pos.min() / 3, pos.max() * 3)
        if legend:
            ax.legend(loc="lower left")


def stationary_grid(etas: Sequence[float] = (0.02, 0.1, 0.5), Bs: Sequence[int] = (1, 4, 16), *,
                    d: int = 1, seed: int = 0, view: str = "loss", **kwargs) -> Figure:
    """Small multiples of :func:`stationary_data`: rows B, columns η (the static explorer).

    ``view="loss"`` shows the density of L/L* − 1 on log–log axes (the power law as a
    line), ``view="u"`` the density of u₁ on a log scale.  ``kwargs`` go to
    :func:`stationary_data`.
    """
    if view not in {"loss", "u"}:
        raise ValueError(f"view must be 'loss' or 'u', got {view!r}")
    fig, axes = plotting.grid(len(Bs), len(etas), height=2.3)
    for i, B in enumerate(Bs):
        for j, eta in enumerate(etas):
            ax = axes[i][j]
            data = stationary_data(B=B, eta=eta, d=d, seed=seed, **kwargs)
            if view == "u":
                draw_stationary(data, [ax], legend=False, annotate=False)
            else:
                draw_stationary(data, [_Dummy(), ax], legend=False, annotate=False)
            txt = f"η={eta:g}, B={B}\nφ={data['phi']:.3g}"
            if data["phi_discrete"] is not None:
                txt += f", $φ_d$={data['phi_discrete']:.3g}"
            ax.text(0.97, 0.97, txt, transform=ax.transAxes, ha="right", va="top")
    plotting.outer_labels(axes)
    return plotting.corner_text(fig, f"logloss · explorer grid · stationary law · d={d} · seed={seed}")


class _Dummy:
    """An axes stand-in that swallows every call (to draw only the second panel)."""

    transAxes = None

    def __getattr__(self, name):
        return lambda *_a, **_k: None



def stationary_explorer(*, B: int = 4, eta: float = 0.1, d: int = 1, seed: int = 0, **kwargs):
    """Sliders for B, η, d and the seed; a fresh small SGD simulation on every change.

    Shows :func:`stationary_data` drawn by :func:`draw_stationary`.  ``kwargs`` go to
    :func:`stationary_data` (``N``, ``replicas``, ``records``, ``bins``).  Returns an
    ipywidgets ``VBox`` (``.explorer_state["data"]`` holds the last figure data).
    """
    import ipywidgets as w

    style = {"description_width": "initial"}
    controls = {
        "B": w.SelectionSlider(options=[1, 2, 4, 8, 16, 32], value=B, description="B",
                               continuous_update=False, style=style),
        "eta": w.FloatLogSlider(value=eta, base=10, min=-2, max=math.log10(0.5), step=0.05,
                                description="η", continuous_update=False, style=style,
                                readout_format=".3g"),
        "d": w.IntSlider(value=d, min=1, max=6, description="d", continuous_update=False,
                         style=style),
        "seed": w.BoundedIntText(value=seed, min=0, max=2**31 - 1, description="seed",
                                 layout=w.Layout(width="140px"), style=style),
    }
    return explorer(controls, lambda B, eta, d, seed: stationary_data(B=B, eta=eta, d=d, seed=seed,
                                                                      **kwargs),
                     draw_stationary)


