"""Experiment ``gradient-noise-scale``: B_simple = 𝒩/‖∇L‖² along SGD, exact against the
two-batch estimator of McCandlish et al. (2018) (beyond the paper; R4's 𝒩 is tr Σ₁)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_batch_size
from ..data import mnist_even_odd
from ..dynamics.training import log_schedule, train_sgd
from ..measure.noise_scale import gradient_noise_scale
from ..models.nets import mlp
from ._cost import mlp_params, torch_training
from ._registry import Outcome, experiment
from ._shared import check_mnist_n

PRESETS = {
    "smoke": dict(N=300, widths=[784, 10, 1], eta=0.01, B=100, epochs=60, points=20, checkpoints=4,
                  B_small=10, B_big=100, draws=40),
    "book": dict(N=1000, widths=[784, 10, 1], eta=0.01, B=100, epochs=300, points=40, checkpoints=6,
                 B_small=10, B_big=100, draws=100),
    "paper": dict(N=10000, widths=[784, 10, 1], eta=0.01, B=100, epochs=1000, points=60,
                  checkpoints=8, B_small=10, B_big=100, draws=400),
}


def _validate(p: dict) -> None:
    check_mnist_n(p["N"], "N")
    if p["widths"][0] != 784 or p["widths"][-1] != 1:
        raise InvalidInput("widths must start with 784 inputs and end with 1 output (scalar f)")
    check_batch_size(p["B"], p["N"])
    check_batch_size(p["B_big"], p["N"])
    if p["B_small"] >= p["B_big"]:
        raise InvalidInput(f"need B_small < B_big, got B_small={p['B_small']}, B_big={p['B_big']}")
    if p["draws"] < 2:
        raise InvalidInput(f"draws={p['draws']}: a standard error needs >= 2 draws")


def _cost(p: dict) -> Cost:
    """Training with 𝒩 at ``points`` epochs, and at each checkpoint twice the exact 𝒩 and
    ``draws`` pairs of minibatch gradients."""
    N, P = float(p["N"]), mlp_params(p["widths"])
    train = torch_training(N=N, features=784, params=P, epochs=p["epochs"],
                           activations=sum(p["widths"]), records=p["points"])
    check = 2 * (18 * N * P + 6 * p["draws"] * (p["B_small"] + p["B_big"]) * P) / FLOP_RATE
    return Cost(train.memory, train.seconds + p["checkpoints"] * check,
                "N, widths, epochs, points, checkpoints, draws")


@experiment(
    "gradient-noise-scale",
    description="Simple noise scale B_simple = 𝒩/‖∇L‖² along SGD: exact vs two-batch estimator",
    presets=PRESETS,
    measured=("b_simple_final", "b_simple_growth", "two_batch_final", "max_abs_z_two_batch",
              "one_over_B_bias_over_grad_sq"),
    tables=("checkpoints",),
    cost=_cost,
    validate=_validate,
)
def run(p: dict, rng: np.random.Generator) -> Outcome:
    data = mnist_even_odd(p["N"])
    seed = int(rng.integers(2**31))
    net = mlp(p["widths"], seed=seed)
    sched = log_schedule(p["epochs"], p["points"])
    checks = set(log_schedule(p["epochs"], p["checkpoints"])[1:])
    rows = []

    def at_checkpoint(epoch, model):
        if epoch not in checks:
            return
        draw_seed = int(rng.integers(2**31))
        kw = dict(B_small=p["B_small"], B_big=p["B_big"], draws=p["draws"])
        fin = gradient_noise_scale(model, data.x, data.y, rng=draw_seed, **kw)
        naive = gradient_noise_scale(model, data.x, data.y, rng=draw_seed, finite_population=False, **kw)
        rows.append(dict(epoch=int(epoch), b_simple=fin.b_simple, noise=fin.noise,
                         grad_sq=fin.grad_sq_norm, two_batch=fin.b_simple_two_batch.value,
                         two_batch_se=fin.b_simple_two_batch.stderr,
                         one_over_B=naive.b_simple_two_batch.value,
                         one_over_B_se=naive.b_simple_two_batch.stderr,
                         grad_sq_est=fin.grad_sq_estimate.value,
                         grad_sq_est_se=fin.grad_sq_estimate.stderr,
                         grad_sq_est_one_over_B=naive.grad_sq_estimate.value,
                         trace_est=fin.trace_estimate.value, trace_est_se=fin.trace_estimate.stderr,
                         z_trace=(fin.trace_estimate.value - fin.noise) / fin.trace_estimate.stderr,
                         z_grad_sq=(fin.grad_sq_estimate.value - fin.grad_sq_norm) / fin.grad_sq_estimate.stderr,
                         resolved=bool(fin.grad_sq_estimate.value > 3 * fin.grad_sq_estimate.stderr),
                         draw_seed=draw_seed))

    rec = train_sgd(net, data.x, data.y, eta=p["eta"], B=p["B"], epochs=p["epochs"], seed=seed + 1,
                    record_at=sched, callback=at_checkpoint, desc="SGD (noise scale)")
    out = Outcome()
    out.tables["checkpoints"] = rows
    last = rows[-1]
    # 𝒮 and 𝒢 are means of independent draws (close to Gaussian); their ratio is not, when 𝒢
    # is not resolved from 0, so the agreement is tested on 𝒮 and 𝒢.
    z = [max(abs(r["z_trace"]), abs(r["z_grad_sq"])) for r in rows]
    out.measured["b_simple_final"] = Measured(last["b_simple"])
    out.measured["b_simple_growth"] = Measured(last["b_simple"] / rows[0]["b_simple"])
    out.measured["two_batch_final"] = Measured(last["two_batch"], last["two_batch_se"])
    out.measured["max_abs_z_two_batch"] = Measured(float(np.max(z)))
    out.measured["one_over_B_bias_over_grad_sq"] = Measured(last["noise"] / (p["N"] - 1) / last["grad_sq"])
    out.arrays.update(epochs=rec.epochs, L=rec.loss, noise=rec.noise, grad_sq=rec.grad_sq_norm)
    out.notes.append(f"MLP {'-'.join(map(str, p['widths']))} on {data.name}; MSE, η={p['eta']}, "
                     f"B={p['B']}, {p['epochs']} epochs; two-batch estimator with B_small={p['B_small']}, "
                     f"B_big={p['B_big']}, {p['draws']} draws per checkpoint")
    return out
