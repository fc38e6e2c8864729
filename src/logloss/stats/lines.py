"""The one straight-line fitter of logloss, and power laws fitted as lines on log–log axes.

Ordinary least squares is :func:`scipy.stats.linregress`; where the points carry standard
errors, weighted least squares with weights 1/σ² (the slope's standard error then comes
from the stated errors, not from the scatter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..core.errors import InvalidInput

__all__ = ["LineFit", "fit_line", "fit_power_law", "local_slopes", "rolling_slopes"]


@dataclass(frozen=True)
class LineFit:
    """A straight-line fit y = slope · x + intercept.

    Attributes
    ----------
    slope, slope_stderr : float
        Fitted slope and its standard error.
    intercept : float
        Fitted intercept.
    n : int
        Number of points.
    weighted : bool
        Whether the fit used the points' standard errors.
    """

    slope: float
    slope_stderr: float
    intercept: float
    n: int
    weighted: bool = False


def fit_line(x, y, *, sigma=None) -> LineFit:
    """Fit y = slope · x + intercept (≥ 3 finite points; OLS, or WLS with ``sigma``).

    Parameters
    ----------
    x, y : array_like
        The points.
    sigma : array_like, optional
        Standard errors of y (all finite and > 0): weighted least squares with weights
        1/σ², slope standard error √((XᵀWX)⁻¹)₁₁.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InvalidInput(f"a line fit needs 1-d x and y of equal length, got {x.shape} and {y.shape}")
    if x.size < 3 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidInput(f"a line fit needs >= 3 finite points, got {x.size}")
    if np.ptp(x) == 0:
        raise InvalidInput("a line fit needs at least two distinct x values")
    if sigma is None:
        r = stats.linregress(x, y)
        return LineFit(float(r.slope), float(r.stderr), float(r.intercept), int(x.size))
    s = np.asarray(sigma, dtype=float)
    if s.shape != y.shape or not np.all(np.isfinite(s) & (s > 0)):
        raise InvalidInput("standard errors sigma must be finite, > 0 and one per point")
    w = 1.0 / s**2
    X = np.column_stack([x, np.ones_like(x)])
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    coef = cov @ (X.T @ (w * y))
    return LineFit(float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1]), int(x.size), True)


def fit_power_law(x, y, *, sigma_log=None) -> LineFit:
    """Fit y ∝ x^slope as a line on log–log axes (x, y > 0, ≥ 3 points).

    ``sigma_log`` are standard errors of log y (relative errors of y), for a weighted fit.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.size < 3 or np.any(x <= 0) or np.any(y <= 0):
        raise InvalidInput("power-law fit needs >= 3 pairs of positive values")
    return fit_line(np.log(x), np.log(y), sigma=sigma_log)


def local_slopes(c, t_p, t_p_stderr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local slopes d log t_p / d log c between neighbouring thresholds.

    Parameters
    ----------
    c : array_like, shape (K,)
        Increasing threshold ratios.
    t_p, t_p_stderr : array_like, shape (K,)
        Mean first-passage times and their standard errors.

    Returns
    -------
    c_mid, slope, slope_stderr : ndarray, shape (K − 1,)
        Geometric midpoints, slopes, and standard errors that treat neighbouring
        estimates as independent (an upper bound when they share replicas, whose errors
        are positively correlated).
    """
    c = np.asarray(c, dtype=float)
    t = np.asarray(t_p, dtype=float)
    s = np.asarray(t_p_stderr, dtype=float)
    lc = np.log(c)
    with np.errstate(divide="ignore", invalid="ignore"):
        lt = np.log(t)
        rel = s / t
        slope = np.diff(lt) / np.diff(lc)
        se = np.hypot(rel[1:], rel[:-1]) / np.diff(lc)
    return np.sqrt(c[1:] * c[:-1]), slope, se


def rolling_slopes(x, y, width: int = 5) -> np.ndarray:
    """d log y / d log x from :func:`fit_line` over ``width`` consecutive points (nan at the ends)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = np.full(x.shape, np.nan)
    h = int(width) // 2
    for i in range(h, len(x) - h):
        sl = slice(i - h, i + h + 1)
        lx = np.log(x[sl])
        if np.ptp(lx) > 0:
            out[i] = fit_line(lx, np.log(y[sl])).slope
    return out
