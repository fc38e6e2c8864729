"""Per-sample losses ℓ_μ and the decoupling weights w_μ (conventions used everywhere).

The per-sample loss is ℓ_μ = ½‖f(θ, x_μ) − y_μ‖² for the mean-square loss, and the
training loss is the mean L = (1/N) Σ_μ ℓ_μ, so ∇L = (1/N) Σ_μ ∇ℓ_μ.  The cross-entropy
loss is ℓ_μ = −Σ_k y_μk log softmax(f_μ)_k for K ≥ 2 outputs (y one-hot), and the
logistic loss ℓ_μ = log(1 + exp(−y_μ f_μ)) for one output with labels y_μ = ±1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["mse_per_sample", "cross_entropy_per_sample", "LOSSES", "get_loss", "loss_weights",
           "scalar_output"]


def mse_per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ℓ_μ = ½‖f_μ − y_μ‖² for each sample (the last axis of a vector output is summed)."""
    diff = output.reshape(output.shape[0], -1) - target.reshape(target.shape[0], -1)
    return 0.5 * (diff**2).sum(dim=1)


def cross_entropy_per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy ℓ_μ for each sample.

    For K ≥ 2 outputs, ℓ_μ = −Σ_k y_μk log softmax(f_μ)_k with one-hot (or probability)
    targets of shape (batch, K).  For one output, the logistic loss
    ℓ_μ = log(1 + exp(−y_μ f_μ)) with labels y_μ = ±1.
    """
    out = output.reshape(output.shape[0], -1)
    if out.shape[1] == 1:
        return F.softplus(-target.reshape(-1) * out[:, 0])
    return -(target.reshape(out.shape) * F.log_softmax(out, dim=1)).sum(dim=1)


#: Per-sample losses by name, for ``--set loss=mse|ce``.
LOSSES = {"mse": mse_per_sample, "ce": cross_entropy_per_sample}


def get_loss(name: str):
    """The per-sample loss function called ``name`` (``"mse"`` or ``"ce"``)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
    return LOSSES[name]


def scalar_output(out: torch.Tensor) -> torch.Tensor:
    if out.dim() > 2 or (out.dim() == 2 and out.shape[1] != 1):
        raise ValueError(f"the decoupling spectra need a scalar output f, got shape {tuple(out.shape)}")
    return out.reshape(-1)


def loss_weights(output: torch.Tensor, target: torch.Tensor, *, loss=mse_per_sample) -> torch.Tensor:
    """w_μ = ½ (∂ℓ_μ/∂f_μ)² for a scalar output (w_μ = ℓ_μ for the mean-square loss)."""
    f = scalar_output(output).detach().double().requires_grad_(True)
    ell = loss(f.reshape(-1, 1), target.double().reshape(-1, 1)).sum()
    (df,) = torch.autograd.grad(ell, f)
    return 0.5 * df.pow(2)


