"""Euler–Maruyama for Eq. (12) and (14): weak order, stationary laws and the time change."""

import numpy as np
import pytest
from scipy import stats

from logloss.dynamics.sde import QuadraticMinimum, em_log_sde, em_sgd_sde
from logloss.stats.phi_fits import phi_mle

MODEL = QuadraticMinimum(np.array([[1.0]]), 0.5)
ETA, B = 0.5, 1.0  # T = ηh/B = 0.5


def second_moment_exact(t, m0, h=1.0, L=0.5, eta=ETA, B=B):
    """E[u_t²] for Eq. (12), d = 1: m' = −(2h − ηh²/B) m + 2ηhL*/B."""
    lam, src = 2 * h - eta * h**2 / B, 2 * eta * h * L / B
    return src / lam + (m0 - src / lam) * np.exp(-lam * t)


def second_moment_em(n, dt, m0, h=1.0, L=0.5, eta=ETA, B=B):
    """The same moment under the Euler–Maruyama scheme: m ← (1 − hΔ)² m + (2ηhΔ/B)(L* + hm/2)."""
    m = m0
    for _ in range(n):
        m = (1 - h * dt) ** 2 * m + 2 * eta * h * dt / B * (L + h * m / 2)
    return m


def test_weak_order_one():
    t, m0 = 1.0, 1.0
    errs = []
    for dt in (0.1, 0.05, 0.025):
        n = int(round(t / dt))
        run = em_sgd_sde(MODEL, eta=ETA, B=B, dt=dt, steps=n, replicas=40000, seed=1, u0=[1.0])
        mc = run.u_final[:, 0] ** 2
        # the integrator reproduces the scheme's exact moment within Monte-Carlo error ...
        assert abs(mc.mean() - second_moment_em(n, dt, m0)) < 4 * mc.std() / np.sqrt(mc.size)
        errs.append(second_moment_em(n, dt, m0) - second_moment_exact(t, m0))
    # ... and the scheme's weak error halves with Δt (order 1)
    assert errs[0] / errs[1] == pytest.approx(2, rel=0.1)
    assert errs[1] / errs[2] == pytest.approx(2, rel=0.05)


def test_stationary_exponents_differ_by_one():
    # Eq. (12): P ∝ L^−(1 + 1/T); Eq. (14): P̃ ∝ L^−1/T (App. C: P = P̃/L up to a constant)
    # Δt = 4·10⁻³ (O(Δt) bias ≈ 0.4 % of φ, below the statistical error); τ up to 400, since
    # Eq. (14) mixes slowly in its heavy tail (drift −∇log L ≈ −2/u far out)
    T = ETA * 1.0 / B
    kw = dict(eta=ETA, B=B, steps=100_000, replicas=200, seed=2, record_every=100)
    a = em_sgd_sde(MODEL, dt=4e-3, **kw)
    b = em_log_sde(MODEL, dtau=4e-3, **kw)
    fa = phi_mle(MODEL.loss(a.samples[100:]), MODEL.L_star)
    fb = phi_mle(MODEL.loss(b.samples[100:]), MODEL.L_star)
    assert abs(fa.value - (1 + 1 / T)) < 4 * fa.stderr
    assert abs(fb.value - 1 / T) < 4 * fb.stderr
    assert abs((fa.value - fb.value) - 1) < 4 * np.hypot(fa.stderr, fb.stderr)


def test_time_change_gives_law_of_log_sde():
    targets = np.array([0.05, 0.2, 0.5])
    a = em_sgd_sde(MODEL, eta=ETA, B=B, dt=1e-3, steps=3000, replicas=4000, seed=3,
                   u0=[1.0], tau_targets=targets)
    b = em_log_sde(MODEL, eta=ETA, B=B, dtau=1e-3, steps=500, replicas=4000, seed=4,
                   u0=[1.0], record_every=50)
    assert np.all(np.isfinite(a.at_tau))
    for j, tau in enumerate(targets):
        row = int(round(tau / 1e-3)) // 50 - 1
        x, y = a.at_tau[j, :, 0], b.samples[row, :, 0]
        assert stats.ks_2samp(x, y).pvalue > 1e-3
    # control: reading Eq. (12) at t = τ instead (no time change) is rejected
    c = em_sgd_sde(MODEL, eta=ETA, B=B, dt=1e-3, steps=500, replicas=4000, seed=5, u0=[1.0])
    assert stats.ks_2samp(c.u_final[:, 0], b.samples[-1, :, 0]).pvalue < 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="dt"):
        em_sgd_sde(MODEL, eta=0.1, B=1, dt=0.0, steps=1, replicas=1, seed=0)
    with pytest.raises(ValueError, match="eta"):
        em_log_sde(MODEL, eta=-1.0, B=1, dtau=0.1, steps=1, replicas=1, seed=0)
    with pytest.raises(ValueError, match="L"):
        em_sgd_sde(QuadraticMinimum(np.eye(1), 0.0), eta=0.1, B=1, dt=0.1, steps=1,
                   replicas=1, seed=0)
