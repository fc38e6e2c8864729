"""Replica kernels for rare-event splitting: linear regression seen through ξ = log(L/L*).

:class:`LinregSystem` is a :class:`logloss.stats.splitting.System`: two numba kernels,
parallel over trajectories, with the SGD step of :mod:`.linreg_sgd` (minibatches of B
distinct indices, or online samples x ~ N(0, I_d), y ~ N(0, 1), from one xoroshiro128+
stream per trajectory):

* :func:`_flux_kernel` runs replicas from θ* into the quasi-stationary state, counts the
  steps spent in the bulk A = {L ≤ c_A L*} and keeps states drawn from it;
* :func:`_excursion_kernel` runs one trajectory from each given state until it returns to
  A or reaches the top level, recording the state at which it first reached each level of
  a grid of L.

Both run on one thread and release the GIL: a splitting iteration restarts only a few short
trajectories, too little work to share between threads (a parallel launch cost 20 ms on a
busy machine, 15 times the work), so :func:`logloss.rare_first_passage` runs independent
repetitions on threads instead.

The loss is tracked as L* + ½|v|² with v = Sᵀ(θ − θ*), H = SSᵀ, as in :mod:`.linreg_sgd`,
and recomputed from θ every 1024 steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.stats import chi2

from ..core.errors import InvalidInput, SGDDiverged
from ..core.validation import check_batch_size, check_learning_rate, check_positive_int
from ..models.linreg import LinearRegression
from ..theory.discrete_sgd import expanding_kick_rate
from ..theory.escape import radial_mfpt
from .linreg_sgd import _RESYNC, _sqrt_h_coords, _step
from .rng import replica_states

__all__ = ["FluxRun", "FluxBuffers", "Excursions", "LinregSystem", "kick_tilt", "record_rows"]

@dataclass
class FluxRun:
    """A brute-force run of the quasi-stationary state: how often it is in the bulk A, and
    states drawn from A.

    Attributes
    ----------
    in_A : int
        Steps after the burn-in at which the chain was in A = {ξ ≤ ξ_A}.
    exposure : int
        Replica-steps after the burn-in.
    bulk : ndarray, shape (K, S)
        States in A, every ``thin`` steps (up to ``cap`` per replica).
    cost : int
        Replica-steps run, burn-in included.
    levels : ndarray, shape (replicas, m)
        ξ = log(L/L*) every ``thin`` steps after the burn-in: samples of the
        quasi-stationary state, from which A can be set.
    """

    in_A: int
    exposure: int
    bulk: np.ndarray
    cost: int
    levels: np.ndarray


@dataclass
class Excursions:
    """Trajectories run until they return to A (ξ ≤ ξ_A) or reach the top level.

    Attributes
    ----------
    steps : ndarray of int64, shape (R,)
        Steps each trajectory ran.
    outcome : ndarray of int8, shape (R,)
        0: returned to A; 1: reached the top level (the target); 2: stopped by the step cap.
    level : ndarray of int64, shape (R,)
        The highest level index g with ξ ≥ grid[g] that the trajectory reached.
    records : ndarray, shape (rows, G, S)
        Row ``rows[r]``, level g: the state at which trajectory r first reached
        ξ ≥ grid[g], for the levels above its start level up to ``level[r]`` (other entries
        untouched).  The caller may pass the array and the rows (the splitting engine
        does, so that nothing is copied); otherwise row r is trajectory r.
    weight_records : ndarray, shape (rows, G), optional
        Where the kernel is importance-sampled (``tilted``): the log likelihood ratio of
        the path up to each record (its start log-weight plus its steps'), filled like
        ``records``; zeros where it is not (log-weight 0), None from a System without
        weights (every weight 1).
    """

    steps: np.ndarray
    outcome: np.ndarray
    level: np.ndarray
    records: np.ndarray
    weight_records: np.ndarray | None = None


@numba.njit(cache=True, inline="always")
def _observe(L, L_star, L_A, k, burn, thin, r, state, in_A, levels, stored, bulk):
    """The quasi-stationary bookkeeping of a flux run at step k: count a step in A, and
    every ``thin`` steps keep ξ and, in A, the state (up to the capacity)."""
    if k <= burn:
        return
    if L <= L_A:
        in_A[r] += 1
    j = k - burn
    if j % thin == 0:
        if j // thin <= levels.shape[1]:
            levels[r, j // thin - 1] = np.log(L / L_star)
        if L <= L_A and stored[r] < bulk.shape[1]:
            bulk[r, stored[r]] = state
            stored[r] += 1


@numba.njit(cache=True, inline="always")
def _climb(L, g, grid_L, records, row, state):
    """Record ``state`` in row ``row`` at every level of ``grid_L`` above g that L reaches;
    the new g."""
    while g + 1 < grid_L.shape[0] and L >= grid_L[g + 1]:
        g += 1
        records[row, g] = state
    return g


@numba.njit(cache=True, nogil=True)
def _flux_kernel(X, y, Zs, theta_star, S, L_star, c, B, online, states, burn, steps, thin, L_A,
                 in_A, stored, bulk, levels, diverged):
    R = states.shape[0]
    d = theta_star.shape[0]
    N = X.shape[0]
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        perm = np.arange(N if B > 1 and not online else 0)
        theta = theta_star.copy()
        v = np.zeros(d)
        grad, gz, xs = np.empty(d), np.empty(d), np.empty(d + 1)
        for k in range(1, burn + steps + 1):
            ok, s0, s1, _ = _step(theta, v, X, y, Zs, perm, B, c, online, True, grad, gz, xs,
                                  s0, s1)
            if not ok:
                diverged[r] = k
                break
            if k % _RESYNC == 0:
                q = _sqrt_h_coords(theta, theta_star, S, v)
            else:
                q = 0.0
                for i in range(d):
                    q += v[i] * v[i]
            _observe(L_star + 0.5 * q, L_star, L_A, k, burn, thin, r, theta, in_A, levels,
                     stored, bulk)


@numba.njit(cache=True, nogil=True)
def _excursion_kernel(X, y, Zs, theta_star, S, L_star, c, B, online, tilt, spread, tilt_far,
                      starts, start_level, log_w0, states, grid_L, L_A, L_far, max_steps,
                      steps_out, outcome, level, records, w_records, rows):
    R = starts.shape[0]
    d = theta_star.shape[0]
    G = grid_L.shape[0]
    N = X.shape[0]
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        perm = np.arange(N if B > 1 and not online else 0)
        theta = starts[r].copy()
        v = np.empty(d)
        L = L_star + 0.5 * _sqrt_h_coords(theta, theta_star, S, v)
        grad, gz, xs = np.empty(d), np.empty(d), np.empty(d + 1)
        g = start_level[r]
        log_w = log_w0[r]
        out = 1 if g >= G - 1 else 2
        k = 0
        while out == 2 and k < max_steps:
            k += 1
            ok, s0, s1, dw = _step(theta, v, X, y, Zs, perm, B, c, online, True, grad, gz, xs,
                                   s0, s1, tilt_far if L >= L_far else tilt, spread)
            log_w += dw
            if not ok:
                out = 3
                break
            if k % _RESYNC == 0:
                q = _sqrt_h_coords(theta, theta_star, S, v)
            else:
                q = 0.0
                for i in range(d):
                    q += v[i] * v[i]
            L = L_star + 0.5 * q
            if L <= L_A:
                out = 0
                break
            g_new = _climb(L, g, grid_L, records, rows[r], theta)
            w_records[rows[r], g + 1:g_new + 1] = log_w
            g = g_new
            if g == G - 1:
                out = 1
        steps_out[r] = k
        outcome[r] = out
        level[r] = g


def record_rows(records, rows, R: int, G: int, S: int, dtype=np.float64):
    """The array an excursion kernel records into, and the row of each trajectory: the
    caller's (the splitting engine keeps one array for all its replicas), or a new one of
    ``dtype``."""
    if records is None:
        return np.full((R, G, S), np.nan, dtype=dtype), np.arange(R)
    return records, np.ascontiguousarray(rows, dtype=np.int64)


class FluxBuffers:
    """What a flux kernel writes, allocated once for every System (checked sizes).

    Attributes
    ----------
    R, burn, steps, thin : int
        Replicas, burn-in steps, steps after it, and the observation spacing
        steps // max(samples, cap).
    in_A, stored, flags : ndarray of int64, shape (R,)
        Observations in A, bulk states stored, and the kernel's per-replica flag (diverged,
        exits, ...), zeroed.
    bulk : ndarray, shape (R, cap, state_size)
        Room for ``cap`` bulk states per replica.
    levels : ndarray, shape (R, min(samples, steps))
        ξ at up to ``samples`` evenly spaced observations, NaN until written.
    """

    def __init__(self, replicas: int, *, cap: int, burn: int, steps: int, samples: int,
                 state_size: int, dtype=np.float64) -> None:
        self.R = check_positive_int(replicas, "flux replicas")
        cap = check_positive_int(cap, "bulk states per replica")
        self.steps = check_positive_int(steps, "flux steps")
        if int(burn) != burn or burn < 0:
            raise InvalidInput(f"burn-in steps must be an integer >= 0, got {burn!r}")
        self.burn = int(burn)
        self.thin = max(1, self.steps // max(int(samples), cap))
        self.in_A = np.zeros(self.R, dtype=np.int64)
        self.stored = np.zeros(self.R, dtype=np.int64)
        self.flags = np.zeros(self.R, dtype=np.int64)
        self.bulk = np.empty((self.R, cap, state_size), dtype=dtype)
        self.levels = np.full((self.R, min(int(samples), self.steps)), np.nan)

    def run(self) -> FluxRun:
        """The :class:`FluxRun` of the filled buffers (exposure: every step after burn-in)."""
        keep = (np.concatenate([self.bulk[r, :self.stored[r]] for r in range(self.R)])
                if self.stored.sum() else np.empty((0,) + self.bulk.shape[2:]))
        return FluxRun(int(self.in_A.sum()), self.R * self.steps, keep,
                       self.R * (self.burn + self.steps), self.levels)


def kick_tilt(*, eta: float, B: int, d: int, c_max: float) -> dict:
    """The importance sampling of :class:`LinregSystem` (online) for thresholds up to
    ``c_max``, by rule: keyword arguments ``tilt`` and ``tilt_far`` for it.

    One sample expands an online SGD step on its own when (η/B)|x|² > 2: p_k =
    B·P(χ²_d > 2B/η) such kicks per step (``theory.expanding_kick_rate``).  Such kicks open an escape route that unweighted
    splitting cannot see when both

    * they are rarer than one per relaxation time 1/η (p_k/η < 1: an excursion of a few
      relaxation times seldom holds one), and
    * one arrives before a diffusive escape would: p_k·T_SDE(c_max) > 1, with T_SDE the
      exact-noise SDE's mean first-passage time (``theory.radial_mfpt``; at weak noise and
      thresholds near the bulk, the kicks never matter and the tilt would only add weight
      noise).

    Then ``tilt`` = 0.1·η/B near the bulk (one tilted sample per ten relaxation times: the
    weights of the long excursions there stay within a factor of a few) and ``tilt_far`` =
    0.2/B beyond ``far`` = 2 times its edge (a tilted sample every five steps: far out the
    paths are short, and a climb needs a kick before the contraction undoes the last one);
    otherwise both 0.
    """
    eta = check_learning_rate(eta)
    B = check_positive_int(B, "B")
    d = check_positive_int(d, "d")
    p_k = expanding_kick_rate(eta=eta, B=B, d=d)
    off = dict(tilt=0.0, tilt_far=0.0)
    if not (np.isfinite(c_max) and c_max > 1.0) or p_k / eta >= 1.0:
        return off
    with np.errstate(over="ignore"):
        t_sde = float(radial_mfpt([c_max], eta=eta, B=B, d=d, exact_noise=True)[0])
    return dict(tilt=0.1 * eta / B, tilt_far=0.2 / B) if p_k * t_sde > 1.0 else off


class LinregSystem:
    """SGD on linear regression as a :class:`~logloss.stats.splitting.System`.

    Parameters
    ----------
    problem : LinearRegression
        The data set (X of shape (N, d), y); with ``online=True`` only its d is used, and
        θ* = 0, H = I, L* = ½ are the population's.
    eta, B : float, int
        Learning rate η and minibatch size B (keyword-only).
    online : bool
        N = ∞: a fresh sample at every step.
    tilt, tilt_far : float
        Online only: the share ε of samples that the excursions draw from N(0, s² I)
        instead of N(0, I), with likelihood-ratio weights (default 0: none), and
        s² = (2B/η)/median(χ²_d), so that half the tilted samples expand the step on their
        own ((η/B)|x|² > 2).  ``tilt`` applies near the bulk A = {L ≤ L_A}, ``tilt_far``
        (default: ``tilt``) where L ≥ ``far``·L_A.  Where such kicks are rarer than one per
        relaxation time (d ≤ 8 at η = 0.1, B = 1) and the thresholds are far, SGD escapes by
        a few of them in a row, a route that unweighted splitting almost never draws (at
        d = 1, η = 0.1, c = 10 it overstated t_p six decades).  :func:`kick_tilt` gives
        both by rule; with them the estimate follows the exact chain to t_p = 10¹⁵ within
        0.15 decades (``tests/test_splitting.py``), and drifts above it further out (0.2 to
        0.6 decades at 10²⁸ with 16 × 4·10⁴ replicas).  Near the bulk at weak noise a tilt
        hurts: the selection by level fills the replicas with clones of over-shooting
        tilted kicks of tiny weight.
    far : float
        Where ``tilt_far`` starts, as a multiple of the bulk's edge L_A (> 1).

    Attributes
    ----------
    relaxation : float
        1/(η h*) steps, with h* = tr H/d (1 online).
    tilted : bool
        Whether the excursions are importance-sampled (ε > 0); their weights then go to
        the splitting engine.
    """

    def __init__(self, problem: LinearRegression, *, eta: float, B: int, online: bool = False,
                 tilt: float = 0.0, tilt_far: float | None = None, far: float = 2.0):
        self.eta = check_learning_rate(eta)
        self.B = check_positive_int(B, "B") if online else check_batch_size(B, problem.N)
        self.online = bool(online)
        d = problem.d
        if online:
            self.theta_star, H, self.L_star = np.zeros(d), np.eye(d), 0.5
            self.X, self.y = np.zeros((1, d)), np.zeros(1)
        else:
            self.theta_star = np.ascontiguousarray(problem.theta_star, dtype=np.float64)
            H, self.L_star = problem.hessian, float(problem.L_star)
            self.X = np.ascontiguousarray(problem.X, dtype=np.float64)
            self.y = np.ascontiguousarray(problem.y, dtype=np.float64)
        lam, V = np.linalg.eigh(H)
        self.S = np.ascontiguousarray((V * np.sqrt(np.clip(lam, 0.0, None))) @ V.T)
        self.Zs = np.ascontiguousarray(self.X @ self.S)
        self.h_star = float(np.trace(H) / d)
        self.state_size = d
        self.relaxation = 1.0 / (self.eta * self.h_star)
        self.tilt = self._tilt(tilt, "tilt")
        self.tilt_far = self._tilt(tilt if tilt_far is None else tilt_far, "tilt_far")
        if not (np.isfinite(far) and far > 1.0):
            raise InvalidInput(f"far must be a finite multiple > 1 of the bulk's edge, got {far!r}")
        self.far = float(far)
        kick = 2.0 * self.B / self.eta  # |x|² beyond which one sample expands the step
        self.spread = float(np.sqrt(max(1.0, kick / chi2.median(d))))
        self.tilted = self.tilt > 0 or self.tilt_far > 0

    def _tilt(self, tilt: float, name: str) -> float:
        """A checked share of tilted samples (see the class)."""
        if not (np.isfinite(tilt) and 0.0 <= tilt < 1.0):
            raise InvalidInput(f"{name} must lie in [0, 1), got {tilt!r}")
        if tilt > 0 and not self.online:
            raise InvalidInput(f"{name} applies to online SGD only (a data set's samples are "
                               f"given): pass online=True or {name}=0")
        return float(tilt)

    def _args(self):
        return (self.X, self.y, self.Zs, self.theta_star, self.S, self.L_star,
                self.eta / self.B, self.B, self.online)

    def _excursion_args(self):
        return self._args() + (self.tilt, self.spread, self.tilt_far)

    def levels(self, states: np.ndarray) -> np.ndarray:
        u = np.asarray(states, dtype=float) - self.theta_star
        q = np.einsum("ri,ij,rj->r", u, self.S @ self.S.T, u)
        return np.log1p(0.5 * q / self.L_star)

    def flux(self, seed: int, *, replicas: int, burn: int, steps: int, xi_A: float,
             cap: int, samples: int = 100) -> FluxRun:
        b = FluxBuffers(replicas, cap=cap, burn=burn, steps=steps, samples=samples,
                        state_size=self.state_size)
        _flux_kernel(*self._args(), replica_states(seed, b.R), b.burn, b.steps, b.thin,
                     self.L_star * np.exp(xi_A), b.in_A, b.stored, b.bulk, b.levels, b.flags)
        self._check(b.flags)
        return b.run()

    def excursions(self, states: np.ndarray, start_level: np.ndarray, seed: int, *,
                   grid: np.ndarray, xi_A: float, max_steps: int,
                   records: np.ndarray | None = None,
                   rows: np.ndarray | None = None, log_weights: np.ndarray | None = None,
                   weight_records: np.ndarray | None = None) -> Excursions:
        R, d = states.shape
        steps = np.zeros(R, dtype=np.int64)
        outcome = np.zeros(R, dtype=np.int8)
        level = np.zeros(R, dtype=np.int64)
        records, rows = record_rows(records, rows, R, grid.size, d)
        log_w0 = (np.zeros(R) if log_weights is None
                  else np.ascontiguousarray(log_weights, dtype=np.float64))
        if weight_records is None:
            weight_records = np.zeros(records.shape[:2])
        _excursion_kernel(*self._excursion_args(), np.ascontiguousarray(states, dtype=np.float64),
                          np.ascontiguousarray(start_level, dtype=np.int64), log_w0,
                          replica_states(seed, R), self.L_star * np.exp(grid),
                          self.L_star * np.exp(xi_A), self.far * self.L_star * np.exp(xi_A),
                          int(max_steps), steps, outcome, level,
                          records, weight_records, rows)
        self._check(np.where(outcome == 3, steps, 0))
        return Excursions(steps, outcome, level, records, weight_records)

    def _check(self, diverged: np.ndarray) -> None:
        if np.any(diverged > 0):
            raise SGDDiverged(f"SGD diverged (non-finite θ) with learning rate eta (η) = "
                              f"{self.eta}, B = {self.B}; lower η")
