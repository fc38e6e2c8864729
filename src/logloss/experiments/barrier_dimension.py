"""Experiment ``barrier-dimension``: escape over the barrier with n − 1 spectator valleys at
fixed c = L(θˢ)/L(θ*), against the c^(−n/2) factor of paper Eq. (15) (R12 on a real barrier).

The barrier landscape of :mod:`.barrier` gets m = n − 1 spectator parameters with
quadratic valleys of curvature h_s (:class:`~logloss.models.barrier.SpectatorBarrier`),
whose noise comes from the same minibatch.  Paper Eq. (15) predicts
t ∝ c^(B/(ηh*) + 1 − n/2), i.e. log τ falls by ½ log c per spectator, up to the critical
dimension n_c = 2(B/(ηh*) + 1) of paper Eq. (16).  Two blocks:

* strong noise (``eta``, B/(ηh) ≈ 3): n up to and beyond the critical dimensions, at the
  label noises ``sigma2s`` and a control with h_s = ``control_ratio``·h*;
* weak noise (``eta_weak``, B/(ηh) ≈ 12): the test of n, at ``sigma2_weak`` with
  h_s = h* and the control, n = ``ns_weak``, far below n_c.

Every point is measured by splitting and by brute force where its budget reaches
(:func:`~._barrier.measure_escape`).  Each case is compared with

* ``eq15``: paper Eq. (15) with n = m + 1 and h* = θ's noise curvature (the prefactor of
  the ``barrier`` experiment);
* ``eq15_discrete``: the same weak-noise law with θ's noise raised by the spectators'
  stationary loss in discrete SGD, exponent (B/(ηh*))/κ: per spectator
  −(h_s/h*)·log c/(2(1 − ηh_s)) for B = 1 (anchored at the exact chain for n = 1);
* ``sde`` / ``chain``: the adiabatic 1-d reductions (spectators at their stationary loss
  (κ − 1)L(θ), :func:`~logloss.theory.spectator_loss_ratio`) solved exactly, by quadrature
  for the SDE and by the backward equation for discrete SGD.

Slopes of log τ against n are fitted where the escape is rare (t ≥ 100 relaxation times)
and the spectators' stationary excess loss is below θ's (κ < 2, the adiabatic range); the
slope in units of −½ log c is the number of effective dimensions each spectator adds
(paper Eq. (15): 1).
"""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
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
    FIELDS,
    data_cost,
    escape_cost,
    landscape_row,
    measure_escape,
    spectator_times,
    validate,
)
from .barrier import _COMMON
from .params import Param
from .result import Outcome
from .spec import experiment

_DIM = {k: _COMMON[k] for k in ("N", "A", "k", "a", "b", "eta", "B", "grid")}

DIMENSION_PRESETS = {
    "smoke": dict(_DIM, sigma2s=[4.0], ns=[1, 2, 3, 5, 8], control_ratio=0.5,
                  control_sigma2=4.0, eta_weak=0.005, sigma2_weak=4.0, ns_weak=[1, 2, 3],
                  replicas=60, steps=100_000, repetitions=4, split_replicas=60,
                  chain_resolution=2.0),
    "book": dict(_DIM, sigma2s=[1.5], ns=[1, 2, 3, 4, 5, 6, 7, 8, 10, 12],
                 control_ratio=0.5, control_sigma2=1.5, eta_weak=0.005, sigma2_weak=1.5,
                 ns_weak=[1, 2, 3, 4, 6, 8], replicas=200, steps=200_000, repetitions=24,
                 split_replicas=100, chain_resolution=4.0),
    "paper": dict(_DIM, sigma2s=[0.5, 1.5, 4.0], ns=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16],
                  control_ratio=0.5, control_sigma2=1.5, eta_weak=0.005, sigma2_weak=1.5,
                  ns_weak=[1, 2, 3, 4, 5, 6, 8, 10, 12], replicas=1000, steps=2_000_000,
                  repetitions=64, split_replicas=200, chain_resolution=8.0),
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
    """Slope of log τ against n over the rows (WLS with the replicas' errors if given); NaN
    where fewer than 3 rows have a finite τ (the adiabatic chain needs B = 1)."""
    n = np.array([r["n"] for r in rows], float)
    y = np.array([r[key] for r in rows], float)
    ok = np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        return float("nan"), float("nan")
    if se_key is None:
        return fit_line(n[ok], np.log(y[ok])).slope, 0.0
    se = np.array([r[se_key] for r in rows])[ok] / y[ok]
    fit = fit_line(n[ok], np.log(y[ok]), sigma=se)
    return fit.slope, fit.slope_stderr


def _validate(p: dict) -> None:
    validate(p)
    for key in ("ns", "ns_weak"):
        if any(int(n) != n or n < 1 for n in p[key]):
            raise InvalidInput(f"{key}: effective dimensions must be integers >= 1")
        if len(set(p[key])) < 3:
            raise InvalidInput(f"{key}={','.join(map(str, p[key]))}: the slope against n needs "
                               ">= 3 distinct effective dimensions")


def _cost(p: dict) -> Cost:
    """Per case and n: n − 1 spectators, one escape measurement with its predictions."""
    cost = data_cost(p)
    cases = [(p["eta"], n) for n in p["ns"]] * (len(p["sigma2s"]) + 1)
    for eta, n in cases + [(p["eta_weak"], n) for n in p["ns_weak"]]:
        e = escape_cost(p, eta=eta, spectators=int(n) - 1)
        cost = cost.then(Cost(float(p["N"]) * (float(n) - 1) * 8 + e.memory, e.seconds + 1.0))
    return Cost(cost.memory, cost.seconds,
                "N, ns, ns_weak, replicas, steps, repetitions, split_replicas, chain_resolution")


@experiment("barrier-dimension",
            description="Escape over the barrier with n − 1 spectator valleys at fixed c: "
                        "the c^(n/2) factor of Eq. (15) up to and beyond n_c (R12), and at "
                        "weak noise the number of dimensions each spectator adds",
            presets=DIMENSION_PRESETS,
            measured=("slope", "slope_control", "n_per_spectator", "n_per_spectator_control",
                      "censored"),
            theory=("slope_eq15", "slope_eq15_discrete", "slope_chain", "slope_sde",
                    "slope_control_chain", "n_per_spectator_chain",
                    "n_per_spectator_control_chain", "n_per_spectator_discrete", "n_c",
                    "n_c_mean_square", "n_c_lyapunov", "h_noise"),
            tables=dict(
                points=("bf", "bf_censored", "bf_cost", "bf_estimator", "bf_km_band",
                    "bf_km_exp_distance", "bf_left", "bf_right", "bf_stderr", "bf_weibull_k",
                    "bf_weibull_k_stderr", "c", "case", "eta", "h_ratio", "h_spectator",
                    "kappa_chain", "kappa_sde", "n", "rare", "relaxation", "sgd", "sgd_method",
                    "sgd_stderr", "sigma2", "spectator_loss_exit", "spectator_lyapunov", "split",
                    "split_c_A", "split_cost", "split_dominance", "split_log10_stderr",
                    "split_stderr", "tau_chain", "tau_eq15", "tau_eq15_discrete", "tau_sde"),
                slopes=("c", "case", "eta", "h_ratio", "n_c_mean_square", "n_max",
                    "n_per_spectator", "n_per_spectator_stderr", "points", "sigma2", "slope",
                    "slope_chain", "slope_eq15", "slope_eq15_discrete", "slope_sde", "slope_stderr",
                    "temperature"),
            ),
            arrays=(),
            fields=dict(
                FIELDS,
                points="rare points in the fit (t ≥ 100 relaxation times)",
                case="main (the σ² scan) or control (spectators of curvature control_ratio·h*)",
                h_ratio="curvature ratio h_s/h* of the spectator valleys",
                h_spectator="curvature h_s of each spectator valley",
                kappa_sde="stationary loss ratio κ of the spectators under the SDE",
                kappa_chain="stationary loss ratio κ of the spectators under discrete SGD",
                spectator_lyapunov="Lyapunov exponent of the spectators' random linear map (strong noise only)",
                tau_sde="adiabatic prediction of the SDE with the spectators' stationary loss (steps)",
                tau_eq15_discrete="paper Eq. (15) with the discrete κ of the spectators (steps)",
                slope="slope of log τ_SGD against n over the rare points with κ < 2",
                slope_eq15="paper Eq. (15)'s slope of log τ against n, −½ log c",
                slope_eq15_discrete="the same with the discrete κ",
                slope_sde="slope of log tau_sde against n",
                slope_chain="slope of log tau_chain against n",
                slope_control="slope of the control case",
                slope_control_chain="the chain's slope of the control case",
                n_max="largest n in the fit",
                n_per_spectator="effective dimensions each spectator adds, −2·slope/log c",
                n_per_spectator_chain="the same from the chain, weak noise",
                n_per_spectator_control="the same for the control case, weak noise",
                n_per_spectator_control_chain="the chain's value for the control case",
                n_per_spectator_discrete="the same from the discrete κ",
                n_c_mean_square="mean-square critical dimension (in n)",
                n_c_lyapunov="Lyapunov critical dimension (in n)",
            ),
            params=dict(
                control_ratio=Param("curvature ratio h_s/h* of the control case"),
                control_sigma2=Param("label-noise variance σ² of the control case", unit="loss", symbol="σ²"),
                eta_weak=Param("learning rate η of the weak-noise block (B/(ηh) ≈ 12)", symbol="η"),
                sigma2_weak=Param("label-noise variance σ² of the weak-noise block", unit="loss", symbol="σ²"),
                ns_weak=Param("effective dimensions n of the weak-noise block", symbol="n"),
            ),
            checks=dict(a="any", sigma2s=">=0 distinct", control_sigma2=">=0", sigma2_weak=">=0",
                        ns=">0 distinct", ns_weak=">0 distinct"),
            cost=_cost,
            validate=_validate)
def run_barrier_dimension(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    B = p["B"]
    base = make_barrier_regression(p["N"], rng, A=p["A"], k=p["k"], a=p["a"], b=p["b"])
    h_noise = landscape_row(base, B=B)["h_noise"]
    rows, slopes = [], []
    lyap = {}   # Lyapunov exponent of the spectator block at the strong η, per (h_s, m)
    for case, eta, s2, ratio, ns in _cases(p):
        block, law = _case_points(p, base, rng, lyap, case=case, eta=eta, sigma2=s2, ratio=ratio,
                                  ns=ns, h_noise=h_noise)
        rows += block
        slope = _case_slope(block, law)
        if slope is None:
            out.notes.append(f"case {case} (η = {eta:g}, σ² = {s2:g}): fewer than 3 effective "
                             "dimensions with a rare escape and κ < 2; no slope")
        else:
            slopes.append(slope)
    out.tables["points"] = rows
    out.tables["slopes"] = slopes
    _summary(out, p, rows, slopes, h_noise)
    return out


def _cases(p: dict) -> list[tuple]:
    """(case, η, σ², h_s/h, effective dimensions) of every measured block: the main case at
    each σ² and its control (h_s at ``control_ratio`` of h) at the strong η, and both at the
    weak η."""
    strong, weak = p["eta"], p["eta_weak"]
    cases = [("main", strong, s2, 1.0, p["ns"]) for s2 in p["sigma2s"]]
    cases.append(("control", strong, p["control_sigma2"], p["control_ratio"], p["ns"]))
    cases.append(("main", weak, p["sigma2_weak"], 1.0, p["ns_weak"]))
    cases.append(("control", weak, p["sigma2_weak"], p["control_ratio"], p["ns_weak"]))
    return cases


def _case_points(p, base, rng, lyap, *, case, eta, sigma2, ratio, ns, h_noise) -> tuple[list[dict], dict]:
    """One row per effective dimension n of a case: the escape measured with n − 1
    spectators of curvature h_s = ratio·h (:func:`measure_escape`), with paper Eq. (15), the
    noise SDE and the adiabatic chain's predictions, and at the strong η the Lyapunov
    exponent of the spectator block (cached in ``lyap`` per (h_s, m)).  Also the case's
    constants for its slope: c, the temperature T = B/(ηh), the weak-noise law's slope
    per spectator and the mean-square critical dimension m_ms."""
    B = p["B"]
    h_s = ratio * h_noise
    prob = base.with_sigma2(sigma2)
    lr = landscape_row(prob, B=B)
    c = 0.5 * (lr["L_saddle_lo"] + lr["L_saddle_hi"]) / lr["L_star"]
    m_ms = mean_square_critical_dimension(eta=eta * h_s, B=B)
    T = B / (eta * lr["h_noise"])
    # adiabatic weak-noise law: exponent T/κ, κ of discrete SGD; per spectator (exact
    # for B = 1, where 1/κ is linear in m): −(h_s/h)·log c / (2(1 − ηh_s))
    per_spec = T * (1 / spectator_loss_ratio(eta=eta, B=B, h=h_s, m=1) - 1) * np.log(c)
    bare = spectator_times(prob, eta=eta, B=B, h_spectator=h_s, m=0, grid=p["grid"],
                           chain_resolution=p["chain_resolution"])
    tau_chain_1 = bare["chain"]
    strong = eta == p["eta"]
    block = []
    for n in ns:
        m = int(n) - 1
        sp = add_spectators(prob, m, rng, h_spectator=h_s)
        meas = measure_escape(sp, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                              repetitions=p["repetitions"],
                              split_replicas=p["split_replicas"], rng=rng)
        pred = bare if m == 0 else spectator_times(
            prob, eta=eta, B=B, h_spectator=h_s, m=m, grid=p["grid"],
            chain_resolution=p["chain_resolution"])
        if m and strong and (h_s, m) not in lyap:   # the blow-up of the strong block
            lyap[h_s, m] = lyapunov_exponent(eta=eta * h_s, B=B, d=m)
        block.append(dict(case=case, eta=eta, sigma2=float(sigma2), h_ratio=float(ratio),
                          h_spectator=h_s, n=int(n), c=c, **meas,
                          tau_eq15=_tau_eq15(lr, eta=eta, B=B, n=int(n)),
                          tau_sde=pred["sde"], tau_chain=pred["chain"],
                          tau_eq15_discrete=(tau_chain_1 * c ** (T / pred["kappa_chain"] - T)
                                             if np.isfinite(pred["kappa_chain"]) else float("nan")),
                          kappa_sde=pred["kappa_sde"], kappa_chain=pred["kappa_chain"],
                          spectator_lyapunov=lyap.get((h_s, m), float("nan")) if strong
                          else float("nan")))
    law = dict(case=case, eta=eta, temperature=T, sigma2=float(sigma2), h_ratio=float(ratio),
               c=c, per_spectator=per_spec, m_ms=m_ms)
    return block, law


def _case_slope(block: list[dict], law: dict) -> dict | None:
    """The slope of log τ against n of one case (a row of the slopes table), fitted where
    the escape is rare and the spectators' stationary excess loss is below θ's (κ < 2, i.e.
    m < m_ms/2 for B = 1): the adiabatic reduction's range.  None with fewer than 3 such
    points."""
    sel = [r for r in block if r["kappa_chain"] < 2 and r["rare"]]
    if len(sel) < 3:
        return None
    c = law["c"]
    s_, s_se = _slope(sel, "sgd", "sgd_stderr")
    return dict(case=law["case"], eta=law["eta"], temperature=law["temperature"],
                sigma2=law["sigma2"], h_ratio=law["h_ratio"], c=c,
                n_max=max(r["n"] for r in sel),
                points=len(sel), slope=s_, slope_stderr=s_se,
                slope_eq15=-0.5 * np.log(c), slope_eq15_discrete=law["per_spectator"],
                slope_sde=_slope(sel, "tau_sde")[0],
                slope_chain=_slope(sel, "tau_chain")[0],
                n_per_spectator=-2 * s_ / np.log(c),
                n_per_spectator_stderr=2 * s_se / np.log(c),
                n_c_mean_square=law["m_ms"] + 1)


def _summary(out: Outcome, p: dict, rows: list[dict], slopes: list[dict], h_noise: float) -> None:
    """The measured slopes (strong η) and spectators' dimensions (weak η) of the main case
    and its control, the theory's, the critical dimensions and the notes."""
    B = p["B"]
    strong, weak = p["eta"], p["eta_weak"]

    def pick(case, eta):
        return next((r for r in slopes if r["case"] == case and r["eta"] == eta), None)

    nan = float("nan")
    for tag, eta, keys in (("", strong, ("slope", "slope_control")),
                           ("weak", weak, ("n_per_spectator", "n_per_spectator_control"))):
        for case, key in zip(("main", "control"), keys):
            r = pick(case, eta)
            val = (nan, nan) if r is None else (
                (r["slope"], r["slope_stderr"]) if not tag else
                (r["n_per_spectator"], r["n_per_spectator_stderr"]))
            out.measured[key] = Measured(*val)
    main, ctrl = pick("main", strong), pick("control", strong)
    wmain, wctrl = pick("main", weak), pick("control", weak)
    out.theory["slope_eq15"] = main["slope_eq15"] if main else nan
    out.theory["slope_eq15_discrete"] = main["slope_eq15_discrete"] if main else nan
    out.theory["slope_chain"] = main["slope_chain"] if main else nan
    out.theory["slope_sde"] = main["slope_sde"] if main else nan
    out.theory["slope_control_chain"] = ctrl["slope_chain"] if ctrl else nan
    for key, r in (("n_per_spectator_chain", wmain), ("n_per_spectator_control_chain", wctrl)):
        out.theory[key] = -2 * r["slope_chain"] / np.log(r["c"]) if r else nan
    out.theory["n_per_spectator_discrete"] = (-2 * wmain["slope_eq15_discrete"] / np.log(wmain["c"])
                                              if wmain else nan)
    out.measured["censored"] = Measured(sum(r["bf_censored"] for r in rows))
    out.theory["n_c"] = critical_dimension(eta=strong, B=B, h=h_noise)
    out.theory["n_c_mean_square"] = mean_square_critical_dimension(eta=strong * h_noise, B=B) + 1
    out.theory["n_c_lyapunov"] = lyapunov_critical_dimension(eta=strong * h_noise, B=B) + 1
    out.theory["h_noise"] = h_noise
    out.notes.append(f"splitting: {p['repetitions']} repetitions × {p['split_replicas']} replicas "
                     f"per (η, σ², n); brute force ({p['replicas']} replicas, budget "
                     f"{p['steps']} steps) where the budget is ≥ 5 splitting estimates; slopes of "
                     "log τ against n are fitted where the escape is rare (t ≥ 100 relaxation "
                     "times) and the spectators' stationary excess loss is below θ's (κ < 2)")
