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

from ..core.validation import check_batch_size
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
    P : int
        Trainable parameter entries (the length of θ).
    frozen : int
        Parameter entries with ``requires_grad=False``: excluded from θ, hence from 𝒩.
    method : str
        The route of :func:`~logloss.measure.gradients.per_sample_grad_stats` taken.
    """

    noise: float
    loss: float
    mean_sq_norm: float
    grad_sq_norm: float
    P: int = 0
    frozen: int = 0
    method: str = ""


def noise_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss=mse_per_sample,
                   chunk_size: int | None = None, method: str = "auto") -> NoiseStrength:
    """The noise strength 𝒩 of SGD at the model's current parameters θ (Sec. 5.2).

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·), at its current parameters; frozen parameters are not part of
        θ (their count is ``NoiseStrength.frozen``).  It must be in eval mode if it has
        BatchNorm or dropout (else :class:`~logloss.core.errors.InvalidInput`: per-sample
        gradients are undefined there); supported models as in
        :func:`~logloss.measure.gradients.per_sample_grads`.  It is left exactly as it was.
    x, y : Tensor
        The N training inputs, and targets of the output's shape (up to a trailing 1) or
        integer class labels (N,) for the cross-entropy.
    loss : callable or {"mse", "ce"}
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int, optional
        Samples per pass (see :func:`~logloss.measure.gradients.per_sample_grad_stats`);
        the value does not depend on it.
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
    return NoiseStrength(msq - gsq, float(stats.losses.mean()), msq, gsq, stats.P, stats.frozen,
                         stats.method)


def noise_covariance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, B: int, *,
                     loss=mse_per_sample, chunk_size: int | None = None) -> np.ndarray:
    """The exact P × P minibatch-noise covariance Σ of Eq. (8), for small P.

    Per-sample gradients from :func:`logloss.measure.gradients.per_sample_grads` (same
    supported models and refusals), covariance from
    :func:`logloss.measure.covariance.minibatch_noise_covariance` (without replacement).
    """
    check_batch_size(B, int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0)
    G = per_sample_grads(model, x, y, loss=loss, chunk_size=chunk_size).double().cpu().numpy()
    return minibatch_noise_covariance(G, B)
