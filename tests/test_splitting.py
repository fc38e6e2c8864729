"""The rare-event estimator against independent references.

* brute force (``sgd_linreg``, censoring-aware means) where both reach;
* the exact discrete chain of 1-d SGD on a data set (``theory.discrete_mfpt_1d``) and online
  (``theory.discrete_mfpt_online_1d``, with the rare kicks importance-sampled) up to
  t_p ≥ 10¹² (10¹⁵ online);
* the splitting probability against direct excursions from the same bulk states, unweighted
  and importance-sampled;
* the SDE with the exact Gaussian-data noise (``theory.radial_mfpt``) for d > 1 at weak
  noise, where discrete SGD tends to it;
* the cost: replica-steps per decade of t_p grow at most linearly with log t_p.

Tolerances: z-scores of log t_p with the estimator's delta-method standard error over its
repetitions (and the reference's own error where it has one), 3.5 s.e. for a family of a
few thresholds (a two-sided family-wise level of about 0.2 % for four independent tests).
"""

import os

import numpy as np
import pytest

from logloss import kick_tilt, make_linear_regression, mean_first_passage, sgd_linreg, theory
from logloss.core.errors import InvalidInput
from logloss.dynamics.excursions import LinregSystem
from logloss.stats.splitting import level_grid, rare_first_passage, splitting

os.environ.setdefault("LOGLOSS_PROGRESS", "0")
Z = 3.5


def _z(estimate, reference, reference_se=None):
    ref_se = 0.0 if reference_se is None else reference_se / reference / np.log(10)
    return ((np.log10(estimate.t_p) - np.log10(reference))
            / np.hypot(estimate.log10_t_p_stderr, ref_se))


@pytest.fixture(scope="module")
def data_1d():
    return make_linear_regression(10_000, 1, np.random.default_rng(0))


def test_estimator_agrees_with_brute_force(data_1d):
    """Finite data, d = 1 and d = 4, at thresholds whose t_p brute force measures (≤ 10⁵)."""
    for prob, cs in ((data_1d, [1.5, 1.7, 2.0]),
                     (make_linear_regression(10_000, 4, np.random.default_rng(1)),
                      [2.4, 2.8, 3.2])):
        system = LinregSystem(prob, eta=0.1, B=1)
        est = rare_first_passage(system, cs, seed=3, repetitions=8, replicas=200)
        run = sgd_linreg(prob, eta=0.1, B=1, steps=400_000, replicas=64, seed=4,
                         thresholds=np.asarray(cs) * prob.L_star)
        bf = mean_first_passage(run.first_passage, run.steps)
        assert all(e.censored == 0 for e in bf)
        assert np.all(est.t_p >= 10 * est.relaxation)  # escapes, not relaxations
        z = _z(est, np.array([e.mean for e in bf]), np.array([e.stderr for e in bf]))
        assert np.all(np.abs(z) < Z), (prob.d, est.t_p, [e.mean for e in bf], z)


def test_estimator_agrees_with_the_exact_chain_beyond_1e12(data_1d):
    prob = data_1d
    x = prob.X[:, 0]
    a, b = 1 - 0.1 * x**2, 0.1 * x * (prob.y - x * prob.theta_star[0])
    cs = np.array([2.0, 3.0, 4.0])
    chain = np.array([theory.discrete_mfpt_1d(a, b, u_c=np.sqrt(2 * (c - 1) * prob.L_star
                                                                 / prob.h_star), points=801)
                      for c in cs])
    assert chain[-1] > 1e12
    est = rare_first_passage(LinregSystem(prob, eta=0.1, B=1), cs, seed=5, repetitions=8,
                             replicas=200)
    assert np.all(est.resolved)
    z = _z(est, chain)
    assert np.all(np.abs(z) < Z), (np.log10(est.t_p), np.log10(chain), z)


def test_online_d1_escape_by_rare_kicks_agrees_with_the_exact_chain_beyond_1e15(data_1d):
    """Online d = 1 escapes by a few samples with η x² > 2 in a row (about 10⁻⁵ per step):
    unweighted splitting misses that route (its t_p at c = 10 was six decades too large),
    the kicks importance-sampled by ``kick_tilt``'s rule find it."""
    cs = np.array([3.0, 10.0, 30.0])
    tilt = kick_tilt(eta=0.1, B=1, d=1, c_max=cs[-1])
    assert tilt["tilt"] > 0 and tilt["tilt_far"] > 0
    system = LinregSystem(data_1d, eta=0.1, B=1, online=True, **tilt)
    chain = np.array([theory.discrete_mfpt_online_1d(c, eta=0.1) for c in cs])
    assert chain[-1] > 1e15
    est = rare_first_passage(system, cs, seed=1, repetitions=32, replicas=10_000)
    assert np.all(est.resolved)
    z = _z(est, chain)
    assert np.all(np.abs(z) < Z), (np.log10(est.t_p), np.log10(chain), z)


def test_the_kick_rule_tilts_only_where_rare_kicks_beat_diffusion():
    """kick_tilt: on online at d = 1 and 4 for far thresholds (η = 0.1: a kick per 10⁵ and
    2·10³ steps), off at d = 16 (kicks common), near the bulk, and at weak noise."""
    on = {(eta, d, c): kick_tilt(eta=eta, B=1, d=d, c_max=c)["tilt"] > 0
          for eta, d, c in ((0.1, 1, 10.0), (0.1, 4, 10.0), (0.1, 16, 10.0), (0.1, 1, 1.5),
                            (0.04, 4, 1.8))}
    assert on == {(0.1, 1, 10.0): True, (0.1, 4, 10.0): True, (0.1, 16, 10.0): False,
                  (0.1, 1, 1.5): False, (0.04, 4, 1.8): False}


def test_a_bad_tilt_is_refused(data_1d):
    """A tilt on a data set (its samples are given) or outside [0, 1): one-line errors."""
    assert not LinregSystem(data_1d, eta=0.1, B=1, online=True).tilted
    for bad in (dict(tilt=0.1), dict(tilt=-0.1, online=True), dict(tilt=1.0, online=True),
                dict(tilt=float("nan"), online=True), dict(tilt_far=0.2),
                dict(tilt=0.1, far=1.0, online=True)):
        with pytest.raises(InvalidInput):
            LinregSystem(data_1d, eta=0.1, B=1, **bad)


@pytest.mark.parametrize("online,tilt,c_A,cs,spacing,R,replicas,runs", [
    (False, {}, 1.03, [1.3, 1.6], 0.02, 400_000, 200, 40),
    (True, dict(tilt=0.1, tilt_far=0.3, far=1.3), 1.1, [1.5, 2.0], 0.05, 1_000_000, 300, 60),
], ids=["data-set", "online-importance-sampled"])
def test_splitting_probability_agrees_with_direct_excursions(data_1d, online, tilt, c_A, cs,
                                                             spacing, R, replicas, runs):
    """The splitting step alone: P(reach c before A) from the same bulk states, against
    plain unweighted excursions; online with the kicks importance-sampled (a larger share
    beyond 1.3 times the bulk's edge), the likelihood ratios carried through the clones."""
    plain = LinregSystem(data_1d, eta=0.1, B=1, online=online)
    system = LinregSystem(data_1d, eta=0.1, B=1, online=online, **tilt)
    xi_A = np.log(c_A)
    bulk = plain.flux(1, replicas=8, burn=200, steps=4000, xi_A=xi_A, cap=128).bulk
    cs = np.array(cs)
    grid = level_grid(c_A, cs, spacing)
    at = np.searchsorted(grid, np.log(cs))
    ex = plain.excursions(bulk[np.random.default_rng(2).integers(0, len(bulk), R)],
                          np.full(R, -1), 7, grid=grid, xi_A=xi_A, max_steps=100_000)
    assert not np.any(ex.weight_records)  # unweighted: every log-weight 0
    direct = np.array([(ex.level >= g).mean() for g in at])
    est = np.array([splitting(system, bulk, grid=grid, xi_A=xi_A, replicas=replicas,
                              kill=replicas // 10, rng=np.random.default_rng(10 + m),
                              max_steps=100_000).probability[at] for m in range(runs)])
    se = np.hypot(est.std(axis=0, ddof=1) / np.sqrt(runs), np.sqrt(direct / R))
    assert np.all(np.abs(est.mean(axis=0) - direct) < Z * se), (est.mean(axis=0), direct, se)


def test_weak_noise_d4_tends_to_the_exact_noise_sde():
    """Online d = 4: as η → 0 at a fixed depth of the thresholds in units of the bulk
    (c − 1 = mηd/2), discrete SGD's local slope tends to that of the SDE with the exact
    Gaussian-data noise.  (Its t_p keeps an O(1) factor from the discreteness of the steps
    near the threshold, whose width scales with the bulk's.)  The relative slope difference
    must fall from η = 0.04 to η = 0.01 by more than 3 of its standard errors, and by about
    the ratio of the η (at least half of it)."""
    prob = make_linear_regression(10, 4, np.random.default_rng(0))
    rel, se = [], []
    for eta in (0.04, 0.01):
        cs = 1 + np.array([5.0, 10.0]) * eta * 4 / 2
        est = rare_first_passage(LinregSystem(prob, eta=eta, B=1, online=True), cs, seed=6,
                                 repetitions=8, replicas=200)
        sde = theory.radial_mfpt(cs, eta=eta, B=1, d=4, exact_noise=True)
        slope_sde = np.log(sde[1] / sde[0]) / np.log(cs[1] / cs[0])
        rel.append(abs(est.slope[0] - slope_sde) / slope_sde)
        se.append(est.slope_stderr[0] / slope_sde)
    assert rel[0] - rel[1] > 3 * np.hypot(*se), (rel, se)
    assert rel[1] < rel[0] / 2, rel


def test_cost_per_decade_grows_at_most_linearly_with_log_tp(data_1d):
    """Replica-steps spent until each threshold's estimate is final, per decade of t_p,
    divided by log₁₀ t_p: constant for a cost linear in (log t_p)², growing for worse."""
    est = rare_first_passage(LinregSystem(data_1d, eta=0.1, B=1), [1.5, 2.0, 3.0, 4.5], seed=8,
                             repetitions=4, replicas=200)
    logt = np.log10(est.t_p)
    per_decade = est.cost_to / logt
    ratio = per_decade / logt
    # criterion: the last ratio at most twice the first (a cost per decade growing like
    # (log t_p)² would multiply it by the log₁₀ t_p ratio, here about 5)
    assert ratio[-1] < 2 * ratio[0], (logt, est.cost_to, ratio)


def test_thresholds_inside_the_bulk_are_nan_and_bad_input_is_refused(data_1d):
    system = LinregSystem(data_1d, eta=0.1, B=1)
    est = rare_first_passage(system, [1.0001, 1.5], seed=1, repetitions=2, replicas=50)
    assert np.isnan(est.t_p[0]) and np.isfinite(est.t_p[1])
    for bad in ([], [1.5, 1.4], [1.5, np.inf]):
        with pytest.raises(InvalidInput):
            rare_first_passage(system, bad, seed=1)
    with pytest.raises(InvalidInput):
        rare_first_passage(system, [1.5], seed=1, repetitions=1)
    with pytest.raises(InvalidInput):
        rare_first_passage(system, [1.01], seed=1, c_A=1.05)


def test_same_seed_same_numbers_whatever_the_thread_count(data_1d):
    system = LinregSystem(data_1d, eta=0.1, B=1)
    a = rare_first_passage(system, [1.5, 2.0], seed=9, repetitions=4, replicas=60, jobs=1)
    b = rare_first_passage(system, [1.5, 2.0], seed=9, repetitions=4, replicas=60, jobs=2)
    np.testing.assert_array_equal(a.rates, b.rates)


def _synthetic(rates, c):
    """A RareFirstPassage holding given per-repetition rates (only what window_slope reads)."""
    from logloss.stats.splitting import RareFirstPassage

    nan = np.full(c.size, np.nan)
    return RareFirstPassage(c=c, t_p=1 / rates.mean(0), t_p_stderr=nan, log10_t_p_stderr=nan,
                            rates=rates, p_A=np.ones(rates.shape[0]), dominance=nan,
                            resolved=np.ones(c.size, bool), c_mid=nan[1:], slope=nan[1:],
                            slope_stderr=nan[1:], cost=0, cost_to=nan, relaxation=1.0)


def test_window_slope_is_the_least_squares_slope_with_an_honest_bootstrap_error():
    c = np.geomspace(2, 200, 9)
    s, M = 3.0, 8
    # a repetition-wide factor shifts every threshold alike: the slope is exact
    exact = _synthetic(c ** -s * np.exp(np.random.default_rng(0).normal(0, 0.5, (M, 1))), c)
    m = exact.window_slope(np.ones(c.size, bool), seed=1)
    assert m.value == pytest.approx(s, rel=1e-12) and m.stderr < 1e-9
    assert np.isnan(exact.window_slope(c < 3, seed=1).value)  # one threshold: no slope
    # independent noise of mean 1 (gamma), growing with c as the splitting's does: the
    # bootstrap s.e. must match the spread of the slope over independent data sets
    rng = np.random.default_rng(2)
    sd = 0.1 * np.arange(1, c.size + 1)
    k = 1 / sd**2
    fits = [_synthetic(c ** -s * rng.gamma(k, 1 / k, (M, c.size)), c).window_slope(
        np.ones(c.size, bool), seed=j) for j in range(200)]
    values, errors = np.array([f.value for f in fits]), np.array([f.stderr for f in fits])
    spread = values.std(ddof=1)
    # tolerance: statistical: the bootstrap s.e. of M = 8 is biased low by about sqrt((M-1)/M)
    # and varies by ~25 % per fit; its median over 200 fits within 30 % of the true spread
    assert 0.7 * spread < np.median(errors) < 1.3 * spread, (spread, np.median(errors))
    # the delta method's bias of -log(mean of M) is +sd²/(2M) per threshold: its OLS slope
    x = np.log(c) - np.log(c).mean()
    expected = s + x @ (sd**2 / (2 * M)) / (x @ x)
    # tolerance: statistical: 4 s.e. of the mean of 200 independent slopes
    assert abs(values.mean() - expected) < 4 * spread / np.sqrt(200), (values.mean(), expected)
