"""A noise monitor for the reader's own training loop: 𝒩, L and 𝒩/L every k steps, exactly on
the data, or estimated from the loop's own minibatch gradients."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_positive_int
from ._guard import _stateful_problem
from .gradients import _Capture, _trainable_own, supports_fast_path
from .losses import mse_per_sample
from .noise import NoiseStrength, noise_strength
from .noise_scale import _estimate, block_sq_norms

__all__ = ["NoiseMonitor"]


class NoiseMonitor:
    """Record the noise strength 𝒩 (Sec. 5.2) along a training run, every ``every`` steps.

    Two ways, which can be combined:

    * **exact**, on the full data (x, y): call the monitor with the step number inside your
      loop; it measures when ``step % every == 0``, at the model's current θ, with the
      model in eval mode (BatchNorm with its running statistics, no dropout: only then are
      per-sample gradients defined), and restores every module's mode afterwards.  This is
      a pass over all N samples, made only because the data were given.
    * **from the loop's own gradients**, with no extra pass: wrap the loop's forward and
      backward pass in ``with monitor.watch(step):``.  Every ``every`` steps the layers'
      inputs and output gradients of that backward pass are kept, and the minibatch is cut
      into small batches of ``B_small`` (1: single samples) nested in it, which give the
      unbiased estimates 𝒮 of 𝒩 and 𝒢 of |G|² of
      :func:`~logloss.measure.noise_scale.batch_noise_scale`.  It needs a model whose
      trainable parameters all sit in Linear or Conv layers, each called once per
      forward pass, and samples that do not interact (no BatchNorm or dropout in train
      mode), and a loop that back-propagates the mean (``reduction="mean"``) or the sum of
      the per-sample losses.  :meth:`noise_scale` gives B_simple = mean 𝒮 / mean 𝒢 over
      the watched steps.

    ``history()`` returns the records as arrays.

    Parameters
    ----------
    model : nn.Module
        The model being trained.
    x, y : Tensor, optional
        The N training inputs and targets (𝒩 and L are full-data quantities); needed for
        the exact records, and N for the finite-population factor of the estimates.
    every : int
        Measure every ``every`` steps.
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)`` of the exact records (default
        ½‖f − y‖²).
    chunk_size : int, optional
        Samples per pass of :func:`logloss.noise_strength`.
    B_small : int
        Size of the small batches nested in each watched minibatch.
    N : int, optional
        The data set's size when x is not given (for c_B; None: infinite).

    Examples
    --------
    >>> monitor = NoiseMonitor(model, x, y, every=100)        # doctest: +SKIP
    >>> for step in range(steps):                              # doctest: +SKIP
    ...     monitor(step); opt.zero_grad(); loss.backward(); opt.step()
    >>> h = monitor.history()  # step, L, noise, noise_over_L, grad_sq_norm, noise_scale
    >>> monitor = NoiseMonitor(model, every=10, N=60000)      # doctest: +SKIP
    >>> for step, (xb, yb) in enumerate(loader):               # doctest: +SKIP
    ...     opt.zero_grad()
    ...     with monitor.watch(step):
    ...         criterion(model(xb), yb).backward()
    ...     opt.step()
    >>> monitor.noise_scale()  # B_simple with its standard error, no extra pass
    """

    def __init__(self, model: nn.Module, x: torch.Tensor | None = None, y: torch.Tensor | None = None, *,
                 every: int = 1, loss=mse_per_sample, chunk_size: int | None = None, B_small: int = 1,
                 N: int | None = None):
        if (x is None) != (y is None):
            raise InvalidInput("pass both x and y (exact records), or neither (estimates from watch())")
        self.model, self.x, self.y = model, x, y
        self.every = check_positive_int(every, "monitor interval every")
        self.B_small = check_positive_int(B_small, "B_small")
        self.N = int(x.shape[0]) if x is not None else (None if N is None else check_positive_int(N, "N"))
        self.loss, self.chunk_size = loss, chunk_size
        self.records: list[tuple[int, NoiseStrength]] = []
        self.estimates: list = []

    def __call__(self, step: int) -> NoiseStrength | None:
        """Measure if ``step`` is a multiple of ``every`` (else return None)."""
        return None if step % self.every else self.record(step)

    def record(self, step: int) -> NoiseStrength:
        """Measure now, whatever the step (for example once more at the end of training)."""
        if self.x is None:
            raise InvalidInput("exact records need the data: NoiseMonitor(model, x, y, ...)")
        # Per-sample gradients are defined only when samples do not interact (BatchNorm
        # in train mode couples them, dropout makes the loss random): measure the network
        # in eval mode, as it is used for prediction, and restore the caller's mode.
        modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        try:
            ns = noise_strength(self.model, self.x, self.y, loss=self.loss, chunk_size=self.chunk_size)
        finally:
            for m, mode in modes.items():
                m.training = mode
        self.records.append((int(step), ns))
        return ns

    @contextlib.contextmanager
    def watch(self, step: int, *, reduction: str = "mean"):
        """Keep what the loop's own backward pass computes at this step (every ``every`` steps)
        and record the nested-batch estimates 𝒮 and 𝒢 from it; see the class docstring."""
        if reduction not in ("mean", "sum"):
            raise InvalidInput(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        if step % self.every:
            yield None
            return
        problem = _stateful_problem(self.model)
        if problem:
            raise InvalidInput(f"watch() cannot estimate per-batch noise here: {problem}")
        if not supports_fast_path(self.model):
            raise InvalidInput("watch() needs every trainable parameter in Linear or Conv layers; use "
                               "the exact records (NoiseMonitor(model, x, y)) for this model")
        cap = _Capture(self.model)
        try:
            yield cap
        finally:
            cap.close()
            cap.finish()
        names = {m: n for n, m in self.model.named_modules()}
        owner: dict = {}
        for m in cap.layers:
            recs = cap.records.get(m, [])
            if len(recs) != 1 or recs[0][3] is None:
                raise InvalidInput(f"watch(): layer {names[m]!r} was called {len(recs)} times or got no "
                                   "gradient in the watched step: wrap exactly one forward and one "
                                   "backward pass of the model")
            for p in m.parameters(recurse=False):
                if p.requires_grad and owner.setdefault(p, m) is not m:
                    raise InvalidInput(f"watch(): tied weights between {names[owner[p]]!r} and {names[m]!r}")
        if not any(_trainable_own(m) for m in cap.layers):
            raise InvalidInput("watch(): no trainable layer was captured")
        B = int(next(iter(cap.records.values()))[0][0].shape[0])
        if not self.B_small < B:
            raise InvalidInput(f"watch(): the minibatch of {B} samples must be larger than B_small = {self.B_small}")
        small, big = block_sq_norms(cap.records, self.B_small, scale=float(B) if reduction == "mean" else 1.0)
        est = _estimate(small, big, self.B_small, B, B // self.B_small, self.N, True)
        self.estimates.append((int(step), est))

    def noise_scale(self) -> Measured:
        """B_simple = mean 𝒮 / mean 𝒢 over the watched steps, with its delta-method standard
        error over them (McCandlish et al. 2018, App. A)."""
        if len(self.estimates) < 2:
            raise InvalidInput("noise_scale() needs at least two watched steps")
        S = np.array([e.trace for _, e in self.estimates])
        G = np.array([e.grad_sq for _, e in self.estimates])
        cov = np.cov(S, G, ddof=1) / len(S)
        r = S.mean() / G.mean()
        var = r**2 * (cov[0, 0] / S.mean() ** 2 + cov[1, 1] / G.mean() ** 2 - 2 * cov[0, 1] / (S.mean() * G.mean()))
        return Measured(float(r), float(np.sqrt(max(var, 0.0))))

    def history(self) -> dict[str, np.ndarray]:
        """``step``, ``L``, ``noise`` (𝒩), ``noise_over_L``, ``grad_sq_norm`` (‖∇L‖²) and
        ``noise_scale`` (B_simple = 𝒩/‖∇L‖², McCandlish et al. 2018), one entry per exact
        record; and ``watched_step``, ``trace_estimate`` (𝒮) and ``grad_sq_estimate`` (𝒢),
        one entry per watched step."""
        steps = np.array([s for s, _ in self.records], dtype=np.int64)
        L = np.array([r.loss for _, r in self.records])
        noise = np.array([r.noise for _, r in self.records])
        g2 = np.array([r.grad_sq_norm for _, r in self.records])
        with np.errstate(divide="ignore", invalid="ignore"):
            out = dict(step=steps, L=L, noise=noise, noise_over_L=noise / L, grad_sq_norm=g2,
                       noise_scale=noise / g2)
        out.update(watched_step=np.array([s for s, _ in self.estimates], dtype=np.int64),
                   trace_estimate=np.array([e.trace for _, e in self.estimates]),
                   grad_sq_estimate=np.array([e.grad_sq for _, e in self.estimates]))
        return out
