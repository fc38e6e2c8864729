"""A one-parameter regression with real barriers whose depth label noise does not change.

Data: features (x, z₁, z₂) ~ N(0, I₃) and labels y = a·x + b·z₁ + σ·ε.  Model:

    f(θ; x, z) = θ·x + A·(cos kθ · z₁ + sin kθ · z₂),

a scalar weight on x plus a unit vector of length A turned by kθ in the (z₁, z₂) plane.
For the population the loss ℓ = ½(f − y)² averages to

    L(θ) = ½(θ − a)² + A·b·(1 − cos kθ) + ½(A − b)² + ½σ²,

a confining parabola with cosine wells at θ ≈ 2πm/k and saddles in between, offset by
½(A − b)² (the model cannot fit b·z₁ with a vector of length A ≠ b, so even the global
minimum has L* > 0) and by ½σ².  The noise ε is orthogonalised against x, z₁ and z₂ in
the sample and scaled to mean(ε²) = 1, so that for the *finite* data set
L(θ) = L₀(θ) + σ²/2 exactly: σ² moves L(θ*) and leaves every barrier ΔL, every critical
point and every curvature unchanged.  The Gauss–Newton curvature
(1/N)Σ(∂f/∂θ)² ≈ 1 + A²k² is nearly constant in θ, so the noise along the path is
≈ 2L·(1 + A²k²)/B (the paper's Assumption 4.6 holds for the noise), while the true
curvature L″ = 1 + Abk² cos kθ differs from it wherever the residual is nonzero.

Everything here is exact for the finite data set, through the sample moments: with
r_μ = w(θ)·m_μ (m = (x, z₁, z₂, ε), w = (θ − a, A cos kθ − b, A sin kθ, −σ)) and
∂f_μ/∂θ = v(θ)·n_μ (n = (x, z₁, z₂), v = (1, −Ak sin kθ, Ak cos kθ)),
L = ½ wᵀSw, L′ = wᵀGv, the Gauss–Newton term vᵀFv, and the second moment of the
per-sample gradient g_μ = r_μ ∂f_μ/∂θ is Σ_ijkl w_i w_j v_k v_l M_ijkl with
M_ijkl = mean(m_i m_j n_k n_l).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from scipy.optimize import brentq

from ..core.validation import check_batch_size, check_positive_int

__all__ = ["BarrierRegression", "make_barrier_regression", "SpectatorBarrier",
           "add_spectators"]


@dataclass(frozen=True)
class BarrierRegression:
    """The finite data set and model of the module docstring.

    Attributes
    ----------
    m : ndarray, shape (N, 4)
        Per-sample (x, z₁, z₂, ε); ε is orthogonal to the other three columns in the
        sample and has mean(ε²) = 1.
    A, k, a, b, sigma2 : float
        Model radius A, wave number k, label weights a (on x) and b (on z₁), label-noise
        variance σ².
    """

    m: np.ndarray = field(repr=False)
    A: float
    k: float
    a: float
    b: float
    sigma2: float = 0.0

    @property
    def N(self) -> int:
        """Number of samples N."""
        return self.m.shape[0]

    @property
    def sigma(self) -> float:
        return float(np.sqrt(self.sigma2))

    def with_sigma2(self, sigma2: float) -> BarrierRegression:
        """The same features with label-noise variance ``sigma2`` (shares the arrays)."""
        if not (sigma2 >= 0 and np.isfinite(sigma2)):
            raise ValueError(f"label-noise variance must be finite and >= 0, got {sigma2!r}")
        new = replace(self, sigma2=float(sigma2))
        for name in ("_S", "_G", "_M4"):  # σ-independent moments: reuse
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name]
        return new

    # --- sample moments (independent of σ) ----------------------------------------
    @cached_property
    def _S(self) -> np.ndarray:
        return self.m.T @ self.m / self.N

    @cached_property
    def _G(self) -> np.ndarray:
        return self._S[:, :3]

    @cached_property
    def _M4(self) -> np.ndarray:
        m, n = self.m, self.m[:, :3]
        mm = (m[:, :, None] * m[:, None, :]).reshape(self.N, 16)
        nn = (n[:, :, None] * n[:, None, :]).reshape(self.N, 9)
        return (mm.T @ nn / self.N).reshape(4, 4, 3, 3)

    # --- the vectors w(θ), v(θ), v′(θ) ---------------------------------------------
    def _w(self, theta):
        t = np.asarray(theta, dtype=float)
        c, s = np.cos(self.k * t), np.sin(self.k * t)
        return np.stack([t - self.a, self.A * c - self.b, self.A * s,
                         np.full_like(t, -self.sigma)])

    def _v(self, theta):
        t = np.asarray(theta, dtype=float)
        Ak = self.A * self.k
        return np.stack([np.ones_like(t), -Ak * np.sin(self.k * t), Ak * np.cos(self.k * t)])

    def _dv(self, theta):
        t = np.asarray(theta, dtype=float)
        Ak2 = self.A * self.k**2
        return np.stack([np.zeros_like(t), -Ak2 * np.cos(self.k * t), -Ak2 * np.sin(self.k * t)])

    # --- exact quantities ------------------------------------------------------------
    def loss(self, theta):
        """L(θ) = (1/2N)Σ_μ (f(θ; x_μ, z_μ) − y_μ)² (exact)."""
        w = self._w(theta)
        return 0.5 * np.einsum("i...,ij,j...->...", w, self._S, w)

    def grad(self, theta):
        """L′(θ) = (1/N)Σ_μ r_μ ∂f_μ/∂θ (exact)."""
        return np.einsum("i...,ik,k...->...", self._w(theta), self._G, self._v(theta))

    def gauss_newton(self, theta):
        """Gauss–Newton curvature (1/N)Σ_μ (∂f_μ/∂θ)², ≈ 1 + A²k²."""
        v = self._v(theta)
        return np.einsum("k...,kl,l...->...", v, self._S[:3, :3], v)

    def hessian(self, theta):
        """True curvature L″ = Gauss–Newton + (1/N)Σ_μ r_μ ∂²f_μ/∂θ² (exact)."""
        return self.gauss_newton(theta) + np.einsum("i...,ik,k...->...", self._w(theta),
                                                    self._G, self._dv(theta))

    def grad_second_moment(self, theta):
        """(1/N)Σ_μ g_μ² with g_μ = r_μ ∂f_μ/∂θ the per-sample gradient (exact)."""
        w, v = self._w(theta), self._v(theta)
        return np.einsum("i...,j...,k...,l...,ijkl->...", w, w, v, v, self._M4)

    def noise_variance(self, theta, *, B: int):
        """Minibatch-noise variance Σ(θ) of Eq. (8), minibatches drawn without replacement:

        Σ = (1/B)·(N − B)/(N − 1)·[(1/N)Σ_μ g_μ² − L′²].
        """
        B = check_batch_size(B, self.N)
        L1 = self.grad(theta)
        return (self.N - B) / (B * (self.N - 1)) * (self.grad_second_moment(theta) - L1**2)

    def per_sample_grads(self, theta) -> np.ndarray:
        """g_μ(θ), shape (len(θ), N)."""
        t = np.atleast_1d(np.asarray(theta, dtype=float))
        r = self._w(t).T @ self.m.T
        q = self._v(t).T @ self.m[:, :3].T
        return r * q

    # --- critical points -------------------------------------------------------------
    @cached_property
    def critical_points(self) -> dict[str, float]:
        """The minimum θ* nearest to a, the saddles θˢ₋ < θ* < θˢ₊ on either side and the
        next minima θ₋ < θˢ₋, θ₊ > θˢ₊ beyond them (roots of L′, classified by L″).

        They do not depend on σ².
        """
        span = 4 * np.pi / self.k + 1.0
        t = np.linspace(self.a - span, self.a + span, 40_001)
        g = self.grad(t)
        idx = np.nonzero(np.sign(g[:-1]) != np.sign(g[1:]))[0]
        roots = np.array([brentq(self.grad, t[i], t[i + 1], xtol=1e-14) for i in idx])
        curv = self.hessian(roots)
        minima, saddles = roots[curv > 0], roots[curv < 0]
        if minima.size < 3 or saddles.size < 2:
            raise ValueError("this landscape has no barrier: need A·b·k² > 1")
        star = minima[np.argmin(np.abs(minima - self.a))]
        s_lo = saddles[saddles < star].max()
        s_hi = saddles[saddles > star].min()
        return dict(theta_star=float(star), saddle_lo=float(s_lo), saddle_hi=float(s_hi),
                    exit_lo=float(minima[minima < s_lo].max()),
                    exit_hi=float(minima[minima > s_hi].min()))

    def path_grid(self, points: int) -> np.ndarray:
        """A uniform grid from the left next minimum to the right one."""
        cp = self.critical_points
        return np.linspace(cp["exit_lo"], cp["exit_hi"], check_positive_int(points, "points"))


def make_barrier_regression(N: int, rng: np.random.Generator, *, A: float, k: float,
                            a: float = 0.0, b: float, sigma2: float = 0.0) -> BarrierRegression:
    """Draw the features and the orthogonalised label noise of a :class:`BarrierRegression`.

    Parameters
    ----------
    N : int
        Number of samples.
    rng : numpy.random.Generator
        Source of randomness.
    A, k, a, b, sigma2 : float
        See :class:`BarrierRegression`; a barrier needs A·b·k² > 1.
    """
    N = check_positive_int(N, "N")
    n = rng.standard_normal((N, 3))
    eps = rng.standard_normal(N)
    eps -= n @ np.linalg.lstsq(n, eps, rcond=None)[0]
    eps /= np.sqrt(np.mean(eps**2))
    return BarrierRegression(np.column_stack([n, eps]), A=float(A), k=float(k), a=float(a),
                             b=float(b), sigma2=float(sigma2))


@dataclass(frozen=True)
class SpectatorBarrier:
    """A :class:`BarrierRegression` with m = n − 1 spectator parameters φ ∈ ℝᵐ.

    The model becomes f(θ, φ; x, z, u) = f(θ; x, z) + φ·u with extra features u_μ ∈ ℝᵐ and
    unchanged labels.  The spectator columns are orthogonal in the sample to (x, z₁, z₂, ε)
    and to each other, with mean(u_j²) = h_s, so that for the finite data set exactly

        L(θ, φ) = L(θ) + ½ h_s |φ|²,   ∂L/∂θ unchanged,   ∂²L/∂θ∂φ = 0:

    quadratic valleys of curvature h_s that leave every critical point (at φ = 0), every
    barrier and c = L(θˢ)/L(θ*) unchanged.  Their noise comes from the same minibatch as
    θ's: the per-sample gradient along φ_j is r_μ u_μj, so at φ = 0 the noise variance is
    ≈ 2L h_s/B (the decoupled form of paper Eq. (6) with h* = h_s), and the spectators' loss
    ½h_s|φ|² feeds back into θ's noise through the shared residual r_μ.  With
    h_s equal to θ's noise curvature the minimum has effective dimension n = m + 1 in the
    sense of paper Eq. (15).

    Attributes
    ----------
    base : BarrierRegression
        The barrier direction θ (its σ² sets the labels).
    u : ndarray, shape (N, m)
        Spectator features.
    h_spectator : float
        Their curvature h_s.
    """

    base: BarrierRegression
    u: np.ndarray = field(repr=False)
    h_spectator: float

    @property
    def m(self) -> int:
        """Number of spectators m = n − 1."""
        return self.u.shape[1]

    def with_sigma2(self, sigma2: float) -> SpectatorBarrier:
        """The same features with label-noise variance ``sigma2``."""
        return replace(self, base=self.base.with_sigma2(sigma2))

    def loss(self, theta: float, phi) -> float:
        """L(θ, φ) = (1/2N)Σ_μ (f(θ, φ) − y_μ)², summed over the samples (no shortcut)."""
        w = self.base._w(np.asarray(theta, dtype=float))
        r = self.base.m @ w + self.u @ np.asarray(phi, dtype=float)
        return float(0.5 * np.mean(r**2))

    def spectator_noise_variance(self, theta, *, B: int) -> np.ndarray:
        """Minibatch-noise variance of paper Eq. (8) along each φ_j at φ = 0, shape (m,) or
        (len(θ), m): (1/B)(N − B)/(N − 1)·mean(r_μ² u_μj²) (the mean gradient along φ is 0)."""
        B = check_batch_size(B, self.base.N)
        t = np.atleast_1d(np.asarray(theta, dtype=float))
        r = self.base._w(t).T @ self.base.m.T                     # (len θ, N)
        out = (self.base.N - B) / (B * (self.base.N - 1)) * (r**2 @ self.u**2) / self.base.N
        return out[0] if np.ndim(theta) == 0 else out


def add_spectators(base: BarrierRegression, m: int, rng: np.random.Generator, *,
                   h_spectator: float) -> SpectatorBarrier:
    """Draw m Gaussian spectator features for ``base`` (see :class:`SpectatorBarrier`).

    Parameters
    ----------
    base : BarrierRegression
        The barrier landscape; its features are kept.
    m : int
        Number of spectators, m = n − 1 ≥ 0 (m = 0 is the bare barrier).
    rng : numpy.random.Generator
        Source of randomness.
    h_spectator : float
        Curvature h_s > 0 of every spectator valley.
    """
    if not (isinstance(m, (int, np.integer)) and m >= 0):
        raise ValueError(f"number of spectators m must be an integer >= 0, got {m!r}")
    if not (h_spectator > 0 and np.isfinite(h_spectator)):
        raise ValueError(f"spectator curvature must be finite and > 0, got {h_spectator!r}")
    N = base.N
    if m + base.m.shape[1] >= N:
        raise ValueError(f"need more samples than features: N = {N}, m = {m}")
    U = rng.standard_normal((N, int(m)))
    U -= base.m @ np.linalg.lstsq(base.m, U, rcond=None)[0]
    q = np.linalg.qr(U)[0] if m else U
    return SpectatorBarrier(base, np.ascontiguousarray(q * np.sqrt(N * h_spectator)),
                            float(h_spectator))
