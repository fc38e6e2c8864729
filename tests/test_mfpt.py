"""The 1-d mean first-passage solvers against independent oracles: closed forms for the
SDE quadrature, brute-force simulation for the discrete chain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, special

from logloss import theory


@pytest.mark.parametrize("v", [0.0, -1.5, 0.7])
def test_quadrature_matches_brownian_with_drift(v):
    x = np.linspace(-1.0, 2.0, 4001)
    T = theory.sde_mfpt(x, np.full_like(x, v), np.full_like(x, 0.4), left="reflecting")
    exact = theory.brownian_drift_mfpt(x, v=v, D=0.4, a=-1.0, b=2.0)
    assert np.allclose(T, exact, rtol=1e-5, atol=1e-6)


def test_quadrature_reflecting_right_is_the_mirror_image():
    x = np.linspace(0.0, 1.0, 2001)
    T = theory.sde_mfpt(x, np.full_like(x, 0.8), np.full_like(x, 0.3), right="reflecting")
    mirror = theory.brownian_drift_mfpt(1.0 - x, v=-0.8, D=0.3, a=0.0, b=1.0)
    assert np.allclose(T, mirror, rtol=1e-5, atol=1e-6)


def test_quadrature_matches_ornstein_uhlenbeck_closed_form():
    # OU dθ = −θ dt + √(2D) dW, both ends ±b absorbing, from 0: by symmetry equal to the
    # reflecting-at-0 problem, T(0) = (1/D) ∫_0^b e^{y²/2D} ∫_0^y e^{−z²/2D} dz dy
    #      = √(π/2D) ∫_0^b e^{y²/2D} erf(y/√(2D)) dy  (one-dimensional, done by scipy.quad).
    D, b = 0.2, 1.0
    x = np.linspace(-b, b, 8001)
    T = theory.sde_mfpt(x, -x, np.full_like(x, D))
    f = lambda y: np.sqrt(np.pi / (2 * D)) * np.exp(y**2 / (2 * D)) * special.erf(y / np.sqrt(2 * D))
    exact = integrate.quad(f, 0, b)[0]
    assert abs(T[x.size // 2] - exact) < 1e-5 * exact


def test_quadrature_with_multiplicative_noise_geometric_brownian():
    # dθ = √2 s θ dW (Itô): log θ is Brownian with drift −s², diffusion s².
    s, lo, hi, x0 = 0.5, 1.0, 4.0, 2.0
    x = np.geomspace(lo, hi, 20001)
    T = theory.sde_mfpt(x, np.zeros_like(x), s**2 * x**2, left="reflecting")
    exact = theory.brownian_drift_mfpt(np.log(x0), v=-s**2, D=s**2, a=np.log(lo), b=np.log(hi))
    assert abs(np.interp(x0, x, T) - exact) < 1e-4 * exact


def test_kramers_limit_of_quadrature():
    # Double well L = (θ² − 1)²/4 + 1 with D = εL: the quadrature approaches Kramers.
    eps = 0.01
    x = np.linspace(-2.5, 1.0, 40001)  # from θ* = −1 past the saddle θˢ = 0
    L = lambda t: (t**2 - 1) ** 2 / 4 + 1.0
    dL = lambda t: t * (t**2 - 1)
    T = theory.sde_mfpt(x, -dL(x), eps * L(x))
    psi = integrate.quad(lambda t: dL(t) / (eps * L(t)), -1.0, 0.0)[0]
    tau = theory.kramers_escape_time(h_min=2.0, h_saddle=-1.0, D_min=eps * L(-1.0),
                                     D_saddle=eps * L(0.0), barrier=psi)
    assert abs(np.interp(-1.0, x, T) / tau - 1) < 0.05


def test_boundary_kinds_are_checked():
    x = np.linspace(0, 1, 11)
    with pytest.raises(ValueError):
        theory.sde_mfpt(x, 0 * x, 1 + 0 * x, left="reflecting", right="reflecting")
    with pytest.raises(ValueError):
        theory.sde_mfpt(x, 0 * x, 0 * x)


def _simulate_chain(values, eta, lo, hi, x0, replicas, rng):
    theta = np.full(replicas, x0)
    t = np.zeros(replicas)
    alive = np.ones(replicas, bool)
    k = 0
    while alive.any():
        k += 1
        g = values(theta[alive], rng)
        theta[alive] -= eta * g
        out = alive.copy()
        out[alive] = (theta[alive] < lo) | (theta[alive] > hi)
        t[out] = k
        alive &= ~out
    return t


def test_markov_chain_matches_brute_force_simulation():
    # A tiny SGD: L = ½ mean (θ − y_μ)² with 5 targets; g_μ = θ − y_μ; leave [−1.5, 1.5].
    y = np.array([-2.0, -0.5, 0.0, 0.8, 1.7])
    eta = 0.3
    grid = np.linspace(-1.5, 1.5, 3001)
    T = theory.markov_chain_mfpt(grid, lambda th: th[:, None] - y[None, :], eta=eta)
    rng = np.random.default_rng(0)
    draw = lambda th, r: th - y[r.integers(0, y.size, th.size)]
    t = _simulate_chain(draw, eta, -1.5, 1.5, 0.0, 40_000, rng)
    se = t.std() / np.sqrt(t.size)
    assert abs(np.interp(0.0, grid, T) - t.mean()) < 3 * se + 1e-3 * t.mean(), (T[1500], t.mean(), se)


def test_markov_chain_reduces_to_geometric_law():
    # Every kick leaves with probability q = 2/5 from anywhere: T = 1/q.
    grid = np.linspace(-1, 1, 201)
    vals = np.array([0.0, 0.0, 0.0, 10.0, -10.0])
    T = theory.markov_chain_mfpt(grid, lambda th: np.broadcast_to(vals, (th.size, 5)), eta=1.0)
    assert np.allclose(T, 2.5)


def test_markov_chain_is_exact_for_an_astronomical_exit_time():
    """A birth-death chain on the grid 0…M−1 (η = 1, unit spacing): up with p = 1/20, down
    with r = 1/2 (staying at 0), exit above M − 1; from 0, T = Σ_k Σ_{j≤k} (1/p)(r/p)^{k−j},
    about 10³⁹ steps.  ``np.linalg.solve`` on I − P loses every digit here (it forms
    1 − P_ii); the chain's answer must be exact to rounding."""
    M, p, r = 40, 1 / 20, 1 / 2
    grid = np.arange(M, dtype=float)

    def kicks(th):  # θ′ = θ − g: 1 kick up, 10 down, 9 stay out of 20
        g = np.concatenate([np.full((th.size, 1), -1.0), np.full((th.size, 10), 1.0),
                            np.zeros((th.size, 9))], axis=1)
        g[th == 0, 1:11] = 0.0  # reflecting at 0
        return g

    exact = sum((1 / p) * (r / p) ** (k - j) for k in range(M) for j in range(k + 1))
    assert exact > 1e38
    assert theory.markov_chain_mfpt(grid, kicks, eta=1.0)[0] == pytest.approx(exact, rel=1e-9)
