"""Per-sample gradients ∇ℓ_μ of any PyTorch model, through ``torch.func``.

Loss convention (used everywhere in logloss): the per-sample loss is
ℓ_μ = ½‖f(θ, x_μ) − y_μ‖² for the mean-square loss, and the training loss is the mean
L = (1/N) Σ_μ ℓ_μ, so ∇L = (1/N) Σ_μ ∇ℓ_μ.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = ["mse_per_sample", "per_sample_grads", "flat_params"]


def mse_per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ℓ_μ = ½‖f_μ − y_μ‖² for each sample (the last axis of a vector output is summed)."""
    diff = output.reshape(output.shape[0], -1) - target.reshape(target.shape[0], -1)
    return 0.5 * (diff**2).sum(dim=1)


def flat_params(model: nn.Module) -> torch.Tensor:
    """All trainable parameters θ as one vector of length P."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss=mse_per_sample,
    chunk_size: int = 256,
) -> torch.Tensor:
    """The matrix of per-sample gradients G with rows ∇ℓ_μ, shape (N, P).

    Parameters
    ----------
    model : nn.Module
        Any model; its trainable parameters define θ (P entries, in ``parameters()`` order).
    x, y : Tensor
        Inputs (N, ...) and targets (N, ...).
    loss : callable
        ``loss(output, target) -> (batch,)`` per-sample losses ℓ_μ.
    chunk_size : int
        Samples per vmap call, to bound memory.
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}

    def sample_loss(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return loss(out, yi.unsqueeze(0)).sum()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    rows = []
    for start in range(0, x.shape[0], chunk_size):
        g = per_sample(params, x[start:start + chunk_size], y[start:start + chunk_size])
        rows.append(torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1))
    return torch.cat(rows)
