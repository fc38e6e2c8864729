"""Experiment ``first-passage-nn``: first passage of the pretrained 784-10-1 MLP on MNIST
even/odd (Fig. 3c, R10), with h* and n measured on our own pretrained nets."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_batch_size
from ..data import mnist_even_odd
from ..dynamics.mlp_sgd import replica_losses, replicate, sgd_mlp
from ..dynamics.pretrain import pretrain
from ..stats.first_passage import fit_slope
from ..theory import (
    escape_exponent,
)
from ._registry import Outcome, experiment
from ._shared import (
    PAPER,
    _fp_rows,
    check_not_degenerate,
    check_thresholds,
    declared_window,
    pretrained_spectrum,
)

NN_PRESETS = {
    "smoke": dict(n=10_000, pre_steps=2_000, pre_seeds=[0], nets=[0], B=10, betas=[6.0], replicas=8,
                  steps=400, c_min=1.02, c_max=2.0, n_c=10, c_lo=1.1, decades=1.0, k=10),
    "book": dict(n=10_000, pre_steps=30_000, pre_seeds=[0, 1, 2], nets=[0, 1, 2], B=10,
                 betas=[6.0, 8.0, 10.0], replicas=32, steps=3_000, c_min=1.02, c_max=3.0, n_c=16, c_lo=1.2,
                 decades=1.5, k=30),
    "paper": dict(n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], nets=[0, 1, 2], B=10,
                  betas=[6.0, 8.0, 10.0, 12.0], replicas=100, steps=100_000, c_min=1.02,
                  c_max=10.0, n_c=24, c_lo=1.2, decades=2.5, k=30),
}


@experiment("first-passage-nn",
            description="First passage of the pretrained 784-10-1 MLP on MNIST even/odd (Fig. 3c, R10)",
            presets=NN_PRESETS,
    measured=('slope', 'censored', 'lambda_max', 'participation_ratio', 'pretrained_loss', 'n_fit'),
    theory=('slope',),
    reference=('lambda_max', 'participation_ratio', 'n_fit', 'pretrained_loss'),
    tables=('first_passage', 'slopes', 'nets'),
    checks=dict(pre_seeds=">=0", nets=">=0", c_min=">1", c_max=">1", c_lo=">1", n_c=">1"),
)
def run_nn(p: dict, rng: np.random.Generator) -> Outcome:
    check_batch_size(p["B"], p["n"])
    check_thresholds(p)
    bad = [i for i in p["nets"] if i >= len(p["pre_seeds"])]
    if bad:
        raise InvalidInput(f"nets={','.join(map(str, p['nets']))}: there are only "
                           f"{len(p['pre_seeds'])} pretrained nets (one per entry of pre_seeds), "
                           f"indices 0..{len(p['pre_seeds']) - 1}")
    if p["k"] > 7861:
        raise InvalidInput(f"k={p['k']} exceeds the P = 7861 parameters of the 784-10-1 net")
    out = Outcome()
    data = mnist_even_odd(p["n"])
    pre = pretrain(n=p["n"], steps=p["pre_steps"], seeds=p["pre_seeds"])
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    K = data.x @ data.x.T
    rows, fits = [], []
    for net_index in p["nets"]:
        net = pre["params"].model(net_index)
        spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                                   index=net_index, k=p["k"])
        h_star, n_pr = spec["lambda_max"], spec["participation_ratio"]
        L_star = float(replica_losses(replicate(net, 1), data.x, data.y)[0])
        for beta in p["betas"]:
            eta = p["B"] / (beta * h_star)
            theory = escape_exponent(B=p["B"], eta=eta, h=h_star, n=n_pr)
            window = declared_window(p["c_lo"], p["decades"], theory)
            run = sgd_mlp(replicate(net, p["replicas"]), data.x, data.y, eta=eta, B=p["B"],
                          steps=p["steps"], rng=rng, thresholds=c * L_star, gram=K, threads=1)
            check_not_degenerate(c, run.first_passage, window,
                                 f"net {net_index}, beta={beta:g} (eta={eta:.3g})")
            fit = fit_slope(c, run.first_passage, run.steps_run, window=window, rng=rng)
            rows += _fp_rows(c, run.first_passage, run.steps_run, fit, eta=eta,
                             net=net_index, beta=beta)
            cens = int(sum(e.censored for e, u in zip(fit.estimates, fit.used) if u))
            n_fit = 2 * (beta + 1 - fit.slope)
            fits.append(dict(net=net_index, seed=p["pre_seeds"][net_index], eta=eta, beta=beta,
                             lambda_max=h_star, participation_ratio=n_pr, L_star=L_star,
                             slope=fit.slope, slope_stderr=fit.slope_stderr, slope_theory=theory,
                             slope_theory_n9=escape_exponent(B=p["B"], eta=eta, h=h_star, n=PAPER["n_fit"]),
                             n_fit=n_fit, n_fit_stderr=2 * fit.slope_stderr, window_lo=window[0],
                             window_hi=window[1], censored_in_window=cens))
    first = [f for f in fits if f["net"] == p["nets"][0]]
    h_star, n_pr, L_star = first[0]["lambda_max"], first[0]["participation_ratio"], first[0]["L_star"]
    spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                               index=p["nets"][0], k=p["k"])
    out.tables["first_passage"] = rows
    out.tables["slopes"] = fits
    out.measured["slope"] = Measured(first[0]["slope"], first[0]["slope_stderr"])
    out.theory["slope"] = first[0]["slope_theory"]
    out.measured["censored"] = Measured(sum(r["censored"] for r in rows))
    out.measured["lambda_max"] = Measured(h_star)
    out.measured["participation_ratio"] = Measured(n_pr, spec["participation_ratio_stderr"])
    out.measured["pretrained_loss"] = Measured(L_star)
    per_net = []
    for net_index in p["nets"]:
        sel = [f for f in fits if f["net"] == net_index]
        w = np.array([f["n_fit"] for f in sel])
        wts = 1 / np.array([f["n_fit_stderr"] for f in sel]) ** 2
        per_net.append(dict(net=net_index, seed=sel[0]["seed"], lambda_max=sel[0]["lambda_max"],
                            participation_ratio=sel[0]["participation_ratio"],
                            L_star=sel[0]["L_star"], n_fit=float((w * wts).sum() / wts.sum()),
                            n_fit_stderr=float(wts.sum() ** -0.5)))
    out.tables["nets"] = per_net
    out.measured["n_fit"] = Measured(per_net[0]["n_fit"], per_net[0]["n_fit_stderr"])
    out.reference.update(PAPER)
    out.notes.append(f"pretrained {p['pre_steps']} steps (paper: 1e5); eta = B/(beta*lambda_1) "
                     f"with each net's own lambda_1; {p['replicas']} replicas per eta, "
                     f"budget {p['steps']} steps; nets (pretraining seeds) {p['nets']}")
    return out
