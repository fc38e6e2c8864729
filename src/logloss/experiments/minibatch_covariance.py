"""Experiment ``minibatch-covariance``: the exact minibatch-noise covariance, Eq. (8) (R1)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_noisy_batch
from ..data import mnist_even_odd
from ..measure.covariance import (
    finite_population_factor,
    noise_second_moments,
    per_sample_covariance_moments,
)
from ..measure.gradients import per_sample_grads
from ..models.linreg import make_linear_regression
from ..models.nets import mlp
from ._cost import F4, F8, linreg_data, mlp_params
from ._shared import check_mnist_n
from .params import Param
from .result import Outcome
from .spec import experiment

PRESETS = {
    "smoke": dict(N=40, d=3, widths=[784, 4, 1], draws=600, batch_sizes=[1, 4, 20, 38]),
    "book": dict(N=200, d=5, widths=[784, 8, 1], draws=6000, batch_sizes=[1, 5, 25, 100, 190, 198]),
    "paper": dict(N=1000, d=10, widths=[784, 100, 100, 1], draws=20000,
                  batch_sizes=[1, 10, 100, 500, 900, 990, 998]),
}


def _models(p: dict, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, str]]:
    """Per-sample gradients G (N × P) of the two test models, away from any minimum."""
    lin = make_linear_regression(p["N"], p["d"], rng)
    theta = lin.theta_star + rng.standard_normal(lin.d) / np.sqrt(lin.d)
    data = mnist_even_odd(p["N"])
    net = mlp(p["widths"], seed=int(rng.integers(2**31)))
    G_net = per_sample_grads(net, data.x, data.y).double().numpy()
    widths = "-".join(map(str, p["widths"]))
    return {
        "linreg": (lin.per_sample_grads(theta), f"linear regression, d={lin.d}"),
        "mlp": (G_net, f"MLP {widths} at Glorot init, {data.name}"),
    }


def _validate(p: dict) -> None:
    N = p["N"]
    check_mnist_n(N, "N")
    for B in p["batch_sizes"]:
        check_noisy_batch(B, N)  # at B = N, Σ = 0 and every z would be 0/0
    if p["widths"][0] != 784 or p["widths"][-1] != 1:
        raise InvalidInput("widths must start with 784 inputs and end with 1 output (scalar f)")
    if p["draws"] < 2:
        raise InvalidInput(f"draws={p['draws']}: a Monte-Carlo standard error needs >= 2 draws")


def _cost(p: dict) -> Cost:
    """Per-sample gradients G (N × P, float32 and float64, centred), the Gram matrix G Gᵀ
    when N < P, chunks of 1024 minibatches, and draws·N·min(N, P) flops per batch size."""
    N, P, draws = float(p["N"]), mlp_params(p["widths"]), float(p["draws"])
    memory = (N * 784 * F4 + N * P * (F4 + 2 * F8) + (N * N * F8 if N < P else 0)
              + 2 * 1024 * max(N, P) * F8 + 4 * draws * F8)
    flops = 6 * N * P + len(p["batch_sizes"]) * draws * 2 * N * (min(N, P) + p["d"])
    data = linreg_data(N, p["d"])
    return Cost(memory + data.memory, flops / FLOP_RATE, "N, widths, draws")


@experiment(
    "minibatch-covariance",
    description="Monte-Carlo covariance of minibatch gradients against the exact Eq. (8) (R1)",
    presets=PRESETS,
    measured=('max_abs_z', 'mean_z'),
    theory=('max_abs_z', 'mean_z'),
    tables=dict(
        covariance=("B", "eq8", "mc", "mc_stderr", "model", "statistic", "with_replacement",
            "z"),
    ),
    arrays=("z",),
    fields=dict(
        statistic="trace (tr Σ) or proj (vᵀΣv along a random unit v)",
        mc="Monte-Carlo mean of the statistic over minibatch draws",
        eq8="the statistic of the exact covariance, paper Eq. (8)",
        with_replacement="the same without the factor (N − B)/(N − 1) (sampling with replacement)",
        max_abs_z="largest |z| over the rows",
        mean_z="mean z over the rows",
    ),
    params=dict(
        batch_sizes=Param("minibatch sizes B at which Eq. (8) is tested", symbol="B"),
    ),
    cost=_cost,
    validate=_validate,
)
def run(p: dict, rng: np.random.Generator) -> Outcome:
    N = p["N"]
    out = Outcome()
    rows = []
    for model, (G, label) in _models(p, rng).items():
        v = rng.standard_normal(G.shape[1])
        v /= np.linalg.norm(v)
        single = per_sample_covariance_moments(G, v[None, :])  # tr C and vᵀCv
        for B in p["batch_sizes"]:
            theory = single * finite_population_factor(N, B) / B
            mean, se = noise_second_moments(G, B, p["draws"], v[None, :], rng)
            for k, stat in enumerate(("trace", "proj")):
                rows.append(dict(model=model, B=B, statistic=stat, mc=mean[k], mc_stderr=se[k],
                                 eq8=theory[k], with_replacement=single[k] / B,
                                 z=(mean[k] - theory[k]) / se[k]))
        out.notes.append(f"{model}: {label}, P={G.shape[1]}")
    z = np.array([r["z"] for r in rows])
    out.tables["covariance"] = rows
    out.measured["max_abs_z"] = Measured(float(np.max(np.abs(z))))
    out.measured["mean_z"] = Measured(float(z.mean()), 1 / np.sqrt(len(z)))
    out.theory["max_abs_z"] = 0.0
    out.theory["mean_z"] = 0.0
    out.arrays["z"] = z
    return out
