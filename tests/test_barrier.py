"""The barrier landscape: exact moments against brute force, label noise at fixed ΔL, the
kernels against the exact chain, the explorer, and the experiments' keys."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from logloss import explore, mean_first_passage, run_experiment, theory  # noqa: E402
from logloss.dynamics.barrier_sgd import em_first_passage, sgd_barrier  # noqa: E402
from logloss.models.barrier import make_barrier_regression  # noqa: E402
from logloss.stats.survival import kaplan_meier  # noqa: E402


@pytest.fixture(scope="module")
def prob():
    return make_barrier_regression(2000, np.random.default_rng(1), A=2.0, k=2.0, b=1.0)


def test_exact_moments_match_per_sample_sums(prob):
    p = prob.with_sigma2(2.0)
    th = np.array([-0.9, 0.3, 1.7])
    g = p.per_sample_grads(th)
    assert np.allclose(g.mean(1), p.grad(th))
    assert np.allclose((g**2).mean(1), p.grad_second_moment(th))
    e = 1e-5
    assert np.allclose((p.loss(th + e) - p.loss(th - e)) / (2 * e), p.grad(th), rtol=1e-6)
    assert np.allclose((p.grad(th + e) - p.grad(th - e)) / (2 * e), p.hessian(th), rtol=1e-6)
    B = 7
    var = (g**2).mean(1) - g.mean(1) ** 2
    assert np.allclose(p.noise_variance(th, B=B), var / B * (p.N - B) / (p.N - 1))


def test_label_noise_shifts_loss_and_keeps_barriers(prob):
    th = np.linspace(-2, 2, 9)
    q = prob.with_sigma2(3.0)
    assert np.allclose(q.loss(th) - prob.loss(th), 1.5)
    assert np.allclose(q.grad(th), prob.grad(th)) and np.allclose(q.hessian(th), prob.hessian(th))
    assert np.allclose(list(q.critical_points.values()), list(prob.critical_points.values()))


def test_sgd_kernel_matches_exact_chain(prob):
    p = prob.with_sigma2(10.0)
    cp = p.critical_points
    run = sgd_barrier(p, eta=0.02, B=1, steps=20_000, replicas=400, seed=3,
                      lo=cp["exit_lo"], hi=cp["exit_hi"], theta0=cp["theta_star"])
    e = mean_first_passage(run.first_passage, run.steps)[0]
    x = p.path_grid(401)
    T = theory.markov_chain_mfpt(x, p.per_sample_grads, eta=0.02)
    assert e.censored == 0
    assert abs(e.mean - np.interp(cp["theta_star"], x, T)) < 3 * e.stderr + 0.03 * e.mean


def test_em_kernel_matches_quadrature(prob):
    p = prob.with_sigma2(10.0)
    cp = p.critical_points
    x = p.path_grid(2001)
    mu, D = -p.grad(x), 0.02 * p.noise_variance(x, B=1) / 2
    run = em_first_passage(x, mu, D, eta=0.02, substeps=8, steps=20_000, replicas=400, seed=4,
                           theta0=cp["theta_star"])
    e = mean_first_passage(run.first_passage, run.steps)[0]
    T = np.interp(cp["theta_star"], x, theory.sde_mfpt(x, mu, D)) / 0.02
    assert abs(e.mean - T) < 3 * e.stderr + 0.05 * T


def test_kaplan_meier_of_censored_exponential_times():
    rng = np.random.default_rng(0)
    t = rng.exponential(10.0, 4000)
    obs = t < 25
    s = kaplan_meier(np.minimum(t, 25), obs)
    assert np.max(np.abs(s.survival - np.exp(-s.t / 10))) < 0.03
    assert np.all(s.stderr[np.isfinite(s.stderr)] >= 0)


def test_laws_ordering_and_limits():
    kw = dict(eta=0.02, B=1, dL=5.0, h_star=9.0, h_saddle=-5.0, h_noise=16.0, L_ref=0.5)
    L = np.array([0.5, 5.0, 50.0])
    t = theory.barrier_escape_laws(L, **kw)
    assert np.all(np.diff(t["eq15"]) < 0) and np.allclose(t["arrhenius_const"], t["arrhenius_const"][0])
    assert t["arrhenius_min"][0] > 1e6 * t["eq15"][0]          # c − 1 ≫ log c at c = 11
    far = theory.barrier_escape_laws(1e6, **kw)                    # c → 1: the laws meet
    assert abs(far["arrhenius_min"] / far["eq15"] - 1) < 1e-3
    assert np.allclose(t["xss"], t["xss"][0])


def test_explorer_data_grid_and_builder():
    import matplotlib.pyplot as plt

    lr = dict(L_star=0.49, dL_lo=5.2, dL_hi=5.4, h_star=9.6, h_saddle_lo=-5.2, h_saddle_hi=-5.7,
              h_noise=16.5)
    d = explore.barrier_data(lr, eta=0.02, B=1, sigma2=4.0,
                             measured={"dL_over_L": [1, 2], "t": [10, 30], "eta": 0.02, "B": 1})
    assert d["here"]["eq15"] > 0 and "measured_x" in d
    fig = explore.barrier_grid(lr, (0.02,), (1,))
    assert "explorer grid" in fig.texts[-1].get_text()
    box = explore.barrier_explorer(lr)
    box.explorer_controls["sigma2"].value = 10.0
    assert box.explorer_state["updates"] == 2
    plt.close("all")


@pytest.mark.parametrize("name", ["barrier", "error-budget"])
def test_experiments_smoke(name):
    r = run_experiment(name, "smoke", verbose=False)
    assert "censored" in r.measured
    s = r.summary()
    assert s["tables"]
