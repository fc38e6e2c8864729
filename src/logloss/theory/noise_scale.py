"""The gradient noise scale of SGD in its stationary state near a minimum (beyond the paper).

Near a minimum the loss is L(θ) ≈ L* + ½ δᵀHδ (δ = θ − θ*) and, by the noise–loss relation
(Eq. 6 with the finite-population factor kept), the minibatch noise has covariance
Σ ≈ c (2L/B) H with c = (N − B)/(N − 1).  One SGD step changes the loss on average by

    E ΔL = −η ‖∇L‖² + (η²/2) (∇Lᵀ H ∇L + tr HΣ),

so in the stationary state (E ΔL = 0), for the quadratic model,

    E ‖∇L‖² = (η/2) tr(HΣ) (1 + O(ηh)) = (η c L / B) (tr H² + (η/2) tr H³ + …),

the series being Σ_i h_i² / (1 − η h_i / 2) over the eigenvalues h_i of H.  The gradient does
not vanish at a minimum: SGD's own fluctuations keep it at this level.  With 𝒩 ≈ 2L tr H
(Eq. 9) the simple noise scale B_simple = 𝒩/‖∇L‖² of McCandlish et al. (2018) therefore
levels off at

    B* = 2B tr H / (η c (tr H² + (η/2) tr H³ + …)) ≈ 2B tr H / (η tr H²),

independent of L: it diverges only as η → 0.  While the loss still falls, the gradient also
carries the drift −E ΔL/η per step, which adds to E‖∇L‖² and lowers B_simple.

η and B are keyword-only.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput

__all__ = ["stationary_grad_sq", "noise_scale_plateau"]


def _fpc(N, B) -> float:
    if N is None:
        return 1.0
    if not (isinstance(N, (int, np.integer)) and 2 <= N and 1 <= B <= N):
        raise InvalidInput(f"need integers 1 <= B <= N and N >= 2, got N={N!r}, B={B!r}")
    return (N - B) / (N - 1)


def _check(traces, eta, B) -> np.ndarray:
    t = np.asarray(traces, dtype=float)
    if t.ndim != 1 or t.size < 2 or not np.all(np.isfinite(t)) or np.any(t[:2] <= 0):
        raise InvalidInput("traces must be (tr H, tr H²[, tr H³, ...]), finite, with tr H, tr H² > 0")
    if not (np.isfinite(eta) and eta > 0) or not (np.isfinite(B) and B >= 1):
        raise InvalidInput(f"need η > 0 and B >= 1, got η={eta!r}, B={B!r}")
    return t


def _series(t: np.ndarray, eta: float) -> float:
    """tr H² + (η/2) tr H³ + (η/2)² tr H⁴ + … over the traces given (tr H^k for k ≥ 2)."""
    return float(sum(tk * (eta / 2) ** i for i, tk in enumerate(t[1:])))


def stationary_grad_sq(loss: float, traces, *, eta: float, B: int, N: int | None = None) -> float:
    """E‖∇L‖² of SGD in its stationary state near a minimum (module docstring).

    Parameters
    ----------
    loss : float
        The loss L (> 0) at which the noise is evaluated, Σ ≈ c (2L/B) H.
    traces : sequence of float
        tr H, tr H² and optionally tr H³, tr H⁴, ... (each further trace adds the next order
        in ηh of Σ_i h_i²/(1 − ηh_i/2)).
    eta : float
        Learning rate η.
    B : int
        Minibatch size B.
    N : int, optional
        Number of samples, for the finite-population factor c = (N − B)/(N − 1) (1 if None).

    Returns
    -------
    float
        (η c L / B) (tr H² + (η/2) tr H³ + …).
    """
    t = _check(traces, eta, B)
    if not (np.isfinite(loss) and loss > 0):
        raise InvalidInput(f"the loss L must be finite and > 0, got {loss!r}")
    return eta * _fpc(N, B) * loss / B * _series(t, eta)


def noise_scale_plateau(traces, *, eta: float, B: int, N: int | None = None) -> float:
    """B* = 2B tr H / (η c (tr H² + (η/2) tr H³ + …)), where B_simple levels off near a minimum.

    Parameters as in :func:`stationary_grad_sq`; B* does not depend on the loss.
    """
    t = _check(traces, eta, B)
    return 2 * B * t[0] / (eta * _fpc(N, B) * _series(t, eta))
