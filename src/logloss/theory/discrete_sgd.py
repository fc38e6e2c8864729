"""Discrete-time SGD on linear regression, solved without the SDE approximation.

Two exact computations for the escape chapter (R9, R12):

* :func:`discrete_mfpt_1d`: the mean first-passage time of the one-dimensional SGD
  recursion u_{k+1} = a_μ u_k + b_μ (μ uniform over the N kicks of a data set), from its
  backward equation T(u) = 1 + (1/N) Σ_μ T(a_μ u + b_μ) for |u| < u_c, T = 0 beyond,
  solved on a grid.  For d = 1 and B = 1, u = θ − θ*, a_μ = 1 − η x_μ², b_μ = η x_μ e_μ
  with e_μ = y_μ − x_μ θ* the residual at the minimum; crossing L ≥ cL* is
  |u| ≥ u_c = √(2L*(c − 1)/H).
* :func:`lyapunov_exponent`: the growth rate of log|u| far from the minimum, where the
  additive kick is negligible and u_{k+1} = (I − (η/B) Σ_b x_b x_bᵀ) u_k.  For isotropic
  Gaussian inputs, x ~ N(0, I_d) drawn with replacement, rotation invariance makes it
  λ = ½ E log[(1 − ηS/B)² + η² S R/B²] with S ~ χ²_B and R ~ χ²_{d−1} independent,
  a two-dimensional quadrature (exact, all orders in η).  log L grows at 2λ per step.

For inputs on the sphere |x|² = d (the same H = I, bounded per-sample curvature η|x|² = ηd),
:func:`lyapunov_exponent_sphere` gives λ at B = 1; its zero is exactly d = 2/η, the per-sample
instability, whatever the additive noise.

For the 1-d recursion, :func:`kesten_exponent` gives the tail of its stationary law,
P(|u| > r) ∝ r^(−α) with E|a|^α = 1 (Kesten 1973, Goldie 1991), hence the large-c asymptote of
the first-passage time, t_p ∝ c^(α/2); when no kick expands (|a_μ| ≤ 1 for every sample)
there is no root and the tail is lighter than any power.

and the critical dimensions that follow: where λ crosses zero (typical, almost-sure
growth) and where E|u|² starts to grow (mean-square linear stability, the criterion of
Wu, Ma & E 2018).  Compare n_c = 2(B/(ηh*) + 1) of Eq. (16), the SDE's.

This layer uses numpy and scipy only.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, linalg, optimize, special

from ..core.validation import check_learning_rate

__all__ = [
    "discrete_mfpt_1d",
    "lyapunov_exponent",
    "lyapunov_critical_dimension",
    "mean_square_critical_dimension",
    "spectator_loss_ratio",
    "lyapunov_exponent_sphere",
    "kesten_exponent",
    "kesten_exponent_gaussian",
]


def discrete_mfpt_1d(a, b, *, u_c: float, u0: float = 0.0, points: int = 801) -> float:
    """Mean first-passage time (steps) of u_{k+1} = a_μ u_k + b_μ from u0 to |u| ≥ u_c.

    Parameters
    ----------
    a, b : array_like, shape (N,)
        The kicks (a_μ, b_μ), equally likely at every step (independent steps: sampling
        with replacement, B = 1).
    u_c : float
        Absorbing level: the first step k ≥ 1 with |u_k| ≥ u_c counts.
    u0 : float
        Start (|u0| < u_c).
    points : int
        Grid points on (−u_c, u_c), cell centres; T is interpolated linearly between them
        (constant in the two half cells at the ends).  The error is O(points⁻²) away from
        the edges.

    Returns
    -------
    float
        T(u0), solving (I − P) T = 1 with P the interpolated transition matrix.
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError("kicks a and b must be non-empty arrays of equal length")
    if not (u_c > 0 and abs(u0) < u_c):
        raise ValueError(f"need u_c > 0 and |u0| < u_c, got u_c={u_c!r}, u0={u0!r}")
    M = int(points)
    du = 2 * u_c / M
    grid = -u_c + (np.arange(M) + 0.5) * du
    N = a.size
    P = np.zeros((M, M))
    leak = np.zeros(M)  # probability of leaving (−u_c, u_c) in one step, from each cell
    step = max(1, 4_000_000 // N)
    for s in range(0, M, step):
        z = a[None, :] * grid[s:s + step, None] + b[None, :]  # (m, N)
        inside = np.abs(z) < u_c
        pos = np.clip((z - grid[0]) / du, 0.0, M - 1.0)
        lo = np.minimum(np.floor(pos).astype(np.int64), M - 2)
        w = pos - lo
        rows = np.broadcast_to(np.arange(s, s + z.shape[0])[:, None], z.shape)
        r, l_, ww = rows[inside], lo[inside], w[inside]
        np.add.at(P, (r, l_), (1.0 - ww) / N)
        np.add.at(P, (r, l_ + 1), ww / N)
        leak[s:s + z.shape[0]] = (~inside).sum(axis=1) / N
    T = _absorption_time(P, leak)
    pos = np.clip((u0 - grid[0]) / du, 0.0, M - 1.0)
    lo = min(int(np.floor(pos)), M - 2)
    w = pos - lo
    return float((1 - w) * T[lo] + w * T[lo + 1])


def _absorption_time(P: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """T solving (I − P) T = 1 for a substochastic P whose rows lose ``leak`` (= 1 − Σ_j P_ij).

    Gaussian elimination in the form of Grassmann, Taksar & Heyman (1985): I − P is an
    M-matrix, and if each pivot is formed as its row's leak plus the magnitudes of its
    off-diagonal entries, instead of as 1 − P_ii, every operation adds nonnegative
    numbers.  T is then accurate to rounding relative to itself, however large it is.
    ``np.linalg.solve`` forms 1 − P_ii, which cancels: it lost every digit once T passed
    about 10¹² steps (T came out negative), the regime of rare escapes at large c.
    Elimination without pivoting keeps P's band (the largest jump down and up, found from
    its nonzero entries), so only the band is updated: O(M·l·u) instead of O(M³).
    """
    A = P.copy()  # A[i, j] = |(I − P)_ij| off the diagonal; the diagonal is never read
    M = len(A)
    rows, cols = np.nonzero(A)
    lower = int(max(np.max(rows - cols, initial=0), 0))  # band below and above the diagonal
    upper = int(max(np.max(cols - rows, initial=0), 0))
    q = np.asarray(leak, dtype=float).copy()  # row sums of the remaining system
    b = np.ones(M)
    pivot = np.empty(M)
    for k in range(M):
        r, c = min(M, k + 1 + lower), min(M, k + 1 + upper)
        pivot[k] = q[k] + A[k, k + 1:c].sum()
        f = A[k + 1:r, k] / pivot[k]
        A[k + 1:r, k + 1:c] += np.outer(f, A[k, k + 1:c])
        q[k + 1:r] += f * q[k]
        b[k + 1:r] += f * b[k]
    T = np.empty(M)
    for k in range(M - 1, -1, -1):
        c = min(M, k + 1 + upper)
        T[k] = (b[k] + A[k, k + 1:c] @ T[k + 1:c]) / pivot[k]
    return T


def _check(eta, B, d):
    check_learning_rate(eta)
    if not (B >= 1 and float(B).is_integer()):
        raise ValueError(f"minibatch size B must be an integer >= 1, got {B!r}")
    if not d >= 1:
        raise ValueError(f"dimension d must be >= 1, got {d!r}")


def lyapunov_exponent(*, eta: float, B: int, d: float) -> float:
    """Lyapunov exponent λ of the SGD map u ↦ (I − (η/B) Σ_b x_b x_bᵀ) u, x ~ N(0, I_d).

    Parameters
    ----------
    eta : float
        Learning rate η.
    B : int
        Minibatch size (samples drawn independently).
    d : float
        Dimension (non-integer d is the analytic continuation through χ²_{d−1}).

    Returns
    -------
    float
        λ = lim (1/k) log|u_k| = ½ E log[(1 − ηS/B)² + η² S R/B²], S ~ χ²_B,
        R ~ χ²_{d−1}.  The loss far from the minimum grows as L_k ∝ e^{2λk}.

    Notes
    -----
    Write u along e₁.  The new component along e₁ is 1 − (η/B) Σ_b x_{b1}², and the
    orthogonal part (η/B) Σ_b x_{b1} x_{b⊥} is, given the x_{b1}, Gaussian with variance
    (η/B)² S per direction.  By rotation invariance the direction of u_k is uniform, so
    λ = E log|M e₁| exactly.  Expanded to O(η²): 2λ ≈ −2η + η²(1 + (d + 1)/B)
    − 2η²(1 + 2/B) (kurtosis of the data included), while the SDE of the paper gives
    η²(d − n_c)/B with n_c = 2(B/η + 1) at h* = 1.
    """
    _check(eta, B, d)
    kS, kR = B / 2.0, (d - 1) / 2.0
    sing = B / eta  # S where 1 − ηS/B = 0
    lgS = math.lgamma(kS) + kS * math.log(2.0)
    hi = 2 * (kS + 40 * math.sqrt(kS + 1))
    edges = sorted({0.0, 2 * kS, hi} | ({sing} if sing < hi else set()))

    def s_integral(R):
        # E_S ½ log[(1 − ηS/B)² + η² S R/B²], S ~ χ²_B (Gamma(B/2, scale 2))
        def f(S):
            if S <= 0:
                return 0.0
            v = (1 - eta * S / B) ** 2 + eta * eta * S * R / (B * B)
            if v <= 0:
                return 0.0
            return 0.5 * math.log(v) * math.exp((kS - 1) * math.log(S) - S / 2 - lgS)
        total = 0.0
        for lo_, hi_ in zip(edges[:-1], edges[1:]):
            total += integrate.quad(f, lo_, hi_, limit=400, epsabs=1e-13, epsrel=1e-11)[0]
        return total

    if kR <= 0:
        return float(s_integral(0.0))
    # R ~ Gamma(kR, scale 2) = 2t with t ~ Gamma(kR): generalised Gauss–Laguerre in t,
    # with nodes and weights from the Jacobi matrix (Golub–Welsch).  Its weights come out
    # divided by Γ(kR) (a probability rule), which scipy's roots_genlaguerre cannot give
    # beyond d ≈ 300, where Γ(kR) and its unnormalised weights overflow.
    k = np.arange(96)
    t, V = linalg.eigh_tridiagonal(2 * k + kR, np.sqrt(k[1:] * (k[1:] + kR - 1)))
    return float(sum(wi * s_integral(2 * ti) for ti, wi in zip(t, V[0] ** 2)))


def lyapunov_critical_dimension(*, eta: float, B: int) -> float:
    """The dimension d at which :func:`lyapunov_exponent` crosses zero (typical growth).

    Below it log L is pulled back to the minimum; above it log L grows linearly in k
    with probability one.
    """
    _check(eta, B, 1)
    f = lambda d: lyapunov_exponent(eta=eta, B=B, d=d)  # noqa: E731
    lo, hi = 1.0, 4.0
    if f(lo) > 0:
        return 1.0
    while f(hi) < 0:
        lo, hi = hi, 2 * hi
        if hi > 1e5:
            raise ValueError("no critical dimension below 1e5")
    return float(optimize.brentq(f, lo, hi, xtol=1e-6))


def mean_square_critical_dimension(*, eta: float, B: int) -> float:
    """d above which E|u_k|² grows: η(1 + (d + 1)/B) > 2, i.e. d > B(2/η − 1) − 1.

    This is linear stability in the mean-square sense for Gaussian data
    (Wu, Ma & E 2018): E[MᵀM] = (1 − 2η + η²(1 + (d + 1)/B)) I for
    M = I − (η/B) Σ_b x_b x_bᵀ.
    """
    _check(eta, B, 1)
    return float(B * (2.0 / eta - 1.0) - 1.0)


def spectator_loss_ratio(*, eta: float, B: int, h: float, m: int, discrete: bool = True) -> float:
    """Stationary E[L]/L₀ when m spectator valleys of curvature h share the residual of a
    frozen loss L₀ (SGD on linear regression in m dimensions with additive noise).

    Spectators φ ∈ ℝᵐ with Gaussian features u ~ N(0, h I) independent of the residual r₀
    (E r₀² = 2L₀), updated as φ′ = φ − (η/B) Σ_b u_b (u_b·φ + r₀_b), b drawn with
    replacement, have E L = L₀ + ½h E|φ|² with

    * discrete SGD (exact second moment): E|φ′|² = (1 − 2ηh + η²h²(1 + (m + 1)/B)) E|φ|²
      + 2η²hmL₀/B, so E L/L₀ = 1 + ηhm / (B(2 − ηh(1 + (m + 1)/B)));
    * the SDE dφ = −hφ dt + √(2ηLh/B) dW (the decoupled noise of paper Eq. (6)):
      E L/L₀ = 1 + ηhm/(2B − ηhm) = T/(T − m/2) with T = B/(ηh).

    In the adiabatic picture of the barrier chapter this multiplies θ's noise: the
    exponent B/(ηh*) of paper Eq. (15) becomes B/(ηh*)·L₀/E L, which for the SDE with
    h = h* is B/(ηh*) − m/2, the n/2 law with n = m + 1.  The ratio is ``inf`` from the
    mean-square critical dimension on (m ≥ :func:`mean_square_critical_dimension` at η h
    for discrete SGD, m ≥ 2T for the SDE).

    Parameters
    ----------
    eta, B : float, int
        η and B (keyword-only).
    h : float
        Spectator curvature h_s.
    m : int
        Number of spectators (≥ 0).
    discrete : bool
        Discrete SGD (True) or the SDE (False).
    """
    _check(eta, B, 1)
    if not (h > 0 and m >= 0):
        raise ValueError(f"need h > 0 and m >= 0, got h={h!r}, m={m!r}")
    eh = eta * h
    den = B * (2 - eh * (1 + (m + 1) / B)) if discrete else 2 * B - eh * m
    return float(1 + eh * m / den) if den > 0 else float("inf")


def lyapunov_exponent_sphere(*, eta: float, d: int) -> float:
    """Lyapunov exponent λ of u ↦ (I − η x xᵀ) u, x uniform on the sphere |x|² = d (B = 1).

    Parameters
    ----------
    eta : float
        Learning rate η.
    d : int
        Dimension d (E x xᵀ = I_d, so h* = 1 as for Gaussian data).

    Returns
    -------
    float
        λ = ½ E log[1 − ηd(2 − ηd) t] with t = cos² of the angle between x and u,
        t ~ Beta(1/2, (d − 1)/2).  Every factor is < 1 when ηd < 2 and > 1 when ηd > 2,
        so λ < 0 below d = 2/η, λ > 0 above and λ = 0 at d = 2/η exactly: the per-sample
        linear instability η|x|² > 2 is the whole criterion.

    Notes
    -----
    |(I − ηxxᵀ)u|² = |u|²[1 − η(2 − η|x|²)(x·u)²/|u|²] and (x·u)² = d|u|² t.  The factor
    vanishes at t = 1 when ηd = 1 (a logarithmic singularity, integrable).
    """
    _check(eta, 1, d)
    if d == 1:
        return float(math.log(abs(1 - eta)))
    a = eta * d * (2 - eta * d)
    # t = sin²φ with φ ∈ (0, π/2) removes the t^(−1/2) endpoint singularity of Beta(½, (d−1)/2)
    lb = special.betaln(0.5, (d - 1) / 2)

    def f(phi):
        t = math.sin(phi) ** 2
        v = 1 - a * t  # ≥ 0 since a = ηd(2 − ηd) ≤ 1; v = 0 only at one point
        if v <= 0:
            return 0.0
        return 0.5 * math.log(v) * 2 * math.cos(phi) ** (d - 2) * math.exp(-lb)

    return float(integrate.quad(f, 0, math.pi / 2, limit=400, epsabs=1e-13, epsrel=1e-11)[0])


def _kesten_root(moment, what: str) -> float:
    """The α > 0 with moment(α) = E|a|^α = 1, given E log|a| < 0 and P(|a| > 1) > 0."""
    lo, hi = 1e-6, 1.0
    if moment(lo) >= 1:
        raise ValueError(f"{what}: E log|a| >= 0, the recursion has no stationary law")
    while moment(hi) < 1:
        lo, hi = hi, 2 * hi
        if hi > 1e4:
            return math.inf
    return float(optimize.brentq(lambda x: math.log(moment(x)), lo, hi, xtol=1e-8))


def kesten_exponent(a) -> float:
    """Tail exponent α of u_{k+1} = a_μ u_k + b_μ, μ uniform over the N kicks: (1/N) Σ|a_μ|^α = 1.

    Parameters
    ----------
    a : array_like
        The multipliers a_μ = 1 − η x_μ² of the N samples (d = 1, B = 1).

    Returns
    -------
    float
        α > 0 (Kesten–Goldie: P(|u| > r) ∝ r^(−α), so t_p ∝ c^(α/2) as c → ∞), or ``inf``
        when every |a_μ| ≤ 1 (no sample is multiplicatively expanding, η x_μ² ≤ 2): the tail
        is then lighter than any power and the local slope of t_p grows without bound.
    """
    a = np.abs(np.asarray(a, dtype=float))
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("multipliers a must be a non-empty array of finite numbers")
    if not np.any(a > 1):
        return math.inf
    top = a.max()
    # (1/N) Σ (a/top)^α · top^α, computed in logs so large α does not overflow
    return _kesten_root(lambda x: float(np.mean((a / top) ** x)) * top**x, "kesten_exponent")


def kesten_exponent_gaussian(*, eta: float) -> float:
    """:func:`kesten_exponent` for a_μ = 1 − ηx² with x ~ N(0, 1) (online SGD, d = B = 1)."""
    check_learning_rate(eta)
    pts = sorted({1 / math.sqrt(eta), math.sqrt(2 / eta)})

    def moment(alpha):
        f = lambda x: abs(1 - eta * x * x) ** alpha * math.exp(-x * x / 2)  # noqa: E731
        edges = [0.0, *pts, pts[-1] + 40.0]
        tot = sum(integrate.quad(f, lo, hi, limit=400, epsabs=1e-300, epsrel=1e-12)[0]
                  for lo, hi in zip(edges[:-1], edges[1:]))
        return 2 * tot / math.sqrt(2 * math.pi)

    return _kesten_root(moment, "kesten_exponent_gaussian")
