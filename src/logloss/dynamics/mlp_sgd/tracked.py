"""The monitored CPU kernel: SGD steps of the replicas with the full training loss after
every step, tracked through the pre-activations Aᵀ = W₁Xᵀ and the data Gram matrix
K = XXᵀ (N·B·h work per step instead of N·D·h; see :mod:`logloss.dynamics.mlp_sgd`)."""

from __future__ import annotations

import numba
import numpy as np

from .head import _head_step


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _add_rows(ar, coef, scale, K, rows, n0, m):
    """ar[n] += scale Σ_b coef[b] K[rows[b], n0 + n] for n < m, four rows of K per pass
    (so that ar is loaded and stored B/4 times, not B times)."""
    B = rows.shape[0]
    b = 0
    while b + 4 <= B:
        c0, c1 = scale * coef[b], scale * coef[b + 1]
        c2, c3 = scale * coef[b + 2], scale * coef[b + 3]
        k0, k1 = K[rows[b], n0:n0 + m], K[rows[b + 1], n0:n0 + m]
        k2, k3 = K[rows[b + 2], n0:n0 + m], K[rows[b + 3], n0:n0 + m]
        for n in range(m):
            ar[n] += c0 * k0[n] + c1 * k1[n] + c2 * k2[n] + c3 * k3[n]
        b += 4
    while b < B:
        c0, k0 = scale * coef[b], K[rows[b], n0:n0 + m]
        for n in range(m):
            ar[n] += c0 * k0[n]
        b += 1


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _loss_pass(At, b1, w2, b2, y, f, K, idx, delta, eta):
    """L = (1/2N) Σ_μ (f(θ, x_μ) − y_μ)² of one replica from its Aᵀ = W₁Xᵀ (h × N, b₁
    excluded), after the update Aᵀ ← Aᵀ − η δᵀ K[idx] made in the same pass.

    One pass over Aᵀ in blocks of ``f.shape[0]`` samples (``f`` is scratch), so that a
    block is updated and read while it is in L1.  Block sums of squared residuals are in
    the parameters' dtype, their total (the returned L) float64.  With an empty ``idx``
    (and ``delta`` of shape (h, 0)) Aᵀ is left as it is: the loss of the given Aᵀ.
    """
    h, N = At.shape
    blk = f.shape[0]
    zero = b2[0] * 0
    total = 0.0
    for n0 in range(0, N, blk):
        m = min(n0 + blk, N) - n0
        fv = f[:m]
        fv[:] = b2[0]
        for j in range(h):
            ar = At[j, n0:n0 + m]
            _add_rows(ar, delta[j], -eta, K, idx, n0, m)
            bj = b1[j]
            wj = w2[j]
            for n in range(m):
                fv[n] += wj * max(ar[n] + bj, zero)
        yy = y[n0:n0 + m]
        part = zero
        for n in range(m):
            e = fv[n] - yy[n]
            part += e * e
        total += part
    return 0.5 * total / N


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tracked_step(W1, b1, w2, b2, At, X, y, K, idx, eta, a, delta, res, f):
    """One SGD step of one replica with its full loss after the step, in place.

    θ = (W1 (h × D), b1, w2, b2 (shape (1,))) and Aᵀ = W₁Xᵀ (h × N, b₁ excluded) of one
    replica, the minibatch ``idx`` (B distinct sample indices).  The step:
    a_b = A[idx_b] + b₁, the residuals r_b = (f_b − y_b)/B, δ = w₂ ⊙ r_b ⊙ [a_b > 0]
    (with the w₂ before the step), then θ ← θ − η∇L_B, and Aᵀ ← Aᵀ − η δᵀ K[idx] with
    the loss in one pass (:func:`_loss_pass`).  ``a`` (B × h), ``delta`` (h × B),
    ``res`` (B) and ``f`` (the block) are scratch.
    """
    B = idx.shape[0]
    h, D = W1.shape
    zero = b2[0] * 0
    for b in range(B):
        mu = idx[b]
        fb = b2[0]
        for j in range(h):
            a[b, j] = At[j, mu] + b1[j]
            fb += w2[j] * max(a[b, j], zero)
        res[b] = (fb - y[mu]) / B
    _head_step(a, res, w2, b1, b2, eta, delta.T)
    for j in range(h):
        wr = W1[j]
        for b in range(B):
            c = eta * delta[j, b]
            xr = X[idx[b]]
            for i in range(D):
                wr[i] -= c * xr[i]
    return _loss_pass(At, b1, w2, b2, y, f, K, idx, delta, eta)


_BLOCK = 1024  # samples per block of the loss pass over Aᵀ


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _monitored_chunk(W1, b1, w2, b2, At, X, y, K, idx, eta, k0, thresholds, fp, stop,
                     done, loss):
    """``idx.shape[0]`` SGD steps of every replica with the full loss after each (in place).

    Replica r runs its steps k0 + 1, k0 + 2, … on one thread, so its Aᵀ_r (h × N, 400 kB
    at h = 10, N = 10⁴) stays in that core's cache from step to step: per step only the B
    rows K[idx] come from memory.  Each step is :func:`_tracked_step`.  First passages go
    to ``fp`` (−1: not yet); with ``stop`` a replica that has crossed every threshold
    stops (``done[r]`` = its last step).
    """
    n_steps, R, B = idx.shape
    h = W1.shape[1]
    n_thr = thresholds.shape[0]
    for r in numba.prange(R):
        if done[r] > 0:
            continue
        a = np.empty((B, h), W1.dtype)
        delta = np.empty((h, B), W1.dtype)
        res = np.empty(B, W1.dtype)
        f = np.empty(_BLOCK, W1.dtype)
        for s in range(n_steps):
            k = k0 + s + 1
            L = _tracked_step(W1[r], b1[r], w2[r], b2[r:r + 1], At[r], X, y, K, idx[s, r], eta,
                              a, delta, res, f)
            loss[r] = L
            if not np.isfinite(L):
                done[r] = -k  # diverged
                break
            crossed = 0
            for t in range(n_thr):
                if fp[r, t] < 0 and L >= thresholds[t]:
                    fp[r, t] = k
                if fp[r, t] >= 0:
                    crossed += 1
            if stop and n_thr > 0 and crossed == n_thr:
                done[r] = k
                break
