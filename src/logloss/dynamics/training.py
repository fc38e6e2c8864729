"""Plain SGD at fixed η and B, recording L and the noise strength 𝒩 on a schedule.

θ_{k+1} = θ_k − η ∇L_{B_k}(θ_k) with L_B = (1/B) Σ_{μ∈B_k} ℓ_μ (mean convention).  By
default (``minibatches="epoch"``) each epoch draws a random permutation of the N samples
from a seeded ``torch.Generator`` and cuts it into ⌊N/B⌋ minibatches, so minibatches are
drawn without replacement (a final incomplete batch, if B does not divide N, is dropped)
and the minibatches of one epoch are disjoint.  With ``minibatches="independent"`` every
step draws a fresh uniform B-subset (:func:`logloss.core.sampling.uniform_subsets`), the
process whose noise covariance is Eq. (8) with no memory between steps; an "epoch" is then
⌊N/B⌋ steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.progress import progress
from ..core.sampling import uniform_subsets
from ..core.threads import torch_threads
from ..core.validation import check_batch_size, check_finite_loss, check_learning_rate
from ..measure.losses import mse_per_sample
from ..measure.noise import noise_strength

__all__ = ["TrainingRecord", "train_sgd", "log_schedule"]


@dataclass
class TrainingRecord:
    """What :func:`train_sgd` measured, one entry per recorded epoch (epoch 0 = init).

    Attributes
    ----------
    epochs : ndarray of int
    loss : ndarray
        Training loss L over all N samples.
    noise : ndarray
        Noise strength 𝒩 over all N samples.
    mean_sq_norm, grad_sq_norm : ndarray
        (1/N) Σ‖∇ℓ_μ‖² and ‖∇L‖².
    snapshots : dict of int to state dict
        Parameters at the epochs asked for in ``snapshot_at``.
    """

    epochs: np.ndarray
    loss: np.ndarray
    noise: np.ndarray
    mean_sq_norm: np.ndarray
    grad_sq_norm: np.ndarray
    snapshots: dict[int, dict] = field(default_factory=dict)


def log_schedule(epochs: int, points: int) -> list[int]:
    """About ``points`` epochs from 0 to ``epochs``, evenly spaced on a log scale (0 included)."""
    grid = np.unique(np.round(np.geomspace(1, epochs, max(points - 1, 1))).astype(int))
    return [0, *grid.tolist()] if epochs >= 1 else [0]


def train_sgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    B: int,
    epochs: int,
    seed: int,
    loss=mse_per_sample,
    record_at: Iterable[int] | None = None,
    snapshot_at: Iterable[int] = (),
    measure_noise: bool = True,
    chunk_size: int = 1000,
    desc: str = "SGD",
    callback: Callable[[int, nn.Module], None] | None = None,
    threads: int | None = 1,
    minibatches: str = "epoch",
) -> TrainingRecord:
    """Train ``model`` in place with SGD and record L and 𝒩.

    Parameters
    ----------
    model : nn.Module
        The network; trained in place.
    x, y : Tensor
        The N training inputs and targets.
    eta : float
        Learning rate η.
    B : int
        Minibatch size B (without replacement within an epoch).
    epochs : int
        Number of epochs (passes over the data).
    seed : int
        Seed of the ``torch.Generator`` that draws the minibatches.
    loss : callable
        Per-sample loss ℓ_μ; the minibatch loss is its mean.
    record_at : iterable of int, optional
        Epochs after which L and 𝒩 are measured on all N samples (0 = before training);
        default every epoch.
    snapshot_at : iterable of int
        Epochs after which a copy of the parameters is kept.
    measure_noise : bool
        Measure 𝒩 (else only L, which is cheaper).
    callback : callable, optional
        ``callback(epoch, model)`` after each epoch's measurements (and at epoch 0).
    threads : int or None
        Torch intra-op threads during training (see :func:`torch_threads`); ``None``
        leaves the setting alone.
    minibatches : {"epoch", "independent"}
        Epoch shuffles (disjoint minibatches within an epoch, drawn with a
        ``torch.Generator`` seeded by ``seed``) or independent uniform B-subsets at every
        step (drawn with a ``numpy`` generator seeded by ``seed``).
    """
    if minibatches not in ("epoch", "independent"):
        raise InvalidInput(f"minibatches must be 'epoch' or 'independent', got {minibatches!r}")
    eta = check_learning_rate(eta)
    N = x.shape[0]
    B = check_batch_size(B, N)
    record = sorted(set(range(epochs + 1) if record_at is None else record_at))
    if any(e < 0 or e > epochs for e in record):
        raise ValueError(f"record_at epochs must lie in 0..{epochs}")
    snaps = set(snapshot_at)
    gen = torch.Generator().manual_seed(seed)
    np_gen = np.random.default_rng(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    rows, snapshots = [], {}

    def measure(epoch: int) -> None:
        if epoch in record:
            if measure_noise:
                ns = noise_strength(model, x, y, loss=loss, chunk_size=chunk_size)
                rows.append((epoch, ns.loss, ns.noise, ns.mean_sq_norm, ns.grad_sq_norm))
            else:
                with torch.no_grad():
                    L = float(sum(loss(model(x[s:s + chunk_size]), y[s:s + chunk_size]).double().sum()
                                  for s in range(0, N, chunk_size)) / N)
                rows.append((epoch, L, np.nan, np.nan, np.nan))
            check_finite_loss(rows[-1][1], f"at epoch {epoch}")
        if epoch in snaps:
            snapshots[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if callback is not None:
            callback(epoch, model)

    with torch_threads(threads):
        measure(0)
        for epoch in progress(range(1, epochs + 1), total=epochs, desc=desc):
            if minibatches == "epoch":
                perm = torch.randperm(N, generator=gen).to(x.device)  # same draws on every device
                batches = [perm[s:s + B] for s in range(0, N - B + 1, B)]
            else:
                batches = torch.from_numpy(uniform_subsets(np_gen, (N // B,), N, B)).to(x.device)
            for idx in batches:
                batch_loss = loss(model(x[idx]), y[idx]).mean()
                grads = torch.autograd.grad(batch_loss, params)
                with torch.no_grad():
                    for p, g in zip(params, grads):
                        p.sub_(eta * g)
            measure(epoch)
    arr = np.array(rows, dtype=float).reshape(-1, 5)
    return TrainingRecord(arr[:, 0].astype(int), arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4],
                          snapshots)
