"""Experiment ``barrier-dimension``: escape over the barrier with n − 1 spectator valleys at
fixed c = L(θˢ)/L(θ*), against the c^(−n/2) factor of paper Eq. (15) (R12 on a real barrier).

The barrier landscape of :mod:`.barrier` gets m = n − 1 spectator parameters with
quadratic valleys of curvature h_s (:class:`~logloss.models.barrier.SpectatorBarrier`),
whose noise comes from the same minibatch.  Paper Eq. (15) predicts
t ∝ c^(B/(ηh*) + 1 − n/2), i.e. log τ falls by ½ log c per spectator, up to the critical
dimension n_c = 2(B/(ηh*) + 1) of paper Eq. (16).  Each case (σ², h_s/h) is compared with

* ``eq15``: paper Eq. (15) with n = m + 1 and h* = θ's noise curvature (the prefactor of
  the ``barrier`` experiment);
* ``eq15_discrete``: the same weak-noise law with θ's noise raised by the spectators'
  stationary loss in discrete SGD, exponent (B/(ηh*))/κ: per spectator
  −(h_s/h*)·log c/(2(1 − ηh_s)) for B = 1 (anchored at the exact chain for n = 1);
* ``sde`` / ``chain``: the adiabatic 1-d reductions (spectators at their stationary loss
  (κ − 1)L(θ), :func:`~logloss.theory.spectator_loss_ratio`) solved exactly, by quadrature
  for the SDE and by the backward equation for discrete SGD.

The control case has h_s ≠ h*, where the n/2 law has no reason to hold.
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..dynamics.barrier_sgd import sgd_barrier
from ..models.barrier import add_spectators, make_barrier_regression
from ..stats.lines import fit_line
from ..theory import (
    critical_dimension,
    lyapunov_critical_dimension,
    lyapunov_exponent,
    mean_square_critical_dimension,
    spectator_loss_ratio,
)
from ._barrier import (
    data_cost,
    estimate,
    landscape_row,
    prediction_cost,
    sgd_cost,
    spectator_times,
    validate,
)
from ._cost import F8
from ._registry import Outcome, experiment
from .barrier import _COMMON

_DIM = {k: _COMMON[k] for k in ("N", "A", "k", "a", "b", "eta", "B", "grid")}

DIMENSION_PRESETS = {
    "smoke": dict(_DIM, sigma2s=[4.0], ns=[1, 2, 3, 5, 8], control_ratio=0.5,
                  control_sigma2=4.0, replicas=60, steps=100_000, chain_grid=301),
    "book": dict(_DIM, sigma2s=[1.5, 10.0], ns=[1, 2, 3, 4, 5, 6, 7, 8, 10, 12],
                 control_ratio=0.5, control_sigma2=1.5, replicas=200, steps=200_000,
                 chain_grid=401),
    "paper": dict(_DIM, sigma2s=[0.5, 1.5, 4.0, 10.0], ns=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16],
                  control_ratio=0.5, control_sigma2=1.5, replicas=1000, steps=2_000_000,
                  chain_grid=1201),
}


def _tau_eq15(lr: dict, *, eta: float, B: int, n: int) -> float:
    """Paper Eq. (15) with effective dimension n, both saddles' rates added (steps)."""
    expo = B / (eta * lr["h_noise"]) + 1 - n / 2
    rate = 0.0
    for side in ("lo", "hi"):
        pre = 2 * np.pi / np.sqrt(lr["h_star"] * abs(lr[f"h_saddle_{side}"])) / eta
        rate += 1 / (pre * (lr[f"L_saddle_{side}"] / lr["L_star"]) ** expo)
    return float(1 / rate)


def _slope(rows, key, se_key=None):
    """Slope of log τ against n over the rows (WLS with the replicas' errors if given)."""
    n = np.array([r["n"] for r in rows], float)
    y = np.array([r[key] for r in rows], float)
    if se_key is None:
        return fit_line(n, np.log(y)).slope, 0.0
    fit = fit_line(n, np.log(y), sigma=np.array([r[se_key] for r in rows]) / y)
    return fit.slope, fit.slope_stderr


def _validate(p: dict) -> None:
    validate(p)
    if len(set(p["ns"])) < 3:
        raise InvalidInput(f"ns={','.join(map(str, p['ns']))}: the slope against n needs >= 3 "
                           "distinct effective dimensions")


def _cost(p: dict) -> Cost:
    """Per case and n: n − 1 spectators (N × m), the SGD replicas and the adiabatic
    predictions (the discrete chain among them); a second per Lyapunov quadrature."""
    cases = len(p["sigma2s"]) + 1
    cost = Cost()
    for n in p["ns"]:
        m = float(n) - 1
        run = sgd_cost(p, spectators=m)
        pred = prediction_cost(p)
        cost = cost.then(Cost(float(p["N"]) * m * F8 + max(run.memory, pred.memory),
                              run.seconds + pred.seconds + 1.0))
    data = data_cost(p)
    return Cost(data.memory + cost.memory, cases * cost.seconds,
                "N, ns, replicas, steps, grid, chain_grid")


@experiment("barrier-dimension",
            description="Escape over the barrier with n − 1 spectator valleys at fixed c: "
                        "the c^(n/2) factor of Eq. (15) up to and beyond n_c (R12)",
            presets=DIMENSION_PRESETS,
            measured=("slope", "slope_control", "censored"),
            theory=("slope_eq15", "slope_eq15_discrete", "slope_chain", "slope_sde", "slope_control_chain",
                    "n_c", "n_c_mean_square", "n_c_lyapunov", "h_noise"),
            tables=("points", "slopes"),
            checks=dict(a="any", sigma2s=">=0", control_sigma2=">=0"),
            cost=_cost,
            validate=_validate)
def run_barrier_dimension(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    eta, B = p["eta"], p["B"]
    base = make_barrier_regression(p["N"], rng, A=p["A"], k=p["k"], a=p["a"], b=p["b"])
    cp = base.critical_points
    h_noise = landscape_row(base, B=B)["h_noise"]
    cases = [("main", s2, 1.0) for s2 in p["sigma2s"]]
    cases.append(("control", p["control_sigma2"], p["control_ratio"]))
    rows, slopes = [], []
    lyap = {}   # Lyapunov exponent of the spectator block, per (h_s, m)
    for case, s2, ratio in cases:
        h_s = ratio * h_noise
        prob = base.with_sigma2(s2)
        lr = landscape_row(prob, B=B)
        c = 0.5 * (lr["L_saddle_lo"] + lr["L_saddle_hi"]) / lr["L_star"]
        m_ms = mean_square_critical_dimension(eta=eta * h_s, B=B)
        T = B / (eta * lr["h_noise"])
        # adiabatic weak-noise law: exponent T/κ, κ of discrete SGD; per spectator (exact
        # for B = 1, where 1/κ is linear in m): −(h_s/h)·log c / (2(1 − ηh_s))
        per_spec = T * (1 / spectator_loss_ratio(eta=eta, B=B, h=h_s, m=1) - 1) * np.log(c)
        bare = spectator_times(prob, eta=eta, B=B, h_spectator=h_s, m=0, grid=p["grid"],
                               chain_grid=p["chain_grid"])
        tau_chain_1 = bare["chain"]
        for n in p["ns"]:
            m = int(n) - 1
            sp = add_spectators(prob, m, rng, h_spectator=h_s)
            run = sgd_barrier(sp, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                              seed=int(rng.integers(2**31)), lo=cp["exit_lo"],
                              hi=cp["exit_hi"], theta0=cp["theta_star"])
            pred = bare if m == 0 else spectator_times(
                prob, eta=eta, B=B, h_spectator=h_s, m=m, grid=p["grid"],
                chain_grid=p["chain_grid"])
            if m and (h_s, m) not in lyap:
                lyap[h_s, m] = lyapunov_exponent(eta=eta * h_s, B=B, d=m)
            row = dict(case=case, sigma2=float(s2), h_ratio=float(ratio), h_spectator=h_s,
                       n=int(n), c=c, **estimate(run, "sgd"),
                       tau_eq15=_tau_eq15(lr, eta=eta, B=B, n=int(n)),
                       tau_sde=pred["sde"], tau_chain=pred["chain"],
                       tau_eq15_discrete=(tau_chain_1 * c ** (T / pred["kappa_chain"] - T)
                                          if np.isfinite(pred["kappa_chain"]) else float("nan")),
                       kappa_sde=pred["kappa_sde"], kappa_chain=pred["kappa_chain"],
                       spectator_lyapunov=lyap.get((h_s, m), float("nan")),
                       spectator_loss_exit=float(np.median(run.spectator_loss) / lr["L_star"]))
            rows.append(row)
        # fitted where the spectators' stationary excess loss is below θ's own (κ < 2,
        # i.e. m < m_ms/2 for B = 1): the adiabatic reduction's range
        sel = [r for r in rows[-len(p["ns"]):] if r["kappa_chain"] < 2]
        if len(sel) < 3:
            raise ValueError(f"case {case} (σ² = {s2:g}): fewer than 3 effective dimensions "
                             "with spectator excess loss below θ's (κ < 2)")
        s, s_se = _slope(sel, "sgd", "sgd_stderr")
        slopes.append(dict(case=case, sigma2=float(s2), h_ratio=float(ratio), c=c,
                           n_max=max(r["n"] for r in sel), points=len(sel),
                           slope=s, slope_stderr=s_se, slope_eq15=-0.5 * np.log(c),
                           slope_eq15_discrete=per_spec,
                           slope_sde=_slope(sel, "tau_sde")[0],
                           slope_chain=_slope(sel, "tau_chain")[0],
                           n_c_mean_square=m_ms + 1))
    out.tables["points"] = rows
    out.tables["slopes"] = slopes
    main, ctrl = slopes[0], slopes[-1]
    out.measured["slope"] = Measured(main["slope"], main["slope_stderr"])
    out.measured["slope_control"] = Measured(ctrl["slope"], ctrl["slope_stderr"])
    out.measured["censored"] = Measured(sum(r["sgd_censored"] for r in rows))
    out.theory["slope_eq15"] = main["slope_eq15"]
    out.theory["slope_eq15_discrete"] = main["slope_eq15_discrete"]
    out.theory["slope_chain"] = main["slope_chain"]
    out.theory["slope_sde"] = main["slope_sde"]
    out.theory["slope_control_chain"] = ctrl["slope_chain"]
    out.theory["n_c"] = critical_dimension(eta=eta, B=B, h=h_noise)
    out.theory["n_c_mean_square"] = main["n_c_mean_square"]
    out.theory["n_c_lyapunov"] = lyapunov_critical_dimension(eta=eta * h_noise, B=B) + 1
    out.theory["h_noise"] = h_noise
    out.notes.append(f"{p['replicas']} SGD replicas per (σ², n), budget {p['steps']} steps; "
                     "slopes of log τ against n are fitted where the spectators' stationary "
                     "excess loss is below θ's (κ < 2); censored points use the exponential MLE")
    return out
