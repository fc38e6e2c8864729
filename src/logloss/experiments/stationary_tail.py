"""Experiment ``stationary-tail``: the far tail of SGD on linear regression: a Hill plot of
the tail index against 2φ − 1, 1 + B/(ηh*) and the Kesten–Goldie root (R7, beyond the paper)."""

from __future__ import annotations

import numpy as np

from .. import theory
from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.phi_fits import hill_plot
from ._cost import F8, linreg_data, linreg_sgd
from .params import Param
from .result import Outcome
from .spec import experiment

# The last case of each scale has a light tail (Kesten–Goldie index above 5), where Hill's
# estimator is visibly biased: the Hill plot shows it.
TAIL_PRESETS = {
    "smoke": dict(eta=[1.0, 0.5, 0.5], B=[2, 1, 2], N=10_000, replicas=40, steps=10_000,
                  fractions=[1e-2, 1e-3], data_seed=0),
    "book": dict(eta=[1.0, 1.0, 1.0, 0.5, 0.5], B=[1, 2, 3, 1, 2], N=100_000, replicas=200,
                 steps=20_000, fractions=[1e-2, 1e-3, 1e-4], data_seed=0),
    "paper": dict(eta=[1.0, 1.0, 1.0, 0.5, 0.5], B=[1, 2, 3, 1, 2], N=100_000, replicas=200,
                  steps=100_000, fractions=[1e-2, 1e-3, 1e-4], data_seed=0),  # 2·10⁷ samples per case
}
#: The tail fractions k/n of the Hill plot drawn in the figure (the table has ``fractions``).
PLOT_FRACTIONS = 10.0 ** np.linspace(-1, -4, 16)
GROUPS = 20


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
        per_group = min(p["fractions"]) * (p["steps"] - burn) * (p["replicas"] // GROUPS)
        if not 0 < min(p["fractions"]) <= max(p["fractions"]) < 1 or per_group < 10:
            raise InvalidInput(f"fractions={p['fractions']} must lie in (0, 1) and leave >= 10 "
                               f"samples in each of {GROUPS} groups of {p['steps'] - burn:.0f} "
                               f"steps x {p['replicas'] // GROUPS} replicas for Hill's estimator")


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
    tables=dict(
        tail=("B", "alpha_exact_noise", "alpha_paper", "eta", "hill", "hill_change",
            "hill_change_stderr", "hill_stderr", "kesten_alpha", "n", "z_kesten"),
    ),
    arrays=("x_{i}", "surv_{i}", "hill_fraction_{i}", "hill_alpha_{i}", "hill_stderr_{i}"),
    fields={
        "n": "samples |θ − θ*| in the Hill estimates (all replicas after the burn-in)",
        "alpha_paper": "tail index 2φ − 1 of the paper's stationary law, φ of Eq. (17)",
        "alpha_exact_noise": "the same with linreg's exact minibatch noise",
        "hill": "Hill's tail index at each of the fractions",
        "hill_change": "change of Hill's index from the largest to the smallest fraction",
        "z_kesten": "(Hill's index at the middle fraction − kesten_alpha)/s.e.",
        "max_abs_z_kesten": "largest |z_kesten| over the cases",
        "x_{i}": "|θ − θ*| of case i at 200 log-spaced ranks (the survival plot's x)",
        "surv_{i}": "empirical survival P(|θ − θ*| ≥ x) of case i at those ranks",
        "hill_fraction_{i}": "tail fractions k/n of case i's Hill plot",
        "hill_alpha_{i}": "Hill's index of case i at each of those fractions",
        "hill_stderr_{i}": "its standard error (spread over groups of replicas)",
    },
    params=dict(
        fractions=Param("tail fractions k/n of the Hill estimates in the table"),
    ),
    checks=dict(data_seed="seed"),
    cost=_cost,
    validate=_validate,
)
def run_tail(p: dict, rng: np.random.Generator) -> Outcome:
    prob = make_linear_regression(p["N"], 1, np.random.default_rng(p["data_seed"]))
    h = prob.h_star
    seeds = rng.integers(2**31, size=len(p["B"]))
    out = Outcome()
    rows = []
    for i, (eta, B, seed) in enumerate(zip(p["eta"], p["B"], seeds)):
        run = sgd_linreg(prob, eta=float(eta), B=int(B), steps=p["steps"],
                         replicas=p["replicas"], seed=int(seed), record_every=1)
        burn = int(_burn(eta, h))
        x = np.abs(run.samples[burn:, :, 0] - prob.theta_star[0])
        fr = np.asarray(p["fractions"], dtype=float)
        plot_fr = PLOT_FRACTIONS[PLOT_FRACTIONS * (p["steps"] - burn) * (p["replicas"] // GROUPS)
                                 >= 10]
        hp = hill_plot(x, np.concatenate([fr, plot_fr]), groups=GROUPS)
        row = dict(eta=float(eta), B=int(B), n=int(x.size),
                   alpha_paper=theory.tail_index_paper(eta=eta, B=B, h=h),
                   alpha_exact_noise=theory.tail_index_exact_noise(eta=eta, B=B, h=h),
                   kesten_alpha=theory.kesten_tail_index(eta=eta, B=int(B), h=h))
        # Hill's α̂ at each of the preset's fractions (lists in their order)
        row["hill"] = [float(v) for v in hp.alpha[:len(fr)]]
        row["hill_stderr"] = [float(v) for v in hp.stderr[:len(fr)]]
        # the change of the estimate from the largest to the smallest fraction: Hill's bias
        row["hill_change"], row["hill_change_stderr"] = hp.change(0, len(fr) - 1)
        rows.append(row)
        xs = np.sort(x.ravel())[::-1]
        n = xs.size
        idx = np.unique(np.geomspace(1, n, 200).astype(int)) - 1
        out.arrays[f"x_{i}"] = xs[idx][::-1]
        out.arrays[f"surv_{i}"] = ((idx + 1) / n)[::-1]
        out.arrays[f"hill_fraction_{i}"] = plot_fr
        out.arrays[f"hill_alpha_{i}"] = hp.alpha[len(fr):]
        out.arrays[f"hill_stderr_{i}"] = hp.stderr[len(fr):]
        mid = hp.at(len(fr) // 2)
        row["z_kesten"] = (mid.value - row["kesten_alpha"]) / mid.stderr
    out.tables["tail"] = rows
    out.measured["max_abs_z_kesten"] = Measured(float(max(abs(r["z_kesten"]) for r in rows)))
    out.notes.append(f"Hill plot of |u| at top fractions {p['fractions']} ({p['replicas']} replicas "
                     f"× {p['steps']} steps, every step); standard errors from {GROUPS} groups of "
                     f"replicas; z_kesten at the middle fraction")
    return out
