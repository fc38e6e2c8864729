"""Kaplan–Meier, censored Weibull shape and local slopes against independent oracles."""

import numpy as np
import pytest

from logloss.stats.lines import local_slopes
from logloss.stats.survival import kaplan_meier, weibull_shape


def test_kaplan_meier_matches_the_6mp_leukaemia_table():
    # Freireich et al. (1963), 6-MP arm; "*" (False) = censored.  The reference survival
    # and Greenwood standard errors are the textbook values (Klein & Moeschberger, Table 4.1A).
    t = [6, 6, 6, 6, 7, 9, 10, 10, 11, 13, 16, 17, 19, 20, 22, 23, 25, 32, 32, 34, 35]
    o = [1, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    km = kaplan_meier(t, np.array(o, bool))
    np.testing.assert_array_equal(km.t, [6, 7, 10, 13, 16, 22, 23])
    np.testing.assert_allclose(km.survival, [0.857, 0.807, 0.753, 0.690, 0.627, 0.538, 0.448],
                               atol=6e-4)
    np.testing.assert_allclose(km.stderr, [0.0764, 0.0869, 0.0963, 0.1068, 0.1141, 0.1282, 0.1346],
                               atol=6e-4)
    np.testing.assert_array_equal(km.at_risk, [21, 17, 15, 12, 11, 7, 6])
    assert km.at([0, 6, 6.5, 40]).tolist() == pytest.approx([1.0, 0.857, 0.857, 0.448], abs=6e-4)


def test_kaplan_meier_without_censoring_is_the_empirical_survival():
    rng = np.random.default_rng(0)
    t = rng.exponential(3.0, 200)
    km = kaplan_meier(t, np.ones(200, bool))
    np.testing.assert_allclose(km.survival, 1 - np.arange(1, 201) / 200, atol=1e-12)


@pytest.mark.parametrize("k_true", [1.0, 3.0])
def test_weibull_shape_recovers_the_shape_under_censoring(k_true):
    rng = np.random.default_rng(1)
    t = 50.0 * rng.weibull(k_true, 400)
    budget = 60.0
    obs = t <= budget
    fit = weibull_shape(np.minimum(t, budget), obs)
    assert abs(fit.shape - k_true) < 3 * fit.shape_stderr
    assert fit.shape_stderr < 0.15 * k_true
    # an exponential sample is memoryless, a k = 3 sample is not
    assert (abs(fit.z_exponential) < 3) == (k_true == 1.0)


def test_local_slopes_of_a_power_law():
    c = np.geomspace(1.5, 30, 9)
    t = 7.0 * c**4.5
    mid, s, se = local_slopes(c, t, 0.1 * t)
    np.testing.assert_allclose(s, 4.5)
    np.testing.assert_allclose(se, np.sqrt(2) * 0.1 / np.diff(np.log(c)))
    np.testing.assert_allclose(mid, np.sqrt(c[1:] * c[:-1]))
