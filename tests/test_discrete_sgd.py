"""Discrete-SGD solvers against brute-force simulation of the same recursion."""

import numpy as np
import pytest

from logloss import theory


def test_discrete_mfpt_matches_simulation_of_the_recursion():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50)
    e = rng.standard_normal(50)
    eta = 0.3
    a, b = 1 - eta * x**2, eta * x * e
    u_c = 0.6
    T = theory.discrete_mfpt_1d(a, b, u_c=u_c, points=1201)
    # brute force: 20000 walkers of u_{k+1} = a_mu u_k + b_mu, mu uniform
    R = 20_000
    u = np.zeros(R)
    alive = np.ones(R, bool)
    steps = np.zeros(R)
    k = 0
    while alive.any():
        k += 1
        mu = rng.integers(0, 50, alive.sum())
        u[alive] = a[mu] * u[alive] + b[mu]
        idx = np.flatnonzero(alive)
        done = idx[np.abs(u[idx]) >= u_c]
        steps[done] = k
        alive[done] = False
    se = steps.std() / np.sqrt(R)
    assert abs(T - steps.mean()) < 3 * se + 0.01 * T, (T, steps.mean(), se)


def test_discrete_mfpt_grid_converges():
    rng = np.random.default_rng(1)
    x, e = rng.standard_normal(5000), rng.standard_normal(5000)
    a, b = 1 - 0.1 * x**2, 0.1 * x * e
    T1 = theory.discrete_mfpt_1d(a, b, u_c=0.5, points=401)
    T2 = theory.discrete_mfpt_1d(a, b, u_c=0.5, points=801)
    assert abs(T1 - T2) < 0.01 * T2


def test_absorption_time_is_exact_for_a_birth_death_chain_with_an_astronomical_mfpt():
    """States 0…M−1, up with p, down with r (reflecting at 0), exit above M − 1: from 0,
    T = Σ_k Σ_{j≤k} (1/p)(r/p)^{k−j}, here about 10³⁹ steps, a sum of positive terms."""
    from logloss.theory.discrete_sgd import _absorption_time

    M, p, r = 40, 0.05, 0.5
    P = np.zeros((M, M))
    for i in range(M):
        if i + 1 < M:
            P[i, i + 1] = p
        P[i, max(i - 1, 0)] += r
        P[i, i] += 1 - p - r
    leak = np.zeros(M)
    leak[-1] = p
    exact = sum((1 / p) * (r / p) ** (k - j) for k in range(M) for j in range(k + 1))
    assert exact > 1e38
    assert _absorption_time(P, leak)[0] == pytest.approx(exact, rel=1e-10)


def test_discrete_mfpt_keeps_growing_where_escapes_are_astronomically_rare():
    """With 10⁴ Gaussian kicks at η = 0.1 no kick expands (every |a_μ| ≤ 1), so T(c)
    grows faster than any power; it must stay positive and increasing up to c = 10."""
    rng = np.random.default_rng(1)
    x, e = rng.standard_normal(10_000), rng.standard_normal(10_000)
    T = [theory.discrete_mfpt_1d(1 - 0.1 * x**2, 0.1 * x * e, u_c=np.sqrt(c - 1), points=201)
         for c in (2, 3, 5, 10)]
    assert np.all(np.isfinite(T)) and T[0] > 1e4
    assert np.all(np.diff(np.log(T)) > 1), T


@pytest.mark.parametrize("B,d", [(1, 1), (1, 9), (1, 16), (3, 12)])
def test_lyapunov_exponent_matches_a_simulated_product_of_sgd_maps(B, d):
    eta = 0.2
    lam = theory.lyapunov_exponent(eta=eta, B=B, d=d)
    rng = np.random.default_rng(2)
    R, k = 400, 400
    u = rng.standard_normal((R, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    logs = np.zeros(R)
    for _ in range(k):
        x = rng.standard_normal((R, B, d))
        xu = np.einsum("rbd,rd->rb", x, u)
        u = u - eta / B * np.einsum("rb,rbd->rd", xu, x)
        n = np.linalg.norm(u, axis=1)
        logs += np.log(n)
        u /= n[:, None]
    rate = logs / k
    assert abs(rate.mean() - lam) < 4 * rate.std(ddof=1) / np.sqrt(R), (rate.mean(), lam)


@pytest.mark.parametrize("B,d", [(1, 400), (4, 2000)])
def test_lyapunov_exponent_at_large_d_matches_monte_carlo_of_its_one_step_law(B, d):
    """Beyond d ≈ 300, where Γ((d − 1)/2) overflows: λ = ½ E log[(1 − ηS/B)² + η²SR/B²]
    with S ~ χ²_B, R ~ χ²_{d−1}, sampled directly."""
    eta = 0.1
    rng = np.random.default_rng(3)
    S, R = rng.chisquare(B, 200_000), rng.chisquare(d - 1, 200_000)
    f = 0.5 * np.log((1 - eta * S / B) ** 2 + eta**2 * S * R / B**2)
    lam = theory.lyapunov_exponent(eta=eta, B=B, d=d)
    assert np.isfinite(lam)
    assert abs(f.mean() - lam) < 4 * f.std(ddof=1) / np.sqrt(f.size), (f.mean(), lam)


def test_critical_dimensions_at_eta_02():
    d_l = theory.lyapunov_critical_dimension(eta=0.2, B=1)
    assert 8.5 < d_l < 9.5
    assert theory.lyapunov_exponent(eta=0.2, B=1, d=d_l - 0.5) < 0 < theory.lyapunov_exponent(eta=0.2, B=1, d=d_l + 0.5)
    assert theory.mean_square_critical_dimension(eta=0.2, B=1) == pytest.approx(8.0)
    # small-eta expansion of 2λ: −2η + η²(1 + (d+1)/B) − 2η²(1 + 2/B)
    eta, B, d = 0.01, 2, 6
    approx = -2 * eta + eta**2 * (1 + (d + 1) / B) - 2 * eta**2 * (1 + 2 / B)
    assert 2 * theory.lyapunov_exponent(eta=eta, B=B, d=d) == pytest.approx(approx, abs=30 * eta**3)


@pytest.mark.parametrize("d", [3, 9, 10, 11])
def test_sphere_lyapunov_matches_simulation_and_vanishes_at_two_over_eta(d):
    eta = 0.2
    lam = theory.lyapunov_exponent_sphere(eta=eta, d=d)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((400_000, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    v = 0.5 * np.log(1 - eta * (2 - eta * d) * x[:, 0] ** 2)  # u = e_1 by rotation invariance
    assert abs(v.mean() - lam) < 4 * v.std() / np.sqrt(v.size) + 1e-12, (v.mean(), lam)
    assert np.sign(lam) == np.sign(eta * d - 2)


def test_kesten_exponent_solves_the_moment_equation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(200)
    a = 1 - 0.5 * x**2  # η = 0.5: several samples expand (|a| > 1)
    alpha = theory.kesten_exponent(a)
    assert np.mean(np.abs(a) ** alpha) == pytest.approx(1, rel=1e-6)
    assert theory.kesten_exponent(np.array([0.5, -0.9, 1.0])) == np.inf  # nothing expands
    with pytest.raises(ValueError):
        theory.kesten_exponent(np.array([2.0, 1.5]))  # E log|a| > 0: no stationary law
    # the Gaussian law against a large empirical sample of it (its α is larger: the sample
    # lacks the far tail that sets α)
    ag = theory.kesten_exponent_gaussian(eta=0.5)
    m = np.mean(np.abs(1 - 0.5 * rng.standard_normal(2_000_000) ** 2) ** ag)
    assert m == pytest.approx(1, rel=0.05)
