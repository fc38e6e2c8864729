"""The SGD noise strength 𝒩 and the exact minibatch covariance of a model (Sec. 3.1, 5.2).

Conventions (as in :mod:`logloss.measure.losses`): ℓ_μ is the per-sample loss, the training
loss is the mean L = (1/N) Σ_μ ℓ_μ, and a minibatch loss is L_B = (1/B) Σ_{μ∈B} ℓ_μ.
The noise strength is

    𝒩 = (1/N) Σ_μ ‖∇ℓ_μ‖² − ‖∇L‖²,

so that E‖ξ‖² = tr Σ = (N − B)/(B(N − 1)) · 𝒩 ≈ 𝒩/B (Eq. 8).

The decoupling approximation (Eq. 7) is in :mod:`logloss.measure.gram`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .covariance import minibatch_noise_covariance
from .gradients import per_sample_grad_stats, per_sample_grads
from .losses import mse_per_sample

__all__ = ["NoiseStrength", "noise_strength", "noise_covariance"]


@dataclass(frozen=True)
class NoiseStrength:
    """𝒩 and its ingredients at one θ.

    Attributes
    ----------
    noise : float
        𝒩 = (1/N) Σ ‖∇ℓ_μ‖² − ‖∇L‖².
    loss : float
        L = (1/N) Σ ℓ_μ.
    mean_sq_norm : float
        (1/N) Σ ‖∇ℓ_μ‖².
    grad_sq_norm : float
        ‖∇L‖².
    """

    noise: float
    loss: float
    mean_sq_norm: float
    grad_sq_norm: float


def noise_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss=mse_per_sample,
                   chunk_size: int = 1000, method: str = "auto") -> NoiseStrength:
    """The noise strength 𝒩 of SGD at the model's current parameters θ (Sec. 5.2).

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·).
    x, y : Tensor
        The N training inputs and targets.
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int
        Samples per pass.
    method : {"auto", "fast", "generic"}
        See :func:`logloss.measure.gradients.per_sample_grad_stats`.

    Notes
    -----
    Computed in float64 from per-sample squared norms; with the mean convention,
    tr Σ = (N − B)/(B(N − 1)) · 𝒩 for minibatches drawn without replacement (Eq. 8).
    """
    stats = per_sample_grad_stats(model, x, y, loss=loss, chunk_size=chunk_size, method=method)
    msq = float(stats.sq_norms.mean())
    gsq = float(stats.mean_grad.pow(2).sum())
    return NoiseStrength(msq - gsq, float(stats.losses.mean()), msq, gsq)


def noise_covariance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, B: int, *,
                     loss=mse_per_sample, chunk_size: int = 256) -> np.ndarray:
    """The exact P × P minibatch-noise covariance Σ of Eq. (8), for small P.

    Per-sample gradients from :func:`logloss.measure.gradients.per_sample_grads`, covariance from
    :func:`logloss.measure.covariance.minibatch_noise_covariance` (without replacement).
    """
    G = per_sample_grads(model, x, y, loss=loss, chunk_size=chunk_size).double().numpy()
    return minibatch_noise_covariance(G, B)
