"""Linear regression: the least-squares minimum θ* (∇L(θ*) = 0), the constant Hessian and the
per-sample gradients."""

import numpy as np

from logloss.models.linreg import make_linear_regression


def test_linear_regression_minimum_hessian_and_gradients():
    lin = make_linear_regression(50, 3, np.random.default_rng(0))
    G = lin.per_sample_grads(lin.theta_star)
    np.testing.assert_allclose(G.mean(axis=0), 0.0, atol=1e-12)  # ∇L(θ*) = 0
    u = np.array([0.3, -0.2, 0.1])
    quad = lin.L_star + 0.5 * u @ lin.hessian @ u
    np.testing.assert_allclose(lin.loss(lin.theta_star + u), quad, rtol=1e-12)
