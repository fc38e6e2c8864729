"""Closed forms of the escape chapter: φ, T, the escape exponent and rate, n_c (Eqs. 14–17).

Symbols: η learning rate, B minibatch size, h* Hessian eigenvalue along the escape
direction at the minimum θ*, hˢ the (negative) one at the saddle θˢ, n the effective
dimension (number of Hessian outliers), c = L(θˢ)/L(θ*).  η and B are keyword-only in
every function that takes both, so that they cannot be swapped silently.

This layer uses numpy and scipy only.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.validation import check_learning_rate

__all__ = [
    "temperature",
    "phi",
    "escape_exponent",
    "escape_rate",
    "critical_dimension",
    "log_escape_time_laws",
    "escape_exponent_exact_noise",
    "radial_mfpt",
]


def _check(B: float, eta: float, h: float) -> None:
    check_learning_rate(eta)
    if not B >= 1:
        raise InvalidInput(f"minibatch size B must be >= 1, got {B!r}")
    if not np.isfinite(B):
        raise InvalidInput(f"minibatch size B must be finite, got {B!r}")
    if not (h > 0 and np.isfinite(h)):
        raise InvalidInput(f"Hessian eigenvalue h* must be a finite number > 0, got {h!r}")


def _check_n(n: float) -> float:
    if not (np.isfinite(n) and n >= 0):
        raise InvalidInput(f"effective dimension n must be a finite number >= 0, got {n!r}")
    return float(n)


def temperature(*, eta: float, B: float, h: float) -> float:
    """The effective temperature T = η h*/B of the log-landscape dynamics (Eq. 14)."""
    _check(B, eta, h)
    return eta * h / B


def phi(*, eta: float, B: float, h: float) -> float:
    """Exponent of the stationary law P_s(θ) ∝ L(θ)^(−φ), φ = 1 + B/(η h*) (Eq. 17)."""
    return 1.0 + 1.0 / temperature(eta=eta, B=B, h=h)


def escape_exponent(*, eta: float, B: float, h: float, n: float) -> float:
    """Exponent of c in the escape rate, B/(η h*) + 1 − n/2 (Eq. 15).

    The mean escape (first-passage) time grows as t_p ∝ c^(escape_exponent).
    """
    return 1.0 / temperature(eta=eta, B=B, h=h) + 1.0 - _check_n(n) / 2.0


def escape_rate(*, eta: float, B: float, h: float, h_saddle: float, n: float, c: float) -> float:
    """Kramers-type escape rate κ ≈ √(h*|hˢ|)/(2π) · c^−(B/(ηh*) + 1 − n/2) (Eq. 15).

    The rate is per unit of continuous time t = ηk.
    """
    if not c >= 1:
        raise ValueError(f"loss ratio c = L(θˢ)/L(θ*) must be >= 1, got {c!r}")
    prefactor = np.sqrt(h * abs(h_saddle)) / (2 * np.pi)
    return float(prefactor * c ** (-escape_exponent(eta=eta, B=B, h=h, n=n)))


def critical_dimension(*, eta: float, B: float, h: float) -> float:
    """n_c = 2(B/(η h*) + 1): minima with effective dimension n > n_c do not trap SGD (Eq. 16)."""
    return 2.0 * (1.0 / temperature(eta=eta, B=B, h=h) + 1.0)


def log_escape_time_laws(c, *, eta: float, B: float, h: float, n: float) -> dict[str, np.ndarray]:
    """log of the c-dependence of the mean escape time t_p under three laws.

    * ``"power"``: Eq. (15), (B/(ηh*) + 1 − n/2) log c;
    * ``"arrhenius_min"``: Kramers with the diffusion D = ηL*h*/B frozen at θ*,
      ΔL/D = (c − 1) B/(ηh*);
    * ``"arrhenius_saddle"``: the same with D = ηcL*h*/B at the saddle,
      ΔL/D = (1 − 1/c) B/(ηh*).
    """
    c = np.asarray(c, dtype=float)
    inv_T = 1.0 / temperature(eta=eta, B=B, h=h)  # B/(ηh*)
    return {
        "power": escape_exponent(eta=eta, B=B, h=h, n=n) * np.log(c),
        "arrhenius_min": inv_T * (c - 1.0),
        "arrhenius_saddle": inv_T * (1.0 - 1.0 / c),
    }


def escape_exponent_exact_noise(*, eta: float, B: float, h: float, d: int) -> float:
    """Large-c slope of log t_p against log c for Gaussian data with the exact noise.

    For x ~ N(0, h*I) the minibatch noise is Σ = (2L·H + ∇L∇Lᵀ)/B: the decoupling (7)
    drops the rank-one ∇L∇Lᵀ, which doubles the radial noise once L ≫ L*.  With it the
    radial SDE gives t_p ∝ c^(B/(2ηh*) − (d − 3)/4) as c → ∞, instead of
    c^(B/(ηh*) + 1 − d/2) (Eq. 15).
    """
    return 0.5 / temperature(eta=eta, B=B, h=h) - (d - 3) / 4.0


def radial_mfpt(c, *, eta: float, B: float, d: int, h: float = 1.0, L_star: float = 0.5,
                exact_noise: bool = True, points: int = 20001) -> np.ndarray:
    """Mean first-passage time (in steps k = t/η) from θ* to L = c·L* of the SDE.

    The SDE is dθ = −∇L dt + √(ηΣ) dW with L = L* + ½h*|u|², u = θ − θ*, and either
    Σ = 2L·h*I/B (the paper's decoupled noise, Eq. 6) or Σ = (2L·h*I + h*²uuᵀ)/B (exact for
    Gaussian inputs, ``exact_noise=True``).  The radius ρ = |u| has drift
    μ(ρ) = −h*ρ + η(d − 1)L h*/(Bρ) and variance v(ρ) = ηΣ_radial; from a reflecting
    origin, T(b) = ∫₀^b s(y) ∫₀^y 2/(v(z)s(z)) dz dy with s = exp(−∫2μ/v) (Gardiner
    2009, §5.5).  Exact for the SDE, so it separates the SDE approximation of SGD from the
    weak-noise asymptotics of Eq. (15).

    Parameters
    ----------
    c : array_like
        Loss ratios c > 1.
    eta, B, d, h, L_star : float
        η, B, dimension d (= n), curvature h*, and L(θ*).
    exact_noise : bool
        Include the rank-one ∇L∇Lᵀ term of the Gaussian-data noise.
    """
    check_learning_rate(eta)
    c = np.atleast_1d(np.asarray(c, dtype=float))
    if np.any(c <= 1):
        raise ValueError("loss ratios c must be > 1")
    rho_max = np.sqrt(2 * L_star * (c.max() - 1) / h)
    # grid uniform in log ρ, dense enough near 0 where the integrands behave as powers
    r = np.exp(np.linspace(np.log(rho_max) - 14.0, np.log(rho_max), points))
    L = L_star + 0.5 * h * r**2
    v = eta * (2 * L * h + (h**2 * r**2 if exact_noise else 0.0)) / B
    mu = -h * r + eta * (d - 1) * L * h / (B * r)
    # log s(ρ) = −∫ 2μ/v dρ, integrated in log ρ (dρ = ρ dlogρ), trapezoid
    g = -2 * mu / v * r
    dl = np.diff(np.log(r))
    log_s = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * dl)])
    log_m = np.log(2.0) - np.log(v) - log_s
    # M(y) = ∫₀^y m dz (the part below the grid's first point behaves as z^d: negligible)
    log_mr = log_m + np.log(r)
    a = np.logaddexp(log_mr[1:], log_mr[:-1]) + np.log(0.5 * dl)
    log_M = np.concatenate([[log_mr[0] - np.log(max(d, 1))],
                            np.logaddexp.accumulate(np.concatenate([[log_mr[0] - np.log(max(d, 1))], a]))[1:]])
    log_f = log_s + log_M + np.log(r)
    b = np.logaddexp(log_f[1:], log_f[:-1]) + np.log(0.5 * dl)
    log_T = np.logaddexp.accumulate(b)
    rho_c = np.sqrt(2 * L_star * (c - 1) / h)
    T = np.exp(np.interp(np.log(rho_c), np.log(r[1:]), log_T))
    return T / eta
