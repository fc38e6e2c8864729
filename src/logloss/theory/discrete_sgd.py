"""Discrete-time SGD on linear regression, solved without the SDE approximation.

Two exact computations for the escape chapter (R9, R12):

* :func:`discrete_mfpt_1d`: the mean first-passage time of the one-dimensional SGD
  recursion u_{k+1} = a_μ u_k + b_μ (μ uniform over the N kicks of a data set, or of given
  probabilities), from its backward equation T(u) = 1 + (1/N) Σ_μ T(a_μ u + b_μ) for
  |u| < u_c, T = 0 beyond, solved on a grid and extrapolated to zero spacing, for many
  thresholds at once and accurate over 30 and more decades of T.  For d = 1 and B = 1,
  u = θ − θ*, a_μ = 1 − η x_μ², b_μ = η x_μ e_μ with e_μ = y_μ − x_μ θ* the residual at the
  minimum; crossing L ≥ cL* is |u| ≥ u_c = √(2L*(c − 1)/H).
* :func:`discrete_mfpt_online_1d`: the same for online SGD (a fresh x, y ~ N(0, 1) every
  step), with the Gaussian law of the kicks by quadrature (:func:`online_kicks_1d`).
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

from ..core.errors import InvalidInput
from ..core.validation import check_learning_rate

__all__ = [
    "discrete_mfpt_1d",
    "expanding_kick_rate",
    "discrete_mfpt_online_1d",
    "online_kicks_1d",
    "lyapunov_exponent",
    "lyapunov_critical_dimension",
    "mean_square_critical_dimension",
    "spectator_loss_ratio",
    "lyapunov_exponent_sphere",
    "kesten_exponent",
    "kesten_exponent_gaussian",
    "kesten_exponent_isotropic",
]


def discrete_mfpt_1d(a, b, *, u_c, u0: float = 0.0, points: int = 801, weights=None,
                     extrapolate: bool = True):
    """Mean first-passage time (steps) of u_{k+1} = a_μ u_k + b_μ from u0 to |u| ≥ u_c.

    Solves the backward equation T(u) = 1 + Σ_μ p_μ T(a_μ u + b_μ) 1{|a_μ u + b_μ| < u_c}
    (T = 0 beyond u_c), p_μ = 1/N or ``weights``, for one threshold or many at once.

    Parameters
    ----------
    a, b : array_like, shape (N,)
        The kicks (a_μ, b_μ).  For 1-d linear regression with B = 1, u = θ − θ*,
        a_μ = 1 − η x_μ², b_μ = η x_μ e_μ with e_μ = y_μ − x_μ θ* the residual at the minimum.
    u_c : float or array_like
        Absorbing level(s): the first step k ≥ 1 with |u_k| ≥ u_c counts.  For L ≥ cL*,
        u_c = √(2L*(c − 1)/h*).  All levels share one grid and one elimination, so many
        thresholds cost little more than the largest one.
    u0 : float
        Start, |u0| < min u_c.
    points : int
        Nodes of the finest grid on [−max u_c, max u_c] (rounded up to 8k + 1).  The
        accuracy is set by the grid spacing in units of the kicks, of order η: see Notes.
    weights : array_like, shape (N,), optional
        Probabilities p_μ of the kicks (normalised here); equal if omitted.
    extrapolate : bool
        Richardson-extrapolate log T over this grid and the two with every second and
        every fourth node (error O(Δ⁶) instead of O(Δ²)).

    Returns
    -------
    float or ndarray
        T(u0) in steps, of the shape of ``u_c``.

    Notes
    -----
    *Grid.*  The nodes are u = w sinh(s), s uniform, with w = √(Var b / Var a): their
    spacing follows the spread of one step's landing point, √(Var b + u² Var a), so it
    resolves the kicks near the minimum and their relative size in the multiplicative tail.

    *Scheme.*  T is linear between nodes.  Row i of the chain on the nodes is one step
    from u averaged over the hat function φ_i(u) of node i (a Petrov–Galerkin scheme with
    lumped mass, every integral exact): for a finite data set the one-step exit
    probability is a staircase in u set by a few extreme samples, and sampled at the nodes
    instead of integrated it puts errors of order Δ and of random sign into log T, which no
    extrapolation removes.  Averaged, the error of log T is a smooth series in Δ², which
    the extrapolation removes.  The last node inside a threshold is T(u_c⁻), one step from
    u_c itself.

    *Accuracy* (``scripts/discrete_chain_convergence.py``: B = 1, Gaussian data, N = 10⁴,
    10⁵ and online, η = 0.1 and 0.02, against the extrapolation from 3201 points).  With
    the extrapolation, log₁₀ T is within 10⁻³ of the converged value at 801 points up to
    T ≈ 10¹⁸ (online at η = 0.02: 10¹²), and at 1601 points up to T ≈ 10³⁰ and beyond in
    every case.
    Unextrapolated, 1601 points are off by 0.02–0.3 at T ≈ 10²⁰–10⁵⁰.  The grid must
    resolve one step's relative spread, of order η, so the points needed grow as η falls.

    *Many thresholds.*  A threshold on a node is exact; the others interpolate log T
    cubically in s between the four nearest nodes, and T(u0) cubically in u between nodes.
    With the states ordered from the centre outwards, the system of a threshold on a node
    is the leading block of the system of the largest one, except in two rows and two
    columns; one elimination then serves every threshold, each needing only triangular
    solves.  Every step is the elimination of Grassmann, Taksar & Heyman
    (:func:`_gth_factor`), so T is accurate relative to itself at any size.

    *Cost* O(points · N) to build the chain once, the larger part for N ≳ 10³ (about 1 s
    of one core for N = 10⁴ at 801 points, 10 s for N = 10⁵), and O(points³) to eliminate it
    once for all thresholds (0.1 s at 801 points, 1 s at 1601).
    """
    a, b, p = _kicks(a, b, weights)
    scalar = np.ndim(u_c) == 0
    uc = np.atleast_1d(np.asarray(u_c, dtype=float)).ravel()
    if uc.size == 0 or not np.all(np.isfinite(uc) & (uc > 0)):
        raise InvalidInput(f"thresholds u_c must be finite numbers > 0, got {u_c!r}")
    if not (np.isfinite(u0) and abs(u0) < uc.min()):
        raise InvalidInput(f"need |u0| < u_c for every threshold, got u0={u0!r}, min u_c={uc.min()!r}")
    if int(points) != points or points < 17:
        raise InvalidInput(f"points must be an integer >= 17, got {points!r}")
    K = 4 * -(-(int(points) - 1) // 8)  # half-grid cells, divisible by 4 for the coarser grids
    u_max = float(uc.max())
    w = _grid_scale(a, b, p, u_max)
    logT = _log_mfpt_on_grid(a, b, p, uc, u0, w, u_max, K, levels=3 if extrapolate else 1)
    if extrapolate:
        logT = (64 * logT[0] - 20 * logT[1] + logT[2]) / 45
    else:
        logT = logT[0]
    # thresholds within the first cell of a grid this wide get a grid of their own; where
    # every threshold fails (T beyond float64), the grid is theirs already: NaN stays
    small = np.isnan(logT)
    if small.any() and not small.all():
        logT[small] = np.log(discrete_mfpt_1d(a, b, u_c=uc[small], u0=u0, points=points,
                                              weights=p, extrapolate=extrapolate))
    with np.errstate(over="ignore"):  # log T beyond float64's range: T = inf, as it is
        T = np.exp(logT)
    return float(T[0]) if scalar else T.reshape(np.shape(u_c))


def online_kicks_1d(*, eta: float, nodes: int = 6, panel: float = 1.0):
    """Weighted kicks (a_k, b_k, p_k): a quadrature of the law of the online SGD step on 1-d
    linear regression, a = 1 − ηx², b = ηxy with x, y ~ N(0, 1) independent (θ* = 0, B = 1).

    Parameters
    ----------
    eta : float
        Learning rate η.
    nodes : int
        Gauss–Legendre points per panel, in x and in y.
    panel : float
        Largest panel width.

    Returns
    -------
    a, b, p : ndarray
        The kicks and their weights (the product of the two rules and of the densities).

    Notes
    -----
    x runs over x ≥ 0 only, with twice the weight, since (−x, −y) gives the same kick.  Its
    panels end at 1/√η (a = 0) and at √(2/η) (a = −1: beyond it every step expands |u|,
    which sets the Kesten tail of :func:`kesten_exponent_gaussian`) and run to √(2/η) + 12;
    y runs over [−14, 14].  Products of weight below 10⁻⁵⁰ are dropped; with the tails beyond
    the panels the law loses less than 10⁻⁴³ per step, so mean first-passage times up to
    about 10⁴⁰ steps see the whole law.
    """
    check_learning_rate(eta)
    if int(nodes) != nodes or nodes < 2 or not (panel > 0 and math.isfinite(panel)):
        raise InvalidInput(f"need an integer nodes >= 2 and a panel > 0, got {nodes!r}, {panel!r}")

    def rule(edges):
        t, wt = np.polynomial.legendre.leggauss(int(nodes))
        out_x, out_w = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = max(1, math.ceil((hi - lo) / panel - 1e-9))
            e = np.linspace(lo, hi, m + 1)
            mid, half = (e[1:] + e[:-1]) / 2, (e[1:] - e[:-1]) / 2
            out_x.append((mid[:, None] + half[:, None] * t).ravel())
            out_w.append((half[:, None] * wt).ravel())
        x = np.concatenate(out_x)
        return x, np.concatenate(out_w) * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)

    flip = math.sqrt(2 / eta)
    x, wx = rule(sorted({0.0, 1 / math.sqrt(eta), flip, flip + 12.0}))
    y, wy = rule([-14.0, 14.0])
    W = 2 * wx[:, None] * wy[None, :]
    keep = W > 1e-50
    a = np.broadcast_to(1 - eta * x[:, None] ** 2, W.shape)[keep]
    b = (eta * x[:, None] * y[None, :])[keep]
    return a, b, W[keep]


def discrete_mfpt_online_1d(c, *, eta: float, u0: float = 0.0, points: int = 801,
                            nodes: int = 6, panel: float = 1.0, extrapolate: bool = True):
    """Mean first-passage time (steps) of online SGD on 1-d linear regression, from
    θ = θ* + u0 to L ≥ cL*: the exact chain with a fresh sample at every step (N = ∞, B = 1).

    With x, y ~ N(0, 1): θ* = 0, L* = ½, h* = 1, and the step u' = (1 − ηx²)u + ηxy
    crosses L = cL* at |u| = u_c = √(c − 1).  The law of the kicks is the quadrature of
    :func:`online_kicks_1d` (``nodes``, ``panel``), the backward equation is solved by
    :func:`discrete_mfpt_1d` (``points``, ``extrapolate``).  At large c, T ∝ c^(α/2) with α
    of :func:`kesten_exponent_gaussian`.

    The quadrature is a discrete law, whose one-step exit probability, a Gaussian tail
    integral of an indicator, converges only as the panel width: against ``nodes=8,
    panel=0.5`` the default changes log₁₀ T by at most 5·10⁻⁴ at η = 0.1 (c = 2 … 10⁴,
    T up to 10³⁷) and at η = 0.02 up to T ≈ 10¹² (c ≤ 1.5), but by 5·10⁻³ at η = 0.02 and
    T ≈ 10²²–10²⁷, where one kick of large |xy| sets the escape; ``nodes=8, panel=0.5``
    (seven times the kicks) brings that to 10⁻³.  At η = 0.02 and T ≳ 10¹⁵ the grid also
    needs 1601 points (see :func:`discrete_mfpt_1d`).

    Parameters
    ----------
    c : float or array_like
        Loss ratios c > 1.
    eta : float
        Learning rate η.
    u0 : float
        Start, θ − θ* (|u0| < √(c − 1)).

    Returns
    -------
    float or ndarray
        T in steps, of the shape of ``c``.
    """
    cc = np.asarray(c, dtype=float)
    if not np.all(np.isfinite(cc) & (cc > 1)) or cc.size == 0:
        raise InvalidInput(f"loss ratios c must be finite numbers > 1, got {c!r}")
    a, b, p = online_kicks_1d(eta=eta, nodes=nodes, panel=panel)
    return discrete_mfpt_1d(a, b, u_c=np.sqrt(cc - 1), u0=u0, points=points, weights=p,
                            extrapolate=extrapolate)


def _kicks(a, b, weights):
    """Validated kicks (a_μ, b_μ) and their probabilities p_μ (normalised)."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape or a.size == 0:
        raise InvalidInput("kicks a and b must be non-empty arrays of equal length")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise InvalidInput("kicks a and b must be finite")
    if weights is None:
        return a, b, np.full(a.size, 1.0 / a.size)
    p = np.asarray(weights, dtype=float).ravel()
    if p.shape != a.shape or not np.all(np.isfinite(p) & (p >= 0)) or p.sum() <= 0:
        raise InvalidInput("weights must be finite, >= 0, not all zero, one per kick")
    keep = p > 0
    return a[keep], b[keep], p[keep] / p.sum()


def _grid_scale(a, b, p, u_max):
    """w = √(Var b / Var a): below |u| ≈ w one step's spread is set by b, above it by a·u."""
    var_a = float(p @ (a - p @ a) ** 2)
    var_b = float(p @ (b - p @ b) ** 2)
    w = math.sqrt(var_b / var_a) if var_a > 0 else u_max
    return min(max(w, 1e-6 * u_max), u_max)


def _log_mfpt_on_grid(a, b, p, uc, u0, w, u_max, K, levels):
    """log T(u0) at every threshold in ``uc`` on the grids of K, K/2, ... half cells.

    The chain is built once, on the finest grid; a coarser grid's chain follows from it
    exactly, since its hat functions are combinations of the finer ones (:func:`_coarsen`).
    """
    ds = math.asinh(u_max / w) / K
    r = w * np.sinh(ds * np.arange(K + 1))
    r[-1] = u_max
    v = np.concatenate([-r[:0:-1], r])
    plan = []
    for lev in range(levels):
        k, vk = K >> lev, v[:: 1 << lev]
        # thresholds on nodes q (u_c = r_q); the others from the four nearest by cubic
        # Lagrange interpolation of log T in s = asinh(u_c/w)
        sig = np.arcsinh(uc / w) / (ds * (1 << lev))
        q_lo = max(1, int(np.searchsorted(vk[k:], abs(u0), side="right")))  # first node beyond |u0|
        if k - q_lo < 3:
            raise InvalidInput(f"u0 = {u0!r} is too close to u_c = {u_max!r} for {2 * K + 1} "
                               "points: raise points")
        inside_first = sig < q_lo  # below the first node beyond |u0|: left to the caller
        q0 = np.clip(np.floor(sig).astype(np.int64) - 1, q_lo, k - 3)
        nodes = np.unique(np.concatenate([q0 + i for i in range(4)]))
        plan.append((sig, q0, nodes, np.concatenate([k + nodes, k - nodes]) << lev))
    edges = np.unique(np.concatenate([e for *_, e in plan]))
    hat = _hat_rows(a, b, p, v, w, ds)
    point = _point_rows(a, b, p, v, w, ds, edges)
    out = []
    for lev, (sig, q0, nodes, e) in enumerate(plan):
        vk = v[:: 1 << lev]
        if lev:
            hat = _coarsen(*hat, v[:: 1 << (lev - 1)])
            point = (*_coarsen_targets(point[0], point[1], v[:: 1 << (lev - 1)]), point[2])
        pick = np.searchsorted(edges, e)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # a T beyond float64 overflows to inf or NaN: the thresholds the caller drops
            lT = np.log(_node_threshold_mfpt(hat, tuple(x[pick] for x in point), vk, nodes, u0))
        res = np.empty(uc.size)
        for t in range(uc.size):
            i = np.searchsorted(nodes, q0[t])
            res[t] = _lagrange(nodes[i:i + 4].astype(float), lT[i:i + 4], sig[t])
        out.append(np.where(inside_first, np.nan, res))
    return out


def _coarsen_targets(Lw, Rw, v):
    """Landing weights per cell of the grid v[::2] from those of v (linear in θ, exact)."""
    h = np.diff(v)
    f0, f1 = h[0::2] / (h[0::2] + h[1::2]), h[1::2] / (h[0::2] + h[1::2])
    L0, R0, L1, R1 = Lw[:, 0::2], Rw[:, 0::2], Lw[:, 1::2], Rw[:, 1::2]
    return L0 + f1 * (R0 + L1), f0 * (R0 + L1) + R1


def _coarsen(Lw, Rw, leak, v):
    """:func:`_hat_rows` of the grid v[::2] from those of v: the coarse hat of node 2I is
    φ_2I plus φ_2I±1 times its values at v_2I±1, and every row is an integral over its hat."""
    h = np.diff(v)
    m = np.zeros(v.size)
    m[:-1] += h / 2
    m[1:] += h / 2
    H = h[0::2] + h[1::2]
    mc = np.zeros(H.size + 1)
    mc[:-1] += H / 2
    mc[1:] += H / 2
    res = []
    for X in (Lw, Rw, leak):
        U = X * (m if X.ndim == 1 else m[:, None])
        odd = U[1::2]
        Uc = U[0::2].copy()
        Uc[:-1] += odd * (h[1::2] / H if X.ndim == 1 else (h[1::2] / H)[:, None])
        Uc[1:] += odd * (h[0::2] / H if X.ndim == 1 else (h[0::2] / H)[:, None])
        res.append(Uc / (mc if X.ndim == 1 else mc[:, None]))
    return (*_coarsen_targets(res[0], res[1], v), res[2])


def _lagrange(x, y, x0):
    """The polynomial through the points (x, y) (four: a cubic) at x0."""
    tot = 0.0
    for i in range(len(x)):
        li = 1.0
        for j in range(len(x)):
            if j != i:
                li *= (x0 - x[j]) / (x[i] - x[j])
        tot += li * y[i]
    return tot


def _cells(z, v, w, ds):
    """Index k of the cell [v_k, v_{k+1}] holding z on the grid v_k = w sinh((k − K) ds);
    −1 below v_0 = −u_max, M − 1 at or above v_{M−1} = u_max."""
    C = v.size - 1
    k = np.arcsinh(z / w)
    k /= ds
    k = np.floor(k, out=k).astype(np.int64)
    k += C // 2
    np.minimum(k, C - 1, out=k)
    np.maximum(k, 0, out=k)
    k[z <= v[0]] = -1
    k[z >= v[-1]] = C
    return k


def _point_rows(a, b, p, v, w, ds, nodes):
    """One step from the nodes v[nodes]: per cell k of the landing point z = a_μ u + b_μ the
    weight Σ p_μ(1 − θ) split to its left node and Σ p_μ θ to its right one, θ = (z − v_k)/h_k,
    and the weight that leaves (|z| ≥ u_max)."""
    C = v.size - 1
    h = np.diff(v)
    z = a * v[nodes, None] + b
    k = _cells(z, v, w, ds)
    inside = (k >= 0) & (k < C)
    pin = np.where(inside, p, 0.0)
    kc = np.clip(k, 0, C - 1)
    th = np.clip((z - v[kc]) / h[kc], 0.0, 1.0)
    flat = (kc + (np.arange(len(nodes)) * C)[:, None]).ravel()
    n = len(nodes) * C
    Lw = np.bincount(flat, (pin * (1 - th)).ravel(), n).reshape(len(nodes), C)
    Rw = np.bincount(flat, (pin * th).ravel(), n).reshape(len(nodes), C)
    return Lw, Rw, (p - pin).sum(axis=1)


def _hat_rows(a, b, p, v, w, ds):
    """:func:`_point_rows` for every node, averaged over the start u under its hat φ_i(u).

    The landing point of kick μ moves linearly with u, so on [v_i, v_{i+1}] it sweeps the
    segment from z_i = a_μ v_i + b_μ to z_{i+1}; the segment is cut at the cells it
    crosses, and on each piece the weights (a product of two linear functions of u) are
    integrated exactly.  Averaged so, the one-step exit probability, a staircase in u for
    a finite data set, is integrated instead of sampled at the nodes (sampled, a few
    extreme samples put O(Δ) errors of random sign into log T).  Row i is the average over
    φ_i normalised to one, i.e. the lumped mass matrix of a Petrov–Galerkin scheme.
    """
    M = v.size
    C = M - 1
    h = np.diff(v)
    span = np.zeros(M)
    span[:-1] += h
    span[1:] += h
    f_lo = 2 * h / span[:-1]  # row i from interval i (weight 1 − t, mean ½)
    f_hi = 2 * h / span[1:]   # row i + 1 from interval i (weight t)
    Lw, Rw, leak = np.zeros((M, C)), np.zeros((M, C)), np.zeros(M)
    step = max(1, 100_000 // a.size)
    for s in range(0, C, step):
        n = min(step, C - s)
        Z = a * v[s:s + n + 1, None] + b
        k = _cells(Z, v, w, ds)
        kA, kB, zA = k[:-1].ravel(), k[1:].ravel(), Z[:-1].ravel()
        dz = Z[1:].ravel() - zA
        up = kB >= kA
        npc = np.abs(kB - kA) + 1
        row = np.repeat(np.arange(n), a.size)
        plo = (f_lo[s:s + n, None] * p).ravel()
        phi = (f_hi[s:s + n, None] * p).ravel()
        bL, bR = np.zeros((n + 1) * C), np.zeros((n + 1) * C)
        bq = np.zeros(n + 1)
        e = slice(None)
        for r in range(int(npc.max())):
            if r:
                e = np.flatnonzero(npc > r) if r == 1 else e[npc[e] > r]
            ke = kA[e] + np.where(up[e], r, -r) if r else kA
            last = npc[e] == r + 1
            z0, d0 = zA[e], dz[e]
            with np.errstate(divide="ignore", invalid="ignore"):
                t0 = (v[np.minimum(ke + ~up[e], C)] - z0) / d0 if r else np.zeros(z0.size)
                t1 = np.where(last, 1.0, (v[np.maximum(np.minimum(ke + up[e], C), 0)] - z0) / d0)
            t0 = np.minimum(np.maximum(t0, 0.0), 1.0)
            t1 = np.minimum(np.maximum(t1, t0), 1.0)
            ln = (t1 - t0) / 6
            ins = (ke >= 0) & (ke < C)
            kc = np.minimum(np.maximum(ke, 0), C - 1)
            hk, vkc = h[kc], v[kc]
            th0 = np.minimum(np.maximum((z0 + t0 * d0 - vkc) / hk, 0.0), 1.0)
            th1 = np.minimum(np.maximum((z0 + t1 * d0 - vkc) / hk, 0.0), 1.0)
            al, be = 2 * th0 + th1, th0 + 2 * th1
            wl, wh = plo[e] * ln, phi[e] * ln
            out = ~ins
            # ∫ g·θ over the piece, g and θ linear: (g0(2θ0 + θ1) + g1(θ0 + 2θ1))/6
            flat = row[e] * C + kc
            for g0, g1, wt, f in ((1 - t0, 1 - t1, wl, flat), (t0, t1, wh, flat + C)):
                wi = np.where(ins, wt, 0.0)
                bR += np.bincount(f, wi * (g0 * al + g1 * be), bR.size)
                bL += np.bincount(f, wi * (g0 * (3 - al) + g1 * (3 - be)), bL.size)
            if out.any():
                o = np.flatnonzero(out)
                re = row[e][o]
                bq += np.bincount(re, (wl[o] * 3 * (2 - t0[o] - t1[o])), n + 1)
                bq += np.bincount(re + 1, (wh[o] * 3 * (t0[o] + t1[o])), n + 1)
        Lw[s:s + n + 1] += bL.reshape(n + 1, C)
        Rw[s:s + n + 1] += bR.reshape(n + 1, C)
        leak[s:s + n + 1] += bq
    return Lw, Rw, leak


def _node_threshold_mfpt(hat, point, v, nodes, u0):
    """T(u0) for the thresholds u_c = v_{K+q}, q in ``nodes``, from one elimination.

    ``hat`` holds the rows of every node (:func:`_hat_rows`), ``point`` those of the
    boundary nodes K + q, then K − q (:func:`_point_rows`): the last state inside a
    threshold is T(u_c⁻) itself.  The states are ordered from the centre out
    (0, +r_1, −r_1, +r_2, ...), so that the states inside threshold q are the first
    2q + 1, of which the first 2q − 1 are interior.  The system of all nodes is eliminated
    once; threshold q shares its first 2q − 1 pivots and multipliers and differs only in
    its leaks, in the two columns of ±r_q (a landing beyond r_q no longer shares weight
    with it) and in the two rows of ±r_q.  Those are forward-substituted (all thresholds
    at once), finished by a 2 × 2 elimination and back-substituted (all at once).  Every
    operation adds nonnegative numbers.
    """
    Lw, Rw, leak = hat
    M = v.size
    K = (M - 1) // 2
    order = np.empty(M, dtype=np.int64)
    order[0] = K
    order[1::2] = K + np.arange(1, K + 1)
    order[2::2] = K - np.arange(1, K + 1)
    P = np.zeros((M, M))
    P[:, :-1] += Lw
    P[:, 1:] += Rw
    A = P[np.ix_(order, order)]
    del P
    piv = _gth_factor(A, leak[order].copy())
    A *= -1.0  # packed: strict lower −multipliers, strict upper −|U|, diagonal pivots
    A[np.diag_indices(M)] = piv

    def beyond(Lr, Rr, lk, q):
        """Leak of rows (Lr, Rr, lk) once the threshold is r_q: cells beyond ±r_q count."""
        cm = Lr + Rr
        return lk + cm[:, K + q:].sum(axis=1) + cm[:, :K - q].sum(axis=1)

    n = nodes.size
    R = np.empty((M, 1 + 3 * n))
    R[:, 0] = 1.0
    for t, q in enumerate(nodes.tolist()):
        R[:, 1 + 3 * t] = beyond(Lw, Rw, leak, q)[order]
        R[:, 2 + 3 * t] = Rw[order, K + q - 1]  # landing just inside +r_q, weight to +r_q
        R[:, 3 + 3 * t] = Lw[order, K - q]      # landing just inside −r_q, weight to −r_q
    X = linalg.solve_triangular(A, R, lower=True, unit_diagonal=True, check_finite=False)
    pL, pR, pleak = point
    Y = np.zeros((M, n))
    T_edge = np.empty((n, 2))
    for t, q in enumerate(nodes.tolist()):
        m = 2 * q - 1
        c = [0, 1 + 3 * t, 2 + 3 * t, 3 + 3 * t]
        rows = [t, n + t]  # the point rows of +r_q and −r_q
        Lr, Rr = pL[rows], pR[rows]
        Pr = np.zeros((2, M))
        Pr[:, :-1] += Lr
        Pr[:, 1:] += Rr
        own = np.stack([np.ones(2), beyond(Lr, Rr, pleak[rows], q), Rr[:, K + q - 1], Lr[:, K - q]], 1)
        # the edge rows' multipliers f (fᵀU = their entries in the interior columns), then
        # their entries once the interior is eliminated
        f = linalg.solve_triangular(A[:m, :m], Pr[:, order[:m]].T, trans="T", lower=False,
                                    check_finite=False)
        e0, e1 = own + f.T @ X[:m][:, c]
        b_m, q_m, _, a_01 = e0
        b_1, q_1, a_10, _ = e1
        pm = q_m + a_01
        g = a_10 / pm
        T1 = (b_1 + g * b_m) / (q_1 + g * q_m)
        T0 = (b_m + a_01 * T1) / pm
        T_edge[t] = T0, T1
        Y[:m, t] = X[:m, 0] + X[:m, c[2]] * T0 + X[:m, c[3]] * T1
    Z = linalg.solve_triangular(A, Y, lower=False, check_finite=False)
    res = np.empty(n)
    for t, q in enumerate(nodes.tolist()):
        m = 2 * q - 1
        Tn = np.empty(2 * q + 1)  # on v[K − q .. K + q]
        Tn[order[:m] - (K - q)] = Z[:m, t]
        Tn[2 * q], Tn[0] = T_edge[t]
        vv = v[K - q:K + q + 1]
        i = int(np.clip(np.searchsorted(vv, u0) - 2, 0, max(vv.size - 4, 0)))
        res[t] = _lagrange(vv[i:i + 4], Tn[i:i + 4], u0)  # three nodes for q = 1
    return res


def _gth_factor(A: np.ndarray, q: np.ndarray, block: int = 48) -> np.ndarray:
    """Factor I − P in place by the elimination of Grassmann, Taksar & Heyman (1985).

    ``A`` holds the off-diagonal transition weights P_ij ≥ 0 (its diagonal is never read),
    ``q`` the leaks 1 − Σ_j P_ij.  Each pivot is formed as its row's leak plus the
    magnitudes of its remaining off-diagonal entries, never as 1 − P_ii, so every operation
    adds nonnegative numbers and the factors are accurate relative to themselves at any
    size.  On return the strict lower triangle of ``A`` holds the multipliers, the strict
    upper triangle the magnitudes of U's off-diagonal entries; the pivots are returned.

    Blocked, ``block`` columns at a time: the panel's columns are eliminated in a contiguous
    copy, its rows row by row, and the trailing matrix is updated once per panel by a matrix
    product of nonnegative factors.
    """
    M = len(A)
    piv = np.empty(M)
    for k0 in range(0, M, block):
        k1 = min(k0 + block, M)
        nb = k1 - k0
        Pb = A[k0:, k0:k1].copy()  # the panel's columns, contiguous
        U12 = A[k0:k1, k1:]         # the panel's rows beyond it (a view)
        for kk in range(nb):
            k = k0 + kk
            piv[k] = q[k] + Pb[kk, kk + 1:].sum() + U12[kk].sum()
            f = Pb[kk + 1:, kk] / piv[k]
            Pb[kk + 1:, kk] = f
            Pb[kk + 1:, kk + 1:] += np.outer(f, Pb[kk, kk + 1:])
            U12[kk + 1:] += np.outer(f[:nb - kk - 1], U12[kk])
            q[k + 1:] += f * q[k]
        A[k0:, k0:k1] = Pb
        if k1 < M:
            A[k1:, k1:] += Pb[nb:] @ U12
    return piv


def _absorption_time(P: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """T solving (I − P) T = 1 for a substochastic P whose rows lose ``leak`` (= 1 − Σ_j P_ij).

    By :func:`_gth_factor` and triangular solves whose terms all have one sign:
    ``np.linalg.solve`` forms 1 − P_ii, which cancels, and lost every digit once T passed
    about 10¹² steps (T came out negative), the regime of rare escapes at large c.
    Elimination without pivoting keeps P's band (the largest jump down and up, found from
    its nonzero entries), so a narrow band is updated alone, O(M·l·u) instead of O(M³); a
    wide one goes to the blocked dense elimination.
    """
    A = np.array(P, dtype=float)  # off the diagonal: |(I − P)_ij|; the diagonal is never read
    M = len(A)
    rows, cols = np.nonzero(A)
    lower = int(max(np.max(rows - cols, initial=0), 0))  # band below and above the diagonal
    upper = int(max(np.max(cols - rows, initial=0), 0))
    if lower + upper > M // 4:  # wide band: the blocked dense elimination
        piv = _gth_factor(A, np.array(leak, dtype=float))
        A *= -1.0
        A[np.diag_indices(M)] = piv
        y = linalg.solve_triangular(A, np.ones(M), lower=True, unit_diagonal=True,
                                    check_finite=False)
        return linalg.solve_triangular(A, y, lower=False, check_finite=False)
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


def kesten_exponent(a, *, weights=None) -> float:
    """Tail exponent α of u_{k+1} = a_μ u_k + b_μ over the kicks μ: Σ p_μ|a_μ|^α = 1.

    Parameters
    ----------
    a : array_like
        The multipliers a_μ, for example 1 − η x_μ² of the N samples (d = 1, B = 1).
    weights : array_like, optional
        Their probabilities p_μ (normalised here); equal (1/N) if omitted.

    Returns
    -------
    float
        α > 0 (Kesten–Goldie: P(|u| > r) ∝ r^(−α), so t_p ∝ c^(α/2) as c → ∞), or ``inf``
        when every |a_μ| ≤ 1 (no kick expands |u|, e.g. η x_μ² ≤ 2 for every sample): the
        tail is then lighter than any power and the local slope of t_p grows without bound.
    """
    a = np.abs(np.asarray(a, dtype=float)).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise ValueError("multipliers a must be a non-empty array of finite numbers")
    p = np.full(a.size, 1.0 / a.size) if weights is None else np.asarray(weights, float).ravel()
    if p.shape != a.shape or np.any(p < 0) or not p.sum() > 0:
        raise ValueError("weights must be as many non-negative numbers as multipliers, not all 0")
    p = p / p.sum()
    if not np.any((a > 1) & (p > 0)):
        return math.inf
    top = a[p > 0].max()
    # Σ p (a/top)^α · top^α, computed in logs so large α does not overflow
    return _kesten_root(lambda x: float(p @ (a / top) ** x) * top**x, "kesten_exponent")


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


def expanding_kick_rate(*, eta: float, B: int, d: int) -> float:
    """Samples per step that expand an online SGD step on their own (linear regression, H = I).

    In the step u' = (I − (η/B) Σ x xᵀ) u + …, one sample x of the minibatch multiplies the
    component of u along x by 1 − (η/B)|x|², larger than 1 in size when (η/B)|x|² > 2.
    With x ~ N(0, I_d) that has probability P(χ²_d > 2B/η), so a step holds

        p_k = B · P(χ²_d > 2B/η)

    such kicks on average: the rare events by which online SGD escapes at small d
    (:func:`kesten_exponent_isotropic` gives the tail they make).
    """
    check_learning_rate(eta)
    for name, v in (("B", B), ("d", d)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise InvalidInput(f"{name} must be an integer >= 1, got {v!r}")
    return float(B * special.chdtrc(int(d), 2.0 * B / eta))


def kesten_exponent_isotropic(*, eta: float, d: int) -> float:
    """Tail exponent α of online SGD on linear regression in d dimensions (B = 1).

    Far from the minimum u = θ − θ* follows u_{k+1} = (I − ηx xᵀ)u_k + ηx y with
    x ~ N(0, I_d).  The law of I − ηx xᵀ is invariant under rotations, so |u_k| grows by
    i.i.d. factors |(I − ηx xᵀ)e₁|, and the stationary law has P(|u| > r) ∝ r^(−α) with
    E|(I − ηx xᵀ)e₁|^α = 1 (Kesten 1973): t_p ∝ c^(α/2) as c → ∞.  With S = x₁² ~ χ²₁ and
    R = |x_⊥|² ~ χ²_{d−1}, |(I − ηx xᵀ)e₁|² = (1 − ηS)² + η²SR, a two-dimensional
    integral.  For d = 1 this is :func:`kesten_exponent_gaussian`.

    Returns
    -------
    float
        α, or ``inf`` if E|·|^α stays below 1 (no expanding kick).
    """
    check_learning_rate(eta)
    d = int(d)
    if d < 1:
        raise ValueError(f"dimension d must be >= 1, got {d!r}")
    if d == 1:
        return kesten_exponent_gaussian(eta=eta)
    kR = (d - 1) / 2.0
    k = np.arange(64)
    t, V = linalg.eigh_tridiagonal(2 * k + kR, np.sqrt(k[1:] * (k[1:] + kR - 1)))
    R_nodes, R_w = 2 * t, V[0] ** 2

    def moment(alpha):
        # E_S,R [((1 − ηS)² + η²SR)^(α/2)], S ~ χ²₁ = z², z ~ N(0, 1), in logs (large α)
        def inner(R):
            f = lambda z: math.exp(0.5 * alpha * math.log(  # noqa: E731
                (1 - eta * z * z) ** 2 + eta * eta * z * z * R) - 0.5 * z * z)
            pts = sorted({1 / math.sqrt(eta), math.sqrt(2 * alpha + 1)})
            edges = [0.0, *pts, pts[-1] + 60.0]
            return sum(integrate.quad(f, lo, hi, limit=400, epsabs=1e-300, epsrel=1e-12)[0]
                       for lo, hi in zip(edges[:-1], edges[1:])) * 2 / math.sqrt(2 * math.pi)
        return float(sum(w * inner(R) for R, w in zip(R_nodes, R_w)))

    return _kesten_root(moment, "kesten_exponent_isotropic")
