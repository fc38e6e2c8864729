"""Experiment ``error-budget-linreg`` (X2): the error budget of the first-passage time of the
linear regression of paper Fig. 3b at d = 1, layer by layer.

Data x, y ~ N(0, 1), N samples, B = 1; the first passage from θ* to L = cL*, i.e. to
|u| = u_c = √(2L*(c − 1)/H) with u = θ − θ* and H = mean(x²), for a few c:

* ``sgd``: discrete SGD, simulated (censoring-aware means);
* ``chain``: the exact mean first-passage time of the 1-d recursion
  u′ = (1 − ηx_μ²)u + ηx_μe_μ (:func:`~logloss.theory.discrete_mfpt_1d`), Richardson
  over two grids, with its grid error ``chain_grid_error``;
* ``sde_em``: the SDE du = −Hu dt + √(ηΣ(u)) dW with the exact finite-sample minibatch
  variance Σ(u) (paper Eq. (8)), simulated by Euler–Maruyama (exit times rounded up to
  whole SGD steps: ½ step above the quadrature on average);
* ``sde_quadrature``: the same SDE exactly (:func:`~logloss.theory.sde_mfpt`);
* ``sde_paper``: the SDE with the paper's decoupled noise Σ = 2LH/B (paper Eq. (6)),
  exactly (:func:`~logloss.theory.radial_mfpt`);
* ``eq15``: its weak-noise limit, ∝ c^(B/(ηH) + 1/2), the exponent of paper Eq. (15)
  for n = 1 (:func:`~logloss.theory.level_crossing_time`);
* ``arrhenius_min``: the same limit with the noise frozen at θ*, e^(ΔL/D*), ΔL = (c − 1)L*.
  In one landscape with L* ≈ ½ this is also the loss-independent (and Hessian-noise) law.

Neighbouring ratios isolate discreteness (SGD/SDE), integration (EM/quadrature), the
decoupling of the noise (exact Σ/decoupled) and the weak-noise asymptotics.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_batch_size
from ..dynamics.barrier_sgd import em_first_passage
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.first_passage import mean_first_passage
from ..theory import discrete_mfpt_1d, level_crossing_time, radial_mfpt, sde_mfpt
from ._barrier import estimate
from ._cost import discrete_mfpt, em_exit, linreg_data, linreg_sgd
from .params import Param
from .result import Outcome
from .spec import experiment

LINREG_BUDGET_PRESETS = {
    "smoke": dict(N=10_000, eta=0.1, B=1, cs=[1.1, 1.3], replicas=60, steps=100_000,
                  grid=2001, chain_points=401, substeps=16),
    "book": dict(N=10_000, eta=0.1, B=1, cs=[1.1, 1.25, 1.5], replicas=200, steps=300_000,
                 grid=2001, chain_points=601, substeps=64),
    "paper": dict(N=10_000, eta=0.1, B=1, cs=[1.1, 1.25, 1.5, 1.75, 2.0], replicas=1000,
                  steps=20_000_000, grid=4001, chain_points=1201, substeps=128),
}

#: Layers of the table, from the most faithful to SGD to the most approximate.
LAYERS = ("sgd", "chain", "sde_em", "sde_quadrature", "sde_paper", "eq15", "arrhenius_min")


def _validate(p: dict) -> None:
    if p["B"] != 1:
        raise InvalidInput("error-budget-linreg: the exact discrete chain needs B = 1")
    check_batch_size(p["B"], p["N"])


def _cost(p: dict) -> Cost:
    """The data, the SGD replicas (every threshold in one run), and per c an
    Euler–Maruyama run and the exact discrete chain."""
    N, R, steps = p["N"], p["replicas"], p["steps"]
    sgd = linreg_sgd(N=N, d=1, B=p["B"], steps=steps, replicas=R, thresholds=len(p["cs"]))
    per_c = em_exit(grid=p["grid"], substeps=p["substeps"], steps=steps, replicas=R).then(
        discrete_mfpt(points=p["chain_points"], N=N))
    data = linreg_data(N, 1)
    return Cost(data.memory + max(sgd.memory, per_c.memory),
                data.seconds + sgd.seconds + len(p["cs"]) * per_c.seconds,
                "N, replicas, steps, substeps, chain_points")


@experiment("error-budget-linreg",
            description="Error budget of the first-passage time of 1-d linear regression "
                        "(Fig. 3b, d = 1): SGD, chain, SDE (EM, quadrature, decoupled), "
                        "Eq. (15), Arrhenius (X2)",
            presets=LINREG_BUDGET_PRESETS,
            measured=("discreteness_ratio", "em_ratio", "censored"),
            theory=("decoupling_ratio", "asymptotic_ratio", "h_star", "L_star"),
            tables=dict(
                budget=("arrhenius_min", "c", "chain", "chain_grid_error", "eq15", "sde_em",
                    "sde_em_censored", "sde_em_stderr", "sde_paper", "sde_quadrature", "sgd",
                    "sgd_censored", "sgd_estimator", "sgd_stderr", "u_c"),
            ),
            arrays=(),
            fields=dict(
                u_c="distance |θ − θ*| at which L = cL*",
                sde_paper="mean exit time of the SDE with the paper's decoupled noise 2LH/B, exact (steps)",
                decoupling_ratio="the SDE with the exact noise over the one with the paper's noise",
            ),
            params=dict(
                chain_points=Param("points of the exact discrete chain on u"),
            ),
            checks=dict(cs=">1 increasing"),  # the SGD thresholds c·L*, in one run
            cost=_cost,
            validate=_validate)
def run_error_budget_linreg(p: dict, rng: np.random.Generator) -> Outcome:
    eta, B = p["eta"], p["B"]
    out = Outcome()
    prob = make_linear_regression(p["N"], 1, rng)
    x = prob.X[:, 0]
    t_star, L_star, H = float(prob.theta_star[0]), prob.L_star, prob.h_star
    e = prob.y - x * t_star
    m4, m3e, m2e2 = np.mean(x**4), np.mean(x**3 * e), np.mean(x**2 * e**2)
    cs = np.array(p["cs"], dtype=float)
    sgd = sgd_linreg(prob, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                     seed=int(rng.integers(2**31)), thresholds=cs * L_star)
    est = mean_first_passage(sgd.first_passage, sgd.steps)
    paper = radial_mfpt(cs, eta=eta, B=B, d=1, h=H, L_star=L_star, exact_noise=False)
    D_star = eta * H * L_star / B
    # every c from one elimination (Richardson-extrapolated over three grids inside); its
    # grid error: the change of the extrapolated value when the grid has half the points
    M = int(p["chain_points"])
    chain, coarse = (discrete_mfpt_1d(1 - eta * x**2, eta * x * e, points=k,
                                      u_c=np.sqrt(2 * L_star * (cs - 1) / H)) for k in (M, M // 2))
    rows = []
    for j, c in enumerate(cs):
        u_c = float(np.sqrt(2 * L_star * (c - 1) / H))
        u = np.linspace(-u_c, u_c, p["grid"])
        D = eta * (u**2 * m4 - 2 * u * m3e + m2e2 - (H * u) ** 2) / 2   # ηΣ/2, Eq. (8), B = 1
        T = sde_mfpt(u, -H * u, D) / eta
        em = em_first_passage(u, -H * u, D, eta=eta, substeps=p["substeps"], steps=p["steps"],
                              replicas=p["replicas"], seed=int(rng.integers(2**31)), theta0=0.0)
        row = dict(c=float(c), u_c=u_c, sgd=est[j].mean, sgd_stderr=est[j].stderr,
                   sgd_censored=est[j].censored, sgd_estimator=est[j].method)
        row.update({k: v for k, v in estimate(em, "sde_em").items()
                    if k in ("sde_em", "sde_em_stderr", "sde_em_censored")})
        row["chain"], row["chain_grid_error"] = float(chain[j]), float(abs(chain[j] - coarse[j]))
        row["sde_quadrature"] = float(np.interp(0.0, u, T))
        row["sde_paper"] = float(paper[j])
        row["eq15"] = level_crossing_time(h=H, D_min=D_star, D_level=c * D_star,
                                          barrier=B / (eta * H) * np.log(c), distance=u_c) / eta
        row["arrhenius_min"] = level_crossing_time(h=H, D_min=D_star, D_level=D_star,
                                                   barrier=(c - 1) * L_star / D_star,
                                                   distance=u_c) / eta
        rows.append(row)
    out.tables["budget"] = rows
    r = rows[-1]
    rel = np.hypot(r["sgd_stderr"] / r["sgd"], r["sde_em_stderr"] / r["sde_em"])
    out.measured["discreteness_ratio"] = Measured(r["sgd"] / r["sde_em"], rel * r["sgd"] / r["sde_em"])
    out.measured["em_ratio"] = Measured(r["sde_em"] / r["sde_quadrature"],
                                        r["sde_em_stderr"] / r["sde_quadrature"])
    out.measured["censored"] = Measured(sum(x["sgd_censored"] + x["sde_em_censored"] for x in rows))
    out.theory["decoupling_ratio"] = r["sde_quadrature"] / r["sde_paper"]
    out.theory["asymptotic_ratio"] = r["sde_paper"] / r["eq15"]
    out.theory["h_star"] = H
    out.theory["L_star"] = L_star
    out.notes.append(f"{p['replicas']} replicas per c for SGD (one run, all thresholds) and "
                     f"per c for Euler–Maruyama (dt = η/{p['substeps']}), budget {p['steps']} "
                     f"steps; the ratios in the summary are at c = {cs[-1]:g}")
    return out
