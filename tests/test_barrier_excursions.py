"""BarrierSystem: splitting on ξ = log(L/L*) over the barrier, against brute force where both
reach and against the exact discrete chain where only the chain and splitting reach."""

from __future__ import annotations

import numpy as np
import pytest

from logloss import InvalidInput, mean_first_passage
from logloss.dynamics.barrier_excursions import BarrierSystem
from logloss.dynamics.barrier_sgd import sgd_barrier
from logloss.experiments._barrier import chain_time, landscape_row
from logloss.models.barrier import add_spectators, make_barrier_regression
from logloss.stats.splitting import rare_first_passage


@pytest.fixture(scope="module")
def prob():
    return make_barrier_regression(2000, np.random.default_rng(1), A=2.0, k=2.0, b=1.0)


def test_levels_increase_towards_either_exit_and_mark_it(prob):
    p = prob.with_sigma2(4.0)
    sy = BarrierSystem(add_spectators(p, 2, np.random.default_rng(0), h_spectator=5.0),
                       eta=0.02, B=1)
    cp = p.critical_points
    for end in (cp["exit_lo"], cp["exit_hi"]):
        th = np.linspace(cp["theta_star"], end, 4001)[:-1]
        states = np.column_stack([th, np.ones((th.size, 2))])   # ξ ignores the spectators
        xi = sy.levels(states)
        assert xi[0] == pytest.approx(0.0, abs=1e-12) and np.all(np.diff(xi) >= 0)
        assert xi[-1] == pytest.approx(np.log(sy.c_saddle))      # capped past the saddle
        assert sy.levels(np.array([[end, 0.0, 0.0]]))[0] == np.inf
    assert sy.state_size == 3 and np.log(sy.c_exit) > np.log(sy.c_saddle)
    with pytest.raises(TypeError):
        BarrierSystem(np.zeros(3), eta=0.02, B=1)


def _brute(problem, *, eta, replicas, seed):
    cp = (problem.base if hasattr(problem, "base") else problem).critical_points
    run = sgd_barrier(problem, eta=eta, B=1, steps=200_000, replicas=replicas, seed=seed,
                      lo=cp["exit_lo"], hi=cp["exit_hi"], theta0=cp["theta_star"])
    e = mean_first_passage(run.first_passage, run.steps)[0]
    assert e.censored == 0
    return e.mean, e.stderr


@pytest.mark.parametrize("sigma2, spectators", [(6.0, 0), (4.0, 2), (50.0, 0)])
def test_splitting_matches_brute_force_where_both_reach(prob, sigma2, spectators):
    """Exit times of a few hundred steps (≈ 50 relaxation times), with and without
    spectators (whose state the restarted replicas must carry: their loss feeds θ's noise
    and shortens the escape); and a transit of a few relaxation times (σ² = 50), where the
    estimate is still the mean exit time from θ* because the quasi-stationary run restarts
    at θ* at each exit (a run that went on past the exit doubles it)."""
    p = prob.with_sigma2(sigma2)
    if spectators:  # valleys as stiff as θ's noise curvature: the n of paper Eq. (15)
        p = add_spectators(p, spectators, np.random.default_rng(2),
                           h_spectator=landscape_row(p, B=1)["h_noise"])
    sy = BarrierSystem(p, eta=0.02, B=1)
    r = rare_first_passage(sy, [sy.c_exit], seed=3, repetitions=16, replicas=100)
    t_bf, se_bf = _brute(p, eta=0.02, replicas=600, seed=4)
    # tolerance: statistical: 3 combined standard errors (repetitions of splitting, replicas of brute force)
    assert abs(r.t_p[0] - t_bf) < 3 * np.hypot(r.t_p_stderr[0], se_bf), (r.t_p[0], t_bf)


def test_splitting_matches_the_exact_chain_beyond_brute_force(prob):
    """Weak noise (B/(ηh) ≈ 12): the exit takes ~10¹² steps, out of brute force's reach;
    the exact discrete chain (all N per-sample kicks, Richardson over two grids) is the
    reference."""
    p = prob.with_sigma2(1.5)
    sy = BarrierSystem(p, eta=0.005, B=1)
    T, grid_err = chain_time(p, eta=0.005, B=1, resolution=4.0)
    assert T > 1e11
    r = rare_first_passage(sy, [sy.c_exit], seed=5, repetitions=16, replicas=100)
    # tolerance: statistical: 3 s.e. of splitting plus the chain's measured grid error
    assert abs(r.t_p[0] - T) < 3 * r.t_p_stderr[0] + grid_err, (r.t_p[0], r.t_p_stderr[0], T)
    assert r.t_p_stderr[0] < 0.5 * r.t_p[0]      # the test has power: an error below 50 %


def test_splitting_probability_matches_direct_excursions(prob):
    """P(reach c before A | a state of π_A) by splitting against plain excursions from the
    same kind of bulk states, at a level that plain excursions reach often."""
    p = prob.with_sigma2(10.0)
    sy = BarrierSystem(p, eta=0.02, B=1)
    c_A, c = 1.1, 1.5
    xi_A = np.log(c_A)
    fr = sy.flux(7, replicas=16, burn=200, steps=4000, xi_A=xi_A, cap=64)
    grid = np.log(np.array([1.2, c]))
    states = fr.bulk[np.random.default_rng(8).integers(0, fr.bulk.shape[0], 20_000)]
    ex = sy.excursions(states, np.full(states.shape[0], -1), 9, grid=grid, xi_A=xi_A,
                       max_steps=100_000)
    direct = np.mean(ex.level >= 1)
    se_direct = np.sqrt(direct * (1 - direct) / states.shape[0])
    r = rare_first_passage(sy, [1.2, c], seed=10, c_A=c_A, repetitions=16, replicas=200)
    p_split = r.rates[:, 1] / r.p_A
    se_split = p_split.std(ddof=1) / np.sqrt(p_split.size)
    # tolerance: statistical: 3 combined standard errors (binomial; repetitions)
    assert abs(p_split.mean() - direct) < 3 * np.hypot(se_direct, se_split)
    assert 0.005 < direct < 0.5


def test_bad_problem_and_learning_rate_give_clear_errors(prob):
    with pytest.raises(InvalidInput):
        BarrierSystem(prob, eta=-0.1, B=1)
    with pytest.raises(InvalidInput):
        BarrierSystem(prob, eta=0.02, B=0)


def test_measure_escape_runs_brute_force_only_within_its_reach(prob):
    """Brute force where its budget is ≥ 5 splitting estimates (then it is the measurement),
    splitting alone beyond; ``rare`` is t ≥ 100 relaxation times."""
    from logloss.experiments._barrier import measure_escape

    kw = dict(B=1, steps=100_000, replicas=200, repetitions=8, split_replicas=60)
    fast = measure_escape(prob.with_sigma2(50.0), eta=0.02, rng=np.random.default_rng(0), **kw)
    assert fast["sgd_method"] == "brute force" and fast["sgd"] == fast["bf"]
    assert not fast["rare"] and fast["bf_censored"] == 0
    slow = measure_escape(prob.with_sigma2(4.0), eta=0.005, rng=np.random.default_rng(0), **kw)
    assert slow["sgd_method"] == "splitting" and np.isnan(slow["bf"]) and slow["bf_cost"] == 0
    assert slow["rare"] and slow["sgd"] > 5 * kw["steps"]
