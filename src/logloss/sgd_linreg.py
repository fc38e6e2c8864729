"""Fast replica kernel: many independent SGD runs on one linear-regression dataset.

SGD on L(θ) = (1/2N) Σ_μ (θᵀx_μ − y_μ)² with minibatches B_k of B distinct indices,
drawn without replacement at every step and independently per replica:

    θ_{k+1} = θ_k − η (1/B) Σ_{μ∈B_k} x_μ (x_μᵀθ_k − y_μ).

The loss is evaluated cheaply as L(θ) = L* + ½ uᵀHu with u = θ − θ*.  The kernel is
compiled with numba (``cache=True``) and parallel over replicas (``prange``).  This is
the one code path shared by the stationary-distribution chapter (R7) and the
first-passage chapter (R9).

Randomness: replica r uses numba's Mersenne Twister seeded with the r-th word of
``numpy.random.SeedSequence(seed).generate_state(replicas)``; the whole trajectory of a
replica runs on one thread, so the results do not depend on the number of threads.
Minibatches come from a partial Fisher–Yates shuffle of a per-replica permutation
(position b swaps with a uniform position in [b, N)), which gives B distinct indices,
uniform over all B-subsets, in O(B) work per step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np

from .bench import BenchResult, benchmark
from .linreg import LinearRegression, make_linear_regression
from .validation import check_batch_size, check_learning_rate, check_positive_int

__all__ = ["SGDRun", "sgd_linreg", "replica_seeds", "minibatch_indices"]


@dataclass
class SGDRun:
    """The outcome of :func:`sgd_linreg`.

    Attributes
    ----------
    samples : ndarray, shape (n_records, replicas, d)
        θ_k at k = record_every, 2·record_every, ... (empty if record_every = 0).
    first_passage : ndarray of int64, shape (replicas, n_thresholds)
        First step k ≥ 1 with L(θ_k) ≥ thresholds[j]; −1 if not crossed within
        ``steps`` (censored).
    steps : int
        The number of steps requested.
    theta_final : ndarray, shape (replicas, d)
        θ at the last step run (earlier if the replica stopped when it had crossed
        every threshold).
    """

    samples: np.ndarray
    first_passage: np.ndarray
    steps: int
    theta_final: np.ndarray


def replica_seeds(seed: int, replicas: int) -> np.ndarray:
    """The per-replica seeds (uint32) derived from ``seed`` by ``SeedSequence``."""
    return np.random.SeedSequence(int(seed)).generate_state(int(replicas), dtype=np.uint32)


@numba.njit(cache=True, inline="always")
def _draw(perm, b, N):
    """Swap position b of ``perm`` with a uniform position in [b, N); return the index."""
    j = b + np.random.randint(0, N - b)
    t = perm[b]
    perm[b] = perm[j]
    perm[j] = t
    return perm[b]


@numba.njit(cache=True)
def _indices_kernel(seed, N, B, steps):
    np.random.seed(seed)
    perm = np.arange(N)
    out = np.empty((steps, B), dtype=np.int64)
    for k in range(steps):
        for b in range(B):
            out[k, b] = _draw(perm, b, N)
    return out


def minibatch_indices(seed: int, N: int, B: int, steps: int) -> np.ndarray:
    """The minibatch index sequence that the kernel draws for one replica.

    Parameters
    ----------
    seed : int
        The replica's seed (an entry of :func:`replica_seeds`).
    N, B, steps : int
        Samples, minibatch size and number of steps.

    Returns
    -------
    ndarray of int64, shape (steps, B)
        Row k holds the B distinct indices of the minibatch of step k + 1.
    """
    return _indices_kernel(np.uint32(seed), int(N), int(B), int(steps))


@numba.njit(cache=True, parallel=True)
def _sgd_kernel(X, y, theta_star, H, L_star, eta, B, steps, theta0, seeds, record_every,
                thresholds, stop_early, samples, first_passage, theta_final, diverged):
    N, d = X.shape
    R = theta0.shape[0]
    n_thr = thresholds.shape[0]
    c = eta / B
    for r in numba.prange(R):
        np.random.seed(seeds[r])
        perm = np.arange(N)
        theta = theta0[r].copy()
        grad = np.empty(d)
        u = np.empty(d)
        nxt = 0
        # thresholds already met at k = 0 still need a step k >= 1 to be recorded
        for k in range(1, steps + 1):
            for i in range(d):
                grad[i] = 0.0
            for b in range(B):
                mu = _draw(perm, b, N)
                res = -y[mu]
                for i in range(d):
                    res += X[mu, i] * theta[i]
                for i in range(d):
                    grad[i] += X[mu, i] * res
            finite = True
            for i in range(d):
                theta[i] -= c * grad[i]
                if not np.isfinite(theta[i]):
                    finite = False
            if not finite:
                diverged[r] = k
                break
            if nxt < n_thr:
                for i in range(d):
                    u[i] = theta[i] - theta_star[i]
                q = 0.0
                for i in range(d):
                    hu = 0.0
                    for j in range(d):
                        hu += H[i, j] * u[j]
                    q += u[i] * hu
                L = L_star + 0.5 * q
                while nxt < n_thr and L >= thresholds[nxt]:
                    first_passage[r, nxt] = k
                    nxt += 1
                if stop_early and nxt == n_thr and record_every == 0:
                    break
            if record_every > 0 and k % record_every == 0:
                row = k // record_every - 1
                for i in range(d):
                    samples[row, r, i] = theta[i]
        for i in range(d):
            theta_final[r, i] = theta[i]


def sgd_linreg(problem: LinearRegression, *, eta: float, B: int, steps: int, replicas: int,
               seed: int, theta0: np.ndarray | None = None, record_every: int = 0,
               thresholds: np.ndarray | None = None,
               stop_when_all_crossed: bool = True) -> SGDRun:
    """Run ``replicas`` independent SGD trajectories on a linear-regression problem.

    Parameters
    ----------
    problem : LinearRegression
        The dataset (X of shape (N, d), y of shape (N,)), with θ*, H and L*.
    eta : float
        Learning rate η > 0.
    B : int
        Minibatch size, 1 ≤ B ≤ N, drawn without replacement.
    steps : int
        Number of SGD steps k = 1, ..., steps per replica.
    replicas : int
        Number of independent replicas.
    seed : int
        Master seed; replica r uses ``replica_seeds(seed, replicas)[r]``.
    theta0 : ndarray, shape (d,) or (replicas, d), optional
        Initial θ_0 (default θ*).
    record_every : int
        Record θ_k every ``record_every`` steps (0: record nothing).
    thresholds : ndarray, shape (n_thresholds,), optional
        Increasing absolute loss levels for first-passage times.
    stop_when_all_crossed : bool
        Stop a replica once it has crossed every threshold (only when nothing is
        recorded, ``record_every = 0``).

    Returns
    -------
    SGDRun

    Raises
    ------
    ValueError
        On bad input, or when θ becomes non-finite (SGD diverged at this η).
    """
    eta = check_learning_rate(eta)
    B = check_batch_size(B, problem.N)
    replicas = check_positive_int(replicas, "number of replicas")
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"number of steps must be >= 0, got {steps!r}")
    record_every = int(record_every)
    if record_every < 0:
        raise ValueError(f"record_every must be >= 0, got {record_every!r}")
    d = problem.d
    X = np.ascontiguousarray(problem.X, dtype=np.float64)
    y = np.ascontiguousarray(problem.y, dtype=np.float64)
    theta_star = np.ascontiguousarray(problem.theta_star, dtype=np.float64)
    H = np.ascontiguousarray(problem.hessian, dtype=np.float64)
    if theta0 is None:
        th0 = np.broadcast_to(theta_star, (replicas, d))
    else:
        th0 = np.asarray(theta0, dtype=np.float64)
        if th0.shape not in {(d,), (replicas, d)}:
            raise ValueError(f"theta0 must have shape ({d},) or ({replicas}, {d}), got {th0.shape}")
        th0 = np.broadcast_to(th0, (replicas, d))
    th0 = np.ascontiguousarray(th0)
    if thresholds is None:
        thr = np.empty(0)
    else:
        thr = np.ascontiguousarray(thresholds, dtype=np.float64).ravel()
        if thr.size > 1 and np.any(np.diff(thr) < 0):
            raise ValueError("loss thresholds must be increasing")
    n_rec = steps // record_every if record_every > 0 else 0
    samples = np.full((n_rec, replicas, d), np.nan)
    first_passage = np.full((replicas, thr.size), -1, dtype=np.int64)
    theta_final = np.empty((replicas, d))
    diverged = np.zeros(replicas, dtype=np.int64)
    _sgd_kernel(X, y, theta_star, H, float(problem.L_star), eta, B, steps, th0,
                replica_seeds(seed, replicas), record_every, thr, bool(stop_when_all_crossed),
                samples, first_passage, theta_final, diverged)
    if diverged.any():
        r = int(np.argmax(diverged > 0))
        raise ValueError(
            f"SGD diverged (non-finite θ at step {diverged[r]} of replica {r}) with learning "
            f"rate eta (η) = {eta}, B = {B}; lower η"
        )
    return SGDRun(samples, first_passage, steps, theta_final)


def naive_sgd_linreg(problem: LinearRegression, *, eta: float, B: int, steps: int,
                     theta0: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Reference loop: one replica, one numpy step per iteration, given minibatch indices.

    Returns the trajectory θ_1, ..., θ_steps, shape (steps, d).
    """
    theta = np.array(theta0, dtype=float)
    out = np.empty((steps, problem.d))
    for k in range(steps):
        idx = indices[k]
        xb = problem.X[idx]
        theta = theta - eta / B * xb.T @ (xb @ theta - problem.y[idx])
        out[k] = theta
    return out


_BENCH_N, _BENCH_REPLICAS = 10_000, 100


def _bench_kernel(quick: bool) -> tuple[LinearRegression, float, np.random.Generator]:
    """The problem, the kernel's rate (d = 1, B = 1, 100 replicas) and an rng for baselines."""
    rng = np.random.default_rng(0)
    prob = make_linear_regression(_BENCH_N, 1, rng)
    steps = 20_000 if quick else 500_000
    sgd_linreg(prob, eta=0.1, B=1, steps=10, replicas=_BENCH_REPLICAS, seed=0)  # compile
    t0 = time.perf_counter()
    sgd_linreg(prob, eta=0.1, B=1, steps=steps, replicas=_BENCH_REPLICAS, seed=1)
    return prob, _BENCH_REPLICAS * steps / (time.perf_counter() - t0), rng


@benchmark("sgd-linreg")
def _bench(quick: bool) -> BenchResult:
    """d = 1, B = 1, 100 replicas: kernel against the textbook per-step numpy loop."""
    prob, rate, rng = _bench_kernel(quick)
    # naive: per replica, per step, draw a minibatch without replacement and update
    n_naive = 2_000 if quick else 20_000
    X, y, theta = prob.X, prob.y, prob.theta_star.copy()
    t0 = time.perf_counter()
    for _ in range(n_naive):
        idx = rng.choice(_BENCH_N, size=1, replace=False)
        xb = X[idx]
        theta = theta - 0.1 * xb.T @ (xb @ theta - y[idx])
    naive = n_naive / (time.perf_counter() - t0)
    return BenchResult("sgd-linreg", "replica-steps/s", rate, naive,
                       f"d=1 B=1 N={_BENCH_N} replicas={_BENCH_REPLICAS} "
                       f"threads={numba.get_num_threads()}; "
                       "naive: per-step numpy loop, rng.choice without replacement")


@benchmark("sgd-linreg-vs-vectorised")
def _bench_vectorised(quick: bool) -> BenchResult:
    """Same work, against a numpy loop vectorised over the 100 replicas (a stronger baseline)."""
    prob, rate, rng = _bench_kernel(quick)
    n_vec = 2_000 if quick else 20_000
    x, y = prob.X[:, 0], prob.y
    theta = np.full(_BENCH_REPLICAS, prob.theta_star[0])
    t0 = time.perf_counter()
    for _ in range(n_vec):
        idx = rng.integers(0, _BENCH_N, size=_BENCH_REPLICAS)  # B = 1: one index per replica
        xb = x[idx]
        theta = theta - 0.1 * xb * (xb * theta - y[idx])
    vec = _BENCH_REPLICAS * n_vec / (time.perf_counter() - t0)
    return BenchResult("sgd-linreg-vs-vectorised", "replica-steps/s", rate, vec,
                       f"d=1 B=1 N={_BENCH_N} replicas={_BENCH_REPLICAS}; "
                       "baseline: numpy step vectorised over replicas")
