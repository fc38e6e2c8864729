"""Mean first-passage times from censored replicas, and the slope of log t_p against log c.

A replica started at the minimum θ* *crosses* threshold c at the first step k ≥ 1 with
L(θ_k) ≥ c·L(θ*).  A replica that has not crossed when its step budget runs out is
*censored*: we only know that its first-passage time exceeds the budget.  Averaging the
budget as if it were a crossing time biases t_p low, and dropping censored replicas biases
it even lower, so this module never does either.  It offers

* :func:`km_restricted_mean`: the Kaplan–Meier restricted mean ∫₀^τ S(t) dt up to a
  horizon τ (a lower bound on the mean when there is censoring, equal to the mean when
  there is none), with its Greenwood-type standard error;
* :func:`exponential_mle`: the maximum-likelihood mean of an exponential law under
  censoring, (total exposure)/(number of crossings), with standard error t̂/√crossings;
* :func:`mean_first_passage`: one estimate per threshold, with the number censored;
* :func:`fit_slope`: least squares of log t̂_p against log c on a declared window, with a
  bootstrap standard error over replicas.

Times are in SGD steps k; multiply by η for the continuous time t = ηk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_positive_int

__all__ = [
    "FirstPassageEstimate",
    "km_restricted_mean",
    "exponential_mle",
    "mean_first_passage",
    "SlopeFit",
    "fit_slope",
]

METHODS = ("auto", "km", "exponential")


@dataclass(frozen=True)
class FirstPassageEstimate:
    """Mean first-passage time at one threshold.

    Attributes
    ----------
    mean : float
        Estimated mean first-passage time t_p (steps).
    stderr : float
        Its standard error.
    replicas : int
        Number of replicas.
    censored : int
        Replicas that had not crossed by the end of their budget.
    method : str
        ``"mean"`` (no censoring: the plain sample mean), ``"km-restricted"`` (Kaplan–Meier
        restricted mean up to ``horizon``, a lower bound of t_p) or ``"exponential-mle"``.
    horizon : float
        The largest observation time (the restriction of the KM mean).
    """

    mean: float
    stderr: float
    replicas: int
    censored: int
    method: str
    horizon: float


def _as_arrays(times, observed) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(times, dtype=float).ravel()
    o = np.asarray(observed, dtype=bool).ravel()
    if t.shape != o.shape:
        raise InvalidInput(f"times and observed must have the same length, got {t.size} and {o.size}")
    if t.size == 0:
        raise InvalidInput("need at least one replica")
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise InvalidInput("first-passage and censoring times must be finite and >= 0")
    return t, o


def km_restricted_mean(times, observed, horizon: float | None = None) -> Measured:
    """Kaplan–Meier restricted mean ∫₀^τ S(t) dt and its standard error.

    Parameters
    ----------
    times : array_like, shape (R,)
        First-passage time of each replica that crossed, censoring time of the others.
    observed : array_like of bool, shape (R,)
        True where the replica crossed.
    horizon : float, optional
        τ; defaults to the largest time.  With no censoring before τ = max time, the
        restricted mean equals the sample mean.

    Returns
    -------
    mean, stderr : float
        The restricted mean and its standard error (Greenwood / Klein–Moeschberger:
        Var = Σ_i A_i² d_i / (n_i (n_i − d_i)), A_i = ∫_{t_i}^τ S(t) dt).
    """
    t, o = _as_arrays(times, observed)
    tau = float(t.max() if horizon is None else horizon)
    if o.all() and tau >= t.max():
        # No censoring: S is the empirical survival function and the area is the mean.
        return Measured.from_samples(t)
    event_times = np.unique(t[o & (t <= tau)])
    n_at_risk = np.array([(t >= s).sum() for s in event_times], dtype=float)
    deaths = np.array([((t == s) & o).sum() for s in event_times], dtype=float)
    surv = np.cumprod(1.0 - deaths / n_at_risk)
    # S(t) is a step function: 1 on [0, e_1), surv[0] on [e_1, e_2), ...
    knots = np.concatenate([[0.0], event_times, [tau]])
    levels = np.concatenate([[1.0], surv])
    widths = np.diff(knots)
    mean = float(np.sum(levels * widths))
    # A_i = area under S from event i to τ.
    areas = np.cumsum((levels * widths)[::-1])[::-1][1:]
    denom = n_at_risk * (n_at_risk - deaths)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(denom > 0, areas**2 * deaths / denom, 0.0)
    return Measured(float(mean), float(np.sqrt(np.sum(terms))))


def exponential_mle(times, observed) -> Measured:
    """Mean of an exponential first-passage law fitted by maximum likelihood under censoring.

    t̂ = (Σ_r min(T_r, τ_r)) / (number of crossings), the total exposure per crossing;
    the standard error from the Fisher information is t̂/√crossings.  Valid when the
    first-passage time is memoryless (rare escapes, Kramers regime).  Returns ``inf`` and
    ``nan`` when nothing crossed.
    """
    t, o = _as_arrays(times, observed)
    d = int(o.sum())
    if d == 0:
        return Measured(float("inf"), float("nan"))
    mean = float(t.sum() / d)
    return Measured(float(mean), float(mean / np.sqrt(d)))


def _budgets(budget, R: int) -> np.ndarray:
    b = np.asarray(budget, dtype=float)
    if b.ndim > 1 or (b.ndim == 1 and b.shape[0] != R):
        raise InvalidInput(f"budget must be one number or one per replica ({R}), got shape {b.shape}")
    if not (np.all(np.isfinite(b)) and np.all(b >= 1)):
        raise InvalidInput("budget (steps each replica ran) must be finite and >= 1")
    return np.broadcast_to(b, (R,))


def _split(first_passage: np.ndarray, budget) -> tuple[np.ndarray, np.ndarray]:
    fp = np.asarray(first_passage)
    budget = _budgets(budget, fp.shape[0])
    if fp.size and (not np.all(np.isfinite(fp)) or np.any(fp != np.round(fp))):
        raise InvalidInput("first-passage steps must be integers (−1 where censored)")
    if np.any((fp < 1) & (fp != -1)):
        raise InvalidInput("first-passage steps must be >= 1, or −1 where the replica never crossed")
    limit = budget[:, None] if fp.ndim == 2 else budget
    if np.any(fp > limit):
        r = int(np.argwhere(fp > limit)[0][0])
        raise InvalidInput(f"replica {r} has a first-passage step beyond its budget of "
                           f"{budget[r]:g} steps: first_passage and budget do not belong together")
    observed = fp >= 0
    times = np.where(observed, fp, budget[:, None] if fp.ndim == 2 else budget)
    return times.astype(float), observed


def mean_first_passage(first_passage, budget, *, method: str = "auto") -> list[FirstPassageEstimate]:
    """Mean first-passage time for each threshold, honest about censoring.

    Parameters
    ----------
    first_passage : array_like of int, shape (R, K)
        First step k ≥ 1 at which replica r reached threshold j; −1 where it never did
        (censored).  ``SGDRun.first_passage`` has this layout.
    budget : int or array_like, shape (R,)
        Steps each replica ran (its censoring time).
    method : {"auto", "km", "exponential"}
        ``"auto"`` gives the plain mean where nothing is censored and the exponential MLE
        where something is; ``"km"`` always the Kaplan–Meier restricted mean (a lower
        bound of t_p under censoring); ``"exponential"`` always the exponential MLE.
    """
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {METHODS}, got {method!r}")
    fp = np.asarray(first_passage)
    if fp.ndim != 2 or fp.shape[0] == 0 or fp.shape[1] == 0:
        raise InvalidInput(f"first_passage must have shape (replicas, thresholds), both >= 1, got "
                           f"{fp.shape}")
    times, observed = _split(fp, budget)
    out = []
    for j in range(fp.shape[1]):
        t, o = times[:, j], observed[:, j]
        censored = int((~o).sum())
        if method == "exponential" or (method == "auto" and censored):
            mean, se = exponential_mle(t, o)
            name = "exponential-mle"
        else:
            mean, se = km_restricted_mean(t, o)
            name = "mean" if censored == 0 else "km-restricted"
        out.append(FirstPassageEstimate(mean, se, len(t), censored, name, float(t.max())))
    return out


@dataclass(frozen=True)
class SlopeFit:
    """The fitted exponent of t_p ∝ c^slope.

    Attributes
    ----------
    slope, slope_stderr : float
        Least-squares slope of log t̂_p against log c on the window, and its bootstrap
        standard error over replicas.
    intercept : float
        Intercept of the fit (natural logarithms).
    window : tuple of float
        The declared window (c_min, c_max).
    used : ndarray of bool
        Which thresholds fell in the window.
    estimates : list of FirstPassageEstimate
        One per threshold (all thresholds, not just the window).
    """

    slope: float
    slope_stderr: float
    intercept: float
    window: tuple[float, float]
    used: np.ndarray
    estimates: list[FirstPassageEstimate]


def fit_slope(
    c,
    first_passage,
    budget,
    *,
    window: tuple[float, float],
    rng: np.random.Generator | int,
    method: str = "auto",
    n_boot: int = 400,
) -> SlopeFit:
    """Fit log t_p = slope · log c + const on a window of thresholds declared beforehand.

    Parameters
    ----------
    c : array_like, shape (K,)
        Threshold ratios c = L_threshold/L(θ*).
    first_passage : array_like of int, shape (R, K)
        First-passage steps, −1 where censored.
    budget : int or array_like
        Steps each replica ran.
    window : (float, float)
        Inclusive range of c used in the fit; must hold at least two thresholds.
    rng : numpy.random.Generator or int
        Source of the bootstrap resamples (an int is a seed of ``np.random.default_rng``).
    method : str
        Estimator of t_p at each c (see :func:`mean_first_passage`).
    n_boot : int
        Bootstrap resamples of the replicas; the slope's standard error is their
        standard deviation (the thresholds share replicas, so their errors are
        correlated, which the bootstrap keeps).
    """
    c = np.asarray(c, dtype=float)
    fp = np.asarray(first_passage)
    if c.ndim != 1 or fp.ndim != 2 or fp.shape[1] != c.size:
        raise InvalidInput(f"need one column of first_passage per threshold c: c has shape {c.shape}, "
                           f"first_passage {fp.shape}")
    if not (np.all(np.isfinite(c)) and np.all(c > 0)):
        raise InvalidInput("thresholds c must be finite and > 0")
    n_boot = check_positive_int(n_boot, "bootstrap resamples n_boot")
    if n_boot < 2:
        raise InvalidInput("n_boot must be >= 2 for a bootstrap standard error")
    if isinstance(rng, (bool, float)):
        raise InvalidInput(f"rng must be a numpy Generator or an integer seed, got {rng!r}")
    rng = np.random.default_rng(rng)
    used = (c >= window[0]) & (c <= window[1])
    if used.sum() < 2:
        raise InvalidInput(f"slope window {window} holds fewer than two thresholds c")
    est = mean_first_passage(fp, budget, method=method)
    x = np.log(c[used])
    y = np.log([e.mean for e in np.array(est, dtype=object)[used]])
    if not np.all(np.isfinite(y)):
        raise InvalidInput("a threshold in the slope window was never crossed; enlarge the budget")
    line = stats.linregress(x, y)
    slope, intercept = float(line.slope), float(line.intercept)
    R = fp.shape[0]
    budget_arr = _budgets(budget, R)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, R, R)
        e = mean_first_passage(fp[idx][:, used], budget_arr[idx], method=method)
        yb = np.log([v.mean for v in e])
        if np.all(np.isfinite(yb)):
            boots.append(stats.linregress(x, yb).slope)
    failed = n_boot - len(boots)
    if failed:
        # A resample in which some replica set never crossed a threshold has no finite
        # estimate; dropping it would bias the error low, so the fit refuses instead.
        raise InvalidInput(f"{failed} of {n_boot} bootstrap resamples left a threshold in the "
                           f"window {window} uncrossed: the window reaches beyond the budget; "
                           "enlarge the budget or lower the window")
    se = float(np.std(boots, ddof=1))
    return SlopeFit(slope, se, intercept, (float(window[0]), float(window[1])), used, est)
