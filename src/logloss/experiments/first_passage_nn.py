"""Experiment ``first-passage-nn``: escape of the pretrained 784-10-1 MLP on MNIST even/odd
(Fig. 3c, R10), from the B = 10 quasi-stationary state, with h* and n measured on our nets.

Two regimes are run for every net:

* **escape** (the regime of Theorem 4.7): every replica is first equilibrated at the run's
  own (η, B) for ``burn`` steps, so that it starts from the quasi-stationary state of that
  (η, B), and β = B/(ηλ₁) is large (ηλ₁ ≪ 1).  Thresholds whose first passage is memoryless
  (Kaplan–Meier survival consistent with an exponential, censored Weibull shape k ≈ 1),
  long compared with the relaxation and crossed often enough are fitted; the others are
  flagged.
* **transient** (the paper's protocol): replicas start at θ* of the B = 100 pretraining and
  run at β = 6 (ηλ₁ ≈ 1.7); their first passages are the relaxation to the noisier B = 10
  state, with a nearly deterministic duration (Weibull k ≫ 1).

Every run reports ηλ₁ and the per-step relative loss kick η² tr H²/B.  Assumption 4.6 is
measured at the end of the burn-in as the fraction of the displacement θ − θ* (and of
(θ − θ*)ᵀH*(θ − θ*)) in the top-n eigenspace of H*.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.cache import cached, shaped
from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import NUMBA_RATE, Cost
from ..core.validation import check_noisy_batch
from ..data import mnist_even_odd
from ..dynamics.mlp_sgd import replica_losses, replicate, sgd_mlp
from ..dynamics.pretrain import pretrain
from ..measure.subspace import flat_params, gauss_newton_quadratic, subspace_fractions
from ..stats.first_passage import exponential_mle, fit_slope
from ..stats.survival import kaplan_meier, weibull_shape
from ..theory import escape_exponent
from ._cost import F4
from ._registry import Outcome, RunContext, experiment
from ._shared import (
    NET_PARAMS,
    PAPER,
    check_pretraining,
    check_thresholds,
    pretrain_cost,
    pretrained_spectrum,
    spectrum_cost,
)

NN_PRESETS = {
    # smoke: 32 replicas and ≥ 10 crossings per fitted threshold, as in the book, so that a
    # bootstrap resample of the replicas almost never leaves a fitted threshold uncrossed
    "smoke": dict(n=10_000, pre_steps=2_000, pre_seeds=[0], nets=[0], B=10, betas=[15.0, 25.0],
                  replicas=32, burn=500, steps=300, c_min=1.02, c_max=1.6, n_c=16, k=10,
                  transient_beta=6.0, transient_steps=150, min_crossings=10, min_t=10.0, n_sub=9),
    "book": dict(n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], nets=[0, 1], B=10,
                 betas=[15.0, 25.0], replicas=32, burn=4_000, steps=2_500, c_min=1.02,
                 c_max=1.6, n_c=24, k=30, transient_beta=6.0, transient_steps=300,
                 min_crossings=10, min_t=50.0, n_sub=9),
    "paper": dict(n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2, 3, 4], nets=[0, 1, 2], B=10,
                  betas=[15.0, 25.0, 35.0], replicas=100, burn=20_000, steps=50_000,
                  c_min=1.02, c_max=2.0, n_c=30, k=30, transient_beta=6.0,
                  transient_steps=300, min_crossings=20, min_t=100.0, n_sub=9),
}


def _run(net, data, K, *, eta, B, burn, steps, replicas, thresholds, seed, device):
    """Burn-in at (η, B), then monitored first passage on ``device``; cached (long runs are
    shared).  What it returns lives on the CPU."""
    def make():
        rng = np.random.default_rng(seed)
        p = replicate(net, replicas).to(device)
        x, y = data.x.to(device), data.y.to(device)
        if burn:
            sgd_mlp(p, x, y, eta=eta, B=B, steps=burn, rng=rng, threads=1)
        start = [t.cpu().clone() for t in (p.W1, p.b1, p.w2, p.b2)]
        L0 = replica_losses(p, x, y).cpu().numpy()
        run = sgd_mlp(p, x, y, eta=eta, B=B, steps=steps, rng=rng,
                      thresholds=thresholds, gram=K.to(device), threads=1)
        return dict(start=start, L0=L0, first_passage=run.first_passage, steps_run=run.steps_run)

    W = net[0].weight.detach()
    key = dict(eta=float(eta), B=B, burn=burn, steps=steps, replicas=replicas, seed=int(seed),
               thresholds=[float(t) for t in thresholds], w=float(W.double().sum()),
               w2=float(W.double().square().sum()), device=str(device))
    R, T, A = replicas, len(thresholds), np.ndarray
    start = [shaped(torch.Tensor, R, *t.shape) for t in (W, net[0].bias, net[2].weight[0],
                                                         net[2].bias[0])]
    spec = {"start": lambda ts: isinstance(ts, list) and len(ts) == 4 and all(
                check(t) for check, t in zip(start, ts)),
            "L0": shaped(A, R), "first_passage": shaped(A, R, T), "steps_run": shaped(A, R)}
    return cached("nn-escape-run", key, make, spec=spec)


def _threshold_stats(c, fp, steps_run, *, min_crossings, min_t):
    """Per threshold: crossings, exponential MLE, Weibull shape, and the fit verdict."""
    rows = []
    for j, cj in enumerate(c):
        obs = fp[:, j] >= 0
        t = np.where(obs, fp[:, j], steps_run).astype(float)
        d = int(obs.sum())
        mean, se = exponential_mle(t, obs)
        first_step = float(np.mean(fp[:, j] == 1))
        try:
            w = weibull_shape(t, obs, offset=0.5)
            k, k_se = w.shape, w.shape_stderr
        except InvalidInput:
            k, k_se = float("nan"), float("nan")
        if d < min_crossings:
            verdict = "flagged: few crossings"
        elif mean < min_t:
            verdict = "relaxation: t_p below the rare-event floor"
        elif not (abs(k - 1) < 3 * k_se):
            verdict = "not memoryless (Weibull k != 1)"
        else:
            verdict = "escape"
        rows.append(dict(c=float(cj), crossings=d, replicas=int(fp.shape[0]), t_p=mean,
                         t_p_stderr=se, weibull_k=k, weibull_k_stderr=k_se,
                         crossed_at_step_1=first_step, verdict=verdict,
                         fitted=verdict == "escape",
                         extrapolation=float(mean / max(steps_run.max(), 1))))
    return rows


def _window(rows):
    """The longest contiguous run of 'escape' thresholds (indices), or None if < 3."""
    best, cur = [], []
    for i, r in enumerate(rows):
        cur = cur + [i] if r["fitted"] else []
        if len(cur) > len(best):
            best = cur
    return best if len(best) >= 3 else None


def _km_rows(c, fp, steps_run, rows, tag, **extra):
    out = []
    chosen = [i for i, r in enumerate(rows) if r["crossings"] >= 3]
    if not chosen:
        return out
    picks = sorted({chosen[0], chosen[len(chosen) // 2], chosen[-1]})
    for j in picks:
        obs = fp[:, j] >= 0
        t = np.where(obs, fp[:, j], steps_run).astype(float)
        km = kaplan_meier(t, obs)
        for tt, s, se in zip(km.t, km.survival, km.stderr):
            out.append(dict(regime=tag, c=float(c[j]), t=float(tt), S=float(s),
                            S_stderr=float(se), S_exponential=float(np.exp(-tt / rows[j]["t_p"])),
                            **extra))
    return out


def _validate(p: dict) -> None:
    check_pretraining(p)
    check_noisy_batch(p["B"], p["n"])
    check_thresholds(p)
    bad = [i for i in p["nets"] if i >= len(p["pre_seeds"])]
    if bad:
        raise InvalidInput(f"nets={','.join(map(str, p['nets']))}: there are only "
                           f"{len(p['pre_seeds'])} pretrained nets (one per entry of pre_seeds), "
                           f"indices 0..{len(p['pre_seeds']) - 1}")
    if p["k"] > NET_PARAMS:
        raise InvalidInput(f"k={p['k']} exceeds the P = {NET_PARAMS} parameters of the "
                           "784-10-1 net")


def _cost(p: dict) -> Cost:
    """Pretraining and spectra, the data Gram matrix K = XXᵀ (n × n, float32), and per
    (net, β) a burn-in and a monitored run: the replicas' pre-activations (R × h × n)
    updated through K at every step."""
    n, R, B = float(p["n"]), float(p["replicas"]), float(p["B"])
    runs = len(p["nets"]) * len(p["betas"]) + 1
    monitored = R * (p["steps"] + p["transient_steps"] / runs) * (n * B * 10 * 3) / NUMBA_RATE
    burn = R * p["burn"] * B * 150 * 10 * 4 / NUMBA_RATE
    gram = n * n * F4  # held from the pretraining on
    run = Cost(memory=2 * R * 10 * n * F4, seconds=runs * (monitored + burn))
    spectra = spectrum_cost(n, p["k"])
    pre = pretrain_cost(p)
    return Cost(gram + max(pre.memory, spectra.memory, run.memory + n * 784 * F4),
                pre.seconds + len(p["nets"]) * spectra.seconds + run.seconds,
                "n, pre_steps, replicas, steps, burn")


@experiment("first-passage-nn",
            description="Escape of the pretrained 784-10-1 MLP from the B=10 quasi-stationary state (Fig. 3c, R10)",
            presets=NN_PRESETS,
    measured=('slope', 'slope_difference_per_beta', 'n_fit', 'n_fit_minus_participation_ratio',
              'weibull_k_escape',
              'weibull_k_transient', 'displacement_fraction', 'curvature_fraction',
              'lambda_max', 'participation_ratio', 'pretrained_loss', 'censored'),
    theory=('slope', 'slope_difference_per_beta', 'displacement_fraction_isotropic'),
    reference=('lambda_max', 'participation_ratio', 'n_fit', 'pretrained_loss'),
    tables=('first_passage', 'slopes', 'runs', 'survival', 'transient', 'nets'),
    checks=dict(pre_seeds="seed distinct", nets=">=0 distinct", betas=">0 distinct", c_min=">1", c_max=">1",
                n_c=">1"),
    cost=_cost,
    validate=_validate,
)
def run_nn(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    out = Outcome(device=ctx.device)  # pretraining and the SGD runs; the rest on the CPU
    data = mnist_even_odd(p["n"])
    pre = pretrain(n=p["n"], steps=p["pre_steps"], seeds=p["pre_seeds"], device=ctx.device)
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    K = data.x @ data.x.T
    fp_rows, fits, runs, surv, trans, nets = [], [], [], [], [], []
    disp_all, curv_all = [], []
    for net_index in p["nets"]:
        net = pre["params"].model(net_index).cpu()
        spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                                   index=net_index, k=p["k"], device=ctx.device)
        h_star, n_pr = spec["lambda_max"], spec["participation_ratio"]
        trH2 = spec["trace_sq"]
        L_star = float(replica_losses(replicate(net, 1), data.x, data.y)[0])
        theta_star = flat_params(*(t for t in (replicate(net, 1).W1, replicate(net, 1).b1,
                                               replicate(net, 1).w2, replicate(net, 1).b2)))
        V = spec["eigenvectors"].astype(np.float64)
        hs = np.asarray(spec["eigenvalues"], dtype=float)
        for beta in p["betas"]:
            eta = p["B"] / (beta * h_star)
            seed = int(rng.integers(2**31))
            res = _run(net, data, K, eta=eta, B=p["B"], burn=p["burn"], steps=p["steps"],
                       replicas=p["replicas"], thresholds=c * L_star, seed=seed, device=ctx.device)
            fp, steps_run = res["first_passage"], res["steps_run"]
            rows = _threshold_stats(c, fp, steps_run, min_crossings=p["min_crossings"],
                                    min_t=p["min_t"])
            run_id = len(runs)
            fp_rows += [dict(r, run=run_id, net=net_index, beta=beta, eta=eta) for r in rows]
            surv += _km_rows(c, fp, steps_run, [r for r in rows], "escape", run=run_id,
                             net=net_index, beta=beta)
            # Assumption 4.6 at the end of the burn-in
            W1, b1, w2, b2 = res["start"]
            delta = (flat_params(W1, b1, w2, b2) - theta_star).double().numpy()
            R = W1.shape[0]
            quad = gauss_newton_quadratic(net[0].weight.detach(), net[0].bias.detach(),
                                          net[2].weight.detach()[0], W1 - net[0].weight.detach(),
                                          b1 - net[0].bias.detach(), w2 - net[2].weight.detach()[0],
                                          b2 - net[2].bias.detach()[0], data.x)
            disp, curv = subspace_fractions(delta, V, hs, quad, p["n_sub"])
            disp_all.append(disp)
            curv_all.append(curv)
            win = _window(rows)
            slope = slope_se = float("nan")
            if win is not None:
                # least squares of log t̂ (exponential MLE) on log c over the window, with
                # the standard error from a bootstrap of the replicas: the thresholds share
                # replicas, and an error that treats them as independent came out half the
                # seed-to-seed spread of the slope (measured over four seeds)
                try:
                    fit = fit_slope(c, fp, steps_run, window=(c[win[0]], c[win[-1]]),
                                    rng=np.random.default_rng([seed, 1]), method="exponential")
                    slope, slope_se = fit.slope, fit.slope_stderr
                except InvalidInput as err:  # a resample left a window threshold uncrossed
                    out.notes.append(f"net {net_index}, beta {beta:g}: no slope fitted ({err})")
            theory = escape_exponent(B=p["B"], eta=eta, h=h_star, n=n_pr)
            L0 = res["L0"] / L_star
            runs.append(dict(run=run_id, net=net_index, beta=beta, eta=eta,
                             eta_lambda=eta * h_star, kick=eta**2 * trH2 / p["B"],
                             qs_ratio_median=float(np.median(L0)),
                             qs_ratio_p90=float(np.percentile(L0, 90)),
                             displacement_fraction=float(disp.mean()),
                             displacement_fraction_stderr=float(disp.std(ddof=1) / np.sqrt(R)),
                             curvature_fraction=float(curv.mean()),
                             curvature_fraction_stderr=float(curv.std(ddof=1) / np.sqrt(R)),
                             fitted_thresholds=0 if win is None else len(win),
                             flagged_thresholds=sum(r["verdict"].startswith("flagged") for r in rows),
                             steps=p["steps"], burn=p["burn"], replicas=p["replicas"]))
            fits.append(dict(run=run_id, net=net_index, seed=p["pre_seeds"][net_index], eta=eta,
                             beta=beta, eta_lambda=eta * h_star, kick=eta**2 * trH2 / p["B"],
                             lambda_max=h_star, participation_ratio=n_pr, L_star=L_star,
                             slope=slope, slope_stderr=slope_se, slope_theory=theory,
                             slope_theory_n9=escape_exponent(B=p["B"], eta=eta, h=h_star,
                                                             n=PAPER["n_fit"]),
                             n_fit=2 * (beta + 1 - slope), n_fit_stderr=2 * slope_se,
                             window_lo=float(c[win[0]]) if win else float("nan"),
                             window_hi=float(c[win[-1]]) if win else float("nan")))
        nets.append(dict(net=net_index, seed=p["pre_seeds"][net_index], lambda_max=h_star,
                         participation_ratio=n_pr, trace_sq=trH2, L_star=L_star))
    # The paper's protocol on the first net: from θ* at β = 6, a transient.
    net_index = p["nets"][0]
    net = pre["params"].model(net_index)
    h_star = nets[0]["lambda_max"]
    eta = p["B"] / (p["transient_beta"] * h_star)
    ct = np.geomspace(1.02, 3.0, 16)
    res = _run(net, data, K, eta=eta, B=p["B"], burn=0, steps=p["transient_steps"],
               replicas=p["replicas"], thresholds=ct * nets[0]["L_star"],
               seed=int(rng.integers(2**31)), device=ctx.device)
    rows = _threshold_stats(ct, res["first_passage"], res["steps_run"],
                            min_crossings=p["min_crossings"], min_t=p["min_t"])
    for r, j in zip(rows, range(len(ct))):
        f = res["first_passage"][:, j]
        r.update(net=net_index, beta=p["transient_beta"], eta=eta, eta_lambda=eta * h_star,
                 kick=eta**2 * nets[0]["trace_sq"] / p["B"],
                 median_step=float(np.median(f[f >= 0])) if (f >= 0).any() else float("nan"))
    trans = rows
    surv += _km_rows(ct, res["first_passage"], res["steps_run"], rows, "transient", run=-1,
                     net=net_index, beta=p["transient_beta"])
    out.tables.update(first_passage=fp_rows, slopes=fits, runs=runs, survival=surv,
                      transient=trans, nets=nets)
    # Summary
    main = fits[0]
    out.measured["slope"] = Measured(main["slope"], main["slope_stderr"])
    out.theory["slope"] = main["slope_theory"]
    diffs, dses = [], []
    for net_index in p["nets"]:
        sel = [f for f in fits if f["net"] == net_index and np.isfinite(f["slope"])]
        for a, b in zip(sel[:-1], sel[1:]):
            diffs.append((b["slope"] - a["slope"]) / (b["beta"] - a["beta"]))
            dses.append(np.hypot(a["slope_stderr"], b["slope_stderr"]) / (b["beta"] - a["beta"]))
    if diffs:
        w = 1 / np.array(dses) ** 2
        out.measured["slope_difference_per_beta"] = Measured(float((w * diffs).sum() / w.sum()),
                                                             float(w.sum() ** -0.5))
    else:
        out.measured["slope_difference_per_beta"] = Measured(float("nan"))
    out.theory["slope_difference_per_beta"] = 1.0
    # n implied by each run's slope, and its difference from the participation ratio of
    # that run's own net, both weighted over runs by 1/s.e.²
    pr_of = {n["net"]: n["participation_ratio"] for n in nets}
    ok = [f for f in fits if np.isfinite(f["n_fit"])]
    for key, value in (("n_fit", lambda f: f["n_fit"]),
                       ("n_fit_minus_participation_ratio", lambda f: f["n_fit"] - pr_of[f["net"]])):
        if ok:
            w = 1 / np.array([f["n_fit_stderr"] for f in ok]) ** 2
            v = np.array([value(f) for f in ok])
            out.measured[key] = Measured(float((w * v).sum() / w.sum()), float(w.sum() ** -0.5))
        else:
            out.measured[key] = Measured(float("nan"))
    fitted = [r for r in fp_rows if r["fitted"]]
    kk = np.array([r["weibull_k"] for r in fitted])
    out.measured["weibull_k_escape"] = (Measured(float(kk.mean()), float(kk.std(ddof=1) / np.sqrt(len(kk))))
                                        if len(kk) > 1 else Measured(float("nan")))
    kt = np.array([r["weibull_k"] for r in trans if np.isfinite(r["weibull_k"]) and r["crossings"] >= 3])
    out.measured["weibull_k_transient"] = Measured(float(np.median(kt)) if len(kt) else float("nan"))
    disp_all, curv_all = np.concatenate(disp_all), np.concatenate(curv_all)
    out.measured["displacement_fraction"] = Measured(float(disp_all.mean()),
                                                     float(disp_all.std(ddof=1) / np.sqrt(disp_all.size)))
    out.measured["curvature_fraction"] = Measured(float(curv_all.mean()),
                                                  float(curv_all.std(ddof=1) / np.sqrt(curv_all.size)))
    out.theory["displacement_fraction_isotropic"] = p["n_sub"] / float(theta_star.shape[1])
    out.measured["lambda_max"] = Measured(nets[0]["lambda_max"])
    out.measured["participation_ratio"] = Measured(nets[0]["participation_ratio"])
    out.measured["pretrained_loss"] = Measured(nets[0]["L_star"])
    out.measured["censored"] = Measured(float(sum(r["replicas"] - r["crossings"] for r in fp_rows)))
    out.reference.update(PAPER)
    out.notes.append(f"pretrained {p['pre_steps']} steps (paper: 1e5); escape runs: burn-in "
                     f"{p['burn']} steps at the run's (eta, B), then {p['steps']} monitored steps, "
                     f"{p['replicas']} replicas; fitted thresholds: >= {p['min_crossings']} "
                     f"crossings, t_p >= {p['min_t']} steps, Weibull |k-1| < 3 s.e.; "
                     f"nets (pretraining seeds) {p['nets']}")
    return out
