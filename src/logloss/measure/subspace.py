"""How much of an SGD displacement lies in the top Hessian eigenspace (Assumption 4.6).

Assumption 4.6 of Mori et al. (2022) says that near the minimum θ* SGD moves in the span
of the n outlier eigenvectors v_1, ..., v_n of H*.  For a displacement Δθ = θ − θ* this
module measures, for the 784-h-1 network of :mod:`logloss.dynamics.mlp_sgd`,

* the displacement fraction  Σ_{i≤n} (v_iᵀΔθ)² / |Δθ|²;
* the curvature fraction     Σ_{i≤n} h_i (v_iᵀΔθ)² / ΔθᵀH*Δθ, the share of the quadratic
  loss increase ½ΔθᵀH*Δθ carried by the top n directions, with ΔθᵀH*Δθ = |J Δθ|²/N for
  the Gauss–Newton H* = JᵀJ/N (Eq. 44), J Δθ evaluated exactly (forward-mode, by hand).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["flat_params", "gauss_newton_quadratic", "subspace_fractions"]


def flat_params(W1, b1, w2, b2) -> torch.Tensor:
    """θ of R replicas flattened in ``nn.Sequential(Linear, ReLU, Linear).parameters()`` order, (R, P)."""
    R = W1.shape[0]
    return torch.cat([W1.reshape(R, -1), b1.reshape(R, -1), w2.reshape(R, -1), b2.reshape(R, 1)], 1)


def gauss_newton_quadratic(W1, b1, w2, dW1, db1, dw2, db2, x: torch.Tensor) -> np.ndarray:
    """ΔθᵀH*Δθ = |J Δθ|²/N at θ* = (W1, b1, w2, ·) for R displacements (dW1 of shape (R, h, D)).

    J Δθ = δw₂ᵀ relu(a) + w₂ᵀ(1[a > 0] ⊙ (δW₁x + δb₁)) + δb₂ with a = W₁x + b₁.
    """
    a = x @ W1.T + b1  # (N, h)
    hid, mask = torch.relu(a), (a > 0).to(x.dtype)
    out = np.empty(dW1.shape[0])
    for r in range(dW1.shape[0]):
        da = x @ dW1[r].T + db1[r]  # (N, h)
        jv = hid @ dw2[r] + (mask * da) @ w2 + db2[r]
        out[r] = float((jv.double() ** 2).mean())
    return out


def subspace_fractions(delta: np.ndarray, eigenvectors: np.ndarray, eigenvalues: np.ndarray,
                       quadratic: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Displacement and curvature fractions in the top-n eigenspace, one per replica.

    Parameters
    ----------
    delta : ndarray, shape (R, P)
        Displacements Δθ.
    eigenvectors : ndarray, shape (P, k), k ≥ n
        Orthonormal top eigenvectors v_i of H*.
    eigenvalues : ndarray, shape (k,)
        h_1 ≥ ... ≥ h_k.
    quadratic : ndarray, shape (R,)
        ΔθᵀH*Δθ (:func:`gauss_newton_quadratic`).
    n : int
        Size of the subspace.
    """
    proj = delta @ eigenvectors[:, :n]  # (R, n)
    disp = (proj**2).sum(1) / (delta**2).sum(1)
    curv = (proj**2 * eigenvalues[None, :n]).sum(1) / quadratic
    return disp, curv
