"""Interactive explorers for the core chapters, and their static small-multiples twins.

Each explorer has three layers, so that the numbers can be tested without a browser:

* a pure **data function** (:func:`stationary_data`, :func:`escape_data`,
  :func:`noise_data`) that takes the explorer's inputs and returns a ``dict`` of plain
  numbers and numpy arrays, deterministic given an explicit ``seed``;
* a **draw function** (:func:`draw_stationary`, :func:`draw_escape`, :func:`draw_noise`)
  that renders such a dict into given matplotlib axes, theory in
  :data:`logloss.plotting.THEORY_COLOR`;
* a **widget builder** (:func:`stationary_explorer`, :func:`escape_explorer`,
  :func:`noise_explorer`) for JupyterLab: ipywidgets controls and an ``Output`` widget that
  is redrawn in place whenever a control changes;

plus a **static grid** (:func:`stationary_grid`, :func:`escape_grid`, :func:`noise_grid`)
that carries the same information as small multiples for the HTML book, where no
kernel runs the widgets.

Symbols as in the paper: η learning rate, B minibatch size, h* Hessian eigenvalue along
the escape direction at the minimum θ*, hˢ the one at the saddle θˢ, n the effective
dimension, c = L(θˢ)/L(θ*), φ = 1 + B/(ηh*) (Eq. 17), n_c = 2(B/(ηh*) + 1) (Eq. 16).
Continuous time is t = ηk.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special, stats

from . import plotting, theory
from .linreg import make_linear_regression
from .sgd_linreg import sgd_linreg

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "stationary_data",
    "draw_stationary",
    "stationary_grid",
    "stationary_explorer",
    "escape_data",
    "draw_escape",
    "escape_grid",
    "escape_explorer",
    "noise_data",
    "draw_noise",
    "noise_grid",
    "noise_explorer",
    "time_update",
]

MEASURED_COLOR = "#1f5fa8"
HIGHLIGHT_COLOR = "#d1495b"


def _label(fig: Figure, text: str) -> Figure:
    """Write a small grey label in the bottom-right corner (explorer grids are not Results)."""
    engine = fig.get_layout_engine()
    if engine is not None and hasattr(engine, "set"):
        engine.set(rect=(0, 0.045, 1, 0.955))
    fig.text(0.995, 0.005, text, ha="right", va="bottom", fontsize=6.5, color="0.45")
    return fig


# ---------------------------------------------------------------------------------------
# Stationary law, P_s(θ) ∝ L(θ)^(−φ)
# ---------------------------------------------------------------------------------------


def _phi_discrete(X: np.ndarray, y: np.ndarray, eta: float, B: int) -> float | None:
    """The finite-η φ of discrete SGD on this dataset (:func:`logloss.theory.phi_discrete`,
    matched to the exact stationary second moment); None if unavailable or not finite."""
    fn = getattr(theory, "phi_discrete", None)
    if not callable(fn):
        return None
    try:
        value = float(fn(X, y, eta, B))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _u_marginal_pdf(u: np.ndarray, phi: float, d: int, h: float,
                    L_star: float) -> np.ndarray | None:
    """Marginal density of one coordinate u₁ (along a Hessian eigenvector) under P ∝ L^(−φ).

    With L = L* + ½Σ h_j u_j², integrating the other d − 1 coordinates out leaves
    p(u₁) ∝ (1 + h u₁²/(2L*))^(−m), m = φ − (d − 1)/2: a Student-t law with ν = 2m − 1
    degrees of freedom and scale √(2L*/(hν)).  None if it cannot be normalised
    (φ ≤ d/2).
    """
    nu = 2.0 * phi - d
    if not nu > 0:
        return None
    scale = math.sqrt(2.0 * L_star / (h * nu))
    return stats.t.pdf(u / scale, nu) / scale


def _excess_pdf(x: np.ndarray, phi: float, d: int) -> np.ndarray | None:
    """Density of x = L/L* − 1 under P ∝ L^(−φ) with a quadratic L in d dimensions.

    The shell L − L* ∈ [q, q + dq] has volume ∝ q^(d/2 − 1) dq, so
    p(x) = x^(d/2 − 1) (1 + x)^(−φ) / B(d/2, φ − d/2) (a beta-prime law), a power law
    x^(d/2 − 1 − φ) in the tail.  None if φ ≤ d/2 (not normalisable).
    """
    a = d / 2.0
    if not phi > a:
        return None
    return np.exp((a - 1) * np.log(x) - phi * np.log1p(x) - special.betaln(a, phi - a))


def stationary_data(B: int, eta: float, d: int = 1, *, seed: int = 0, N: int = 2000,
                    replicas: int = 256, records: int = 16, bins: int = 41,
                    work: float = 5e6) -> dict[str, Any]:
    """Simulate SGD on a small linear regression and histogram its stationary law.

    A fresh dataset (x, y i.i.d. N(0, 1), :func:`logloss.linreg.make_linear_regression`)
    is drawn from ``seed``; ``replicas`` SGD runs start at θ*, burn in for ⌈5/(ηh*)⌉
    steps and are then sampled every ⌈1/(ηh*)⌉ steps ``records`` times
    (:func:`logloss.sgd_linreg.sgd_linreg`).  h* is the top eigenvalue of H = XᵀX/N and
    u₁ the projection of u = θ − θ* on its eigenvector.

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
    evals, evecs = np.linalg.eigh(prob.hessian)
    h_star, v1 = float(evals[-1]), evecs[:, -1]
    L_star = prob.L_star
    rate = eta * h_star
    burn_in = math.ceil(5.0 / rate)
    record_every = math.ceil(1.0 / rate)
    n_burn = math.ceil(burn_in / record_every)
    steps = (n_burn + records) * record_every
    replicas = int(max(min(replicas, work // (steps * B * d)), min(replicas, 64)))
    phi = theory.phi(eta, B, h_star)
    phi_d = _phi_discrete(prob.X, prob.y, eta, B)
    out: dict[str, Any] = {
        "params": {"B": int(B), "eta": float(eta), "d": int(d), "seed": int(seed), "N": int(N),
                   "replicas": int(replicas), "steps": int(steps),
                   "burn_in": int(n_burn * record_every), "record_every": int(record_every)},
        "h_star": h_star, "L_star": L_star, "phi": phi, "phi_discrete": phi_d,
        "n_c": theory.critical_dimension(B, eta, h_star),
        "diverged": False, "message": "",
    }
    try:
        run = sgd_linreg(prob, eta=eta, B=B, steps=steps, replicas=replicas, seed=seed,
                         record_every=record_every)
    except ValueError as err:
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
        u_grid=u_grid, u_theory=_u_marginal_pdf(u_grid, phi, d, h_star, L_star),
        u_theory_discrete=(None if phi_d is None
                           else _u_marginal_pdf(u_grid, phi_d, d, h_star, L_star)),
        x_edges=x_edges, x_density=x_density, x_grid=x_grid,
        x_theory=_excess_pdf(x_grid, phi, d),
        x_theory_discrete=None if phi_d is None else _excess_pdf(x_grid, phi_d, d),
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
        ax.legend(loc="upper right", fontsize=6.5)
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
            ax.legend(loc="lower left", fontsize=7)


def stationary_grid(etas: Sequence[float] = (0.02, 0.1, 0.5), Bs: Sequence[int] = (1, 4, 16), *,
                    d: int = 1, seed: int = 0, view: str = "loss", **kwargs) -> Figure:
    """Small multiples of :func:`stationary_data`: rows B, columns η (the static explorer).

    ``view="loss"`` shows the density of L/L* − 1 on log–log axes (the power law as a
    line), ``view="u"`` the density of u₁ on a log scale.  ``kwargs`` go to
    :func:`stationary_data`.
    """
    if view not in {"loss", "u"}:
        raise ValueError(f"view must be 'loss' or 'u', got {view!r}")
    fig, axes = plotting.figure(len(etas), len(Bs), width=2.5, height=2.1, sharex=False)
    for i, B in enumerate(Bs):
        for j, eta in enumerate(etas):
            ax = axes[i * len(etas) + j]
            data = stationary_data(B, eta, d, seed=seed, **kwargs)
            if view == "u":
                draw_stationary(data, [ax], legend=False, annotate=False)
            else:
                draw_stationary(data, [_Dummy(), ax], legend=False, annotate=False)
            txt = f"η={eta:g}, B={B}\nφ={data['phi']:.3g}"
            if data["phi_discrete"] is not None:
                txt += f", $φ_d$={data['phi_discrete']:.3g}"
            ax.text(0.97, 0.97, txt, transform=ax.transAxes,
                    ha="right", va="top", fontsize=7.5)
            if i < len(Bs) - 1:
                ax.set_xlabel("")
            if j > 0:
                ax.set_ylabel("")
    return _label(fig, f"logloss · explorer grid · stationary law · d={d} · seed={seed}")


class _Dummy:
    """An axes stand-in that swallows every call (to draw only the second panel)."""

    transAxes = None

    def __getattr__(self, name):
        return lambda *a, **k: None


# ---------------------------------------------------------------------------------------
# Escape: power law (Eq. 15) against Arrhenius
# ---------------------------------------------------------------------------------------


def _log_models(c: np.ndarray, B: float, eta: float, h: float, n: float) -> dict[str, np.ndarray]:
    """log of the c-dependence of the mean escape time t_p under each model."""
    inv_T = 1.0 / theory.temperature(eta, B, h)  # B/(ηh*)
    return {
        "power": theory.escape_exponent(B, eta, h, n) * np.log(c),
        "arrhenius_min": inv_T * (c - 1.0),
        "arrhenius_saddle": inv_T * (1.0 - 1.0 / c),
    }


def escape_data(eta: float, B: int, h: float = 1.0, n: float = 1.0, c_max: float = 10.0, *,
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
    logs = _log_models(c, B, eta, h, n)
    base = 2 * np.pi / np.sqrt(h * abs(hs))
    prefactor = {k: base for k in logs}
    out: dict[str, Any] = {
        "params": {"eta": float(eta), "B": int(B), "h": float(h), "n": float(n),
                   "h_saddle": float(hs), "c_max": float(c_max)},
        "c": c,
        "exponent": theory.escape_exponent(B, eta, h, n),
        "n_c": theory.critical_dimension(B, eta, h),
        "inv_T": 1.0 / theory.temperature(eta, B, h),
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
        # weights 1/σ² of log t_p, σ = stderr/t_p (equal weights if no stderr)
        rel = ms / mt
        w = np.where(np.isfinite(rel) & (rel > 0), 1.0 / np.maximum(rel, 1e-12) ** 2, 1.0)
        if not np.all(np.isfinite(rel) & (rel > 0)):
            w = np.ones_like(mt)
        mlogs = _log_models(mc, B, eta, h, n)
        rms = {}
        for k, lf in mlogs.items():
            if fit_prefactor and mt.size:
                prefactor[k] = float(np.exp(np.sum(w * (np.log(mt) - lf)) / np.sum(w)))
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
    ("power", "-", "power law, Eq. (15)"),
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
        ax.legend(loc="lower right", fontsize=7)
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
            ax.legend(loc="upper right", fontsize=7)


def escape_grid(etas: Sequence[float] = (0.05, 0.1, 0.2), Bs: Sequence[int] = (1, 2), *,
                h: float = 1.0, ns: Sequence[float] = (1, 10, 40), c_max: float = 10.0,
                measured: Mapping[str, Any] | None = None) -> Figure:
    """Small multiples of :func:`escape_data`: rows B, columns η, one curve per n.

    Each panel shows the power law for every n in ``ns`` (darker = smaller n) and the
    two Arrhenius laws (which do not depend on n), with n_c printed.  ``measured`` (keys
    ``c``, ``t_p``, optional ``stderr``, ``eta``, ``B``, ``n``) is overlaid in the panel
    with its η and B, every law's prefactor fitted to it there.
    """
    fig, axes = plotting.figure(len(etas), len(Bs), width=2.5, height=2.2)
    shades = np.linspace(0.0, 0.6, len(ns))
    for i, B in enumerate(Bs):
        for j, eta in enumerate(etas):
            ax = axes[i * len(etas) + j]
            here = (measured is not None and math.isclose(float(measured.get("eta", np.nan)), eta)
                    and int(measured.get("B", -1)) == B)
            for k, n in enumerate(ns):
                data = escape_data(eta, B, h, n, c_max, measured=measured if here else None)
                ax.plot(data["c"], data["t_power"], color=str(shades[k]) if k else
                        plotting.THEORY_COLOR, label=f"power law, n={n:g}")
            n_ref = float(measured.get("n", ns[0])) if here else ns[0]
            data = escape_data(eta, B, h, n_ref, c_max, measured=measured if here else None)
            ax.plot(data["c"], data["t_arrhenius_min"], color=plotting.THEORY_COLOR, ls="--",
                    lw=1, label="Arrhenius, $D$ at $\\theta^*$")
            ax.plot(data["c"], data["t_arrhenius_saddle"], color=plotting.THEORY_COLOR, ls=":",
                    lw=1, label="Arrhenius, $D$ at $\\theta^s$")
            if here:
                ax.errorbar(data["measured_c"], data["measured_t"], fmt="o", ms=3,
                            color=MEASURED_COLOR, label="measured")
            ax.set_xscale("log")
            ax.set_yscale("log")
            t_all = data["t_power"]
            ax.set_ylim(t_all.min() / 3, data["t_arrhenius_saddle"].max() * 1e3)
            ax.text(0.03, 0.97, f"η={eta:g}, B={B}\n$n_c$={data['n_c']:.3g}",
                    transform=ax.transAxes, va="top", fontsize=7.5)
            ax.set_xlabel(r"$c = L(\theta^s)/L(\theta^*)$" if i == len(Bs) - 1 else "")
            ax.set_ylabel(r"$t_p$ ($t=\eta k$)" if j == 0 else "")
    axes[0].legend(loc="lower right", fontsize=6)
    return _label(fig, f"logloss · explorer grid · escape laws · h*={h:g}")


# ---------------------------------------------------------------------------------------
# Noise strength 𝒩 against the loss L
# ---------------------------------------------------------------------------------------

_KEYS = {
    "epoch": ("epoch", "epochs"),
    "loss": ("loss", "L"),
    "noise": ("noise", "N", "𝒩"),
}


def _get(record: Any, field: str) -> np.ndarray:
    if hasattr(record, "arrays") and isinstance(record.arrays, Mapping):
        record = record.arrays  # a logloss Result
    for key in _KEYS[field]:
        if isinstance(record, Mapping):
            if key in record:
                return np.asarray(record[key], dtype=float)
        elif hasattr(record, key):
            return np.asarray(getattr(record, key), dtype=float)
    raise ValueError(f"training history lacks {field!r} (tried keys {_KEYS[field]})")


def _is_record(obj: Any) -> bool:
    if hasattr(obj, "arrays") and isinstance(obj.arrays, Mapping):
        obj = obj.arrays
    if isinstance(obj, Mapping):
        return any(k in obj for k in _KEYS["loss"])
    return hasattr(obj, "loss")


def _order(names) -> list[str]:
    """Loss types with the mean-square loss first (the paper's main case)."""
    return sorted(names, key=lambda k: (k != "mse", k))


def _records(history: Any, run: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Normalise a history to {loss type: {"epoch", "loss", "noise"}}.

    Accepts a mapping of loss type to record, or a single record (taken as ``"mse"``).
    A record is a mapping or an object (for example :class:`logloss.training.TrainingRecord`)
    with epoch(s), loss/L and noise/N arrays, or a :class:`logloss.Result` whose ``arrays``
    hold them.  Loss and noise of shape (runs, epochs) (several seeds) give run ``run``.
    """
    items = {"mse": history} if _is_record(history) else dict(history)
    if not items:
        raise ValueError("training history is empty")
    out = {}
    for name, rec in items.items():
        e, L, N = _get(rec, "epoch"), _get(rec, "loss"), _get(rec, "noise")
        if L.ndim == 2 and N.ndim == 2:
            L, N = L[run], N[run]
        if not (e.shape == L.shape == N.shape) or e.ndim != 1:
            raise ValueError(
                f"history[{name!r}]: epoch, loss and noise must be 1-d of equal length")
        out[str(name)] = {"epoch": e, "loss": L, "noise": N}
    return out


def noise_data(history: Any, loss: str = "mse", index: int = -1) -> dict[str, Any]:
    """𝒩 against L for one loss type, with guides and one highlighted point in training.

    Parameters
    ----------
    history : mapping or record
        ``{"mse": rec, "ce": rec, ...}`` with ``rec`` a mapping (keys ``epoch``/``epochs``,
        ``loss``/``L``, ``noise``/``N``), an object with those attributes such as
        :class:`logloss.training.TrainingRecord`, or a :class:`logloss.Result` of the
        ``noise-strength`` experiment (its ``arrays``; the first seed); or a single record.
    loss : str
        Which loss type to show (a key of ``history``; ``"ce"`` adds a slope-2 guide).
    index : int
        The recorded point to highlight (Python indexing over the recorded epochs).

    Returns
    -------
    dict
        ``loss_types``, ``loss``; ``epoch``, ``L``, ``N`` (recorded points with L, 𝒩 > 0
        and finite); ``index`` (into those), ``point`` (epoch, L, 𝒩);
        ``guide_L``, ``guide_1`` (𝒩 ∝ L, Eq. 6 and Fig. 2) and ``guide_2`` (𝒩 ∝ L², the
        cross-entropy law at small loss, App. D; None for other losses), both through the
        smallest-loss point; ``local_slope`` (d log 𝒩/d log L at the point, from its
        neighbours; NaN at the ends); ``late_slope`` (least-squares slope over the
        lowest-loss third of the points).
    """
    recs = _records(history)
    if loss not in recs:
        raise ValueError(f"loss type {loss!r} not in the history (has {_order(recs)})")
    r = recs[loss]
    ok = np.isfinite(r["loss"]) & np.isfinite(r["noise"]) & (r["loss"] > 0) & (r["noise"] > 0)
    e, L, N = r["epoch"][ok], r["loss"][ok], r["noise"][ok]
    if L.size == 0:
        raise ValueError(f"history[{loss!r}] has no point with L > 0 and 𝒩 > 0")
    m = L.size
    i = int(index)
    if not -m <= i < m:
        raise ValueError(f"epoch index must be in [{-m}, {m}), got {index!r}")
    i %= m
    anchor = int(np.argmin(L))
    guide_L = np.geomspace(L.min(), L.max(), 50)
    lL, lN = np.log(L), np.log(N)
    local = float("nan")
    if 0 < i < m - 1 and lL[i + 1] != lL[i - 1]:
        local = float((lN[i + 1] - lN[i - 1]) / (lL[i + 1] - lL[i - 1]))
    late = float("nan")
    sel = np.argsort(L)[: max(m // 3, 3)]
    if sel.size >= 3 and np.ptp(lL[sel]) > 0:
        late = float(np.polyfit(lL[sel], lN[sel], 1)[0])
    return {
        "loss_types": _order(recs), "loss": loss,
        "epoch": e, "L": L, "N": N, "index": i, "point": (float(e[i]), float(L[i]), float(N[i])),
        "guide_L": guide_L, "guide_1": N[anchor] * (guide_L / L[anchor]),
        "guide_2": N[anchor] * (guide_L / L[anchor]) ** 2 if loss in {"ce", "cross-entropy",
                                                                        "cross_entropy"} else None,
        "local_slope": local, "late_slope": late,
    }


def draw_noise(data: Mapping[str, Any], axes: Sequence[Axes], *, legend: bool = True) -> None:
    """Draw :func:`noise_data`: ``axes[0]`` 𝒩 against L (log–log) with guides and the
    highlighted point; ``axes[1]`` (if given) L and 𝒩 against epoch with the point marked."""
    ax = axes[0]
    e, L, N = data["epoch"], data["L"], data["N"]
    ep, Lp, Np = data["point"]
    ax.plot(L, N, "o-", ms=3, lw=1, color=MEASURED_COLOR, label=f"{data['loss']}: training")
    ax.plot(data["guide_L"], data["guide_1"], color=plotting.THEORY_COLOR, ls="--",
            label=r"$\mathcal{N}\propto L$")
    if data["guide_2"] is not None:
        ax.plot(data["guide_L"], data["guide_2"], color=plotting.THEORY_COLOR, ls=":",
                label=r"$\mathcal{N}\propto L^2$")
    ax.plot([Lp], [Np], "o", ms=8, mfc="none", mew=2, color=HIGHLIGHT_COLOR,
            label=f"epoch {ep:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training loss $L$")
    ax.set_ylabel(r"noise strength $\mathcal{N}$")
    s = data["local_slope"]
    ax.text(0.02, 0.98, f"local slope {s:.2f}" if np.isfinite(s) else "local slope: (end point)",
            transform=ax.transAxes, va="top", fontsize=7.5)
    if legend:
        ax.legend(loc="lower right", fontsize=7)
    if len(axes) > 1:
        ax = axes[1]
        x = np.where(e > 0, e, np.nan) if np.any(e > 0) else e
        ax.plot(x, L, "o-", ms=3, lw=1, color=MEASURED_COLOR, label="$L$")
        ax.plot(x, N, "s-", ms=3, lw=1, color="#2e933c", label=r"$\mathcal{N}$")
        ax.axvline(ep if ep > 0 else np.nanmin(x), color=HIGHLIGHT_COLOR, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch (log scale; epoch 0 not shown)")
        ax.set_ylabel(r"$L$, $\mathcal{N}$")
        if legend:
            ax.legend(loc="lower left", fontsize=7)


def noise_grid(history: Any, *, label: str | None = None) -> Figure:
    """The static explorer: one column per loss type, 𝒩 against L coloured by epoch
    (top) and L, 𝒩 against epoch (bottom).  ``label`` (for example the experiment, scale
    and seed that produced the history) is written in the corner."""
    recs = _records(history)
    names = _order(recs)
    fig, axes = plotting.figure(len(names), 2, width=3.2, height=2.6)
    for j, name in enumerate(names):
        data = noise_data(history, name, -1)
        top, bottom = axes[j], axes[len(names) + j]
        draw_noise(data, [top, bottom], legend=(j == 0))
        for line in top.lines[-1:]:  # drop the highlighted point: the colours carry the epoch
            line.remove()
        sc = top.scatter(data["L"], data["N"], c=np.log10(np.maximum(data["epoch"], 0.5)), s=14,
                         cmap="viridis", zorder=3)
        top.texts[-1].set_text(f"{name}; late slope {data['late_slope']:.2f}")
        if j == len(names) - 1:
            fig.colorbar(sc, ax=top, label="log₁₀ epoch")
        if top.get_legend() is not None:
            top.legend(loc="lower right", fontsize=7)
    return _label(fig, label or "logloss · explorer grid · noise strength")


# ---------------------------------------------------------------------------------------
# Widgets
# ---------------------------------------------------------------------------------------


def time_update(fn, *args, repeat: int = 5, **kwargs) -> float:
    """Median wall time (seconds) of ``fn(*args, **kwargs)`` after one warm-up call."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _explorer(controls: dict, compute, draw, ncols: int = 2):
    """Wire ``controls`` to an ``Output``: on every change, compute data and redraw."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = w.Output()
    timing = w.HTML()
    state: dict[str, Any] = {"data": None, "seconds": None, "updates": 0}

    def update(change=None):
        values = {k: c.value for k, c in controls.items()}
        t0 = time.perf_counter()
        try:
            data = compute(**values)
        except ValueError as err:  # bad combination of inputs: say so, keep the widget alive
            timing.value = f"<span style='color:{HIGHLIGHT_COLOR}'>{err}</span>"
            return
        t1 = time.perf_counter()
        state.update(data=data, seconds=t1 - t0, updates=state["updates"] + 1)
        fig, axes = plotting.figure(ncols)
        draw(data, axes)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        t2 = time.perf_counter()
        timing.value = (f"<small>update: data {1e3 * (t1 - t0):.0f} ms, "
                        f"drawing {1e3 * (t2 - t1):.0f} ms</small>")

    for c in controls.values():
        c.observe(update, names="value")
    update()
    box = w.VBox([w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")),
                  out, timing])
    box.explorer_state = state
    box.explorer_update = update
    box.explorer_controls = controls
    return box


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
    return _explorer(controls, lambda B, eta, d, seed: stationary_data(B, eta, d, seed=seed,
                                                                      **kwargs),
                     draw_stationary)


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
    return _explorer(controls, lambda **v: escape_data(**v, measured=measured), draw_escape)


def noise_explorer(history: Any, *, loss: str | None = None, index: int = -1):
    """A dropdown for the loss type and a slider over the recorded epochs: 𝒩 against L
    with the slope guides and the chosen point (:func:`noise_data`).

    ``history`` as in :func:`noise_data`.  Returns an ipywidgets ``VBox``.
    """
    import ipywidgets as w

    recs = _records(history)
    names = _order(recs)
    loss = loss or names[0]
    m = max(len(r["loss"]) for r in recs.values())
    style = {"description_width": "initial"}
    controls = {
        "loss": w.Dropdown(options=names, value=loss, description="loss", style=style),
        "index": w.IntSlider(value=index % m, min=0, max=m - 1,
                             description="recorded point", style=style),
    }

    def compute(loss, index):
        n_here = len(noise_data(history, loss)["L"])
        return noise_data(history, loss, min(index, n_here - 1))

    return _explorer(controls, compute, draw_noise)
