"""Experiment ``barrier``: escape over a real barrier as label noise moves L(θ*) at fixed ΔL
(R13, beyond the paper): the power law of Eq. (15) against Arrhenius-type laws."""

from __future__ import annotations

import numpy as np

from ..core.measured import Measured
from ..core.resources import Cost
from ..stats.lines import fit_line
from ._barrier import (
    EXACT,
    LAWS,
    data_cost,
    estimate,
    prediction_cost,
    predictions,
    sgd_cost,
    sigma2_points,
    validate,
)
from ._registry import Outcome, experiment

_COMMON = dict(N=10_000, A=2.0, k=2.0, a=0.0, b=1.0, eta=0.02, B=1, grid=4001, xss_s=0.5)

BARRIER_PRESETS = {
    "smoke": dict(_COMMON, sigma2s=[0.25, 4.0, 50.0], replicas=60, steps=400_000,
                  chain_grid=301),
    "book": dict(_COMMON, sigma2s=[0.0, 0.5, 1.5, 4.0, 10.0, 25.0, 50.0], replicas=200,
                 steps=400_000, chain_grid=801),
    "paper": dict(_COMMON, sigma2s=[0.0, 0.25, 0.5, 1.0, 1.5, 2.5, 4.0, 6.0, 10.0, 16.0, 25.0,
                                    50.0], replicas=1000, steps=4_000_000, chain_grid=1601),
}


def _cost(p: dict) -> Cost:
    """Per σ²: the predictions (with the discrete chain) and the SGD replicas; then 41
    points of the smooth curves."""
    point = prediction_cost(p).then(sgd_cost(p))
    curves = prediction_cost(p, chain=False)
    data = data_cost(p)
    return Cost(data.memory + max(point.memory, curves.memory),
                len(p["sigma2s"]) * point.seconds + 41 * curves.seconds,
                "N, replicas, steps, grid, chain_grid")


@experiment("barrier",
            description="Escape over a real barrier as label noise moves L(θ*) at fixed ΔL (R13)",
            presets=BARRIER_PRESETS,
            measured=("log_tau_slope", "censored"),
            theory=("log_tau_slope_eq15", "delta_L", "h_star", "h_noise", "gauss_newton_star"),
            tables=("points", "landscape", "separation"),
            checks=dict(a="any", sigma2s=">=0"),
            cost=_cost,
            validate=validate)
def run_barrier(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    eta, B = p["eta"], p["B"]
    base, D_ref, points = sigma2_points(p, rng)
    rows = []
    for s2, _prob, pred, run in points:
        lr = pred["landscape"]
        row = dict(sigma2=float(s2), L_star=lr["L_star"],
                   c=0.5 * (lr["L_saddle_lo"] + lr["L_saddle_hi"]) / lr["L_star"],
                   dL_over_L=0.5 * (lr["dL_lo"] + lr["dL_hi"]) / lr["L_star"],
                   h_noise=lr["h_noise"], **estimate(run, "sgd"))
        row.update({f"tau_{k}": v for k, v in pred["times"].items()})
        row["replicas"] = p["replicas"]
        rows.append(row)
        if s2 == p["sigma2s"][0]:
            out.tables["landscape"] = [dict(sigma2=float(s2), **lr)]
    out.tables["points"] = rows
    # separations: z = (log τ_SGD − log τ_law)/s.e.(log τ_SGD), absolute and with one
    # fitted constant per law (shape only)
    ok = [r for r in rows if np.isfinite(r["sgd"]) and r["sgd_stderr"] > 0]
    y = np.log([r["sgd"] for r in ok])
    se = np.array([r["sgd_stderr"] / r["sgd"] for r in ok])
    sep = []
    for key, label in LAWS + EXACT:
        pred = np.log([r[f"tau_{key}"] for r in ok])
        z = (y - pred) / se
        w = 1 / se**2
        shift = float(np.sum(w * (y - pred)) / np.sum(w))
        zs = (y - pred - shift) / se
        sep.append(dict(law=key, label=label, chi2_abs=float(np.sum(z**2)),
                        max_abs_z=float(np.max(np.abs(z))), chi2_shape=float(np.sum(zs**2)),
                        max_abs_z_shape=float(np.max(np.abs(zs))), log_offset=shift,
                        dof_shape=len(ok) - 1))
    out.tables["separation"] = sep
    # slope of log τ against log c over the points (Eq. 15: B/(ηh*) + ½ with h* = h_noise)
    x = np.log([r["c"] for r in ok])
    fit = fit_line(x, y, sigma=se)
    out.measured["log_tau_slope"] = Measured(fit.slope, fit.slope_stderr)
    lr0 = out.tables["landscape"][0]
    out.theory["log_tau_slope_eq15"] = B / (eta * lr0["h_noise"]) + 0.5
    out.theory["delta_L"] = 0.5 * (lr0["dL_lo"] + lr0["dL_hi"])
    out.theory["h_star"] = lr0["h_star"]
    out.theory["h_noise"] = lr0["h_noise"]
    out.theory["gauss_newton_star"] = lr0["gn_star"]
    out.measured["censored"] = Measured(sum(r["sgd_censored"] for r in rows))
    out.arrays["sigma2"] = np.array(p["sigma2s"], dtype=float)
    # smooth curves of every asymptotic law (and the SDE quadrature) against ΔL/L*
    dense = np.concatenate([[0.0], np.geomspace(0.02, 1.5 * max(p["sigma2s"]) + 1, 40)])
    curves = {k: [] for k, _ in LAWS + EXACT[:2]}
    xs = []
    for s2 in dense:
        pr = predictions(base.with_sigma2(s2), eta=eta, B=B, D_ref=D_ref, grid=p["grid"],
                         chain_grid=0, xss_s=p["xss_s"])
        lr = pr["landscape"]
        xs.append(0.5 * (lr["dL_lo"] + lr["dL_hi"]) / lr["L_star"])
        for k in curves:
            curves[k].append(pr["times"][k])
    out.arrays["curve_dL_over_L"] = np.array(xs)
    for k, v in curves.items():
        out.arrays[f"curve_{k}"] = np.array(v)
    out.notes.append(f"{p['replicas']} SGD replicas per σ², budget {p['steps']} steps; censored "
                     "points use the exponential MLE (memoryless check: KM distance)")
    return out
