"""The paper's network architectures with Glorot (Xavier-uniform) initialisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["mlp", "glorot_"]


def glorot_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Glorot-uniform weights and zero biases for every Linear and Conv2d layer, in place."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight, generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model


def mlp(widths: Sequence[int], *, seed: int, activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A fully connected network, for example ``mlp([784, 100, 100, 1], seed=0)``.

    Parameters
    ----------
    widths : sequence of int
        Layer widths from input to output; the paper uses 784-100-100-1 (Fig. 1),
        784-10-1 (Fig. 3c) and 784-2000-2000-2000-10 (Fig. 2).
    seed : int
        Seed of the Glorot initialisation.
    activation : nn.Module class
        Nonlinearity between layers (ReLU in the paper).
    """
    if len(widths) < 2 or any(int(w) < 1 for w in widths):
        raise ValueError(f"widths must list at least two positive layer sizes, got {widths!r}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(activation())
    model = nn.Sequential(*layers)
    return glorot_(model, torch.Generator().manual_seed(seed))
