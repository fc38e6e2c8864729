"""The replica kernel against a naive numpy loop on the same minibatch sequence."""

import numpy as np
import pytest

from logloss.core.errors import SGDDiverged
from logloss.dynamics import rng
from logloss.dynamics.linreg_sgd import sgd_linreg
from logloss.dynamics.rng import minibatch_indices
from logloss.models.linreg import make_linear_regression
from logloss.reference import naive_sgd_linreg


@pytest.fixture(scope="module")
def prob3():
    return make_linear_regression(50, 3, np.random.default_rng(1))


@pytest.mark.parametrize("d,B,N", [(1, 1, 40), (3, 5, 50), (2, 30, 30)])
def test_matches_naive_loop(d, B, N):
    prob = make_linear_regression(N, d, np.random.default_rng(d + B))
    steps, replicas, seed = 200, 3, 7
    theta0 = prob.theta_star + np.random.default_rng(2).standard_normal((replicas, d))
    run = sgd_linreg(prob, eta=0.05, B=B, steps=steps, replicas=replicas, seed=seed,
                     theta0=theta0, record_every=1)
    for r in range(replicas):
        idx = minibatch_indices(seed, r, N, B, steps)
        ref = naive_sgd_linreg(prob, eta=0.05, B=B, steps=steps, theta0=theta0[r], indices=idx)
        np.testing.assert_allclose(run.samples[:, r, :], ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(run.theta_final[r], ref[-1], rtol=1e-12, atol=1e-12)


def test_minibatches_distinct_and_uniform():
    N, B, steps = 20, 7, 20000
    idx = minibatch_indices(123, 0, N, B, steps)
    assert all(len(set(row)) == B for row in idx[:2000])
    counts = np.bincount(idx.ravel(), minlength=N)
    # each index appears in a batch with probability B/N per step: binomial counts
    p = B / N
    z = (counts - steps * p) / np.sqrt(steps * p * (1 - p))
    assert np.max(np.abs(z)) < 4.5
    # pairs: P(μ and ν in the same batch) = B(B−1)/(N(N−1)) for every pair
    both = np.mean(np.any(idx == 0, axis=1) & np.any(idx == 1, axis=1))
    q = B * (B - 1) / (N * (N - 1))
    assert abs(both - q) < 4.5 * np.sqrt(q * (1 - q) / steps)


def test_recording_and_independent_of_threads(prob3, at_one_thread):
    kw = dict(eta=0.1, B=2, steps=1000, replicas=6, seed=3, record_every=100)
    a = sgd_linreg(prob3, **kw)
    b = at_one_thread(lambda: sgd_linreg(prob3, **kw))
    assert a.samples.shape == (10, 6, 3)
    np.testing.assert_array_equal(a.samples, b.samples)
    np.testing.assert_array_equal(a.samples[-1], a.theta_final)
    c = sgd_linreg(prob3, **(kw | {"seed": 4}))
    assert not np.allclose(a.theta_final, c.theta_final)
    # replicas differ from one another
    assert len(np.unique(a.theta_final[:, 0])) == 6


def test_first_passage_against_trajectory(prob3):
    steps, replicas, seed, eta, B = 3000, 4, 11, 0.2, 1
    Ls = prob3.L_star
    thr = Ls * np.array([1.05, 1.5, 3.0, 1e6])
    run = sgd_linreg(prob3, eta=eta, B=B, steps=steps, replicas=replicas, seed=seed,
                     thresholds=thr)
    assert run.first_passage.shape == (replicas, 4)
    for r in range(replicas):
        idx = minibatch_indices(seed, r, prob3.N, B, steps)
        traj = naive_sgd_linreg(prob3, eta=eta, B=B, steps=steps, theta0=prob3.theta_star,
                                indices=idx)
        L = prob3.loss(traj)
        for j, t in enumerate(thr):
            hit = np.flatnonzero(L >= t)
            expected = hit[0] + 1 if hit.size else -1
            assert run.first_passage[r, j] == expected
    assert np.all(run.first_passage[:, -1] == -1)  # 10⁶ L* is never reached: censored


def test_stop_when_all_crossed(prob3):
    thr = prob3.L_star * np.array([1.01])
    kw = dict(eta=0.2, B=1, steps=5000, replicas=3, seed=2, thresholds=thr)
    a = sgd_linreg(prob3, **kw)
    b = sgd_linreg(prob3, **kw, stop_when_all_crossed=False)
    np.testing.assert_array_equal(a.first_passage, b.first_passage)
    assert np.all(a.first_passage > 0)


def test_divergence_names_eta(prob3):
    with pytest.raises(SGDDiverged, match="eta"):
        sgd_linreg(prob3, eta=50.0, B=1, steps=5000, replicas=2, seed=0)


@pytest.mark.parametrize("kw,match", [
    (dict(eta=0.0), "eta"), (dict(eta=float("nan")), "eta"), (dict(B=0), "B"),
    (dict(B=51), "B"), (dict(replicas=0), "replicas"),
    (dict(theta0=np.zeros(2)), "theta0"), (dict(thresholds=np.array([2.0, 1.0])), "increasing"),
])
def test_bad_input(prob3, kw, match):
    base = dict(eta=0.1, B=1, steps=10, replicas=2, seed=0)
    with pytest.raises(ValueError, match=match):
        sgd_linreg(prob3, **(base | kw))


@pytest.mark.parametrize("d,B", [(1, 1), (1, 3), (2, 2)])
def test_online_matches_naive_loop_on_the_replica_stream(d, B):
    """Online, sample b of step k is x = the next d normals of the replica's stream, y the next."""
    prob = make_linear_regression(10, d, np.random.default_rng(0))  # only d is used online
    steps, replicas, seed, eta = 300, 3, 5, 0.05
    run = sgd_linreg(prob, eta=eta, B=B, steps=steps, replicas=replicas, seed=seed,
                     record_every=1, online=True)
    z = rng.sample(seed, replicas, steps * B * (d + 1), kind="normal")
    for r in range(replicas):
        xy = z[r].reshape(steps, B, d + 1)
        theta, ref = np.zeros(d), []
        for k in range(steps):
            x, y = xy[k, :, :d], xy[k, :, d]
            theta = theta - eta / B * x.T @ (x @ theta - y)
            ref.append(theta)
        np.testing.assert_allclose(run.samples[:, r, :], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", [dict(online=True), dict(B=3), dict(thresholds="fp")])
@pytest.mark.parametrize("d", [1, 2])
def test_every_mode_independent_of_threads(kw, d, at_one_thread):
    prob = make_linear_regression(40, d, np.random.default_rng(d))
    if kw.get("thresholds") == "fp":
        kw = dict(thresholds=prob.L_star * np.array([1.1, 1.5, 2.0, 4.0]))
    base = dict(eta=0.1, B=1, steps=3000, replicas=7, seed=9) | kw
    a = sgd_linreg(prob, **base)
    b = at_one_thread(lambda: sgd_linreg(prob, **base))
    np.testing.assert_array_equal(a.theta_final, b.theta_final)
    np.testing.assert_array_equal(a.first_passage, b.first_passage)
    if "thresholds" in kw:
        assert (a.first_passage > 0).any()


def test_first_passage_of_all_thresholds_in_one_pass_matches_one_at_a_time(prob3):
    """Recording all thresholds at once gives each threshold's own first passage."""
    thr = prob3.L_star * np.array([1.02, 1.1, 1.3, 2.0])
    kw = dict(eta=0.2, B=1, steps=4000, replicas=5, seed=4, stop_when_all_crossed=False)
    together = sgd_linreg(prob3, thresholds=thr, **kw).first_passage
    for j, t in enumerate(thr):
        np.testing.assert_array_equal(together[:, j], sgd_linreg(prob3, thresholds=[t], **kw).first_passage[:, 0])


@pytest.mark.parametrize("online,B", [(False, 2), (True, 1), (True, 3)])
def test_tracked_loss_matches_the_recorded_trajectory(prob3, online, B):
    """The kernel tracks L through v = Sᵀ(θ − θ*) updated step by step (resynchronised
    every 1024 steps); its first passages must be those of L(θ_k) computed afresh from
    the recorded θ_k, online (H = I) and offline."""
    steps, eta = 20_000, 0.2
    L_star = 0.5 if online else prob3.L_star
    thr = L_star * np.append(np.geomspace(1.02, 6, 30), 1e6)
    run = sgd_linreg(prob3, eta=eta, B=B, steps=steps, replicas=3, seed=5, thresholds=thr,
                     record_every=1, online=online)
    u = run.samples - (0.0 if online else prob3.theta_star)
    H = np.eye(prob3.d) if online else prob3.hessian
    L = L_star + 0.5 * np.einsum("kri,ij,krj->kr", u, H, u)
    for r in range(3):
        for j, t in enumerate(thr):
            hit = np.flatnonzero(L[:, r] >= t)
            assert run.first_passage[r, j] == (hit[0] + 1 if hit.size else -1)
    # the tracked loss itself, at the step before each crossing, to rounding
    k = run.first_passage
    ok = k >= 2
    np.testing.assert_allclose(run.pre_loss[ok], L[k[ok] - 2, np.nonzero(ok)[0]], rtol=1e-11)
    assert (k[:, :-1] > 1024).any(), "a crossing after a resync is tested"
