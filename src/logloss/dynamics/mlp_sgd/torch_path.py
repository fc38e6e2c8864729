"""The steps in torch, batched over replicas: the path for tensors on a GPU (monitored and
unmonitored), with the same arithmetic as the CPU kernels."""

from __future__ import annotations

import numpy as np
import torch

from .replicas import MLPReplicas


def _step(p: MLPReplicas, xb, yb, a, eta: float, B: int):
    """One SGD step in place from the minibatch pre-activations a = W₁x_b + b₁ (R, B, h).

    Returns δᵀ (R, h, B), the backpropagated error ∂L_B/∂a at the hidden pre-activations,
    so that the monitored torch path can update A = XW₁ᵀ.
    """
    hid = torch.relu(a)
    r = torch.baddbmm(p.b2[:, None, None], hid, p.w2[:, :, None])[..., 0] - yb  # (R, B)
    rB = r / B
    deltaT = (p.w2[:, :, None] * rB[:, None, :]) * (a > 0).transpose(1, 2)  # (R, h, B)
    p.w2.sub_(torch.bmm(rB[:, None, :], hid)[:, 0], alpha=eta)
    p.b2.sub_(rB.sum(1), alpha=eta)
    p.b1.sub_(deltaT.sum(2), alpha=eta)
    p.W1.baddbmm_(deltaT, xb, alpha=-eta)  # W₁ ← W₁ − η δᵀ x_b
    return deltaT


def _track_loss_torch(At, K, idx, deltaT, eta, b1, w2, b2, y):
    """Aᵀ ← Aᵀ − η δᵀ K[idx] in place, and the full loss of each replica, (R,) float64: the
    loss tracking of :func:`.tracked._monitored_chunk` in torch, for tensors on a GPU."""
    At.baddbmm_(deltaT, K[idx], alpha=-eta)
    f = torch.einsum("rh,rhn->rn", w2, torch.relu(At + b1[:, :, None])) + b2[:, None]
    return 0.5 * ((f - y[None, :]) ** 2).double().mean(1)


def _monitored_steps_torch(p: MLPReplicas, At, x, y, K, idx, eta: float, B: int, k0: int,
                           thr: np.ndarray, fp_live: np.ndarray, stop: bool):
    """:func:`.tracked._monitored_chunk` in torch (tensors off the CPU), batched over replicas.

    Runs steps k0 + 1, … of ``idx`` (steps, R, B) until they end or, with ``stop``, until
    a replica has crossed every threshold, so that it stops at that very step as in the
    numba kernel.  Returns ``(steps run, done, loss)`` with done[r] = k for a replica that
    finished at step k (−k: diverged) and the tracked loss of every replica.
    """
    R_now = idx.shape[1]
    done = np.zeros(R_now, dtype=np.int64)
    loss = np.full(R_now, np.nan)
    for s in range(idx.shape[0]):
        k = k0 + s + 1
        i, flat = idx[s], idx[s].reshape(-1)
        xb = x.index_select(0, flat).view(R_now, B, -1)
        yb = y.index_select(0, flat).view(R_now, B)
        a = torch.gather(At, 2, i[:, None, :].expand(-1, At.shape[1], -1)).transpose(1, 2)
        deltaT = _step(p, xb, yb, a + p.b1[:, None, :], eta, B)
        loss = _track_loss_torch(At, K, i, deltaT, eta, p.b1, p.w2, p.b2, y).cpu().numpy()
        if not np.isfinite(loss).all():
            done[~np.isfinite(loss)] = -k
            return s + 1, done, loss
        fp_live[(loss[:, None] >= thr[None, :]) & (fp_live < 0)] = k
        if stop:
            fin = (fp_live >= 0).all(1)
            if fin.any():
                done[fin] = k
                return s + 1, done, loss
    return idx.shape[0], done, loss


def _pre_activations(W1: torch.Tensor, xT: torch.Tensor) -> torch.Tensor:
    """Aᵀ = W₁Xᵀ of every replica, (R, h, N), as one (R·h × D)(D × N) product."""
    R, h, D = W1.shape
    return (W1.reshape(R * h, D) @ xT).view(R, h, -1)


def _plain_chunk(p: MLPReplicas, x, y, idx_chunk, eta: float, B: int) -> None:
    """The steps of one chunk of minibatch indices (steps, R, B), batched over replicas."""
    for idx in idx_chunk:
        R_now, flat = idx.shape[0], idx.reshape(-1)
        xb = x.index_select(0, flat).view(R_now, B, -1)
        yb = y.index_select(0, flat).view(R_now, B)
        a = torch.baddbmm(p.b1[:, None, :], xb, p.W1.transpose(1, 2))
        _step(p, xb, yb, a, eta, B)
