"""Exact numbers and escape-time predictions of the barrier landscape (private helpers of
the ``barrier`` and ``error-budget`` experiments).

Every time is a mean escape time in SGD steps k (t = ηk) from θ* to either neighbouring
minimum, the sum over the two saddles taken as a sum of rates.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.resources import NUMBA_RATE, Cost
from ..core.validation import check_noisy_batch
from ..dynamics.barrier_excursions import BarrierSystem
from ..dynamics.barrier_sgd import sgd_barrier
from ..models.barrier import BarrierRegression, SpectatorBarrier, make_barrier_regression
from ..stats.first_passage import mean_first_passage
from ..stats.lines import fit_line
from ..stats.splitting import rare_first_passage
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


#: One line of meaning of each own field of the barrier experiments (their tables share
#: :func:`landscape_row`, :func:`measure_escape` and :func:`predictions`).
FIELDS = {
    "theta_star": "θ* of the minimum",
    "saddle_lo": "θ of the lower saddle",
    "saddle_hi": "θ of the upper saddle",
    "exit_lo": "θ at which an escape over the lower saddle counts (the next minimum)",
    "exit_hi": "θ at which an escape over the upper saddle counts",
    "L_saddle_lo": "loss at the lower saddle",
    "L_saddle_hi": "loss at the upper saddle",
    "dL_lo": "barrier height L(θˢ) − L* over the lower saddle",
    "dL_hi": "barrier height over the upper saddle",
    "h_saddle_lo": "Hessian at the lower saddle (negative)",
    "h_saddle_hi": "Hessian at the upper saddle (negative)",
    "gn_star": "Gauss–Newton curvature at θ*",
    "gn_saddle_lo": "Gauss–Newton curvature at the lower saddle",
    "gn_saddle_hi": "Gauss–Newton curvature at the upper saddle",
    "h_noise": "noise curvature BΣ(θ*)/(2L*): the h* of paper Eq. (15)",
    "Sigma_star": "gradient-noise variance Σ at θ*",
    "Sigma_saddle_lo": "Σ at the lower saddle",
    "Sigma_saddle_hi": "Σ at the upper saddle",
    "temperature": "B/(η h_noise): the exponent of c in paper Eq. (15), less ½",
    "relaxation": "relaxation time 1/(ηh*) in steps",
    "split": "mean exit time of SGD by splitting on log L (steps)",
    "split_log10_stderr": "standard error of log₁₀ of the splitting estimate",
    "split_dominance": "largest share of one branch in the splitting estimate",
    "split_cost": "SGD replica-steps of the splitting runs",
    "split_c_A": "threshold of the splitting's starting set A",
    "bf": "mean exit time of SGD by brute force, where its budget reaches (steps)",
    "bf_cost": "SGD replica-steps of the brute-force runs",
    "spectator_loss_exit": "median spectator loss at exit over L*",
    "sgd_method": "which estimate sgd is: brute force or splitting",
    "rare": "whether sgd ≥ 100 relaxation times (the regime of the escape laws)",
    "eq15_hessian": "paper Eq. (15) with h* the true Hessian",
    "xss": "the escape time of Xie et al. (2021)",
    "affine": "Kramers with the noise fitted as Σ ∝ αL + β on the path",
}


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
                chain_resolution: float, xss_s: float = 0.5) -> dict:
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
    if chain_resolution:
        out["chain"], lr["chain_grid_error"] = chain_time(p, eta=eta, B=B,
                                                          resolution=chain_resolution)
    else:
        out["chain"] = lr["chain_grid_error"] = float("nan")
    return dict(times=out, landscape=lr)


def validate(p: dict) -> None:
    """The barrier experiments' shared rule: B < N (at B = N there is no noise to escape by)."""
    check_noisy_batch(p["B"], p["N"])


def data_cost(p: dict) -> Cost:
    """The barrier data set (N × 4 features and their moments)."""
    return Cost(memory=8 * float(p["N"]) * F8)


def prediction_cost(p: dict, *, eta: float | None = None, chain: bool = True) -> Cost:
    """:func:`predictions` at one σ²: the grid quadratures and, with ``chain``, the discrete
    chain (``chain_resolution`` points per noise step η√Σ*, about 3/η steps across the
    well; its kicks are the N per-sample gradients for B = 1 or 4096 sampled minibatch
    means)."""
    N, B = float(p["N"]), float(p["B"])
    grid = Cost(memory=30 * float(p["grid"]) * F8, seconds=1e-5 * float(p["grid"]))
    if not chain:
        return grid
    points = max(201.0, float(p["chain_resolution"]) * 3 / float(p["eta"] if eta is None else eta))
    mc = chain_mfpt(points=points, kicks=N if B == 1 else 4096 * B)
    if B > 1:
        mc = Cost(mc.memory + 2 * 4096 * N * F8, mc.seconds)
    return grid.then(mc)


def sgd_cost(p: dict, spectators: int = 0) -> Cost:
    """One brute-force SGD escape run of the barrier experiments."""
    return barrier_sgd(N=p["N"], spectators=spectators, B=p["B"], steps=p["steps"],
                       replicas=p["replicas"])


def escape_cost(p: dict, *, eta: float, spectators: int = 0) -> Cost:
    """One :func:`measure_escape` with its predictions: brute force, the splitting
    (``repetitions`` × ``split_replicas`` excursions of about 50 relaxation times per e-fold,
    up to 40 e-folds, relaxation 1/η at most) and :func:`prediction_cost`."""
    m = float(spectators)
    per_step = float(p["B"]) * (8 + 2 * m) + 10 + m
    n = float(p["repetitions"]) * float(p["split_replicas"])
    split = Cost(memory=n * (m + 4) * 4 * F8, seconds=n * 40 * 50 / float(eta) * per_step / NUMBA_RATE)
    return sgd_cost(p, spectators).then(split).then(prediction_cost(p, eta=eta))



def chain_points(p: BarrierRegression, *, eta: float, B: int, resolution: float) -> int:
    """Grid points on [θ₋, θ₊] for the discrete chain: ``resolution`` points per noise step
    η√Σ(θ*) (the spread of one step at the minimum, which the grid must resolve); odd, and
    at least 201."""
    cp = p.critical_points
    step = eta * float(np.sqrt(p.noise_variance(cp["theta_star"], B=B)))
    M = int(np.ceil(resolution * (cp["exit_hi"] - cp["exit_lo"]) / step))
    return max(201, M | 1)


def chain_kicks(p: BarrierRegression, *, B: int):
    """The kicks of the discrete chain: the N per-sample gradients for B = 1 (exact); for
    B > 1, 4096 sampled minibatch means (an approximation of the exact kick law)."""
    if B == 1:
        return p.per_sample_grads
    rng = np.random.default_rng(0)
    idx = rng.permuted(np.tile(np.arange(p.N), (4096, 1)), axis=1)[:, :B]
    return lambda th: p.per_sample_grads(th)[:, idx].mean(axis=2)


def chain_time(p: BarrierRegression, *, eta: float, B: int, resolution: float,
               kicks=None) -> tuple[float, float]:
    """The discrete chain's mean exit time from θ* (steps) and its grid error.

    :func:`~logloss.theory.markov_chain_mfpt` on M = :func:`chain_points` points and on
    (M + 1)/2; its error is O(Δ²) (the linear split of each landing point adds at most Δ²/4
    to the variance of a step), so the Richardson value T_f + (T_f − T_c)/3 is returned
    (:func:`richardson`), with |T_f − T_c|/3, the correction itself, as its error.  ``kicks`` defaults to
    :func:`chain_kicks`.
    """
    kicks = chain_kicks(p, B=B) if kicks is None else kicks
    M = chain_points(p, eta=eta, B=B, resolution=resolution)
    theta_star = p.critical_points["theta_star"]
    Tf, Tc = (float(np.interp(theta_star, x, markov_chain_mfpt(x, kicks, eta=eta)))
              for x in (p.path_grid(M), p.path_grid((M + 1) // 2)))
    return richardson(Tf, Tc, ratio=2.0)   # the coarse spacing is exactly twice the fine one


def richardson(fine: float, coarse: float, *, ratio: float) -> tuple[float, float]:
    """Richardson extrapolation of a result with an O(Δ²) error from grids whose spacings
    differ by ``ratio``: (fine + (fine − coarse)/(ratio² − 1), |correction|)."""
    corr = (fine - coarse) / (ratio**2 - 1)
    return fine + corr, abs(corr)


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


#: The keys :func:`measure_escape` fills with NaN where brute force did not run.
_BF_KEYS = ("bf", "bf_stderr", "bf_censored", "bf_km_exp_distance", "bf_km_band",
            "bf_weibull_k", "bf_weibull_k_stderr", "bf_left", "bf_right")


def measure_escape(problem: BarrierRegression | SpectatorBarrier, *, eta: float, B: int,
                   steps: int, replicas: int, repetitions: int, split_replicas: int,
                   rng: np.random.Generator, reach: float = 5.0) -> dict:
    """The mean exit time of SGD from (θ*, φ = 0) to a neighbouring minimum, at any rarity.

    * ``split``: splitting on ξ = log(L/L*) (:class:`~logloss.dynamics.BarrierSystem`,
      :func:`~logloss.stats.splitting.rare_first_passage`, ``repetitions`` × ``split_replicas``),
      with its standard error, dominance and cost in replica-steps;
    * ``bf``: brute force (:func:`~logloss.dynamics.barrier_sgd.sgd_barrier`, ``replicas``
      × ``steps``) where its budget is at least ``reach`` times the splitting estimate
      (censoring then below e^(−reach) for memoryless escape), with the checks of
      :func:`estimate`; NaN elsewhere;
    * ``sgd``: the measurement used downstream, brute force where it ran, else splitting
      (``sgd_method`` says which);
    * ``rare``: ``sgd`` ≥ 100 relaxation times 1/(ηh), the regime of the escape laws,
      declared before any comparison.
    """
    system = BarrierSystem(problem, eta=eta, B=B)
    rfp = rare_first_passage(system, [system.c_exit], seed=int(rng.integers(2**31)),
                             repetitions=repetitions, replicas=split_replicas)
    row = dict(relaxation=system.relaxation, split=float(rfp.t_p[0]),
               split_stderr=float(rfp.t_p_stderr[0]),
               split_log10_stderr=float(rfp.log10_t_p_stderr[0]),
               split_dominance=float(rfp.dominance[0]), split_cost=int(rfp.cost),
               split_c_A=float(rfp.settings["c_A"]))
    seed = int(rng.integers(2**31))  # drawn either way: the draws do not depend on the data
    if np.isfinite(row["split"]) and reach * row["split"] <= steps:
        run = sgd_barrier(problem, eta=eta, B=B, steps=steps, replicas=replicas, seed=seed,
                          lo=system.lo, hi=system.hi, theta0=system.theta_star)
        row.update(estimate(run, "bf"))
        row["bf_cost"] = int(np.where(run.first_passage[:, 0] >= 0, run.first_passage[:, 0],
                                      run.steps).sum())
        row["spectator_loss_exit"] = float(np.median(run.spectator_loss) / system.L_star)
        row["sgd"], row["sgd_stderr"], row["sgd_method"] = row["bf"], row["bf_stderr"], "brute force"
    else:
        row.update({k: float("nan") for k in _BF_KEYS}, bf_cost=0, bf_censored=0,
                   bf_estimator="not run", spectator_loss_exit=float("nan"))
        row["sgd"], row["sgd_stderr"], row["sgd_method"] = row["split"], row["split_stderr"], "splitting"
    row["rare"] = bool(row["sgd"] >= 100 * system.relaxation)
    return row


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
                               chain_resolution=p["chain_resolution"], xss_s=p["xss_s"])
            run = sgd_barrier(prob, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                              seed=int(rng.integers(2**31)), lo=cp["exit_lo"], hi=cp["exit_hi"],
                              theta0=cp["theta_star"])
            yield s2, prob, pred, run

    return base, D_ref, points()


def spectator_times(p: BarrierRegression, *, eta: float, B: int, h_spectator: float, m: int,
                    grid: int, chain_resolution: float) -> dict:
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
            out[kind] = float(np.interp(theta_star, x, T))
        else:
            def kicks(th, sigma=sigma):
                g, mean = p.per_sample_grads(th), p.grad(th)[:, None]
                scale = np.sqrt(sigma(th) / p.noise_variance(th, B=1))[:, None]
                return mean + scale * (g - mean)

            out[kind] = chain_time(p, eta=eta, B=B, resolution=chain_resolution,
                                   kicks=kicks)[0]
    return out
