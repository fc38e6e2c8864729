"""The paper's decoupled-noise model of SGD near a minimum, as a rare-event System.

Paper Eqs. (7) and (12) replace SGD near θ* by a quadratic loss with the decoupled
minibatch noise Σ = 2L·H/B, whose amplitude follows the loss itself.  In the eigenbasis
of H (eigenvalues h_i, coordinates u_i),

    L = L* + ½ Σ_i h_i u_i²,      u_i ← (1 − ηh_i) u_i + η √(2L h_i / B) ξ_i,

with ξ_i independent standard normals and L the loss *before* the step.  This is the
model's time discretised at the SGD step (continuous time t = ηk gives the SDE
du_i = −h_i u_i dt + √(2ηL h_i/B) dW_i that paper Eq. (15) is derived for); it is
stable when ηh_i < 2 for all i.

**Lumped directions.**  The loss sees only q_j = Σ_{i∈j} u_i² of a group j of m_j
directions with the same h_j, and q_j is itself a Markov chain: with a = 1 − ηh_j,
b = η√(2L h_j/B) and r = √q_j, the projection of ξ on u/|u| is one standard normal z and
the rest is χ²_{m_j − 1}, so

    q_j ← (a r + b z)² + b² χ²_{m_j − 1},

exact in law.  A spectrum of P eigenvalues with a few distinct values (top outliers one
by one, the bulk in a few groups) thus costs a few draws per step.

**Stationary mean.**  E[q_j'] = a² E[q_j] + 2m_j η² h_j E[L]/B gives exactly
E[L]/L* = 1/(1 − S), S = (η/B) Σ_j m_j h_j/(2 − ηh_j), finite for S < 1
(:meth:`NoiseModelSystem.mean_loss_ratio`), a check of the kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from ..core.errors import InvalidInput, SGDDiverged
from ..core.validation import check_learning_rate, check_positive_int
from .excursions import Excursions, FluxBuffers, FluxRun, _climb, _observe, record_rows
from .rng import gamma, normal, replica_states

__all__ = ["NoiseModelSystem", "lumped_spectrum"]


@numba.njit(cache=True, inline="always")
def _step(q, h, m, eta, B, L_star, L, s0, s1):
    """One step of every group, in place on q; returns (the new L, s0, s1)."""
    total = 0.0
    for j in range(q.shape[0]):
        a = 1.0 - eta * h[j]
        b2 = 2.0 * eta * eta * L * h[j] / B
        z, s0, s1 = normal(s0, s1)
        v = a * np.sqrt(q[j]) + np.sqrt(b2) * z
        qn = v * v
        if m[j] > 1:
            g, s0, s1 = gamma(0.5 * (m[j] - 1), s0, s1)
            qn += 2.0 * b2 * g
        q[j] = qn
        total += h[j] * qn
    return L_star + 0.5 * total, s0, s1


@numba.njit(cache=True, nogil=True)
def _flux_kernel(h, m, eta, B, L_star, states, burn, steps, thin, L_A, in_A, stored, bulk,
                 levels, diverged):
    R = states.shape[0]
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        q = np.zeros(h.shape[0])
        L = L_star
        for k in range(1, burn + steps + 1):
            L, s0, s1 = _step(q, h, m, eta, B, L_star, L, s0, s1)
            if not np.isfinite(L):
                diverged[r] = k
                break
            _observe(L, L_star, L_A, k, burn, thin, r, q, in_A, levels, stored, bulk)


@numba.njit(cache=True, nogil=True)
def _excursion_kernel(h, m, eta, B, L_star, starts, start_level, states, grid_L, L_A,
                      max_steps, steps_out, outcome, level, records, rows):
    R = starts.shape[0]
    G = grid_L.shape[0]
    for r in range(R):
        s0, s1 = states[r, 0], states[r, 1]
        q = starts[r].copy()
        L = L_star + 0.5 * np.sum(h * q)
        g = start_level[r]
        out = 1 if g >= G - 1 else 2
        k = 0
        while out == 2 and k < max_steps:
            k += 1
            L, s0, s1 = _step(q, h, m, eta, B, L_star, L, s0, s1)
            if not np.isfinite(L):
                out = 3
                break
            if L <= L_A:
                out = 0
                break
            g = _climb(L, g, grid_L, records, rows[r], q)
            if g == G - 1:
                out = 1
        steps_out[r] = k
        outcome[r] = out
        level[r] = g


def lumped_spectrum(eigenvalues, *, trace: float, trace_sq: float, P: int,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """A spectrum for the noise model from the measured top eigenvalues and traces.

    The top-k eigenvalues h_1 … h_k are kept one by one; the other P − k directions (the
    bulk, whose eigenvalues are not resolved) become one group of m equal eigenvalues h_b
    with the bulk's own trace and square trace, m·h_b = tr H − Σ_{i≤k} h_i and
    m·h_b² = tr H² − Σ_{i≤k} h_i², i.e. m = (bulk trace)²/(bulk square trace) rounded
    (at most P − k) and h_b = bulk trace/m.  Then tr H is exact, and tr H² and the
    participation ratio (tr H)²/tr H² are the net's up to the rounding of m.

    Parameters
    ----------
    eigenvalues : array_like
        The top-k eigenvalues (decreasing or not).
    trace, trace_sq : float
        tr H and tr H² of the whole matrix.
    P : int
        Its size (number of parameters).

    Returns
    -------
    h, m : ndarray
        Eigenvalues and their multiplicities (int64), top first.
    """
    top = np.sort(np.asarray(eigenvalues, dtype=float))[::-1]
    P = check_positive_int(P, "P (number of parameters)")
    if top.size == 0 or not np.all(np.isfinite(top)) or top.min() < 0 or top.size > P:
        raise InvalidInput("eigenvalues must be 1 to P finite numbers >= 0")
    tr_b, tr2_b = float(trace) - top.sum(), float(trace_sq) - float(np.sum(top**2))
    h, m = top, np.ones(top.size, dtype=np.int64)
    if top.size == P:
        return h, m
    if not (tr_b > 0 and tr2_b > 0):
        raise InvalidInput(f"the bulk (tr H − Σ top = {tr_b:.4g}, tr H² − Σ top² = {tr2_b:.4g}) "
                           "must have positive trace and square trace")
    mb = int(min(P - top.size, max(1, round(tr_b**2 / tr2_b))))
    return np.append(h, tr_b / mb), np.append(m, mb)


class NoiseModelSystem:
    """The decoupled-noise model (paper Eqs. 7, 12) as a :class:`~logloss.stats.splitting.System`.

    L = L* + ½ Σ_j h_j q_j with q_j the squared radius of a group of m_j directions of
    curvature h_j, stepped at the SGD step (module docstring).  The state is q (one entry
    per group); θ* is q = 0.

    Parameters
    ----------
    eigenvalues : array_like
        h_j > 0 (e.g. the Gauss–Newton eigenvalues of a net, :func:`lumped_spectrum`).
    multiplicities : array_like of int, optional
        m_j ≥ 1 (default all 1).
    eta, B : float
        Learning rate η and minibatch size B (keyword-only; B enters as 2L h/B only, so any
        B > 0 is accepted).
    L_star : float
        L(θ*) > 0.  ξ = log(L/L*) does not depend on it.

    Attributes
    ----------
    h_star : float
        max h_j.
    relaxation : float
        1/(η h*) steps.
    """

    def __init__(self, eigenvalues, multiplicities=None, *, eta: float, B: float,
                 L_star: float = 1.0):
        h = np.asarray(eigenvalues, dtype=float).ravel()
        if h.size == 0 or not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise InvalidInput("eigenvalues h_j must be a non-empty list of finite numbers > 0")
        m = (np.ones(h.size, dtype=np.int64) if multiplicities is None
             else np.asarray(multiplicities).ravel())
        if m.shape != h.shape or np.any(m < 1) or np.any(m != np.round(m)):
            raise InvalidInput(f"multiplicities must be {h.size} integers >= 1")
        self.eta = check_learning_rate(eta)
        if not (np.isfinite(B) and B > 0):
            raise InvalidInput(f"minibatch size B must be a finite number > 0, got {B!r}")
        self.B = float(B)
        if not (np.isfinite(L_star) and L_star > 0):
            raise InvalidInput(f"L_star must be a finite number > 0, got {L_star!r}")
        if self.eta * h.max() >= 2:
            raise InvalidInput(f"eta·h_max = {self.eta * h.max():.3g} >= 2: the model's steps "
                               "are unstable; lower η")
        self.h = np.ascontiguousarray(h)
        self.m = np.ascontiguousarray(m, dtype=np.int64)
        self.L_star = float(L_star)
        self.h_star = float(h.max())
        self.state_size = int(h.size)
        self.relaxation = 1.0 / (self.eta * self.h_star)

    @property
    def participation_ratio(self) -> float:
        """(tr H)²/tr H² of the model's spectrum."""
        return float(np.sum(self.m * self.h) ** 2 / np.sum(self.m * self.h**2))

    def mean_loss_ratio(self) -> float:
        """E[L]/L* in the stationary state, 1/(1 − S) with S = (η/B) Σ m_j h_j/(2 − ηh_j)
        (exact for the discrete chain; inf where S ≥ 1, the mean diverges)."""
        S = self.eta / self.B * float(np.sum(self.m * self.h / (2 - self.eta * self.h)))
        return 1.0 / (1.0 - S) if S < 1 else float("inf")

    def levels(self, states: np.ndarray) -> np.ndarray:
        q = np.atleast_2d(np.asarray(states, dtype=float))
        return np.log1p(0.5 * (q @ self.h) / self.L_star)

    def flux(self, seed: int, *, replicas: int, burn: int, steps: int, xi_A: float,
             cap: int, samples: int = 100) -> FluxRun:
        b = FluxBuffers(replicas, cap=cap, burn=burn, steps=steps, samples=samples,
                        state_size=self.state_size)
        _flux_kernel(self.h, self.m, self.eta, self.B, self.L_star, replica_states(seed, b.R),
                     b.burn, b.steps, b.thin, self.L_star * np.exp(xi_A), b.in_A, b.stored,
                     b.bulk, b.levels, b.flags)
        self._check(b.flags)
        return b.run()

    def excursions(self, states: np.ndarray, start_level: np.ndarray, seed: int, *,
                   grid: np.ndarray, xi_A: float, max_steps: int,
                   records: np.ndarray | None = None,
                   rows: np.ndarray | None = None) -> Excursions:
        R, S = states.shape
        G = grid.size
        steps = np.zeros(R, dtype=np.int64)
        outcome = np.zeros(R, dtype=np.int8)
        level = np.zeros(R, dtype=np.int64)
        records, rows = record_rows(records, rows, R, G, S)
        _excursion_kernel(self.h, self.m, self.eta, self.B, self.L_star,
                          np.ascontiguousarray(states, dtype=np.float64),
                          np.ascontiguousarray(start_level, dtype=np.int64),
                          replica_states(seed, R), self.L_star * np.exp(np.asarray(grid, float)),
                          self.L_star * np.exp(xi_A), int(max_steps), steps, outcome, level,
                          records, rows)
        self._check(np.where(outcome == 3, steps, 0))
        return Excursions(steps, outcome, level, records)

    def _check(self, diverged: np.ndarray) -> None:
        if np.any(diverged > 0):
            raise SGDDiverged(f"the noise model's loss overflowed with eta (η) = {self.eta}, "
                              f"B = {self.B:g}: its stationary law has too heavy a tail")
