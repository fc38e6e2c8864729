"""Experiment ``own-model``: the whole toolkit on a model used nowhere else in the book.

A small CNN with BatchNorm, trained on the vendored Fashion-MNIST subset with
cross-entropy by a plain PyTorch loop of the kind a reader already has, with
:class:`logloss.NoiseMonitor` called every few steps.  Then, at the trained θ:

* 𝒩, L, 𝒩/L and the gradient noise scale B_simple = 𝒩/‖∇L‖² along the run;
* the top eigenvalues of the cross-entropy generalised Gauss–Newton matrix, λ₁ and the
  participation ratio (:func:`logloss.ggn_jacobian`, :func:`logloss.hessian_outliers`);
* the escape exponent and n_c predicted for the run's η and B, with their warnings
  (:func:`logloss.predict_escape`);
* first-passage times from the trained minimum to L ≥ c·L(θ*), with censoring
  (:func:`logloss.mean_first_passage`).

Minibatches are epoch shuffles (a permutation per epoch), as in an ordinary training
loop; the first-passage replicas use independent uniform subsets, the process of Eq. (8).
BatchNorm is used in train mode for the SGD steps and every full-data measurement is in
eval mode (running statistics), where per-sample gradients are defined.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import FLOP_RATE, Cost
from ..core.sampling import uniform_subsets
from ..core.validation import check_batch_size
from ..data import data_dir, fashion_mnist
from ..measure.losses import cross_entropy_per_sample
from ..measure.monitor import NoiseMonitor
from ..measure.predict import predict_escape
from ..stats.first_passage import mean_first_passage
from ..stats.lines import fit_power_law
from ._cost import F4, jacobian_matrix
from ._shared import VENDORED
from .params import Param
from .result import Outcome
from .spec import experiment

PRESETS = {
    "smoke": dict(N=200, channels=[4, 8], eta=0.05, B=50, epochs=6, monitor_every=4, k=10,
                  replicas=4, fp_steps=40, c=[1.05, 1.2, 1.5, 2.0]),
    "book": dict(N=500, channels=[8, 16], eta=0.05, B=50, epochs=30, monitor_every=15, k=20,
                 replicas=6, fp_steps=60, c=[1.02, 1.05, 1.1, 1.2, 1.5, 2.0]),
    "paper": dict(N=10_000, channels=[16, 32], eta=0.05, B=50, epochs=100, monitor_every=200,
                  k=30, replicas=32, fp_steps=2000, c=[1.02, 1.05, 1.1, 1.2, 1.5, 2.0, 3.0, 5.0]),
}


def small_cnn(channels, seed: int) -> nn.Sequential:
    """Conv–BatchNorm–ReLU–MaxPool twice, then a linear read-out to 10 classes (28×28 input)."""
    g = torch.Generator().manual_seed(seed)
    c1, c2 = channels
    net = nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 7 * 7, 10),
    )
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                nn.init.kaiming_uniform_(p, a=5**0.5, generator=g)
    return net


def _full_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(cross_entropy_per_sample(model(x), y).mean())


def _validate(p: dict) -> None:
    if p["N"] > VENDORED:
        data_dir()  # the full Fashion-MNIST lives there: a one-line error if it is not set
    check_batch_size(p["B"], p["N"])
    if len(p["channels"]) != 2:
        raise InvalidInput(f"channels={','.join(map(str, p['channels']))} must give the two "
                           "convolutions' widths, c1,c2")
    if p["k"] >= _parameters(p["channels"]):
        raise InvalidInput(f"k={p['k']} must be below the {_parameters(p['channels']):.0f} "
                           "parameters of the CNN")


def _parameters(channels) -> float:
    """Parameters of :func:`small_cnn` (convolutions, BatchNorm, read-out)."""
    c1, c2 = (float(c) for c in channels[:2])
    return 10 * c1 + 2 * c1 + 9 * c1 * c2 + c2 + 2 * c2 + (49 * c2 + 1) * 10


def _cost(p: dict) -> Cost:
    """Training with the monitor's 𝒩 every ``monitor_every`` steps, the cross-entropy
    GGN Jacobian (N·10 × P) of predict_escape, and the first-passage replicas, each step a
    forward pass over the N samples."""
    N, P = float(p["N"]), _parameters(p["channels"])
    c1, c2 = (float(c) for c in p["channels"][:2])
    flops = 2 * 9 * (784 * c1 + 196 * c1 * c2)  # per sample and forward pass
    steps = p["epochs"] * N / p["B"]
    train = Cost(memory=N * 784 * F4 + 3 * min(N, 1000.0) * 784 * (c1 + c2) * F4,
                 seconds=(3 * flops * N * p["epochs"]
                          + 3 * flops * N * steps / p["monitor_every"]) / FLOP_RATE)
    ggn = jacobian_matrix(N=N, params=P, outputs=10)
    fp = Cost(seconds=p["replicas"] * p["fp_steps"] * flops * (N + 3 * p["B"]) / FLOP_RATE)
    return Cost(train.memory + ggn.memory, train.seconds + ggn.seconds + fp.seconds,
                "N, channels, epochs, replicas, fp_steps")


@experiment(
    "own-model",
    description="The toolkit on a CNN with BatchNorm: 𝒩/L, B_simple, GGN outliers, predicted exponent, first passage",
    presets=PRESETS,
    measured=("final_loss", "noise_over_L_late", "noise_loss_slope", "lambda_max",
              "participation_ratio", "exponent", "censored"),
    theory=("exponent", "n_c"),
    tables=dict(
        first_passage=("c", "censored", "estimator", "replicas", "t_p", "t_p_stderr"),
        warnings=("warning",),
    ),
    arrays=("L", "grad_sq_estimate", "grad_sq_norm", "noise", "noise_over_L", "noise_scale",
        "step", "top_eigenvalues", "trace_estimate", "watched_step"),
    fields=dict(
        warning="a reason predict_escape gives why paper Eq. (15) may not apply",
        step="SGD step of each exact record of the monitor",
        noise_over_L="𝒩/L at each record",
        grad_sq_norm="‖∇L‖² at each record",
        noise_scale="B_simple = 𝒩/‖∇L‖² at each record",
        watched_step="SGD step of each two-batch estimate",
        trace_estimate="two-batch estimate 𝒮 of 𝒩 at each watched step",
        grad_sq_estimate="two-batch estimate 𝒢 of ‖∇L‖² at each watched step",
        top_eigenvalues="top-k eigenvalues of the cross-entropy Gauss–Newton matrix at the end",
        final_loss="full-data loss L* at the trained θ",
        noise_over_L_late="mean 𝒩/L over the last third of the records",
        noise_loss_slope="log–log slope of 𝒩 against L over the last third",
        exponent="predicted exponent B/(ηλ₁) + 1 − n/2 of Eq. (15), n the participation ratio",
    ),
    params=dict(
        channels=Param("channels of the BatchNorm CNN’s two convolutions"),
        monitor_every=Param("SGD steps between two measurements of 𝒩", unit="steps"),
        fp_steps=Param("steps of each first-passage replica", unit="steps"),
    ),
    checks=dict(c=">1"),
    cost=_cost,
    validate=_validate,
    data=lambda p: ("Fashion-MNIST",) if p["N"] > VENDORED else (),
)
def run(p: dict, rng: np.random.Generator) -> Outcome:
    eta, B, epochs = p["eta"], p["B"], p["epochs"]  # checked once, by the declaration
    data = fashion_mnist(p["N"])
    x, y = data.x.reshape(-1, 1, 28, 28), data.y
    seed = int(rng.integers(2**31))
    model = small_cnn(p["channels"], seed)
    opt = torch.optim.SGD(model.parameters(), lr=eta)
    monitor = NoiseMonitor(model, x, y, every=p["monitor_every"], loss=cross_entropy_per_sample)
    gen = torch.Generator().manual_seed(seed + 1)
    step = 0
    # ---- an ordinary training loop; the monitor is the only addition
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(data.N, generator=gen)
        for s in range(0, data.N - B + 1, B):
            monitor(step)
            idx = perm[s:s + B]
            loss = cross_entropy_per_sample(model(x[idx]), y[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    monitor.record(step)  # once more at the trained θ
    model.eval()
    h = monitor.history()
    out = Outcome()
    out.arrays.update({k: np.asarray(v) for k, v in h.items()})
    late = slice(2 * len(h["L"]) // 3, None)
    ratio = h["noise_over_L"][late]
    out.measured["noise_over_L_late"] = Measured.from_samples(ratio)
    fit = fit_power_law(h["L"][late], h["noise"][late])
    out.measured["noise_loss_slope"] = Measured(fit.slope, fit.slope_stderr)
    L_star = _full_loss(model, x, y)
    out.measured["final_loss"] = Measured(L_star)
    # ---- the minimum's curvature and the predicted escape exponent
    pred = predict_escape(model, x, eta=eta, B=B, loss="ce", k=p["k"], seed=seed)
    out.measured["lambda_max"] = Measured(pred.h_star)
    out.measured["participation_ratio"] = pred.n
    out.measured["exponent"] = pred.exponent
    out.theory["exponent"] = pred.exponent.value
    out.theory["n_c"] = pred.n_c
    out.tables["warnings"] = [dict(warning=w) for w in pred.warnings]
    out.arrays["top_eigenvalues"] = pred.spectrum.eigenvalues[: p["k"]]
    # ---- first passage from the trained minimum: R replicas of SGD, full loss every step
    c = np.asarray(p["c"], dtype=float)
    R, steps = p["replicas"], p["fp_steps"]
    fp = np.full((R, c.size), -1, dtype=np.int64)
    for r in range(R):
        rep = copy.deepcopy(model)
        ropt = torch.optim.SGD(rep.parameters(), lr=eta)
        for k, idx in enumerate(uniform_subsets(rng, (steps,), data.N, B), start=1):
            rep.train()
            loss = cross_entropy_per_sample(rep(x[torch.as_tensor(idx)]), y[torch.as_tensor(idx)]).mean()
            ropt.zero_grad()
            loss.backward()
            ropt.step()
            rep.eval()
            L = _full_loss(rep, x, y)
            newly = (L >= c * L_star) & (fp[r] < 0)
            fp[r, newly] = k
            if (fp[r] > 0).all():
                break
    est = mean_first_passage(fp, steps)
    out.tables["first_passage"] = [dict(c=float(ci), t_p=e.mean, t_p_stderr=e.stderr,
                                        censored=e.censored, replicas=e.replicas, estimator=e.method)
                                   for ci, e in zip(c, est)]
    out.measured["censored"] = Measured(float(sum(e.censored for e in est)))
    out.notes.append(f"CNN {p['channels']} with BatchNorm on {data.name}; cross-entropy, η={eta}, "
                     f"B={B}, {epochs} epochs ({step} steps); {R} first-passage replicas of "
                     f"{steps} steps")
    return out
