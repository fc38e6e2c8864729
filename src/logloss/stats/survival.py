"""Survival curves of first-passage times: is escape memoryless?

Kramers' picture (Assumption 4.3 of Mori et al. 2022) says that escape from a
quasi-stationary valley is a Poisson event: the survival function of the first-passage
time is S(t) = exp(−t/t_p), and only then is the exponential maximum-likelihood mean
(:func:`logloss.stats.first_passage.exponential_mle`) the right estimator.  This module
gives the tools to check it before any exponent is fitted:

* :func:`kaplan_meier`: the Kaplan–Meier estimate of S(t) under right censoring, with
  Greenwood's standard error;
* :func:`weibull_shape`: the maximum-likelihood shape k of a censored Weibull law
  S(t) = exp(−(t/λ)^k), with its standard error; k = 1 is the exponential law, k ≫ 1 a
  nearly deterministic relaxation time, k < 1 a mixture of fast and slow escapes;

Times are SGD steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..core.errors import InvalidInput

__all__ = ["KMCurve", "kaplan_meier", "WeibullFit", "weibull_shape"]


@dataclass(frozen=True)
class KMCurve:
    """Kaplan–Meier survival curve.

    Attributes
    ----------
    t : ndarray, shape (m,)
        Distinct crossing times t_1 < ... < t_m.
    survival : ndarray, shape (m,)
        Ŝ(t_i) = Π_{j≤i} (1 − d_j/n_j), the value just after t_i.
    stderr : ndarray, shape (m,)
        Greenwood's standard error Ŝ(t_i) √(Σ_{j≤i} d_j/(n_j(n_j − d_j))) (nan where
        Ŝ = 0).
    at_risk : ndarray of int, shape (m,)
        n_i, replicas not yet crossed nor censored just before t_i.
    crossings : int
        Number of observed crossings.
    replicas : int
        Number of replicas.
    """

    t: np.ndarray
    survival: np.ndarray
    stderr: np.ndarray
    at_risk: np.ndarray
    crossings: int
    replicas: int

    def at(self, times) -> np.ndarray:
        """Ŝ evaluated at ``times`` (right-continuous step function, 1 before t_1)."""
        i = np.searchsorted(self.t, np.asarray(times, dtype=float), side="right")
        return np.concatenate([[1.0], self.survival])[i]


def _check(times, observed) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float).ravel()
    o = np.asarray(observed, dtype=bool).ravel()
    if t.shape != o.shape or t.size == 0:
        raise InvalidInput("times and observed must be non-empty and of equal length")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise InvalidInput("first-passage and censoring times must be finite and >= 0")
    return t, o


def kaplan_meier(times, observed) -> KMCurve:
    """Kaplan–Meier estimate of the survival function under right censoring.

    Parameters
    ----------
    times : array_like, shape (R,)
        Crossing time of each replica that crossed, censoring time of the others.
    observed : array_like of bool, shape (R,)
        True where the replica crossed.  A replica censored at t is at risk at t (the
        usual convention: crossings at t happen before censoring at t).

    Returns
    -------
    KMCurve

    References
    ----------
    Kaplan & Meier (1958); Greenwood (1926) for the variance.
    """
    t, o = _check(times, observed)
    ev = np.unique(t[o])
    n = np.array([(t >= s).sum() for s in ev], dtype=float)
    dd = np.array([((t == s) & o).sum() for s in ev], dtype=float)
    S = np.cumprod(1.0 - dd / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.cumsum(np.where(n > dd, dd / (n * (n - dd)), np.inf))
        se = np.where(S > 0, S * np.sqrt(g), np.nan)
    return KMCurve(ev, S, se, n.astype(int), int(o.sum()), int(t.size))


@dataclass(frozen=True)
class WeibullFit:
    """Censored Weibull fit S(t) = exp(−(t/scale)^shape).

    Attributes
    ----------
    shape, shape_stderr : float
        k and its standard error from the observed information (profile likelihood
        curvature in log k).
    scale : float
        λ at the maximum.
    crossings : int
        Observed crossings (the fit needs at least 3).
    """

    shape: float
    shape_stderr: float
    scale: float
    crossings: int

    @property
    def z_exponential(self) -> float:
        """(k − 1)/s.e.: the departure from memoryless escape in standard errors."""
        return (self.shape - 1.0) / self.shape_stderr


def weibull_shape(times, observed, *, offset: float = 0.0) -> WeibullFit:
    """Maximum-likelihood Weibull shape of censored first-passage times.

    Parameters
    ----------
    times, observed : array_like, shape (R,)
        As in :func:`kaplan_meier`.
    offset : float
        Subtracted from every time first (for example 0.5 to put discrete crossing
        steps k ≥ 1 at the middle of their step).

    Notes
    -----
    For fixed k the scale is profiled out, λ^k = Σ_r t_r^k / d, leaving the profile
    log-likelihood ℓ(k) = d log k + (k − 1) Σ_obs log t_r − d log(Σ_r t_r^k / d) − d.
    k is found by bounded maximisation in log k; its standard error is
    k/√(−∂²ℓ/∂(log k)²).
    """
    t, o = _check(times, observed)
    t = t - offset
    if np.any(t <= 0):
        raise InvalidInput("times minus offset must be > 0 for a Weibull fit")
    d = int(o.sum())
    if d < 3:
        raise InvalidInput(f"a Weibull fit needs >= 3 crossings, got {d}")
    lt = np.log(t)
    lt_obs = lt[o].sum()
    scale0 = np.exp(lt.mean())

    def prof(logk):
        k = np.exp(logk)
        s = np.sum(np.exp(k * (lt - np.log(scale0))))  # Σ (t/scale0)^k, stable
        return -(d * logk + (k - 1) * lt_obs - d * (np.log(s / d) + k * np.log(scale0)) - d)

    res = optimize.minimize_scalar(prof, bounds=(np.log(0.02), np.log(200.0)), method="bounded",
                                   options={"xatol": 1e-9})
    lk = float(res.x)
    h = 1e-3
    curv = (prof(lk + h) - 2 * prof(lk) + prof(lk - h)) / h**2
    k = float(np.exp(lk))
    se = k / np.sqrt(curv) if curv > 0 else float("nan")
    scale = float(np.exp((np.log(np.sum(t**k) / d)) / k))
    return WeibullFit(k, float(se), scale, d)
