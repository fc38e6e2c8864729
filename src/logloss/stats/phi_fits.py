"""Fits of the stationary law P ∝ L^(−φ) and of tail indices, with honest standard errors.

Samples of θ from one SGD trajectory are correlated, so no fit here treats them as
independent.  Every function takes samples shaped ``(n, R)``: n samples along each of R
independent replicas (or R independent blocks).  A fit is a smooth function of a mean
over samples; its standard error is the spread of the R replica means, divided by √R,
propagated by the delta method (or, for the histogram and Hill fits, the spread of the
fit over groups of replicas).

The family is P(θ) ∝ L(θ)^(−φ) with L(θ) = L* + ½uᵀHu, u = θ − θ*, in d dimensions.  With
q = (L − L*)/L*, the density of q is ∝ q^(d/2 − 1) (1 + q)^(−φ), a beta-prime law, so that

    E[log(L/L*)] = ψ(φ) − ψ(φ − d/2),      E[L − L*] = (d/2) L* / (φ − 1 − d/2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma, polygamma

from ..core.measured import Measured, standard_error

__all__ = ["phi_mle", "phi_moment", "phi_histogram", "hill", "HillPlot", "hill_plot", "hill_tail_index",
           "replica_mean", "ks_power_law"]


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"{name} must have shape (n, R) with R >= 2 replicas, got {a.shape}")
    return a


def replica_mean(values: np.ndarray) -> Measured:
    """Mean of ``values`` (n, R) with the standard error from the R replica means."""
    v = _as_2d(values, "values")
    means = v.mean(axis=0)
    return Measured.from_samples(means)


def phi_mle(L: np.ndarray, L_star: float, d: int = 1) -> Measured:
    """Maximum-likelihood φ of P ∝ L^(−φ) given sampled losses.

    Parameters
    ----------
    L : ndarray, shape (n, R)
        Loss values L(θ) at the sampled θ (n per replica, R independent replicas).
    L_star : float
        L(θ*) at the minimum.
    d : int
        Dimension of θ (the family's normalisation depends on it).

    Returns
    -------
    Measured
        φ̂ solving ψ(φ) − ψ(φ − d/2) = mean log(L/L*) (the score equation), with the
        standard error of the replica means propagated through the score.
    """
    if not L_star > 0:
        raise ValueError(f"L* must be > 0, got {L_star!r}")
    m = replica_mean(np.log(_as_2d(L, "L") / L_star))
    if not m.value > 0:
        raise ValueError("mean log(L/L*) must be > 0 (samples at the minimum only?)")
    F = lambda p: digamma(p) - digamma(p - d / 2) - m.value  # noqa: E731 (decreasing in p)
    lo, hi = d / 2 + 1e-12, d / (2 * m.value) + 10.0
    while F(hi) > 0:
        hi *= 2
    p = brentq(F, lo, hi, xtol=1e-12, rtol=1e-14)
    slope = polygamma(1, p) - polygamma(1, p - d / 2)
    return Measured(float(p), float(m.stderr / abs(slope)))


def phi_moment(L: np.ndarray, L_star: float, d: int = 1) -> Measured:
    """Moment-matched φ: the φ of the family with the sampled mean of L − L*.

    φ = 1 + d/2 + (d/2)·L*/E[L − L*]; for d = 1, E[u²] = 2L*/(h*(2φ − 3)).  This is the
    estimator that corresponds to :func:`logloss.theory.phi_discrete`.  Its standard error
    needs E[(L − L*)²] < ∞, i.e. a tail index of |u| above 4.
    """
    m = replica_mean(_as_2d(L, "L") - L_star)
    if not m.value > 0:
        raise ValueError("mean L − L* must be > 0")
    p = 1.0 + d / 2 + (d / 2) * L_star / m.value
    return Measured(float(p), float((d / 2) * L_star / m.value**2 * m.stderr))


def _hist_fit(u: np.ndarray, edges: np.ndarray, h: float, L_star: float) -> float:
    counts, _ = np.histogram(u, edges)
    centres = 0.5 * (edges[1:] + edges[:-1])
    keep = counts > 0
    x = np.log1p(h * centres[keep] ** 2 / (2 * L_star))  # log(L/L*)
    w = counts[keep].astype(float)  # Var(log n) ≈ 1/n: weights n
    A = np.stack([np.ones_like(x), -x], axis=1)
    coef = np.linalg.lstsq(A * np.sqrt(w)[:, None], np.log(w) * np.sqrt(w), rcond=None)[0]
    return float(coef[1])


def phi_histogram(u: np.ndarray, h: float, L_star: float, *, bins: int = 60,
                  groups: int = 10, coverage: float = 0.999) -> Measured:
    """Histogram fit of φ for d = 1, as in the paper: log counts against log(L/L*).

    Parameters
    ----------
    u : ndarray, shape (n, R)
        Sampled u = θ − θ* (n per replica, R replicas).
    h : float
        h* (the Hessian, a scalar for d = 1).
    L_star : float
        L(θ*).
    bins : int
        Number of equal-width bins on the central ``coverage`` fraction of the samples.
    groups : int
        The replicas are split into this many groups; the standard error is the spread
        of the fit over groups divided by √groups.

    Returns
    -------
    Measured
        φ from a weighted least-squares fit of log n_i = c − φ log(L(u_i)/L*) over bins
        (weights n_i, the inverse Poisson variance of log n_i).
    """
    u = _as_2d(u, "u")
    groups = min(groups, u.shape[1])
    tail = (1 - coverage) / 2
    lo, hi = np.quantile(u, [tail, 1 - tail])
    edges = np.linspace(lo, hi, bins + 1)
    value = _hist_fit(u.ravel(), edges, h, L_star)
    parts = np.array_split(np.arange(u.shape[1]), groups)
    fits = np.array([_hist_fit(u[:, idx].ravel(), edges, h, L_star) for idx in parts])
    return Measured(value, float(standard_error(fits)))


def hill(x: np.ndarray, k: int) -> float:
    """Hill's estimator of the tail index α of P(X > x) ~ x^(−α) from the k largest values.

    α̂ = [ (1/k) Σ_{i<k} log(X_(i)/X_(k)) ]^(−1), X_(0) ≥ X_(1) ≥ ... the order statistics.
    """
    x = np.asarray(x, dtype=float).ravel()
    if not 1 <= k < x.size:
        raise ValueError(f"Hill estimator needs 1 <= k < n, got k={k}, n={x.size}")
    top = -np.partition(-x, k)[: k + 1]
    top.sort()
    top = top[::-1]
    return float(1.0 / np.mean(np.log(top[:k] / top[k])))


def _hill_curve(x: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Hill's α̂ at each k of ``ks`` from one sort of the samples ``x``."""
    logs = np.sort(np.log(np.asarray(x, dtype=float).ravel()))[::-1]
    mean_top = np.cumsum(logs)[ks - 1] / ks
    return 1.0 / (mean_top - logs[ks])


@dataclass(frozen=True)
class HillPlot:
    """Hill's estimator over a range of tail fractions: a Hill plot with standard errors.

    Attributes
    ----------
    fraction : ndarray, shape (m,)
        The top fractions k/n of the samples, in the order given.
    k : ndarray of int, shape (m,)
        The number of order statistics used at each fraction (pooled samples).
    alpha : ndarray, shape (m,)
        Hill's α̂ from the pooled samples at each k.
    stderr : ndarray, shape (m,)
        Its standard error: the spread of the same estimate over groups of replicas,
        divided by √groups (extremes cluster along a trajectory).  Statistical only.
    per_group : ndarray, shape (groups, m)
        The estimates of each group of replicas, for the error of differences.
    """

    fraction: np.ndarray
    k: np.ndarray
    alpha: np.ndarray
    stderr: np.ndarray
    per_group: np.ndarray

    def at(self, i: int) -> Measured:
        """α̂ at the i-th fraction, with its standard error."""
        return Measured(float(self.alpha[i]), float(self.stderr[i]))

    def change(self, i: int, j: int) -> Measured:
        """α̂ at fraction j minus α̂ at fraction i, with the group spread of the difference.

        Hill's bias shrinks as k/n → 0 (the top order statistics reach deeper into the
        asymptotic tail), so a significant change from a larger to a smaller fraction
        shows the bias of the larger one; a change within its error shows none resolved.
        """
        d = self.per_group[:, j] - self.per_group[:, i]
        return Measured(float(self.alpha[j] - self.alpha[i]), float(standard_error(d)))


def hill_plot(x: np.ndarray, fractions, *, groups: int = 20) -> HillPlot:
    """Hill's tail index of positive samples ``x`` (n, R) at several top fractions.

    Parameters
    ----------
    x : ndarray, shape (n, R)
        Positive samples, n along each of R independent replicas (for example |u| of SGD).
    fractions : array_like
        Top fractions k/n in (0, 1); each must leave at least 10 order statistics in
        every group of replicas.
    groups : int
        The replicas are split into this many groups for the standard errors.

    Returns
    -------
    HillPlot
        α̂(k) of P(X > x) ~ x^(−α) with standard errors.  Hill's estimator is biased where
        the top fraction is not deep in the asymptotic tail (for a Kesten–Goldie tail, it
        lies below the index at large k): read the plot over k, not one number.

    References
    ----------
    Hill, *Ann. Statist.* 3 (1975); Resnick, *Heavy-Tail Phenomena* (2007), Sec. 4.4.
    """
    x = _as_2d(x, "x")
    if np.any(~(x > 0)):
        raise ValueError("Hill's estimator needs positive samples")
    fr = np.atleast_1d(np.asarray(fractions, dtype=float))
    if np.any((fr <= 0) | (fr >= 1)):
        raise ValueError(f"fractions must lie in (0, 1), got {fr}")
    groups = min(int(groups), x.shape[1])
    if groups < 2:
        raise ValueError("hill_plot needs >= 2 groups of replicas for its standard errors")
    parts = np.array_split(np.arange(x.shape[1]), groups)
    k_group = [(fr * x[:, idx].size).astype(int) for idx in parts]
    if min(int(kg.min()) for kg in k_group) < 10:
        raise ValueError(f"the smallest fraction {fr.min():g} leaves < 10 order statistics in a "
                         f"group of {x.shape[0]} x {len(parts[-1])} samples; use more samples")
    k = (fr * x.size).astype(int)
    alpha = _hill_curve(x, k)
    per_group = np.array([_hill_curve(x[:, idx], kg) for idx, kg in zip(parts, k_group)])
    return HillPlot(fr, k, alpha, standard_error(per_group, axis=0), per_group)


def hill_tail_index(x: np.ndarray, fraction: float, *, groups: int = 20) -> Measured:
    """Hill tail index of positive samples ``x`` (n, R) from their top ``fraction``.

    One point of :func:`hill_plot`: the estimate pools all samples; the standard error is
    the spread over ``groups`` groups of replicas.  It is a statistical error only: Hill's
    bias from a not-yet-asymptotic tail is not in it (read :func:`hill_plot` over k).
    """
    return hill_plot(x, [fraction], groups=groups).at(0)


def ks_power_law(L: np.ndarray, L_star: float, phi: float, d: int = 1, *,
                 every: int = 1, q_max: float | None = None):
    """Kolmogorov–Smirnov test of sampled losses against the law P ∝ L^(−φ).

    Under that law q = (L − L*)/L* is beta-prime(d/2, φ − d/2).

    Parameters
    ----------
    L : ndarray, shape (n, R)
        Sampled losses along R replicas.
    L_star, phi : float
        L(θ*) and the exponent to test (for example the fitted one).
    d : int
        Dimension of θ.
    every : int
        Keep every ``every``-th sample of each replica, so that the kept samples are
        nearly independent (KS assumes independent draws).
    q_max : float, optional
        Test only the body q ≤ q_max, against the law conditioned on it.

    Returns
    -------
    (statistic, p_value, n) : tuple
        The KS distance, its p-value and the number of samples used.  With φ fitted to
        the same samples the p-value is conservative (too large).
    """
    from scipy import stats

    q = (_as_2d(L, "L")[::int(every)] - L_star).ravel() / L_star
    law = stats.betaprime(d / 2, phi - d / 2)
    if q_max is None:
        res = stats.kstest(q, law.cdf)
    else:
        q = q[q <= q_max]
        top = law.cdf(q_max)
        res = stats.kstest(q, lambda x: law.cdf(x) / top)
    return float(res.statistic), float(res.pvalue), int(q.size)
