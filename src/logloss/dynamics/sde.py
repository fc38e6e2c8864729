"""Euler–Maruyama (Itô) integrators for SGD's SDE near a minimum and its time change.

Near a minimum θ* of a quadratic loss L(θ) = L* + ½uᵀHu, u = θ − θ*, the paper's SDE with
the decoupled noise Σ ≈ (2L/B)H (Eq. 12) is

    dθ_t = −∇L(θ_t) dt + √(2ηL(θ_t)/B) H^{1/2} dW_t,                          (Eq. 12)

and with the random clock τ = ∫₀ᵗ L(θ_s) ds (Eq. 13), θ̃_τ = θ_{t(τ)} obeys

    dθ̃_τ = −∇log L(θ̃_τ) dτ + √(2η/B) H^{1/2} dW̃_τ.                          (Eq. 14)

Both integrators run many independent replicas (numba, ``prange``) from explicit seeds
(one xoroshiro128+ stream per replica), as :mod:`logloss.sgd_linreg` does.  The
integrator of Eq. (12) also accumulates the clock τ (left-point Itô sum Σ L(θ_n)Δt) and
records θ when τ first reaches given values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ..core.errors import SGDDiverged
from ..core.resources import NORMAL_DRAW
from ..core.validation import check_learning_rate, check_positive_int
from .chunks import run_in_chunks
from .rng import normal, replica_states

__all__ = ["SDERun", "QuadraticMinimum", "em_sgd_sde", "em_log_sde"]


@dataclass(frozen=True)
class QuadraticMinimum:
    """A quadratic loss L(θ) = L* + ½(θ − θ*)ᵀH(θ − θ*).

    Attributes
    ----------
    H : ndarray, shape (d, d)
        Hessian at the minimum (symmetric positive definite).
    L_star : float
        L(θ*) > 0.
    """

    H: np.ndarray
    L_star: float

    @property
    def d(self) -> int:
        return self.H.shape[0]

    def loss(self, u: np.ndarray) -> np.ndarray:
        """L at u = θ − θ*, shape (..., d)."""
        u = np.asarray(u, dtype=float)
        return self.L_star + 0.5 * np.einsum("...i,ij,...j->...", u, self.H, u)

    def sqrt_hessian(self) -> np.ndarray:
        w, V = np.linalg.eigh(self.H)
        if np.any(w <= 0):
            raise ValueError("Hessian H must be positive definite")
        return (V * np.sqrt(w)) @ V.T


@dataclass
class SDERun:
    """The outcome of :func:`em_sgd_sde` or :func:`em_log_sde`.

    Attributes
    ----------
    samples : ndarray, shape (n_records, replicas, d)
        u = θ − θ* every ``record_every`` steps.
    tau : ndarray, shape (n_records, replicas)
        The clock τ at the recorded steps (for Eq. 14, τ = n·Δτ itself).
    at_tau : ndarray, shape (n_targets, replicas, d)
        For Eq. (12): u at the first step where τ ≥ each target (NaN if never reached).
    u_final : ndarray, shape (replicas, d)
    """

    samples: np.ndarray
    tau: np.ndarray
    at_tau: np.ndarray
    u_final: np.ndarray


@numba.njit(cache=True, parallel=True)
def _em_kernel(H, Hs, L_star, a, dt, k0, k1, u_all, tau_all, nxt_all, states, record_every,
               targets, log_form, samples, taus, at_tau):
    """Steps k0 + 1, …, k1 of every replica, from its u (``u_all[r]``), clock τ
    (``tau_all[r]``), targets reached (``nxt_all[r]``) and generator (``states[r]``),
    all updated in place."""
    # log_form = False: du = −Hu dt + √(a·L·dt) Hs ξ,  τ += L dt     (Eq. 12, a = 2η/B)
    # log_form = True:  du = −Hu/L dt + √(a·dt) Hs ξ,  τ = t           (Eq. 14)
    R, d = u_all.shape
    n_t = targets.shape[0]
    for r in numba.prange(R):
        s0 = states[r, 0]
        s1 = states[r, 1]
        u = u_all[r].copy()  # private: rows of a shared array share cache lines between threads
        xi = np.empty(d)
        Hu = np.empty(d)
        tau = tau_all[r]
        nxt = nxt_all[r]
        for k in range(k0 + 1, k1 + 1):
            q = 0.0
            for i in range(d):
                s = 0.0
                for j in range(d):
                    s += H[i, j] * u[j]
                Hu[i] = s
                q += u[i] * s
            L = L_star + 0.5 * q
            for i in range(d):
                xi[i], s0, s1 = normal(s0, s1)
            if log_form:
                drift = 1.0 / L
                amp = np.sqrt(a * dt)
                tau += dt
            else:
                drift = 1.0
                amp = np.sqrt(a * L * dt)
                tau += L * dt
            for i in range(d):
                noise = 0.0
                for j in range(d):
                    noise += Hs[i, j] * xi[j]
                u[i] += -drift * Hu[i] * dt + amp * noise
            while nxt < n_t and tau >= targets[nxt]:
                for i in range(d):
                    at_tau[nxt, r, i] = u[i]
                nxt += 1
            if record_every > 0 and k % record_every == 0:
                row = k // record_every - 1
                taus[row, r] = tau
                for i in range(d):
                    samples[row, r, i] = u[i]
        u_all[r] = u
        tau_all[r] = tau
        nxt_all[r] = nxt
        states[r, 0] = s0
        states[r, 1] = s1


def _run(model, eta, B, dt, steps, replicas, seed, u0, record_every, tau_targets, log_form):
    check_learning_rate(eta)
    if not B > 0:
        raise ValueError(f"minibatch size B must be > 0, got {B!r}")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"time step dt must be > 0, got {dt!r}")
    if not model.L_star > 0:
        raise ValueError(f"L* must be > 0 for the time change, got {model.L_star!r}")
    replicas = check_positive_int(replicas, "number of replicas")
    d = model.d
    u0 = np.zeros(d) if u0 is None else np.asarray(u0, dtype=float)
    u0 = np.ascontiguousarray(np.broadcast_to(u0, (replicas, d)))
    targets = np.ascontiguousarray(np.sort(np.atleast_1d(
        np.asarray(tau_targets if tau_targets is not None else [], dtype=float))))
    n_rec = steps // record_every if record_every > 0 else 0
    samples = np.full((n_rec, replicas, d), np.nan)
    taus = np.full((n_rec, replicas), np.nan)
    at_tau = np.full((targets.size, replicas, d), np.nan)
    H = np.ascontiguousarray(model.H, dtype=float)
    Hs = np.ascontiguousarray(model.sqrt_hessian())
    u_final = u0.copy()  # each replica's u, carried from call to call
    tau = np.zeros(replicas)
    nxt = np.zeros(replicas, dtype=np.int64)
    states = replica_states(seed, replicas)

    def call(_lo, _hi, k0, k1):  # every replica (one group), steps k0 + 1..k1
        _em_kernel(H, Hs, float(model.L_star), 2 * eta / B, float(dt), k0, k1, u_final, tau, nxt,
                   states, int(record_every), targets, bool(log_form), samples, taus, at_tau)
        return False

    run_in_chunks(call, replicas=replicas, steps=int(steps), work=d * NORMAL_DRAW + 2 * d * d,
                  group=replicas, desc="Euler-Maruyama replicas")
    if not np.all(np.isfinite(u_final)):
        raise SGDDiverged(f"Euler–Maruyama diverged with dt = {dt}, eta (η) = {eta}; lower dt")
    return SDERun(samples, taus, at_tau, u_final)


def em_sgd_sde(model: QuadraticMinimum, *, eta: float, B: float, dt: float, steps: int,
               replicas: int, seed: int, u0: np.ndarray | None = None, record_every: int = 0,
               tau_targets: np.ndarray | None = None) -> SDERun:
    """Euler–Maruyama for Eq. (12), dθ = −∇L dt + √(2ηL/B) H^{1/2} dW, with τ = ∫L dt.

    Parameters
    ----------
    model : QuadraticMinimum
        H and L*.
    eta, B : float
        Learning rate η and minibatch size B (they enter only through η/B).
    dt : float
        Time step Δt in continuous time t = ηk.
    steps : int
        Number of steps.
    replicas : int
        Independent replicas.
    seed : int
        Master seed (per-replica xoroshiro128+ streams, :func:`logloss.dynamics.rng.replica_states`;
        d draws of :func:`~logloss.dynamics.rng.normal` per step).
    u0 : ndarray, shape (d,) or (replicas, d), optional
        Initial u = θ − θ* (default 0).
    record_every : int
        Record u and τ every this many steps (0: none).
    tau_targets : array of float, optional
        Clock values τ at which to record u (first step with τ ≥ target).
    """
    return _run(model, eta, B, dt, steps, replicas, seed, u0, record_every, tau_targets, False)


def em_log_sde(model: QuadraticMinimum, *, eta: float, B: float, dtau: float, steps: int,
               replicas: int, seed: int, u0: np.ndarray | None = None,
               record_every: int = 0) -> SDERun:
    """Euler–Maruyama for Eq. (14), dθ̃ = −∇log L dτ + √(2η/B) H^{1/2} dW̃, in the clock τ."""
    return _run(model, eta, B, dtau, steps, replicas, seed, u0, record_every, None, True)
