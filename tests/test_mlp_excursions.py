"""The network as a rare-event System: its kernels against sgd_mlp, and its splitting
probabilities and first-passage times against direct simulation."""

import numpy as np
import pytest
import torch

from logloss import InvalidInput
from logloss.data import mnist_even_odd
from logloss.dynamics.mlp_excursions import MLPSystem
from logloss.dynamics.mlp_sgd import replica_losses, replicate, sgd_mlp
from logloss.dynamics.rng import minibatch_indices
from logloss.measure.hessian import hessian_outliers
from logloss.models.nets import mlp
from logloss.stats.first_passage import exponential_mle
from logloss.stats.splitting import level_grid, rare_first_passage, splitting


@pytest.fixture(scope="module")
def small():
    """A 784-6-1 net trained on 300 MNIST images (float32 and float64 copies)."""
    d = mnist_even_odd(300)
    net = mlp([784, 6, 1], seed=1)
    p = replicate(net, 1)
    sgd_mlp(p, d.x, d.y, eta=0.05, B=10, steps=30_000, rng=np.random.default_rng(0), threads=1)
    trained = p.model(0)
    lam = hessian_outliers(trained, d.x, k=1).lambda_max
    return d, trained, lam


@pytest.fixture(scope="module")
def converged():
    """A 784-2-1 net on 2000 images (too few units to fit them: a minimum with L* > 0),
    trained to convergence at low noise (η = 0.02, B = 50); SGD with B = 5 then holds a
    quasi-stationary loss above L*."""
    d = mnist_even_odd(2000)
    p = replicate(mlp([784, 2, 1], seed=1), 1)
    sgd_mlp(p, d.x, d.y, eta=0.02, B=50, steps=40_000, rng=np.random.default_rng(0), threads=1)
    net = p.model(0)
    return d, net, hessian_outliers(net, d.x, k=1).lambda_max


def test_levels_are_the_full_loss(small):
    d, net, lam = small
    s = MLPSystem(net.double(), d.x.double(), d.y.double(), eta=0.01, B=5, h_star=lam)
    ref = replica_losses(replicate(net.double(), 1), d.x.double(), d.y.double())[0].item()
    assert s.L_star == pytest.approx(ref, rel=1e-12)
    theta = s.theta_star[None, :] + 0.01 * np.random.default_rng(1).standard_normal((3, s.state_size))
    for row, xi in zip(theta, s.levels(theta)):
        q = net.double()
        torch.nn.utils.vector_to_parameters(torch.from_numpy(row), q.parameters())
        L = replica_losses(replicate(q, 1), d.x.double(), d.y.double())[0].item()
        assert xi == pytest.approx(np.log(L / ref), abs=1e-12)


def test_excursion_records_are_the_states_of_sgd_mlp(small):
    """In float64, trajectory r of an excursion is sgd_mlp on the minibatches of stream r:
    the state recorded at each level is sgd_mlp's θ at the step where its full loss first
    reaches the level, and the trajectory stops there at the top level."""
    d, net, lam = small
    x, y, net = d.x.double(), d.y.double(), net.double()
    eta, B, R, seed = 0.08, 5, 4, 7
    s = MLPSystem(net, x, y, eta=eta, B=B, h_star=lam)
    grid = np.log(np.linspace(1.002, 1.03, 6))
    ex = s.excursions(np.repeat(s.theta_star[None], R, 0), np.full(R, -1), seed, grid=grid,
                      xi_A=-np.inf, max_steps=400)
    assert np.all(ex.outcome != 3)
    for r in range(R):
        p = replicate(net, 1)
        idx = minibatch_indices(seed, r, x.shape[0], B, int(ex.steps[r]))
        g, losses = -1, []
        for k in range(int(ex.steps[r])):
            sgd_mlp(p, x, y, eta=eta, B=B, steps=1, indices=idx[k:k + 1, None, :])
            L = replica_losses(p, x, y)[0].item()
            losses.append(L)
            theta = torch.cat([p.W1[0].reshape(-1), p.b1[0], p.w2[0], p.b2[:1]]).numpy()
            while g + 1 < grid.size and L >= s.L_star * np.exp(grid[g + 1]):
                g += 1
                np.testing.assert_allclose(ex.records[r, g], theta, rtol=0, atol=1e-10)
        assert g == ex.level[r]
        assert (ex.outcome[r] == 1) == (g == grid.size - 1)


def test_flux_keeps_bulk_states_and_counts_A(small):
    d, net, lam = small
    s = MLPSystem(net, d.x, d.y, eta=0.5 / lam, B=5, h_star=lam)
    xi_A = 0.02
    fr = s.flux(3, replicas=4, burn=200, steps=1000, xi_A=xi_A, cap=50, samples=100)
    assert fr.bulk.shape[1] == s.state_size and fr.bulk.dtype == np.float32
    assert np.all(s.levels(fr.bulk) <= xi_A + 1e-6)
    # every observation is a ξ sample here (100 observations, 100 samples per replica)
    assert fr.exposure == fr.levels.size
    assert fr.in_A == int((fr.levels <= xi_A).sum())


def test_splitting_probability_against_direct_excursions(small):
    """P(leave A and reach c before A) from states of the bulk: generalised adaptive
    multilevel splitting against the fraction of 6000 direct excursions from the same
    bulk states, within 3 combined s.e. (8 splitting runs)."""
    d, net, lam = small
    eta = 0.4 / lam
    s = MLPSystem(net, d.x, d.y, eta=eta, B=5, h_star=lam)
    pilot = s.flux(1, replicas=8, burn=300, steps=600, xi_A=-np.inf, cap=1)
    c_A = float(np.median(np.exp(pilot.levels)))
    xi_A = np.log(c_A)
    fr = s.flux(2, replicas=8, burn=300, steps=600, xi_A=xi_A, cap=20)
    c = c_A * 1.08
    grid = level_grid(c_A, [c], 0.01)
    rng = np.random.default_rng(4)
    runs = [splitting(s, fr.bulk, grid=grid, xi_A=xi_A, replicas=100, kill=10, rng=rng,
                      max_steps=10_000).probability[-1] for _ in range(8)]
    states = fr.bulk[rng.integers(0, fr.bulk.shape[0], 6000)]
    ex = s.excursions(states, np.full(6000, -1), 5, grid=grid, xi_A=xi_A, max_steps=10_000)
    direct = (ex.level == grid.size - 1).mean()
    assert 0.002 < direct < 0.2
    se = np.hypot(np.std(runs, ddof=1) / np.sqrt(8), np.sqrt(direct * (1 - direct) / 6000))
    assert abs(np.mean(runs) - direct) < 3 * se, (np.mean(runs), direct, se)


def test_first_passage_against_brute_force(converged):
    """t_p from the quasi-stationary state: splitting against brute-force sgd_mlp replicas
    started after the same burn-in, within 3 combined s.e., at thresholds where t_p is at
    least 100 relaxation times 1/(ηλ₁) and brute force crosses them all."""
    d, net, lam = converged
    B = 5
    eta, burn = B / (15 * lam), 300
    s = MLPSystem(net, d.x, d.y, eta=eta, B=B, h_star=lam)
    cs = np.array([1.5, 1.65])
    res = rare_first_passage(s, cs, seed=2, repetitions=8, replicas=100, spacing=0.02,
                             flux_replicas=8, flux_burn=burn, flux_steps=1000, jobs=2)
    assert np.all(res.t_p >= 100 * s.relaxation) and np.all(res.t_p <= 5e3), res.t_p
    p = replicate(net, 64)
    rng = np.random.default_rng(9)
    sgd_mlp(p, d.x, d.y, eta=eta, B=B, steps=burn, rng=rng, threads=1)
    run = sgd_mlp(p, d.x, d.y, eta=eta, B=B, steps=40_000, rng=rng, thresholds=cs * s.L_star)
    for j in range(cs.size):
        obs = run.first_passage[:, j] >= 0
        assert obs.all()
        t_b, se_b = exponential_mle(run.first_passage[:, j], obs)
        z = (t_b - res.t_p[j]) / np.hypot(se_b, res.t_p_stderr[j])
        assert abs(z) < 3, (cs[j], t_b, se_b, res.t_p[j], res.t_p_stderr[j])


def test_bad_input(small):
    d, net, lam = small
    with pytest.raises(InvalidInput, match="columns"):
        MLPSystem(net, d.x, d.y, eta=0.01, B=5, h_star=lam).levels(np.zeros((2, 5)))
    with pytest.raises(InvalidInput, match="B=400"):
        MLPSystem(net, d.x, d.y, eta=0.01, B=400, h_star=lam)
    with pytest.raises(InvalidInput, match="h_star"):
        MLPSystem(net, d.x, d.y, eta=0.01, B=5, h_star=-1.0)
