"""Minibatch sampling: one function per sampling scheme used in logloss.

Two schemes appear in the book, and they are different processes:

* **independent subsets** (:func:`uniform_subsets`): at every step, and independently
  for every replica, B distinct indices drawn uniformly from the N samples — every
  B-subset equally likely, no memory between steps.  This is the process whose noise
  covariance is Eq. (8) (with the factor (N − B)/(N − 1)), so the experiments that test
  Eq. (8), the stationary law and first passage use it: ``minibatch-covariance`` and the
  replica kernels (:func:`logloss.sgd_mlp`, and :func:`logloss.sgd_linreg`, whose numba
  kernel draws the same law inline by a partial Fisher–Yates shuffle).
* **epoch shuffles** (:func:`logloss.train_sgd`): each epoch a random permutation cut
  into ⌊N/B⌋ minibatches, so every sample is used once per epoch — the way networks are
  usually trained, and how the paper trains its networks (Fig. 1, 2, 5).  Within an
  epoch the minibatches are not independent.
"""

from __future__ import annotations

import numpy as np

from .validation import check_batch_size, check_positive_int

__all__ = ["uniform_subsets"]


def uniform_subsets(rng: np.random.Generator, size: tuple[int, ...], N: int, B: int) -> np.ndarray:
    """Independent uniform B-subsets of range(N): an int64 array of shape ``size + (B,)``.

    Each row holds B distinct indices, uniform over ordered B-tuples of distinct samples
    (sampling without replacement), independently across rows.  When B(B − 1) ≤ 2N the
    rows are drawn by rejection (B uniform indices, redrawn until distinct: O(B) per row,
    and a row is distinct with probability ≈ exp(−B(B − 1)/2N) ≥ 1/e); otherwise as the
    B smallest of N uniforms (O(N) per row).

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    size : tuple of int
        Leading shape, for example ``(steps, replicas)``.
    N, B : int
        Number of samples and minibatch size, 1 ≤ B ≤ N.
    """
    N = check_positive_int(N, "number of samples N")
    B = check_batch_size(B, N)
    size = tuple(int(s) for s in size)
    if B * (B - 1) > 2 * N:
        rows = int(np.prod(size, dtype=np.int64))
        idx = np.argpartition(rng.random((rows, N)), B - 1, axis=1)[:, :B]
        return idx.reshape(*size, B).astype(np.int64)
    idx = rng.integers(0, N, size=(*size, B))
    if B == 1:
        return idx
    while True:
        bad = (np.diff(np.sort(idx, axis=-1), axis=-1) == 0).any(axis=-1)
        if not bad.any():
            return idx
        idx[bad] = rng.integers(0, N, size=(int(bad.sum()), B))
