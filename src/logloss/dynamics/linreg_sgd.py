"""Fast replica kernel: many independent SGD runs on one linear-regression dataset.

SGD on L(θ) = (1/2N) Σ_μ (θᵀx_μ − y_μ)² with minibatches B_k of B distinct indices,
drawn without replacement at every step and independently per replica:

    θ_{k+1} = θ_k − η (1/B) Σ_{μ∈B_k} x_μ (x_μᵀθ_k − y_μ).

The loss is L(θ) = L* + ½ uᵀHu with u = θ − θ*; at d > 1 it is tracked as L* + ½|v|² with
v = Sᵀu (H = SSᵀ), which a step changes by −(η/B) Σ_b (XS)[μ_b] r_b.  The kernel is
compiled with numba (``cache=True``) and parallel over replicas (``prange``).  This is
the one code path shared by the stationary-distribution chapter (R7) and the
first-passage chapter (R9).

Randomness: replica r draws from its own xoroshiro128+ stream
(:func:`logloss.dynamics.rng.replica_states`: words 2r, 2r + 1 of the master seed's
``SeedSequence``), inline in the kernel; the whole trajectory of a replica runs on one
thread, so the results do not depend on the number of threads.  Minibatches are B
distinct indices, uniform over all B-subsets, independently at every step
(:func:`logloss.dynamics.rng.subset_index`, a partial Fisher–Yates shuffle, O(B) per
step; :func:`logloss.dynamics.rng.minibatch_indices` replays a replica's sequence).  In
the online mode every sample is a fresh x ~ N(0, I_d), y ~ N(0, 1): d + 1 draws of
:func:`logloss.dynamics.rng.normal` per sample, x first, then y.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..core.errors import SGDDiverged
from ..core.validation import check_batch_size, check_learning_rate, check_positive_int
from ..models.linreg import LinearRegression
from .chunks import group_size, run_in_chunks
from .rng import normal, replica_states, subset_index, uniform

__all__ = ["SGDRun", "sgd_linreg"]


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
    pre_loss : ndarray, shape (replicas, n_thresholds)
        L(θ_{k−1}) just before the first passage of each threshold (nan if censored):
        a crossing with L(θ_{k−1}) far below the threshold was a single jump.
    """

    samples: np.ndarray
    first_passage: np.ndarray
    steps: int
    theta_final: np.ndarray
    pre_loss: np.ndarray = None


@numba.njit(cache=True, inline="always")
def _crossings(L, L_prev, k, r, nxt, thresholds, first_passage, pre_loss):
    """Record step k for every threshold from the ``nxt``-th on that L ≥ it; the new nxt."""
    while nxt < thresholds.shape[0] and L >= thresholds[nxt]:
        first_passage[r, nxt] = k
        pre_loss[r, nxt] = L_prev
        nxt += 1
    return nxt


@numba.njit(cache=True, inline="always")
def _replica_d1(r, x, y, theta_star, h, L_star, c, B, k0, k1, theta, s0, s1, nxt, L_prev,
                perm, record_every, thresholds, stop_early, samples, first_passage, diverged,
                online, pre_loss):
    """Steps k0 + 1, …, k1 of replica r at d = 1: the loop of :func:`_replica` with θ a
    scalar, kept in a register.  Returns the replica's state after them:
    ``(θ, s0, s1, nxt, L_prev, stopped)``.

    The step is written θ(1 − cΣx²) + cΣxy so that a single multiply-add depends on the
    previous θ: the loop is bound by the random draws, not by the latency of the update.
    """
    N = x.shape[0]
    n_thr = thresholds.shape[0]
    th = theta
    stopped = False
    for k in range(k0 + 1, k1 + 1):
        sxx = 0.0
        sxy = 0.0
        for b in range(B):
            if online:
                xv, s0, s1 = normal(s0, s1)
                yv, s0, s1 = normal(s0, s1)
            else:
                mu, s0, s1 = subset_index(perm, b, B, N, s0, s1)
                xv = x[mu]
                yv = y[mu]
            sxx += xv * xv
            sxy += xv * yv
        # θ − c Σ x(xθ − y) = θ(1 − c Σx²) + c Σxy: one multiply-add depends on θ
        th = th * (1.0 - c * sxx) + c * sxy
        if not np.isfinite(th):
            diverged[r] = k
            stopped = True
            break
        if nxt < n_thr:
            u = th - theta_star
            L = L_star + 0.5 * h * u * u
            nxt = _crossings(L, L_prev, k, r, nxt, thresholds, first_passage, pre_loss)
            L_prev = L
            if stop_early and nxt == n_thr and record_every == 0:
                stopped = True
                break
        if record_every > 0 and k % record_every == 0:
            samples[k // record_every - 1, r, 0] = th
    return th, s0, s1, nxt, L_prev, stopped


_RESYNC = 1024  # steps between exact recomputations of v = Sᵀ(θ − θ*)


@numba.njit(cache=True, inline="always")
def _sqrt_h_coords(theta, theta_star, S, v):
    """v = Sᵀ(θ − θ*) in place (d² multiply-adds); returns |v|² = uᵀHu."""
    d = theta.shape[0]
    q = 0.0
    for j in range(d):
        acc = 0.0
        for i in range(d):
            acc += S[i, j] * (theta[i] - theta_star[i])
        v[j] = acc
        q += acc * acc
    return q


@numba.njit(cache=True, inline="always")
def _step(theta, v, X, y, Z, perm, B, c, online, track, grad, gz, xs, s0, s1, tilt=0.0,
          spread=1.0):
    """One SGD step θ ← θ − c Σ_b x_b(x_bᵀθ − y_b), c = η/B, in place; returns
    ``(finite, s0, s1, log_w)``: whether θ is still finite, the stream's new state, and the
    log likelihood ratio of the step's samples (0 untilted).

    The minibatch is B distinct rows μ_b of (X, y) (from ``perm`` and the stream (s0, s1)),
    or, ``online``, B fresh samples x ~ N(0, I_d), y ~ N(0, 1) from the stream, x first.
    Online with ``tilt`` = ε > 0, each sample z = (x, y) is instead drawn from the mixture
    q = (1 − ε) N(0, I) + ε N(0, s² I) (s = ``spread``: one more uniform per sample says
    which), and log_w gains log p(z)/q(z) = −log(1 − ε + ε s^−(d+1) e^{|z|²(1 − s^−2)/2}):
    importance sampling of the rare large samples whose kicks carry SGD's escape.
    With ``track`` the step also updates v = Sᵀ(θ − θ*) by −c Σ_b Z[μ_b] r_b (Z = XS;
    online, H = I and Z[μ] is x itself), B·d work instead of the d² of recomputing v.
    ``grad``, ``gz`` (d) and ``xs`` (d + 1) are scratch.
    """
    N = X.shape[0]
    d = theta.shape[0]
    for i in range(d):
        grad[i] = 0.0
        gz[i] = 0.0
    log_w = 0.0
    for b in range(B):
        if online:  # a fresh sample x ~ N(0, I_d), y ~ N(0, 1) from this replica's stream
            for i in range(d + 1):
                xs[i], s0, s1 = normal(s0, s1)
            if tilt > 0.0:
                u, s0, s1 = uniform(s0, s1)
                z2 = 0.0
                for i in range(d + 1):
                    if u < tilt:
                        xs[i] *= spread
                    z2 += xs[i] * xs[i]
                log_w -= np.log(1.0 - tilt + tilt * np.exp(
                    0.5 * z2 * (1.0 - 1.0 / (spread * spread)) - (d + 1) * np.log(spread)))
            res = -xs[d]
        else:
            mu, s0, s1 = subset_index(perm, b, B, N, s0, s1)
            res = -y[mu]
            for i in range(d):
                xs[i] = X[mu, i]
        for i in range(d):
            res += xs[i] * theta[i]
        for i in range(d):
            grad[i] += xs[i] * res
        if track:
            if online:
                for i in range(d):
                    gz[i] += xs[i] * res
            else:
                for i in range(d):
                    gz[i] += Z[mu, i] * res
    finite = True
    for i in range(d):
        theta[i] -= c * grad[i]
        if not np.isfinite(theta[i]):
            finite = False
    if track:
        for i in range(d):
            v[i] -= c * gz[i]
    return finite, s0, s1, log_w


@numba.njit(cache=True, inline="always")
def _replica(r, X, y, theta_star, S, Z, L_star, c, B, k0, k1, theta, v, s0, s1, nxt, L_prev,
             perm, record_every, thresholds, stop_early, samples, first_passage, diverged,
             online, pre_loss):
    """Steps k0 + 1, …, k1 of replica r, any d, on its θ and v (updated in place).  Returns
    ``(s0, s1, nxt, L_prev, stopped)``.

    The loss L* + ½uᵀHu (u = θ − θ*) is tracked as L* + ½|v|² with v = Sᵀu, H = SSᵀ:
    a step changes v by −(η/B) Σ_b Z[μ_b] r_b with Z = XS, which costs B·d instead of
    the d² of uᵀHu; v is recomputed from θ every ``_RESYNC`` steps so that rounding
    cannot accumulate.  Each step is :func:`_step`.
    """
    d = theta.shape[0]
    n_thr = thresholds.shape[0]
    grad = np.empty(d)
    gz = np.empty(d)
    xs = np.empty(d + 1)  # x, then y, of an online sample
    stopped = False
    # thresholds already met at k = 0 still need a step k >= 1 to be recorded
    for k in range(k0 + 1, k1 + 1):
        finite, s0, s1, _ = _step(theta, v, X, y, Z, perm, B, c, online, nxt < n_thr, grad, gz,
                                  xs, s0, s1)
        if not finite:
            diverged[r] = k
            stopped = True
            break
        if nxt < n_thr:
            if k % _RESYNC == 0:
                q = _sqrt_h_coords(theta, theta_star, S, v)
            else:
                q = 0.0
                for i in range(d):
                    q += v[i] * v[i]
            L = L_star + 0.5 * q
            nxt = _crossings(L, L_prev, k, r, nxt, thresholds, first_passage, pre_loss)
            L_prev = L
            if stop_early and nxt == n_thr and record_every == 0:
                stopped = True
                break
        if record_every > 0 and k % record_every == 0:
            row = k // record_every - 1
            for i in range(d):
                samples[row, r, i] = theta[i]
    return s0, s1, nxt, L_prev, stopped


@numba.njit(cache=True, parallel=True)
def _sgd_kernel(X, y, theta_star, H, S, Z, L_star, eta, B, k0, k1, theta, v, states, nxt,
                L_prev, perms, done, record_every, thresholds, stop_early, samples,
                first_passage, diverged, online, pre_loss):
    """Steps k0 + 1, …, k1 of every replica r not ``done``, continuing from its state: θ
    (``theta[r]``), the tracked v (``v[r]``), the generator (``states[r]``), the number of
    thresholds crossed (``nxt[r]``), the last loss (``L_prev[r]``) and its permutation of
    range(N) (``perms[r]``), all updated in place."""
    R, d = theta.shape
    c = eta / B
    x = np.ascontiguousarray(X[:, 0])
    for r in numba.prange(R):
        if done[r]:
            continue
        if d == 1:
            th, s0, s1, nx, lp, stop = _replica_d1(
                r, x, y, theta_star[0], H[0, 0], L_star, c, B, k0, k1, theta[r, 0],
                states[r, 0], states[r, 1], nxt[r], L_prev[r], perms[r], record_every,
                thresholds, stop_early, samples, first_passage, diverged, online, pre_loss)
            theta[r, 0] = th
        else:
            th_r = theta[r].copy()  # private copies: rows of a shared array would share
            v_r = v[r].copy()       # cache lines between the threads
            if k0 == 0 and thresholds.shape[0] > 0:
                _sqrt_h_coords(th_r, theta_star, S, v_r)
            s0, s1, nx, lp, stop = _replica(
                r, X, y, theta_star, S, Z, L_star, c, B, k0, k1, th_r, v_r, states[r, 0],
                states[r, 1], nxt[r], L_prev[r], perms[r], record_every, thresholds,
                stop_early, samples, first_passage, diverged, online, pre_loss)
            theta[r] = th_r
            v[r] = v_r
        states[r, 0] = s0
        states[r, 1] = s1
        nxt[r] = nx
        L_prev[r] = lp
        done[r] = stop


def sgd_linreg(problem: LinearRegression, *, eta: float, B: int, steps: int, replicas: int,
               seed: int, theta0: np.ndarray | None = None, record_every: int = 0,
               thresholds: np.ndarray | None = None,
               stop_when_all_crossed: bool = True, online: bool = False) -> SGDRun:
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
        Master seed; replica r draws from the stream ``replica_states(seed, replicas)[r]``
        of :mod:`logloss.dynamics.rng`.
    theta0 : ndarray, shape (d,) or (replicas, d), optional
        Initial θ_0 (default θ*).
    record_every : int
        Record θ_k every ``record_every`` steps (0: record nothing).
    thresholds : ndarray, shape (n_thresholds,), optional
        Increasing absolute loss levels for first-passage times.
    stop_when_all_crossed : bool
        Stop a replica once it has crossed every threshold (only when nothing is
        recorded, ``record_every = 0``).
    online : bool
        N = ∞: every minibatch sample is a fresh x ~ N(0, I_d), y ~ N(0, 1), drawn from
        the replica's own seeded stream; the data set of ``problem`` is not used (only
        its d), and θ*, H and L* are the population ones, 0, I and 1/2.

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
    L_star = float(problem.L_star)
    if online:
        theta_star, H, L_star = np.zeros(d), np.eye(d), 0.5
    # H = SSᵀ with the symmetric square root S (H is positive semi-definite), and Z = XS:
    # the kernel tracks the loss through v = Sᵀ(θ − θ*) (see _replica)
    lam, V = np.linalg.eigh(H)
    S = np.ascontiguousarray((V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T)
    Z = np.ascontiguousarray(X @ S) if not online and d > 1 else np.empty((0, d))
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
    pre_loss = np.full((replicas, thr.size), np.nan)
    states = replica_states(seed, replicas)
    # The kernel runs on groups of replicas and chunks of steps (chunks.run_in_chunks), so
    # that Ctrl-C (seen by Python between calls) stops a run of any length within about a
    # second, and a progress bar can follow it.  Replica r depends only on its own stream
    # and θ_0, and carries its whole state from call to call, so the results are bitwise
    # those of one call.
    theta = th0.copy()
    v = np.empty((replicas, d))  # v = Sᵀ(θ − θ*), set by the kernel's first call
    nxt = np.zeros(replicas, dtype=np.int64)
    L_prev = np.full(replicas, L_star)
    done = np.zeros(replicas, dtype=np.bool_)
    perm_len = problem.N if B > 1 and not online else 0
    group = group_size(replicas, 8.0 * perm_len)
    perms = np.empty((0, perm_len), dtype=np.int64)

    def call(lo, hi, k0, k1):
        nonlocal perms
        if k0 == 0:  # a new group: each replica's permutation starts as range(N)
            perms = np.tile(np.arange(perm_len, dtype=np.int64), (hi - lo, 1))
        smp = np.ascontiguousarray(samples[:, lo:hi])  # the array itself for a single group
        fp, pl, dv = first_passage[lo:hi].copy(), pre_loss[lo:hi].copy(), diverged[lo:hi].copy()
        th, vv, st, nx, lp, dn = (a[lo:hi].copy() for a in (theta, v, states, nxt, L_prev, done))
        _sgd_kernel(X, y, theta_star, H, S, Z, L_star, eta, B, k0, k1, th, vv, st, nx, lp, perms,
                    dn, record_every, thr, bool(stop_when_all_crossed), smp, fp, dv,
                    bool(online), pl)
        if smp is not samples:
            samples[:, lo:hi] = smp
        first_passage[lo:hi], pre_loss[lo:hi], diverged[lo:hi] = fp, pl, dv
        theta[lo:hi], v[lo:hi], states[lo:hi], nxt[lo:hi], L_prev[lo:hi], done[lo:hi] = \
            th, vv, st, nx, lp, dn
        return bool(dn.all())

    run_in_chunks(call, replicas=replicas, steps=steps, work=B * (d + 1) + 2 * d, group=group,
                  desc="SGD replicas")
    theta_final[:] = theta
    if diverged.any():
        r = int(np.argmax(diverged > 0))
        raise SGDDiverged(
            f"SGD diverged (non-finite θ at step {diverged[r]} of replica {r}) with learning "
            f"rate eta (η) = {eta}, B = {B}; lower η"
        )
    return SGDRun(samples, first_passage, steps, theta_final, pre_loss)
