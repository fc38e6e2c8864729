"""The unmonitored CPU kernel: SGD steps that touch only the nonzero pixels of each input.

An MNIST image has about 150 nonzero pixels of 784; the forward pass
a_b = Σ_i x_bi W₁ᵀ[i] and the update W₁ᵀ[i] −= η x_bi δ_b over those rows of W₁ᵀ cost
about a fifth of the dense products, exactly (the skipped terms are zero times a weight).
The rows are summed as explicit 16-lane vector code (llvmlite intrinsics below); each
replica keeps its W₁ᵀ (D × hp, h padded to a multiple of 16 lanes) in its core's cache for
the whole chunk.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..rng import subset_index
from .head import _head_step

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
