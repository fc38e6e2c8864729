"""The paper's network architectures with Glorot (Xavier-uniform) initialisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["mlp", "cnn", "glorot_"]


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


def cnn(
    widths: Sequence[int] = (64, 128, 256),
    *,
    seed: int,
    convs_per_stack: int = 3,
    in_channels: int = 3,
    image_size: int = 32,
    outputs: int = 10,
    activation: type[nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """The paper's convolutional network (Sec. 5.2, after Keskar et al.).

    With the defaults this is 3×[64,3,3,1], 3×[128,3,3,1], 3×[256,3,3,1]: stacks of
    ``convs_per_stack`` 3×3 convolutions with stride 1 and zero padding 1, each followed
    by the activation, a MaxPool(2) after each stack, and a Linear output layer with
    ``outputs`` units and no activation.

    Parameters
    ----------
    widths : sequence of int
        Number of filters of each stack (the book scale shrinks them).
    seed : int
        Seed of the Glorot initialisation.
    convs_per_stack : int
        Convolutions per stack (3 in the paper).
    in_channels, image_size : int
        Input shape (C, H, W) = (in_channels, image_size, image_size): 3, 32 for
        CIFAR-10; 1, 28 for Fashion-MNIST.
    outputs : int
        Output units (10 classes).
    activation : nn.Module class
        Nonlinearity after each convolution (ReLU in the paper).
    """
    if not widths or any(int(w) < 1 for w in widths) or int(convs_per_stack) < 1:
        raise ValueError(f"widths must list positive filter counts, got {widths!r}")
    side = int(image_size)
    if side >> len(widths) < 1:
        raise ValueError(f"image_size {image_size} is too small for {len(widths)} MaxPool(2) stages")
    layers: list[nn.Module] = []
    channels = int(in_channels)
    for width in widths:
        for _ in range(int(convs_per_stack)):
            layers += [nn.Conv2d(channels, int(width), 3, stride=1, padding=1), activation()]
            channels = int(width)
        layers.append(nn.MaxPool2d(2))
        side //= 2
    layers += [nn.Flatten(), nn.Linear(channels * side * side, int(outputs))]
    model = nn.Sequential(*layers)
    return glorot_(model, torch.Generator().manual_seed(seed))
