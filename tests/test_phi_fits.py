"""Fits of φ and of tail indices on samples from laws with known parameters."""

import numpy as np
import pytest

from logloss import theory
from logloss.stats.phi_fits import hill, hill_plot, hill_tail_index, phi_histogram, phi_mle, phi_moment


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


def kesten_samples(eta, B, *, replicas=200, steps=20_000, seed=0):
    """|u| of online SGD on 1-d linear regression, x, y ~ N(0, 1): the Kesten recursion
    u ← (1 − ηs)u + η·mean(xy), s = mean(x²) over B fresh samples (θ* = 0, h* = 1)."""
    rng = np.random.default_rng(seed)
    u, out = np.zeros(replicas), np.empty((steps, replicas))
    for k in range(int(50 / eta) + steps):
        x, y = rng.standard_normal((2, replicas, B))
        u = (1 - eta * (x * x).mean(1)) * u + eta * (x * y).mean(1)
        out[k % steps] = u
    return np.abs(out)


@pytest.mark.parametrize("eta, B", [(0.8, 1), (1.2, 3)])
def test_hill_plot_finds_heavy_kesten_indices(eta, B):
    """Held-out heavy tails (index < 3): the Hill plot agrees with the exact Kesten–Goldie
    root at the top 10⁻³ within 4 standard errors (Student t, 19 dof: p < 10⁻³)."""
    alpha = theory.kesten_tail_index(eta=eta, B=B)
    hp = hill_plot(kesten_samples(eta, B), [1e-2, 1e-3])
    assert abs(hp.alpha[1] - alpha) < 4 * hp.stderr[1], (alpha, hp.at(1))


def test_hill_plot_shows_its_bias_on_a_light_kesten_tail():
    """Held-out light tail (η, B) = (0.3, 1), exact index 5.31: Hill's estimate lies below it
    by many standard errors at every fraction; the plot must show the bias, not hide it."""
    alpha = theory.kesten_tail_index(eta=0.3, B=1)
    hp = hill_plot(kesten_samples(0.3, 1), [1e-2, 1e-3])
    assert np.all(hp.alpha + 4 * hp.stderr < alpha), (alpha, hp.alpha, hp.stderr)
    assert hp.change(0, 1).value > 0  # rising towards the index as k/n falls


def test_hill_plot_errors_and_single_point():
    rng = np.random.default_rng(5)
    x = rng.pareto(3.0, size=(2000, 20)) + 1.0
    hp = hill_plot(x, [0.1, 0.01])
    assert hp.at(1) == hill_tail_index(x, 0.01)
    assert hp.k.tolist() == [4000, 400] and hp.per_group.shape == (20, 2)
    d = hp.change(0, 1)
    assert d.value == pytest.approx(hp.alpha[1] - hp.alpha[0]) and d.stderr > 0
    with pytest.raises(ValueError, match="10 order statistics"):
        hill_plot(x, [1e-4])
    with pytest.raises(ValueError, match="positive"):
        hill_plot(-x, [0.1])
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        hill_plot(x, [1.5])


@pytest.mark.parametrize("bad", [np.ones(10), np.ones((10, 1))])
def test_needs_replicas(bad):
    with pytest.raises(ValueError, match="replicas"):
        phi_mle(bad * 2, 1.0)
