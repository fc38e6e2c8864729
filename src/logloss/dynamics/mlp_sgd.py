"""Replica kernel: many independent SGD runs of a one-hidden-layer ReLU network at once.

The network is the paper's f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂ (784-10-1 in Fig. 3c,
P = 7861), trained on ℓ_μ = ½(f(θ, x_μ) − y_μ)² with minibatches of B distinct samples
drawn independently per replica at every step.  All R replicas advance together with
batched matrix products and a hand-written backward pass (no autograd), so one step costs
a handful of ``bmm`` calls whatever R is.

First passage needs the *full* training loss L(θ_k) of every replica at *every* step (a
crossing can last a single step, so checking every m steps would miss some).  Evaluating
it directly costs R·N·D·h multiply-adds per step.  Instead the kernel keeps the
pre-activations A = X W₁ᵀ (R × N × h) up to date: a step changes W₁ by
−(η/B) Σ_{b} δ_b x_bᵀ, hence A by −(η/B) K[:, idx] δ with the data Gram matrix K = XXᵀ,
which costs R·N·B·h, D/B = 78 times less.  A is recomputed exactly every
``resync_every`` steps so that rounding cannot accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import nn

from ..core.errors import SGDDiverged
from ..core.sampling import uniform_subsets
from ..core.threads import torch_threads
from ..core.validation import check_batch_size, check_learning_rate, check_positive_int

__all__ = [
    "MLPReplicas",
    "MLPRun",
    "replicate",
    "draw_minibatches",
    "replica_losses",
    "sgd_mlp",
]


@dataclass
class MLPReplicas:
    """Parameters of R replicas of f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂.

    Attributes
    ----------
    W1 : Tensor, shape (R, h, D)
    b1 : Tensor, shape (R, h)
    w2 : Tensor, shape (R, h)
    b2 : Tensor, shape (R,)
    """

    W1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor

    @property
    def R(self) -> int:
        return int(self.W1.shape[0])

    def select(self, keep: torch.Tensor) -> MLPReplicas:
        return MLPReplicas(self.W1[keep], self.b1[keep], self.w2[keep], self.b2[keep])

    def to(self, device) -> MLPReplicas:
        """The replicas on ``device`` (``"cpu"``, ``"cuda:0"``)."""
        return MLPReplicas(*(t.to(device) for t in (self.W1, self.b1, self.w2, self.b2)))

    def model(self, r: int = 0) -> nn.Sequential:
        """Replica r as a ``torch.nn`` model (Linear, ReLU, Linear)."""
        h, D = self.W1.shape[1:]
        net = nn.Sequential(nn.Linear(D, h), nn.ReLU(), nn.Linear(h, 1)).to(self.W1.dtype)
        with torch.no_grad():
            net[0].weight.copy_(self.W1[r])
            net[0].bias.copy_(self.b1[r])
            net[2].weight.copy_(self.w2[r][None, :])
            net[2].bias.copy_(self.b2[r].reshape(1))
        return net


def replicate(model: nn.Sequential, replicas: int) -> MLPReplicas:
    """R identical copies of a ``Sequential(Linear(D, h), ReLU(), Linear(h, 1))``."""
    lin1, lin2 = model[0], model[-1]
    if not (isinstance(lin1, nn.Linear) and isinstance(lin2, nn.Linear) and lin2.out_features == 1
            and len(model) == 3):
        raise ValueError("the replica kernel needs Sequential(Linear(D, h), ReLU(), Linear(h, 1))")
    R = check_positive_int(replicas, "number of replicas")
    rep = lambda t: t.detach().clone().unsqueeze(0).repeat(R, *([1] * t.dim())).contiguous()  # noqa: E731
    return MLPReplicas(rep(lin1.weight), rep(lin1.bias), rep(lin2.weight[0]), rep(lin2.bias[0]))


def draw_minibatches(rng: np.random.Generator, steps: int, replicas: int, N: int, B: int) -> np.ndarray:
    """Minibatch indices, shape (steps, replicas, B): independent uniform B-subsets
    (:func:`logloss.core.sampling.uniform_subsets`, the scheme of Eq. 8)."""
    return uniform_subsets(rng, (steps, replicas), N, B)


def replica_losses(params: MLPReplicas, x: torch.Tensor, y: torch.Tensor, *, chunk: int = 2048) -> torch.Tensor:
    """The full training loss L(θ_r) = (1/2N) Σ_μ (f(θ_r, x_μ) − y_μ)² of each replica, (R,)."""
    total = torch.zeros(params.R, dtype=torch.float64, device=params.W1.device)
    for s in range(0, x.shape[0], chunk):
        a = torch.einsum("nd,rhd->rnh", x[s:s + chunk], params.W1) + params.b1[:, None, :]
        f = torch.relu(a) @ params.w2[:, :, None]
        r = f[..., 0] + params.b2[:, None] - y[None, s:s + chunk]
        total += 0.5 * (r.double() ** 2).sum(1)
    return total / x.shape[0]


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _track_loss(At, K, idx, deltaT, eta, b1, w2, b2, y, loss):
    """Aᵀ_r ← Aᵀ_r − η δ_rᵀ K[idx_r] and L_r = (1/2N) Σ_μ (w₂ᵀ relu(A_μ + b₁) + b₂ − y_μ)².

    One pass over Aᵀ in blocks of 1024 samples, so each block of Aᵀ and of the B rows of
    K is read from memory once; parallel over replicas.  Block sums of squared
    residuals are float32, their total float64.
    """
    R, h, N = At.shape
    B = idx.shape[1]
    blk = 1024
    for r in numba.prange(R):
        total = 0.0
        f = np.empty(blk, At.dtype)
        for n0 in range(0, N, blk):
            n1 = min(n0 + blk, N)
            m = n1 - n0
            for b in range(B):
                kr = K[idx[r, b], n0:n1]
                for j in range(h):
                    a = At[r, j, n0:n1]
                    coef = eta * deltaT[r, j, b]  # eta arrives as −η in At's dtype
                    for n in range(m):
                        a[n] += coef * kr[n]
            fv = f[:m]
            fv[:] = b2[r]
            zero = b2[r] * 0
            for j in range(h):
                a = At[r, j, n0:n1]
                bj = b1[r, j]
                wj = w2[r, j]
                for n in range(m):
                    fv[n] += wj * max(a[n] + bj, zero)
            yy = y[n0:n1]
            part = fv[0] * 0.0
            for n in range(m):
                d = fv[n] - yy[n]
                part += d * d
            total += part
        loss[r] = 0.5 * total / N


def _track_loss_torch(At, K, idx, deltaT, eta, b1, w2, b2, y):
    """:func:`_track_loss` in torch, for tensors on a GPU: Aᵀ ← Aᵀ − η δᵀ K[idx] in place,
    and the full loss of each replica, (R,) float64 (``eta`` is η, not −η)."""
    At.baddbmm_(deltaT, K[idx], alpha=-eta)
    f = torch.einsum("rh,rhn->rn", w2, torch.relu(At + b1[:, :, None])) + b2[:, None]
    return 0.5 * ((f - y[None, :]) ** 2).double().mean(1)


def _on_cpu(x: torch.Tensor) -> bool:
    """Whether the loss is tracked by the numba kernel (CPU tensors) or in torch (GPU)."""
    return x.device.type == "cpu"


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
        Full loss of each replica at its last step (nan when not monitored).
    """

    params: MLPReplicas
    first_passage: np.ndarray
    steps_run: np.ndarray
    loss: np.ndarray


def _step(p: MLPReplicas, xb, yb, a, eta: float, B: int):
    """One SGD step in place from the minibatch pre-activations a = W₁x_b + b₁ (R, B, h).

    Returns δᵀ (R, h, B), the backpropagated error ∂L_B/∂a at the hidden pre-activations,
    so that the caller can update A = XW₁ᵀ.
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
        Source of the minibatches (ignored when ``indices`` is given).
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
        Steps between exact recomputations of A = XW₁ᵀ.
    chunk : int
        Steps of minibatch indices drawn at once.
    threads : int or None
        torch intra-op threads for the SGD step (``None``: torch's setting).  The step is
        a few small ``bmm`` calls; on idle cores all threads are fastest, but when other
        processes share the cores one thread does not stall at thread barriers.  The loss
        tracking runs on all numba threads.
    """
    with torch_threads(threads):
        return _sgd_mlp(params, x, y, eta=eta, B=B, steps=steps, rng=rng, indices=indices,
                        thresholds=thresholds, stop_when_all_crossed=stop_when_all_crossed,
                        gram=gram, resync_every=resync_every, chunk=chunk)


def _sgd_mlp(params, x, y, *, eta, B, steps, rng, indices, thresholds, stop_when_all_crossed,
             gram, resync_every, chunk) -> MLPRun:
    eta = check_learning_rate(eta)
    N = int(x.shape[0])
    B = check_batch_size(B, N)
    R = params.R
    if indices is None and rng is None:
        raise ValueError("give rng (minibatch source) or explicit indices")
    if indices is not None and indices.shape[:2] != (steps, R):
        raise ValueError(f"indices must have shape ({steps}, {R}, {B})")
    monitor = thresholds is not None and len(np.atleast_1d(thresholds)) > 0
    dev = x.device  # every tensor lives where the data does
    thr = torch.as_tensor(np.asarray(thresholds if monitor else [], dtype=float), device=dev)
    if monitor and thr.numel() > 1 and torch.any(thr[1:] < thr[:-1]):
        raise ValueError("loss thresholds must be increasing")
    fp = np.full((R, thr.numel()), -1, dtype=np.int64)
    steps_run = np.full(R, steps, dtype=np.int64)
    final_loss = np.full(R, np.nan)
    alive = np.arange(R)  # original index of each active replica
    p = params.select(torch.arange(R, device=dev))  # working copy, compacted as replicas finish
    fp_live = torch.full((R, thr.numel()), -1, dtype=torch.int64, device=dev)
    numba_loss = _on_cpu(x)
    if monitor:
        K = gram if gram is not None else x @ x.T
        xT = x.T.contiguous()[None]
        At = torch.bmm(p.W1, xT.expand(R, -1, -1))  # Aᵀ = W₁Xᵀ, (R, h, N)
        if numba_loss:
            Kn, yn = K.numpy(), y.numpy()
            neg_eta = Kn.dtype.type(-eta)
            loss_buf = np.empty(R)
    for start in range(0, steps, chunk):
        n = min(chunk, steps - start)
        if indices is not None:
            idx_np = indices[start:start + n][:, alive]
        else:
            idx_np = draw_minibatches(rng, n, len(alive), N, B)
        idx_chunk = torch.from_numpy(np.ascontiguousarray(idx_np)).to(dev)
        for s in range(n):
            k = start + s + 1
            idx = idx_chunk[s]
            R_now, flat = idx.shape[0], idx.reshape(-1)
            xb = x.index_select(0, flat).view(R_now, B, -1)
            yb = y.index_select(0, flat).view(R_now, B)
            if monitor:
                a = torch.gather(At, 2, idx[:, None, :].expand(-1, At.shape[1], -1)).transpose(1, 2)
                a = a + p.b1[:, None, :]
            else:
                a = torch.baddbmm(p.b1[:, None, :], xb, p.W1.transpose(1, 2))
            deltaT = _step(p, xb, yb, a, eta, B)
            if not monitor:
                continue
            # A ← A − η K[:, idx] δ (stored transposed), then the full loss, in one pass.
            if numba_loss:
                _track_loss(At.numpy(), Kn, idx.numpy(), deltaT.numpy(), neg_eta, p.b1.numpy(),
                            p.w2.numpy(), p.b2.numpy(), yn, loss_buf[:R_now])
                loss = torch.from_numpy(loss_buf[:R_now])
            else:
                loss = _track_loss_torch(At, K, idx, deltaT, eta, p.b1, p.w2, p.b2, y)
            if k % resync_every == 0:
                At = torch.bmm(p.W1, xT.expand(R_now, -1, -1))
            if not torch.isfinite(loss).all():
                raise SGDDiverged(f"SGD diverged (non-finite loss at step {k}) with learning "
                                 f"rate eta (η) = {eta}, B = {B}; lower η")
            newly = (loss[:, None] >= thr[None, :].to(loss.dtype)) & (fp_live < 0)
            fp_live[newly] = k
            if stop_when_all_crossed and (fp_live[:, -1] >= 0).any() and (s == n - 1 or k % 16 == 0):
                done = (fp_live >= 0).all(1)
                if done.any():
                    gone = alive[done.cpu().numpy()]
                    fp[gone] = fp_live[done].cpu().numpy()
                    steps_run[gone] = k
                    final_loss[gone] = loss[done].double().cpu().numpy()
                    keep = ~done
                    alive = alive[keep.cpu().numpy()]
                    _write_back(params, p, gone_idx=gone, src=done)
                    p = p.select(keep)
                    At, fp_live, idx_chunk = At[keep], fp_live[keep], idx_chunk[:, keep]
                    if len(alive) == 0:
                        break
        if len(alive) == 0:
            break
    if len(alive):
        fp[alive] = fp_live.cpu().numpy()
        if monitor:
            final_loss[alive] = replica_losses(p, x, y).cpu().numpy()
        _write_back(params, p, gone_idx=alive, src=torch.ones(len(alive), dtype=torch.bool,
                                                            device=dev))
    return MLPRun(params, fp, steps_run, final_loss)


def _write_back(dst: MLPReplicas, src_p: MLPReplicas, *, gone_idx, src) -> None:
    gi = torch.as_tensor(gone_idx, device=dst.W1.device)
    dst.W1[gi] = src_p.W1[src]
    dst.b1[gi] = src_p.b1[src]
    dst.w2[gi] = src_p.w2[src]
    dst.b2[gi] = src_p.b2[src]
