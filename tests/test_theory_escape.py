"""Escape-rate theory: T, φ, Eq. (15)/(16) and the exact radial MFPT quadrature of the SDE."""

import math

import numpy as np
import pytest

from logloss import theory
from logloss.theory import (
    critical_dimension,
    escape_exponent,
    escape_exponent_exact_noise,
    escape_rate,
    radial_mfpt,
)


def test_exponent_vanishes_at_critical_dimension():
    for B, eta, h in [(1, 0.1, 1.0), (10, 0.01, 95.6), (100, 0.3, 2.0)]:
        assert escape_exponent(B=B, eta=eta, h=h, n=critical_dimension(B=B, eta=eta, h=h)) == pytest.approx(0, abs=1e-12)


def test_escape_rate_is_a_power_of_c():
    k1 = escape_rate(B=10, eta=0.01, h=95.6, h_saddle=-1.0, n=9, c=2.0)
    k2 = escape_rate(B=10, eta=0.01, h=95.6, h_saddle=-1.0, n=9, c=4.0)
    assert np.log(k1 / k2) / np.log(2) == pytest.approx(escape_exponent(B=10, eta=0.01, h=95.6, n=9))
    with pytest.raises(ValueError):
        escape_rate(B=10, eta=0.01, h=95.6, h_saddle=-1.0, n=9, c=0.5)


@pytest.mark.parametrize("d", [1, 3, 8])
def test_quadrature_asymptotes(d):
    """Local slopes of the exact SDE MFPT approach Eq. (15) and its exact-noise analogue."""
    c = np.array([1e4, 1e5])
    for exact, want in ((False, escape_exponent(B=1, eta=0.1, h=1.0, n=d)),
                        (True, escape_exponent_exact_noise(B=1, eta=0.1, h=1.0, d=d))):
        T = radial_mfpt(c, eta=0.1, B=1, d=d, exact_noise=exact)
        assert np.log(T[1] / T[0]) / np.log(10) == pytest.approx(want, abs=0.02)


def test_quadrature_against_euler_maruyama():
    """Oracle: Monte-Carlo first passage of the d-dimensional SDE with the exact noise."""
    rng = np.random.default_rng(0)
    d, eta, B, Ls, c = 2, 0.5, 1.0, 0.5, 3.0
    dt, R = 2e-3, 4000
    u = np.zeros((R, d))
    t_hit = np.full(R, np.nan)
    t = 0.0
    alive = np.ones(R, bool)
    while alive.any() and t < 200:
        ua = u[alive]
        L = Ls + 0.5 * (ua**2).sum(1)
        # Σ = (2L I + u uᵀ)/B: sample √Σ ξ as √(2L) ξ₁ + u·ξ₂ (independent normals)
        xi1 = rng.standard_normal(ua.shape)
        xi2 = rng.standard_normal((len(ua), 1))
        noise = np.sqrt(2 * L)[:, None] * xi1 + ua * xi2
        ua = ua - ua * dt + np.sqrt(eta * dt / B) * noise
        u[alive] = ua
        t += dt
        hit = Ls + 0.5 * (ua**2).sum(1) >= c * Ls
        idx = np.flatnonzero(alive)[hit]
        t_hit[idx] = t
        alive[idx] = False
    assert not alive.any()
    mc = t_hit.mean() / eta  # in steps k = t/η
    se = t_hit.std(ddof=1) / np.sqrt(R) / eta
    exact = radial_mfpt([c], eta=eta, B=B, d=d, L_star=Ls)[0]
    # 4 s.e. plus the O(√dt) bias of monitoring a continuous path at discrete times
    assert abs(mc - exact) < 4 * se + 0.05 * exact, (mc, se, exact)
    # and it is not the decoupled-noise value (the test can tell the two apart)
    other = radial_mfpt([c], eta=eta, B=B, d=d, L_star=Ls, exact_noise=False)[0]
    assert abs(other - exact) > 4 * se + 0.05 * exact


def test_theory_closed_forms():
    assert theory.phi(eta=0.1, B=1, h=1.0) == pytest.approx(11.0)
    assert theory.temperature(eta=0.1, B=2, h=1.0) == pytest.approx(0.05)
    assert theory.escape_exponent(B=1, eta=0.1, h=1.0, n=2) == pytest.approx(10.0)
    assert theory.critical_dimension(B=1, eta=0.1, h=1.0) == pytest.approx(22.0)
    # At n = n_c the exponent vanishes: escape no longer slows down with c.
    nc = theory.critical_dimension(B=4, eta=0.05, h=2.0)
    assert theory.escape_exponent(B=4, eta=0.05, h=2.0, n=nc) == pytest.approx(0.0)
    rate = theory.escape_rate(B=1, eta=0.1, h=1.0, h_saddle=-1.0, n=1, c=10.0)
    assert rate == pytest.approx(1 / (2 * math.pi) * 10.0 ** -10.5)
    with pytest.raises(ValueError, match="eta"):
        theory.phi(eta=-1.0, B=1, h=1.0)
