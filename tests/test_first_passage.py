"""Censoring-aware first-passage estimators against synthetic data with a known law."""

import numpy as np
import pytest

from logloss.stats.first_passage import (
    exponential_mle,
    fit_slope,
    km_restricted_mean,
    mean_first_passage,
)


def test_km_hand_example():
    # S drops to 3/4 at t=1, the replica censored at 2 leaves the risk set,
    # S = 3/4 · 1/2 at t=3 and 0 at t=4: area 1 + 2·0.75 + 1·0.375.
    mean, se = km_restricted_mean([1, 2, 3, 4], [True, False, True, True])
    assert mean == pytest.approx(2.875)
    assert se > 0


def test_km_without_censoring_is_sample_mean():
    t = np.array([3.0, 5.0, 10.0, 2.0])
    mean, se = km_restricted_mean(t, np.ones(4, bool))
    assert mean == pytest.approx(t.mean())
    assert se == pytest.approx(t.std(ddof=1) / 2)


def test_km_restricted_mean_of_censored_exponential():
    rng = np.random.default_rng(1)
    mu, tau, R = 50.0, 60.0, 4000
    T = rng.exponential(mu, R)
    obs = T <= tau
    mean, se = km_restricted_mean(np.minimum(T, tau), obs, horizon=tau)
    exact = mu * (1 - np.exp(-tau / mu))  # ∫₀^τ e^{−t/μ} dt
    assert abs(mean - exact) < 4 * se
    # The restricted mean is a lower bound of the true mean, far below it here.
    assert mean < mu - 10 * se


def test_km_with_random_censoring_times():
    rng = np.random.default_rng(2)
    mu, R = 20.0, 5000
    T = rng.exponential(mu, R)
    C = rng.uniform(10, 80, R)
    tau = 10.0  # before any censoring can happen the KM curve is the empirical one
    mean, se = km_restricted_mean(np.minimum(T, C), T <= C, horizon=tau)
    exact = mu * (1 - np.exp(-tau / mu))
    assert abs(mean - exact) < 4 * se


def test_exponential_mle_recovers_mean_under_heavy_censoring():
    rng = np.random.default_rng(3)
    mu, tau, R = 100.0, 40.0, 3000  # about two thirds of the replicas are censored
    T = rng.exponential(mu, R)
    obs = T <= tau
    mean, se = exponential_mle(np.minimum(T, tau), obs)
    assert abs(mean - mu) < 4 * se
    naive = np.minimum(T, tau).mean()  # the bug this module exists to avoid
    assert naive < mu - 20 * se


def test_mean_first_passage_counts_censored_and_picks_estimator():
    fp = np.array([[3, 10], [5, -1], [2, 7], [4, -1]])
    est = mean_first_passage(fp, budget=20)
    assert [e.censored for e in est] == [0, 2]
    assert est[0].method == "mean" and est[0].mean == pytest.approx(3.5)
    assert est[1].method == "exponential-mle"
    assert est[1].mean == pytest.approx((10 + 20 + 7 + 20) / 2)
    km = mean_first_passage(fp, budget=20, method="km")[1]
    assert km.method == "km-restricted" and km.mean <= est[1].mean


def test_nothing_crossed_is_infinite_not_the_budget():
    est = mean_first_passage(np.full((5, 1), -1), budget=100)[0]
    assert est.censored == 5 and np.isinf(est.mean)


def test_slope_fit_recovers_power_law_with_bootstrap_error():
    rng = np.random.default_rng(4)
    c = np.geomspace(1.5, 6, 8)
    slope_true, R = 2.5, 400
    means = 3.0 * c**slope_true
    # Nested thresholds: one exponential clock per replica scaled by the mean.
    fp = np.ceil(rng.exponential(1.0, (R, 1)) * means[None, :]).astype(np.int64)
    budget = int(means[-2] * 2)
    fp[fp > budget] = -1
    fit = fit_slope(c, fp, budget, window=(1.5, 6.0), rng=rng, n_boot=200)
    assert fit.used.all()
    assert abs(fit.slope - slope_true) < 4 * fit.slope_stderr + 0.02
    assert 0.005 < fit.slope_stderr < 0.3
    assert fit.estimates[-1].censored > 0


def test_slope_window_needs_two_thresholds():
    with pytest.raises(ValueError, match="window"):
        fit_slope([1.0, 2.0, 4.0], np.ones((3, 3), int), 10, window=(1.5, 3.0),
                  rng=np.random.default_rng(0))
