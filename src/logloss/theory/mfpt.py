"""Exact mean first-passage times in one dimension: the SDE by quadrature, the discrete
SGD chain by its backward equation, and the weak-noise (Kramers) limit of both.

Symbols: μ(θ) drift and D(θ) diffusion of the Itô SDE dθ = μ dt + √(2D) dW (for SGD,
μ = −L′ and D = ηΣ/2 with Σ the minibatch-noise variance of Eq. (8), t = ηk); η learning
rate; g a (minibatch) gradient, so that one SGD step is θ′ = θ − η g.

This layer uses numpy and scipy only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import cumulative_trapezoid

from ..core.validation import check_learning_rate
from .discrete_sgd import _absorption_time

__all__ = ["sde_mfpt", "kramers_escape_time", "level_crossing_time", "markov_chain_mfpt",
           "brownian_drift_mfpt", "barrier_escape_laws"]

_KINDS = ("reflecting", "absorbing")


def _cumtrapz(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return cumulative_trapezoid(y, x, initial=0.0)


def sde_mfpt(grid, mu, D, *, left: str = "absorbing", right: str = "absorbing") -> np.ndarray:
    """Mean first-passage time T(θ) of dθ = μ(θ)dt + √(2D(θ)) dW out of [a, b], by quadrature.

    T solves the backward equation μT′ + DT″ = −1 on (a, b) with T = 0 at an absorbing
    end and T′ = 0 at a reflecting one.  With φ(y) = ∫_a^y μ/D dz, p = e^φ and
    I(y) = ∫_a^y p/D dz, (pT′)′ = −p/D gives T′(y) = (C − I(y))/p(y); C = 0 for a
    reflecting left end, C = I(b) for a reflecting right end and
    C = ∫_a^b (I/p) / ∫_a^b (1/p) when both ends absorb (Gardiner, *Stochastic
    Methods*, §5.5; the Itô convention throughout).

    Parameters
    ----------
    grid : array_like, shape (M,)
        Increasing points from a to b; the integrals are trapezoids on it (second order).
    mu, D : array_like, shape (M,), or callables
        Drift μ and diffusion D > 0 on the grid (callables are evaluated there).
    left, right : {"absorbing", "reflecting"}
        Boundary condition at a and at b (not both reflecting).

    Returns
    -------
    ndarray, shape (M,)
        T at every grid point, in the time unit of μ and D.
    """
    x = np.asarray(grid, dtype=float)
    if x.ndim != 1 or x.size < 3 or np.any(np.diff(x) <= 0):
        raise ValueError("grid must be an increasing 1-d array of at least 3 points")
    if left not in _KINDS or right not in _KINDS:
        raise ValueError(f"boundary kinds must be in {_KINDS}, got {left!r}, {right!r}")
    if left == right == "reflecting":
        raise ValueError("at least one end must be absorbing")
    mu = np.asarray(mu(x) if callable(mu) else mu, dtype=float)
    D = np.asarray(D(x) if callable(D) else D, dtype=float)
    if mu.shape != x.shape or D.shape != x.shape:
        raise ValueError("mu and D must have the grid's shape")
    if np.any(~(D > 0)) or np.any(~np.isfinite(mu)):
        raise ValueError("D must be > 0 and mu finite on the grid")
    phi = _cumtrapz(mu / D, x)
    phi -= phi.max()  # a constant shift cancels in T; keeps e^φ ≤ 1
    if np.any(-phi > 700):
        raise ValueError("the barrier is too high for float64 (∫μ/D spans more than 700)")
    p = np.exp(phi)
    inv_p = 1.0 / p
    I = _cumtrapz(p / D, x)
    if left == "reflecting":
        C = 0.0
    elif right == "reflecting":
        C = I[-1]
    else:
        C = np.trapezoid(I * inv_p, x) / np.trapezoid(inv_p, x)
    dT = (C - I) * inv_p
    if left == "absorbing":
        return _cumtrapz(dT, x)
    return _cumtrapz(dT[::-1], x[::-1])[::-1]


def kramers_escape_time(*, h_min: float, h_saddle: float, D_min: float, D_saddle: float,
                        barrier: float) -> float:
    """Weak-noise mean escape time over one saddle for state-dependent diffusion D(θ).

    τ ≃ (2π/√(h*|hˢ|)) · √(D(θˢ)/D(θ*)) · exp(Ψ),  Ψ = ∫_{θ*}^{θˢ} L′/D dθ,

    from Laplace's method on :func:`sde_mfpt` with μ = −L′ (the stationary density is
    ∝ e^(−Ψ)/D).  With D = ηL h/B (the decoupled noise of Eq. 9) Ψ = (B/ηh) log c and this
    is the inverse of the rate of Eq. (15) for n = 1; with constant D it is Kramers'
    Arrhenius law.  The curvatures h* > 0 and hˢ < 0 are those of the loss (true Hessian).

    Parameters
    ----------
    h_min, h_saddle : float
        L″ at the minimum θ* and at the saddle θˢ (sign of hˢ ignored).
    D_min, D_saddle : float
        D at θ* and at θˢ.
    barrier : float
        Ψ (dimensionless).
    """
    if not (h_min > 0 and h_saddle != 0 and D_min > 0 and D_saddle > 0):
        raise ValueError("need h* > 0, hˢ ≠ 0 and D > 0 at both points")
    return float(2 * np.pi / np.sqrt(h_min * abs(h_saddle)) * np.sqrt(D_saddle / D_min)
                 * np.exp(barrier))


def level_crossing_time(*, h: float, D_min: float, D_level: float, barrier: float,
                        distance: float) -> float:
    """Weak-noise mean time to first reach |u| = b from the bottom of a symmetric well.

    For dθ = −h u dt + √(2D(u)) dW (u = θ − θ*), Laplace's method on the quadrature of
    :func:`sde_mfpt` (reflecting at u = 0, absorbing at b) gives

        T ≃ ½ √(2π/(h D*)) · D(b) e^Ψ / (h b),   Ψ = ∫₀^b h u/D du,

    the normalisation of the stationary density ∝ e^(−Ψ)/D near the minimum times the
    escape flux at the level.  With D = ηhL/B (the decoupled noise of paper Eq. (6))
    Ψ = (B/(ηh)) log c and T ∝ c^(B/(ηh) + 1/2) at large c, the exponent of paper Eq. (15)
    for n = 1; with constant D = D* it is the Arrhenius law e^(ΔL/D*).  There is no saddle,
    so this replaces the prefactor √(h*|hˢ|)/2π of paper Eq. (15).

    Parameters
    ----------
    h : float
        Curvature h* of the well.
    D_min, D_level : float
        D at the minimum and at the level.
    barrier : float
        Ψ (dimensionless).
    distance : float
        b = |θ − θ*| at the level.
    """
    if not (h > 0 and D_min > 0 and D_level > 0 and distance > 0):
        raise ValueError("need h, D at both points and the distance all > 0")
    return float(0.5 * np.sqrt(2 * np.pi / (h * D_min)) * D_level * np.exp(barrier)
                 / (h * distance))


def markov_chain_mfpt(grid, kicks: Callable[[np.ndarray], np.ndarray], *, eta: float,
                      chunk: int = 256) -> np.ndarray:
    """Exact mean number of steps for θ′ = θ − η g to leave [a, b], from its backward equation.

    The state space is discretised on a uniform grid θ_0 = a, …, θ_{M−1} = b.  From θ_i the
    chain lands at θ_i − η g for every gradient value g in ``kicks(θ_i)`` (equally
    likely: all N per-sample gradients for B = 1, sampled minibatch means otherwise);
    landing points outside [a, b] are absorbed, the others are split linearly between
    their two neighbouring grid points (which keeps the mean step exact and adds a
    variance of at most Δ²/4 per step).  The mean exit time then solves
    (I − P)T = 1, with P the substochastic transition matrix on the grid, by elimination
    in the form of Grassmann, Taksar & Heyman (accurate to rounding relative to T however
    rare the exit, where ``np.linalg.solve`` returned negative times past T ≈ 10¹²).

    Parameters
    ----------
    grid : array_like, shape (M,)
        Uniform grid from a to b.
    kicks : callable
        ``kicks(theta)`` with ``theta`` of shape (m,) returns an array of shape (m, K):
        K equally likely gradient values at each point.
    eta : float
        Learning rate η.
    chunk : int
        Rows evaluated per call of ``kicks`` (memory).

    Returns
    -------
    ndarray, shape (M,)
        Mean exit time (steps) from every grid point.
    """
    check_learning_rate(eta)
    x = np.asarray(grid, dtype=float)
    M = x.size
    if M < 3:
        raise ValueError("grid needs at least 3 points")
    dx = np.diff(x)
    if np.any(dx <= 0) or not np.allclose(dx, dx[0], rtol=1e-9, atol=0):
        raise ValueError("grid must be uniform and increasing")
    a, h = x[0], dx[0]
    P = np.zeros(M * M)
    leak = np.zeros(M)  # probability of landing outside [a, b], counted exactly
    for s in range(0, M, chunk):
        rows = np.arange(s, min(s + chunk, M))
        g = np.asarray(kicks(x[rows]), dtype=float)
        if g.ndim != 2 or g.shape[0] != rows.size:
            raise ValueError("kicks(theta) must return shape (len(theta), K)")
        K = g.shape[1]
        u = (x[rows, None] - eta * g - a) / h
        j = np.floor(u)
        w = u - j
        j = j.astype(np.int64)
        inside = (u >= 0) & (u <= M - 1)
        j = np.minimum(j, M - 2)
        w = np.where(j == M - 2, u - (M - 2), w)
        r = np.broadcast_to(rows[:, None], u.shape)
        base = (r * M + j)[inside]
        wt = w[inside] / K
        P += np.bincount(base, weights=1.0 / K - wt, minlength=M * M)
        P += np.bincount(base + 1, weights=wt, minlength=M * M)
        leak[rows] = (~inside).sum(axis=1) / K
    return _absorption_time(P.reshape(M, M), leak)


def brownian_drift_mfpt(x, *, v: float, D: float, a: float, b: float) -> np.ndarray:
    """Closed form: mean time for dθ = v dt + √(2D) dW to reach b from x ∈ [a, b], reflecting at a.

    T(x) = (b − x)/v − (D/v²)(e^(v(a−x)/D) − e^(v(a−b)/D)) (v ≠ 0), and (b² − x²)/(2D)
    shifted to a for v = 0: T = ((b − a)² − (x − a)²)/(2D).  The oracle for
    :func:`sde_mfpt`.
    """
    x = np.asarray(x, dtype=float)
    if v == 0:
        return ((b - a) ** 2 - (x - a) ** 2) / (2 * D)
    return (b - x) / v - D / v**2 * (np.exp(v * (a - x) / D) - np.exp(v * (a - b) / D))


def barrier_escape_laws(L_star, *, eta: float, B: float, dL: float, h_star: float,
                        h_saddle: float, h_noise: float, L_ref: float, alpha: float = 1.0,
                        beta: float = 0.0, s: float = 0.5) -> dict[str, np.ndarray]:
    """Mean escape time (steps, t = ηk) over one saddle under five laws, against L(θ*).

    The barrier ΔL = L(θˢ) − L(θ*) is fixed and L(θ*) varies (label noise), c = 1 + ΔL/L*.
    With the prefactor τ₀ = 2π/(η√(h*|hˢ|)) (steps):

    * ``eq15``: τ₀ c^(B/(ηh) + 1/2), Eq. (15) with n = 1, h = ``h_noise``, the curvature
      that sets the noise at the minimum, Σ(θ*) = 2L*h/B;
    * ``eq15_hessian``: the same with h = h* (the true Hessian, as Eq. 15 is written);
    * ``arrhenius_min``: τ₀ exp(ΔL/D*), D* = ηL* h/B, the noise frozen at θ*;
    * ``arrhenius_const``: τ₀ exp(ΔL/D_ref) with D_ref = ηL_ref h/B: loss-independent noise;
    * ``xss``: τ₀ exp[(2BΔL/η)(s/h* + (1 − s)/|hˢ|)], Xie, Sato & Sugiyama (2021), whose
      noise is ∝ the Hessian and not the loss (s ∈ [0, 1] their path parameter);
    * ``affine``: Kramers with D = (ηh/B)(αL + β): τ₀ ĉ^(B/(ηhα) + 1/2),
      ĉ = (α(L* + ΔL) + β)/(αL* + β).
    """
    L_star = np.asarray(L_star, dtype=float)
    check_learning_rate(eta)
    tau0 = 2 * np.pi / (eta * np.sqrt(h_star * abs(h_saddle)))
    c = 1 + dL / L_star
    ca = (alpha * (L_star + dL) + beta) / (alpha * L_star + beta)
    return {
        "eq15": tau0 * c ** (B / (eta * h_noise) + 0.5),
        "eq15_hessian": tau0 * c ** (B / (eta * h_star) + 0.5),
        "arrhenius_min": tau0 * np.exp(B * dL / (eta * h_noise * L_star)),
        "arrhenius_const": tau0 * np.exp(B * dL / (eta * h_noise * L_ref)) + 0 * L_star,
        "xss": tau0 * np.exp(2 * B * dL / eta * (s / h_star + (1 - s) / abs(h_saddle))) + 0 * L_star,
        "affine": tau0 * ca ** (B / (eta * h_noise * alpha) + 0.5),
    }
