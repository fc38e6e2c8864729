"""Experiment ``stationary-tail``: the far tail of SGD on linear regression: Hill's tail
index against 2φ − 1, 1 + B/(ηh*) and the Kesten–Goldie root (R7)."""

from __future__ import annotations

import numpy as np

from .. import theory
from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.phi_fits import hill_tail_index
from ._cost import F8, linreg_data, linreg_sgd
from ._registry import Outcome, experiment

TAIL_PRESETS = {
    "smoke": dict(eta=[1.0, 0.5], B=[2, 1], N=10_000, replicas=40, steps=5000, fraction=1e-3,
                  data_seed=0),
    "book": dict(eta=[1.0, 1.0, 1.0, 0.5], B=[1, 2, 3, 1], N=100_000, replicas=200,
                 steps=20_000, fraction=1e-3, data_seed=0),
    "paper": dict(eta=[1.0, 1.0, 1.0, 0.5], B=[1, 2, 3, 1], N=100_000, replicas=200,
                  steps=100_000, fraction=1e-3, data_seed=0),  # 2·10⁷ samples per case
}


def _burn(eta: float, h: float) -> float:
    """The burn-in, 50/(ηh*) steps (rounded up)."""
    return float(np.ceil(50 / (eta * h)))


def _validate(p: dict) -> None:
    if len(p["eta"]) != len(p["B"]):
        raise InvalidInput("eta and B must be lists of the same length (paired cases)")
    for B in p["B"]:
        check_noisy_batch(B, p["N"])
    for eta in p["eta"]:
        burn = _burn(eta, 1.0)  # h* = E x² = 1 for the data x ~ N(0, 1)
        if p["steps"] <= 2 * burn:
            raise InvalidInput(f"steps={p['steps']} must exceed twice the burn-in of 50/(eta h*) = "
                               f"{burn:.4g} steps at eta={eta} (h* ≈ 1)")
        if int(p["fraction"] * (p["steps"] - burn) * p["replicas"]) < 10:
            raise InvalidInput(f"fraction={p['fraction']} of {p['steps'] - burn:.0f} steps x "
                               f"{p['replicas']} replicas leaves < 10 samples for Hill's estimator")


def _cost(p: dict) -> Cost:
    """Every step of every replica is recorded, then sorted (three copies)."""
    R, steps = p["replicas"], p["steps"]
    cost = linreg_data(p["N"], 1)
    for B in p["B"]:
        run = linreg_sgd(N=p["N"], d=1, B=B, steps=steps, replicas=R, records=steps)
        cost = cost.then(Cost(run.memory + 3 * float(steps) * R * F8, run.seconds))
    return Cost(cost.memory, cost.seconds, "N, replicas, steps")


@experiment(
    "stationary-tail",
    description="Far tail of SGD's stationary law: Hill index vs 2φ−1, 1+B/(ηh*) and Kesten–Goldie (R7, beyond the paper)",
    presets=TAIL_PRESETS,
    measured=('max_abs_z_kesten',),
    tables=('tail',),
    checks=dict(data_seed="seed", fraction="(0,1)"),
    cost=_cost,
    validate=_validate,
)
def run_tail(p: dict, rng: np.random.Generator) -> Outcome:
    prob = make_linear_regression(p["N"], 1, np.random.default_rng(p["data_seed"]))
    h = prob.h_star
    burns = [_burn(eta, h) for eta in p["eta"]]
    seeds = rng.integers(2**31, size=len(p["B"]))
    out = Outcome()
    rows = []
    for i, (eta, B, seed, burn) in enumerate(zip(p["eta"], p["B"], seeds, burns)):
        run = sgd_linreg(prob, eta=float(eta), B=int(B), steps=p["steps"],
                         replicas=p["replicas"], seed=int(seed), record_every=1)
        x = np.abs(run.samples[int(burn):, :, 0] - prob.theta_star[0])
        est = hill_tail_index(x, p["fraction"])
        row = dict(eta=float(eta), B=int(B), hill=est.value, hill_stderr=est.stderr,
                   k=int(p["fraction"] * x.size), n=int(x.size),
                   alpha_paper=theory.tail_index_paper(eta=eta, B=B, h=h),
                   alpha_exact_noise=theory.tail_index_exact_noise(eta=eta, B=B, h=h),
                   kesten_alpha=theory.kesten_tail_index(eta=eta, B=int(B), h=h))
        rows.append(row)
        xs = np.sort(x.ravel())[::-1]
        n = xs.size
        idx = np.unique(np.geomspace(1, n, 200).astype(int)) - 1
        out.arrays[f"x_{i}"] = xs[idx][::-1]
        out.arrays[f"surv_{i}"] = ((idx + 1) / n)[::-1]
        row["z_kesten"] = (est.value - row["kesten_alpha"]) / est.stderr
    out.tables["tail"] = rows
    out.measured["max_abs_z_kesten"] = Measured(float(max(abs(r["z_kesten"]) for r in rows)))
    out.notes.append(f"Hill estimator on the top {p['fraction']:g} of |u| ({p['replicas']} replicas "
                     f"× {p['steps']} steps, every step); standard errors from 20 groups of replicas")
    return out
