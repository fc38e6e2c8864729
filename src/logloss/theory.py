"""Closed-form predictions of the paper (plain functions of η, B, h*, n, c).

Symbols: η learning rate, B minibatch size, h* Hessian eigenvalue along the escape
direction at the minimum θ*, hˢ the (negative) one at the saddle θˢ, n the effective
dimension (number of Hessian outliers), c = L(θˢ)/L(θ*).
"""

from __future__ import annotations

import numpy as np

from .validation import check_learning_rate

__all__ = [
    "temperature",
    "phi",
    "escape_exponent",
    "escape_rate",
    "critical_dimension",
]


def _check(B: float, eta: float, h: float) -> None:
    check_learning_rate(eta)
    if not B >= 1:
        raise ValueError(f"minibatch size B must be >= 1, got {B!r}")
    if not h > 0:
        raise ValueError(f"Hessian eigenvalue h* must be > 0, got {h!r}")


def temperature(eta: float, B: float, h: float) -> float:
    """The effective temperature T = η h*/B of the log-landscape dynamics (Eq. 14)."""
    _check(B, eta, h)
    return eta * h / B


def phi(eta: float, B: float, h: float) -> float:
    """Exponent of the stationary law P_s(θ) ∝ L(θ)^(−φ), φ = 1 + B/(η h*) (Eq. 17)."""
    return 1.0 + 1.0 / temperature(eta, B, h)


def escape_exponent(B: float, eta: float, h: float, n: float) -> float:
    """Exponent of c in the escape rate, B/(η h*) + 1 − n/2 (Eq. 15).

    The mean escape (first-passage) time grows as t_p ∝ c^(escape_exponent).
    """
    return 1.0 / temperature(eta, B, h) + 1.0 - n / 2.0


def escape_rate(B: float, eta: float, h: float, h_saddle: float, n: float, c: float) -> float:
    """Kramers-type escape rate κ ≈ √(h*|hˢ|)/(2π) · c^−(B/(ηh*) + 1 − n/2) (Eq. 15).

    The rate is per unit of continuous time t = ηk.
    """
    if not c >= 1:
        raise ValueError(f"loss ratio c = L(θˢ)/L(θ*) must be >= 1, got {c!r}")
    prefactor = np.sqrt(h * abs(h_saddle)) / (2 * np.pi)
    return float(prefactor * c ** (-escape_exponent(B, eta, h, n)))


def critical_dimension(B: float, eta: float, h: float) -> float:
    """n_c = 2(B/(η h*) + 1): minima with effective dimension n > n_c do not trap SGD (Eq. 16)."""
    return 2.0 * (1.0 / temperature(eta, B, h) + 1.0)
