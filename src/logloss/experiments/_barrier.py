"""Exact numbers and escape-time predictions of the barrier landscape (private helpers of
the ``barrier`` and ``error-budget`` experiments).

Every time is a mean escape time in SGD steps k (t = ηk) from θ* to either neighbouring
minimum, the sum over the two saddles taken as a sum of rates.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.barrier_sgd import sgd_barrier
from ..models.barrier import BarrierRegression, make_barrier_regression
from ..stats.first_passage import mean_first_passage
from ..stats.lines import fit_line
from ..stats.survival import kaplan_meier, weibull_shape
from ..theory import kramers_escape_time, markov_chain_mfpt, sde_mfpt, spectator_loss_ratio
from ._cost import F8, barrier_sgd, chain_mfpt

#: The laws compared with the data: key, label (figure, tables).
LAWS = (
    ("eq15", "paper Eq. (15), h* = noise curvature"),
    ("eq15_hessian", "paper Eq. (15), h* = true Hessian"),
    ("arrhenius_min", "Arrhenius, noise frozen at θ*"),
    ("arrhenius_const", "Arrhenius, loss-independent noise"),
    ("xss", "Xie et al. (2021)"),
    ("affine", "affine noise Σ ∝ αL + β"),
)
#: The exact layers (no asymptotics): the SDE by quadrature and the discrete chain.
EXACT = (("kramers_exact", "Kramers, exact Σ(θ)"), ("sde_quadrature", "SDE, quadrature"),
         ("chain", "discrete chain, exact"))


def landscape_row(p: BarrierRegression, *, B: int) -> dict:
    """Critical points and curvatures (σ-independent) with the loss and noise at σ² = p.sigma2."""
    cp = p.critical_points
    t = np.array([cp["theta_star"], cp["saddle_lo"], cp["saddle_hi"]])
    L, gn, h = p.loss(t), p.gauss_newton(t), p.hessian(t)
    Sig = p.noise_variance(t, B=B)
    return dict(**cp, L_star=float(L[0]), L_saddle_lo=float(L[1]), L_saddle_hi=float(L[2]),
                dL_lo=float(L[1] - L[0]), dL_hi=float(L[2] - L[0]),
                h_star=float(h[0]), h_saddle_lo=float(h[1]), h_saddle_hi=float(h[2]),
                gn_star=float(gn[0]), gn_saddle_lo=float(gn[1]), gn_saddle_hi=float(gn[2]),
                h_noise=float(B * Sig[0] / (2 * L[0])), Sigma_star=float(Sig[0]),
                Sigma_saddle_lo=float(Sig[1]), Sigma_saddle_hi=float(Sig[2]))


def predictions(p: BarrierRegression, *, eta: float, B: int, D_ref: float, grid: int,
                chain_grid: int, xss_s: float = 0.5) -> dict:
    """Every prediction of the mean escape time (steps) at the σ² of ``p``.

    ``D_ref`` is the diffusion D = ηΣ(θ*)/2 frozen for the loss-independent Arrhenius law
    (the value at σ² = 0); ``xss_s`` the path parameter s of Xie et al.'s formula.
    """
    lr = landscape_row(p, B=B)
    eta = np.float64(eta)  # times beyond float64 are inf (numpy), not an OverflowError
    L0 = lr["L_star"]
    h_star, h_n = lr["h_star"], lr["h_noise"]
    D_star = eta * lr["Sigma_star"] / 2
    x = p.path_grid(grid)
    L, Lp = p.loss(x), p.grad(x)
    D = eta * p.noise_variance(x, B=B) / 2
    i_star = int(np.argmin(np.abs(x - lr["theta_star"])))
    rates: dict[str, float] = {k: 0.0 for k, _ in LAWS + EXACT[:1]}
    for side in ("lo", "hi"):
        hs, Ls, dL = lr[f"h_saddle_{side}"], lr[f"L_saddle_{side}"], lr[f"dL_{side}"]
        pre = 2 * np.pi / np.sqrt(h_star * abs(hs)) / eta   # steps
        c = Ls / L0
        rates["eq15"] += 1 / (pre * c ** (B / (eta * h_n) + 0.5))
        rates["eq15_hessian"] += 1 / (pre * c ** (B / (eta * h_star) + 0.5))
        rates["arrhenius_min"] += 1 / (pre * np.exp(dL / D_star))
        rates["arrhenius_const"] += 1 / (pre * np.exp(dL / D_ref))
        rates["xss"] += 1 / (pre * np.exp(2 * B * dL / eta * (xss_s / h_star + (1 - xss_s) / abs(hs))))
        # affine fit of the exact noise on the path θ* → θˢ: BΣ/(2h_n) = αL + β
        s_idx = int(np.argmin(np.abs(x - lr[f"saddle_{side}"])))
        seg = slice(min(i_star, s_idx), max(i_star, s_idx) + 1)
        aff = fit_line(L[seg], B * 2 * D[seg] / eta / (2 * h_n))
        alpha, beta = aff.slope, aff.intercept
        Da_star, Da_s = (eta * h_n / B * (alpha * v + beta) for v in (L0, Ls))
        psi_aff = B / (eta * h_n * alpha) * np.log((alpha * Ls + beta) / (alpha * L0 + beta))
        rates["affine"] += 1 / (kramers_escape_time(h_min=h_star, h_saddle=hs, D_min=Da_star,
                                                    D_saddle=Da_s, barrier=psi_aff) / eta)
        lr[f"affine_alpha_{side}"], lr[f"affine_beta_{side}"] = float(alpha), float(beta)
        # Kramers with the exact Σ(θ): Ψ = ∫ L′/D along θ* → θˢ
        xs, ys = x[seg], (Lp / D)[seg]
        psi = abs(np.trapezoid(ys, xs))
        rates["kramers_exact"] += 1 / (kramers_escape_time(h_min=h_star, h_saddle=hs,
                                                           D_min=D_star, D_saddle=D[s_idx],
                                                           barrier=psi) / eta)
    out = {k: 1 / v for k, v in rates.items()}
    T = sde_mfpt(x, -Lp, D) / eta
    out["sde_quadrature"] = float(np.interp(lr["theta_star"], x, T))
    if chain_grid:
        xc = p.path_grid(chain_grid)
        if B == 1:
            kicks = p.per_sample_grads
        else:  # sampled minibatch means (an approximation of the exact kick law)
            rng = np.random.default_rng(0)
            idx = rng.permuted(np.tile(np.arange(p.N), (4096, 1)), axis=1)[:, :B]
            kicks = lambda th: p.per_sample_grads(th)[:, idx].mean(axis=2)  # noqa: E731
        Tc = markov_chain_mfpt(xc, kicks, eta=eta)
        out["chain"] = float(np.interp(lr["theta_star"], xc, Tc))
    else:
        out["chain"] = float("nan")
    return dict(times=out, landscape=lr)


def validate(p: dict) -> None:
    """The barrier experiments' shared rule: B < N (at B = N there is no noise to escape by)."""
    check_noisy_batch(p["B"], p["N"])


def data_cost(p: dict) -> Cost:
    """The barrier data set (N × 4 features and their moments)."""
    return Cost(memory=8 * float(p["N"]) * F8)


def prediction_cost(p: dict, *, chain: bool = True) -> Cost:
    """:func:`predictions` at one σ²: arrays on the grid and, with ``chain``, the discrete
    chain, whose kicks are the N per-sample gradients (B = 1) or 4096 sampled minibatch
    means (a 4096 × N table of shuffles)."""
    N, B = float(p["N"]), float(p["B"])
    grid = Cost(memory=30 * float(p["grid"]) * F8, seconds=1e-5 * float(p["grid"]))
    if not chain:
        return grid
    if B == 1:
        mc = chain_mfpt(points=p["chain_grid"], kicks=N)
    else:
        mc = chain_mfpt(points=p["chain_grid"], kicks=4096 * B)
        mc = Cost(mc.memory + 2 * 4096 * N * F8, mc.seconds)
    return grid.then(mc)


def sgd_cost(p: dict, spectators: int = 0) -> Cost:
    """One SGD escape run of the barrier experiments."""
    return barrier_sgd(N=p["N"], spectators=spectators, B=p["B"], steps=p["steps"],
                       replicas=p["replicas"])


def estimate(run, label: str) -> dict:
    """Censoring-aware mean exit time and two checks of memoryless escape: the Kaplan–Meier
    curve's distance from the exponential law and the censored Weibull shape k (1 if
    memoryless)."""
    e = mean_first_passage(run.first_passage, run.steps)[0]
    times = np.where(run.first_passage[:, 0] >= 0, run.first_passage[:, 0], run.steps).astype(float)
    observed = run.first_passage[:, 0] >= 0
    km = kaplan_meier(times, observed)
    # sup-distance between KM and the exponential law with the same mean, on [0, budget]
    dev = float(np.max(np.abs(km.survival - np.exp(-km.t / e.mean)))) if observed.any() else float("nan")
    try:  # Weibull shape k = 1 for memoryless escape
        wb = weibull_shape(times, observed, offset=0.5)
        k, k_se = wb.shape, wb.shape_stderr
    except InvalidInput:
        k = k_se = float("nan")
    return {f"{label}": e.mean, f"{label}_stderr": e.stderr, f"{label}_censored": e.censored,
            f"{label}_estimator": e.method, f"{label}_km_exp_distance": dev,
            f"{label}_km_band": float(1.36 / np.sqrt(max(int(observed.sum()), 1))),
            f"{label}_weibull_k": k, f"{label}_weibull_k_stderr": k_se,
            f"{label}_left": int((run.side < 0).sum()), f"{label}_right": int((run.side > 0).sum())}


def sigma2_points(p: dict, rng: np.random.Generator):
    """The presets' landscape and, lazily for each σ² in turn, the problem, its predictions
    and a seeded SGD escape run from θ* (shared by ``barrier`` and ``error-budget``).

    Returns ``(base, D_ref, points)`` with ``points`` yielding ``(σ², problem, predictions,
    run)``; the draws from ``rng`` happen in the order the points are consumed.
    """
    eta, B = p["eta"], p["B"]
    base = make_barrier_regression(p["N"], rng, A=p["A"], k=p["k"], a=p["a"], b=p["b"])
    cp = base.critical_points
    D_ref = eta * landscape_row(base, B=B)["Sigma_star"] / 2   # σ² = 0: loss-independent law

    def points():
        for s2 in p["sigma2s"]:
            prob = base.with_sigma2(s2)
            pred = predictions(prob, eta=eta, B=B, D_ref=D_ref, grid=p["grid"],
                               chain_grid=p["chain_grid"], xss_s=p["xss_s"])
            run = sgd_barrier(prob, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                              seed=int(rng.integers(2**31)), lo=cp["exit_lo"], hi=cp["exit_hi"],
                              theta0=cp["theta_star"])
            yield s2, prob, pred, run

    return base, D_ref, points()


def spectator_times(p: BarrierRegression, *, eta: float, B: int, h_spectator: float, m: int,
                    grid: int, chain_grid: int) -> dict:
    """Adiabatic predictions of the mean escape time (steps) with m spectators of curvature
    h_s: θ's exact noise Σ(θ) plus the share of the spectators at their stationary loss
    (κ − 1)·L(θ), i.e. Σ + 2(κ − 1)L(θ)·GN(θ)/B with κ from
    :func:`~logloss.theory.spectator_loss_ratio`, for the SDE (quadrature, κ of the SDE)
    and for the discrete chain (κ of discrete SGD; the per-sample gradients' deviations from
    L′ scaled up to that variance, B = 1 only).  ``nan`` where κ is infinite.
    """
    theta_star = p.critical_points["theta_star"]
    out = {}
    for kind, discrete in (("sde", False), ("chain", True)):
        kappa = spectator_loss_ratio(eta=eta, B=B, h=h_spectator, m=m, discrete=discrete)
        out[f"kappa_{kind}"] = kappa
        out[kind] = float("nan")
        if not np.isfinite(kappa) or (discrete and B != 1):
            continue

        def sigma(th, kappa=kappa):
            return (p.noise_variance(th, B=B)
                    + 2 * (kappa - 1) * p.loss(th) * p.gauss_newton(th) / B)

        if not discrete:
            x = p.path_grid(grid)
            T = sde_mfpt(x, -p.grad(x), eta * sigma(x) / 2) / eta
        else:
            x = p.path_grid(chain_grid)

            def kicks(th, sigma=sigma):
                g, mean = p.per_sample_grads(th), p.grad(th)[:, None]
                scale = np.sqrt(sigma(th) / p.noise_variance(th, B=1))[:, None]
                return mean + scale * (g - mean)

            T = markov_chain_mfpt(x, kicks, eta=eta)
        out[kind] = float(np.interp(theta_star, x, T))
    return out
