"""Checks of user input that raise a one-line :class:`~logloss.core.errors.InvalidInput` naming the symbol."""

from __future__ import annotations

import math

import numpy as np

from .errors import InvalidInput, SGDDiverged


def check_learning_rate(eta: float) -> float:
    """Require a finite learning rate η > 0."""
    if not (math.isfinite(eta) and eta > 0):
        raise InvalidInput(f"learning rate eta (η) must be a finite number > 0, got {eta!r}")
    return float(eta)


def check_batch_size(B: int, N: int) -> int:
    """Require a minibatch size 1 ≤ B ≤ N (sampling without replacement)."""
    if int(B) != B or B < 1:
        raise InvalidInput(f"minibatch size B must be an integer >= 1, got {B!r}")
    if B > N:
        raise InvalidInput(f"minibatch size B={B} exceeds the number of samples N={N}")
    return int(B)


def check_noisy_batch(B: int, N: int) -> int:
    """Require 1 ≤ B < N: a minibatch of all N samples has no noise (Σ = 0 in Eq. 8), so an
    experiment that measures the noise, or needs it, has nothing to work with at B = N."""
    B = check_batch_size(B, N)
    if B == N:
        raise InvalidInput(f"minibatch size B={B} equals the number of samples N={N}: a batch of "
                           "every sample has no noise (Σ = 0, Eq. 8); use B < N")
    return B


def check_positive_int(value: int, name: str) -> int:
    """Require an integer ≥ 1 (sample counts, dimensions, replicas)."""
    if int(value) != value or value < 1:
        raise InvalidInput(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def check_finite_loss(loss: float | np.ndarray, where: str = "") -> None:
    """Raise if a loss value L is NaN or infinite (SGD diverged)."""
    if not np.all(np.isfinite(loss)):
        suffix = f" {where}" if where else ""
        raise SGDDiverged(
            f"non-finite loss L{suffix}: SGD diverged; lower the learning rate eta (η)"
        )


def check_seed(seed: int) -> int:
    """Require an integer seed 0 <= seed < 2**63 , which every generator logloss seeds accepts."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise InvalidInput(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)
