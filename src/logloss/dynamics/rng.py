"""A small per-replica random generator for the numba kernels (xoroshiro128+).

Each replica owns a 128-bit state (two uint64 words) and draws from it alone, so a
replica's trajectory is the same whatever thread runs it and however many threads
there are.  The states come from :class:`numpy.random.SeedSequence`: replica r of a run
with master seed s gets words 2r and 2r + 1 of ``SeedSequence(s).generate_state(2R)``,
independent streams in the sense of SeedSequence's hashing (no two replicas share a
state; an all-zero state, the generator's one fixed point, is replaced).

xoroshiro128+ (Blackman & Vigna 2018, "Scrambled linear pseudorandom number
generators") has period 2¹²⁸ − 1 and passes BigCrush except for linearity tests of its
lowest bits, which :func:`uniform` and :func:`randint` discard (they use the top 53 bits).
A draw costs a few integer operations, against a Mersenne Twister's 2.5 kB state.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["replica_states", "next_u64", "uniform", "randint", "normal", "sample"]

_TWO53 = 1.0 / 9007199254740992.0  # 2^-53


def replica_states(seed: int, replicas: int) -> np.ndarray:
    """The generator states of ``replicas`` replicas from the master ``seed``, shape (R, 2)."""
    s = np.random.SeedSequence(int(seed)).generate_state(2 * int(replicas), dtype=np.uint64)
    s = s.reshape(int(replicas), 2)
    s[(s[:, 0] == 0) & (s[:, 1] == 0), 1] = np.uint64(0x9E3779B97F4A7C15)
    return s


@numba.njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@numba.njit(cache=True, inline="always")
def next_u64(state, r):
    """Advance replica r's state (``state[r, 0:2]``) and return the next 64-bit word."""
    s0 = state[r, 0]
    s1 = state[r, 1]
    out = s0 + s1
    s1 ^= s0
    state[r, 0] = _rotl(s0, 24) ^ s1 ^ (s1 << np.uint64(16))
    state[r, 1] = _rotl(s1, 37)
    return out


@numba.njit(cache=True, inline="always")
def uniform(state, r):
    """A uniform float in [0, 1) from the top 53 bits."""
    return float(next_u64(state, r) >> np.uint64(11)) * _TWO53


@numba.njit(cache=True, inline="always")
def randint(state, r, n):
    """A uniform integer in [0, n) (bias below n/2⁵³, negligible for n ≤ 10⁹)."""
    return int(uniform(state, r) * n)


@numba.njit(cache=True, inline="always")
def normal(state, r):
    """A standard normal variate (Box–Muller on two uniforms; one of the pair is used)."""
    u1 = 1.0 - uniform(state, r)  # in (0, 1]
    u2 = uniform(state, r)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@numba.njit(cache=True, parallel=True)
def _draw_many(state, n, kind, draws):
    R = state.shape[0]
    out = np.empty((R, draws))
    for r in numba.prange(R):
        for k in range(draws):
            if kind == 0:
                out[r, k] = randint(state, r, n)
            elif kind == 1:
                out[r, k] = uniform(state, r)
            else:
                out[r, k] = normal(state, r)
    return out


def sample(seed: int, replicas: int, draws: int, *, kind: str = "randint", n: int = 2) -> np.ndarray:
    """Draws of every replica's stream, shape (replicas, draws), for tests and inspection.

    ``kind`` is ``"randint"`` (uniform in [0, n)), ``"uniform"`` or ``"normal"``.
    """
    code = {"randint": 0, "uniform": 1, "normal": 2}[kind]
    return _draw_many(replica_states(seed, replicas), int(n), code, int(draws))
