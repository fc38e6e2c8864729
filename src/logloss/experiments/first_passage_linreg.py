"""Experiment ``first-passage-linreg``: mean first-passage time t_p against c in linear
regression (Fig. 3b, R9), against B/(ηh*) + 1 − d/2 (Eq. 15) and the SDE's exact quadrature."""

from __future__ import annotations

from functools import partial

import numpy as np

from ..core.measured import Measured
from ..core.validation import check_batch_size
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.first_passage import fit_slope
from ..stats.lines import fit_line
from ..theory import (
    escape_exponent,
    escape_exponent_exact_noise,
    radial_mfpt,
)
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


@experiment("first-passage-linreg",
            description="Mean first-passage time t_p against c in linear regression (Fig. 3b, R9)",
            presets=LINREG_PRESETS,
    measured=('slope', 'censored'),
    theory=('slope',),
    tables=('first_passage', 'slopes'),
    checks=dict(N_large=">=0", c_min=">1", c_max=">1", c_lo=">1", n_c=">1"),
)
def run_linreg(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    check_batch_size(p["B"], p["N"])
    if p["N_large"]:
        check_batch_size(p["B"], p["N_large"])
    check_thresholds(p)
    out = Outcome()
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    rows, fits, curves = [], [], []
    cases = [(p["N"], d) for d in p["ds"]]
    if p["N_large"]:
        cases.append((p["N_large"], p["d_large"]))
    # Each (N, d) is one unit of work with its own generator, spawned from the run's, so
    # that a resumed run (which skips the stored units) gives the numbers of a whole one.
    for i, ((N, d), case_rng) in enumerate(zip(cases, rng.spawn(len(cases)))):
        case = ctx.store.unit(f"case{i}-N{N}-d{d}", partial(_case, p, c, N, d, case_rng))
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
