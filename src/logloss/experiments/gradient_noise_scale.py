"""Experiment ``gradient-noise-scale``: B_simple = 𝒩/‖∇L‖² along SGD, exact against the
two-batch estimator of McCandlish et al. (2018), and ‖∇L‖² against its stationary level
(η c L/B)(tr H² + (η/2) tr H³ + …) plus the drift of the loss, which puts a plateau
B* = 2B tr H/(η c tr H²) on B_simple (beyond the paper; R4's 𝒩 is tr Σ₁)."""

from __future__ import annotations

import numpy as np
import torch

from ..core.errors import InvalidInput
from ..core.measured import Measured, standard_error
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_batch_size
from ..data import mnist_even_odd
from ..dynamics.training import log_schedule, train_sgd
from ..measure.kernel import gauss_newton_traces
from ..measure.losses import mse_per_sample
from ..measure.noise_scale import gradient_noise_scale
from ..models.nets import mlp
from ..theory.noise_scale import noise_scale_plateau, stationary_grad_sq
from ._cost import mlp_params, torch_training
from ._shared import check_mnist_n
from .params import Param
from .result import Outcome
from .spec import experiment

#: tr H … tr H⁵: the series Σ_i h_i²/(1 − ηh_i/2) = Σ_k (η/2)^k tr H^(k+2) of the stationary
#: ‖∇L‖² kept to (η/2)³ tr H⁵, a relative truncation error below (ηλ_max/2)⁴ (1e-3 at ηλ_max = 0.35)
TRACE_POWERS = 5

PRESETS = {
    "smoke": dict(N=300, widths=[784, 10, 1], eta=0.01, B=100, epochs=60, points=20, checkpoints=4,
                  B_small=10, B_big=100, draws=40, plateau_from=0.25, plateau_records=6, block_epochs=5,
                  minibatches="independent"),
    "book": dict(N=1000, widths=[784, 10, 1], eta=0.01, B=100, epochs=300, points=40, checkpoints=6,
                 B_small=10, B_big=100, draws=100, plateau_from=0.25, plateau_records=10, block_epochs=10,
                 minibatches="independent"),
    "paper": dict(N=10000, widths=[784, 10, 1], eta=0.01, B=100, epochs=1000, points=60,
                  checkpoints=8, B_small=10, B_big=100, draws=400, plateau_from=0.25,
                  plateau_records=30, block_epochs=10, minibatches="independent"),
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


def _full_batch(model, x, y) -> tuple[float, float]:
    """L and ‖∇L‖² at the model's θ, from one full-batch pass (float64 sums)."""
    params = [q for q in model.parameters() if q.requires_grad]
    with torch.enable_grad():
        L = mse_per_sample(model(x), y).mean()
        grads = torch.autograd.grad(L, params)
    return float(L.detach()), float(sum(g.double().pow(2).sum() for g in grads))


def _plateau(out: Outcome, p: dict, N: int, traces: dict, noise: dict, window: dict) -> None:
    """‖∇L‖² against its stationary level plus the loss's drift, epoch by epoch.

    ``window`` holds (L, ‖∇L‖²) after every epoch of the plateau window; ``traces`` the Gauss–Newton traces and ``noise`` the noise strength 𝒩 at
    ``plateau_records`` epochs spread over the window.  The traces change slowly along
    training, so they are interpolated (linearly in the epoch) to every epoch, where the
    stationary level s_e = (η c L_e/B)(tr H² + (η/2) tr H³ + …) and the drift −(dL/dk)/η per
    step give the prediction of ‖∇L‖²_e.  The loss's own fluctuations from one epoch to the
    next are as large as its decrease, so dL/dk is taken from a quadratic fit of log L
    against log epoch over the window, not from differences.  The ratios measured/predicted
    are averaged over the window; their standard error comes from the means of blocks of
    ``block_epochs`` consecutive epochs (batch means), so that a residual correlation between
    neighbouring epochs does not shrink it.
    """
    eta, B = p["eta"], p["B"]
    steps = N // B
    ep = np.array(sorted(window))
    L = np.array([window[e][0] for e in ep])
    g2 = np.array([window[e][1] for e in ep])
    coef = np.polyfit(np.log(ep), np.log(L), 2)
    dlogL = np.polyval(np.polyder(coef), np.log(ep))      # d log L / d log epoch
    drift = -np.exp(np.polyval(coef, np.log(ep))) * dlogL / ep / (eta * steps)
    te = np.array(sorted(t for t in traces if t >= ep[0]))
    tr = np.column_stack([np.interp(ep, te, [traces[t][k] for t in te]) for k in range(TRACE_POWERS)])
    stat = np.array([stationary_grad_sq(Le, t, eta=eta, B=B, N=N) for Le, t in zip(L, tr)])
    ratio = g2 / (stat + drift)
    nb = max(len(ratio) // int(p["block_epochs"]), 1)
    blocks = np.array([b.mean() for b in np.array_split(ratio, nb)])
    out.measured["grad_sq_over_prediction"] = Measured(float(ratio.mean()), float(standard_error(blocks)))
    # B_simple's plateau as the ratio of window means (𝒩 at the trace epochs, smooth along
    # training; ‖∇L‖² at every epoch): the mean of a ratio with a heavy-tailed denominator is
    # not the ratio of the means.  Its prediction is the same ratio with ‖∇L‖² predicted.
    n_mean = float(np.mean([noise[t] for t in te]))
    out.measured["b_simple_plateau"] = Measured(n_mean / float(g2.mean()))
    out.theory["b_simple_plateau"] = n_mean / float((stat + drift).mean())
    out.theory["grad_sq_over_prediction"] = 1.0
    out.measured["drift_fraction"] = Measured(float(np.mean(drift / (stat + drift))))
    # the size of the corrections in ηh kept in the prediction: Σ_k≥1 (η/2)^k tr H^(k+2) / tr H²
    series = sum(tr[:, k] * (eta / 2) ** (k - 1) for k in range(1, TRACE_POWERS))
    out.measured["eta_h_correction"] = Measured(float(np.mean(series / tr[:, 1] - 1)))
    out.arrays.update(window_epochs=ep, window_L=L, window_grad_sq=g2, window_stationary=stat,
                      window_drift=drift, window_blocks=np.array(nb))
    out.notes.append(f"plateau window: epochs {ep[0]}–{ep[-1]} ({len(ep)} epochs, {nb} blocks of "
                     f"~{p['block_epochs']}); Gauss–Newton traces at {len(te)} epochs there and at "
                     "the checkpoints")


@experiment(
    "gradient-noise-scale",
    description="Simple noise scale B_simple = 𝒩/‖∇L‖² along SGD: exact vs two-batch estimator",
    presets=PRESETS,
    measured=("b_simple_final", "b_simple_growth", "two_batch_final", "max_abs_z_two_batch",
              "one_over_B_bias_over_grad_sq", "grad_sq_over_prediction", "b_simple_plateau",
              "drift_fraction", "eta_h_correction"),
    theory=("grad_sq_over_prediction", "b_simple_plateau"),
    tables=dict(
        checkpoints=("b_simple", "draw_seed", "epoch", "grad_sq", "grad_sq_est",
            "grad_sq_est_one_over_B", "grad_sq_est_se", "noise", "one_over_B", "one_over_B_se",
            "resolved", "trace_est", "trace_est_se", "two_batch", "two_batch_se", "z_grad_sq",
            "z_trace"),
    ),
    arrays=("L", "b_simple_predicted", "epochs", "grad_sq", "noise", "traces", "window_L",
        "window_blocks", "window_drift", "window_epochs", "window_grad_sq", "window_stationary"),
    fields=dict(
        b_simple="simple noise scale B_simple = 𝒩/‖∇L‖², exact",
        draw_seed="seed of the checkpoint's minibatch draws",
        two_batch="two-batch estimate of B_simple with the finite-population factor",
        one_over_B="the same estimator with the 1/B (with replacement) formulas",
        grad_sq_est="two-batch estimate 𝒢 of ‖∇L‖²",
        grad_sq_est_one_over_B="the same with the 1/B formulas",
        trace_est="two-batch estimate 𝒮 of 𝒩",
        z_trace="(trace_est − 𝒩)/s.e.",
        z_grad_sq="(grad_sq_est − ‖∇L‖²)/s.e.",
        resolved="whether grad_sq_est exceeds 3 s.e. (its ratio can be trusted)",
        b_simple_predicted="B_simple's plateau predicted from the Gauss–Newton traces at each record",
        traces="tr H^k, k = 1 … 4, at each record (nan where not taken)",
        window_epochs="epochs of the plateau window",
        window_L="L at each of them",
        window_grad_sq="‖∇L‖² at each of them",
        window_stationary="the stationary level of ‖∇L‖² predicted there",
        window_drift="the drift −(dL/dk)/η per step there",
        window_blocks="number of blocks of the batch-means error",
        b_simple_final="B_simple at the last checkpoint",
        b_simple_growth="B_simple at the last checkpoint over the first",
        two_batch_final="the two-batch estimate at the last checkpoint",
        max_abs_z_two_batch="largest |z| of 𝒮 and 𝒢 over the checkpoints",
        one_over_B_bias_over_grad_sq="bias 𝒩/(N − 1) of the 1/B formulas over ‖∇L‖², last checkpoint",
        grad_sq_over_prediction="‖∇L‖² over its predicted stationary level plus drift, on the window",
        b_simple_plateau="B_simple on the plateau: mean 𝒩 over mean ‖∇L‖²",
        drift_fraction="mean share of the drift in the prediction",
        eta_h_correction="relative size of the ηh corrections kept in the prediction",
    ),
    params=dict(
        checkpoints=Param("checkpoints along training where B_simple is measured"),
        block_epochs=Param("consecutive epochs per block of the batch-means error", unit="epochs"),
    ),
    cost=_cost,
    validate=_validate,
    checks=dict(plateau_from="[0,1)", minibatches=("independent", "epoch")),
)
def run(p: dict, rng: np.random.Generator) -> Outcome:
    data = mnist_even_odd(p["N"])
    seed = int(rng.integers(2**31))
    net = mlp(p["widths"], seed=seed)
    # records on the log schedule (the figure) and at the trace epochs of the plateau window
    start = max(int(np.ceil(p["plateau_from"] * p["epochs"])), 1)
    if p["epochs"] - start < 2 * p["block_epochs"]:
        raise InvalidInput(f"the plateau window (epochs {start}–{p['epochs']}) needs at least two "
                           f"blocks of block_epochs={p['block_epochs']} epochs")
    at = set(np.linspace(start, p["epochs"], p["plateau_records"]).round().astype(int).tolist())
    sched = sorted(set(log_schedule(p["epochs"], p["points"])) | at)
    checks = set(log_schedule(p["epochs"], p["checkpoints"])[1:])
    rows = []
    traces: dict[int, np.ndarray] = {}
    noise: dict[int, float] = {}
    window: dict[int, tuple[float, float]] = {}

    def at_checkpoint(epoch, model):
        if epoch >= start:
            window[epoch] = _full_batch(model, data.x, data.y)
        if epoch in checks or epoch in at:
            traces[epoch] = gauss_newton_traces(model, data.x, powers=TRACE_POWERS)
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
                    record_at=sched, callback=at_checkpoint, desc="SGD (noise scale)",
                    minibatches=p["minibatches"])
    for e, nz in zip(rec.epochs, rec.noise):
        if int(e) in at:
            noise[int(e)] = float(nz)
    out = Outcome()
    _plateau(out, p, data.x.shape[0], traces, noise, window)
    tr = np.array([traces.get(int(e), np.full(TRACE_POWERS, np.nan)) for e in rec.epochs])
    out.arrays["b_simple_predicted"] = np.array(
        [noise_scale_plateau(t, eta=p["eta"], B=p["B"], N=data.x.shape[0]) if np.all(np.isfinite(t))
         else np.nan for t in tr])
    out.arrays["traces"] = tr  # (records, TRACE_POWERS): tr H^k, k = 1 … TRACE_POWERS; NaN where not taken
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
    out.arrays.update(epochs=rec.epochs, L=rec.loss, noise=rec.noise, grad_sq=rec.grad_sq_norm,
                      **out.arrays)
    out.notes.append(f"MLP {'-'.join(map(str, p['widths']))} on {data.name}; MSE, η={p['eta']}, "
                     f"B={p['B']}, {p['epochs']} epochs, {p['minibatches']} minibatches; two-batch estimator with B_small={p['B_small']}, "
                     f"B_big={p['B_big']}, {p['draws']} draws per checkpoint")
    return out
