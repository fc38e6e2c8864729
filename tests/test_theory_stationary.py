"""Finite-η closed forms for SGD on linear regression, against independent oracles."""

import itertools

import numpy as np
import pytest

from logloss import theory
from logloss.dynamics.linreg_sgd import sgd_linreg
from logloss.models.linreg import make_linear_regression


def test_second_moment_d1_by_enumerating_minibatches():
    # oracle: enumerate all C(N, B) minibatches for the scalar recursion
    # m = E[(1 − ηs)²] m + η² E[g²]
    prob = make_linear_regression(9, 1, np.random.default_rng(0))
    x, e = prob.X[:, 0], prob.X[:, 0] * prob.theta_star[0] - prob.y
    for B, eta in [(1, 0.3), (3, 0.5), (5, 1.2)]:
        s, g = [], []
        for batch in itertools.combinations(range(prob.N), B):
            idx = list(batch)
            s.append(np.mean(x[idx] ** 2))
            g.append(np.mean(x[idx] * e[idx]))
        s, g = np.array(s), np.array(g)
        m = eta**2 * np.mean(g**2) / (1 - np.mean((1 - eta * s) ** 2))
        M = theory.sgd_linreg_second_moment(prob.X, prob.y, eta=eta, B=B)
        assert M[0, 0] == pytest.approx(m, rel=1e-10)


def test_second_moment_d2_against_simulation():
    # oracle: the replica kernel (tested on its own against a naive loop)
    prob = make_linear_regression(12, 2, np.random.default_rng(1))
    eta, B, R = 0.3, 4, 400
    M = theory.sgd_linreg_second_moment(prob.X, prob.y, eta=eta, B=B)
    run = sgd_linreg(prob, eta=eta, B=B, steps=20_000, replicas=R, seed=0, record_every=20)
    u = run.samples[50:] - prob.theta_star  # drop a burn-in of 1000 steps
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        per_replica = np.mean(u[..., i] * u[..., j], axis=0)
        mean, se = per_replica.mean(), per_replica.std(ddof=1) / np.sqrt(R)
        assert abs(mean - M[i, j]) < 4 * se


def test_second_moment_diverges_when_mean_square_unstable():
    prob = make_linear_regression(2000, 1, np.random.default_rng(2))
    # d = 1, Gaussian data: E[u²] < ∞ iff η < 2B/(h*(B + 2)), i.e. η < 2/3 for B = 1
    assert np.isinf(theory.sgd_linreg_second_moment(prob.X, prob.y, eta=0.8, B=1)).all()
    assert np.isfinite(theory.sgd_linreg_second_moment(prob.X, prob.y, eta=0.5, B=1)).all()
    assert theory.phi_discrete(prob.X, prob.y, eta=0.8, B=1) == 1.5


def test_phi_moment_map_round_trip():
    for d in (1, 3):
        q = theory.second_moment_from_phi(7.0, 0.4, d)
        assert theory.phi_from_second_moment(q, 0.4, d) == pytest.approx(7.0)
    assert np.isinf(theory.second_moment_from_phi(1.4, 0.4, 1))


def test_phi_discrete_small_eta_limit():
    # η → 0: E[u²] ≈ η E[g²]/(2h*), so η(φ_d − 1)/B → 2L*/((N − B)/(N − 1)·mean(x²e²)),
    # which is 1/h* up to the decoupling error mean(x²e²) − mean(x²)mean(e²) of the dataset
    prob = make_linear_regression(5000, 1, np.random.default_rng(3))
    x, e = prob.X[:, 0], prob.X[:, 0] * prob.theta_star[0] - prob.y
    for B in (1, 4):
        limit = 2 * prob.L_star / ((prob.N - B) / (prob.N - 1) * np.mean(x**2 * e**2))
        rel = [abs(eta * (theory.phi_discrete(prob.X, prob.y, eta=eta, B=B) - 1) / B / limit - 1)
               for eta in (0.3, 0.03, 0.003)]
        assert rel[0] > rel[1] > rel[2] and rel[2] < 5e-3


def test_kesten_root():
    # B = 2, η = 1: E(1 − s)² = Var s + (1 − E s)² = 2/B = 1 exactly, so α = 2
    assert theory.kesten_tail_index(eta=1.0, B=2) == pytest.approx(2.0, abs=1e-6)
    # B = 1: oracle by Monte Carlo of E|1 − ηx²|^α at the root
    rng = np.random.default_rng(0)
    x2 = rng.standard_normal(4_000_000) ** 2
    for eta in (1.0, 0.5):
        a = theory.kesten_tail_index(eta=eta, B=1)
        vals = np.abs(1 - eta * x2) ** a
        assert abs(vals.mean() - 1) < 5 * vals.std() / np.sqrt(vals.size)
    with pytest.raises(ValueError, match="eta"):
        theory.kesten_tail_index(eta=10.0, B=1)


def test_tail_index_formulas():
    assert theory.tail_index_paper(eta=0.5, B=2, h=1.0) == pytest.approx(2 * (1 + 4) - 1)
    assert theory.tail_index_exact_noise(eta=0.5, B=2, h=1.0) == pytest.approx(5.0)
    assert theory.phi_gap_gaussian(3) == 2.0


def test_least_squares_minimum_against_the_normal_equations_and_the_pseudo_inverse():
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    theta = theory.least_squares_minimum(X, y)
    np.testing.assert_allclose(theta, np.linalg.solve(X.T @ X, X.T @ y), rtol=1e-12)
    np.testing.assert_allclose(X.T @ (X @ theta - y), 0.0, atol=1e-12)  # ∇L(θ*) = 0
    # rank-deficient X (a repeated column): the minimum of least norm
    Xr = np.column_stack([X[:, 0], X[:, 0]])
    np.testing.assert_allclose(theory.least_squares_minimum(Xr, y), np.linalg.pinv(Xr) @ y, rtol=1e-10)
    prob = make_linear_regression(30, 2, rng)
    np.testing.assert_allclose(prob.theta_star, theory.least_squares_minimum(prob.X, prob.y), rtol=0)
