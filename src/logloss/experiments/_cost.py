"""Cost estimates of the building blocks the experiments share (private).

Each function returns a :class:`~logloss.core.resources.Cost`: the bytes of the largest
arrays the block holds at once and its compute time at the rates of
:mod:`logloss.core.resources`.  Every argument is converted to float first, so that an
absurd size gives an absurd (or infinite) cost instead of an integer overflow.  The
experiments combine them in their ``cost`` functions (declared with ``@experiment``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.resources import FLOP_RATE, NORMAL_DRAW, NUMBA_RATE, Cost

F8 = 8.0  # bytes of a float64 or an int64
F4 = 4.0  # bytes of a float32
#: Replicas whose per-replica work arrays (a permutation of range(N)) the replica kernels
#: hold at once: a group of them runs per kernel call.
GROUP = 64


def linreg_data(N, d) -> Cost:
    """x ~ N(0, I_d), y: X, y and the kernel's Z = XS (d > 1), and the least squares."""
    N, d = float(N), float(d)
    return Cost(memory=(3 * N * d + 2 * N) * F8, seconds=4 * N * d * d / FLOP_RATE)


def linreg_sgd(*, N, d, B, steps, replicas, records=0, thresholds=0, online=False) -> Cost:
    """One :func:`~logloss.dynamics.linreg_sgd.sgd_linreg` call (its data not included):
    the recorded θ (records × replicas × d), first passages, and each group's
    permutations of range(N); time from the B·d multiply-adds per step."""
    N, d, B, steps, R = (float(v) for v in (N, d, B, steps, replicas))
    per_step = B * (d + 1) * (NORMAL_DRAW if online else 1.0) + 2 * d
    memory = (float(records) * R * d + R * (2 * float(thresholds) + 2 * d + 4)
              + min(R, GROUP) * (0 if online else N)) * F8
    return Cost(memory=memory, seconds=R * steps * per_step / NUMBA_RATE)


def em_sde(*, d, steps, replicas, records=0) -> Cost:
    """Euler–Maruyama of :mod:`logloss.dynamics.sde`: d normal draws and d² products per step."""
    d, steps, R = float(d), float(steps), float(replicas)
    return Cost(memory=float(records) * R * (d + 1) * F8 + 4 * R * d * F8,
                seconds=R * steps * (d * NORMAL_DRAW + 2 * d * d) / NUMBA_RATE)


def barrier_sgd(*, N, spectators, B, steps, replicas) -> Cost:
    """:func:`~logloss.dynamics.barrier_sgd.sgd_barrier`: data (N × (4 + m)) and a
    permutation of range(N) per replica of a group; B·(4 + m) operations per step."""
    N, m, B, steps, R = (float(v) for v in (N, spectators, B, steps, replicas))
    return Cost(memory=(N * (4 + m) + min(R, GROUP) * N + R * (2 * m + 4)) * F8,
                seconds=R * steps * (B * (8 + 2 * m) + 10 + m) / NUMBA_RATE)


def em_exit(*, grid, substeps, steps, replicas) -> Cost:
    """:func:`~logloss.dynamics.barrier_sgd.em_first_passage`: one draw per Euler step."""
    R = float(replicas)
    return Cost(memory=(float(grid) * 2 + 4 * R) * F8,
                seconds=R * float(steps) * float(substeps) * (NORMAL_DRAW + 10) / NUMBA_RATE)


def chain_mfpt(*, points, kicks, chunk: float = 256) -> Cost:
    """:func:`~logloss.theory.markov_chain_mfpt`: the M × M transition matrix (twice, for
    the solve), each chunk of rows × ``kicks`` landing points, and the O(M³) solve."""
    M, K = float(points), float(kicks)
    return Cost(memory=(3 * M * M + 8 * min(M, chunk) * K) * F8,
                seconds=(M ** 3 + 20 * M * K) / FLOP_RATE)


def discrete_mfpt(*, points, N) -> Cost:
    """:func:`~logloss.theory.discrete_mfpt_1d`: P and its elimination copy (M × M), chunks
    of 4·10⁶ landing points (a dozen arrays of them), and an elimination of M steps of
    O(M²) each."""
    M, N = float(points), float(N)
    return Cost(memory=(2 * M * M + 12 * max(4e6, N)) * F8,
                seconds=(M ** 3 + 30 * M * N) / FLOP_RATE)


def dense_symmetric(n, copies: float = 3) -> Cost:
    """A dense n × n symmetric matrix in float64 and its eigendecomposition."""
    n = float(n)
    return Cost(memory=copies * n * n * F8, seconds=10 * n ** 3 / FLOP_RATE)


def mlp_params(widths: Sequence) -> float:
    """Parameters P of an MLP with these layer widths (weights and biases)."""
    w = [float(v) for v in widths]
    return sum((a + 1) * b for a, b in zip(w[:-1], w[1:]))


def torch_training(*, N, features, params, epochs, activations=0.0, records=0,
                   per_sample_passes: float = 3.0) -> Cost:
    """SGD in torch over ``epochs`` passes of N samples, with the full-data measurements
    (𝒩, L) at ``records`` points: data, parameters with their gradients and two snapshots,
    the activations of a chunk of 1000 samples; about 6 flops per parameter and sample in
    each pass, ``per_sample_passes`` times that for a measurement."""
    N, D, P, E = float(N), float(features), float(params), float(epochs)
    A = float(activations)
    memory = N * D * F4 + 6 * P * F4 + 3 * min(N, 1000.0) * (A + P / max(D, 1.0)) * F4
    flops = 6 * P * N * (E + per_sample_passes * float(records))
    return Cost(memory=memory, seconds=flops / FLOP_RATE)


def jacobian_matrix(*, N, params, outputs: float = 1.0, itemsize: float = F4) -> Cost:
    """The N·K × P Jacobian held whole (Gauss–Newton spectra, Gram matrices)."""
    N, P, K = float(N), float(params), float(outputs)
    return Cost(memory=N * K * P * itemsize, seconds=3 * N * K * P / FLOP_RATE)


def radial_quadrature(*, curves, thresholds, points: float = 20001) -> Cost:
    """:func:`~logloss.theory.radial_mfpt`: a few arrays of ``points`` per curve, and a
    cumulative integral per threshold."""
    P, C = float(points), float(curves)
    return Cost(memory=8 * P * F8, seconds=C * (P * 50 + float(thresholds) * P) / FLOP_RATE)


def splitting(*, repetitions, replicas, decades, relaxation, d, B=1, online=False) -> Cost:
    """:func:`~logloss.stats.splitting.rare_first_passage` on a linear-regression kernel:
    one iteration of the splitting per replica and e-fold of t_p, each an excursion of
    about 50 relaxation times (measured: 1.2·10⁸ replica-steps for 8 × 300 replicas over 40
    decades at d = 16), plus the quasi-stationary pilot; each replica's state kept."""
    R, M = float(repetitions), float(replicas)
    steps = R * M * (2.0 + float(decades) * 2.303) * 50.0 * float(relaxation)
    run = linreg_sgd(N=0, d=d, B=B, steps=steps, replicas=1, online=online)
    return Cost(memory=R * M * (float(d) + 4) * 4 * F8, seconds=run.seconds)


def discrete_chain_online(*, points, thresholds) -> Cost:
    """:func:`~logloss.theory.discrete_mfpt_online_1d`: the chain on 1.4·10⁴ weighted kicks."""
    return discrete_mfpt(points=points, N=1.4e4).then(Cost(seconds=float(thresholds) * 1e-3))
