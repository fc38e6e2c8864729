"""Experiments of the escape chapter (R9–R12).

* ``first-passage-linreg``: mean first-passage time t_p against c in linear regression
  (Fig. 3b), slopes fitted on a window declared from theory alone, against
  B/(ηh*) + 1 − d/2;
* ``first-passage-nn``: the same for the pretrained 784-10-1 network (Fig. 3c), with h*
  and n measured on our own pretrained net;
* ``hessian-outliers``: Gauss–Newton spectrum, λ₁ and participation ratio (Fig. 6), for
  our pretrained nets (several seeds) or for the reader's saved model and data;
* ``critical-dimension``: linear regression with d below and above n_c (Eq. 16).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import plotting
from ..data import mnist_even_odd
from ..experiment import Measured, Outcome, Result, experiment
from ..first_passage import fit_slope, mean_first_passage
from ..hessian import hessian_outliers, jacobian, spectral_density
from ..linreg import make_linear_regression
from ..nn_kernel import replica_losses, replicate, sgd_mlp
from ..pretrain import pretrain
from ..sgd_linreg import sgd_linreg
from ..theory import (
    critical_dimension,
    escape_exponent,
    escape_exponent_exact_noise,
    radial_mfpt,
)

# Paper values (App. E, Sec. 5.3.2) printed next to ours.
PAPER = {"lambda_max": 95.6, "participation_ratio": 12.7, "n_fit": 9.0, "pretrained_loss": 0.035}


def declared_window(c_lo: float, decades: float, slope_theory: float) -> tuple[float, float]:
    """The slope-fit window [c_lo, c_lo·10^(decades/s)], fixed by theory before any data.

    It spans ``decades`` decades of t_p if t_p ∝ c^s with the theory slope s.
    """
    s = max(slope_theory, 0.5)
    return c_lo, c_lo * 10 ** (decades / s)


def _fp_rows(c, fp, budget, window, fit, theory, **extra):
    est = mean_first_passage(fp, budget)
    rows = []
    for cj, e, used in zip(c, est, fit.used):
        rows.append(dict(**extra, c=float(cj), t_p=e.mean, t_p_stderr=e.stderr,
                         censored=e.censored, replicas=e.replicas, estimator=e.method,
                         in_window=bool(used)))
    return rows


# ---------------------------------------------------------------- linear regression (R9)

LINREG_PRESETS = {
    "smoke": dict(N=10_000, B=1, eta=0.1, ds=[1, 10], replicas=20, steps=200_000,
                  c_min=1.05, c_max=30.0, n_c=16, c_lo=1.5, decades=2.0, N_large=0, d_large=1),
    "book": dict(N=10_000, B=1, eta=0.1, ds=[1, 4, 10, 16], replicas=50, steps=300_000,
                 c_min=1.05, c_max=30.0, n_c=24, c_lo=1.5, decades=3.0, N_large=100_000,
                 d_large=1),
    "paper": dict(N=10_000, B=1, eta=0.1, ds=[1, 2, 4, 6, 10, 16], replicas=100,
                  steps=20_000_000, c_min=1.05, c_max=30.0, n_c=30, c_lo=1.5, decades=3.0,
                  N_large=100_000, d_large=1),
}


def plot_linreg(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.6)
    ax = axes[0]
    rows = result.tables["first_passage"]
    for i, d in enumerate(result.params["ds"]):
        _plot_fp(ax, [r for r in rows if r["d"] == d and r["N"] == result.params["N"]],
                 result.theory[f"slope_d{d}"], f"C{i}", f"d={d}")
    if result.params["N_large"]:
        d = result.params["d_large"]
        _plot_fp(ax, [r for r in rows if r["N"] == result.params["N_large"]], None, "0.4",
                 f"d={d}, N={result.params['N_large']:.0e}", marker="s", mfc="none")
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="mean first-passage time $t_p$ (steps)")
    ax.legend(ncol=2, loc="upper left")
    return plotting.stamp(fig, result)


def _plot_fp(ax, rows, slope, color, label, *, other_slope=None, **kw):
    c = np.array([r["c"] for r in rows])
    t = np.array([r["t_p"] for r in rows], dtype=float)
    se = np.array([r["t_p_stderr"] for r in rows], dtype=float)
    cens = np.array([r["censored"] for r in rows])
    inw = np.array([r["in_window"] for r in rows])
    ok = np.isfinite(t)
    ax.errorbar(c[ok & (cens == 0)], t[ok & (cens == 0)], yerr=se[ok & (cens == 0)],
                fmt=kw.pop("marker", "o"), ms=3.5, color=color, label=label, **kw)
    part = ok & (cens > 0)
    if part.any():  # censored thresholds (exponential MLE): open markers
        ax.errorbar(c[part], t[part], yerr=se[part], fmt="^", ms=4, color=color, mfc="none")
    if slope is not None and inw.any():
        cw = c[inw & ok]
        tw = t[inw & ok]
        if len(cw):
            anchor = np.exp(np.mean(np.log(tw)) - slope * np.mean(np.log(cw)))
            grid = np.geomspace(cw.min() / 1.3, cw.max() * 1.3, 20)
            ax.plot(grid, anchor * grid**slope, "--", color=plotting.THEORY_COLOR, lw=1)
            if other_slope is not None:
                anchor = np.exp(np.mean(np.log(tw)) - other_slope * np.mean(np.log(cw)))
                ax.plot(grid, anchor * grid**other_slope, ":", color=color, lw=1.2)


@experiment("first-passage-linreg",
            description="Mean first-passage time t_p against c in linear regression (Fig. 3b, R9)",
            presets=LINREG_PRESETS, plot=plot_linreg)
def run_linreg(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    rows, fits = [], []
    cases = [(p["N"], d) for d in p["ds"]]
    if p["N_large"]:
        cases.append((p["N_large"], p["d_large"]))
    for N, d in cases:
        prob = make_linear_regression(N, d, rng)
        hs = np.linalg.eigvalsh(prob.hessian)
        h_star = float(hs.mean())
        theory = escape_exponent(p["B"], p["eta"], h_star, d)
        # Spread of the slope from the spread of the Hessian eigenvalues (finite N):
        h_spread = 0.5 * p["B"] / p["eta"] * (1 / hs.min() - 1 / hs.max())
        window = declared_window(p["c_lo"], p["decades"], theory)
        run = sgd_linreg(prob, eta=p["eta"], B=p["B"], steps=p["steps"], replicas=p["replicas"],
                         seed=int(rng.integers(2**31)), thresholds=c * prob.L_star)
        fit = fit_slope(c, run.first_passage, run.steps, window=window, rng=rng)
        rows += _fp_rows(c, run.first_passage, run.steps, window, fit, theory, d=d, N=N)
        # The SDE's exact mean first-passage time (radial quadrature), with the paper's
        # decoupled noise and with the exact Gaussian-data noise, on the same window.
        sde = {}
        for name, exact in (("paper", False), ("exact", True)):
            T = radial_mfpt(c, eta=p["eta"], B=p["B"], d=d, h=h_star, L_star=prob.L_star,
                            exact_noise=exact)
            x, y = np.log(c[fit.used]), np.log(T[fit.used])
            sde[name] = float(np.polyfit(x, y, 1)[0])
            out.arrays[f"sde_{name}_d{d}_N{N}"] = T
        tag = f"d{d}" if N == p["N"] else f"d{d}_N{N}"
        cens = int(sum(e.censored for e, u in zip(fit.estimates, fit.used) if u))
        fits.append(dict(d=d, N=N, h_star=h_star, slope=fit.slope, slope_stderr=fit.slope_stderr,
                         slope_theory=theory, slope_sde_paper=sde["paper"],
                         slope_sde_exact=sde["exact"],
                         slope_asymptotic_exact=escape_exponent_exact_noise(p["B"], p["eta"], h_star, d),
                         h_spread=h_spread, window_lo=window[0],
                         window_hi=window[1], censored_in_window=cens,
                         z=(fit.slope - theory) / fit.slope_stderr))
        out.measured[f"slope_{tag}"] = Measured(fit.slope, fit.slope_stderr)
        out.theory[f"slope_{tag}"] = theory
        out.theory[f"slope_sde_exact_{tag}"] = sde["exact"]
        out.measured[f"censored_{tag}"] = Measured(cens)
    out.arrays["c"] = c
    out.tables["first_passage"] = rows
    out.tables["slopes"] = fits
    main = fits[0]
    out.measured["slope"] = Measured(main["slope"], main["slope_stderr"])
    out.theory["slope"] = main["slope_theory"]
    out.measured["censored"] = Measured(sum(r["censored"] for r in rows))
    out.notes.append(f"{p['replicas']} replicas per d, budget {p['steps']} steps; censored "
                     "thresholds use the exponential MLE (open triangles)")
    return out


# ---------------------------------------------------------------- neural network (R10, R11)


def pretrained_spectrum(*, n: int, pre_steps: int, pre_seeds, index: int, k: int) -> dict:
    """Gauss–Newton spectrum of pretrained net ``index`` (cached; shared by two experiments)."""
    from ..cache import cached

    def make():
        pre = pretrain(n=n, steps=pre_steps, seeds=pre_seeds)
        spec = hessian_outliers(pre["params"].model(index), mnist_even_odd(n).x, k=k, seed=0)
        return dict(eigenvalues=spec.eigenvalues, trace=spec.trace, trace_sq=spec.trace_sq,
                    participation_ratio=spec.participation_ratio,
                    participation_ratio_stderr=spec.participation_ratio_stderr,
                    lambda_max=spec.lambda_max, method=spec.method, P=spec.P, N=spec.N,
                    loss=float(pre["loss"][index]))

    key = dict(n=n, pre_steps=pre_steps, pre_seeds=list(pre_seeds), index=index, k=k)
    return cached("gn-spectrum", key, make, code=[pretrain, hessian_outliers])


NN_PRESETS = {
    "smoke": dict(n=10_000, pre_steps=2_000, pre_seeds=[0], nets=[0], B=10, betas=[6.0], replicas=8,
                  steps=400, c_min=1.02, c_max=2.0, n_c=10, c_lo=1.1, decades=1.0, k=10),
    "book": dict(n=10_000, pre_steps=30_000, pre_seeds=[0, 1, 2], nets=[0, 1, 2], B=10,
                 betas=[6.0, 8.0, 10.0], replicas=32, steps=3_000, c_min=1.02, c_max=3.0, n_c=16, c_lo=1.2,
                 decades=1.5, k=30),
    "paper": dict(n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], nets=[0, 1, 2], B=10,
                  betas=[6.0, 8.0, 10.0, 12.0], replicas=100, steps=100_000, c_min=1.02,
                  c_max=10.0, n_c=24, c_lo=1.2, decades=2.5, k=30),
}


def plot_nn(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.6)
    ax = axes[0]
    net = result.params["nets"][0]
    rows = [r for r in result.tables["first_passage"] if r["net"] == net]
    fits = [f for f in result.tables["slopes"] if f["net"] == net]
    for i, f in enumerate(fits):
        _plot_fp(ax, [r for r in rows if r["beta"] == f["beta"]], f["slope_theory"], f"C{i}",
                 f"η={f['eta']:.3g}", other_slope=f["slope_theory_n9"])
    ax.set(xscale="log", yscale="log", xlabel="$c = L_{\\rm threshold}/L(\\theta^*)$",
           ylabel="mean first-passage time $t_p$ (steps)")
    ax.legend(loc="upper left")
    return plotting.stamp(fig, result)


@experiment("first-passage-nn",
            description="First passage of the pretrained 784-10-1 MLP on MNIST even/odd (Fig. 3c, R10)",
            presets=NN_PRESETS, plot=plot_nn)
def run_nn(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    data = mnist_even_odd(p["n"])
    pre = pretrain(n=p["n"], steps=p["pre_steps"], seeds=p["pre_seeds"])
    c = np.geomspace(p["c_min"], p["c_max"], p["n_c"])
    K = data.x @ data.x.T
    rows, fits = [], []
    for net_index in p["nets"]:
        net = pre["params"].model(net_index)
        spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                                   index=net_index, k=p["k"])
        h_star, n_pr = spec["lambda_max"], spec["participation_ratio"]
        L_star = float(replica_losses(replicate(net, 1), data.x, data.y)[0])
        for beta in p["betas"]:
            eta = p["B"] / (beta * h_star)
            theory = escape_exponent(p["B"], eta, h_star, n_pr)
            window = declared_window(p["c_lo"], p["decades"], theory)
            run = sgd_mlp(replicate(net, p["replicas"]), data.x, data.y, eta=eta, B=p["B"],
                          steps=p["steps"], rng=rng, thresholds=c * L_star, gram=K, threads=1)
            fit = fit_slope(c, run.first_passage, run.steps_run, window=window, rng=rng)
            rows += _fp_rows(c, run.first_passage, run.steps_run, window, fit, theory, eta=eta,
                             net=net_index, beta=beta)
            cens = int(sum(e.censored for e, u in zip(fit.estimates, fit.used) if u))
            n_fit = 2 * (beta + 1 - fit.slope)
            fits.append(dict(net=net_index, seed=p["pre_seeds"][net_index], eta=eta, beta=beta,
                             lambda_max=h_star, participation_ratio=n_pr, L_star=L_star,
                             slope=fit.slope, slope_stderr=fit.slope_stderr, slope_theory=theory,
                             slope_theory_n9=escape_exponent(p["B"], eta, h_star, PAPER["n_fit"]),
                             n_fit=n_fit, n_fit_stderr=2 * fit.slope_stderr, window_lo=window[0],
                             window_hi=window[1], censored_in_window=cens))
            if net_index == p["nets"][0]:
                out.measured[f"slope_beta{beta:g}"] = Measured(fit.slope, fit.slope_stderr)
                out.theory[f"slope_beta{beta:g}"] = theory
                out.measured[f"n_fit_beta{beta:g}"] = Measured(n_fit, 2 * fit.slope_stderr)
    first = [f for f in fits if f["net"] == p["nets"][0]]
    h_star, n_pr, L_star = first[0]["lambda_max"], first[0]["participation_ratio"], first[0]["L_star"]
    spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"], pre_seeds=p["pre_seeds"],
                               index=p["nets"][0], k=p["k"])
    out.tables["first_passage"] = rows
    out.tables["slopes"] = fits
    out.measured["slope"] = Measured(first[0]["slope"], first[0]["slope_stderr"])
    out.theory["slope"] = first[0]["slope_theory"]
    out.measured["censored"] = Measured(sum(r["censored"] for r in rows))
    out.measured["lambda_max"] = Measured(h_star)
    out.measured["participation_ratio"] = Measured(n_pr, spec["participation_ratio_stderr"])
    out.measured["pretrained_loss"] = Measured(L_star)
    per_net = []
    for net_index in p["nets"]:
        sel = [f for f in fits if f["net"] == net_index]
        w = np.array([f["n_fit"] for f in sel])
        wts = 1 / np.array([f["n_fit_stderr"] for f in sel]) ** 2
        per_net.append(dict(net=net_index, seed=sel[0]["seed"], lambda_max=sel[0]["lambda_max"],
                            participation_ratio=sel[0]["participation_ratio"],
                            L_star=sel[0]["L_star"], n_fit=float((w * wts).sum() / wts.sum()),
                            n_fit_stderr=float(wts.sum() ** -0.5)))
    out.tables["nets"] = per_net
    out.measured["n_fit"] = Measured(per_net[0]["n_fit"], per_net[0]["n_fit_stderr"])
    out.theory.update({k: v for k, v in PAPER.items()})
    out.notes.append(f"pretrained {p['pre_steps']} steps (paper: 1e5); eta = B/(beta*lambda_1) "
                     f"with each net's own lambda_1; {p['replicas']} replicas per eta, "
                     f"budget {p['steps']} steps; nets (pretraining seeds) {p['nets']}")
    return out


# ---------------------------------------------------------------- Hessian outliers (R11)

HESS_PRESETS = {
    "smoke": dict(model="", data="", n=2_000, pre_steps=2_000, pre_seeds=[0], k=10,
                  density_steps=30, density_probes=1),
    "book": dict(model="", data="", n=10_000, pre_steps=30_000, pre_seeds=[0, 1, 2], k=30,
                 density_steps=80, density_probes=2),
    "paper": dict(model="", data="", n=10_000, pre_steps=100_000, pre_seeds=[0, 1, 2], k=30,
                  density_steps=150, density_probes=4),
}


def _load_user(model_path: str, data_path: str):
    """The reader's model (``torch.save(model)``) and inputs (``.pt`` tensor/dict or ``.npz``)."""
    mp, dp = Path(model_path).expanduser(), Path(data_path).expanduser() if data_path else None
    if not mp.is_file():
        raise ValueError(f"model file {mp} not found (save it with torch.save(model, path))")
    model = torch.load(mp, weights_only=False)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{mp} holds a {type(model).__name__}, not a torch.nn.Module; "
                         "save the whole model with torch.save(model, path)")
    if dp is None or not dp.is_file():
        raise ValueError("give the inputs too: --set data=PATH (.pt tensor or dict with 'x', "
                         "or .npz with array 'x')")
    if dp.suffix == ".npz":
        with np.load(dp) as z:
            x = torch.from_numpy(z["x"])
    else:
        obj = torch.load(dp, weights_only=False)
        x = obj["x"] if isinstance(obj, dict) else obj
    dtype = next(model.parameters()).dtype
    return model, torch.as_tensor(x).to(dtype), f"{mp.name} on {dp.name}"


def plot_hessian(result: Result):
    fig, axes = plotting.figure(ncols=2, width=3.6, height=3.0)
    a = result.arrays
    ax = axes[0]
    bins = np.geomspace(max(a["density_nodes"][a["density_nodes"] > 0].min(), 1e-6),
                        a["top"].max() * 1.5, 40)
    ax.hist(np.clip(a["density_nodes"], bins[0], None), bins=bins, weights=a["density_counts"],
            color="C0", alpha=0.6, label="SLQ estimate (all P)")
    ax.hist(a["top"], bins=bins, histtype="step", color="C1", lw=1.5, label="Lanczos top-k")
    ax.set(xscale="log", yscale="log", xlabel="eigenvalue $h_i$", ylabel="count")
    ax.legend(loc="upper right")
    ax = axes[1]
    tops = a["top_by_seed"]
    for s in range(tops.shape[0]):
        ax.plot(np.arange(1, tops.shape[1] + 1), tops[s], "o-", ms=3, lw=0.8, label=f"seed {s}")
    if not result.params["model"]:
        ax.axhline(PAPER["lambda_max"], color=plotting.THEORY_COLOR, ls=":", lw=1,
                   label="paper $\\lambda_1$")
    ax.set(yscale="log", xlabel="index $i$", ylabel="$h_i$")
    ax.legend(loc="upper right")
    return plotting.stamp(fig, result)


@experiment("hessian-outliers",
            description="Gauss-Newton spectrum, lambda_1 and participation ratio (Fig. 6, R11); "
                        "--set model=PATH data=PATH for your own model",
            presets=HESS_PRESETS, plot=plot_hessian)
def run_hessian(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    if p["model"]:
        model, x, label = _load_user(p["model"], p["data"])
        models = [model]
        out.notes.append(f"user model: {label}")
    else:
        data = mnist_even_odd(p["n"])
        pre = pretrain(n=p["n"], steps=p["pre_steps"], seeds=p["pre_seeds"])
        models = [pre["params"].model(r) for r in range(len(p["pre_seeds"]))]
        x = data.x
        out.arrays["pretrained_loss"] = np.asarray(pre["loss"])
        out.notes.append(f"784-10-1 MLP pretrained {p['pre_steps']} steps (eta=0.01, B=100) on "
                         f"{data.name}; seeds {p['pre_seeds']}")
    rows, tops = [], []
    for s, m in enumerate(models):
        if p["model"]:
            spec = hessian_outliers(m, x, k=p["k"], seed=0)
            spec = dict(eigenvalues=spec.eigenvalues, trace=spec.trace, trace_sq=spec.trace_sq,
                        participation_ratio=spec.participation_ratio,
                        participation_ratio_stderr=spec.participation_ratio_stderr,
                        lambda_max=spec.lambda_max, method=spec.method, P=spec.P, N=spec.N,
                        loss=None)
        else:
            spec = pretrained_spectrum(n=p["n"], pre_steps=p["pre_steps"],
                                       pre_seeds=p["pre_seeds"], index=s, k=p["k"])
        top = spec["eigenvalues"][: p["k"]]
        if s == 0:
            J = jacobian(m, x)
            nodes, counts = spectral_density(J, x.shape[0], steps=p["density_steps"],
                                             probes=p["density_probes"],
                                             seed=int(rng.integers(2**31)))
            del J
            out.arrays["density_nodes"], out.arrays["density_counts"] = nodes, counts
            out.arrays["top"] = top
            out.tables["top_eigenvalues"] = [dict(i=i + 1, h=float(h)) for i, h in enumerate(top)]
        tops.append(top)
        rows.append(dict(seed=s, **{k: spec[k] for k in ("lambda_max", "trace", "trace_sq",
                                                          "participation_ratio",
                                                          "participation_ratio_stderr",
                                                          "method", "P", "N", "loss")}))
    out.arrays["top_by_seed"] = np.array(tops)
    out.tables["seeds"] = rows
    lam = np.array([r["lambda_max"] for r in rows])
    pr = np.array([r["participation_ratio"] for r in rows])
    spread = (lambda v: float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan"))
    out.measured["lambda_max"] = Measured(float(lam.mean()), spread(lam))
    out.measured["participation_ratio"] = Measured(float(pr.mean()), spread(pr))
    out.tables["top_eigenvalues_mean"] = [dict(i=i + 1, h=float(h)) for i, h in
                                          enumerate(np.array(tops).mean(0))]
    if not p["model"]:
        out.theory["lambda_max"] = PAPER["lambda_max"]
        out.theory["participation_ratio"] = PAPER["participation_ratio"]
    return out


# ---------------------------------------------------------------- critical dimension (R12)

CRIT_PRESETS = {
    "smoke": dict(N=10_000, B=1, eta=0.2, ds=[4, 20], replicas=20, steps=600, record_every=10),
    "book": dict(N=10_000, B=1, eta=0.2, ds=[4, 8, 12, 16, 20], replicas=100, steps=1_500,
                 record_every=10),
    "paper": dict(N=10_000, B=1, eta=0.2, ds=[2, 4, 6, 8, 10, 12, 14, 16, 20, 24],
                  replicas=200, steps=3_000, record_every=10),
}


def plot_critical(result: Result):
    fig, axes = plotting.figure(ncols=1, width=5.0, height=3.4)
    ax = axes[0]
    k = result.arrays["steps"]
    for i, d in enumerate(result.params["ds"]):
        ax.plot(k, result.arrays[f"median_log_ratio_d{d}"] / np.log(10), color=f"C{i}",
                label=f"d={d}")
    ax.set(xlabel="step $k$", ylabel="median $\\log_{10}[L(\\theta_k)/L(\\theta^*)]$")
    ax.legend(title=f"$n_c$={result.theory['n_c']:.3g}", ncol=2)
    return plotting.stamp(fig, result)


@experiment("critical-dimension",
            description="Linear regression with d below and above n_c = 2(B/(eta h*)+1) (Eq. 16, R12)",
            presets=CRIT_PRESETS, plot=plot_critical)
def run_critical(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    rows = []
    for d in p["ds"]:
        prob = make_linear_regression(p["N"], d, rng)
        h_star = float(np.linalg.eigvalsh(prob.hessian).mean())
        try:
            run = sgd_linreg(prob, eta=p["eta"], B=p["B"], steps=p["steps"],
                             replicas=p["replicas"], seed=int(rng.integers(2**31)),
                             record_every=p["record_every"])
            ratio = np.log(prob.loss(run.samples) / prob.L_star)  # (records, replicas)
            med = np.median(ratio, axis=1)
        except ValueError:  # θ overflowed: L grew without bound
            med = np.full(p["steps"] // p["record_every"], np.inf)
        k = np.arange(1, len(med) + 1) * p["record_every"]
        half = len(med) // 2
        # growth rate of the median log-loss over the second half (per step)
        fin = np.isfinite(med[half:])
        rate = (float(np.polyfit(k[half:][fin], med[half:][fin], 1)[0]) if fin.sum() > 2
                else float("inf"))
        n_c = critical_dimension(p["B"], p["eta"], h_star)
        # SDE prediction for the growth of log L at large L: (η h²/B)(d − n_c) per unit t = ηk.
        rows.append(dict(d=d, h_star=h_star, n_c=n_c, final_median_log10_ratio=float(med[-1] / np.log(10)),
                         growth_rate=rate, growth_rate_sde=p["eta"] ** 2 * h_star**2 * (d - n_c) / p["B"],
                         trapped=bool(rate < 1e-3)))
        out.arrays[f"median_log_ratio_d{d}"] = med
        out.arrays["steps"] = k
    out.tables["critical"] = rows
    out.theory["n_c"] = critical_dimension(p["B"], p["eta"], 1.0)
    below = [r for r in rows if r["d"] < r["n_c"]]
    above = [r for r in rows if r["d"] > r["n_c"]]
    out.measured["max_rate_below"] = Measured(max((r["growth_rate"] for r in below), default=np.nan))
    out.measured["min_rate_above"] = Measured(min((r["growth_rate"] for r in above), default=np.nan))
    return out
