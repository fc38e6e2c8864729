"""Experiment ``first-passage-nn``: escape of the pretrained 784-10-1 MLP on MNIST even/odd
from its quasi-stationary state, over many decades of t_p (Fig. 3c, R10).

For each net and β = B/(ηλ₁) (η set from the net's measured λ₁):

* **the net** (:class:`logloss.dynamics.mlp_excursions.MLPSystem`): t_p(c) from the
  quasi-stationary state of the run's own (η, B), reached by a burn-in of ``burn_relax``
  relaxation times 1/(ηλ₁) from the pretrained θ*, by rare-event splitting
  (:func:`logloss.stats.splitting.rare_first_passage`) on thresholds c spread over
  ``decades`` decades of paper Eq. (15)'s prediction;
* **the paper's noise model on the net's spectrum**
  (:class:`logloss.dynamics.noise_model.NoiseModelSystem`): L = L* + ½Σh_i u_i² with the
  net's top Gauss–Newton eigenvalues and its bulk lumped to match tr H and tr H², the
  decoupled noise of paper Eqs. (7), (12), in discrete time at the SGD step, on the same
  thresholds;
* **paper Eq. (15)** with h* = λ₁ and n = the participation ratio: the slope
  β + 1 − n/2, and the absolute t_p = 2π/(ηh*)·c^slope from its Kramers prefactor with
  |hˢ| = h* (the thresholds are level sets, not saddles: an assumption, stated).

The local slope d log t_p/d log c is reported for the net and the model at every pair of
thresholds; n is implied from paper Eq. (15) on the thresholds selected by a rule declared before
the fit: t_p ≥ 100 relaxation times 1/(ηλ₁) (``MIN_RELAX``, a rule of the physics, not a
parameter: the same at every scale and for every (η, B) a user passes), and resolved by the
repetitions (the estimator's own flag: dominance ≤ ½; a threshold one repetition carries is
left out, and counted).  A brute-force run from the same quasi-stationary state crosses the
lowest thresholds: its t_p is compared with the splitting's, and its Kaplan–Meier survival
with an exponential (a censored Weibull shape k, which is 1 for a memoryless escape; the
power of |k − 1| < 3 s.e. against k = 2, a transit, is reported).  The paper's protocol
(from θ* at β = 6) is run as the transient it is.

n is reported under two assumptions: paper Eq. (15) inverted, n = 2(β + 1 − slope) (equal
curvatures, h* = λ₁; ``n_fit``, and ``n_fit_model`` for the noise model, whose true
participation ratio is known), and calibrated by the noise model on the net's spectrum,
n = PR + 2(slope_model − slope_net) (the net departs from paper Eq. (15) as its noise model
does; ``n_calibrated``).
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np
from scipy import stats

from ..core.cache import NUMBER, cached, shaped
from ..core.errors import InvalidInput
from ..core.measured import Measured, standard_error
from ..core.resources import NUMBA_RATE, Cost
from ..core.validation import check_noisy_batch
from ..data import mnist_even_odd
from ..dynamics.mlp_excursions import MLPSystem
from ..dynamics.mlp_sgd import replicate, sgd_mlp
from ..dynamics.noise_model import NoiseModelSystem, lumped_spectrum
from ..dynamics.pretrain import pretrain
from ..stats.first_passage import exponential_mle
from ..stats.splitting import rare_first_passage
from ..stats.survival import kaplan_meier, weibull_shape
from ..theory import escape_exponent
from ._cost import F4
from ._shared import NET_PARAMS, PAPER, check_pretraining, pretrain_cost, pretrained_spectrum, spectrum_cost
from .params import Param
from .result import Outcome, RunContext
from .spec import experiment

# escape is rare when t_p is at least this many relaxation times 1/(ηλ₁) of the top outlier:
# the state has forgotten its start long before it leaves (declared before any fit)
MIN_RELAX = 100.0
_COMMON = dict(B=10, k=30, levels_per_decade=2.5, kill_fraction=0.1,
               transient_beta=6.0, transient_steps=300, brute_budget_relax=400.0)
NN_PRESETS = {
    "smoke": dict(_COMMON, N=2_000, pre_steps=10_000, pre_seeds=[0], nets=[0], k=10, betas=[25.0],
                  decades=3.0, replicas=100, repetitions=8, flux_replicas=8, model_flux_replicas=8,
                  burn_relax=100.0,
                  window_relax=100.0, model_replicas=100, model_repetitions=4,
                  brute_replicas=32, transient_steps=60),
    # one β in the page's budget (the other experiments of the page take about 190 s of its
    # 240 s at book scale on 2 cores)
    "book": dict(_COMMON, N=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], nets=[0],
                 betas=[100.0], decades=6.0, replicas=80, repetitions=6,
                 flux_replicas=16, burn_relax=400.0, window_relax=400.0, model_replicas=100,
                 model_repetitions=6, model_flux_replicas=32, brute_replicas=32,
                 brute_budget_relax=200.0),
    "paper": dict(_COMMON, N=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2, 3, 4],
                  nets=[0, 1, 2], betas=[25.0, 50.0, 100.0], decades=14.0, replicas=500,
                  repetitions=16, flux_replicas=64, burn_relax=400.0, window_relax=800.0,
                  model_replicas=1000, model_repetitions=16, model_flux_replicas=128,
                  brute_replicas=64),
}


def _brute(net, data, K, *, eta, B, burn, steps, replicas, thresholds, seed):
    """Brute force: ``burn`` unmonitored steps from θ* at (η, B), then monitored first
    passage to each threshold (cached)."""
    def make():
        rng = np.random.default_rng(seed)
        p = replicate(net, replicas)
        if burn:
            sgd_mlp(p, data.x, data.y, eta=eta, B=B, steps=burn, rng=rng, threads=1)
        run = sgd_mlp(p, data.x, data.y, eta=eta, B=B, steps=steps, rng=rng,
                      thresholds=thresholds, gram=K)
        return dict(first_passage=run.first_passage, steps_run=run.steps_run)

    W = net[0].weight.detach()
    key = dict(eta=float(eta), B=B, burn=burn, steps=steps, replicas=replicas, seed=int(seed),
               thresholds=[float(t) for t in thresholds], w=float(W.double().sum()),
               w2=float(W.double().square().sum()))
    spec = {"first_passage": shaped(np.ndarray, replicas, len(thresholds)),
            "steps_run": shaped(np.ndarray, replicas)}
    return cached("nn-escape-brute", key, make, spec=spec)


def _thresholds(c_A: float, slope15: float, decades: float, n_c: int) -> np.ndarray:
    """c spread evenly in paper Eq. (15)'s predicted log t_p: from 1/2 decade above the bulk
    (median L/L* c_A) to ``decades`` decades above it."""
    return c_A * 10 ** (np.linspace(0.5, decades, n_c) / slope15)


def _window(rf, min_relax: float) -> np.ndarray:
    """Indices of the declared window: the thresholds with t_p ≥ min_relax relaxation times
    that the repetitions resolve."""
    return np.flatnonzero(np.isfinite(rf.t_p) & (rf.t_p >= min_relax * rf.relaxation)
                          & rf.resolved)


def _tp_rows(rf, system: str, **extra) -> list[dict]:
    return [dict(extra, system=system, c=float(c), t_p=float(t), t_p_stderr=float(se),
                 log10_t_p=float(np.log10(t)) if np.isfinite(t) and t > 0 else float("nan"),
                 log10_t_p_stderr=float(sl), relaxations=float(t / rf.relaxation),
                 dominance=float(dm), resolved=bool(ok))
            for c, t, se, sl, dm, ok in zip(rf.c, rf.t_p, rf.t_p_stderr, rf.log10_t_p_stderr,
                                             rf.dominance, rf.resolved)]


def _slope_rows(rf, system: str, slope15: float, **tag) -> list[dict]:
    beta = tag["beta"]
    return [dict(tag, system=system, c_mid=float(c), slope=float(s), slope_stderr=float(se),
                 slope_eq15=slope15, n_implied=float(2 * (beta + 1 - s)),
                 n_implied_stderr=float(2 * se))
            for c, s, se in zip(rf.c_mid, rf.slope, rf.slope_stderr)]


def _weibull(t, obs):
    try:
        w = weibull_shape(t, obs, offset=0.5)
        return w.shape, w.shape_stderr
    except InvalidInput:
        return float("nan"), float("nan")


def _validate(p: dict) -> None:
    check_pretraining(p)
    check_noisy_batch(p["B"], p["N"])
    bad = [i for i in p["nets"] if i >= len(p["pre_seeds"])]
    if bad:
        raise InvalidInput(f"nets={','.join(map(str, p['nets']))}: there are only "
                           f"{len(p['pre_seeds'])} pretrained nets (one per entry of pre_seeds), "
                           f"indices 0..{len(p['pre_seeds']) - 1}")
    if p["k"] > NET_PARAMS:
        raise InvalidInput(f"k={p['k']} exceeds the P = {NET_PARAMS} parameters of the "
                           "784-10-1 net")
    if p["decades"] <= 0.5:
        raise InvalidInput(f"decades={p['decades']} must exceed 0.5 (the lowest threshold sits "
                           "half a decade above the bulk)")


def _cost(p: dict) -> Cost:
    """Pretraining and spectra, the data Gram matrix K = XXᵀ (n × n, float32), and per
    (net, β): the quasi-stationary flux runs (sparse steps), the splitting's excursions
    (monitored steps, the replicas' level records of P floats each) and the brute force.

    Splitting steps: repetitions × replicas × (2 + 2.3·decades) × 10 relaxation times
    (measured: 1.3·10⁶ replica-steps for 8 × 100 replicas over 6 decades at β = 100)."""
    n, B, P = float(p["N"]), float(p["B"]), float(NET_PARAMS)
    monitored = n * B * 10 * 3 / NUMBA_RATE  # one step of one replica, Aᵀ through K
    sparse = B * 150 * 10 * 4 / NUMBA_RATE
    levels = float(p["decades"]) * (float(p["levels_per_decade"]) + 2) + 1
    seconds = 0.0
    for beta in p["betas"]:
        relax = float(beta) / B
        flux = (float(p["repetitions"]) * float(p["flux_replicas"]) + float(p["flux_replicas"])) \
            * (float(p["burn_relax"]) + float(p["window_relax"])) * relax * sparse
        split = float(p["repetitions"]) * float(p["replicas"]) \
            * (2 + 2.3 * float(p["decades"])) * 10 * relax * monitored
        brute = float(p["brute_replicas"]) * relax * (float(p["burn_relax"]) * sparse
                                                      + float(p["brute_budget_relax"]) * monitored)
        seconds += flux + split + brute
    seconds = seconds * len(p["nets"]) + float(p["brute_replicas"]) * p["transient_steps"] * monitored
    records = float(p["replicas"]) * levels * P * F4 * min(float(p["repetitions"]), 2)
    run = Cost(memory=records + 2 * float(p["brute_replicas"]) * 10 * n * F4, seconds=seconds)
    spectra = spectrum_cost(n, p["k"])
    pre = pretrain_cost(p)
    return Cost(n * n * F4 + max(pre.memory, spectra.memory, run.memory + n * 784 * F4),
                pre.seconds + len(p["nets"]) * spectra.seconds + run.seconds,
                "n, pre_steps, betas, decades, replicas, repetitions, brute_budget_relax")


@experiment("first-passage-nn",
            description="Escape of the pretrained 784-10-1 MLP from its quasi-stationary state "
                        "over many decades: the net, the paper's noise model on its spectrum, "
                        "paper Eq. (15) (paper Fig. 3c, R10)",
            presets=NN_PRESETS,
    measured=('slope', 'slope_stderr_model', 'slope_model', 'n_fit', 'n_fit_model',
              'n_calibrated', 'slope_difference_per_beta', 'decades', 'decades_model', 'brute_z_max', 'weibull_k_escape',
              'weibull_power_k2', 'weibull_k_transient', 'qs_loss_ratio', 'qs_loss_ratio_model',
              'lambda_max', 'participation_ratio', 'pretrained_loss', 'cost_replica_steps',
              'seconds_net', 'records_memory_mb'),
    theory=('slope', 'qs_loss_ratio_model_exact'),
    reference=('lambda_max', 'participation_ratio', 'n_fit', 'pretrained_loss'),
    tables=dict(
        first_passage=("beta", "c", "dominance", "log10_t_p", "log10_t_p_stderr", "net",
            "relaxations", "resolved", "system", "t_p", "t_p_stderr"),
        slopes=("beta", "c_mid", "n_implied", "n_implied_stderr", "net", "slope", "slope_eq15",
            "slope_stderr", "system"),
        fits=("beta", "decades", "eta", "eta_lambda", "left_out", "log10_vs_eq15", "n_fit",
            "n_fit_stderr", "n_top", "n_top_stderr", "net", "participation_ratio", "slope",
            "slope_eq15", "slope_stderr", "slope_top", "slope_top_stderr", "system", "thresholds",
            "window_hi", "window_lo"),
        brute=("beta", "c", "crossings", "net", "power_k2", "rare", "relaxations", "replicas",
            "resolved", "t_p_brute", "t_p_brute_stderr", "t_p_splitting", "t_p_splitting_stderr",
            "weibull_k", "weibull_k_stderr", "z"),
        survival=("S", "S_exponential", "beta", "c", "net", "regime", "t"),
        runs=("beta", "burn", "c_A", "cost", "eta", "eta_lambda", "model_cost", "model_qs_mean",
            "model_qs_mean_exact", "model_qs_mean_stderr", "model_qs_median", "model_seconds",
            "net", "p_A", "qs_mean", "qs_mean_stderr", "qs_median", "records_mb", "relaxation",
            "seconds", "spacing", "thresholds", "window"),
        transient=("beta", "c", "crossings", "eta", "eta_lambda", "median_step", "net",
            "replicas", "t_p", "t_p_stderr", "weibull_k", "weibull_k_stderr"),
        nets=("L_star", "bulk_h", "bulk_m", "lambda_max", "model_participation_ratio", "net",
            "participation_ratio", "seed", "trace", "trace_sq"),
    ),
    arrays=(),
    fields=dict(
        net="index of the pretrained net",
        system="net (SGD on the network), noise model (the paper's model fed its spectrum) or paper Eq. (15)",
        log10_t_p="log₁₀ t_p",
        log10_t_p_stderr="standard error of log₁₀ t_p by splitting",
        relaxations="t_p in relaxation times 1/(ηλ₁)",
        dominance="largest share of one branch in the splitting estimate (near 1: unreliable)",
        resolved="whether the splitting estimate is resolved",
        c_mid="geometric mean of two neighbouring thresholds",
        n_implied="n = 2(β + 1 − slope) from the local slope (inverting Eq. 15)",
        eta_lambda="ηλ₁ (2: the edge of stability)",
        left_out="thresholds with t_p ≥ 100 relaxation times left out as unresolved",
        log10_vs_eq15="mean log₁₀ of t_p over paper Eq. (15)'s t_p in the window",
        n_fit="n = 2(β + 1 − slope) from the window's slope",
        slope_top="slope over the upper half of the window",
        n_top="n from slope_top",
        window_lo="smallest c of the slope window (t_p ≥ 100 relaxation times, resolved)",
        window_hi="largest c of the slope window",
        crossings="brute-force replicas that crossed the threshold",
        rare="whether the splitting t_p is at least 100 relaxation times",
        t_p_brute="t_p by brute force from the quasi-stationary state (exponential MLE)",
        t_p_splitting="t_p by splitting at the same threshold",
        power_k2="power of the test |k − 1| < 3 s.e. against a Weibull shape 2",
        S="Kaplan–Meier survival of the first passage at t",
        S_exponential="the exponential law with the same mean at t",
        regime="escape (from the quasi-stationary state) or transient (the paper's protocol)",
        t="steps since the start of the brute-force runs",
        burn="burn-in steps to the quasi-stationary state",
        window="steps of the flux pilot",
        c_A="L/L* at the median of the quasi-stationary state: the splitting's start",
        p_A="mean probability of reaching the next level from A",
        qs_median="median L/L* of the net's quasi-stationary state",
        qs_mean="mean L/L* of the net's quasi-stationary state",
        model_qs_median="median L/L* of the noise model's quasi-stationary state",
        model_qs_mean="mean L/L* of the noise model's quasi-stationary state",
        model_qs_mean_exact="the same in closed form",
        spacing="spacing of the splitting levels in log L",
        cost="SGD replica-steps of the net's splitting runs",
        model_cost="replica-steps of the noise model's splitting runs",
        seconds="wall time of the net's runs",
        model_seconds="wall time of the noise model's runs",
        records_mb="memory of the recorded states, MiB",
        relaxation="relaxation time 1/(ηλ₁) in steps",
        median_step="median step of the crossings",
        trace="tr of the net's Gauss–Newton matrix",
        trace_sq="tr of its square",
        bulk_h="curvature of the noise model's bulk (the spectrum below the top k)",
        bulk_m="directions in that bulk",
        model_participation_ratio="participation ratio of the noise model's spectrum",
        weibull_k="Weibull shape k of the first passages (1 if memoryless)",
    ),
    params=dict(
        nets=Param("indices of the pretrained nets escaped from"),
        betas=Param("β = B/(ηλ₁) of each escape run (sets η)", symbol="β"),
        levels_per_decade=Param("splitting levels per decade of t_p"),
        kill_fraction=Param("fraction of the replicas killed at each splitting level"),
        burn_relax=Param("burn-in to the quasi-stationary state, in relaxation times 1/(ηλ₁)"),
        window_relax=Param("window of the flux pilot, in relaxation times 1/(ηλ₁)"),
        flux_replicas=Param("replicas of the flux pilot"),
        model_replicas=Param("replicas of each splitting run of the noise model"),
        model_repetitions=Param("repetitions of the noise model’s splitting estimate"),
        model_flux_replicas=Param("replicas of the noise model’s flux pilot"),
        transient_beta=Param("β of the paper’s transient protocol (from the pretrained θ)", symbol="β"),
        transient_steps=Param("steps of each run of the transient protocol", unit="steps"),
        brute_budget_relax=Param("budget of the brute-force runs, in relaxation times"),
    ),
    checks=dict(pre_seeds="seed distinct", nets=">=0 distinct", betas=">0 distinct",
                kill_fraction="(0,1)"),
    cost=_cost,
    validate=_validate,
)
def run_nn(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    out = Outcome(device="cpu")  # the rare-event kernels are numba (CPU)
    data = mnist_even_odd(p["N"])
    pre = pretrain(n=p["N"], steps=p["pre_steps"], seeds=p["pre_seeds"], device=ctx.device)
    K = data.x @ data.x.T  # shared by every kernel (N² floats)
    rows = {name: [] for name in ("first_passage", "slopes", "fits", "brute", "survival", "runs")}
    nets = []
    cost, seconds, mem = 0, 0.0, 0.0
    for net_index in p["nets"]:
        net = pre["params"].model(net_index).cpu()
        spec = pretrained_spectrum(n=p["N"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                                   index=net_index, k=p["k"], device=ctx.device)
        h_model, m_model = lumped_spectrum(spec["eigenvalues"][:p["k"]], trace=spec["trace"],
                                           trace_sq=spec["trace_sq"], P=spec["P"])
        for j, beta in enumerate(p["betas"]):
            # each (net, β) is a unit of work: a killed paper-scale run resumes after it
            seed = int(rng.integers(2**31))
            one = ctx.store.unit(
                f"net{net_index}-beta{j}",
                partial(_run_beta, p, net, net_index, data, K, spec, h_model, m_model, beta,
                        seed=seed),
                spec=_UNIT)
            for name in rows:
                rows[name] += one[name]
            cost += one["cost"]
            seconds += one["seconds"]
            mem = max(mem, one["records_mb"])
        nets.append(_net_row(p, pre, net_index, spec, h_model, m_model))
    trans, trans_surv = _transient(p, pre, data, K, nets, seed=int(rng.integers(2**31)))
    rows["survival"] += trans_surv
    out.tables.update(rows, transient=trans, nets=nets)
    _summary(out, p, rows["fits"], rows["brute"], trans, rows["runs"], nets, cost, seconds, mem)
    return out


# what a stored (net, β) unit must hold (see _run_beta)
_UNIT = dict({name: [dict] for name in ("first_passage", "slopes", "fits", "brute", "survival",
                                        "runs")}, cost=NUMBER, seconds=NUMBER, records_mb=NUMBER)


def _run_beta(p, net, net_index, data, K, spec, h_model, m_model, beta, *, seed) -> dict:
    """One (net, β): the net's and the noise model's quasi-stationary states, t_p(c) of both
    by splitting on thresholds over ``decades`` decades of paper Eq. (15), the window fits
    and the brute-force check; the rows of each table, the cost (replica-steps), the net's
    seconds and the memory of the splitting's records (MB)."""
    lam, pr = spec["lambda_max"], spec["participation_ratio"]
    # two thresholds per decade of paper Eq. (15): the lowest rare one (t_p ≥ 100 relaxation times)
    # then lies within half a decade of the floor, where brute force still crosses it
    n_c = max(4, int(round(2 * p["decades"])) + 1)
    eta = p["B"] / (beta * lam)
    relax = beta / p["B"]  # 1/(ηλ₁) steps
    burn = int(round(p["burn_relax"] * relax))
    window = int(round(p["window_relax"] * relax))
    s15 = escape_exponent(eta=eta, B=p["B"], h=lam, n=pr)
    if s15 <= 0:
        raise InvalidInput(f"beta={beta:g}: paper Eq. (15)'s slope {s15:.3g} is not > 0 "
                           "for this net; raise beta")
    spacing = np.log(10) / (s15 * p["levels_per_decade"])
    t0 = time.perf_counter()
    system = MLPSystem(net, data.x, data.y, eta=eta, B=p["B"], h_star=lam, gram=K.numpy())
    pilot, qs, c_A = _net_bulk(system, p, seed=seed, burn=burn, window=window, beta=beta,
                               net_index=net_index)
    net_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    model = NoiseModelSystem(h_model, m_model, eta=eta, B=p["B"], L_star=system.L_star)
    slow = 1.0 / (eta * h_model.min())  # the bulk's relaxation time
    mqs, mqs_rep, m_A = _model_bulk(model, p, seed=seed, slow=slow)
    model_seconds = time.perf_counter() - t1
    t0 = time.perf_counter()
    # thresholds above both bulks, the same for the net and the model
    cs = _thresholds(max(c_A, m_A), s15, p["decades"], n_c)
    rf = rare_first_passage(system, cs, seed=seed + 1, c_A=c_A,
                            repetitions=p["repetitions"], replicas=p["replicas"],
                            kill_fraction=p["kill_fraction"], spacing=spacing,
                            flux_replicas=p["flux_replicas"], flux_burn=burn,
                            flux_steps=window)
    net_seconds += time.perf_counter() - t0
    cost = rf.cost + pilot.cost
    G = int(np.ceil((np.log(cs[-1]) - np.log(c_A)) / spacing)) + n_c
    records_mb = p["replicas"] * G * system.state_size * system.X.itemsize / 2**20
    t1 = time.perf_counter()
    mf = rare_first_passage(model, cs, seed=seed + 3, c_A=m_A,
                            repetitions=p["model_repetitions"],
                            replicas=p["model_replicas"], kill_fraction=p["kill_fraction"],
                            spacing=spacing, flux_replicas=p["model_flux_replicas"],
                            flux_burn=int(20 * slow), flux_steps=int(50 * slow))
    model_seconds += time.perf_counter() - t1
    tag = dict(net=net_index, beta=beta)
    tp_rows = (_tp_rows(rf, "net", **tag) + _tp_rows(mf, "noise model", **tag)
               + _eq15_rows(cs, s15, relax, **tag))
    slope_rows = _slope_rows(rf, "net", s15, **tag) + _slope_rows(mf, "noise model", s15, **tag)
    fits = [_fit_row(res, name, seed=seed, eta=eta, lam=lam, pr=pr, s15=s15, relax=relax, **tag)
            for name, res in (("net", rf), ("noise model", mf))]
    # brute force from the same quasi-stationary state, on the lowest thresholds
    budget = int(round(p["brute_budget_relax"] * relax))
    br = _brute(net, data, K, eta=eta, B=p["B"], burn=burn, steps=budget,
                replicas=p["brute_replicas"], thresholds=cs * system.L_star,
                seed=seed + 4)
    cost += p["brute_replicas"] * burn + int(br["steps_run"].sum())
    brute_rows, surv = _brute_rows(br, cs, rf, p, relax=relax, **tag)
    run = dict(tag, eta=eta, eta_lambda=eta * lam, relaxation=relax,
               burn=burn, window=window, c_A=c_A, p_A=float(rf.p_A.mean()),
               qs_median=c_A, qs_mean=float(qs.mean()),
               qs_mean_stderr=float(standard_error(qs)),
               model_qs_median=m_A, model_qs_mean=float(mqs.mean()),
               model_qs_mean_stderr=float(standard_error(mqs_rep)),
               model_qs_mean_exact=model.mean_loss_ratio(),
               spacing=float(spacing), thresholds=int(n_c),
               cost=int(rf.cost + pilot.cost), model_cost=int(mf.cost),
               seconds=net_seconds, model_seconds=model_seconds,
               records_mb=p["replicas"] * G * system.state_size * 4 / 2**20)
    return dict(first_passage=tp_rows, slopes=slope_rows, fits=fits, brute=brute_rows,
                survival=surv, runs=[run], cost=cost, seconds=net_seconds, records_mb=records_mb)


def _net_bulk(system, p, *, seed, burn, window, beta, net_index):
    """The net's quasi-stationary state over the flux window (``burn`` steps from θ*, then
    ``window`` more): the pilot flux run, its loss ratios L/L* and their median c_A, the
    bulk A = {L ≤ c_A L*} of the splitting.  Refused when c_A < 1 (the net still trains)."""
    pilot = system.flux(seed, replicas=p["flux_replicas"], burn=burn, steps=window,
                        xi_A=-np.inf, cap=1)
    qs = np.exp(pilot.levels[np.isfinite(pilot.levels)])
    c_A = float(np.median(qs))
    if c_A < 1:
        raise InvalidInput(
            f"beta={beta:g}: the quasi-stationary loss lies below the pretrained one "
            f"(median L/L(θ*) = {c_A:.4g} after {burn} steps): net {net_index} is not at a "
            "minimum for this learning rate (it is still training); pretrain longer "
            "(pre_steps), lower burn_relax and window_relax, or lower beta")
    return pilot, qs, c_A


def _model_bulk(model, p, *, seed, slow):
    """The noise model's own quasi-stationary bulk (burn-in 20, window 50 relaxation times
    ``slow`` of its slowest direction): its loss ratios, one mean per replica, and their
    median m_A."""
    mpilot = model.flux(seed + 2, replicas=p["model_flux_replicas"], burn=int(20 * slow),
                        steps=int(50 * slow), xi_A=-np.inf, cap=1, samples=1000)
    mqs = np.exp(mpilot.levels[np.isfinite(mpilot.levels)])
    mqs_rep = np.nanmean(np.exp(mpilot.levels), axis=1)  # one mean per replica
    return mqs, mqs_rep, float(np.median(mqs))


def _eq15_rows(cs, s15, relax, **tag) -> list[dict]:
    """Paper Eq. (15) at the thresholds: t_p = 2π/(ηh*)·c^slope (rows of first_passage)."""
    return [dict(tag, system="paper Eq. (15)", c=float(c),
                 t_p=float(2 * np.pi * relax * c**s15), t_p_stderr=float("nan"),
                 log10_t_p=float(np.log10(2 * np.pi * relax) + s15 * np.log10(c)),
                 log10_t_p_stderr=float("nan"),
                 relaxations=float(2 * np.pi * c**s15), dominance=float("nan"),
                 resolved=True) for c in cs]


def _fit_row(res, name, *, seed, eta, lam, pr, s15, relax, **tag) -> dict:
    """The slope of log t_p on log c over the declared window (t_p ≥ ``MIN_RELAX``
    relaxation times, resolved) and over its upper half, with n = 2(β + 1 − slope)
    (paper Eq. (15) inverted): a row of the fits table."""
    beta = tag["beta"]
    idx = _window(res, MIN_RELAX)
    slope, se = res.window_slope(idx, seed=[seed, 7])
    top = idx[idx.size // 2:] if idx.size >= 4 else idx[:0]
    slope_top, se_top = res.window_slope(top, seed=[seed, 8])
    return dict(tag, system=name, eta=eta, eta_lambda=eta * lam,
                participation_ratio=pr, slope_eq15=s15,
                window_lo=float(res.c[idx[0]]) if idx.size else float("nan"),
                window_hi=float(res.c[idx[-1]]) if idx.size else float("nan"),
                thresholds=int(idx.size),
                left_out=int(np.sum(np.isfinite(res.t_p) & ~res.resolved
                                    & (res.t_p >= MIN_RELAX * relax))),
                log10_vs_eq15=float(np.mean(np.log10(
                    res.t_p[idx] / (2 * np.pi * relax * res.c[idx]**s15))))
                if idx.size else float("nan"),
                decades=float(np.log10(res.t_p[idx[-1]] / res.t_p[idx[0]]))
                if idx.size else 0.0,
                slope=slope, slope_stderr=se,
                n_fit=2 * (beta + 1 - slope), n_fit_stderr=2 * se,
                slope_top=slope_top, slope_top_stderr=se_top,
                n_top=2 * (beta + 1 - slope_top), n_top_stderr=2 * se_top)


def _brute_rows(br, cs, rf, p, *, relax, **tag) -> tuple[list[dict], list[dict]]:
    """The brute force against the splitting at each threshold it crosses often enough:
    exponential t_p and its z against the splitting's, the Weibull shape k (1: memoryless)
    and the power of |k − 1| < 3 s.e. against k = 2; and the Kaplan–Meier survival rows."""
    fp, steps_run = br["first_passage"], br["steps_run"]
    brute_rows, surv = [], []
    for j, c in enumerate(cs):
        obs = fp[:, j] >= 0
        if obs.sum() < max(3, p["brute_replicas"] // 3):
            continue  # too few crossings for a survival curve
        t = np.where(obs, fp[:, j], steps_run).astype(float)
        mean, se = exponential_mle(t, obs)
        k, k_se = _weibull(t, obs)
        z = ((np.log(mean) - np.log(rf.t_p[j]))
             / np.hypot(se / mean, rf.t_p_stderr[j] / rf.t_p[j]))
        # power of |k − 1| < 3 s.e. against a Weibull shape 2 (a transit, not an escape)
        power = float(stats.norm.cdf(1 / k_se - 3)) if np.isfinite(k_se) else float("nan")
        brute_rows.append(dict(tag, c=float(c), crossings=int(obs.sum()),
                               rare=bool(rf.t_p[j] >= MIN_RELAX * relax),
                               resolved=bool(rf.resolved[j]),
                               replicas=int(fp.shape[0]), t_p_brute=mean,
                               t_p_brute_stderr=se, t_p_splitting=float(rf.t_p[j]),
                               t_p_splitting_stderr=float(rf.t_p_stderr[j]), z=float(z),
                               relaxations=float(mean / relax), weibull_k=k,
                               weibull_k_stderr=k_se, power_k2=power))
        km = kaplan_meier(t, obs)
        surv += [dict(tag, regime="escape", c=float(c), t=float(tt), S=float(s),
                      S_exponential=float(np.exp(-tt / mean)))
                 for tt, s in zip(km.t, km.survival)]
    return brute_rows, surv


def _net_row(p, pre, net_index, spec, h_model, m_model) -> dict:
    """A row of the nets table: the pretrained net's spectrum and its noise model's."""
    return dict(net=net_index, seed=p["pre_seeds"][net_index], lambda_max=spec["lambda_max"],
                participation_ratio=spec["participation_ratio"], trace=spec["trace"],
                trace_sq=spec["trace_sq"],
                L_star=float(pre["loss"][net_index]), bulk_h=float(h_model[-1]),
                bulk_m=int(m_model[-1]), model_participation_ratio=float(
                    np.sum(m_model * h_model) ** 2 / np.sum(m_model * h_model**2)))


def _transient(p, pre, data, K, nets, *, seed) -> tuple[list[dict], list[dict]]:
    """The paper's protocol on the first net: from θ* at β = ``transient_beta``, a
    transient; its rows (t_p, Weibull shape per threshold) and the Kaplan–Meier survival
    rows of two thresholds."""
    net_index = p["nets"][0]
    net = pre["params"].model(net_index).cpu()
    lam = nets[0]["lambda_max"]
    eta = p["B"] / (p["transient_beta"] * lam)
    ct = np.geomspace(1.02, 3.0, 16)
    tr = _brute(net, data, K, eta=eta, B=p["B"], burn=0, steps=p["transient_steps"],
                replicas=p["brute_replicas"], thresholds=ct * nets[0]["L_star"], seed=seed)
    trans, surv = [], []
    for j, c in enumerate(ct):
        f = tr["first_passage"][:, j]
        obs = f >= 0
        t = np.where(obs, f, tr["steps_run"]).astype(float)
        k, k_se = _weibull(t, obs)
        mean, se = exponential_mle(t, obs) if obs.any() else (float("nan"), float("nan"))
        trans.append(dict(net=net_index, beta=p["transient_beta"], eta=eta, eta_lambda=eta * lam,
                          c=float(c), crossings=int(obs.sum()), replicas=int(f.size), t_p=mean,
                          t_p_stderr=se, median_step=float(np.median(f[obs])) if obs.any()
                          else float("nan"), weibull_k=k, weibull_k_stderr=k_se))
        if obs.sum() >= 3 and j in (0, len(ct) // 2):
            km = kaplan_meier(t, obs)
            surv += [dict(net=net_index, beta=p["transient_beta"], regime="transient",
                          c=float(c), t=float(tt), S=float(s), S_exponential=float(np.exp(-tt / mean)))
                     for tt, s in zip(km.t, km.survival)]
    return trans, surv


def _summary(out, p, fits, brute_rows, trans, runs, nets, cost, seconds, mem) -> None:
    net0, beta0 = p["nets"][0], p["betas"][0]
    first = {f["system"]: f for f in fits if f["net"] == net0 and f["beta"] == beta0}
    out.measured["slope"] = Measured(first["net"]["slope"], first["net"]["slope_stderr"])
    out.measured["slope_model"] = Measured(first["noise model"]["slope"])
    out.measured["slope_stderr_model"] = Measured(first["noise model"]["slope_stderr"])
    out.theory["slope"] = first["net"]["slope_eq15"]
    for key, system in (("n_fit", "net"), ("n_fit_model", "noise model")):
        ok = [f for f in fits if f["system"] == system and np.isfinite(f["n_fit_stderr"])
              and f["n_fit_stderr"] > 0]
        if ok:
            out.measured[key] = Measured.weighted_mean([f["n_fit"] for f in ok],
                                                       [f["n_fit_stderr"] for f in ok])
        else:
            out.measured[key] = Measured(float("nan"))
    # n under the assumption that the net departs from paper Eq. (15) as the noise model on its own
    # spectrum does (unequal curvatures bias the inversion n = 2(β + 1 − slope) alike)
    cal, cal_se = [], []
    for f in fits:
        if f["system"] != "net":
            continue
        m = next(g for g in fits if g["system"] == "noise model" and g["net"] == f["net"]
                 and g["beta"] == f["beta"])
        se = 2 * np.hypot(f["slope_stderr"], m["slope_stderr"])
        if np.isfinite(se) and se > 0:
            cal.append(f["participation_ratio"] + 2 * (m["slope"] - f["slope"]))
            cal_se.append(se)
    if cal:
        out.measured["n_calibrated"] = Measured.weighted_mean(cal, cal_se)
    else:
        out.measured["n_calibrated"] = Measured(float("nan"))
    diffs, dses = [], []
    for net_index in p["nets"]:
        sel = [f for f in fits if f["net"] == net_index and f["system"] == "net"
               and np.isfinite(f["slope_stderr"])]
        for a, b in zip(sel[:-1], sel[1:]):
            diffs.append((b["slope"] - a["slope"]) / (b["beta"] - a["beta"]))
            dses.append(np.hypot(a["slope_stderr"], b["slope_stderr"]) / (b["beta"] - a["beta"]))
    if diffs:
        out.measured["slope_difference_per_beta"] = Measured.weighted_mean(diffs, dses)
    else:
        out.measured["slope_difference_per_beta"] = Measured(float("nan"))
    out.measured["decades"] = Measured(min(f["decades"] for f in fits if f["system"] == "net"))
    out.measured["decades_model"] = Measured(min(f["decades"] for f in fits
                                                 if f["system"] == "noise model"))
    z = [abs(r["z"]) for r in brute_rows if np.isfinite(r["z"]) and r["rare"]]
    out.measured["brute_z_max"] = Measured(max(z) if z else float("nan"))
    kk = [(r["weibull_k"], r["weibull_k_stderr"]) for r in brute_rows
          if np.isfinite(r["weibull_k_stderr"]) and r["rare"]]
    if kk:
        out.measured["weibull_k_escape"] = Measured.weighted_mean(*np.array(kk).T)
        out.measured["weibull_power_k2"] = Measured(float(min(
            r["power_k2"] for r in brute_rows if np.isfinite(r["power_k2"]) and r["rare"])))
    else:
        out.measured["weibull_k_escape"] = out.measured["weibull_power_k2"] = Measured(float("nan"))
    kt = [r for r in trans if np.isfinite(r["weibull_k_stderr"]) and r["crossings"] >= 3
          and r["median_step"] >= 2]
    out.measured["weibull_k_transient"] = (Measured(kt[0]["weibull_k"], kt[0]["weibull_k_stderr"])
                                           if kt else Measured(float("nan")))
    r0 = runs[0]
    out.measured["qs_loss_ratio"] = Measured(r0["qs_mean"], r0["qs_mean_stderr"])
    out.measured["qs_loss_ratio_model"] = Measured(r0["model_qs_mean"], r0["model_qs_mean_stderr"])
    out.theory["qs_loss_ratio_model_exact"] = r0["model_qs_mean_exact"]
    out.measured["lambda_max"] = Measured(nets[0]["lambda_max"])
    out.measured["participation_ratio"] = Measured(nets[0]["participation_ratio"])
    out.measured["pretrained_loss"] = Measured(nets[0]["L_star"])
    out.measured["cost_replica_steps"] = Measured(float(cost))
    out.measured["seconds_net"] = Measured(seconds)
    out.measured["records_memory_mb"] = Measured(mem)
    out.reference.update(PAPER)
    out.notes.append(
        f"pretrained {p['pre_steps']} steps (paper: 1e5); nets {p['nets']}; quasi-stationary "
        f"state after {p['burn_relax']:g} relaxation times 1/(eta lambda_1) at the run's (eta, B), "
        f"sampled over {p['window_relax']:g} more; splitting: {p['repetitions']} repetitions of "
        f"{p['replicas']} replicas (noise model: {p['model_repetitions']} of "
        f"{p['model_replicas']}); slope window: the thresholds with t_p >= {MIN_RELAX:g} "
        f"relaxation times that the repetitions resolve")
