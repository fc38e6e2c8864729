"""Experiment ``time-change``: Eq. (12) and the time-changed Eq. (14) integrated side by
side; their stationary exponents differ by one (App. C), their laws agree at matched τ (R6)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from .. import theory
from ..core.errors import InvalidInput
from ..core.measured import Measured, standard_error
from ..core.resources import Cost
from ..dynamics.sde import QuadraticMinimum, em_log_sde, em_sgd_sde
from ..stats.lines import fit_line
from ..stats.phi_fits import phi_mle
from ._cost import em_sde
from .params import Param
from .result import Outcome
from .spec import experiment

TC_PRESETS = {
    "smoke": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=4e-3, tau_max=60.0, replicas=100,
                  transient_replicas=1000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
    "book": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=4e-3, tau_max=400.0, replicas=200,
                 transient_replicas=4000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
    "paper": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=2e-3, tau_max=2000.0, replicas=400,
                  transient_replicas=20000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
}


#: The replicas are split into this many groups for the ratio slope's standard error.
RATIO_GROUPS = 20


def _ratio_fit(La: np.ndarray, Lb: np.ndarray, edges: np.ndarray, expected=None) -> tuple:
    """Weighted log-log slope of the ratio of two histograms (per unit L) on ``edges``.

    ``La``, ``Lb``: losses (n, R); ``expected``: bin probabilities (pa, pb) of the exact laws,
    fitted instead of the counts (with the counts' Poisson weights).  Returns the slope,
    the bins used and the per-bin densities.
    """
    ha, _ = np.histogram(La, edges)
    hb, _ = np.histogram(Lb, edges)
    keep = (ha > 20) & (hb > 20)
    da, db = ha / La.size / np.diff(edges), hb / Lb.size / np.diff(edges)
    L_grid = np.sqrt(edges[1:] * edges[:-1])
    ratio = da / np.where(db > 0, db, np.nan) if expected is None else expected[0] / expected[1]
    fit = fit_line(np.log(L_grid[keep]), np.log(ratio[keep]),
                   sigma=np.sqrt(1 / ha[keep] + 1 / hb[keep]))
    return fit.slope, keep, L_grid, da, db, ratio


def _ratio_slope(La: np.ndarray, Lb: np.ndarray, edges: np.ndarray, L_star: float, T: float) -> dict:
    """The ratio slope of Eq. (12) over Eq. (14) on ``edges``, measured and expected.

    Measured: the weighted fit of the pooled histograms, with the standard error from the
    spread of the same fit over :data:`RATIO_GROUPS` groups of replicas (the samples
    along one replica are correlated, so Poisson weights alone understate the error).
    Expected: the same fit of the exact bin probabilities of the two stationary laws,
    P ∝ L^(−1−1/T) and L^(−1/T) (q = L/L* − 1 is beta-prime(1/2, φ − 1/2), d = 1).
    """
    slope, keep, L_grid, da, db, ratio = _ratio_fit(La, Lb, edges)
    groups = np.array_split(np.arange(La.shape[1]), RATIO_GROUPS)
    per_group = [_ratio_fit(La[:, g], Lb[:, g], edges)[0] for g in groups]
    q = edges / L_star - 1
    exact = tuple(np.diff(stats.betaprime(0.5, phi - 0.5).cdf(q)) for phi in (1 + 1 / T, 1 / T))
    expected = _ratio_fit(La, Lb, edges, expected=exact)[0]
    return dict(measured=Measured(slope, float(standard_error(per_group))),
                expected=float(expected), keep=keep, L_grid=L_grid, density_12=da,
                density_14=db, ratio=ratio)


def _validate(p: dict) -> None:
    if p["tau_max"] / p["dt"] < 1000:
        raise InvalidInput(f"tau_max/dt = {p['tau_max'] / p['dt']:g} steps; the stationary fits "
                           "need >= 1000 (raise tau_max or lower dt)")
    if min(p["tau_targets"]) < p["dt"]:
        raise InvalidInput(f"tau_targets must be >= dt = {p['dt']}")
    if p["replicas"] < 2 or p["transient_replicas"] < 2:
        raise InvalidInput("replicas and transient_replicas must be >= 2")


def _cost(p: dict) -> Cost:
    """Eqs. (12) and (14) over tau_max/dt steps (about 1000 records), then the matched-τ
    runs: Eq. (12) until τ passes the last target, Eq. (14) recorded at every step."""
    dt, R2 = float(p["dt"]), p["transient_replicas"]
    steps = p["tau_max"] / dt
    long = em_sde(d=1, steps=steps, replicas=p["replicas"], records=min(steps, 2000))
    last = max(p["tau_targets"]) / dt
    c = em_sde(d=1, steps=1.5 * last / p["L_star"] + 10, replicas=R2)
    d = em_sde(d=1, steps=last, replicas=R2, records=last)
    return Cost(long.memory + c.memory + d.memory, 2 * long.seconds + c.seconds + d.seconds,
                "tau_max/dt, replicas, transient_replicas, tau_targets/dt")


@experiment(
    "time-change",
    description="Eq. (12) vs the time-changed Eq. (14): P_s ∝ L^-1 P̃_s and equal laws at matched τ (R6)",
    presets=TC_PRESETS,
    measured=('min_ks_pvalue', 'phi_12', 'phi_14', 'phi_difference', 'ratio_slope',
              'ratio_slope_away'),
    theory=('phi_12', 'phi_14', 'phi_difference', 'ratio_slope', 'ratio_slope_away',
            'ratio_slope_unbinned'),
    tables=dict(
        matched_tau=("ks_pvalue", "ks_stat", "mean_u2_12", "mean_u2_14", "tau"),
        ratio_slope=("bins", "expected", "groups", "measured", "stderr"),
    ),
    arrays=("L_grid", "at_tau_12", "at_tau_14", "density_12", "density_14", "ratio"),
    fields=dict(
        tau="rescaled time τ = ∫L dt at which the two laws are compared",
        ks_stat="two-sample KS distance between the laws of u under Eqs. (12) and (14) at τ",
        ks_pvalue="its p-value",
        mean_u2_12="mean u² under Eq. (12) at τ",
        mean_u2_14="mean u² under Eq. (14) at τ",
        bins="the range of L of the log-spaced bins",
        measured="log–log slope of the ratio of the two stationary densities in L",
        stderr="its standard error (spread over groups of replicas)",
        expected="the slope the exact laws give on the same bins",
        groups="groups of replicas behind the standard error",
        L_grid="centres of the bins in L",
        density_12="stationary density per unit L under Eq. (12)",
        density_14="stationary density per unit L under Eq. (14)",
        ratio="density_12/density_14",
        at_tau_12="u under Eq. (12) at each τ of tau_targets (rows) for each replica",
        at_tau_14="u under Eq. (14) at each τ of tau_targets (rows) for each replica",
        phi_12="φ of the stationary law of Eq. (12) (1 + 1/T)",
        phi_14="φ of the stationary law of Eq. (14) (1/T)",
        phi_difference="phi_12 − phi_14 (1: the time change multiplies the law by 1/L)",
        ratio_slope="slope of the density ratio on bins from L* to 30 L*",
        ratio_slope_away="the same on bins from 2 L* to 30 L*",
        ratio_slope_unbinned="the slope of the exact densities' ratio, −1",
        min_ks_pvalue="smallest KS p-value over the matched τ",
    ),
    params=dict(
        dt=Param("time step of the Euler–Maruyama integration"),
        tau_max=Param("length of the stationary runs in rescaled time τ", symbol="τ"),
        tau_targets=Param("rescaled times τ at which the two laws are compared", symbol="τ"),
        transient_replicas=Param("replicas of the matched-τ transient runs"),
        u0=Param("initial condition u₀ of the transient runs"),
    ),
    checks=dict(u0="any", tau_targets="increasing"),  # Eq. (12)'s at_tau rows come sorted
    cost=_cost,
    validate=_validate,
)
def run_time_change(p: dict, rng: np.random.Generator) -> Outcome:
    model = QuadraticMinimum(np.array([[p["h"]]]), p["L_star"])
    eta, B, dt = p["eta"], p["B"], p["dt"]
    T = theory.temperature(eta=eta, B=B, h=p["h"])
    steps = int(round(p["tau_max"] / dt))
    rec = max(1, steps // 1000)
    burn = 100  # records dropped (10 % of the run)
    seeds = rng.integers(2**31, size=4)
    # Eq. (12) runs in t; its clock τ grows at rate L ≈ L*.  Give it the same number of steps.
    kw = dict(eta=eta, B=B, steps=steps, replicas=p["replicas"], record_every=rec)
    a = em_sgd_sde(model, dt=dt, seed=int(seeds[0]), **kw)
    b = em_log_sde(model, dtau=dt, seed=int(seeds[1]), **kw)
    La, Lb = model.loss(a.samples[burn:]), model.loss(b.samples[burn:])
    fa, fb = phi_mle(La, model.L_star), phi_mle(Lb, model.L_star)
    out = Outcome()
    out.measured["phi_12"] = fa
    out.measured["phi_14"] = fb
    out.measured["phi_difference"] = Measured(fa.value - fb.value, float(np.hypot(fa.stderr, fb.stderr)))
    out.theory["phi_12"] = 1 + 1 / T
    out.theory["phi_14"] = 1 / T
    out.theory["phi_difference"] = 1.0
    # densities per unit L on log-spaced bins, their ratio, and its log-log slope on two
    # binnings: the slope of bin-averaged densities is not the slope of the densities, and
    # each binning's expected slope is computed from the exact laws on the same bins
    wide = _ratio_slope(La, Lb, model.L_star * np.geomspace(1.0, 30.0, 16),
                        model.L_star, T)
    away = _ratio_slope(La, Lb, model.L_star * np.geomspace(2.0, 30.0, 16),
                        model.L_star, T)
    keep = wide["keep"]
    out.arrays.update(L_grid=wide["L_grid"][keep], density_12=wide["density_12"][keep],
                      density_14=wide["density_14"][keep], ratio=wide["ratio"][keep])
    out.measured["ratio_slope"] = wide["measured"]
    out.theory["ratio_slope"] = wide["expected"]
    out.measured["ratio_slope_away"] = away["measured"]
    out.theory["ratio_slope_away"] = away["expected"]
    out.theory["ratio_slope_unbinned"] = -1.0
    out.tables["ratio_slope"] = [
        dict(bins=f"{lo:g} L* to 30 L*", measured=r["measured"].value, stderr=r["measured"].stderr,
             expected=r["expected"], groups=RATIO_GROUPS)
        for lo, r in ((1.0, wide), (2.0, away))]
    # matched-τ laws from the same initial condition u0
    targets = np.asarray(p["tau_targets"], dtype=float)
    R2 = p["transient_replicas"]
    n12 = int(np.ceil(targets.max() / (model.L_star * dt) * 1.5)) + 10
    c = em_sgd_sde(model, eta=eta, B=B, dt=dt, steps=n12, replicas=R2, seed=int(seeds[2]),
                   u0=[p["u0"]], tau_targets=targets)
    every = [int(round(t / dt)) for t in targets]
    d = em_log_sde(model, eta=eta, B=B, dtau=dt, steps=max(every), replicas=R2,
                   seed=int(seeds[3]), u0=[p["u0"]], record_every=1)
    at12 = c.at_tau[:, :, 0]
    at14 = np.stack([d.samples[k - 1, :, 0] for k in every])
    if not np.all(np.isfinite(at12)):
        raise ValueError("Eq. (12) did not reach every target τ; raise the step budget")
    rows = []
    for j, tau in enumerate(targets):
        ks = stats.ks_2samp(at12[j], at14[j])
        rows.append(dict(tau=float(tau), ks_stat=float(ks.statistic), ks_pvalue=float(ks.pvalue),
                         mean_u2_12=float(np.mean(at12[j] ** 2)),
                         mean_u2_14=float(np.mean(at14[j] ** 2))))
    out.tables["matched_tau"] = rows
    out.measured["min_ks_pvalue"] = Measured(min(r["ks_pvalue"] for r in rows))
    out.arrays.update(at_tau_12=at12, at_tau_14=at14)
    out.notes.append(f"T = ηh*/B = {T:g}; Δt = Δτ = {dt:g}; τ up to {p['tau_max']:g}; "
                     f"{p['replicas']} replicas, first 10 % dropped")
    return out
