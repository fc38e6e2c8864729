"""The one sampler of independent uniform minibatches (Eq. 8's scheme), on both routes."""

import numpy as np
import pytest
from scipy import stats

from logloss.core.sampling import uniform_subsets


@pytest.mark.parametrize("N,B", [(10, 1), (10, 3), (10, 5), (10, 8), (10, 10), (200, 20), (200, 100)])
def test_rows_are_distinct_and_uniform(N, B):
    idx = uniform_subsets(np.random.default_rng(0), (4000,), N, B)
    assert idx.shape == (4000, B)
    assert all(len(set(r)) == B for r in idx)
    counts = np.bincount(idx.ravel(), minlength=N)
    if B < N:  # every index equally likely: chi-square at the 0.1 % level
        assert stats.chisquare(counts).pvalue > 1e-3
    # every unordered pair equally likely as well (uniform over B-subsets)
    if 2 <= B < N and N <= 10:
        pairs = np.zeros((N, N))
        for r in idx:
            for a in r:
                pairs[a, r] += 1
        off = pairs[~np.eye(N, dtype=bool)]
        assert stats.chisquare(off).pvalue > 1e-3


def test_seeded_and_shaped():
    a = uniform_subsets(np.random.default_rng(3), (5, 7), 100, 4)
    b = uniform_subsets(np.random.default_rng(3), (5, 7), 100, 4)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (5, 7, 4)
    with pytest.raises(ValueError, match="exceeds"):
        uniform_subsets(np.random.default_rng(0), (1,), 3, 4)
