"""Experiment ``first-passage-linreg``: mean first-passage time t_p against c in linear
regression (Fig. 3b, R9), against B/(ηh*) + 1 − d/2 (Eq. 15) and the SDE's exact quadrature."""

from __future__ import annotations

from functools import partial

import numpy as np

from ..core.cache import NUMBER, conforms, shaped
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.first_passage import fit_slope
from ..stats.lines import fit_line
from ..theory import (
    escape_exponent,
    escape_exponent_exact_noise,
    radial_mfpt,
)
from ._cost import linreg_data, linreg_sgd
from ._registry import Outcome, RunContext, experiment
from ._shared import _fp_rows, check_not_degenerate, check_thresholds, declared_window

LINREG_PRESETS = {
    "smoke": dict(N=10_000, B=1, eta=0.1, ds=[1, 10], replicas=20, steps=200_000,
                  c_min=1.05, c_max=30.0, n_c=40, c_lo=1.1, decades=1.5, N_large=0, d_large=1),
    # book: the window c in [1.1, 1.1·10^(1.5/s)] (1.5 decades of predicted t_p) is what a
    # budget of 3·10⁵ steps resolves for d = 1 at N = 10⁴; three decades from c = 1.5
    # leave thresholds uncrossed in bootstrap resamples.
    "book": dict(N=10_000, B=1, eta=0.1, ds=[1, 4, 10, 16], replicas=50, steps=300_000,
                 c_min=1.05, c_max=30.0, n_c=40, c_lo=1.1, decades=1.5, N_large=100_000,
                 d_large=1),
    "paper": dict(N=10_000, B=1, eta=0.1, ds=[1, 2, 4, 6, 10, 16], replicas=100,
                  steps=20_000_000, c_min=1.05, c_max=30.0, n_c=30, c_lo=1.5, decades=3.0,
                  N_large=100_000, d_large=1),
}


def _case_spec(n_c: int, N: int, d: int) -> dict:
    """The structure of a stored case (:func:`_case`): a stored unit must have it."""
    curve = shaped(np.ndarray, n_c)
    row = {"c": NUMBER, "t_p": NUMBER, "t_p_stderr": NUMBER, "censored": NUMBER,
           "replicas": NUMBER, "estimator": str, "in_window": NUMBER, "d": NUMBER, "N": NUMBER}
    slope = {k: NUMBER for k in ("d", "N", "h_star", "slope", "slope_stderr", "slope_theory",
                                 "slope_sde_paper", "slope_sde_exact", "slope_asymptotic_exact",
                                 "h_spread", "window_lo", "window_hi", "censored_in_window", "z")}
    return {"rows": lambda rows: conforms(rows, [row]) and len(rows) == n_c,
            "slope": lambda s: conforms(s, slope) and (s["N"], s["d"]) == (N, d),
            "arrays": {"sde_paper": curve, "sde_exact": curve}}


def _case(p: dict, c: np.ndarray, N: int, d: int, rng: np.random.Generator) -> dict:
    """One (N, d) of the scan: first-passage rows, the slope fit and the SDE's t_p curves."""
    prob = make_linear_regression(N, d, rng)
    hs = np.linalg.eigvalsh(prob.hessian)
    h_star = prob.h_star
    theory = escape_exponent(B=p["B"], eta=p["eta"], h=h_star, n=d)
    # Spread of the slope from the spread of the Hessian eigenvalues (finite N):
    h_spread = 0.5 * p["B"] / p["eta"] * (1 / hs.min() - 1 / hs.max())
    window = declared_window(p["c_lo"], p["decades"], theory)
    run = sgd_linreg(prob, eta=p["eta"], B=p["B"], steps=p["steps"], replicas=p["replicas"],
                     seed=int(rng.integers(2**31)), thresholds=c * prob.L_star)
    check_not_degenerate(c, run.first_passage, window, f"d={d}, N={N}, eta={p['eta']}")
    fit = fit_slope(c, run.first_passage, run.steps, window=window, rng=rng)
    rows = _fp_rows(c, run.first_passage, run.steps, fit, d=d, N=N)
    # The SDE's exact mean first-passage time (radial quadrature), with the paper's
    # decoupled noise and with the exact Gaussian-data noise, on the same window.
    sde, arrays = {}, {}
    for name, exact in (("paper", False), ("exact", True)):
        T = radial_mfpt(c, eta=p["eta"], B=p["B"], d=d, h=h_star, L_star=prob.L_star,
                        exact_noise=exact)
        x, y = np.log(c[fit.used]), np.log(T[fit.used])
        sde[name] = fit_line(x, y).slope
        arrays[f"sde_{name}"] = T
    cens = int(sum(e.censored for e, u in zip(fit.estimates, fit.used) if u))
    slope = dict(d=d, N=N, h_star=h_star, slope=fit.slope, slope_stderr=fit.slope_stderr,
                 slope_theory=theory, slope_sde_paper=sde["paper"],
                 slope_sde_exact=sde["exact"],
                 slope_asymptotic_exact=escape_exponent_exact_noise(B=p["B"], eta=p["eta"], h=h_star, d=d),
                 h_spread=h_spread, window_lo=window[0],
                 window_hi=window[1], censored_in_window=cens,
                 z=(fit.slope - theory) / fit.slope_stderr)
    return dict(rows=rows, slope=slope, arrays=arrays)


def _cases(p: dict) -> list[tuple[int, int]]:
    """The (N, d) of the scan: every d at N, and (N_large, d_large) unless N_large = 0."""
    return [(p["N"], d) for d in p["ds"]] + ([(p["N_large"], p["d_large"])] if p["N_large"] else [])


def _validate(p: dict) -> None:
    for N, _ in _cases(p):
        check_noisy_batch(p["B"], N)
    check_thresholds(p)


def _cost(p: dict) -> Cost:
    """Each (N, d): its data and the replicas' first passages over the whole budget."""
    cost = Cost()
    for N, d in _cases(p):
        run = linreg_sgd(N=N, d=d, B=p["B"], steps=p["steps"], replicas=p["replicas"],
                         thresholds=p["n_c"])
        data = linreg_data(N, d)
        cost = cost.then(Cost(data.memory + run.memory, data.seconds + run.seconds))
    return Cost(cost.memory, cost.seconds, "N, N_large, ds, replicas, steps")


@experiment("first-passage-linreg",
            description="Mean first-passage time t_p against c in linear regression (Fig. 3b, R9)",
            presets=LINREG_PRESETS,
    measured=('slope', 'censored'),
    theory=('slope',),
    tables=('first_passage', 'slopes'),
    checks=dict(N_large=">=0", c_min=">1", c_max=">1", c_lo=">1", n_c=">1"),
    cost=_cost,
    validate=_validate,
)
def run_linreg(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    out = Outcome()
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    rows, fits, curves = [], [], []
    cases = _cases(p)
    # Each (N, d) is one unit of work with its own generator, spawned from the run's, so
    # that a resumed run (which skips the stored units) gives the numbers of a whole one.
    for i, ((N, d), case_rng) in enumerate(zip(cases, rng.spawn(len(cases)))):
        case = ctx.store.unit(f"case{i}-N{N}-d{d}", partial(_case, p, c, N, d, case_rng),
                              spec=_case_spec(len(c), N, d))
        rows += case["rows"]
        fits.append(case["slope"])
        curves.append(case["arrays"])
    out.arrays["c"] = c
    for kind in ("sde_paper", "sde_exact"):  # row i: the case of row i of table "slopes"
        out.arrays[kind] = np.stack([a[kind] for a in curves])
    out.tables["first_passage"] = rows
    out.tables["slopes"] = fits
    main = fits[0]
    out.measured["slope"] = Measured(main["slope"], main["slope_stderr"])
    out.theory["slope"] = main["slope_theory"]
    out.measured["censored"] = Measured(sum(r["censored"] for r in rows))
    out.notes.append(f"{p['replicas']} replicas per d, budget {p['steps']} steps; censored "
                     "thresholds use the exponential MLE (open triangles)")
    return out
