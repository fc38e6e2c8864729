"""The driver :func:`sgd_mlp`: validates the input, draws the minibatches, runs the steps
chunk by chunk on the execution path that fits (the monitored :mod:`.tracked` or the
unmonitored :mod:`.sparse` kernel on the CPU, :mod:`.torch_path` elsewhere), drops the
replicas that have finished and writes their parameters back."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...core.errors import SGDDiverged
from ...core.threads import numba_threads, torch_threads
from ...core.validation import check_batch_size, check_learning_rate
from ..rng import replica_states
from .replicas import MLPReplicas, draw_minibatches, replica_losses
from .sparse import _csr, _padded_transpose, _sparse_chunk
from .torch_path import _monitored_steps_torch, _plain_chunk, _pre_activations
from .tracked import _monitored_chunk

__all__ = ["MLPRun", "sgd_mlp"]


@dataclass
class MLPRun:
    """Outcome of :func:`sgd_mlp`.

    Attributes
    ----------
    params : MLPReplicas
        θ of every replica when it stopped.
    first_passage : ndarray of int64, shape (R, n_thresholds)
        First step k ≥ 1 with L(θ_k) ≥ thresholds[j]; −1 if never within the budget.
    steps_run : ndarray of int64, shape (R,)
        Steps each replica ran (its censoring time where it did not cross).
    loss : ndarray, shape (R,)
        Full loss of each replica at its last step, as tracked (nan when not monitored).
    """

    params: MLPReplicas
    first_passage: np.ndarray
    steps_run: np.ndarray
    loss: np.ndarray


def sgd_mlp(
    params: MLPReplicas,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eta: float,
    B: int,
    steps: int,
    rng: np.random.Generator | None = None,
    indices: np.ndarray | None = None,
    thresholds=None,
    stop_when_all_crossed: bool = True,
    gram: torch.Tensor | None = None,
    resync_every: int = 1000,
    chunk: int = 256,
    threads: int | None = None,
) -> MLPRun:
    """Run R replicas of SGD, θ_{k+1} = θ_k − η ∇L_{B_k}(θ_k), in place on ``params``.

    Parameters
    ----------
    params : MLPReplicas
        Initial θ_0 of each replica (modified in place).
    x : Tensor, shape (N, D)
        Inputs; y : Tensor, shape (N,), targets.
    eta : float
        Learning rate η.
    B : int
        Minibatch size (distinct samples per step and replica).
    steps : int
        Step budget per replica.
    rng : numpy.random.Generator
        Source of the minibatches (ignored when ``indices`` is given).  The unmonitored
        CPU kernel takes one seed from it and draws the minibatches inline, replica r
        from stream r of :func:`logloss.dynamics.rng.replica_states` (the indices of
        :func:`logloss.dynamics.rng.minibatch_indices`); the other paths draw them with
        :func:`draw_minibatches`.  Both are independent uniform B-subsets (Eq. 8).
    indices : ndarray of int, shape (steps, R, B), optional
        An explicit minibatch sequence (for testing against a reference loop).
    thresholds : array_like, optional
        Increasing absolute loss levels; when given, the full loss is tracked at every
        step and first-passage steps are recorded.
    stop_when_all_crossed : bool
        Drop a replica from the computation once it has crossed every threshold.
    gram : Tensor, shape (N, N), optional
        K = XXᵀ, if already computed (it costs N²D; pass it to share between runs).
    resync_every : int
        Steps between exact recomputations of A = XW₁ᵀ (done at chunk ends).
    chunk : int
        Steps of minibatch indices drawn at once.
    threads : int or None
        Threads for the unmonitored steps (``None``: all of numba's or torch's): numba
        threads over replicas on the CPU, torch intra-op threads otherwise.  On idle
        cores all threads are fastest, but when other processes share the cores one
        thread does not stall at thread barriers.  The monitored steps run on all numba
        threads.
    """
    with torch_threads(threads):
        return _sgd_mlp(params, x, y, eta=eta, B=B, steps=steps, rng=rng, indices=indices,
                        thresholds=thresholds, stop_when_all_crossed=stop_when_all_crossed,
                        gram=gram, resync_every=resync_every, chunk=chunk, threads=threads)


def _sgd_mlp(params, x, y, *, eta, B, steps, rng, indices, thresholds, stop_when_all_crossed,
             gram, resync_every, chunk, threads) -> MLPRun:
    eta = check_learning_rate(eta)
    N = int(x.shape[0])
    B = check_batch_size(B, N)
    R = params.R
    if indices is None and rng is None:
        raise ValueError("give rng (minibatch source) or explicit indices")
    if indices is not None and indices.shape[:2] != (steps, R):
        raise ValueError(f"indices must have shape ({steps}, {R}, {B})")
    monitor = thresholds is not None and len(np.atleast_1d(thresholds)) > 0
    thr = np.asarray(thresholds if monitor else [], dtype=float).ravel()
    if monitor and thr.size > 1 and np.any(thr[1:] < thr[:-1]):
        raise ValueError("loss thresholds must be increasing")
    dev = x.device  # every tensor lives where the data does
    fp = np.full((R, thr.size), -1, dtype=np.int64)
    steps_run = np.full(R, steps, dtype=np.int64)
    final_loss = np.full(R, np.nan)
    alive = np.arange(R)  # original index of each active replica
    p = params.select(torch.arange(R, device=dev))  # working copy, compacted as replicas finish
    if monitor:
        K = gram if gram is not None else x @ x.T
        xT = x.T.contiguous()
        At = _pre_activations(p.W1, xT)
        fp_live = np.full((R, thr.size), -1, dtype=np.int64)
        last_loss = None  # the tracked L(θ_k) of the alive replicas at the last step run
    sparse = not monitor and _on_cpu(x)
    if sparse:
        WT = _padded_transpose(p.W1.numpy())
        csr = _csr(x.numpy())
        eta_t = WT.dtype.type(eta)
        if indices is None:  # the kernel draws: one stream per replica, seeded from rng
            states = replica_states(int(rng.integers(2**63)), R)
            perms = np.tile(np.arange(N), (R, 1)) if B > 1 else np.empty((R, 0), np.int64)
        else:
            states, perms = np.zeros((R, 2), np.uint64), np.empty((R, 0), np.int64)
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        if sparse:
            idx_np = (np.ascontiguousarray(indices[start:start + n], dtype=np.int64)
                      if indices is not None else np.empty((0, R, B), np.int64))
            with numba_threads(threads):
                _sparse_chunk(WT, p.b1.numpy(), p.w2.numpy(), p.b2.numpy(), *csr, y.numpy(),
                              n, B, idx_np, states, perms, eta_t)
            continue
        if indices is not None:
            idx_np = indices[start:start + n][:, alive]
        else:
            idx_np = draw_minibatches(rng, n, len(alive), N, B)
        idx_np = np.ascontiguousarray(idx_np, dtype=np.int64)
        if not monitor:
            _plain_chunk(p, x, y, torch.from_numpy(idx_np).to(dev), eta, B)
            continue
        pos = 0  # steps of this chunk run so far
        while pos < n:
            if _on_cpu(x):
                ran, done, loss = n - pos, np.zeros(len(alive), dtype=np.int64), np.full(len(alive), np.nan)
                _monitored_chunk(p.W1.numpy(), p.b1.numpy(), p.w2.numpy(), p.b2.numpy(), At.numpy(),
                                 x.numpy(), y.numpy(), K.numpy(), idx_np[pos:],
                                 K.numpy().dtype.type(eta), start + pos, thr, fp_live,
                                 bool(stop_when_all_crossed), done, loss)
            else:
                ran, done, loss = _monitored_steps_torch(
                    p, At, x, y, K, torch.from_numpy(idx_np[pos:]).to(dev), eta, B, start + pos,
                    thr, fp_live, bool(stop_when_all_crossed))
            pos += ran
            if (done < 0).any():
                raise SGDDiverged(f"SGD diverged (non-finite loss at step {-done.min()}) with "
                                  f"learning rate eta (η) = {eta}, B = {B}; lower η")
            fin = done > 0
            last_loss = loss[~fin]
            if fin.any():
                gone = alive[fin]
                fp[gone], steps_run[gone], final_loss[gone] = fp_live[fin], done[fin], loss[fin]
                _write_back(params, p, gone_idx=gone, src=torch.from_numpy(fin).to(dev))
                keep = torch.from_numpy(~fin).to(dev)
                alive, fp_live, idx_np = alive[~fin], fp_live[~fin], idx_np[:, ~fin]
                p, At = p.select(keep), At[keep].contiguous()
                if len(alive) == 0:
                    break
        if len(alive) == 0:
            break
        if (start + n) // resync_every > start // resync_every:
            At = _pre_activations(p.W1, xT)
    if sparse:
        p.W1.copy_(torch.from_numpy(WT[:, :, :p.W1.shape[1]]).transpose(1, 2))
    if len(alive):
        if monitor:
            fp[alive] = fp_live
            final_loss[alive] = (replica_losses(p, x, y).cpu().numpy() if last_loss is None
                                 else last_loss)
        _write_back(params, p, gone_idx=alive, src=torch.ones(len(alive), dtype=torch.bool,
                                                            device=dev))
    return MLPRun(params, fp, steps_run, final_loss)


def _on_cpu(x: torch.Tensor) -> bool:
    """Whether the monitored steps run in the numba kernel (CPU tensors) or in torch (GPU)."""
    return x.device.type == "cpu"


def _write_back(dst: MLPReplicas, src_p: MLPReplicas, *, gone_idx, src) -> None:
    gi = torch.as_tensor(gone_idx, device=dst.W1.device)
    dst.W1[gi] = src_p.W1[src]
    dst.b1[gi] = src_p.b1[src]
    dst.w2[gi] = src_p.w2[src]
    dst.b2[gi] = src_p.b2[src]
