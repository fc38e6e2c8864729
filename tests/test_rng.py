"""The per-replica generator of the numba kernels: uniform, independent across replicas,
reproducible from the seed whatever the number of threads."""

import numba
import numpy as np
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


def test_reproducible_and_thread_independent():
    a = rng.sample(5, 6, 1000)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = rng.sample(5, 6, 1000)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, rng.sample(6, 6, 1000))
    assert len({tuple(s) for s in rng.replica_states(0, 1000)}) == 1000
