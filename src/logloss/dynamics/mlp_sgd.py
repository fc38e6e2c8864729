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
which costs R·N·B·h, D/B = 78 times less.  A is recomputed exactly after every
``resync_every`` steps (at the end of the chunk of steps that passes a multiple of it)
so that rounding cannot accumulate.  This monitored mode is one numba kernel
(:func:`_monitored_chunk`, CPU) that runs each replica's steps of a chunk on one thread,
so that the replica's Aᵀ (h × N) stays in its core's cache from step to step; on a GPU
the same steps run batched in torch (:func:`_monitored_steps_torch`).

The unmonitored mode on the CPU is a numba kernel too (:func:`_sparse_chunk`).  It uses
the zeros of the inputs: an MNIST image has about 150 nonzero pixels of 784, so a step
that touches only the rows of W₁ᵀ at the minibatch's nonzero pixels, in the forward pass
a_b = Σ_i x_bi W₁ᵀ[i] and in the update W₁ᵀ[i] −= η x_bi δ_b, costs about a fifth of the
dense products (it is exact: the skipped terms are zero times a weight).  Each replica
keeps W₁ᵀ (D × h, h padded to a multiple of 16 lanes) in its core's cache for the whole
chunk.  On a GPU the unmonitored steps are batched torch (:func:`_plain_chunk`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from torch import nn

from ..core.errors import SGDDiverged
from ..core.sampling import uniform_subsets
from ..core.threads import numba_threads, torch_threads
from ..core.validation import check_batch_size, check_learning_rate, check_positive_int
from .rng import replica_states, subset_index

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
def _head_step(a, res, w2, b1, b2, eta, delta):
    """The output layer's part of one step, in place, shared by the CPU kernels.

    From the minibatch's hidden pre-activations ``a`` (B × ≥ h, b₁ included) and scaled
    residuals ``res`` (r_b = (f_b − y_b)/B): δ_bj = w₂ⱼ r_b [a_bj > 0] into ``delta``
    (B × ≥ h), with the w₂ before the step, then w₂ −= η Σ_b r_b relu(a_b),
    b₁ −= η Σ_b δ_b and b₂ −= η Σ_b r_b (``b2`` has shape (1,)).
    """
    B = res.shape[0]
    h = w2.shape[0]
    zero = b2[0] * 0
    gb2 = zero
    for b in range(B):
        gb2 += res[b]
    for j in range(h):
        gw = zero
        gb = zero
        for b in range(B):
            gw += res[b] * max(a[b, j], zero)
            d = w2[j] * res[b] if a[b, j] > 0 else zero
            delta[b, j] = d
            gb += d
        w2[j] -= eta * gw
        b1[j] -= eta * gb
    b2[0] -= eta * gb2


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _tracked_step(W1, b1, w2, b2, At, X, y, K, idx, eta, a, delta, res, f):
    """One SGD step of one replica with its full loss after the step, in place.

    θ = (W1 (h × D), b1, w2, b2 (shape (1,))) and Aᵀ = W₁Xᵀ (h × N, b₁ excluded) of one
    replica, the minibatch ``idx`` (B distinct sample indices).  The step:
    a_b = A[idx_b] + b₁, the residuals r_b = (f_b − y_b)/B, δ = w₂ ⊙ r_b ⊙ [a_b > 0]
    (with the w₂ before the step), then θ ← θ − η∇L_B, Aᵀ ← Aᵀ − η δᵀ K[idx] and
    L = (1/2N) Σ_μ (f(θ, x_μ) − y_μ)² in one pass over Aᵀ in blocks of ``f.shape[0]``
    samples.  Block sums of squared residuals are in the parameters' dtype, their total
    (the returned L) float64.  ``a`` (B × h), ``delta`` (h × B), ``res`` (B) and ``f``
    (the block) are scratch.
    """
    B = idx.shape[0]
    h, D = W1.shape
    N = At.shape[1]
    blk = f.shape[0]
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


_LANES = 16  # one AVX-512 register of float32: the width of a row block of W₁ᵀ


@intrinsic
def _register_block(typingctx, dtype):  # noqa: ARG001 (numba passes the typing context)
    """A (4 × 16) scratch array on the stack, for four accumulators of 16 lanes.

    A stack array that is indexed only by loop counters of fixed range is promoted to
    registers by LLVM, which a heap array (that might alias W₁) is not; without it the
    forward pass runs 3 times slower (measured).
    """
    dt = dtype.dtype

    def codegen(context, builder, signature, args):  # noqa: ARG001 (no arguments are read)
        return cgutils.alloca_once(builder, context.get_value_type(dt), size=4 * _LANES)

    return types.CPointer(dt)(dtype), codegen


@intrinsic
def _prefetch(typingctx, arr, i):  # noqa: ARG001 (numba passes the typing context)
    """Ask the CPU to fetch the cache line of ``arr[i]`` (1-d) into L1, ahead of its use."""

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]],
                                       wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
        # read, highest temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


# The two row operations of the sparse kernel, written as explicit 16-lane vector code.
# Left to LLVM, the same loops in numba lose most of their speed to bookkeeping that the
# kernel does not need: every cols[q] and vals[q] is checked for a negative (wraparound)
# index, and the update WT[c] −= v δ_b gets a runtime aliasing check and a loop over hp
# that is not unrolled to one vector; with a fixed 16-lane loop instead, LLVM gives up
# vectorising altogether (2× slower).  These intrinsics index without wraparound (the
# CSR offsets are nonnegative by construction) and emit one vector load, multiply-add and
# store per row: 3.9e5 → 7.0e5 replica-steps/s at h = 10, B = 10 (interleaved A/B).

def _vector_ptr(context, builder, aryty, ary, i, ity, o, oty):
    """Pointer to the 16 elements ary[i, o:o + 16] of a 2-d array, as one vector."""
    a = context.make_array(aryty)(context, builder, ary)
    ix = [context.cast(builder, i, ity, types.intp), context.cast(builder, o, oty, types.intp)]
    ptr = cgutils.get_item_pointer(context, builder, aryty, a, ix, wraparound=False)
    return builder.bitcast(ptr, ir.VectorType(context.get_value_type(aryty.dtype), _LANES).as_pointer())


def _load_item(context, builder, aryty, ary, q, qty, dtype):
    """ary[q] of a 1-d array, without wraparound, cast to ``dtype``."""
    a = context.make_array(aryty)(context, builder, ary)
    ptr = cgutils.get_item_pointer(context, builder, aryty, a, [context.cast(builder, q, qty, types.intp)],
                                   wraparound=False)
    return context.cast(builder, builder.load(ptr), aryty.dtype, dtype)


def _splat(builder, x):
    """The scalar x in all 16 lanes."""
    v = builder.insert_element(ir.Constant(ir.VectorType(x.type, _LANES), ir.Undefined), x,
                               ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES))


_FAST = ("fast",)  # the kernels' fastmath: lets LLVM fuse the multiply and the add


@intrinsic
def _csr_fma(typingctx, acc, slot, WT, cols, vals, q, o):  # noqa: ARG001 (numba passes the typing context)
    """acc[slot] += x_q · WT[i_q, o:o + 16] for the nonzero q of a CSR row (x_q = vals[q],
    i_q = cols[q]), in the 16-lane accumulator ``slot`` of a :func:`_register_block`."""

    def codegen(context, builder, signature, args):
        _, t_slot, t_w, t_cols, t_vals, t_q, t_o = signature.args
        i = _load_item(context, builder, t_cols, args[3], args[5], t_q, t_cols.dtype)
        x = _load_item(context, builder, t_vals, args[4], args[5], t_q, t_w.dtype)
        w = builder.load(_vector_ptr(context, builder, t_w, args[2], i, t_cols.dtype, args[6], t_o), align=4)
        slot = context.cast(builder, args[1], t_slot, types.intp)
        lane0 = builder.gep(args[0], [builder.mul(slot, ir.Constant(slot.type, _LANES))])
        ptr = builder.bitcast(lane0, w.type.as_pointer())
        total = builder.fadd(builder.load(ptr, align=4), builder.fmul(_splat(builder, x), w, flags=_FAST),
                             flags=_FAST)
        builder.store(total, ptr, align=4)
        return context.get_dummy_value()

    if WT.layout != "C":  # a row's 16 lanes must be adjacent in memory
        return None
    return types.void(acc, slot, WT, cols, vals, q, o), codegen


@intrinsic
def _csr_axpy(typingctx, WT, cols, vals, q, eta, delta, b, o):  # noqa: ARG001 (numba passes the typing context)
    """WT[i_q, o:o + 16] −= η x_q δ[b, o:o + 16] for the nonzero q of a CSR row (δ has
    WT's dtype)."""

    def codegen(context, builder, signature, args):
        t_w, t_cols, t_vals, t_q, t_eta, t_delta, t_b, t_o = signature.args
        i = _load_item(context, builder, t_cols, args[1], args[3], t_q, t_cols.dtype)
        x = _load_item(context, builder, t_vals, args[2], args[3], t_q, t_w.dtype)
        scale = builder.fmul(x, context.cast(builder, args[4], t_eta, t_w.dtype), flags=_FAST)
        d = builder.load(_vector_ptr(context, builder, t_delta, args[5], args[6], t_b, args[7], t_o), align=4)
        ptr = _vector_ptr(context, builder, t_w, args[0], i, t_cols.dtype, args[7], t_o)
        new = builder.fsub(builder.load(ptr, align=4), builder.fmul(_splat(builder, scale), d, flags=_FAST),
                           flags=_FAST)
        builder.store(new, ptr, align=4)
        return context.get_dummy_value()

    if WT.layout != "C" or delta.layout != "C":  # a row's 16 lanes must be adjacent in memory
        return None
    return types.void(WT, cols, vals, q, eta, delta, b, o), codegen


@numba.njit(cache=True, fastmath=True, error_model="numpy", inline="always")
def _csr_row_block(acc_block, acc, WT, cols, vals, q0, q1, o, out, zero):
    """out[o:o + 16] = Σ_{q0 ≤ q < q1} x_q WT[i_q, o:o + 16]: 16 lanes of the row xᵀW₁ᵀ
    for the CSR row q0:q1, summed in the four accumulators ``acc`` of a
    :func:`_register_block` (``acc_block``) so that four multiply-adds are in flight."""
    for j in range(_LANES):
        acc[0, j] = zero
        acc[1, j] = zero
        acc[2, j] = zero
        acc[3, j] = zero
    q = q0
    while q + 4 <= q1:
        _csr_fma(acc_block, 0, WT, cols, vals, q, o)
        _csr_fma(acc_block, 1, WT, cols, vals, q + 1, o)
        _csr_fma(acc_block, 2, WT, cols, vals, q + 2, o)
        _csr_fma(acc_block, 3, WT, cols, vals, q + 3, o)
        q += 4
    while q < q1:
        _csr_fma(acc_block, 0, WT, cols, vals, q, o)
        q += 1
    for j in range(_LANES):
        out[o + j] = (acc[0, j] + acc[1, j]) + (acc[2, j] + acc[3, j])


@numba.njit(cache=True, fastmath=True, error_model="numpy")
def _sparse_replica_steps(WT, b1, w2, b2, indptr, cols, vals, y, idx, eta, a, delta, res):
    """The SGD steps ``idx`` (steps × B) of one replica, in place, on sparse inputs.

    WT is the replica's W₁ᵀ (D × hp, hp a multiple of 16, zero beyond h); the inputs are
    CSR rows (``indptr``, ``cols``, ``vals``).  Per step: a_b = b₁ + Σ_i x_bi WT[i]
    over the nonzero pixels i of x_b (four accumulators of 16 lanes, in registers),
    r_b = (f_b − y_b)/B, δ_b = w₂ ⊙ r_b ⊙ [a_b > 0] with the w₂ before the step, then
    w₂ −= η Σ_b r_b relu(a_b), b₁ −= η Σ_b δ_b, b₂ −= η Σ_b r_b and WT[i] −= η x_bi δ_b.
    ``a``, ``delta`` (B × hp) and ``res`` (B) are scratch.  b2 has shape (1,).
    """
    n_steps, B = idx.shape
    h = b1.shape[0]
    hp = WT.shape[1]
    acc_block = _register_block(WT.dtype)
    acc = numba.carray(acc_block, (4, _LANES))
    zero = b2[0] * 0
    for s in range(n_steps):
        for b in range(B):
            mu = idx[s, b]
            q0, q1 = indptr[mu], indptr[mu + 1]
            # the next sample's nonzeros are a random row of the data: fetch them while
            # this one is summed (8 % faster, measured)
            if b + 1 < B or s + 1 < n_steps:
                nx = idx[s, b + 1] if b + 1 < B else idx[s + 1, 0]
                for t in range(indptr[nx], indptr[nx + 1], 16):
                    _prefetch(cols, t)
                    _prefetch(vals, t)
            for k in range(hp // _LANES):
                _csr_row_block(acc_block, acc, WT, cols, vals, q0, q1, k * _LANES, a[b], zero)
            fb = b2[0]
            for j in range(h):
                a[b, j] += b1[j]
                fb += w2[j] * max(a[b, j], zero)
            res[b] = (fb - y[mu]) / B
        _head_step(a, res, w2, b1, b2, eta, delta)
        # The update, last sample first: its rows of WT are still in L1 from the forward
        # pass (25 % faster than first sample first, measured).
        for bb in range(B):
            b = B - 1 - bb
            mu = idx[s, b]
            for k in range(hp // _LANES):
                for q in range(indptr[mu], indptr[mu + 1]):
                    _csr_axpy(WT, cols, vals, q, eta, delta, b, k * _LANES)


@numba.njit(cache=True, parallel=True, fastmath=True, error_model="numpy")
def _sparse_chunk(WT, b1, w2, b2, indptr, cols, vals, y, n_steps, B, idx, states, perms, eta):
    """``n_steps`` steps of every replica, each replica on one thread
    (:func:`_sparse_replica_steps`), in place on WT (R × D × hp), b1, w2 and b2; the
    minibatches are ``idx`` (n_steps × R × B) or, when it has no rows, drawn from each
    replica's ``states[r]`` and ``perms[r]``."""
    R = WT.shape[0]
    hp = WT.shape[2]
    N = indptr.shape[0] - 1
    for r in numba.prange(R):
        a = np.zeros((B, hp), WT.dtype)
        delta = np.zeros((B, hp), WT.dtype)
        res = np.empty(B, WT.dtype)
        if idx.shape[0] == 0:
            idx_r = np.empty((n_steps, B), np.int64)
            s0, s1 = states[r, 0], states[r, 1]
            for s in range(n_steps):
                for b in range(B):
                    idx_r[s, b], s0, s1 = subset_index(perms[r], b, B, N, s0, s1)
            states[r, 0], states[r, 1] = s0, s1
        else:
            idx_r = np.ascontiguousarray(idx[:, r])
        _sparse_replica_steps(WT[r], b1[r], w2[r], b2[r:r + 1], indptr, cols, vals, y, idx_r, eta,
                              a, delta, res)


@numba.njit(cache=True)
def _csr(x):
    """The rows of x (N × D) in compressed sparse row form: ``(indptr, cols, vals)``."""
    N, D = x.shape
    indptr = np.zeros(N + 1, dtype=np.int64)
    for n in range(N):
        indptr[n + 1] = indptr[n] + np.count_nonzero(x[n])
    cols = np.empty(indptr[N], dtype=np.int32)
    vals = np.empty(indptr[N], dtype=x.dtype)
    for n in range(N):
        q = indptr[n]
        for i in range(D):
            if x[n, i] != 0:
                cols[q] = i
                vals[q] = x[n, i]
                q += 1
    return indptr, cols, vals


def _padded_transpose(W1: np.ndarray) -> np.ndarray:
    """W₁ᵀ of every replica, (R, D, hp) with hp = h rounded up to 16, zero-padded, with
    each row on a 64-byte boundary."""
    R, h, D = W1.shape
    hp = -(-h // _LANES) * _LANES
    n = R * D * hp
    buf = np.zeros(n + 64 // W1.itemsize, dtype=W1.dtype)
    off = (-buf.ctypes.data % 64) // W1.itemsize
    WT = buf[off:off + n].reshape(R, D, hp)
    WT[:, :, :h] = W1.transpose(0, 2, 1)
    return WT


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


def _track_loss_torch(At, K, idx, deltaT, eta, b1, w2, b2, y):
    """Aᵀ ← Aᵀ − η δᵀ K[idx] in place, and the full loss of each replica, (R,) float64: the
    loss tracking of :func:`_monitored_chunk` in torch, for tensors on a GPU."""
    At.baddbmm_(deltaT, K[idx], alpha=-eta)
    f = torch.einsum("rh,rhn->rn", w2, torch.relu(At + b1[:, :, None])) + b2[:, None]
    return 0.5 * ((f - y[None, :]) ** 2).double().mean(1)


def _monitored_steps_torch(p: MLPReplicas, At, x, y, K, idx, eta: float, B: int, k0: int,
                           thr: np.ndarray, fp_live: np.ndarray, stop: bool):
    """:func:`_monitored_chunk` in torch (tensors off the CPU), batched over replicas.

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


def _write_back(dst: MLPReplicas, src_p: MLPReplicas, *, gone_idx, src) -> None:
    gi = torch.as_tensor(gone_idx, device=dst.W1.device)
    dst.W1[gi] = src_p.W1[src]
    dst.b1[gi] = src_p.b1[src]
    dst.w2[gi] = src_p.w2[src]
    dst.b2[gi] = src_p.b2[src]
