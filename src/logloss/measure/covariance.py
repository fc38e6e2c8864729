"""The exact covariance of minibatch noise, Eq. (8), and a Monte-Carlo check of it.

With per-sample gradients g_μ = ∇ℓ_μ (rows of G, shape (N, P)) and ∇L = (1/N) Σ g_μ,
the minibatch noise ξ = −(∇L_B − ∇L) of a minibatch of B samples drawn *without
replacement* has covariance

    Σ = (1/B) · (N − B)/(N − 1) · [ (1/N) Σ_μ g_μ g_μᵀ − ∇L ∇Lᵀ ].        (Eq. 8)
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import standard_error
from ..core.progress import progress
from ..core.sampling import uniform_subsets
from ..core.validation import check_batch_size, check_positive_int

__all__ = [
    "finite_population_factor",
    "per_sample_covariance",
    "per_sample_covariance_moments",
    "minibatch_noise_covariance",
    "sample_minibatch_noise",
    "noise_second_moments",
]


def _per_sample_matrix(G) -> np.ndarray:
    """G as a float (N, P) array with N ≥ 1 finite rows, else InvalidInput."""
    G = np.asarray(G, dtype=float)
    if G.ndim != 2 or G.shape[0] < 1 or G.shape[1] < 1:
        raise InvalidInput(f"per-sample gradients G must be an (N, P) matrix, one row ∇ℓ_μ per sample, "
                           f"got shape {G.shape}")
    if not np.all(np.isfinite(G)):
        raise InvalidInput("per-sample gradients G must be finite")
    return G


def finite_population_factor(N: int, B: int) -> float:
    """(N − B)/(N − 1): the reduction of the noise from sampling without replacement."""
    check_batch_size(B, N)
    return 1.0 if N == 1 else (N - B) / (N - 1)


def per_sample_covariance(G: np.ndarray) -> np.ndarray:
    """C = (1/N) Σ g_μ g_μᵀ − ∇L∇Lᵀ, the covariance of a single-sample gradient."""
    G = _per_sample_matrix(G)
    mean = G.mean(axis=0)
    return G.T @ G / G.shape[0] - np.outer(mean, mean)


def per_sample_covariance_moments(G: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """tr C and vᵀCv of the single-sample covariance C, without forming the P×P matrix.

    Uses tr C = (1/N) Σ‖g_μ‖² − ‖∇L‖² and vᵀCv = (1/N) Σ (vᵀg_μ)² − (vᵀ∇L)², so the cost is
    O(N·P) and models with many parameters fit in memory.

    Parameters
    ----------
    G : ndarray, shape (N, P)
        Per-sample gradients ∇ℓ_μ.
    directions : ndarray, shape (k, P)
        Vectors v.

    Returns
    -------
    ndarray, shape (k + 1,)
        Entry 0 is tr C, entries 1..k are vᵀCv.
    """
    G = _per_sample_matrix(G)
    directions = np.atleast_2d(np.asarray(directions, dtype=float))
    if directions.ndim != 2 or directions.shape[1] != G.shape[1]:
        raise InvalidInput(f"directions must have shape (k, P={G.shape[1]}), got {directions.shape}")
    mean = G.mean(axis=0)
    proj = G @ directions.T
    trace = np.einsum("ij,ij->", G, G) / G.shape[0] - mean @ mean
    return np.concatenate([[trace], (proj**2).mean(axis=0) - (directions @ mean) ** 2])


def minibatch_noise_covariance(G: np.ndarray, B: int) -> np.ndarray:
    """The exact covariance Σ of minibatch noise, Eq. (8).

    Parameters
    ----------
    G : ndarray, shape (N, P)
        Per-sample gradients ∇ℓ_μ at the current θ.
    B : int
        Minibatch size B (1 ≤ B ≤ N), minibatches drawn without replacement.
    """
    G = _per_sample_matrix(G)
    N = G.shape[0]
    return finite_population_factor(N, B) / B * per_sample_covariance(G)


def sample_minibatch_noise(G: np.ndarray, B: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Monte-Carlo draws of ξ = ∇L − ∇L_B, one minibatch (without replacement) per draw.

    Returns
    -------
    ndarray, shape (draws, P)
    """
    G = _per_sample_matrix(G)
    N = G.shape[0]
    check_batch_size(B, N)
    draws = check_positive_int(draws, "number of Monte-Carlo draws")
    return G.mean(axis=0) - _minibatch_means(rng, draws, N, B) @ G


def _minibatch_means(rng: np.random.Generator, draws: int, N: int, B: int) -> np.ndarray:
    """B distinct indices per draw (independent uniform subsets) as a selection matrix S,
    S[i, μ] = 1/B, so that ∇L_B = S @ G without materialising (draws, B, P)."""
    S = np.zeros((draws, N))
    np.put_along_axis(S, uniform_subsets(rng, (draws,), N, B), 1.0 / B, axis=1)
    return S


def noise_second_moments(
    G: np.ndarray,
    B: int,
    draws: int,
    directions: np.ndarray,
    rng: np.random.Generator,
    *,
    chunk: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """Monte-Carlo estimates of tr Σ = E‖ξ‖² and of vᵀΣv = E(vᵀξ)² with standard errors.

    Since E ξ = 0 exactly, the second moments are estimated without subtracting a sample
    mean, so each estimate is an average of i.i.d. draws and its standard error is the
    sample standard deviation over √draws.

    Parameters
    ----------
    G : ndarray, shape (N, P)
        Per-sample gradients.
    B : int
        Minibatch size B.
    draws : int
        Number of minibatches.
    directions : ndarray, shape (k, P)
        Unit vectors v.
    rng : numpy.random.Generator
        Source of the minibatch draws.

    Returns
    -------
    mean, stderr : ndarray, shape (k + 1,)
        Entry 0 is tr Σ, entries 1..k are vᵀΣv.
    """
    G = _per_sample_matrix(G)
    N, P = G.shape
    check_batch_size(B, N)
    draws = check_positive_int(draws, "number of Monte-Carlo draws")
    # ξ = ∇L − ∇L_B = −S G_c with G_c = G − ∇L (the rows of S sum to 1), so that only the
    # centred gradients enter: ‖ξ‖² = s K_c sᵀ with the N×N Gram matrix K_c = G_c G_cᵀ when
    # N < P (draws·N² flops instead of draws·N·P), and vᵀξ = −s (G_c v).
    Gc = G - G.mean(axis=0)
    proj = Gc @ directions.T  # (N, k)
    K = Gc @ Gc.T if N < P else None
    stats = []
    for start in progress(range(0, draws, chunk), desc=f"minibatches B={B}"):
        n = min(chunk, draws - start)
        S = _minibatch_means(rng, n, N, B)
        sq = np.einsum("dn,dn->d", S @ K, S) if K is not None else ((S @ Gc) ** 2).sum(axis=1)
        stats.append(np.column_stack([sq, (S @ proj) ** 2]))
    values = np.concatenate(stats)
    return values.mean(axis=0), standard_error(values, axis=0)
