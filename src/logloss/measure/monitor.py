"""A noise monitor for the reader's own training loop: 𝒩, L and 𝒩/L every k steps."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..core.validation import check_positive_int
from .losses import mse_per_sample
from .noise import NoiseStrength, noise_strength

__all__ = ["NoiseMonitor"]


class NoiseMonitor:
    """Record the noise strength 𝒩 (Sec. 5.2) along a training run, every ``every`` steps.

    Call it with the step number inside your loop; it measures only when
    ``step % every == 0``, on the full data ``(x, y)``, at the model's current θ, with
    the model in eval mode (BatchNorm with its running statistics, no dropout: only then
    are per-sample gradients defined), and restores every module's mode afterwards.
    ``history()`` returns the records as arrays.

    Parameters
    ----------
    model : nn.Module
        The model being trained.
    x, y : Tensor
        The N training inputs and targets (𝒩 and L are full-data quantities).
    every : int
        Measure every ``every`` steps.
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)`` (default ½‖f − y‖²).
    chunk_size : int
        Samples per pass of :func:`logloss.noise_strength`.

    Examples
    --------
    >>> monitor = NoiseMonitor(model, x, y, every=100)        # doctest: +SKIP
    >>> for step in range(steps):                              # doctest: +SKIP
    ...     monitor(step); opt.zero_grad(); loss.backward(); opt.step()
    >>> h = monitor.history()  # step, L, noise, noise_over_L, grad_sq_norm, noise_scale
    """

    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, every: int = 1,
                 loss=mse_per_sample, chunk_size: int = 1000):
        self.model, self.x, self.y = model, x, y
        self.every = check_positive_int(every, "monitor interval every")
        self.loss, self.chunk_size = loss, chunk_size
        self.records: list[tuple[int, NoiseStrength]] = []

    def __call__(self, step: int) -> NoiseStrength | None:
        """Measure if ``step`` is a multiple of ``every`` (else return None)."""
        return None if step % self.every else self.record(step)

    def record(self, step: int) -> NoiseStrength:
        """Measure now, whatever the step (for example once more at the end of training)."""
        # Per-sample gradients are defined only when samples do not interact (BatchNorm
        # in train mode couples them, dropout makes the loss random): measure the network
        # in eval mode, as it is used for prediction, and restore the caller's mode.
        modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        try:
            ns = noise_strength(self.model, self.x, self.y, loss=self.loss,
                                chunk_size=self.chunk_size)
        finally:
            for m, mode in modes.items():
                m.training = mode
        self.records.append((int(step), ns))
        return ns

    def history(self) -> dict[str, np.ndarray]:
        """``step``, ``L``, ``noise`` (𝒩), ``noise_over_L``, ``grad_sq_norm`` (‖∇L‖²) and
        ``noise_scale`` (B_simple = 𝒩/‖∇L‖², McCandlish et al. 2018), one entry per record."""
        steps = np.array([s for s, _ in self.records], dtype=np.int64)
        L = np.array([r.loss for _, r in self.records])
        noise = np.array([r.noise for _, r in self.records])
        g2 = np.array([r.grad_sq_norm for _, r in self.records])
        with np.errstate(divide="ignore", invalid="ignore"):
            return dict(step=steps, L=L, noise=noise, noise_over_L=noise / L, grad_sq_norm=g2,
                        noise_scale=noise / g2)
