"""Experiment ``critical-dimension``: linear regression with d below and above
n_c = 2(B/(ηh*) + 1) (Eq. 16, R12).

Three things are compared with the measured growth rate of log L: the SDE drift of the
log-landscape argument, which sees only H, B and η; the Lyapunov exponent of the random
linear map of discrete SGD (Gaussian inputs); and, for inputs on the sphere |x|² = d (the
same H = I but bounded per-sample curvature η|x|² = ηd), its exact counterpart, whose zero is
the per-sample linear instability ηd = 2.  The critical dimensions of the three criteria
(Eq. 16, Lyapunov, mean-square) are also tabulated as η → 0 at fixed B/η ratios.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput, SGDDiverged
from ..core.measured import Measured, standard_error
from ..core.resources import Cost
from ..core.validation import check_batch_size
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import LinearRegression, make_linear_regression
from ..stats.lines import fit_line
from ..theory import (
    critical_dimension,
    lyapunov_critical_dimension,
    lyapunov_exponent,
    lyapunov_exponent_sphere,
    mean_square_critical_dimension,
)
from ._cost import F8, linreg_data, linreg_sgd
from .params import Param
from .result import Outcome
from .spec import experiment

CRIT_PRESETS = {
    "smoke": dict(N=10_000, B=1, eta=0.2, ds=[4, 8, 9, 10, 12, 20], replicas=20, steps=600,
                  record_every=10, B2=4, eta2=0.6, ds2=[6, 10, 14], sphere_ds=[9, 12],
                  limit_etas=[0.2, 0.05], limit_etas2=[0.6, 0.15]),
    "book": dict(N=10_000, B=1, eta=0.2, ds=[4, 7, 8, 9, 10, 11, 12, 16, 20], replicas=100,
                 steps=1_500, record_every=10, B2=4, eta2=0.6, ds2=[6, 8, 10, 12, 14, 16],
                 sphere_ds=[8, 9, 10, 11, 12], limit_etas=[0.2, 0.1, 0.05, 0.02, 0.01],
                 limit_etas2=[0.6, 0.3, 0.15, 0.06]),
    "paper": dict(N=10_000, B=1, eta=0.2, ds=[2, 4, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20, 24],
                  replicas=200, steps=3_000, record_every=10, B2=4, eta2=0.6,
                  ds2=[6, 8, 9, 10, 11, 12, 14, 16], sphere_ds=[8, 9, 10, 11, 12, 14],
                  limit_etas=[0.2, 0.1, 0.05, 0.02, 0.01], limit_etas2=[0.6, 0.3, 0.15, 0.06]),
}


def _sphere(N: int, d: int, rng: np.random.Generator) -> LinearRegression:
    """Inputs uniform on the sphere |x|² = d (E xxᵀ = I_d), targets y ~ N(0, 1)."""
    prob = make_linear_regression(N, d, rng)
    X = prob.X * np.sqrt(d) / np.linalg.norm(prob.X, axis=1, keepdims=True)
    return LinearRegression(X, prob.y)


def _runs(p: dict) -> list[tuple[str, int, float, int]]:
    """(data, B, η, d) of every SGD run: the two Gaussian scans, then the sphere."""
    return ([("gaussian", p["B"], p["eta"], d) for d in p["ds"]]
            + [("gaussian", p["B2"], p["eta2"], d) for d in p["ds2"]]
            + [("sphere", 1, p["eta"], d) for d in p["sphere_ds"]])


def _validate(p: dict) -> None:
    check_batch_size(p["B"], p["N"])
    check_batch_size(p["B2"], p["N"])
    if p["steps"] // p["record_every"] < 4:
        raise InvalidInput(f"steps={p['steps']} with record_every={p['record_every']} gives "
                           f"{p['steps'] // p['record_every']} records; the growth rate needs >= 4")


def _cost(p: dict) -> Cost:
    """Each run: its data and θ every record_every steps (with the log-loss ratios); a
    second per Lyapunov quadrature."""
    R, records = p["replicas"], float(p["steps"]) / p["record_every"]
    cost = Cost()
    for _, B, _, d in _runs(p):
        run = linreg_sgd(N=p["N"], d=d, B=B, steps=p["steps"], replicas=R, records=records)
        data = linreg_data(p["N"], d)
        cost = cost.then(Cost(data.memory + run.memory + 2 * records * R * F8,
                              data.seconds + run.seconds + 1.0))
    quadratures = 3.0 * (len(p["limit_etas"]) + len(p["limit_etas2"]))
    return Cost(cost.memory, cost.seconds + quadratures, "N, ds, replicas, steps/record_every")


def _crossover(rows: list[dict]) -> float:
    """The measured crossover: the smallest d whose median log L grows by more than 3
    standard errors of its rate (whatever the order of the list of dimensions)."""
    return float(next((r["d"] for r in sorted(rows, key=lambda r: r["d"])
                       if r["growth_rate"] > 3 * r["growth_rate_stderr"]), float("nan")))


@experiment("critical-dimension",
            description="Linear regression with d below and above n_c = 2(B/(eta h*)+1) (Eq. 16, R12)",
            presets=CRIT_PRESETS,
    measured=('max_rate_below', 'min_rate_above', 'crossover_dimension',
              'sphere_crossover_dimension'),
    theory=('n_c', 'lyapunov_critical_dimension', 'mean_square_critical_dimension',
            'sphere_critical_dimension'),
    tables=dict(
        critical=("B", "d", "data", "eta", "final_median_log10_ratio", "growth_rate",
            "growth_rate_lyapunov", "growth_rate_sde", "growth_rate_stderr", "h_star", "max_eta_x2",
            "n_c", "overflowed", "trapped"),
        critical_dimensions=("B", "eta", "lyapunov", "mean_square", "n_c"),
        criteria_limit=("B", "eta", "lyapunov", "mean_square", "n_c", "relative_gap",
            "two_B_over_eta"),
    ),
    arrays=("median_log_ratio", "steps"),
    fields=dict(
        data="inputs: gaussian (x ~ N(0, I)) or sphere (|x|² = d)",
        final_median_log10_ratio="median over replicas of log₁₀ L/L* at the last record",
        growth_rate="growth per step of the median log L/L* over the second half of the run",
        growth_rate_sde="the SDE's prediction (η h²/B)(d − n_c) per step",
        growth_rate_lyapunov="discrete SGD's prediction 2λ from the Lyapunov exponent λ",
        trapped="whether growth_rate < 10⁻³ (the minimum holds SGD)",
        overflowed="replicas whose loss passed float64's range in the fitted half (fitted over "
                   "their finite records)",
        lyapunov="critical dimension where discrete SGD's Lyapunov exponent vanishes",
        mean_square="critical dimension where the mean square of θ − θ* stops converging",
        two_B_over_eta="2B/η, the common small-η limit of the three criteria",
        relative_gap="(n_c − lyapunov)/(2B/η)",
        median_log_ratio="median log L/L* of each run (row i: table row i) at each record",
        max_rate_below="largest growth rate at d < n_c",
        min_rate_above="smallest growth rate at d > n_c",
        crossover_dimension="smallest d from which the loss grows (Gaussian inputs)",
        sphere_crossover_dimension="the same with inputs on the sphere",
        lyapunov_critical_dimension="the Lyapunov critical dimension at (η, B)",
        mean_square_critical_dimension="the mean-square critical dimension at (η, B)",
        sphere_critical_dimension="2/η, the critical dimension of sphere inputs",
    ),
    params=dict(
        record_every=Param("SGD steps between two records of the growth of |θ − θ*|", unit="steps"),
        B2=Param("minibatch size B of the second (B, η) case", symbol="B"),
        eta2=Param("learning rate η of the second (B, η) case", symbol="η"),
        ds2=Param("dimensions d of the second case", symbol="d"),
        sphere_ds=Param("dimensions d with inputs on the sphere |x|² = d", symbol="d"),
        limit_etas=Param("learning rates η of the small-η limit of the criteria, at B", symbol="η"),
        limit_etas2=Param("learning rates η of the small-η limit of the criteria, at B2", symbol="η"),
    ),
    cost=_cost,
    validate=_validate,
)
def run_critical(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    rows, curves = [], []
    for data, B, eta, d in _runs(p):
        prob = (make_linear_regression if data == "gaussian" else _sphere)(p["N"], d, rng)
        h_star = prob.h_star
        try:
            run = sgd_linreg(prob, eta=eta, B=B, steps=p["steps"],
                             replicas=p["replicas"], seed=int(rng.integers(2**31)),
                             record_every=p["record_every"])
        except SGDDiverged as exc:  # θ overflowed: no growth rate can be measured
            raise SGDDiverged(f"critical-dimension at d={d}: {exc}; the loss overflowed before "
                              "its growth rate could be measured (lower eta or steps)") from None
        with np.errstate(over="ignore"):
            ratio = np.log(prob.loss(run.samples) / prob.L_star)  # (records, replicas)
        med = np.median(ratio, axis=1)
        k = np.arange(1, len(med) + 1) * p["record_every"]
        half = len(med) // 2
        # growth rate of the median log-loss over the second half (per step), with the
        # standard error of the slope (replica-to-replica scatter of the median is not
        # included; the rate of each replica is also fitted, for a bootstrap-free s.e.)
        fin = np.isfinite(med[half:])
        rate = fit_line(k[half:][fin], med[half:][fin]).slope if fin.sum() > 2 else float("inf")
        rate_se = float("nan")
        if np.isfinite(rate):
            # each replica over its own finite records (a fast replica's loss may overflow
            # float64 before the end: its later records are +inf, a lower bound, not a value)
            own = [np.isfinite(ratio[half:, r]) for r in range(ratio.shape[1])]
            per = np.array([fit_line(k[half:][f], ratio[half:, r][f]).slope
                            for r, f in enumerate(own) if f.sum() > 2])
            rate_se = float(standard_error(per))
        n_c = critical_dimension(B=B, eta=eta, h=h_star)
        # SDE prediction for the growth of log L at large L: (η h²/B)(d − n_c) per unit t = ηk;
        # discrete SGD: 2λ per step from the Lyapunov exponent of the random linear map
        # (for sphere inputs |x|² = d exactly, so the map does not depend on h*).
        lyap = (lyapunov_exponent(eta=eta * h_star, B=B, d=d) if data == "gaussian"
                else lyapunov_exponent_sphere(eta=eta, d=d))
        rows.append(dict(data=data, d=d, B=B, eta=eta, h_star=h_star, n_c=n_c,
                         max_eta_x2=float(eta * np.max(np.sum(prob.X**2, axis=1))),
                         final_median_log10_ratio=float(med[-1] / np.log(10)),
                         growth_rate=rate, growth_rate_stderr=rate_se,
                         overflowed=int((~np.isfinite(ratio[half:])).any(axis=0).sum()),
                         growth_rate_sde=eta ** 2 * h_star**2 * (d - n_c) / B,
                         growth_rate_lyapunov=2 * lyap,
                         trapped=bool(rate < 1e-3)))
        curves.append(med)
        out.arrays["steps"] = k
    out.tables["critical"] = rows
    over = [f"d={r['d']} ({r['overflowed']})" for r in rows if r["overflowed"]]
    if over:
        out.notes.append("replicas whose loss overflowed float64 in the fitted half, fitted over "
                         "their finite records: " + ", ".join(over))
    out.arrays["median_log_ratio"] = np.stack(curves)  # row i: the run of table row i
    main = [r for r in rows if r["B"] == p["B"] and r["data"] == "gaussian"]
    out.theory["n_c"] = float(np.mean([r["n_c"] for r in main]))  # with the measured h* of each d
    out.theory["lyapunov_critical_dimension"] = lyapunov_critical_dimension(eta=p["eta"], B=p["B"])
    out.theory["mean_square_critical_dimension"] = mean_square_critical_dimension(eta=p["eta"], B=p["B"])
    ext = [(B, lyapunov_critical_dimension(eta=p["eta2"], B=p["B2"]),
            mean_square_critical_dimension(eta=p["eta2"], B=p["B2"]),
            critical_dimension(eta=p["eta2"], B=p["B2"], h=1.0)) for B in [p["B2"]]]
    out.tables["critical_dimensions"] = [
        dict(B=p["B"], eta=p["eta"], n_c=critical_dimension(eta=p["eta"], B=p["B"], h=1.0),
             lyapunov=out.theory["lyapunov_critical_dimension"],
             mean_square=out.theory["mean_square_critical_dimension"])] + [
        dict(B=B, eta=p["eta2"], n_c=nc, lyapunov=dl, mean_square=dm) for B, dl, dm, nc in ext]
    # the three criteria as η → 0 at B and at B2 (the Lyapunov quadrature's Gauss–Laguerre
    # weights overflow beyond d ≈ 300, so the B2 list stops at 2B2/η ≈ 130)
    out.tables["criteria_limit"] = [
        dict(B=B, eta=e, two_B_over_eta=2 * B / e, n_c=critical_dimension(eta=e, B=B, h=1.0),
             lyapunov=lyapunov_critical_dimension(eta=e, B=B),
             mean_square=mean_square_critical_dimension(eta=e, B=B))
        for B, etas in ((p["B"], p["limit_etas"]), (p["B2"], p["limit_etas2"])) for e in etas]
    for r in out.tables["criteria_limit"]:
        r["relative_gap"] = (r["n_c"] - r["lyapunov"]) / r["two_B_over_eta"]

    out.measured["crossover_dimension"] = Measured(_crossover(main))
    out.measured["sphere_crossover_dimension"] = Measured(
        _crossover([r for r in rows if r["data"] == "sphere"]))
    out.theory["sphere_critical_dimension"] = 2 / p["eta"]
    below = [r for r in main if r["d"] < r["n_c"]]
    above = [r for r in main if r["d"] > r["n_c"]]
    out.measured["max_rate_below"] = Measured(max((r["growth_rate"] for r in below), default=np.nan))
    out.measured["min_rate_above"] = Measured(min((r["growth_rate"] for r in above), default=np.nan))
    return out
