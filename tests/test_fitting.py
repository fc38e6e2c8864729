"""Fits of φ and of tail indices on samples from laws with known parameters."""

import numpy as np
import pytest

from logloss.stats.phi_fits import hill, hill_tail_index, phi_histogram, phi_mle, phi_moment


def student_family(phi, L_star, h, shape, rng):
    """u with density ∝ (L* + h u²/2)^(−φ): a Student t with ν = 2φ − 1, rescaled."""
    nu = 2 * phi - 1
    t = rng.standard_t(nu, size=shape)
    return t * np.sqrt(2 * L_star / (h * nu))


@pytest.mark.parametrize("phi", [1.3, 3.0, 20.0])
def test_mle_recovers_phi(phi):
    rng = np.random.default_rng(int(phi * 10))
    L_star, h = 0.5, 1.3
    u = student_family(phi, L_star, h, (2000, 40), rng)
    fit = phi_mle(L_star + 0.5 * h * u**2, L_star)
    assert abs(fit.value - phi) < 4 * fit.stderr
    # the standard error is close to the Fisher information bound for independent samples
    from scipy.special import polygamma
    fisher = polygamma(1, phi - 0.5) - polygamma(1, phi)
    assert fit.stderr == pytest.approx(1 / np.sqrt(fisher * u.size), rel=0.3)


def test_mle_multivariate():
    # d = 3: u = t-distributed vector (multivariate t with ν = 2φ − d), H = I
    rng = np.random.default_rng(5)
    phi, d, L_star = 6.0, 3, 0.4
    nu = 2 * phi - d
    z = rng.standard_normal((3000, 30, d))
    w = rng.chisquare(nu, size=(3000, 30, 1)) / nu
    u = z / np.sqrt(w) * np.sqrt(2 * L_star / nu)
    L = L_star + 0.5 * np.sum(u**2, axis=-1)
    fit = phi_mle(L, L_star, d=d)
    assert abs(fit.value - phi) < 4 * fit.stderr
    mom = phi_moment(L, L_star, d=d)
    assert abs(mom.value - phi) < 4 * mom.stderr


def test_standard_error_has_right_size():
    # spread of φ̂ over independent repetitions against the reported standard error
    rng = np.random.default_rng(9)
    fits = [phi_mle(0.5 + 0.5 * student_family(4.0, 0.5, 1.0, (200, 10), rng) ** 2, 0.5)
            for _ in range(200)]
    values = np.array([f.value for f in fits])
    se = np.mean([f.stderr for f in fits])
    # the sample sd of 200 values has relative error ≈ 1/√400 = 5%
    assert values.std(ddof=1) == pytest.approx(se, rel=0.2)


def test_correlated_samples_are_not_treated_as_independent():
    # each replica repeats one value 50 times: the effective sample is R, not n·R
    rng = np.random.default_rng(2)
    u = student_family(5.0, 0.5, 1.0, (1, 400), rng).repeat(50, axis=0)
    fit = phi_mle(0.5 + 0.5 * u**2, 0.5)
    iid = phi_mle(0.5 + 0.5 * student_family(5.0, 0.5, 1.0, (50, 400), rng) ** 2, 0.5)
    assert fit.stderr > 4 * iid.stderr


def test_moment_and_histogram_fits():
    rng = np.random.default_rng(3)
    phi, L_star, h = 8.0, 0.5, 1.0  # tail index 2φ − 1 = 15: finite fourth moment
    u = student_family(phi, L_star, h, (5000, 40), rng)
    mom = phi_moment(L_star + 0.5 * h * u**2, L_star)
    assert abs(mom.value - phi) < 4 * mom.stderr
    hist = phi_histogram(u, h, L_star)
    assert abs(hist.value - phi) < 4 * hist.stderr


def test_hill_on_pareto():
    rng = np.random.default_rng(4)
    alpha = 2.5
    x = rng.pareto(alpha, size=(20000, 20)) + 1.0  # P(X > x) = x^(−α), x ≥ 1: exact Pareto
    est = hill_tail_index(x, 0.05)
    assert abs(est.value - alpha) < 4 * est.stderr
    assert est.stderr == pytest.approx(alpha / np.sqrt(0.05 * x.size), rel=0.35)
    assert hill(np.array([1.0, 2.0, 4.0, 8.0]), 1) == pytest.approx(1 / np.log(2))


@pytest.mark.parametrize("bad", [np.ones(10), np.ones((10, 1))])
def test_needs_replicas(bad):
    with pytest.raises(ValueError, match="replicas"):
        phi_mle(bad * 2, 1.0)
