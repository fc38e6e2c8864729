"""Closed forms of the stationary chapter: SGD's stationary law on linear regression.

u = θ − θ* obeys u_{k+1} = (I − ηS_k) u_k − η g_k with the minibatch curvature
S_k = (1/B) Σ_{μ∈B_k} x_μ x_μᵀ and minibatch gradient at the minimum
g_k = (1/B) Σ_{μ∈B_k} x_μ e_μ, e_μ = x_μᵀθ* − y_μ.  The continuous-time law is
P_s ∝ L^(−φ) with φ = 1 + B/(ηh*) (Eq. 17); this module also gives its exact finite-η
second moment, tail indices and the marginal densities the chapter draws.  η and B are
keyword-only.  numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..core.validation import check_batch_size, check_learning_rate
from .escape import phi, temperature

__all__ = [
    "least_squares_minimum",
    "phi_from_second_moment",
    "second_moment_from_phi",
    "sgd_linreg_second_moment",
    "phi_discrete",
    "phi_gap_gaussian",
    "second_moment_gaussian_variant",
    "phi_gaussian_variant",
    "tail_index_paper",
    "tail_index_exact_noise",
    "kesten_tail_index",
    "marginal_pdf",
    "excess_loss_pdf",
]


def least_squares_minimum(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The minimum θ* of L(θ) = (1/2N) Σ_μ (θᵀx_μ − y_μ)² for inputs X (N, d) and targets y (N,).

    The least-squares solution, shape (d,), by ``numpy.linalg.lstsq``: the one of least norm
    where XᵀX is singular.
    """
    return np.linalg.lstsq(X, y, rcond=None)[0]


def phi_from_second_moment(quad: float, L_star: float, d: int = 1) -> float:
    """Effective φ of P ∝ L^(−φ) with the given mean of uᵀHu.

    For P(u) ∝ (L* + ½uᵀHu)^(−φ) in d dimensions, q = uᵀHu/(2L*) has
    E[q] = (d/2)/(φ − d/2 − 1), so φ = 1 + d/2 + d·L*/E[uᵀHu].  For d = 1 this is
    E[u²] = 2L*/(h*(2φ − 3)).  Returns 1 + d/2 (the edge of the family with finite
    second moment) when E[uᵀHu] is infinite.
    """
    if not np.isfinite(quad):
        return 1.0 + d / 2.0
    if not quad > 0:
        raise ValueError(f"E[uᵀHu] must be > 0, got {quad!r}")
    return 1.0 + d / 2.0 + d * L_star / quad


def second_moment_from_phi(phi_value: float, L_star: float, d: int = 1) -> float:
    """E[uᵀHu] = d·L*/(φ − 1 − d/2) under P ∝ L^(−φ); infinite for φ ≤ 1 + d/2."""
    excess = phi_value - 1.0 - d / 2.0
    return np.inf if excess <= 0 else d * L_star / excess


def _pair_moments(X: np.ndarray, y: np.ndarray, B: int):
    """E[S], E[S⊗S], E[g gᵀ] over minibatches of B drawn without replacement (exact)."""
    N, d = X.shape
    theta_star = least_squares_minimum(X, y)
    e = X @ theta_star - y
    f = 0.0 if N == 1 else (N - B) / (B * (N - 1))  # finite-population factor of Eq. (8), / B
    xx = np.einsum("ni,nj->nij", X, X).reshape(N, d * d)  # x_μ x_μᵀ, flattened
    H = xx.mean(axis=0)
    cov_xx = xx.T @ xx / N - np.outer(H, H)
    SS = np.outer(H, H) + f * cov_xx  # E[S_ij S_kl] at row i·d + j, column k·d + l
    # Kronecker layout: (S⊗S) has S_ij S_kl at row i·d + k, column j·d + l
    SS = SS.reshape(d, d, d, d).transpose(0, 2, 1, 3).reshape(d * d, d * d)
    G = X * e[:, None]  # per-sample gradients at θ*, mean zero
    gg = f * (G.T @ G / N)
    return H.reshape(d, d), SS, gg, e


def sgd_linreg_second_moment(X: np.ndarray, y: np.ndarray, *, eta: float, B: int) -> np.ndarray:
    """Exact stationary second moment M = E[u uᵀ] of discrete SGD on linear regression.

    Parameters
    ----------
    X : ndarray, shape (N, d)
        Inputs x_μ.
    y : ndarray, shape (N,)
        Targets y_μ.
    eta : float
        Learning rate η.
    B : int
        Minibatch size (without replacement).

    Returns
    -------
    ndarray, shape (d, d)
        M; filled with ``inf`` when the second moment diverges (mean-square unstable).

    Notes
    -----
    u_k is independent of the fresh minibatch (S_k, g_k), E[g_k] = 0 at the least-squares
    θ*, so E[u] = 0 and M = E[(I − ηS) M (I − ηS)ᵀ] + η² E[g gᵀ].  Vectorised,
    (I − K) vec M = η² vec E[g gᵀ] with K = E[(I − ηS)⊗(I − ηS)]
    = I − η(H⊗I + I⊗H) + η² E[S⊗S].  Minibatch moments without replacement carry the
    factor (N − B)/(B(N − 1)) of Eq. (8).  M is finite iff the spectral radius of K is < 1.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    check_learning_rate(eta)
    B = check_batch_size(B, X.shape[0])
    d = X.shape[1]
    H, SS, gg, _ = _pair_moments(X, np.asarray(y, dtype=float), B)
    I = np.eye(d)
    K = np.eye(d * d) - eta * (np.kron(H, I) + np.kron(I, H)) + eta**2 * SS
    if np.max(np.abs(np.linalg.eigvals(K))) >= 1.0:
        return np.full((d, d), np.inf)
    vecM = np.linalg.solve(np.eye(d * d) - K, eta**2 * gg.ravel())
    M = vecM.reshape(d, d)
    return 0.5 * (M + M.T)


def phi_discrete(X: np.ndarray, y: np.ndarray, *, eta: float, B: int) -> float:
    """Effective φ of discrete SGD from its exact second moment (moment-matched).

    φ_d = 1 + d/2 + d·L*/tr(H M) with M from :func:`sgd_linreg_second_moment`; for
    d = 1, E[u²] = 2L*/(h*(2φ_d − 3)).  Equals 1 + d/2 when the moment diverges.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, dtype=float)
    M = sgd_linreg_second_moment(X, y, eta=eta, B=B)
    d = X.shape[1]
    H = X.T @ X / X.shape[0]
    theta_star = least_squares_minimum(X, y)
    L_star = 0.5 * np.mean((X @ theta_star - y) ** 2)
    return phi_from_second_moment(float(np.sum(H * M)), L_star, d)


def phi_gap_gaussian(B: float) -> float:
    """(1 + B/(ηh*)) − φ_d ≈ (B + 1)/2 for d = 1, Gaussian x and y, N → ∞, h* = 1.

    With E[s] = h*, E[s²] = h*²(1 + 2/B) and E[g²] = 2L*h*/B, E[u²] = 2ηL*/(2B − ηh*(B + 2))
    so φ_d = 1 + B/(ηh*) − (B + 1)/2 (exactly, for h* = 1).
    """
    return (B + 1.0) / 2.0


_VARIANTS = ("full", "decoupled_noise", "additive_noise", "sde")


def second_moment_gaussian_variant(*, eta: float, B: float, h: float = 1.0,
                                   L_star: float = 0.5, variant: str = "full") -> float:
    """Stationary E[u²] of d = 1 linear regression on Gaussian data (N → ∞), with one
    ingredient of the finite-η gap switched off.

    Parameters
    ----------
    eta, B, h, L_star : float
        Learning rate, minibatch size, curvature h* and L(θ*).
    variant : {"full", "decoupled_noise", "additive_noise", "sde"}
        * ``full``: discrete SGD, u' = (1 − ηs)u − ηg with E s = h, E s² = h²(1 + 2/B),
          E g² = 2L*h/B (x ~ N(0, 1)).
        * ``decoupled_noise``: discrete, the curvature fixed at s = h and the noise
          Gaussian with the decoupled covariance (2L(u)h/B), L(u) = L* + hu²/2: the
          curvature variance beyond the decoupled noise is switched off.
        * ``additive_noise``: discrete, s = h and only the additive noise E g² (no
          multiplicative noise at all).
        * ``sde``: the continuous-time SDE with the decoupled noise (no discreteness).

    Returns
    -------
    float
        E[u²]; ``inf`` where the second moment diverges.

    Notes
    -----
    With E u = 0, E u² (2ηh − η²S₂ − η²m) = η²·2L*h/B, with S₂ = E s² and m the
    u²-coefficient of the noise variance (h²/B for the decoupled noise, 0 otherwise).
    The SDE is the η² → 0 limit of the bracket at fixed noise: E u² = 2ηL*/(2B − ηh).
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    g0 = 2 * L_star * h / B
    if variant == "sde":
        den = 2 * eta * h - eta**2 * h**2 / B
    else:
        S2 = h**2 * (1 + 2 / B) if variant == "full" else h**2
        m = h**2 / B if variant == "decoupled_noise" else 0.0
        den = 2 * eta * h - eta**2 * S2 - eta**2 * m
    return float(eta**2 * g0 / den) if den > 0 else float("inf")


def phi_gaussian_variant(*, eta: float, B: float, h: float = 1.0, variant: str = "full") -> float:
    """Moment-matched φ = 3/2 + L*/(h E u²) of :func:`second_moment_gaussian_variant`.

    Closed forms (h = 1): ``full`` 1 + B/η − (B + 1)/2; ``decoupled_noise`` 1 + B/η − B/2;
    ``additive_noise`` 1 + B/η − (B − 1)/2; ``sde`` 1 + B/η.
    """
    m2 = second_moment_gaussian_variant(eta=eta, B=B, h=h, L_star=0.5, variant=variant)
    return 1.5 + 0.5 / (h * m2)


def tail_index_paper(*, eta: float, B: float, h: float) -> float:
    """Tail index α of P(|u| > x) ~ x^(−α) implied by P ∝ L^(−φ): α = 2φ − 1."""
    return 2.0 * phi(eta=eta, B=B, h=h) - 1.0


def tail_index_exact_noise(*, eta: float, B: float, h: float) -> float:
    """α = 1 + B/(ηh*): the continuous-time SDE (d = 1) with the exact Gaussian-data noise.

    For x ~ N(0, h*), Σ = (2L·h* + (∇L)²)/B; the stationary density of
    du = −h*u dt + √(ηΣ) dW is ∝ (L* + h*u²)^(−1 − B/(2ηh*)).
    """
    return 1.0 + 1.0 / temperature(eta=eta, B=B, h=h)


def kesten_tail_index(*, eta: float, B: int, h: float = 1.0, points: int = 40001) -> float:
    """The Kesten–Goldie tail index: the root α > 0 of E|1 − ηs|^α = 1.

    s = (1/B) Σ_{μ∈B} x_μ² with x ~ N(0, h*), i.e. s = h*·χ²_B/B (the N → ∞ law of the
    minibatch curvature).  The discrete SGD u_{k+1} = (1 − ηs_k)u_k − ηg_k then has
    P(|u| > x) ~ x^(−α) (Kesten 1973; Goldie 1991).  The expectation is a quadrature in
    w = √(χ²_B) on a uniform grid (Simpson), in log space.
    """
    from scipy.integrate import simpson
    from scipy.optimize import brentq
    from scipy.special import gammaln, xlogy

    check_learning_rate(eta)
    if int(B) != B or B < 1:
        raise ValueError(f"minibatch size B must be an integer >= 1, got {B!r}")

    def log_moment(alpha: float) -> float:
        wmax = np.sqrt(2 * alpha + B + 400.0) + 5.0
        w = np.linspace(0.0, wmax, points)
        t = w**2
        # density of w = √χ²_B: 2 w^(B−1) e^(−w²/2) / (2^(B/2) Γ(B/2))
        with np.errstate(divide="ignore", invalid="ignore"):
            logf = (xlogy(B - 1, w) - t / 2 + np.log(2) - (B / 2) * np.log(2)
                    - gammaln(B / 2) + alpha * np.log(np.abs(1 - eta * h * t / B)))
        logf[~np.isfinite(logf)] = -np.inf
        top = np.max(logf)
        return float(top + np.log(simpson(np.exp(logf - top), x=w)))

    # log E|1 − ηs|^α is convex in α, 0 at α = 0, with slope E log|1 − ηs| < 0 when stable
    lo = 1e-4
    if log_moment(lo) >= 0:
        raise ValueError(f"E log|1 − ηs| >= 0 at eta (η) = {eta}, B = {B}: SGD has no stationary law")
    hi = 1.0
    while log_moment(hi) < 0:
        hi *= 2.0
        if hi > 1e5:
            return np.inf
    return float(brentq(log_moment, lo, hi, xtol=1e-10))


def marginal_pdf(u, *, phi: float, d: int, h: float, L_star: float) -> np.ndarray | None:
    """Marginal density of one coordinate u₁ (along a Hessian eigenvector) under P ∝ L^(−φ).

    With L = L* + ½ h Σ_j u_j² (isotropic, h = h*), integrating the other d − 1
    coordinates out leaves p(u₁) ∝ (1 + h u₁²/(2L*))^(−m), m = φ − (d − 1)/2: a Student-t
    law with ν = 2m − 1 degrees of freedom and scale √(2L*/(hν)).  None if it cannot be
    normalised (φ ≤ d/2).
    """
    nu = 2.0 * phi - d
    if not nu > 0:
        return None
    scale = math.sqrt(2.0 * L_star / (h * nu))
    return stats.t.pdf(np.asarray(u, dtype=float) / scale, nu) / scale


def excess_loss_pdf(x, *, phi: float, d: int) -> np.ndarray | None:
    """Density of x = L/L* − 1 under P ∝ L^(−φ) with a quadratic L in d dimensions.

    The shell L − L* ∈ [q, q + dq] has volume ∝ q^(d/2 − 1) dq, so
    p(x) = x^(d/2 − 1) (1 + x)^(−φ) / B(d/2, φ − d/2): the beta-prime law
    β′(d/2, φ − d/2), a power law x^(d/2 − 1 − φ) in the tail.  None if φ ≤ d/2.
    """
    a = d / 2.0
    if not phi > a:
        return None
    return stats.betaprime.pdf(np.asarray(x, dtype=float), a, phi - a)
