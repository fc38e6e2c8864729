"""Experiment ``first-passage-curve``: the local slope d log t_p / d log c of linear
regression against c (R9), for discrete SGD at N = 10⁴ (several data sets), 10⁵ and
online (N = ∞), leverage ablations, both SDE quadratures, the exact mean first-passage
time of the discrete 1-d recursion, and the asymptote of Eq. (15); plus the n/2 test
in a regime where the per-sample curvature η|x|² stays small."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import LinearRegression, make_linear_regression
from ..stats.first_passage import mean_first_passage
from ..stats.lines import fit_line, fit_power_law, local_slopes
from ..stats.survival import weibull_shape
from ..theory import (
    discrete_mfpt_1d,
    escape_exponent,
    kesten_exponent,
    kesten_exponent_gaussian,
    radial_mfpt,
)
from ._cost import discrete_mfpt, linreg_data, linreg_sgd
from ._registry import Outcome, experiment

CURVE_PRESETS = {
    "smoke": dict(eta=0.1, B=1, N=10_000, datasets=2, N_large=20_000, online=True,
                  cut_quantiles=[0.99], replicas=20, steps=100_000, c_min=1.1, c_max=2.0,
                  n_c=8, c_theory_max=100.0, c_lo=1.1, c_hi=1.5, jump_c=1.4, min_crossings=5,
                  mfpt_points=201, mfpt_every=2, half_eta=0.02, half_ds=[1, 4],
                  half_replicas=40, half_steps=20_000, half_c=[1.03, 1.05, 1.075, 1.1]),
    "book": dict(eta=0.1, B=1, N=10_000, datasets=3, N_large=100_000, online=True,
                 cut_quantiles=[0.999, 0.99], replicas=50, steps=300_000, c_min=1.1,
                 c_max=2.5, n_c=12, c_theory_max=1000.0, c_lo=1.1, c_hi=1.5, jump_c=1.4,
                 min_crossings=10, mfpt_points=301, mfpt_every=2, half_eta=0.02,
                 half_ds=[1, 4, 8], half_replicas=100, half_steps=100_000,
                 half_c=[1.03, 1.05, 1.075, 1.1, 1.125]),
    "paper": dict(eta=0.1, B=1, N=10_000, datasets=5, N_large=100_000, online=True,
                  cut_quantiles=[0.9999, 0.999, 0.99], replicas=100, steps=3_000_000,
                  c_min=1.1, c_max=4.0, n_c=20, c_theory_max=1000.0, c_lo=1.1, c_hi=1.5,
                  jump_c=1.4, min_crossings=20, mfpt_points=801, mfpt_every=1, half_eta=0.02,
                  half_ds=[1, 2, 4, 8], half_replicas=400, half_steps=1_000_000,
                  half_c=[1.03, 1.05, 1.075, 1.1, 1.125, 1.15, 1.2]),
}


def _stats(c, run, budget, L_star, min_crossings):
    est = mean_first_passage(run.first_passage, budget)
    rows = []
    for j, (cj, e) in enumerate(zip(c, est)):
        f = run.first_passage[:, j]
        obs = f >= 0
        d = int(obs.sum())
        pre = run.pre_loss[obs, j] / L_star
        jump = (pre - 1) < 0.5 * (cj - 1)  # more than half the excess in the last step
        try:
            w = weibull_shape(np.where(obs, f, budget), obs, offset=0.5)
            k, kse = w.shape, w.shape_stderr
        except InvalidInput:
            k = kse = float("nan")
        rows.append(dict(c=float(cj), t_p=e.mean, t_p_stderr=e.stderr, crossings=d,
                         censored=e.censored, estimator=e.method, weibull_k=k,
                         weibull_k_stderr=kse, flagged=d < min_crossings,
                         jump_fraction=float(jump.mean()) if d else float("nan"),
                         pre_ratio_median=float(np.median(pre)) if d else float("nan")))
    return rows


def _fit(rows, lo, hi):
    sel = [r for r in rows if lo <= r["c"] <= hi and not r["flagged"] and np.isfinite(r["t_p"])]
    if len(sel) < 3:
        return float("nan"), float("nan"), len(sel)
    f = fit_power_law([r["c"] for r in sel], [r["t_p"] for r in sel],
                      sigma_log=[r["t_p_stderr"] / r["t_p"] for r in sel])
    return f.slope, f.slope_stderr, len(sel)


def _slope_rows(case, kind, c, T, se=None, flagged=None):
    """Local slopes between neighbouring points of a t_p(c) curve."""
    if se is None:
        se = np.zeros_like(T)
    mid, sl, sse = local_slopes(c, T, se)
    fl = np.zeros(len(mid), bool) if flagged is None else np.asarray(flagged[1:]) | flagged[:-1]
    return [dict(case=case, kind=kind, c=float(m), slope=float(v), slope_stderr=float(e),
                 flagged=bool(f)) for m, v, e, f in zip(mid, sl, sse, fl)]


def _weighted(values, stderr):
    v, e = np.asarray(values, float), np.asarray(stderr, float)
    ok = np.isfinite(v) & np.isfinite(e) & (e > 0)
    if not ok.any():
        return Measured(float("nan"), float("nan"))
    w = 1 / e[ok] ** 2
    return Measured(float((w * v[ok]).sum() / w.sum()), float(w.sum() ** -0.5))


def _first_within(c, ratio, rel):
    """The smallest c beyond which |ratio − 1| ≤ rel stays true (nan if never)."""
    ok = np.abs(np.asarray(ratio) - 1) <= rel
    bad = np.flatnonzero(~ok)
    i = 0 if bad.size == 0 else bad[-1] + 1
    return float(c[i]) if i < len(c) else float("nan")


def _reach(p, out, sde_curve):
    """What the asymptotic statements would cost: where each is reached, and t_p there.

    * d = 1 at the run's η: the smallest c beyond which the decoupled SDE's local slope stays
      within 2 % of Eq. (15), and its t_p there (steps);
    * the n/2 test at ``half_eta``: the smallest c beyond which the decoupled SDE's slope
      difference between the two smallest d stays within 10 % of −Δd/2, t_p of the smaller d
      there, and the exact-noise SDE's ratio to −Δd/2 at c = 10⁴ (its limit is ½: the
      rank-one noise term halves the volume factor, as it halves B/(ηh));
    * the budgets, replicas × steps, of the runs.
    All from the radial quadratures (the SGD thresholds cannot reach these c).
    """
    eta, B = p["eta"], p["B"]
    sl = np.array([r["slope"] for r in sde_curve])
    mid = np.array([r["c"] for r in sde_curve])
    c_a = _first_within(mid, sl / out.theory["slope"], 0.02)
    out.theory["c_asymptote_sde_paper"] = c_a
    out.theory["log10_t_asymptote_sde_paper"] = (float(np.log10(radial_mfpt(
        [c_a], eta=eta, B=B, d=1, h=1.0, L_star=0.5, exact_noise=False)[0]))
        if np.isfinite(c_a) else float("nan"))
    d1, d2 = p["half_ds"][:2]
    cc = np.geomspace(p["half_c"][0], 1e4, 80)
    T = {(d, ex): radial_mfpt(cc, eta=p["half_eta"], B=B, d=d, h=1.0, L_star=0.5, exact_noise=ex)
         for d in (d1, d2) for ex in (False, True)}
    m = np.sqrt(cc[1:] * cc[:-1])
    ratio = {ex: np.diff(np.log(T[d2, ex]) - np.log(T[d1, ex])) / np.diff(np.log(cc))
             / (-(d2 - d1) / 2) for ex in (False, True)}
    c_h = _first_within(m, ratio[False], 0.10)
    out.theory["c_n_half_sde_paper"] = c_h
    out.theory["log10_t_n_half_sde_paper"] = (float(np.log10(np.interp(
        np.log(c_h), np.log(cc), T[d1, False]))) if np.isfinite(c_h) else float("nan"))
    out.theory["n_half_ratio_sde_exact_limit"] = float(ratio[True][-1])
    out.theory["log10_budget"] = float(np.log10(p["replicas"] * p["steps"]))
    out.theory["log10_half_budget"] = float(np.log10(p["half_replicas"] * p["half_steps"]))
    out.theory["slope_kesten_online"] = kesten_exponent_gaussian(eta=eta) / 2


def _validate(p: dict) -> None:
    check_noisy_batch(p["B"], p["N"])
    for N in [p["N_large"]] + [int(q * p["N_large"]) for q in p["cut_quantiles"]]:
        if p["N_large"]:  # and what the cuts leave of it
            check_noisy_batch(p["B"], N)
    if not p["c_min"] <= p["c_lo"] < p["c_hi"] <= p["c_max"] < p["c_theory_max"]:
        raise InvalidInput(f"thresholds must satisfy c_min <= c_lo < c_hi <= c_max < "
                           f"c_theory_max, got {p['c_min']}, {p['c_lo']}, {p['c_hi']}, "
                           f"{p['c_max']}, {p['c_theory_max']}")
    if len(p["half_ds"]) < 2:
        raise InvalidInput(f"half_ds={p['half_ds']}: the n/2 test compares >= 2 dimensions")


def _cost(p: dict) -> Cost:
    """Each case: its data, the replicas' first passages and the exact discrete MFPT at
    every mfpt_every-th threshold; then the online runs of the n/2 test."""
    R, steps, n_c = p["replicas"], p["steps"], p["n_c"]
    cases = {p["N"]: float(p["datasets"])}  # N: how many cases run at that size
    if p["N_large"]:
        cases[p["N_large"]] = cases.get(p["N_large"], 0.0) + 1 + len(p["cut_quantiles"])
    if p["online"]:
        cases[0] = 1.0
    chains = -(-n_c // p["mfpt_every"])
    cost = Cost()
    for N, count in cases.items():
        run = linreg_sgd(N=N, d=1, B=p["B"], steps=steps, replicas=R, thresholds=n_c,
                         online=N == 0)
        chain = discrete_mfpt(points=p["mfpt_points"], N=N or 100_000)
        data = linreg_data(max(N, p["N_large"]), 1)
        cost = cost.then(Cost(data.memory + max(run.memory, chain.memory),
                              count * (data.seconds + run.seconds + chains * chain.seconds)))
    for d in p["half_ds"]:
        cost = cost.then(linreg_sgd(N=0, d=d, B=p["B"], steps=p["half_steps"],
                                    replicas=p["half_replicas"], thresholds=len(p["half_c"]),
                                    online=True))
    return Cost(cost.memory, cost.seconds, "N, N_large, datasets, replicas, steps, mfpt_points, "
                "half_replicas, half_steps")


@experiment("first-passage-curve",
            description="Local slope d log t_p/d log c against c in 1-d linear regression: SGD (N=1e4, 1e5, online, ablations), SDEs, discrete MFPT; n/2 test (R9)",
            presets=CURVE_PRESETS,
    measured=('slope_window', 'slope_window_spread', 'slope_online_window',
              'slope_large_window', 'jump_fraction', 'jump_fraction_online_small_eta',
              'n_half_ratio'),
    theory=('slope', 'slope_sde_paper_window', 'slope_sde_exact_window',
            'slope_discrete_window', 'n_half_ratio_sde_paper', 'n_half_ratio_sde_exact',
            'slope_kesten_online', 'c_asymptote_sde_paper', 'log10_t_asymptote_sde_paper',
            'c_n_half_sde_paper', 'log10_t_n_half_sde_paper', 'n_half_ratio_sde_exact_limit',
            'log10_budget', 'log10_half_budget'),
    tables=('cases', 'first_passage', 'curves', 'n_half', 'n_half_tests'),
    checks=dict(N_large=">=0", cut_quantiles="(0,1)", c_min=">1", c_max=">1", c_lo=">1",
                c_hi=">1", c_theory_max=">1", jump_c=">1", half_ds="increasing",
                half_c=">1 increasing"),
    cost=_cost,
    validate=_validate,
)
def run_curve(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    eta, B = p["eta"], p["B"]
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    c_th = np.geomspace(p["c_min"], p["c_theory_max"], 60)
    cases = []  # (name, N, dataset index, problem, online, removed |x| above)
    for i in range(p["datasets"]):
        cases.append((f"N=1e4 #{i}", p["N"], i, make_linear_regression(p["N"], 1, rng), False,
                      float("inf")))
    if p["N_large"]:
        big = make_linear_regression(p["N_large"], 1, rng)
        cases.append(("N large", p["N_large"], 0, big, False, float("inf")))
        ax = np.abs(big.X[:, 0])
        for q in p["cut_quantiles"]:
            cut = float(np.quantile(ax, q))
            keep = ax <= cut
            cases.append((f"N large minus top {100 * (1 - q):.2g}% |x|", int(keep.sum()), 0,
                          LinearRegression(big.X[keep], big.y[keep]), False, cut))
    if p["online"]:
        cases.append(("online", 0, 0, make_linear_regression(2, 1, rng), True, float("inf")))
    rows_all, case_rows, curves = [], [], []
    for name, N, idx, prob, online, cut in cases:
        h = 1.0 if online else prob.h_star
        L_star = 0.5 if online else prob.L_star
        run = sgd_linreg(prob, eta=eta, B=B, steps=p["steps"], replicas=p["replicas"],
                         seed=int(rng.integers(2**31)), thresholds=c * L_star, online=online)
        rows = _stats(c, run, run.steps, L_star, p["min_crossings"])
        for r in rows:
            rows_all.append(dict(r, case=name))
        curves += _slope_rows(name, "sgd", c, np.array([r["t_p"] for r in rows]),
                              np.array([r["t_p_stderr"] for r in rows]),
                              np.array([r["flagged"] for r in rows]))
        slope, slope_se, npts = _fit(rows, p["c_lo"], p["c_hi"])
        theory = escape_exponent(eta=eta, B=B, h=h, n=1)
        # discrete 1-d recursion u' = (1 − ηx²)u + ηxe with this case's empirical kicks
        if online:
            g = np.random.default_rng(int(rng.integers(2**31)))
            x, e = g.standard_normal(100_000), g.standard_normal(100_000)
        else:
            x = prob.X[:, 0]
            e = prob.y - x * prob.theta_star[0]
        a_k, b_k = 1 - eta * x**2, eta * x * e
        cm = c[:: p["mfpt_every"]]
        Td = np.array([discrete_mfpt_1d(a_k, b_k, u_c=np.sqrt(2 * L_star * (cj - 1) / h),
                                        points=p["mfpt_points"]) for cj in cm])
        curves += _slope_rows(name, "discrete", cm, Td)
        Ts = {k: radial_mfpt(c_th, eta=eta, B=B, d=1, h=h, L_star=L_star, exact_noise=ex)
              for k, ex in (("sde_paper", False), ("sde_exact", True))}
        if idx == 0 and not np.isfinite(cut):
            for kind in ("sde_paper", "sde_exact"):
                curves += _slope_rows(name, kind, c_th, Ts[kind])
        for r in rows_all[-len(rows):]:
            j = int(np.argmin(np.abs(cm - r["c"])))
            r["t_discrete"] = float(Td[j]) if np.isclose(cm[j], r["c"]) else float("nan")
            r["t_sde_paper"] = float(np.exp(np.interp(np.log(r["c"]), np.log(c_th), np.log(Ts["sde_paper"]))))
            r["t_sde_exact"] = float(np.exp(np.interp(np.log(r["c"]), np.log(c_th), np.log(Ts["sde_exact"]))))
        win = (c_th >= p["c_lo"]) & (c_th <= p["c_hi"])
        wd = (cm >= p["c_lo"]) & (cm <= p["c_hi"])
        jr = [r for r in rows if r["crossings"] and r["c"] >= p["jump_c"]]
        n_j = sum(r["crossings"] for r in jr)
        jf = sum(r["jump_fraction"] * r["crossings"] for r in jr) / n_j if n_j else float("nan")
        case_rows.append(dict(case=name, N=N, online=online, removed_above=cut, h_star=h,
                              slope=slope, slope_stderr=slope_se, fitted_points=npts,
                              slope_theory=theory,
                              slope_sde_paper=fit_line(np.log(c_th[win]), np.log(Ts["sde_paper"][win])).slope,
                              slope_sde_exact=fit_line(np.log(c_th[win]), np.log(Ts["sde_exact"][win])).slope,
                              slope_discrete=fit_line(np.log(cm[wd]), np.log(Td[wd])).slope if wd.sum() >= 3 else float("nan"),
                              max_leverage=float(np.abs(x).max()) if not online else float("inf"),
                              jump_capable=int((eta * x**2 > 2).sum()) if not online else -1,
                              slope_kesten=(kesten_exponent_gaussian(eta=eta) if online
                                            else kesten_exponent(a_k)) / 2,
                              jump_fraction=jf, jump_crossings=n_j,
                              pre_ratio_median=float(np.median([r["pre_ratio_median"] for r in jr])) if jr else float("nan"),
                              flagged_thresholds=sum(r["flagged"] for r in rows)))
    # n/2 test: online SGD, small η so that η|x|² ≈ η d stays small; slope differences
    # between d against the level-set law −(Δd/2)·c/(c − 1) and against the quadratures
    hc = np.array(p["half_c"])
    half, loc = [], {}
    for d in p["half_ds"]:
        prob = make_linear_regression(2, d, rng)
        run = sgd_linreg(prob, eta=p["half_eta"], B=B, steps=p["half_steps"],
                         replicas=p["half_replicas"], seed=int(rng.integers(2**31)),
                         thresholds=hc * 0.5, online=True)
        rows = _stats(hc, run, run.steps, 0.5, p["min_crossings"])
        T = {k: radial_mfpt(hc, eta=p["half_eta"], B=B, d=d, h=1.0, L_star=0.5, exact_noise=ex)
             for k, ex in (("paper", False), ("exact", True))}
        for r, tp, te in zip(rows, T["paper"], T["exact"]):
            half.append(dict(r, d=d, t_sde_paper=float(tp), t_sde_exact=float(te),
                             eta_x2=p["half_eta"] * d))
        t = np.array([r["t_p"] for r in rows])
        se = np.array([r["t_p_stderr"] for r in rows])
        fl = np.array([r["flagged"] for r in rows])
        mid, sl, sse = local_slopes(hc, t, se)
        loc[d] = dict(mid=mid, s=sl, se=sse, fl=fl[1:] | fl[:-1],
                      paper=local_slopes(hc, T["paper"], T["paper"] * 0)[1],
                      exact=local_slopes(hc, T["exact"], T["exact"] * 0)[1])
    tests = []
    ds = p["half_ds"]
    for d1, d2 in zip(ds[:-1], ds[1:]):
        a, b = loc[d1], loc[d2]
        for j, m in enumerate(a["mid"]):
            law = -(d2 - d1) / 2 * m / (m - 1)
            ok = not (a["fl"][j] or b["fl"][j])
            tests.append(dict(d1=d1, d2=d2, c=float(m), difference=float(b["s"][j] - a["s"][j]),
                              difference_stderr=float(np.hypot(a["se"][j], b["se"][j])),
                              law=float(law), asymptote=-(d2 - d1) / 2,
                              sde_paper=float(b["paper"][j] - a["paper"][j]),
                              sde_exact=float(b["exact"][j] - a["exact"][j]), used=ok))
    out.tables.update(cases=case_rows, first_passage=rows_all, curves=curves, n_half=half,
                      n_half_tests=tests)
    main = [r for r in case_rows if r["N"] == p["N"] and not r["online"]]
    out.measured["slope_window"] = _weighted([r["slope"] for r in main],
                                             [r["slope_stderr"] for r in main])
    sl = np.array([r["slope"] for r in main])
    out.measured["slope_window_spread"] = Measured(float(np.std(sl, ddof=1)) if len(sl) > 1 else float("nan"))
    onl = [r for r in case_rows if r["online"]]
    out.measured["slope_online_window"] = (Measured(onl[0]["slope"], onl[0]["slope_stderr"])
                                           if onl else Measured(float("nan")))
    lg = [r for r in case_rows if r["case"] == "N large"]
    out.measured["slope_large_window"] = (Measured(lg[0]["slope"], lg[0]["slope_stderr"])
                                          if lg else Measured(float("nan")))
    # jump fraction over the N = 1e4 data sets, thresholds c ≥ jump_c (binomial s.e.)
    jr = [r for r in rows_all if r["case"] in {m["case"] for m in main}
          and r["c"] >= p["jump_c"] and r["crossings"]]
    n = sum(r["crossings"] for r in jr)
    f = sum(r["jump_fraction"] * r["crossings"] for r in jr) / n if n else float("nan")
    out.measured["jump_fraction"] = Measured(f, float(np.sqrt(f * (1 - f) / n)) if n else float("nan"))
    hr = [r for r in half if r["crossings"]]
    n = sum(r["crossings"] for r in hr)
    f = sum(r["jump_fraction"] * r["crossings"] for r in hr) / n if n else float("nan")
    out.measured["jump_fraction_online_small_eta"] = Measured(
        f, float(np.sqrt(f * (1 - f) / n)) if n else float("nan"))
    used = [t for t in tests if t["used"] and t["difference_stderr"] > 0]
    if used:
        L = np.array([t["law"] for t in used])
        w = 1 / np.array([t["difference_stderr"] for t in used]) ** 2
        D = np.array([t["difference"] for t in used])
        out.measured["n_half_ratio"] = Measured(float((w * D * L).sum() / (w * L * L).sum()),
                                                float((w * L * L).sum() ** -0.5))
        for k in ("paper", "exact"):
            S = np.array([t[f"sde_{k}"] for t in used])
            out.theory[f"n_half_ratio_sde_{k}"] = float((w * S * L).sum() / (w * L * L).sum())
    else:
        out.measured["n_half_ratio"] = Measured(float("nan"))
        out.theory["n_half_ratio_sde_paper"] = out.theory["n_half_ratio_sde_exact"] = float("nan")
    out.theory["slope"] = main[0]["slope_theory"]
    out.theory["slope_sde_paper_window"] = main[0]["slope_sde_paper"]
    out.theory["slope_sde_exact_window"] = main[0]["slope_sde_exact"]
    out.theory["slope_discrete_window"] = main[0]["slope_discrete"]
    _reach(p, out, [r for r in curves if r["kind"] == "sde_paper" and r["case"] == main[0]["case"]])
    out.notes.append(f"{p['replicas']} replicas per case, budget {p['steps']} steps; window "
                     f"c in [{p['c_lo']}, {p['c_hi']}]; thresholds with < {p['min_crossings']} "
                     "crossings are flagged and not fitted; n/2 test: online SGD at "
                     f"eta = {p['half_eta']}, {p['half_replicas']} replicas, budget "
                     f"{p['half_steps']} steps")
    return out
