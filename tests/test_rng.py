"""The per-replica generator of the numba kernels: uniform, independent across replicas,
reproducible from the seed whatever the number of threads."""

import itertools

import numpy as np
import pytest
from scipy import stats

from logloss.dynamics import rng


def test_indices_are_uniform():
    x = rng.sample(1, 8, 20_000, kind="randint", n=97).astype(int)
    counts = np.bincount(x.ravel(), minlength=97)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert x.min() == 0 and x.max() == 96


def test_uniform_and_normal_laws():
    u = rng.sample(2, 4, 50_000, kind="uniform").ravel()
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    z = rng.sample(3, 4, 50_000, kind="normal").ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_replicas_are_independent():
    u = rng.sample(4, 16, 20_000, kind="uniform")
    c = np.corrcoef(u)[np.triu_indices(16, 1)]
    # 120 correlations of independent streams: each ~ N(0, 1/20000)
    assert np.max(np.abs(c)) < 5 / np.sqrt(20_000)
    # lagged cross-correlation between neighbouring replicas too
    lag = np.corrcoef(u[0, 1:], u[1, :-1])[0, 1]
    assert abs(lag) < 5 / np.sqrt(20_000)


def test_reproducible_and_thread_independent(at_one_thread):
    a = rng.sample(5, 6, 1000)
    b = at_one_thread(lambda: rng.sample(5, 6, 1000))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng.sample(6, 6, 1000))
    assert len({tuple(s) for s in rng.replica_states(0, 1000)}) == 1000


def test_normal_moments_and_tails():
    """The ziggurat's moments and tail masses against N(0, 1), within 5 standard errors."""
    n = 400_000
    z = rng.sample(7, 4, n // 4, kind="normal").ravel()
    for k, (m, var) in {1: (0, 1), 2: (1, 2), 3: (0, 15), 4: (3, 96)}.items():
        # E z^k and Var z^k = E z^{2k} − (E z^k)² of the standard normal
        assert abs(np.mean(z ** k) - m) < 5 * np.sqrt(var / n), k
    for t in (1.0, 2.0, rng._ZIG_R, 4.0):  # R: where the ziggurat's tail begins
        p = 2 * stats.norm.sf(t)
        assert abs(np.mean(np.abs(z) > t) - p) < 5 * np.sqrt(p * (1 - p) / n) + 1 / n, t
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # consecutive draws uncorrelated (the online kernel uses them as x, then y)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(n)


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 400.0])
def test_gamma_law(shape):
    """Gamma(a, 1) draws (the χ² of the noise model's lumped directions): mean and variance
    a within 5 standard errors, and the whole law by Kolmogorov–Smirnov, for a below 1
    (the boosted branch), at 1, and large."""
    n = 200_000
    g = rng.sample(5, 4, n // 4, kind="gamma", shape=shape).ravel()
    assert np.all(g > 0)
    # Var of the sample mean a/n; of the sample variance (μ₄ − σ⁴)/n = (6a + 2a²)/n
    assert abs(g.mean() - shape) < 5 * np.sqrt(shape / n)
    assert abs(g.var() - shape) < 5 * np.sqrt((6 * shape + 2 * shape**2) / n)
    assert stats.kstest(g, "gamma", args=(shape,)).pvalue > 1e-3
    with pytest.raises(ValueError, match="gamma shape"):
        rng.sample(5, 1, 1, kind="gamma", shape=0.0)


@pytest.mark.parametrize("N,B", [(6, 3), (5, 1), (7, 7)])
def test_subsets_uniform_over_all_subsets(N, B):
    """Every B-subset of range(N) equally likely at every step (chi-square over all of them)."""
    steps = 30_000
    idx = rng.minibatch_indices(11, 0, N, B, steps)
    assert all(len(set(row)) == B for row in idx)
    subsets = list(itertools.combinations(range(N), B))
    code = {s: i for i, s in enumerate(subsets)}
    counts = np.bincount([code[tuple(sorted(row))] for row in idx], minlength=len(subsets))
    if len(subsets) > 1:
        assert stats.chisquare(counts).pvalue > 1e-3
    # successive minibatches independent: the overlap of steps k and k+1 has mean B²/N
    overlap = np.array([len(set(a) & set(b)) for a, b in zip(idx[:-1], idx[1:])])
    mean, var = B * B / N, B * B / N * (1 - B / N) ** 2 * N / max(N - 1, 1)
    assert abs(overlap.mean() - mean) < 5 * np.sqrt(var / steps) + 1e-12


def test_minibatch_streams_of_replicas_independent():
    """Two replicas pick the same index at a step with probability 1/N, as independent draws."""
    N, steps = 50, 40_000
    a = rng.minibatch_indices(3, 0, N, 1, steps)[:, 0]
    b = rng.minibatch_indices(3, 1, N, 1, steps)[:, 0]
    same = np.mean(a == b)
    assert abs(same - 1 / N) < 5 * np.sqrt((1 / N) * (1 - 1 / N) / steps)
    # a replica's stream depends on (seed, replica) only, not on how many replicas run
    np.testing.assert_array_equal(rng.replica_states(3, 2), rng.replica_states(3, 10)[:2])


def test_sde_and_barrier_kernels_independent_of_threads(at_one_thread):
    """Every kernel that draws from these streams gives the same numbers on one thread."""
    from logloss.dynamics.barrier_sgd import em_first_passage, sgd_barrier
    from logloss.dynamics.sde import QuadraticMinimum, em_sgd_sde
    from logloss.models.barrier import make_barrier_regression

    model = QuadraticMinimum(np.diag([1.0, 2.0, 0.5]), 0.5)
    sde = lambda: em_sgd_sde(model, eta=0.1, B=1, dt=1e-2, steps=500, replicas=9, seed=2,  # noqa: E731
                             u0=np.ones(3)).u_final
    np.testing.assert_array_equal(sde(), at_one_thread(sde))
    p = make_barrier_regression(500, np.random.default_rng(1), A=2.0, k=2.0, b=1.0).with_sigma2(10.0)
    cp = p.critical_points
    for B in (1, 3):
        run = lambda B=B: sgd_barrier(p, eta=0.05, B=B, steps=5000, replicas=9, seed=3,  # noqa: E731
                                      lo=cp["exit_lo"], hi=cp["exit_hi"], theta0=cp["theta_star"])
        a, b = run(), at_one_thread(run)
        np.testing.assert_array_equal(a.first_passage, b.first_passage)
        assert (a.first_passage > 0).any()
    x = p.path_grid(201)
    em = lambda: em_first_passage(x, -p.grad(x), 0.05 * p.noise_variance(x, B=1) / 2, eta=0.05,  # noqa: E731
                                  substeps=3, steps=5000, replicas=9, seed=4,
                                  theta0=cp["theta_star"]).first_passage
    np.testing.assert_array_equal(em(), at_one_thread(em))
