"""Experiments ``first-passage-linreg`` (paper Fig. 3b, R9) and ``rare-first-passage-linreg``:
mean first-passage times t_p(c) of SGD on linear regression over 20+ decades, by splitting
on the levels of log L (:func:`logloss.rare_first_passage`).

For each case (d, N, data set; N = 0 is online, a fresh sample every step) the estimator
gives t_p at thresholds c from just above the quasi-stationary bulk to c_max, where
paper Eq. (15)'s slope s predicts ``decades`` decades of t_p: c_max = c_lo·10^(decades/s)
with s the smaller of Eq. (15)'s slope and the exact-noise SDE's asymptote (at least 1),
a rule fixed by theory before any simulation.  Next to it, for every threshold:

* brute force (``sgd_linreg`` from θ*, censoring-aware means) where its budget reaches,
  and a z-score of the two in log t_p: the check that splitting has not missed a route;
* the radial SDE quadratures with the paper's decoupled noise and with the exact noise of
  Gaussian data (``theory.radial_mfpt``);
* at d = 1 (B = 1), the exact discrete chain, on the data set (``theory.discrete_mfpt_1d``)
  or online (``theory.discrete_mfpt_online_1d``);
* the asymptotes: Eq. (15), the exact-noise SDE's, and SGD's own, α/2 with α the
  Kesten–Goldie index of the kicks (``theory.kesten_exponent`` of the data at d = 1,
  ``theory.kesten_exponent_isotropic`` online).

The regime of paper Eq. (15) is rare escape: a threshold is *in the regime* when its t_p is
at least 100 relaxation times 1/(ηh*) and the splitting estimate is resolved (see
:class:`logloss.RareFirstPassage`); local slopes are compared there only.
"""

from __future__ import annotations

import numpy as np

from ..core.cache import NUMBER
from ..core.measured import Measured
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from ..dynamics.excursions import LinregSystem, kick_tilt
from ..dynamics.linreg_sgd import sgd_linreg
from ..models.linreg import make_linear_regression
from ..stats.first_passage import mean_first_passage
from ..stats.splitting import rare_first_passage
from ..stats.survival import weibull_shape
from ..theory import (
    discrete_mfpt_1d,
    discrete_mfpt_online_1d,
    escape_exponent,
    escape_exponent_exact_noise,
    expanding_kick_rate,
    kesten_exponent,
    kesten_exponent_isotropic,
    radial_mfpt,
)
from ._cost import discrete_chain_online, discrete_mfpt, linreg_data, linreg_sgd, splitting
from .params import Param
from .result import Outcome, RunContext
from .spec import experiment

__all__ = ["linreg_first_passage_case", "case_cost", "collect_cases", "CASE_SPEC"]

RARE = 100.0  # t_p of at least this many relaxation times 1/(ηh*): rare escape
CHAIN_POINTS = 1601  # nodes of the exact chain's finest grid (d = 1)

#: The fields of the tables' rows (shared with rare-first-passage-linreg).
TABLES = dict(
    first_passage=("N", "brute_censored", "brute_z", "c", "d", "dataset", "dominance",
                   "in_regime", "log10_t_p_stderr", "relaxation_times", "resolved", "t_brute",
                   "t_brute_stderr", "t_chain", "t_p", "t_p_stderr", "t_sde_exact", "t_sde_paper",
                   "weibull_k", "weibull_k_stderr", "z_chain"),
    slopes=("N", "c_mid", "d", "dataset", "in_regime", "slope", "slope_chain", "slope_sde_exact",
            "slope_sde_paper", "slope_stderr"),
    cases=("N", "brute_compared", "brute_cost", "brute_z_max", "c_A", "cost", "d", "dataset",
           "decades", "h_star", "max_eta_x2", "rare_thresholds", "relaxation", "repetitions",
           "slope_chain_rare", "slope_eq15", "slope_exact_noise", "slope_kesten", "slope_rare",
           "slope_rare_stderr", "tilt", "tilt_far"),
)

#: One line of meaning of each own field of the tables (shared with rare-first-passage-linreg).
FIELDS = {
    "dataset": "index of the data set drawn at this N (its data seed)",
    "log10_t_p_stderr": "standard error of log₁₀ t_p by splitting",
    "relaxation_times": "t_p in relaxation times 1/(ηh*)",
    "dominance": "largest share of one branch in the splitting estimate (near 1: unreliable)",
    "resolved": "whether the splitting estimate is resolved (replicas survived, no branch dominates)",
    "in_regime": "whether t_p ≥ 100 relaxation times and the estimate is resolved (rare escape)",
    "t_brute": "t_p by brute-force SGD from θ* (nan where more than half is censored)",
    "brute_censored": "brute-force replicas that had not crossed within brute_steps",
    "brute_z": "(log₁₀ t_p by splitting − by brute force)/s.e., where both resolve a rare escape",
    "weibull_k": "Weibull shape k of the brute-force first passages (1 if memoryless)",
    "t_sde_paper": "t_p of the SDE with the paper's noise, by quadrature",
    "t_sde_exact": "t_p of the SDE with linreg's exact noise, by quadrature",
    "t_chain": "t_p of the exact discrete chain (d = 1, B = 1 only)",
    "z_chain": "(log₁₀ t_p by splitting − by the chain)/s.e.",
    "c_mid": "geometric mean of two neighbouring thresholds",
    "slope_sde_paper": "local slope of t_sde_paper",
    "slope_sde_exact": "local slope of t_sde_exact",
    "slope_chain": "local slope of t_chain",
    "relaxation": "relaxation time 1/(ηh*) in steps",
    "c_A": "threshold of the splitting's starting set A (the quasi-stationary bulk)",
    "brute_z_max": "largest |brute_z| of the case (over all cases in the summary)",
    "brute_compared": "thresholds where splitting and brute force were compared",
    "cost": "SGD replica-steps of the splitting runs",
    "brute_cost": "SGD replica-steps of the brute-force runs",
    "decades_min": "fewest decades of t_p in the regime over the cases",
    "slope_rare": "SGD's slope of log t_p on log c over the case's rare thresholds (bootstrap "
                  "s.e. over repetitions); in the summary, that of the first case of the largest d",
    "slope_chain_rare": "the exact chain's slope over the same thresholds (d = 1, B = 1 only)",
    "rare_thresholds": "thresholds in the regime (t_p ≥ 100 relaxation times and resolved)",
}



def _thresholds(c_lo: float, c_max: float, count: int) -> np.ndarray:
    return np.geomspace(c_lo, c_max, count)


def _slowest(*, eta: float, B: int, h: float, d: int) -> float:
    """The smaller of the two SDE asymptotes (Eq. 15's and the exact noise's), at least 1."""
    return max(1.0, min(escape_exponent(eta=eta, B=B, h=h, n=d),
                        escape_exponent_exact_noise(eta=eta, B=B, h=h, d=d)))


def _c_max(c_lo: float, decades: float, *, eta: float, B: int, h: float, d: int) -> float:
    """c_lo·10^(decades/s): where the slowest SDE asymptote s gives ``decades``."""
    return c_lo * 10 ** (decades / _slowest(eta=eta, B=B, h=h, d=d))


def _spacing(*, eta: float, B: int, h: float, d: int) -> float:
    """Level spacing in log c: ten levels per decade of t_p at the slowest SDE asymptote,
    and at most 0.05 (a steeper t_p gets more levels per decade)."""
    return min(0.05, np.log(10) / (10 * _slowest(eta=eta, B=B, h=h, d=d)))


#: The structure of a stored case (:func:`linreg_first_passage_case`).
CASE_SPEC = {"rows": [{"c": NUMBER, "t_p": NUMBER, "t_p_stderr": NUMBER, "in_regime": bool}],
             "slopes": [{"c_mid": NUMBER, "slope": NUMBER, "in_regime": bool}],
             "case": {"d": NUMBER, "N": NUMBER, "decades": NUMBER, "cost": NUMBER}}


def case_cost(*, eta: float, B: int, d: int, N: int, cs, repetitions: int, replicas: int,
              brute_replicas: int, brute_steps: int) -> Cost:
    """Estimated memory and time of :func:`linreg_first_passage_case` (h* ≈ 1): the data,
    the splitting over the decades the steepest SDE asymptote gives up to max(cs), brute
    force, and at d = 1 the chain."""
    s = max(escape_exponent(eta=eta, B=B, h=1.0, n=d),
            escape_exponent_exact_noise(eta=eta, B=B, h=1.0, d=d))
    decades = s * np.log10(max(cs) / 1.1) if max(cs) > 1.1 else 1.0
    online = N == 0
    cost = linreg_data(max(N, 2 * d + 2), d).then(
        splitting(repetitions=repetitions, replicas=replicas, decades=decades,
                  relaxation=1 / eta, d=d, B=B, online=online)).then(
        linreg_sgd(N=N, d=d, B=B, steps=brute_steps, replicas=brute_replicas,
                   thresholds=len(cs), online=online))
    if d == 1 and B == 1:
        cost = cost.then(discrete_chain_online(points=CHAIN_POINTS, thresholds=len(cs)) if online
                         else discrete_mfpt(points=CHAIN_POINTS, N=N))
    return cost


def linreg_first_passage_case(*, eta: float, B: int, d: int, N: int, cs, seed: int,
                              data_seed: int, estimator: dict, brute_replicas: int,
                              brute_steps: int, importance: str = "auto") -> dict:
    """One case: t_p(c) by splitting, brute force, the SDEs, the chain and the asymptotes.

    Returns a dict with ``rows`` (one per threshold), ``slopes`` (one per pair of
    neighbouring thresholds) and ``case`` (one summary row).  ``importance="auto"`` (online
    only) importance-samples the rare expanding kicks where :func:`~logloss.kick_tilt`'s
    rule says that they make the escape; ``"off"`` never.
    """
    online = N == 0
    prob = make_linear_regression(max(N, 2 * d + 2), d, np.random.default_rng(data_seed))
    tilt = (kick_tilt(eta=eta, B=B, d=d, c_max=float(np.max(cs)))
            if online and importance == "auto" else dict(tilt=0.0, tilt_far=0.0))
    system = LinregSystem(prob, eta=eta, B=B, online=online, **tilt)
    h = system.h_star
    L_star = system.L_star
    c = np.asarray(cs, dtype=float)
    res = rare_first_passage(system, c, seed=seed,
                             spacing=_spacing(eta=eta, B=B, h=h, d=d), **estimator)
    # brute force from θ*, the cross-check where its budget reaches
    run = sgd_linreg(prob, eta=eta, B=B, steps=brute_steps, replicas=brute_replicas,
                     seed=seed + 1, thresholds=c * L_star, online=online)
    brute = mean_first_passage(run.first_passage, run.steps)
    sde = {kind: radial_mfpt(c, eta=eta, B=B, d=d, h=h, L_star=L_star, exact_noise=exact)
           for kind, exact in (("paper", False), ("exact", True))}
    chain = np.full(c.size, np.nan)
    kesten = np.nan
    inside = c > 1
    if d == 1 and B == 1 and not online:
        x = prob.X[:, 0]
        a, b = 1 - eta * x**2, eta * x * (prob.y - x * prob.theta_star[0])
        chain[inside] = discrete_mfpt_1d(a, b, u_c=np.sqrt(2 * (c[inside] - 1) * L_star / h),
                                         points=CHAIN_POINTS)
        kesten = kesten_exponent(a) / 2
    elif d == 1 and B == 1:
        chain[inside] = discrete_mfpt_online_1d(c[inside], eta=eta, points=CHAIN_POINTS)
        kesten = kesten_exponent_isotropic(eta=eta, d=1) / 2
    elif online and B == 1:
        kesten = kesten_exponent_isotropic(eta=eta, d=d) / 2
    relax = res.relaxation
    in_regime = res.resolved & (res.t_p >= RARE * relax)
    rows = []
    for j, cj in enumerate(c):
        e = brute[j]
        resolved_bf = e.censored <= e.replicas // 2
        z = k_w = k_se = np.nan  # compared where both resolve a rare escape (brute force
        # starts at θ*, the estimator in the quasi-stationary state: a relaxation time apart)
        if resolved_bf and in_regime[j] and e.stderr > 0:
            z = (np.log10(res.t_p[j]) - np.log10(e.mean)) / np.hypot(
                res.log10_t_p_stderr[j], e.stderr / e.mean / np.log(10))
        if resolved_bf:  # memorylessness wherever brute force resolves, rare or not (the
            # transits are the control: their Weibull k must differ from 1)
            fp = run.first_passage[:, j]
            wb = weibull_shape(np.where(fp > 0, fp, run.steps), fp > 0)
            k_w, k_se = wb.shape, wb.shape_stderr
        rows.append(dict(d=d, N=N, dataset=data_seed, c=float(cj), t_p=float(res.t_p[j]),
                         t_p_stderr=float(res.t_p_stderr[j]),
                         log10_t_p_stderr=float(res.log10_t_p_stderr[j]),
                         relaxation_times=float(res.t_p[j] / relax),
                         dominance=float(res.dominance[j]), resolved=bool(res.resolved[j]),
                         in_regime=bool(in_regime[j]),
                         t_brute=float(e.mean) if resolved_bf else np.nan,
                         t_brute_stderr=float(e.stderr) if resolved_bf else np.nan,
                         brute_censored=int(e.censored), brute_z=float(z),
                         weibull_k=float(k_w), weibull_k_stderr=float(k_se),
                         t_sde_paper=float(sde["paper"][j]), t_sde_exact=float(sde["exact"][j]),
                         t_chain=float(chain[j]),
                         # the estimator against the exact chain (d = 1), where it resolves
                         z_chain=float((np.log10(res.t_p[j]) - np.log10(chain[j]))
                                       / res.log10_t_p_stderr[j])
                         if res.resolved[j] and np.isfinite(chain[j]) else np.nan))
    log_c = np.log(c)

    def local(T):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.diff(np.log(T)) / np.diff(log_c)

    slopes = []
    for j in range(c.size - 1):
        slopes.append(dict(d=d, N=N, dataset=data_seed, c_mid=float(res.c_mid[j]),
                           slope=float(res.slope[j]), slope_stderr=float(res.slope_stderr[j]),
                           in_regime=bool(in_regime[j] and in_regime[j + 1]),
                           slope_sde_paper=float(local(sde["paper"])[j]),
                           slope_sde_exact=float(local(sde["exact"])[j]),
                           slope_chain=float(local(chain)[j])))
    zs = np.array([r["brute_z"] for r in rows])
    reg = np.flatnonzero(in_regime)
    # the slope over the whole rare window, the regime declared above (before any slope is
    # seen): SGD's by splitting, with a bootstrap over repetitions, and the exact chain's
    rare = res.window_slope(in_regime, seed=seed + 2)
    chain_ok = reg[np.isfinite(chain[reg])]
    slope_chain_rare = np.nan
    if chain_ok.size > 1:
        x = np.log(c[chain_ok]) - np.log(c[chain_ok]).mean()
        slope_chain_rare = float(x @ np.log(chain[chain_ok]) / (x @ x))
    decades = (float(np.log10(res.t_p[reg[-1]] / res.t_p[reg[0]])) if reg.size > 1 else 0.0)
    case = dict(d=d, N=N, dataset=data_seed, h_star=h, relaxation=relax,
                c_A=res.settings["c_A"], tilt=tilt["tilt"], tilt_far=tilt["tilt_far"],
                slope_eq15=escape_exponent(eta=eta, B=B, h=h, n=d),
                slope_exact_noise=escape_exponent_exact_noise(eta=eta, B=B, h=h, d=d),
                slope_kesten=float(kesten), decades=decades, rare_thresholds=int(reg.size),
                repetitions=int(res.settings["repetitions"]),
                slope_rare=rare.value, slope_rare_stderr=rare.stderr,
                slope_chain_rare=slope_chain_rare,
                brute_z_max=float(np.nanmax(np.abs(zs))) if np.isfinite(zs).any() else np.nan,
                brute_compared=int(np.isfinite(zs).sum()), cost=int(res.cost),
                brute_cost=int(brute_replicas * brute_steps),
                max_eta_x2=float(eta * np.max(np.sum(prob.X**2, axis=1))) if not online else np.nan)
    notes = []
    kicks = expanding_kick_rate(eta=eta, B=B, d=d) * relax  # per relaxation time
    if system.tilted:
        notes.append(f"d={d}, N=0 (online): the rare expanding kicks (eta |x|^2 / B > 2, "
                     f"{kicks:.2g} per relaxation time) are importance-sampled: a share "
                     f"{system.tilt:.3g} of the samples near the bulk, {system.tilt_far:.3g} "
                     f"beyond {system.far:g} times its edge, from N(0, {system.spread:.3g}^2 I), "
                     "with likelihood-ratio weights (logloss.kick_tilt's rule)")
    elif online and kicks < 1 and importance == "off":
        notes.append(f"d={d}, N=0 (online): a sample that expands the step on its own "
                     f"(eta |x|^2 / B > 2) comes {kicks:.2g} times per relaxation time, and "
                     "importance=off: escapes made of a few such kicks in a row are a route "
                     "that unweighted splitting misses (at d = 1, eta = 0.1 it overstated t_p "
                     "at c = 10 by six decades)")
    return dict(rows=rows, slopes=slopes, case=case, notes=notes)


def collect_cases(cases: list[dict], out: Outcome) -> Outcome:
    out.tables["first_passage"] = [r for cs in cases for r in cs["rows"]]
    out.tables["slopes"] = [r for cs in cases for r in cs["slopes"]]
    out.tables["cases"] = [cs["case"] for cs in cases]
    dec = [cs["case"]["decades"] for cs in cases]
    out.measured["decades_min"] = Measured(float(min(dec)))
    zmax = [cs["case"]["brute_z_max"] for cs in cases if np.isfinite(cs["case"]["brute_z_max"])]
    out.measured["brute_z_max"] = Measured(float(max(zmax)) if zmax else np.nan)
    out.measured["cost"] = Measured(float(sum(cs["case"]["cost"] for cs in cases)))
    # the headline: SGD's slope over the rare window of the first case of the largest d.
    # The largest d because there the excursions sample every route out: at d = 1 far
    # escapes are made by a rare expanding kick (η x² > 2) that a few hundred excursions
    # miss (the chapter measures this against the exact chain), while in d dimensions an
    # expanding kick needs only η|x|² > 2, which is common.
    top = max(cases, key=lambda cs: cs["case"]["d"])["case"]
    out.measured["slope_rare"] = Measured(top["slope_rare"], top["slope_rare_stderr"])
    out.theory["slope_eq15"] = top["slope_eq15"]
    out.theory["slope_kesten"] = top["slope_kesten"]
    for cs in cases:
        out.notes.extend(n for n in cs.get("notes", ()) if n not in out.notes)
        lost = [r["c"] for r in cs["rows"] if not r["resolved"] and r["c"] > cs["case"]["c_A"]]
        if lost:
            out.notes.append(
                f"d={cs['case']['d']}, N={cs['case']['N']}: {len(lost)} of {len(cs['rows'])} "
                f"thresholds unresolved (c = {min(lost):.4g} to {max(lost):.4g}: the splitting "
                "lost its replicas or one branch dominates); they stay in the table with "
                "resolved = False and are left out of the window slope")
    out.notes.append(f"a threshold is in the regime of paper Eq. (15) when t_p >= {RARE:.0f} "
                     "relaxation times 1/(eta h*) and the splitting estimate is resolved")
    return out


R9_PRESETS = {
    "smoke": dict(eta=0.1, B=1, ds=[1, 16], Ns=[10_000, 0], datasets=1, c_lo=1.1, decades=8.0,
                  thresholds=12, repetitions=4, replicas=100, brute_replicas=64,
                  brute_steps=20_000, importance="auto"),
    "book": dict(eta=0.1, B=1, ds=[1, 4, 16], Ns=[10_000, 100_000, 0], datasets=1,
                 c_lo=1.1, decades=22.0, thresholds=40, repetitions=8, replicas=300,
                 brute_replicas=32, brute_steps=200_000, importance="auto"),
    "paper": dict(eta=0.1, B=1, ds=[1, 2, 4, 8, 16], Ns=[10_000, 100_000, 0],
                  datasets=3, c_lo=1.1, decades=30.0, thresholds=60, repetitions=16, replicas=1000,
                  brute_replicas=100, brute_steps=10_000_000, importance="auto"),
}


def _todo(p: dict) -> list[tuple[int, int, int]]:
    """The cases (d, N, data set) of a run: several data sets per finite N."""
    return [(d, N, k) for N in p["Ns"] for d in p["ds"] for k in range(p["datasets"] if N else 1)]


def _case_thresholds(p: dict, d: int) -> np.ndarray:
    return _thresholds(p["c_lo"], _c_max(p["c_lo"], p["decades"], eta=p["eta"], B=p["B"],
                                         h=1.0, d=d), p["thresholds"])


def _validate(p: dict) -> None:
    for N in p["Ns"]:
        if N:
            check_noisy_batch(p["B"], N)


def _cost(p: dict) -> Cost:
    memory = seconds = 0.0
    for N in p["Ns"]:
        for d in p["ds"]:  # a case per data set of a finite N (without listing them)
            one = case_cost(eta=p["eta"], B=p["B"], d=d, N=N, cs=_case_thresholds(p, d),
                            repetitions=p["repetitions"], replicas=p["replicas"],
                            brute_replicas=p["brute_replicas"], brute_steps=p["brute_steps"])
            memory = max(memory, one.memory)
            seconds += one.seconds * (float(p["datasets"]) if N else 1.0)
    return Cost(memory, seconds, "ds, Ns, datasets, decades, repetitions, replicas, "
                                           "brute_replicas, brute_steps")


@experiment("first-passage-linreg",
            description="t_p(c) of SGD on linear regression over 20+ decades by splitting on "
                        "log L, for several d and N (Fig. 3b, R9)",
            presets=R9_PRESETS,
            measured=("decades_min", "brute_z_max", "cost", "slope_rare"),
            theory=("slope_eq15", "slope_kesten"),
            tables=TABLES,
            arrays=(),
            fields=FIELDS,
            params=dict(
                Ns=Param("training-set sizes N; 0 is online SGD (a fresh sample every step)", symbol="N"),
                datasets=Param("independent data sets drawn at each finite N"),
                c_lo=Param("smallest threshold ratio c of the grid and of the slope window", symbol="c"),
            ),
            checks=dict(c_lo=">1", decades=">0", Ns=">=0 distinct", ds="distinct",
                        importance=("auto", "off")),
            cost=_cost,
            validate=_validate)
def run_r9(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    cases = []
    todo = _todo(p)
    est = dict(repetitions=p["repetitions"], replicas=p["replicas"])
    for i, ((d, N, k), seed) in enumerate(zip(todo, rng.integers(2**31, size=len(todo)))):
        cs = _case_thresholds(p, d)
        cases.append(ctx.store.unit(
            f"case{i}", lambda d=d, N=N, k=k, seed=seed, cs=cs: linreg_first_passage_case(
                eta=p["eta"], B=p["B"], d=d, N=N, cs=cs, seed=int(seed), data_seed=k,
                estimator=est, brute_replicas=p["brute_replicas"], brute_steps=p["brute_steps"],
                importance=p["importance"]),
            spec=CASE_SPEC))
    return collect_cases(cases, Outcome())
