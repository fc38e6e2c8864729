"""A small per-replica random generator for the numba kernels (xoroshiro128+).

Each replica owns a 128-bit state (two uint64 words, s₀ and s₁) and draws from it alone,
so a replica's trajectory is the same whatever thread runs it and however many threads
there are.  **The streams:** replica r of a run with master seed s starts from words 2r
and 2r + 1 of ``numpy.random.SeedSequence(s).generate_state(2R, dtype=uint64)``
(:func:`replica_states`).  SeedSequence's output is a prefix code (the first 2r + 2 words
do not depend on R), so replica r's stream depends on (s, r) only; its hashing makes the
streams independent in practice, no two replicas share a state, and an all-zero state
(the generator's one fixed point) is replaced.

xoroshiro128+ (Blackman & Vigna 2018, "Scrambled linear pseudorandom number
generators") has period 2¹²⁸ − 1 and passes BigCrush except for linearity tests of its
lowest bits, which :func:`uniform` and :func:`randint` discard (they use the top 53 bits).
A draw costs a few integer operations, against a Mersenne Twister's 2.5 kB state.

The kernels keep (s₀, s₁) in local variables: every draw takes the state and returns the
new one with its value, ``value, s0, s1 = uniform(s0, s1)``, so that the state lives in
registers.  The draws are

* :func:`uniform` — U[0, 1) from the top 53 bits;
* :func:`randint` — uniform on {0, …, n − 1} as ⌊n·U⌋ (bias below n/2⁵³);
* :func:`normal` — N(0, 1) by the ziggurat method of Marsaglia & Tsang (2000) in
  Doornik's (2005) form (128 layers; one 64-bit word gives the sign and abscissa from
  its top 53 bits and the layer from bits 4–10; 98.8 % of draws end in the rectangle
  test, the rest in the exact wedge or tail rejection);
* :func:`gamma` — Gamma(a, 1) by Marsaglia & Tsang (2000, ACM TOMS 26, 363): a cubed
  normal with a squeeze and an exact log test (for a < 1, Gamma(a + 1)·U^{1/a}); χ²_k is
  2·Gamma(k/2);
* :func:`subset_index` — position b of a uniform B-subset without replacement, by a
  partial Fisher–Yates shuffle of a per-replica permutation (position b swaps with a
  uniform position in [b, N)): positions 0, …, B − 1 of one step hold B distinct indices,
  uniform over ordered B-tuples whatever the permutation was, in O(B) work — the law of
  :func:`logloss.core.sampling.uniform_subsets` (Eq. 8).  For B = 1 it is
  :func:`randint` itself, with no permutation.

Caution: the kernels inline these functions, and numba's on-disk cache (``cache=True``)
is keyed on the kernel's own source file only; after editing this module, touch the
kernel modules (``linreg_sgd.py``, ``barrier_sgd.py``, ``sde.py``) or delete their
``__pycache__/*.nb[ic]`` files, or they keep the old generator.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["replica_states", "next_u64", "uniform", "randint", "normal", "gamma", "subset_index",
           "minibatch_indices", "sample"]

_TWO53 = 1.0 / 9007199254740992.0  # 2^-53
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def replica_states(seed: int, replicas: int) -> np.ndarray:
    """The generator states (s₀, s₁) of ``replicas`` replicas from the master ``seed``, (R, 2)."""
    s = np.random.SeedSequence(int(seed)).generate_state(2 * int(replicas), dtype=np.uint64)
    s = s.reshape(int(replicas), 2)
    s[(s[:, 0] == 0) & (s[:, 1] == 0), 1] = _GOLDEN
    return s


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, inline="always")
def next_u64(s0, s1):
    """One xoroshiro128+ step: ``(word, s0, s1)``, the 64-bit output and the new state."""
    out = s0 + s1
    s1 ^= s0
    return out, _rotl(s0, 24) ^ s1 ^ (s1 << np.uint64(16)), _rotl(s1, 37)


@numba.njit(cache=True, inline="always")
def uniform(s0, s1):
    """``(u, s0, s1)`` with u uniform in [0, 1), from the top 53 bits."""
    w, s0, s1 = next_u64(s0, s1)
    return float(np.int64(w >> np.uint64(11))) * _TWO53, s0, s1


@numba.njit(cache=True, inline="always")
def randint(s0, s1, n):
    """``(i, s0, s1)`` with i uniform in {0, …, n − 1} (bias below n/2⁵³)."""
    u, s0, s1 = uniform(s0, s1)
    return int(u * n), s0, s1


def _ziggurat_tables(C=128, R=3.442619855899, V=9.91256303526217e-3):
    """Layer edges x₀ > x₁ = R > … > x_C = 0 of the normal ziggurat, and x_{i+1}/x_i.

    C layers of area V each under f(x) = exp(−x²/2) (Doornik 2005, ZIGNOR): x₀ = V/f(R)
    is the width of the base strip (rectangle plus tail beyond R).
    """
    x = np.empty(C + 1)
    x[0], x[1], x[C] = V / np.exp(-0.5 * R * R), R, 0.0
    for i in range(2, C):
        x[i] = np.sqrt(-2.0 * np.log(V / x[i - 1] + np.exp(-0.5 * x[i - 1] ** 2)))
    return x, x[1:] / x[:-1]


_ZIG_X, _ZIG_RATIO = _ziggurat_tables()
_ZIG_R = float(_ZIG_X[1])


@numba.njit(cache=True, inline="always")
def normal(s0, s1):
    """``(z, s0, s1)`` with z a standard normal (ziggurat, 128 layers)."""
    while True:
        w, s0, s1 = next_u64(s0, s1)
        u = 2.0 * float(np.int64(w >> np.uint64(11))) * _TWO53 - 1.0
        i = np.int64((w >> np.uint64(4)) & np.uint64(127))
        if abs(u) < _ZIG_RATIO[i]:
            return u * _ZIG_X[i], s0, s1
        if i == 0:  # the tail |z| > R (Marsaglia 1964)
            while True:
                a, s0, s1 = uniform(s0, s1)
                b, s0, s1 = uniform(s0, s1)
                t = np.log(1.0 - a) / _ZIG_R
                if -2.0 * np.log(1.0 - b) >= t * t:
                    return (t - _ZIG_R if u < 0 else _ZIG_R - t), s0, s1
        z = u * _ZIG_X[i]
        f0 = np.exp(-0.5 * (_ZIG_X[i] * _ZIG_X[i] - z * z))
        f1 = np.exp(-0.5 * (_ZIG_X[i + 1] * _ZIG_X[i + 1] - z * z))
        a, s0, s1 = uniform(s0, s1)
        if f1 + a * (f0 - f1) < 1.0:
            return z, s0, s1


@numba.njit(cache=True, inline="always")
def gamma(a, s0, s1):
    """``(g, s0, s1)`` with g ~ Gamma(a, 1), shape a > 0 (Marsaglia & Tsang 2000)."""
    boost = 1.0
    if a < 1.0:  # Gamma(a) = Gamma(a + 1)·U^{1/a}, U in (0, 1]
        u, s0, s1 = uniform(s0, s1)
        boost = (1.0 - u) ** (1.0 / a)
        a += 1.0
    d = a - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        z, s0, s1 = normal(s0, s1)
        v = 1.0 + c * z
        if v <= 0.0:
            continue
        v = v * v * v
        u, s0, s1 = uniform(s0, s1)
        if u < 1.0 - 0.0331 * z ** 4 or np.log(u) < 0.5 * z * z + d * (1.0 - v + np.log(v)):
            return d * v * boost, s0, s1


@numba.njit(cache=True, inline="always")
def subset_index(perm, b, B, N, s0, s1):
    """``(μ, s0, s1)``: position b (0 ≤ b < B) of this step's uniform B-subset of range(N).

    ``perm`` is the replica's permutation of range(N) (only used when B > 1), carried
    from step to step.
    """
    if B == 1:
        return randint(s0, s1, N)
    j, s0, s1 = randint(s0, s1, N - b)
    j += b
    t = perm[b]
    perm[b] = perm[j]
    perm[j] = t
    return perm[b], s0, s1


@numba.njit(cache=True)
def _indices_kernel(s0, s1, N, B, steps):
    perm = np.arange(N)
    out = np.empty((steps, B), dtype=np.int64)
    for k in range(steps):
        for b in range(B):
            out[k, b], s0, s1 = subset_index(perm, b, B, N, s0, s1)
    return out


def minibatch_indices(seed: int, replica: int, N: int, B: int, steps: int) -> np.ndarray:
    """The minibatch indices that replica ``replica`` of a run with master ``seed`` draws.

    This is the index stream of the replica kernels (:func:`logloss.sgd_linreg`, the
    barrier SGD) when nothing else is drawn from the stream (not online).

    Returns
    -------
    ndarray of int64, shape (steps, B)
        Row k holds the B distinct indices of the minibatch of step k + 1.
    """
    s = replica_states(seed, int(replica) + 1)[int(replica)]
    return _indices_kernel(s[0], s[1], int(N), int(B), int(steps))


@numba.njit(cache=True, parallel=True)
def _draw_many(state, n, kind, draws, a):
    R = state.shape[0]
    out = np.empty((R, draws))
    for r in numba.prange(R):
        s0 = state[r, 0]
        s1 = state[r, 1]
        for k in range(draws):
            if kind == 0:
                out[r, k], s0, s1 = randint(s0, s1, n)
            elif kind == 1:
                out[r, k], s0, s1 = uniform(s0, s1)
            elif kind == 2:
                out[r, k], s0, s1 = normal(s0, s1)
            else:
                out[r, k], s0, s1 = gamma(a, s0, s1)
    return out


def sample(seed: int, replicas: int, draws: int, *, kind: str = "randint", n: int = 2,
           shape: float = 1.0) -> np.ndarray:
    """Draws of every replica's stream, shape (replicas, draws), for tests and inspection.

    ``kind`` is ``"randint"`` (uniform in [0, n)), ``"uniform"``, ``"normal"`` or
    ``"gamma"`` (Gamma(shape, 1)).
    """
    code = {"randint": 0, "uniform": 1, "normal": 2, "gamma": 3}[kind]
    if kind == "gamma" and not (np.isfinite(shape) and shape > 0):
        raise ValueError(f"gamma shape must be a finite number > 0, got {shape!r}")
    return _draw_many(replica_states(seed, replicas), int(n), code, int(draws), float(shape))
