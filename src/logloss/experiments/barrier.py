"""Experiment ``barrier``: escape over a real barrier as label noise moves L(θ*) at fixed ΔL
(R13, beyond the paper): the power law of Eq. (15) against Arrhenius-type laws, at strong
noise (B/(ηh) ≈ 3) and at weak noise (B/(ηh) ≈ 12), where the laws separate by decades.

For every (η, σ²) the mean exit time of SGD from θ* to a neighbouring minimum is measured
by splitting on ξ = log(L/L*) (any rarity) and by brute force where its budget reaches
(:func:`~._barrier.measure_escape`); the laws and the exact layers are computed on the same
finite data set.  The laws are compared with SGD only at points where the escape is rare,
t ≥ 100 relaxation times 1/(ηh) (declared before the comparison; the escape laws are
statements about rare, memoryless escape).
"""

from __future__ import annotations

import numpy as np

from ..core.measured import Measured
from ..core.resources import Cost
from ..models.barrier import make_barrier_regression
from ..stats.lines import fit_line
from ._barrier import (
    EXACT,
    FIELDS,
    LAWS,
    data_cost,
    escape_cost,
    landscape_row,
    measure_escape,
    predictions,
    validate,
)
from .params import Param
from .result import Outcome
from .spec import experiment

_COMMON = dict(N=10_000, A=2.0, k=2.0, a=0.0, b=1.0, eta=0.02, B=1, grid=4001, xss_s=0.5)
_LAND = {k: v for k, v in _COMMON.items() if k != "eta"}

BARRIER_PRESETS = {
    "smoke": dict(_LAND, etas=[0.02, 0.005], sigma2s=[1.5, 4.0, 10.0, 25.0], replicas=60,
                  steps=100_000, repetitions=4, split_replicas=60, chain_resolution=2.0),
    "book": dict(_LAND, etas=[0.02, 0.005], sigma2s=[0.0, 0.5, 1.5, 4.0, 10.0, 25.0, 50.0],
                 replicas=400, steps=400_000, repetitions=24, split_replicas=100,
                 chain_resolution=4.0),
    "paper": dict(_LAND, etas=[0.02, 0.01, 0.005], sigma2s=[0.0, 0.25, 0.5, 1.0, 1.5, 2.5, 4.0,
                                                            6.0, 10.0, 16.0, 25.0, 50.0],
                  replicas=1000, steps=4_000_000, repetitions=64, split_replicas=200,
                  chain_resolution=8.0),
}


def _separation(ok: list[dict], eta: float) -> list[dict]:
    """z = (log τ_SGD − log τ_law)/s.e.(log τ_SGD) at the rare points of one η, absolutely and
    with one fitted constant per law (shape only), and the largest miss in decades."""
    y = np.log([r["sgd"] for r in ok])
    se = np.array([r["sgd_stderr"] / r["sgd"] for r in ok])
    out = []
    for key, label in LAWS + EXACT:
        pred = np.log([r[f"tau_{key}"] for r in ok])
        z = (y - pred) / se
        shift = Measured.weighted_mean(y - pred, se).value
        zs = (y - pred - shift) / se
        out.append(dict(law=key, label=label, eta=eta, chi2_abs=float(np.sum(z**2)),
                        max_abs_z=float(np.max(np.abs(z))), chi2_shape=float(np.sum(zs**2)),
                        max_abs_z_shape=float(np.max(np.abs(zs))), log_offset=shift,
                        dof_shape=len(ok) - 1,
                        max_decades=float(np.max(np.abs(y - pred)) / np.log(10))))
    return out


def _cost(p: dict) -> Cost:
    """Per η and σ²: one escape measurement with its predictions; then 41 points of the
    smooth curves."""
    cost = data_cost(p)
    for eta in p["etas"]:
        for _ in p["sigma2s"]:
            cost = cost.then(escape_cost(p, eta=eta))
    return Cost(cost.memory, cost.seconds + 41 * 1e-5 * float(p["grid"]) * len(p["etas"]),
                "N, etas, sigma2s, replicas, steps, repetitions, split_replicas, chain_resolution")


@experiment("barrier",
            description="Escape over a real barrier as label noise moves L(θ*) at fixed ΔL, "
                        "at strong and weak noise (R13)",
            presets=BARRIER_PRESETS,
            measured=("log_tau_slope", "split_over_bf", "censored"),
            theory=("log_tau_slope_eq15", "delta_L", "h_star", "h_noise", "gauss_newton_star"),
            tables=dict(
                points=("L_star", "bf", "bf_censored", "bf_cost", "bf_estimator", "bf_km_band",
                    "bf_km_exp_distance", "bf_left", "bf_right", "bf_stderr", "bf_weibull_k",
                    "bf_weibull_k_stderr", "c", "chain_grid_error", "dL_over_L", "eta", "h_noise",
                    "rare", "relaxation", "sgd", "sgd_method", "sgd_stderr", "sigma2",
                    "spectator_loss_exit", "split", "split_c_A", "split_cost", "split_dominance",
                    "split_log10_stderr", "split_stderr", "tau_affine", "tau_arrhenius_const",
                    "tau_arrhenius_min", "tau_chain", "tau_eq15", "tau_eq15_hessian",
                    "tau_kramers_exact", "tau_sde_quadrature", "tau_xss", "temperature"),
                landscape=("L_saddle_hi", "L_saddle_lo", "L_star", "Sigma_saddle_hi",
                    "Sigma_saddle_lo", "Sigma_star", "dL_hi", "dL_lo", "exit_hi", "exit_lo",
                    "gn_saddle_hi", "gn_saddle_lo", "gn_star", "h_noise", "h_saddle_hi",
                    "h_saddle_lo", "h_star", "saddle_hi", "saddle_lo", "sigma2", "theta_star"),
                separation=("chi2_abs", "chi2_shape", "dof_shape", "eta", "label", "law",
                    "log_offset", "max_abs_z", "max_abs_z_shape", "max_decades"),
                slopes=("c_max", "c_min", "decades", "eta", "points", "slope", "slope_eq15",
                    "slope_stderr", "temperature"),
            ),
            arrays=("curve_affine", "curve_arrhenius_const", "curve_arrhenius_min",
                "curve_dL_over_L", "curve_eq15", "curve_eq15_hessian", "curve_kramers_exact",
                "curve_sde_quadrature", "curve_xss", "etas", "sigma2"),
            fields=dict(
                FIELDS,
                points="rare points in the fit (t ≥ 100 relaxation times)",
                chi2_abs="χ² of log τ_SGD against the law over the rare points",
                max_abs_z="largest |z| of log τ_SGD against the law",
                chi2_shape="χ² with one fitted constant per law (the shape only)",
                max_abs_z_shape="largest |z| with that constant",
                log_offset="the fitted constant (log τ_SGD − log τ_law)",
                dof_shape="degrees of freedom of chi2_shape (rare points − 1)",
                max_decades="largest miss of the law in decades",
                c_min="smallest c of those points",
                log_tau_slope="slope of log τ_SGD against log c at the weakest noise",
                log_tau_slope_eq15="paper Eq. (15)'s slope B/(ηh) + ½ there",
                split_over_bf="inverse-variance mean of split/bf where both ran",
                delta_L="barrier height ΔL at σ² = 0, mean of the two saddles",
                gauss_newton_star="Gauss–Newton curvature at θ* (σ² = 0)",
                etas="the learning rates η of the curves' rows",
                curve_dL_over_L="ΔL/L* at each point of the dense grid of σ²",
            ),
            params=dict(
                etas=Param("learning rates η of the escape-time scan", symbol="η", rule=">0 distinct"),
                k=Param("wave number of the barrier landscape (models/barrier.py)", symbol="k"),
            ),
            checks=dict(a="any", sigma2s=">=0 distinct", etas=">0 distinct"),
            cost=_cost,
            validate=validate)
def run_barrier(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    B = p["B"]
    etas = sorted(set(float(e) for e in p["etas"]), reverse=True)  # strong noise first
    base = make_barrier_regression(p["N"], rng, A=p["A"], k=p["k"], a=p["a"], b=p["b"])
    lr0 = landscape_row(base, B=B)
    out.tables["landscape"] = [dict(sigma2=0.0, **lr0)]
    rows, sep, slopes = [], [], []
    for eta in etas:
        D_ref = eta * lr0["Sigma_star"] / 2   # σ² = 0: the loss-independent law
        block = []
        for s2 in p["sigma2s"]:
            prob = base.with_sigma2(s2)
            pred = predictions(prob, eta=eta, B=B, D_ref=D_ref, grid=p["grid"],
                               chain_resolution=p["chain_resolution"], xss_s=p["xss_s"])
            lr = pred["landscape"]
            row = dict(eta=eta, temperature=B / (eta * lr["h_noise"]), sigma2=float(s2),
                       L_star=lr["L_star"],
                       c=0.5 * (lr["L_saddle_lo"] + lr["L_saddle_hi"]) / lr["L_star"],
                       dL_over_L=0.5 * (lr["dL_lo"] + lr["dL_hi"]) / lr["L_star"],
                       h_noise=lr["h_noise"], chain_grid_error=lr["chain_grid_error"])
            row.update(measure_escape(prob, eta=eta, B=B, steps=p["steps"],
                                      replicas=p["replicas"], repetitions=p["repetitions"],
                                      split_replicas=p["split_replicas"], rng=rng))
            row.update({f"tau_{k}": v for k, v in pred["times"].items()})
            block.append(row)
        rows += block
        ok = [r for r in block if r["rare"] and np.isfinite(r["sgd"]) and r["sgd_stderr"] > 0]
        if len(ok) < 3:
            out.notes.append(f"η = {eta:g}: fewer than 3 points with t ≥ 100 relaxation times; "
                             "no comparison of the laws")
            continue
        sep += _separation(ok, eta)
        # slope of log τ against log c over the rare points (Eq. 15: B/(ηh) + ½)
        y = np.log([r["sgd"] for r in ok])
        fit = fit_line(np.log([r["c"] for r in ok]), y,
                       sigma=np.array([r["sgd_stderr"] / r["sgd"] for r in ok]))
        slopes.append(dict(eta=eta, temperature=B / (eta * lr0["h_noise"]), points=len(ok),
                           c_min=min(r["c"] for r in ok), c_max=max(r["c"] for r in ok),
                           decades=float((y.max() - y.min()) / np.log(10)),
                           slope=fit.slope, slope_stderr=fit.slope_stderr,
                           slope_eq15=B / (eta * lr0["h_noise"]) + 0.5))
    out.tables["points"] = rows
    out.tables["separation"] = sep
    out.tables["slopes"] = slopes
    weak = slopes[-1] if slopes else dict(slope=np.nan, slope_stderr=np.nan, slope_eq15=np.nan)
    out.measured["log_tau_slope"] = Measured(weak["slope"], weak["slope_stderr"])
    out.theory["log_tau_slope_eq15"] = weak["slope_eq15"]
    # the two estimators where both ran: inverse-variance weighted mean of split/bf
    both = [r for r in rows if np.isfinite(r["bf"])]
    if both:
        q = np.array([r["split"] / r["bf"] for r in both])
        qs = q * np.hypot([r["split_stderr"] / r["split"] for r in both],
                          [r["bf_stderr"] / r["bf"] for r in both])
        out.measured["split_over_bf"] = Measured.weighted_mean(q, qs)
    else:
        out.measured["split_over_bf"] = Measured(float("nan"))
    out.theory["delta_L"] = 0.5 * (lr0["dL_lo"] + lr0["dL_hi"])
    out.theory["h_star"] = lr0["h_star"]
    out.theory["h_noise"] = lr0["h_noise"]
    out.theory["gauss_newton_star"] = lr0["gn_star"]
    out.measured["censored"] = Measured(sum(r["bf_censored"] for r in rows))
    out.arrays["sigma2"] = np.array(p["sigma2s"], dtype=float)
    out.arrays["etas"] = np.array(etas)
    # smooth curves of every asymptotic law (and the SDE quadrature) against ΔL/L*, per η
    dense = np.concatenate([[0.0], np.geomspace(0.02, 1.5 * max(p["sigma2s"]) + 1, 40)])
    keys = [k for k, _ in LAWS + EXACT[:2]]
    curves = np.full((len(etas), len(keys), dense.size), np.nan)
    xs = np.full(dense.size, np.nan)
    for i, eta in enumerate(etas):
        D_ref = eta * lr0["Sigma_star"] / 2
        for j, s2 in enumerate(dense):
            pr = predictions(base.with_sigma2(s2), eta=eta, B=B, D_ref=D_ref, grid=p["grid"],
                             chain_resolution=0, xss_s=p["xss_s"])
            lr = pr["landscape"]
            xs[j] = 0.5 * (lr["dL_lo"] + lr["dL_hi"]) / lr["L_star"]
            curves[i, :, j] = [pr["times"][k] for k in keys]
    out.arrays["curve_dL_over_L"] = xs
    for j, k in enumerate(keys):  # row i: η = etas[i]
        out.arrays[f"curve_{k}"] = curves[:, j]
    cost = sum(r["split_cost"] + r["bf_cost"] for r in rows)
    out.notes.append(f"splitting: {p['repetitions']} repetitions × {p['split_replicas']} "
                     f"replicas per point; brute force ({p['replicas']} replicas, budget "
                     f"{p['steps']} steps) where the budget is ≥ 5 splitting estimates; "
                     f"{cost:.3g} replica-steps in all")
    return out
