"""Experiment ``critical-dimension``: linear regression with d below and above
n_c = 2(B/(ηh*) + 1) (Eq. 16, R12)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput, SGDDiverged
from ..core.measured import Measured
from ..core.validation import check_batch_size
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..theory import (
    critical_dimension,
)
from ._registry import Outcome, experiment

CRIT_PRESETS = {
    "smoke": dict(N=10_000, B=1, eta=0.2, ds=[4, 20], replicas=20, steps=600, record_every=10),
    "book": dict(N=10_000, B=1, eta=0.2, ds=[4, 8, 12, 16, 20], replicas=100, steps=1_500,
                 record_every=10),
    "paper": dict(N=10_000, B=1, eta=0.2, ds=[2, 4, 6, 8, 10, 12, 14, 16, 20, 24],
                  replicas=200, steps=3_000, record_every=10),
}


@experiment("critical-dimension",
            description="Linear regression with d below and above n_c = 2(B/(eta h*)+1) (Eq. 16, R12)",
            presets=CRIT_PRESETS,
    measured=('max_rate_below', 'min_rate_above'),
    theory=('n_c',),
    tables=('critical',),
)
def run_critical(p: dict, rng: np.random.Generator) -> Outcome:
    check_batch_size(p["B"], p["N"])
    if p["steps"] // p["record_every"] < 4:
        raise InvalidInput(f"steps={p['steps']} with record_every={p['record_every']} gives "
                           f"{p['steps'] // p['record_every']} records; the growth rate needs >= 4")
    out = Outcome()
    rows = []
    for d in p["ds"]:
        prob = make_linear_regression(p["N"], d, rng)
        h_star = prob.h_star
        try:
            run = sgd_linreg(prob, eta=p["eta"], B=p["B"], steps=p["steps"],
                             replicas=p["replicas"], seed=int(rng.integers(2**31)),
                             record_every=p["record_every"])
        except SGDDiverged as exc:  # θ overflowed: no growth rate can be measured
            raise SGDDiverged(f"critical-dimension at d={d}: {exc}; the loss overflowed before "
                              "its growth rate could be measured (lower eta or steps)") from None
        with np.errstate(over="ignore"):
            ratio = np.log(prob.loss(run.samples) / prob.L_star)  # (records, replicas)
        med = np.median(ratio, axis=1)
        k = np.arange(1, len(med) + 1) * p["record_every"]
        half = len(med) // 2
        # growth rate of the median log-loss over the second half (per step)
        fin = np.isfinite(med[half:])
        if fin.sum() <= 2:
            raise SGDDiverged(f"critical-dimension at d={d}: the median loss overflowed in the "
                              "second half of the run, so no growth rate can be measured; "
                              "lower eta or steps")
        rate = float(np.polyfit(k[half:][fin], med[half:][fin], 1)[0])
        n_c = critical_dimension(B=p["B"], eta=p["eta"], h=h_star)
        # SDE prediction for the growth of log L at large L: (η h²/B)(d − n_c) per unit t = ηk.
        rows.append(dict(d=d, h_star=h_star, n_c=n_c, final_median_log10_ratio=float(med[-1] / np.log(10)),
                         growth_rate=rate, growth_rate_sde=p["eta"] ** 2 * h_star**2 * (d - n_c) / p["B"],
                         trapped=bool(rate < 1e-3)))
        out.arrays[f"median_log_ratio_d{d}"] = med
        out.arrays["steps"] = k
    out.tables["critical"] = rows
    out.theory["n_c"] = float(np.mean([r["n_c"] for r in rows]))  # with the measured h* of each d
    below = [r for r in rows if r["d"] < r["n_c"]]
    above = [r for r in rows if r["d"] > r["n_c"]]
    out.measured["max_rate_below"] = Measured(max((r["growth_rate"] for r in below), default=np.nan))
    out.measured["min_rate_above"] = Measured(min((r["growth_rate"] for r in above), default=np.nan))
    return out
