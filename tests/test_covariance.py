"""Eq. (8) against an independent oracle: exact enumeration of every minibatch."""

import itertools

import numpy as np
import pytest

from logloss.measure.covariance import (
    finite_population_factor,
    minibatch_noise_covariance,
    noise_second_moments,
    per_sample_covariance,
    per_sample_covariance_moments,
    sample_minibatch_noise,
)


def _enumerated_covariance(G: np.ndarray, B: int) -> np.ndarray:
    """Average of ξξᵀ over all C(N, B) minibatches: the definition, no algebra."""
    mean = G.mean(axis=0)
    xis = [mean - G[list(idx)].mean(axis=0) for idx in itertools.combinations(range(len(G)), B)]
    xis = np.array(xis)
    return xis.T @ xis / len(xis)


@pytest.mark.parametrize("B", [1, 2, 3, 5, 6])
def test_eq8_matches_enumeration(B):
    rng = np.random.default_rng(0)
    G = rng.standard_normal((6, 3)) + np.array([1.0, -2.0, 0.5])  # nonzero mean gradient
    np.testing.assert_allclose(minibatch_noise_covariance(G, B), _enumerated_covariance(G, B),
                               rtol=1e-12, atol=1e-14)


def test_full_batch_has_no_noise():
    G = np.random.default_rng(1).standard_normal((5, 2))
    assert finite_population_factor(5, 5) == 0.0
    np.testing.assert_allclose(minibatch_noise_covariance(G, 5), 0.0, atol=1e-15)


def test_minibatches_are_drawn_without_replacement():
    G = np.eye(7)  # the minibatch gradient reveals which samples were drawn
    xi = sample_minibatch_noise(G, 3, 200, np.random.default_rng(2))
    counts = np.rint((G.mean(axis=0) - xi) * 3)
    assert np.all(counts.sum(axis=1) == 3) and counts.max() == 1


def test_monte_carlo_moments_match_eq8_within_errors():
    rng = np.random.default_rng(3)
    G = rng.standard_normal((20, 4))
    v = np.array([[0.6, 0.8, 0.0, 0.0]])
    mean, se = noise_second_moments(G, 5, 20000, v, rng)
    sigma = minibatch_noise_covariance(G, 5)
    z = (mean - [np.trace(sigma), (v @ sigma @ v.T).item()]) / se
    assert np.all(np.abs(z) < 4)


@pytest.mark.parametrize("B", [0, 21, 2.5])
def test_bad_batch_size(B):
    with pytest.raises(ValueError, match="minibatch size B"):
        minibatch_noise_covariance(np.zeros((20, 2)), B)


def test_moments_without_the_p_by_p_matrix():
    rng = np.random.default_rng(4)
    G = rng.standard_normal((30, 7)) + 0.3
    V = rng.standard_normal((2, 7))
    C = per_sample_covariance(G)
    np.testing.assert_allclose(per_sample_covariance_moments(G, V),
                               [np.trace(C), V[0] @ C @ V[0], V[1] @ C @ V[1]], rtol=1e-12)


@pytest.mark.parametrize("shape", [(60, 400), (400, 30)])  # Gram route (N < P) and direct route
def test_second_moments_equal_those_of_the_sampled_noise(shape):
    """The estimator uses the same minibatches as sample_minibatch_noise, through centred
    gradients (and their Gram matrix when N < P); the numbers agree to rounding."""
    G = np.random.default_rng(0).standard_normal(shape) + 0.5
    v = np.random.default_rng(1).standard_normal((2, shape[1]))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for B in (1, 7, shape[0] - 1):
        mean, _ = noise_second_moments(G, B, 3000, v, np.random.default_rng(5))
        xi = sample_minibatch_noise(G, B, 3000, np.random.default_rng(5))
        ref = np.concatenate([[(xi**2).sum(axis=1).mean()], ((xi @ v.T) ** 2).mean(axis=0)])
        np.testing.assert_allclose(mean, ref, rtol=1e-10)
