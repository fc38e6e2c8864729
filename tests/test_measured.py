"""Measured and its constructors: the sample mean with s/√n, and the inverse-variance weighted
mean, against scipy and hand computations."""

import numpy as np
import pytest
from scipy import stats

from logloss import InvalidInput, Measured
from logloss.core.measured import standard_error


def test_standard_error_is_scipys_sem_over_any_axis():
    x = np.random.default_rng(0).normal(size=(7, 4))
    assert standard_error(x) == pytest.approx(stats.sem(x, axis=None), rel=1e-14)
    np.testing.assert_allclose(standard_error(x, axis=0), stats.sem(x, axis=0), rtol=1e-14)
    np.testing.assert_allclose(standard_error(x, axis=1), stats.sem(x, axis=1), rtol=1e-14)
    # by hand: samples 1, 2, 3 have s = 1, so s/√3
    assert standard_error([1.0, 2.0, 3.0]) == pytest.approx(1 / np.sqrt(3), rel=1e-15)


def test_fewer_than_two_samples_have_no_standard_error_and_no_warning():
    with np.errstate(all="raise"):  # numpy's ddof=1 on one sample would warn
        assert np.isnan(standard_error([2.5]))
        assert np.isnan(standard_error(np.ones((1, 3)), axis=0)).all()
        assert standard_error(np.ones((1, 3)), axis=0).shape == (3,)
        m = Measured.from_samples([2.5])
        assert m.value == 2.5 and np.isnan(m.stderr)
        empty = Measured.from_samples([])
        assert np.isnan(empty.value) and np.isnan(empty.stderr)


def test_from_samples_is_the_mean_with_scipys_sem():
    x = np.random.default_rng(1).exponential(size=50)
    m = Measured.from_samples(x)
    assert m.value == pytest.approx(np.mean(x), rel=1e-15)
    assert m.stderr == pytest.approx(stats.sem(x), rel=1e-14)
    assert np.isnan(Measured.from_samples([1.0, np.nan]).value)  # no NaN-aware mean
    # None (a missing value in a table row) is NaN, as in np.array(..., dtype=float)
    assert np.isnan(Measured.from_samples([1.0, None]).value)


def test_from_samples_keeps_float32_samples_in_float32():
    # the estimate of float32 samples is computed as numpy computes their mean (no upcast)
    x = np.random.default_rng(2).normal(size=1001).astype(np.float32)
    m = Measured.from_samples(x)
    assert m.value == float(x.mean()) and m.stderr == float(x.std(ddof=1) / np.sqrt(x.size))


def test_weighted_mean_by_hand_and_against_numpy_and_least_squares():
    # by hand: x = (1, 2), s = (1, 2): w = (1, 1/4), mean = 1.5/1.25 = 1.2, s.e. = 1.25^(-1/2)
    m = Measured.weighted_mean([1.0, 2.0], [1.0, 2.0])
    assert m.value == pytest.approx(1.2, rel=1e-15)
    assert m.stderr == pytest.approx(1.25**-0.5, rel=1e-15)
    rng = np.random.default_rng(3)
    x, s = rng.normal(size=9), rng.uniform(0.1, 2.0, size=9)
    m = Measured.weighted_mean(x, s)
    assert m.value == pytest.approx(np.average(x, weights=s**-2), rel=1e-13)
    # weighted least squares of x on a constant: the coefficient and its covariance (AᵀA)⁻¹
    A = (1 / s)[:, None]
    coef = np.linalg.lstsq(A, x / s, rcond=None)[0]
    assert m.value == pytest.approx(coef[0], rel=1e-12)
    assert m.stderr == pytest.approx(np.sqrt(np.linalg.inv(A.T @ A)[0, 0]), rel=1e-12)


def test_weighted_mean_rules_for_infinite_nan_zero_and_empty():
    # an infinite standard error carries no information
    assert Measured.weighted_mean([1.0, 50.0], [0.5, np.inf]) == Measured.weighted_mean([1.0], [0.5])
    assert np.isnan(Measured.weighted_mean([1.0, 2.0], [0.5, np.nan]).value)
    for values, stderrs, match in [([], [], "at least one"), ([1.0, 2.0], [1.0], "one standard error"),
                                   ([1.0, 2.0], [1.0, 0.0], "> 0"), ([1.0], [-1.0], "> 0"),
                                   ([1.0, 2.0], [np.inf, np.inf], "finite")]:
        with pytest.raises(InvalidInput, match=match):
            Measured.weighted_mean(values, stderrs)
