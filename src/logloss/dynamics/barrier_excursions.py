"""Replica kernels for rare-event splitting: SGD over the barrier seen through ξ = log(L/L*).

:class:`BarrierSystem` is a :class:`logloss.stats.splitting.System` for SGD on a
:class:`~logloss.models.barrier.BarrierRegression` or a
:class:`~logloss.models.barrier.SpectatorBarrier`, with the step of :mod:`.barrier_sgd`
(:func:`~.barrier_sgd._step`) and the same target as :func:`~.barrier_sgd.sgd_barrier`:
the first exit of θ from (θ₋, θ₊), the neighbouring minima.

**Reaction coordinate.**  With L(θ) the loss along θ (spectators at φ = 0) and
L* = L(θ*),

    ξ(θ) = log(min(L(θ), Lˢ)/L*)  for θˢ₋ ≤ θ ≤ θˢ₊,
    ξ(θ) = log(Lˢ/L*)             past a saddle, inside (θ₋, θ₊),
    ξ(θ) = +∞                     on exit (θ ≤ θ₋ or θ ≥ θ₊),

with Lˢ the loss of the lower saddle.  It increases from θ* towards either exit (L falls
again beyond a saddle, so the cap keeps a state past the saddle above every state before
it), and every level above log(Lˢ/L*) is reached by the exit only: t_p at any
c > Lˢ/L* (:attr:`BarrierSystem.c_exit`) is the mean exit time.  Thresholds
c ≤ Lˢ/L* give first passages to L(θ) ≥ cL* (or past a saddle).  The spectators are left
out of ξ: the exit is a condition on θ alone, and splitting restarts from the full state
(θ, φ), so their loss, which feeds θ's noise, is carried by the restarted replicas.

**The quasi-stationary run restarts at the exit.**  A brute-force replica of
:meth:`BarrierSystem.flux` that leaves (θ₋, θ₊) is put back at (θ*, 0) in the same step.
Each cycle of this chain is a first passage from θ*, so its escape rate is exactly
1/E_θ*[T_exit] (renewal), and it equals p_A times the probability that an excursion from
its stationary law in A reaches the exit before A: the estimate of
:func:`~logloss.stats.splitting.rare_first_passage` is the mean exit time from θ*, the
quantity :func:`~.barrier_sgd.sgd_barrier` measures, also where escape is not rare.

A θ that is no longer finite has left (θ₋, θ₊), as in :func:`~.barrier_sgd.sgd_barrier`
(spectators beyond the critical dimension grow without bound and take θ with them).  Both
kernels run on one thread and release the GIL (see :mod:`.excursions`).
"""

from __future__ import annotations

import numba
import numpy as np

from ..core.validation import check_batch_size, check_learning_rate
from ..models.barrier import BarrierRegression, SpectatorBarrier
from .barrier_sgd import _step
from .excursions import Excursions, FluxBuffers, FluxRun, _climb, _observe, record_rows
from .rng import replica_states

__all__ = ["BarrierSystem"]


@numba.njit(cache=True, inline="always")
def _level_loss(th, c, s, S4, A, a, b, sigma, lo, hi, s_lo, s_hi, L_cap):
    """The loss that ξ is made of: L(θ) = ½wᵀS₄w capped at Lˢ, Lˢ past a saddle, ∞ on exit
    (θ ≤ θ₋, θ ≥ θ₊, or θ no longer finite, as in :func:`~.barrier_sgd.sgd_barrier`)."""
    if not lo < th < hi:
        return np.inf
    if th < s_lo or th > s_hi:
        return L_cap
    w0, w1, w2, w3 = th - a, A * c - b, A * s, -sigma
    L = 0.5 * (S4[0, 0] * w0 * w0 + S4[1, 1] * w1 * w1 + S4[2, 2] * w2 * w2
               + S4[3, 3] * w3 * w3) + (S4[0, 1] * w0 * w1 + S4[0, 2] * w0 * w2
                                         + S4[0, 3] * w0 * w3 + S4[1, 2] * w1 * w2
                                         + S4[1, 3] * w1 * w3 + S4[2, 3] * w2 * w3)
    return min(L, L_cap)


@numba.njit(cache=True, nogil=True)
def _levels_kernel(theta, S4, A, k, a, b, sigma, lo, hi, s_lo, s_hi, L_cap, out):
    for r in range(theta.shape[0]):
        th = theta[r]
        out[r] = _level_loss(th, np.cos(k * th), np.sin(k * th), S4, A, a, b, sigma, lo, hi,
                             s_lo, s_hi, L_cap)


@numba.njit(cache=True, nogil=True)
def _flux_kernel(m, u, A, k, a, b, sigma, eta, B, S4, lo, hi, s_lo, s_hi, L_cap, theta_star,
                 L_star, states, burn, steps, thin, L_A, in_A, stored, bulk, levels, exits):
    R = states.shape[0]
    N = m.shape[0]
    S = u.shape[1]
    perm = np.arange(N if B > 1 else 0)  # any permutation: the B-subsets stay uniform
    state = np.empty(S + 1)
    gphi = np.empty(S)
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        th = theta_star
        c, s = np.cos(k * th), np.sin(k * th)
        phi = state[1:]
        phi[:] = 0.0
        for step in range(1, burn + steps + 1):
            th, c, s, s0, s1 = _step(m, u, A, k, a, b, sigma, eta, B, perm, th, c, s, phi,
                                     gphi, s0, s1)
            if not lo < th < hi:  # a cycle ends: the next starts at the minimum
                exits[r] += 1
                th = theta_star
                c, s = np.cos(k * th), np.sin(k * th)
                phi[:] = 0.0
            state[0] = th
            L = _level_loss(th, c, s, S4, A, a, b, sigma, lo, hi, s_lo, s_hi, L_cap)
            _observe(L, L_star, L_A, step, burn, thin, r, state, in_A, levels, stored, bulk)


@numba.njit(cache=True, nogil=True)
def _excursion_kernel(m, u, A, k, a, b, sigma, eta, B, S4, lo, hi, s_lo, s_hi, L_cap, starts,
                      start_level, states, grid_L, L_A, max_steps, steps_out, outcome, level,
                      records, rows):
    R = starts.shape[0]
    G = grid_L.shape[0]
    N = m.shape[0]
    S = u.shape[1]
    perm = np.arange(N if B > 1 else 0)
    gphi = np.empty(S)
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        state = starts[r].copy()
        th = state[0]
        phi = state[1:]
        c, s = np.cos(k * th), np.sin(k * th)
        g = start_level[r]
        out = 1 if g >= G - 1 else 2
        n = 0
        while out == 2 and n < max_steps:
            n += 1
            th, c, s, s0, s1 = _step(m, u, A, k, a, b, sigma, eta, B, perm, th, c, s, phi,
                                     gphi, s0, s1)
            state[0] = th
            L = _level_loss(th, c, s, S4, A, a, b, sigma, lo, hi, s_lo, s_hi, L_cap)
            if L <= L_A:
                out = 0
                break
            g = _climb(L, g, grid_L, records, rows[r], state)
            if g == G - 1:
                out = 1
        steps_out[r] = n
        outcome[r] = out
        level[r] = g


class BarrierSystem:
    """SGD over the barrier as a :class:`~logloss.stats.splitting.System` (module docstring).

    Parameters
    ----------
    problem : BarrierRegression or SpectatorBarrier
        Data set and model (its σ² sets the labels); with spectators the state is (θ, φ)
        and the exit is still θ leaving (θ₋, θ₊).
    eta, B : float, int
        Learning rate η and minibatch size B (keyword-only); minibatches of B distinct
        samples, drawn afresh every step, as in :func:`~.barrier_sgd.sgd_barrier`.

    Attributes
    ----------
    theta_star, L_star : float
        The minimum θ* and L* = L(θ*) (σ² included).
    c_saddle : float
        Lˢ/L* of the lower saddle: the cap of ξ.
    c_exit : float
        A threshold that only the exit reaches (any c > c_saddle is one): pass it as the
        last of the thresholds c of :func:`~logloss.stats.splitting.rare_first_passage`.
    relaxation : float
        1/(η h) steps with h the smallest curvature at the minimum: L″(θ*) and, with
        spectators, h_s (the slowest mode sets the burn-in).
    state_size : int
        1 + m: θ then φ.
    """

    def __init__(self, problem: BarrierRegression | SpectatorBarrier, *, eta: float, B: int):
        spect = problem if isinstance(problem, SpectatorBarrier) else None
        if not isinstance(spect.base if spect else problem, BarrierRegression):
            raise TypeError(f"problem must be a BarrierRegression or SpectatorBarrier, "
                            f"got {type(problem).__name__}")
        base = spect.base if spect else problem
        self.problem = problem
        self.eta = check_learning_rate(eta)
        self.B = check_batch_size(B, base.N)
        cp = base.critical_points
        self.theta_star = cp["theta_star"]
        self.lo, self.hi = cp["exit_lo"], cp["exit_hi"]
        self.saddle_lo, self.saddle_hi = cp["saddle_lo"], cp["saddle_hi"]
        self.L_star = float(base.loss(self.theta_star))
        self.L_cap = float(np.min(base.loss(np.array([self.saddle_lo, self.saddle_hi]))))
        self.c_saddle = self.L_cap / self.L_star
        self.c_exit = self.c_saddle * (1 + 1e-6)
        self._m = np.ascontiguousarray(base.m, dtype=np.float64)
        self._u = np.ascontiguousarray(spect.u if spect else np.zeros((base.N, 0)),
                                       dtype=np.float64)
        self._S4 = np.ascontiguousarray(base._S, dtype=np.float64)
        self._base = base
        h = float(base.hessian(self.theta_star))
        if spect is not None and spect.m:
            h = min(h, spect.h_spectator)
        self.relaxation = 1.0 / (self.eta * h)
        self.state_size = 1 + self._u.shape[1]

    def _model(self):
        p = self._base
        return (self._m, self._u, p.A, p.k, p.a, p.b, p.sigma, self.eta, self.B)

    def _geometry(self):
        return (self._S4, self.lo, self.hi, self.saddle_lo, self.saddle_hi, self.L_cap)

    def levels(self, states: np.ndarray) -> np.ndarray:
        """ξ of each state (module docstring), shape (R,): +∞ on exit."""
        theta = np.ascontiguousarray(np.asarray(states, dtype=np.float64)[:, 0])
        L = np.empty(theta.shape[0])
        p = self._base
        _levels_kernel(theta, self._S4, p.A, p.k, p.a, p.b, p.sigma, self.lo, self.hi,
                       self.saddle_lo, self.saddle_hi, self.L_cap, L)
        return np.log(L / self.L_star)

    def flux(self, seed: int, *, replicas: int, burn: int, steps: int, xi_A: float,
             cap: int, samples: int = 100) -> FluxRun:
        """Brute-force replicas from (θ*, 0), put back there at each exit (module docstring)."""
        b = FluxBuffers(replicas, cap=cap, burn=burn, steps=steps, samples=samples,
                        state_size=self.state_size)
        _flux_kernel(*self._model(), *self._geometry(), self.theta_star, self.L_star,
                     replica_states(seed, b.R), b.burn, b.steps, b.thin,
                     self.L_star * np.exp(xi_A), b.in_A, b.stored, b.bulk, b.levels, b.flags)
        return b.run()

    def excursions(self, states: np.ndarray, start_level: np.ndarray, seed: int, *,
                   grid: np.ndarray, xi_A: float, max_steps: int,
                   records: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> Excursions:
        """One trajectory from each state until it is back in A or leaves (θ₋, θ₊); the
        state at each level first reached goes to ``records[rows[r], level]``."""
        R, S = states.shape
        steps = np.zeros(R, dtype=np.int64)
        outcome = np.zeros(R, dtype=np.int8)
        level = np.zeros(R, dtype=np.int64)
        records, rows = record_rows(records, rows, R, grid.size, S)
        _excursion_kernel(*self._model(), *self._geometry(),
                          np.ascontiguousarray(states, dtype=np.float64),
                          np.ascontiguousarray(start_level, dtype=np.int64),
                          replica_states(seed, R), self.L_star * np.exp(grid),
                          self.L_star * np.exp(xi_A), int(max_steps), steps, outcome, level,
                          records, rows)
        return Excursions(steps, outcome, level, records)
