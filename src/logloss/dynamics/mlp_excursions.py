"""SGD on the paper's 784-h-1 ReLU network seen through ξ = log(L/L*), for rare-event splitting.

:class:`MLPSystem` is a :class:`logloss.stats.splitting.System` for SGD on
f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂ with ℓ_μ = ½(f(θ, x_μ) − y_μ)² (paper Sec. 5.3.2,
Fig. 3c).  Its state is the flat parameter vector θ = (W₁, b₁, w₂, b₂) in
``nn.Sequential.parameters()`` order (P = 7861 at h = 10); L* = L(θ*) is the loss of the
given (pretrained) net.  Two numba kernels, single-threaded and without the GIL (the
splitting runs independent repetitions on threads):

* :func:`_flux_kernel` runs replicas from θ* into the quasi-stationary state of the run's
  own (η, B) with the unmonitored sparse step of :mod:`.mlp_sgd` (only the nonzero pixels
  of each image, about 150 of 784 in MNIST; 20 times cheaper than a monitored step), and
  every ``thin`` steps computes the loss exactly, counts whether the state is in the bulk
  A = {L ≤ c_A L*} and keeps it if so.  Observing every few steps instead of every step
  estimates the same fraction of time in A, and makes runs long enough to sample the slow
  directions of the quasi-stationary state, on which the escape rate depends;
* :func:`_excursion_kernel` runs one trajectory from each given state until it returns to
  A or reaches the top level, recording the state at which it first reached each level.
  It tracks the *full* training loss at every step with the monitored step of
  :mod:`.mlp_sgd` (:func:`~logloss.dynamics.mlp_sgd.tracked._tracked_step`: the pre-activations
  Aᵀ = W₁Xᵀ updated through the data Gram matrix K = XXᵀ, N·B·h work per step instead
  of N·D·h), since a crossing can last one step.

A trajectory that starts from a stored θ first recomputes Aᵀ exactly from the sparse rows
of X (N·150·h multiply-adds in 16-lane blocks, about the cost of 10–20 monitored steps;
restarts from one parent state share it), and again every 1024 steps.  The minibatches (B distinct samples) come from one
xoroshiro128+ stream per trajectory (:mod:`.rng`).  The kernels compute in the data's
dtype (float32 for MNIST, as :func:`~logloss.dynamics.mlp_sgd.sgd_mlp`), and the states
they hand out (bulk states, level records) are in that dtype too: a restart from a stored
state is exact, and the splitting's records of shape (n, G, P) take half the memory of
float64.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput, SGDDiverged
from ..core.validation import check_batch_size, check_learning_rate
from ..measure.hessian import hessian_outliers
from .excursions import Excursions, FluxBuffers, FluxRun, _climb, _observe, record_rows
from .mlp_sgd import replicate
from .mlp_sgd.sparse import _LANES, _csr, _csr_row_block, _register_block, _sparse_replica_steps
from .mlp_sgd.tracked import _BLOCK, _loss_pass, _tracked_step
from .rng import replica_states, subset_index

__all__ = ["MLPSystem"]

_RESYNC = 1024  # steps between exact recomputations of Aᵀ
_BURN_CHUNK = 256  # minibatches drawn at once in the sparse burn-in
_MEMO = 200_000  # tracked losses of recorded states kept for levels()
# the kernels' floating-point flags: those of the monitored kernel's fastmath without
# "nnan" and "ninf", so that a diverged loss is still seen as non-finite
_FLAGS = {"reassoc", "contract", "nsz", "arcp", "afn"}


@numba.njit(cache=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _views(theta, h, D):
    """(W₁ (h × D), b₁, w₂, b₂ (shape (1,))) as views of the flat θ."""
    hD = h * D
    return (theta[:hD].reshape((h, D)), theta[hD:hD + h], theta[hD + h:hD + 2 * h],
            theta[hD + 2 * h:hD + 2 * h + 1])


@numba.njit(cache=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _exact_pre_activations(W1, WT, indptr, cols, vals, At, row):
    """Aᵀ = W₁Xᵀ (h × N) of one replica from the CSR rows of X: Σ over the nonzero pixels
    of each image of x_i W₁ᵀ[i], 16 lanes at a time.  WT (D × hp, zero beyond h) receives
    W₁ᵀ; ``row`` (hp) is scratch."""
    h, D = W1.shape
    hp = WT.shape[1]
    zero = W1[0, 0] * 0
    for i in range(D):
        for j in range(h):
            WT[i, j] = W1[j, i]
    acc_block = _register_block(WT.dtype)
    acc = numba.carray(acc_block, (4, _LANES))
    for n in range(indptr.shape[0] - 1):
        for k in range(hp // _LANES):
            _csr_row_block(acc_block, acc, WT, cols, vals, indptr[n], indptr[n + 1], k * _LANES,
                           row, zero)
        for j in range(h):
            At[j, n] = row[j]


@numba.njit(cache=True, fastmath=_FLAGS, error_model="numpy", inline="always")
def _loss(At, b1, w2, b2, y, f):
    """L = (1/2N) Σ_μ (f(θ, x_μ) − y_μ)² from Aᵀ: the monitored step's loss pass
    (:func:`~logloss.dynamics.mlp_sgd.tracked._loss_pass`) without an update of Aᵀ."""
    dt = At.dtype
    return _loss_pass(At, b1, w2, b2, y, f, np.empty((0, 0), dt), np.empty(0, np.int64),
                      np.empty((At.shape[0], 0), dt), b2[0] * 0)


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")
def _losses_kernel(states, h, D, y, indptr, cols, vals, out):
    """The full loss of each state (rows of ``states``, in the data's dtype)."""
    hp = -(-h // _LANES) * _LANES
    N = indptr.shape[0] - 1
    WT = np.zeros((D, hp), states.dtype)
    At = np.empty((h, N), states.dtype)
    row = np.empty(hp, states.dtype)
    f = np.empty(_BLOCK, states.dtype)
    for r in range(states.shape[0]):
        W1, b1, w2, b2 = _views(states[r], h, D)
        _exact_pre_activations(W1, WT, indptr, cols, vals, At, row)
        out[r] = _loss(At, b1, w2, b2, y, f)


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")
def _flux_kernel(theta_star, h, D, y, indptr, cols, vals, eta, B, L_star, states, burn, steps,
                 thin, L_A, in_A, seen, stored, bulk, levels, diverged):
    R = states.shape[0]
    N = indptr.shape[0] - 1
    hp = -(-h // _LANES) * _LANES
    dt = theta_star.dtype
    At = np.empty((h, N), dt)
    row = np.empty(hp, dt)
    f = np.empty(_BLOCK, dt)
    a_s, delta_s, res = np.zeros((B, hp), dt), np.zeros((B, hp), dt), np.empty(B, dt)
    idx = np.empty((_BURN_CHUNK, B), np.int64)
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        perm = np.arange(N if B > 1 else 0)
        theta = theta_star.copy()
        W1, b1, w2, b2 = _views(theta, h, D)
        WT = np.zeros((D, hp), dt)
        for i in range(D):
            for j in range(h):
                WT[i, j] = W1[j, i]
        k = 0
        while k < burn + steps:
            # the unmonitored sparse steps of sgd_mlp up to the next observation
            n = min(_BURN_CHUNK, burn + steps - k)
            n = min(n, burn - k) if k < burn else min(n, thin - (k - burn) % thin)
            for s in range(n):
                for b in range(B):
                    idx[s, b], s0, s1 = subset_index(perm, b, B, N, s0, s1)
            _sparse_replica_steps(WT, b1, w2, b2, indptr, cols, vals, y, idx[:n], eta, a_s,
                                  delta_s, res)
            k += n
            if k <= burn or (k - burn) % thin:
                continue
            # an observation: the exact loss of θ_k
            for i in range(D):
                for j in range(h):
                    W1[j, i] = WT[i, j]
            _exact_pre_activations(W1, WT, indptr, cols, vals, At, row)
            L = _loss(At, b1, w2, b2, y, f)
            if not np.isfinite(L):
                diverged[r] = k
                break
            seen[r] += 1
            _observe(L, L_star, L_A, (k - burn) // thin, 0, 1, r, theta, in_A, levels, stored,
                     bulk)


@numba.njit(cache=True, nogil=True, fastmath=_FLAGS, error_model="numpy")
def _excursion_kernel(starts, start_level, order, clone, h, X, y, K, indptr, cols, vals, eta, B,
                      states, grid_L, L_A, max_steps, steps_out, outcome, level, records,
                      rows, record_L):
    R = starts.shape[0]
    N, D = X.shape
    G = grid_L.shape[0]
    hp = -(-h // _LANES) * _LANES
    dt = X.dtype
    WT = np.zeros((D, hp), dt)
    At0 = np.empty((h, N), dt)
    At = np.empty((h, N), dt)
    row = np.empty(hp, dt)
    a, delta, f = np.empty((B, h), dt), np.empty((h, B), dt), np.empty(_BLOCK, dt)
    res = np.empty(B, dt)
    mb = np.empty(B, np.int64)
    for i in range(R):
        r = order[i]
        s0, s1 = states[r, 0], states[r, 1]
        perm = np.arange(N if B > 1 else 0)
        theta = starts[r].astype(dt)
        W1, b1, w2, b2 = _views(theta, h, D)
        if not clone[i]:  # a new start state: Aᵀ from the data; its clones copy it
            _exact_pre_activations(W1, WT, indptr, cols, vals, At0, row)
        At[:, :] = At0
        g = start_level[r]
        out = 1 if g >= G - 1 else 2
        k = 0
        while out == 2 and k < max_steps:
            k += 1
            for b in range(B):
                mb[b], s0, s1 = subset_index(perm, b, B, N, s0, s1)
            L = _tracked_step(W1, b1, w2, b2, At, X, y, K, mb, eta, a, delta, res, f)
            if not np.isfinite(L):
                out = 3
                break
            if k % _RESYNC == 0:
                _exact_pre_activations(W1, WT, indptr, cols, vals, At, row)
            if L <= L_A:
                out = 0
                break
            g_new = _climb(L, g, grid_L, records, rows[r], theta)
            for lev in range(g + 1, g_new + 1):
                record_L[r, lev] = L
            g = g_new
            if g == G - 1:
                out = 1
        steps_out[r] = k
        outcome[r] = out
        level[r] = g


class MLPSystem:
    """SGD on a one-hidden-layer ReLU network as a :class:`~logloss.stats.splitting.System`.

    The reaction coordinate is ξ = log(L(θ)/L*) with L the full training loss
    (1/2N) Σ_μ (f(θ, x_μ) − y_μ)² and L* = L(θ*) that of the given net (pretrained, paper
    Sec. 5.3.2); SGD steps θ ← θ − (η/B) Σ_{μ∈B_k} ∇ℓ_μ with B distinct samples per step.

    Parameters
    ----------
    model : nn.Sequential
        ``Sequential(Linear(D, h), ReLU(), Linear(h, 1))`` at θ* (not modified).
    x : Tensor, shape (N, D)
        Training inputs on the CPU (their dtype is the kernels'; MNIST is float32).
    y : Tensor, shape (N,)
        Targets.
    eta, B : float, int
        Learning rate η and minibatch size B (keyword-only).
    h_star : float, optional
        The top Gauss–Newton eigenvalue λ₁ = h* of the net; by default computed by
        :func:`logloss.hessian_outliers` (k = 1).
    gram : Tensor or ndarray, shape (N, N), optional
        K = XXᵀ in the data's dtype, if already computed (N²·D work; 400 MB at N = 10⁴ in
        float32, shared by every kernel call).

    Attributes
    ----------
    theta_star : ndarray, shape (P,)
        θ* (flat, in the data's dtype).
    L_star : float
        L(θ*) as the kernels compute it.
    relaxation : float
        1/(η h*) steps, the relaxation time of the top curvature.
    state_size : int
        P.
    """

    def __init__(self, model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, *, eta: float,
                 B: int, h_star: float | None = None, gram=None):
        if not (isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[0] > 0):
            raise InvalidInput("inputs x must be a 2-d tensor (N, D) with N >= 1")
        if x.device.type != "cpu":
            raise InvalidInput("MLPSystem runs on the CPU: pass x and y on the CPU")
        N, D = int(x.shape[0]), int(x.shape[1])
        if not (isinstance(y, torch.Tensor) and y.shape == (N,)):
            raise InvalidInput(f"targets y must be a tensor of shape ({N},)")
        self.eta = check_learning_rate(eta)
        self.B = check_batch_size(B, N)
        p = replicate(model, 1)  # checks the architecture
        if p.W1.shape[2] != D:
            raise InvalidInput(f"the net takes {p.W1.shape[2]} inputs, x has D = {D}")
        self.h = int(p.W1.shape[1])
        dt = x.detach().numpy().dtype
        self.X = np.ascontiguousarray(x.detach().numpy())
        self.y = np.ascontiguousarray(y.detach().numpy().astype(dt))
        self.K = np.ascontiguousarray(self.X @ self.X.T if gram is None else
                                      np.asarray(gram, dtype=dt))
        if self.K.shape != (N, N):
            raise InvalidInput(f"gram must be K = XXᵀ of shape ({N}, {N}), got {self.K.shape}")
        self.csr = _csr(self.X)
        self._memo: dict[int, float] = {}
        self._lock = threading.Lock()
        theta = torch.cat([p.W1[0].reshape(-1), p.b1[0], p.w2[0], p.b2[:1]]).detach()
        self.theta_star = np.ascontiguousarray(theta.numpy().astype(dt))
        self.state_size = int(theta.numel())
        self.L_star = float(self._losses(self.theta_star[None, :])[0])
        if not (np.isfinite(self.L_star) and self.L_star > 0):
            raise InvalidInput(f"L(θ*) = {self.L_star!r}: the reaction coordinate log(L/L*) "
                               "needs a finite loss > 0 at θ*")
        if h_star is None:
            h_star = hessian_outliers(model, x.detach(), k=1).lambda_max
        if not (np.isfinite(h_star) and h_star > 0):
            raise InvalidInput(f"h_star (λ₁) must be a finite number > 0, got {h_star!r}")
        self.h_star = float(h_star)
        self.relaxation = 1.0 / (self.eta * self.h_star)
        self._eta = dt.type(self.eta)

    def _losses(self, states: np.ndarray) -> np.ndarray:
        """L of each state: the loss the excursion kernel tracked when it recorded the state
        (remembered), else recomputed (Aᵀ from the sparse inputs, 10–20 steps' work)."""
        keys = [hash(row.tobytes()) for row in states]
        with self._lock:
            out = np.array([self._memo.get(k, np.nan) for k in keys])
        miss = np.flatnonzero(np.isnan(out))
        if miss.size:
            fresh = np.empty(miss.size)
            _losses_kernel(np.ascontiguousarray(states[miss], dtype=self.X.dtype), self.h,
                           self.X.shape[1], self.y, *self.csr, fresh)
            out[miss] = fresh
        return out

    def _remember(self, states: np.ndarray, losses: np.ndarray) -> None:
        """Keep the tracked loss of recorded states, so that :meth:`levels` of a restart
        state costs a hash instead of a recomputation of Aᵀ (and is the very loss that set
        its level).  At most ``_MEMO`` entries; the oldest are dropped."""
        with self._lock:
            for row, L in zip(states, losses):
                self._memo[hash(row.tobytes())] = float(L)
            while len(self._memo) > _MEMO:
                del self._memo[next(iter(self._memo))]

    def levels(self, states: np.ndarray) -> np.ndarray:
        """ξ = log(L(θ)/L*) of each state (rows of ``states``), shape (R,)."""
        states = np.atleast_2d(np.asarray(states))
        if states.shape[1] != self.state_size:
            raise InvalidInput(f"states must have {self.state_size} columns (P), got "
                               f"{states.shape[1]}")
        return np.log(self._losses(states) / self.L_star)

    def flux(self, seed: int, *, replicas: int, burn: int, steps: int, xi_A: float,
             cap: int, samples: int = 100) -> FluxRun:
        """``replicas`` runs from θ* at (η, B): ``burn`` steps, then ``steps`` steps observed
        every ``thin`` = steps // max(samples, cap) steps (see
        :class:`~logloss.dynamics.excursions.FluxRun`).

        The steps are the unmonitored sparse steps of :func:`~logloss.sgd_mlp` (20 times
        cheaper than a monitored one); at each observation the loss is computed exactly.
        ``in_A`` and ``exposure`` count observations, not steps: their ratio estimates the
        same fraction of time in A without the cost of the loss at every step, and the
        long runs this allows sample the slow directions of the quasi-stationary state
        (the bulk of the spectrum relaxes over 1/(η h) steps, hundreds of times 1/(ηλ₁)).
        """
        b = FluxBuffers(replicas, cap=cap, burn=burn, steps=steps, samples=samples,
                        state_size=self.state_size, dtype=self.X.dtype)
        seen = np.zeros(b.R, dtype=np.int64)
        _flux_kernel(self.theta_star, self.h, self.X.shape[1], self.y, *self.csr, self._eta, self.B, self.L_star,
                     replica_states(seed, b.R), b.burn, b.steps, b.thin,
                     self.L_star * np.exp(xi_A), b.in_A, seen, b.stored, b.bulk, b.levels, b.flags)
        self._check(b.flags)
        run = b.run()
        run.exposure = int(seen.sum())
        return run

    def excursions(self, states: np.ndarray, start_level: np.ndarray, seed: int, *,
                   grid: np.ndarray, xi_A: float, max_steps: int,
                   records: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> Excursions:
        """One trajectory from each state until it is back in A or at grid[-1] (see
        :class:`~logloss.dynamics.excursions.Excursions`); the state at which trajectory r
        first reaches level g goes to ``records[rows[r], g]`` (a new array in the data's
        dtype if none is given).  Trajectory r draws from stream r
        of ``seed``; rows with the same start state (a splitting restarts several
        trajectories from one parent) share one exact recomputation of Aᵀ."""
        R, P = states.shape
        if P != self.state_size:
            raise InvalidInput(f"states must have {self.state_size} columns (P), got {P}")
        G = grid.size
        steps = np.zeros(R, dtype=np.int64)
        outcome = np.zeros(R, dtype=np.int8)
        level = np.zeros(R, dtype=np.int64)
        records, rows = record_rows(records, rows, R, G, P, dtype=self.X.dtype)
        record_L = np.full((R, G), np.nan)
        # restarts from one parent state share their exact Aᵀ: run them one after another
        keys = [hash(row.tobytes()) for row in states]
        ids = np.unique(keys, return_inverse=True)[1].ravel()
        order = np.argsort(ids, kind="stable")
        clone = np.concatenate([[False], ids[order][1:] == ids[order][:-1]])
        _excursion_kernel(np.ascontiguousarray(states, dtype=self.X.dtype),
                          np.ascontiguousarray(start_level, dtype=np.int64), order, clone,
                          self.h, self.X,
                          self.y, self.K, *self.csr, self._eta, self.B, replica_states(seed, R),
                          self.L_star * np.exp(np.asarray(grid, dtype=float)),
                          self.L_star * np.exp(xi_A), int(max_steps), steps, outcome, level,
                          records, rows, record_L)
        self._check(np.where(outcome == 3, steps, 0))
        r, g = np.nonzero(np.isfinite(record_L))
        self._remember(records[rows[r], g], record_L[r, g])
        return Excursions(steps, outcome, level, records)

    def _check(self, diverged: np.ndarray) -> None:
        if np.any(diverged > 0):
            raise SGDDiverged(f"SGD diverged (non-finite loss) with learning rate eta (η) = "
                              f"{self.eta}, B = {self.B}; lower η")
