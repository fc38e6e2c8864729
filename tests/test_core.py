"""Validation, linear regression, the cache and the theory's closed forms."""

import math

import numpy as np
import pytest

from logloss import theory
from logloss.core.cache import cached
from logloss.core.errors import SGDDiverged
from logloss.core.validation import check_batch_size, check_finite_loss, check_learning_rate
from logloss.models.linreg import make_linear_regression


@pytest.mark.parametrize("eta", [0.0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(eta):
    with pytest.raises(ValueError, match="learning rate eta"):
        check_learning_rate(eta)


def test_batch_size_and_finite_loss():
    assert check_batch_size(3, 3) == 3
    with pytest.raises(ValueError, match="B=4 exceeds"):
        check_batch_size(4, 3)
    with pytest.raises(SGDDiverged, match="non-finite loss"):
        check_finite_loss(np.array([1.0, np.inf]))


def test_linear_regression_minimum_hessian_and_gradients():
    lin = make_linear_regression(50, 3, np.random.default_rng(0))
    G = lin.per_sample_grads(lin.theta_star)
    np.testing.assert_allclose(G.mean(axis=0), 0.0, atol=1e-12)  # ∇L(θ*) = 0
    u = np.array([0.3, -0.2, 0.1])
    quad = lin.L_star + 0.5 * u @ lin.hessian @ u
    np.testing.assert_allclose(lin.loss(lin.theta_star + u), quad, rtol=1e-12)


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


def test_cache_reuses_and_rekeys(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        return {"x": np.arange(3)}

    a = cached("thing", {"n": 3}, make)
    b = cached("thing", {"n": 3}, make)
    cached("thing", {"n": 4}, make)
    assert len(calls) == 2 and np.array_equal(a["x"], b["x"])
    assert len(list(tmp_path.glob("thing-*.pt"))) == 2
