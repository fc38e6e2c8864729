"""Discrete-SGD solvers against brute-force simulation of the same recursion."""

import numpy as np
import pytest

from logloss import theory


def _first_passages(step, u_c, u0, R, rng, k_max=100_000):
    """Brute force: R walkers of u ↦ step(u, rng) from u0; for each threshold the first
    k ≥ 1 with |u_k| ≥ u_c."""
    u_c = np.atleast_1d(u_c)
    u = np.full(R, float(u0))
    first = np.zeros((R, u_c.size))
    alive = np.ones(R, bool)
    k = 0
    while alive.any():
        k += 1
        assert k < k_max
        idx = np.flatnonzero(alive)
        u[idx] = step(u[idx], rng)
        new = (np.abs(u[idx, None]) >= u_c) & (first[idx] == 0)
        first[idx] = np.where(new, k, first[idx])
        alive[idx] = first[idx, -1] == 0
    return first


def test_discrete_mfpt_matches_simulation_of_weighted_kicks_from_off_centre():
    """Three thresholds at once, kicks of unequal probability, u0 ≠ 0, against 20 000
    walkers of the recursion itself."""
    rng = np.random.default_rng(0)
    x, e = rng.standard_normal(50), rng.standard_normal(50)
    eta = 0.3
    a, b = 1 - eta * x**2, eta * x * e
    w = rng.dirichlet(np.ones(50))
    u_c, u0 = np.array([0.35, 0.5, 0.7]), 0.1
    T = theory.discrete_mfpt_1d(a, b, u_c=u_c, u0=u0, weights=w, points=401)
    steps = _first_passages(lambda u, g: a[(mu := g.choice(50, u.size, p=w))] * u + b[mu],
                            u_c, u0, 20_000, rng)
    se = steps.std(axis=0, ddof=1) / np.sqrt(len(steps))
    # tolerance: statistical: 4 s.e. of the walkers' mean (the grid's error is below
    # 1e-4 of T here: 401 and 801 points agree to that)
    assert np.all(np.abs(T - steps.mean(axis=0)) < 4 * se), (T, steps.mean(axis=0), se)


def test_online_chain_matches_simulation_of_online_sgd():
    """A fresh x, y ~ N(0, 1) every step: the quadrature of the kicks against SGD itself."""
    eta, c = 0.1, np.array([1.1, 1.3])
    T = theory.discrete_mfpt_online_1d(c, eta=eta, points=201, nodes=4)
    rng = np.random.default_rng(1)

    def step(u, g):
        x, y = g.standard_normal(u.size), g.standard_normal(u.size)
        return u - eta * x * (x * u - y)

    steps = _first_passages(step, np.sqrt(c - 1), 0.0, 20_000, rng)
    se = steps.std(axis=0, ddof=1) / np.sqrt(len(steps))
    # tolerance: statistical: 4 s.e. of the walkers' mean
    assert np.all(np.abs(T - steps.mean(axis=0)) < 4 * se), (T, steps.mean(axis=0), se)


def test_discrete_mfpt_is_exact_for_a_rare_escaping_kick():
    """a = ½ always; b = ±3 with probability 10⁻⁴⁰, else 0: from any |u| < 1.5 the chain
    stays inside until the rare kick, which leaves every threshold, so T = 10⁴⁰ exactly,
    on every grid and for every threshold (the extrapolation and the interpolations are
    exact too)."""
    eps = 1e-40
    a = np.full(3, 0.5)
    b = np.array([0.0, 3.0, -3.0])
    w = np.array([1 - eps, eps / 2, eps / 2])
    T = theory.discrete_mfpt_1d(a, b, u_c=[0.5, 1.1, 1.5], u0=0.2, weights=w, points=65)
    assert T == pytest.approx(1 / eps, rel=1e-9)


def test_many_thresholds_from_one_elimination_equal_each_threshold_solved_alone():
    """The nested solve (one elimination, two rows and columns changed per threshold)
    against the truncated system assembled directly and solved by GTH elimination, where T
    reaches about 10¹⁹."""
    from logloss.theory import discrete_sgd as ds

    rng = np.random.default_rng(2)
    x, e = rng.standard_normal(300), rng.standard_normal(300)
    a, b, p = ds._kicks(1 - 0.1 * x**2, 0.1 * x * e, None)
    K, w, u_max = 40, 0.7, 2.5
    d = np.arcsinh(u_max / w) / K
    r = w * np.sinh(d * np.arange(K + 1))
    r[-1] = u_max
    v = np.concatenate([-r[:0:-1], r])
    nodes = np.array([3, 17, 28, K])
    Lw, Rw, leak = ds._hat_rows(a, b, p, v, w, d)
    edge = np.concatenate([K + nodes, K - nodes])
    pL, pR, pq = ds._point_rows(a, b, p, v, w, d, edge)
    got = ds._node_threshold_mfpt((Lw, Rw, leak), (pL, pR, pq), v, nodes, 0.0)
    for t, q in enumerate(nodes):
        lo, hi = K - q, K + q  # states: nodes lo..hi
        rows = [(Lw[i], Rw[i], leak[i]) for i in range(lo, hi + 1)]
        rows[-1] = (pL[t], pR[t], pq[t])
        rows[0] = (pL[nodes.size + t], pR[nodes.size + t], pq[nodes.size + t])
        n = hi - lo + 1
        P, out = np.zeros((n, n)), np.zeros(n)
        for s_, (L_, R_, q_) in enumerate(rows):
            cells = np.arange(lo, hi)  # cells inside: lo .. hi − 1
            P[s_, cells - lo] += L_[cells]
            P[s_, cells - lo + 1] += R_[cells]
            out[s_] = q_ + L_[:lo].sum() + R_[:lo].sum() + L_[hi:].sum() + R_[hi:].sum()
        want = ds._absorption_time(P, out)[q]
        assert got[t] == pytest.approx(want, rel=1e-9), (q, got[t], want)
    assert got[-1] > 1e18


@pytest.mark.parametrize("M", [40, 150])
def test_absorption_time_is_exact_for_a_birth_death_chain_with_an_astronomical_mfpt(M):
    """States 0…M−1, up with p, down with r (reflecting at 0), exit above M − 1: from 0,
    T = Σ_k Σ_{j≤k} (1/p)(r/p)^{k−j}, a sum of positive terms, here about 10³⁹ (M = 40) and
    10¹⁴⁹ (M = 150: three panels of the blocked elimination)."""
    from logloss.theory.discrete_sgd import _absorption_time

    p, r = 0.05, 0.5
    P = np.zeros((M, M))
    for i in range(M):
        if i + 1 < M:
            P[i, i + 1] = p
        P[i, max(i - 1, 0)] += r
        P[i, i] += 1 - p - r
    leak = np.zeros(M)
    leak[-1] = p
    k = np.arange(M)
    exact = sum((1 / p) * np.sum((r / p) ** (kk - k[:kk + 1])) for kk in range(M))
    assert exact > 1e38
    assert _absorption_time(P, leak)[0] == pytest.approx(exact, rel=1e-10)


def test_grid_error_is_a_series_in_the_spacing_squared_and_the_extrapolation_removes_it():
    """N = 3000, η = 0.05: no kick expands and the largest |b| come from a handful of
    samples; T reaches 10¹⁴.  One chain on 1601 nodes gives, restricted exactly, the
    chains on 801, 401, 201 and 101 nodes.  The error of log T must fall by 4 per halving
    of the spacing, as the extrapolation assumes (rows sampled at the nodes instead of
    averaged over their hats give ratios far from 4, from errors of random sign of the
    order of the spacing, set by the staircase of the exit probability); and the
    extrapolated T of ``discrete_mfpt_1d`` at 401 points must match the extrapolation
    from 1601 points."""
    from logloss.theory import discrete_sgd as ds

    rng = np.random.default_rng(4)
    x, e = rng.standard_normal(3000), rng.standard_normal(3000)
    a, b = 1 - 0.05 * x**2, 0.05 * x * e
    u_c = np.sqrt(np.array([1.5, 2.0, 2.5]) - 1)
    a_, b_, p_ = ds._kicks(a, b, None)
    raw = ds._log_mfpt_on_grid(a_, b_, p_, u_c, 0.0, ds._grid_scale(a_, b_, p_, u_c.max()),
                               u_c.max(), 800, 5) / np.log(10)  # 1601, 801, ..., 101 nodes
    ratio = (raw[3] - raw[4]) / (raw[2] - raw[3])
    # tolerance: criterion: 4 to within 15 %, the size of the next order (Δ⁴) at 201 points
    assert np.all(np.abs(ratio / 4 - 1) < 0.15), ratio
    ref = (64 * raw[0] - 20 * raw[1] + raw[2]) / 45
    assert ref[-1] > 14
    got = np.log10(theory.discrete_mfpt_1d(a, b, u_c=u_c, points=401))
    # tolerance: criterion: log10 T to 2e-3 at 401 points where T < 1e15 (the accuracy
    # documented for 801 points at twice the learning rate), against 0.02-0.12 unextrapolated
    assert np.all(np.abs(got - ref) < 2e-3), got - ref
    assert np.all(np.abs(raw[2] - ref) > 1e-2)


def test_discrete_mfpt_keeps_growing_where_escapes_are_astronomically_rare():
    """With 10⁴ Gaussian kicks at η = 0.1 no kick expands (every |a_μ| ≤ 1), so T(c)
    grows faster than any power; it must stay positive and increasing up to c = 10."""
    rng = np.random.default_rng(1)
    x, e = rng.standard_normal(10_000), rng.standard_normal(10_000)
    T = theory.discrete_mfpt_1d(1 - 0.1 * x**2, 0.1 * x * e, u_c=np.sqrt([1, 2, 4, 9]),
                                points=201)
    assert np.all(np.isfinite(T)) and T[0] > 1e4
    assert np.all(np.diff(np.log(T)) > 1), T


def test_online_chain_settles_on_the_kesten_slope():
    """Online SGD at η = 0.2: P(|u| > r) ∝ r^(−α) with E|1 − ηx²|^α = 1 (Kesten–Goldie),
    so the local slope d log T / d log c tends to α/2 (here 4.15) as c grows."""
    eta = 0.2
    c = np.array([10, 100, 1e5, 1e7])
    lT = np.log(theory.discrete_mfpt_online_1d(c, eta=eta, points=401, nodes=4))
    slope = np.diff(lT) / np.diff(np.log(c))
    half_alpha = theory.kesten_exponent_gaussian(eta=eta) / 2
    # tolerance: criterion: within 0.2 % of α/2 three decades out (the deviation is 1.6 %
    # over the first decade, a truncated tail would make the slope grow without bound)
    assert abs(slope[-1] / half_alpha - 1) < 2e-3, (slope, half_alpha)
    assert slope[0] / half_alpha - 1 > 0.01, (slope, half_alpha)


def test_online_chain_tends_to_the_exact_noise_sde_as_eta_falls():
    """At fixed depth c − 1 = 5η (u_c fixed in units of the stationary width) the chain's
    log T differs from the SDE's with the same drift and variance (theory.radial_mfpt,
    exact noise) by the overshoot of a discrete walk over the boundary, a fraction of one
    kick, O(√η) in units of the width: quartering η halves the difference."""
    d = []
    for eta in (0.04, 0.01):
        c = 1 + 5 * eta
        Tc = theory.discrete_mfpt_online_1d(c, eta=eta, points=201, nodes=4)
        Ts = theory.radial_mfpt(c, eta=eta, B=1, d=1, h=1.0, L_star=0.5, exact_noise=True)[0]
        d.append(np.log(Tc / Ts))
    # tolerance: criterion: the ratio of the differences within 25 % of √4 = 2 (the next
    # order, O(η), is a quarter of the leading one at η = 0.04); a chain whose moments
    # differ from the SDE's keeps an O(1) difference and gives a ratio near 1
    assert d[1] > 0 and 1.5 < d[0] / d[1] < 2.5, d


def test_online_kicks_have_the_moments_and_the_kesten_tail_of_the_gaussian_law():
    eta = 0.1
    a, b, p = theory.online_kicks_1d(eta=eta)
    assert p.sum() == pytest.approx(1, abs=1e-12)
    # E ηx² = η, E (ηx²)² = 3η², E b² = η² E x²y² = η², E (ηx²)² b² = η⁴ E x⁶ = 15 η⁴, E b = E ab = 0
    assert p @ (1 - a) == pytest.approx(eta, rel=1e-12)
    assert p @ (1 - a) ** 2 == pytest.approx(3 * eta**2, rel=1e-12)
    assert p @ b**2 == pytest.approx(eta**2, rel=1e-12)
    assert p @ ((1 - a) ** 2 * b**2) == pytest.approx(15 * eta**4, rel=1e-12)
    assert abs(p @ b) < 1e-15 and abs(p @ (a * b)) < 1e-15
    alpha = theory.kesten_exponent_gaussian(eta=eta)
    assert p @ np.abs(a) ** alpha == pytest.approx(1, rel=1e-8)


def test_discrete_mfpt_weights_and_bad_input():
    rng = np.random.default_rng(3)
    x, e = rng.standard_normal(200), rng.standard_normal(200)
    a, b = 1 - 0.2 * x**2, 0.2 * x * e
    T = theory.discrete_mfpt_1d(a, b, u_c=0.6, points=65)
    assert isinstance(T, float)
    # every kick twice, at half the weight: the same chain
    T2 = theory.discrete_mfpt_1d(np.tile(a, 2), np.tile(b, 2), u_c=0.6, points=65,
                                 weights=np.full(400, 7.0))
    assert T2 == pytest.approx(T, rel=1e-12)
    assert theory.discrete_mfpt_1d(a, b, u_c=[[0.6]], points=65).shape == (1, 1)
    # a threshold inside the first cell of the wide grid is solved on a grid of its own
    Ts = theory.discrete_mfpt_1d(a, b, u_c=[1e-4, 0.6], points=65)
    assert Ts[0] == pytest.approx(theory.discrete_mfpt_1d(a, b, u_c=1e-4, points=65), rel=1e-12)
    assert Ts[0] == pytest.approx(1, abs=1e-2) and Ts[1] == pytest.approx(T, rel=1e-12)
    for kw in (dict(u_c=0.6, u0=0.6), dict(u_c=-1.0), dict(u_c=0.6, weights=np.ones(3)),
               dict(u_c=0.6, weights=-np.ones(200)), dict(u_c=0.6, points=5),
               dict(u_c=0.6, u0=0.599, points=17)):
        with pytest.raises(ValueError):
            theory.discrete_mfpt_1d(a, b, **kw)
    with pytest.raises(ValueError):
        theory.discrete_mfpt_online_1d(1.0, eta=0.1)


@pytest.mark.parametrize("B,d", [(1, 1), (1, 9), (1, 16), (3, 12)])
def test_lyapunov_exponent_matches_a_simulated_product_of_sgd_maps(B, d):
    eta = 0.2
    lam = theory.lyapunov_exponent(eta=eta, B=B, d=d)
    rng = np.random.default_rng(2)
    R, k = 400, 400
    u = rng.standard_normal((R, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    logs = np.zeros(R)
    for _ in range(k):
        x = rng.standard_normal((R, B, d))
        xu = np.einsum("rbd,rd->rb", x, u)
        u = u - eta / B * np.einsum("rb,rbd->rd", xu, x)
        n = np.linalg.norm(u, axis=1)
        logs += np.log(n)
        u /= n[:, None]
    rate = logs / k
    assert abs(rate.mean() - lam) < 4 * rate.std(ddof=1) / np.sqrt(R), (rate.mean(), lam)


@pytest.mark.parametrize("B,d", [(1, 400), (4, 2000)])
def test_lyapunov_exponent_at_large_d_matches_monte_carlo_of_its_one_step_law(B, d):
    """Beyond d ≈ 300, where Γ((d − 1)/2) overflows: λ = ½ E log[(1 − ηS/B)² + η²SR/B²]
    with S ~ χ²_B, R ~ χ²_{d−1}, sampled directly."""
    eta = 0.1
    rng = np.random.default_rng(3)
    S, R = rng.chisquare(B, 200_000), rng.chisquare(d - 1, 200_000)
    f = 0.5 * np.log((1 - eta * S / B) ** 2 + eta**2 * S * R / B**2)
    lam = theory.lyapunov_exponent(eta=eta, B=B, d=d)
    assert np.isfinite(lam)
    assert abs(f.mean() - lam) < 4 * f.std(ddof=1) / np.sqrt(f.size), (f.mean(), lam)


def test_critical_dimensions_at_eta_02():
    d_l = theory.lyapunov_critical_dimension(eta=0.2, B=1)
    assert 8.5 < d_l < 9.5
    assert theory.lyapunov_exponent(eta=0.2, B=1, d=d_l - 0.5) < 0 < theory.lyapunov_exponent(eta=0.2, B=1, d=d_l + 0.5)
    assert theory.mean_square_critical_dimension(eta=0.2, B=1) == pytest.approx(8.0)
    # small-eta expansion of 2λ: −2η + η²(1 + (d+1)/B) − 2η²(1 + 2/B)
    eta, B, d = 0.01, 2, 6
    approx = -2 * eta + eta**2 * (1 + (d + 1) / B) - 2 * eta**2 * (1 + 2 / B)
    assert 2 * theory.lyapunov_exponent(eta=eta, B=B, d=d) == pytest.approx(approx, abs=30 * eta**3)


@pytest.mark.parametrize("d", [3, 9, 10, 11])
def test_sphere_lyapunov_matches_simulation_and_vanishes_at_two_over_eta(d):
    eta = 0.2
    lam = theory.lyapunov_exponent_sphere(eta=eta, d=d)
    rng = np.random.default_rng(d)
    x = rng.standard_normal((400_000, d))
    x *= np.sqrt(d) / np.linalg.norm(x, axis=1, keepdims=True)
    v = 0.5 * np.log(1 - eta * (2 - eta * d) * x[:, 0] ** 2)  # u = e_1 by rotation invariance
    assert abs(v.mean() - lam) < 4 * v.std() / np.sqrt(v.size) + 1e-12, (v.mean(), lam)
    assert np.sign(lam) == np.sign(eta * d - 2)


def test_kesten_exponent_solves_the_moment_equation():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(200)
    a = 1 - 0.5 * x**2  # η = 0.5: several samples expand (|a| > 1)
    alpha = theory.kesten_exponent(a)
    assert np.mean(np.abs(a) ** alpha) == pytest.approx(1, rel=1e-6)
    assert theory.kesten_exponent(np.array([0.5, -0.9, 1.0])) == np.inf  # nothing expands
    with pytest.raises(ValueError):
        theory.kesten_exponent(np.array([2.0, 1.5]))  # E log|a| > 0: no stationary law
    # the Gaussian law against a large empirical sample of it (its α is larger: the sample
    # lacks the far tail that sets α)
    ag = theory.kesten_exponent_gaussian(eta=0.5)
    m = np.mean(np.abs(1 - 0.5 * rng.standard_normal(2_000_000) ** 2) ** ag)
    assert m == pytest.approx(1, rel=0.05)


@pytest.mark.parametrize("eta,B", [(0.1, 1), (0.37, 3), (1.5, 2)])
def test_expanding_kick_rate_in_closed_form_at_d2(eta, B):
    # |x|² ~ χ²₂ is exponential with mean 2: P(|x|² > 2B/η) = exp(−B/η)
    assert theory.expanding_kick_rate(eta=eta, B=B, d=2) == pytest.approx(B * np.exp(-B / eta),
                                                                          rel=1e-12)


def test_expanding_kick_rate_counts_the_expanding_samples_of_a_simulation():
    eta, B, d, steps = 0.4, 2, 3, 200_000
    x = np.random.default_rng(5).standard_normal((steps, B, d))
    kicks = (eta / B * np.sum(x**2, axis=2) > 2).sum(axis=1)  # per step
    rate = theory.expanding_kick_rate(eta=eta, B=B, d=d)
    # tolerance: 4 standard errors of the simulated mean
    assert abs(kicks.mean() - rate) < 4 * kicks.std(ddof=1) / np.sqrt(steps)


@pytest.mark.parametrize("kw", [dict(eta=0.1, B=0, d=1), dict(eta=0.1, B=1, d=1.5),
                                dict(eta=-1.0, B=1, d=1)])
def test_expanding_kick_rate_refuses_bad_input(kw):
    with pytest.raises(ValueError):
        theory.expanding_kick_rate(**kw)
