"""Experiments ``time-change``, ``stationary`` and ``stationary-tail`` (R6, R7).

* ``time-change``: Eq. (12) and the time-changed Eq. (14) integrated side by side;
  their stationary exponents differ by one (App. C) and their laws agree at matched τ.
* ``stationary``: SGD on linear regression (x, y ~ N(0, 1)); φ of P ∝ L^(−φ) fitted
  for a grid of (η, B) (Fig. 3a), against φ = 1 + B/(ηh*) (Eq. 17) and the exact
  discrete-time moment prediction φ_d.
* ``stationary-tail``: the far tail of the same SGD: Hill's tail index against 2φ − 1,
  1 + B/(ηh*) and the Kesten–Goldie root.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .. import plotting, theory
from ..experiment import Measured, Outcome, Result, experiment
from ..fitting import hill_tail_index, phi_histogram, phi_mle, phi_moment
from ..linreg import make_linear_regression
from ..progress import progress
from ..sde import QuadraticMinimum, em_log_sde, em_sgd_sde
from ..sgd_linreg import sgd_linreg

# ---------------------------------------------------------------------------- time change

TC_PRESETS = {
    "smoke": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=4e-3, tau_max=60.0, replicas=100,
                  transient_replicas=1000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
    "book": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=4e-3, tau_max=400.0, replicas=200,
                 transient_replicas=4000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
    "paper": dict(eta=0.5, B=1.0, h=1.0, L_star=0.5, dt=2e-3, tau_max=2000.0, replicas=400,
                  transient_replicas=20000, u0=1.0, tau_targets=[0.05, 0.2, 0.5]),
}


def plot_time_change(result: Result):
    """(a) stationary densities of Eq. (12) and (14) and their ratio; (b) laws at matched τ."""
    a = result.arrays
    fig, axes = plotting.figure(ncols=2, width=3.6)
    ax = axes[0]
    ax.loglog(a["L_grid"], a["density_12"], "o", ms=3, label="Eq. (12), $P_s$")
    ax.loglog(a["L_grid"], a["density_14"], "s", ms=3, label=r"Eq. (14), $\tilde P_s$")
    ax.loglog(a["L_grid"], a["ratio"], "^", ms=3, label=r"ratio $P_s/\tilde P_s$")
    ref = a["ratio"][0] * a["L_grid"][0] / a["L_grid"]
    ax.loglog(a["L_grid"], ref, color=plotting.THEORY_COLOR, lw=1, ls="--",
              label=r"$\propto L^{-1}$ (App. C)")
    ax.set(xlabel=r"loss $L(\theta)$", ylabel="density per unit $L$ (arb. units)")
    ax.legend(loc="lower left")
    ax = axes[1]
    for j, tau in enumerate(result.params["tau_targets"]):
        x = np.sort(a["at_tau_12"][j])
        y = np.sort(a["at_tau_14"][j])
        p = (np.arange(x.size) + 0.5) / x.size
        ax.plot(x, p, color=f"C{j}", label=rf"$\tau={tau:g}$: Eq. (12) at $t(\tau)$")
        ax.plot(y, (np.arange(y.size) + 0.5) / y.size, color=f"C{j}", ls=":", lw=2.2,
                label="Eq. (14)")
    ax.set(xlabel=r"$u = \theta-\theta^*$", ylabel="cumulative probability")
    ax.legend(loc="upper left", fontsize=7)
    return plotting.stamp(fig, result)


@experiment(
    "time-change",
    description="Eq. (12) vs the time-changed Eq. (14): P_s ∝ L^-1 P̃_s and equal laws at matched τ (R6)",
    presets=TC_PRESETS,
    plot=plot_time_change,
)
def run_time_change(p: dict, rng: np.random.Generator) -> Outcome:
    model = QuadraticMinimum(np.array([[p["h"]]]), p["L_star"])
    eta, B, dt = p["eta"], p["B"], p["dt"]
    T = theory.temperature(eta, B, p["h"])
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
    # densities per unit L on log-spaced bins, and their ratio
    edges = model.L_star * np.geomspace(1.0, 30.0, 16)
    ha, _ = np.histogram(La, edges)
    hb, _ = np.histogram(Lb, edges)
    width = np.diff(edges)
    keep = (ha > 20) & (hb > 20)
    da, db = ha / La.size / width, hb / Lb.size / width
    L_grid = np.sqrt(edges[1:] * edges[:-1])
    out.arrays.update(L_grid=L_grid[keep], density_12=da[keep], density_14=db[keep],
                      ratio=(da / np.where(db > 0, db, np.nan))[keep])
    # the ratio's log-log slope (weighted by Poisson errors of both histograms)
    lr = np.log(da[keep] / db[keep])
    w = 1 / (1 / ha[keep] + 1 / hb[keep])
    A = np.stack([np.ones(keep.sum()), np.log(L_grid[keep])], axis=1)
    coef, *_ = np.linalg.lstsq(A * np.sqrt(w)[:, None], lr * np.sqrt(w), rcond=None)
    out.measured["ratio_slope"] = Measured(float(coef[1]))
    out.theory["ratio_slope"] = -1.0
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


# ---------------------------------------------------------------------------- stationary

ST_PRESETS = {
    "smoke": dict(eta=[0.1, 0.5, 1.0], B=[1, 2, 5, 20], d=1, N=10_000, replicas=20,
                  samples=300, thin=10, data_seed=0),
    "book": dict(eta=[0.1, 0.5, 1.0], B=[1, 2, 3, 5, 10, 20], d=1, N=100_000, replicas=100,
                 samples=2000, thin=10, data_seed=0),
    "paper": dict(eta=[0.1, 0.5, 1.0], B=[1, 2, 3, 5, 10, 20], d=1, N=100_000, replicas=20,
                  samples=10_000, thin=100, data_seed=0),
}


def fig3a_points(rows: list[dict]) -> list[dict]:
    """The rows where the moment fit has a trustworthy standard error.

    The moment fit is a mean of u²; its standard error needs E u⁴ < ∞ and the error of
    that standard error needs E u⁸ < ∞: the Kesten–Goldie tail index must exceed 8.
    """
    return [r for r in rows if r["kesten_alpha"] > 8]


def plot_stationary(result: Result):
    """Fig. 3a: φ against B for each η; fits, Eq. (17) and the exact discrete prediction."""
    rows = result.tables["phi"]
    fig, axes = plotting.figure(width=4.6, height=3.4)
    ax = axes[0]
    etas = sorted({r["eta"] for r in rows})
    for i, eta in enumerate(etas):
        sel = sorted((r for r in rows if r["eta"] == eta), key=lambda r: r["B"])
        B = np.array([r["B"] for r in sel])
        col = f"C{i}"
        ax.errorbar(B, [r["phi"] for r in sel], yerr=[2 * r["phi_stderr"] for r in sel],
                    fmt="o", ms=4, color=col, label=rf"$\eta={eta:g}$: MLE fit")
        good = [r for r in sel if r["kesten_alpha"] > 8]
        ax.errorbar([r["B"] for r in good], [r["phi_moment"] for r in good],
                    yerr=[2 * r["phi_moment_stderr"] for r in good], fmt="D", ms=5,
                    mfc="none", color=col)
        ax.plot(B, [r["phi_discrete"] for r in sel], color=col, lw=1.2)
        ax.plot(B, [r["phi_theory"] for r in sel], color=plotting.THEORY_COLOR, ls="--", lw=1)
    ax.plot([], [], "D", mfc="none", color="0.3", label="moment fit")
    ax.plot([], [], color="0.3", lw=1.2, label=r"exact discrete $\phi_d$")
    ax.plot([], [], color=plotting.THEORY_COLOR, ls="--", lw=1, label=r"$1+B/(\eta h^*)$, Eq. (17)")
    ax.set(xscale="log", yscale="log", xlabel="minibatch size $B$", ylabel=r"exponent $\phi$")
    ax.legend(loc="upper left", fontsize=7)
    return plotting.stamp(fig, result)


def _point(prob, eta, B, p, seed):
    h = float(prob.hessian[0, 0]) if prob.d == 1 else float(np.trace(prob.hessian) / prob.d)
    burn = int(np.ceil(20 / (eta * h) / p["thin"]))  # records: ≥ 20 relaxation times 1/(ηh*)
    run = sgd_linreg(prob, eta=eta, B=B, steps=(burn + p["samples"]) * p["thin"],
                     replicas=p["replicas"], seed=seed, record_every=p["thin"])
    u = run.samples[burn:] - prob.theta_star
    L = prob.L_star + 0.5 * np.einsum("nri,ij,nrj->nr", u, prob.hessian, u)
    mle = phi_mle(L, prob.L_star, prob.d)
    mom = phi_moment(L, prob.L_star, prob.d)
    row = dict(eta=eta, B=B, phi=mle.value, phi_stderr=mle.stderr,
               phi_moment=mom.value, phi_moment_stderr=mom.stderr,
               phi_theory=theory.phi(eta, B, h),
               phi_discrete=theory.phi_discrete(prob.X, prob.y, eta, B),
               kesten_alpha=theory.kesten_tail_index(eta, B, h) if prob.d == 1 else np.nan,
               h_star=h, L_star=prob.L_star)
    if prob.d == 1:
        hist = phi_histogram(u[..., 0], h, prob.L_star)
        row.update(phi_hist=hist.value, phi_hist_stderr=hist.stderr)
    row["z_moment"] = (mom.value - row["phi_discrete"]) / mom.stderr
    return row, u


@experiment(
    "stationary",
    description="Fitted φ of P_s ∝ L^-φ for SGD on linear regression vs 1+B/(ηh*) and exact discrete φ (R7, Fig. 3a)",
    presets=ST_PRESETS,
    plot=plot_stationary,
)
def run_stationary(p: dict, rng: np.random.Generator) -> Outcome:
    prob = make_linear_regression(p["N"], p["d"], np.random.default_rng(p["data_seed"]))
    grid = [(float(eta), int(B)) for eta in p["eta"] for B in p["B"]]
    seeds = rng.integers(2**31, size=len(grid))
    rows = []
    for (eta, B), seed in progress(zip(grid, seeds), total=len(grid), desc="stationary"):
        row, _ = _point(prob, eta, B, p, int(seed))
        rows.append(row)
    out = Outcome()
    out.tables["phi"] = rows
    first = rows[0]
    out.measured["phi"] = Measured(first["phi"], first["phi_stderr"])
    out.theory["phi_theory"] = first["phi_theory"]
    out.theory["phi_discrete"] = first["phi_discrete"]
    out.theory["h_star"] = first["h_star"]
    out.theory["L_star"] = first["L_star"]
    z = [r["z_moment"] for r in fig3a_points(rows)]
    if z:
        out.measured["max_abs_z_moment"] = Measured(float(np.max(np.abs(z))))
    out.notes.append(
        f"N={p['N']}, d={p['d']}, {p['replicas']} replicas × {p['samples']} samples every "
        f"{p['thin']} steps after a burn-in of 20/(ηh*) steps; 'phi' is the first grid point "
        f"(η={first['eta']:g}, B={first['B']}); table 'phi' has every point")
    return out


# ---------------------------------------------------------------------------- far tail

TAIL_PRESETS = {
    "smoke": dict(eta=[1.0, 0.5], B=[2, 1], N=10_000, replicas=40, steps=5000, fraction=1e-3,
                  data_seed=0),
    "book": dict(eta=[1.0, 1.0, 1.0, 0.5], B=[1, 2, 3, 1], N=100_000, replicas=200,
                 steps=20_000, fraction=1e-3, data_seed=0),
    "paper": dict(eta=[1.0, 1.0, 1.0, 0.5], B=[1, 2, 3, 1], N=100_000, replicas=200,
                  steps=100_000, fraction=1e-3, data_seed=0),  # 2·10⁷ samples per case
}


def plot_tail(result: Result):
    """Survival function of |u| on log–log axes with the three predicted tail slopes."""
    rows = result.tables["tail"]
    a = result.arrays
    fig, axes = plotting.figure(width=4.6, height=3.4)
    ax = axes[0]
    for i, r in enumerate(rows):
        x, s = a[f"x_{i}"], a[f"surv_{i}"]
        ax.loglog(x, s, color=f"C{i}", label=rf"$\eta={r['eta']:g}, B={r['B']}$")
        x0, s0 = x[-1] / 30, np.interp(x[-1] / 30, x, s)
        xs = np.array([x0, x[-1]])
        ax.loglog(xs, s0 * (xs / x0) ** -r["kesten_alpha"], color=f"C{i}", ls=":", lw=1)
        ax.loglog(xs, s0 * (xs / x0) ** -r["alpha_paper"], color=plotting.THEORY_COLOR, ls="--",
                  lw=0.8)
    ax.plot([], [], ":", color="0.3", label="Kesten–Goldie slope")
    ax.plot([], [], "--", color=plotting.THEORY_COLOR, lw=0.8, label=r"slope $2\phi-1$ (paper)")
    ax.set(xlabel=r"$|u| = |\theta-\theta^*|$", ylabel=r"$P(|u| > x)$")
    ax.set_xlim(left=1e-2)
    ax.legend(loc="lower left", fontsize=7)
    return plotting.stamp(fig, result)


@experiment(
    "stationary-tail",
    description="Far tail of SGD's stationary law: Hill index vs 2φ−1, 1+B/(ηh*) and Kesten–Goldie (R7, beyond the paper)",
    presets=TAIL_PRESETS,
    plot=plot_tail,
)
def run_tail(p: dict, rng: np.random.Generator) -> Outcome:
    if len(p["eta"]) != len(p["B"]):
        raise ValueError("eta and B must be lists of the same length (paired cases)")
    prob = make_linear_regression(p["N"], 1, np.random.default_rng(p["data_seed"]))
    h = float(prob.hessian[0, 0])
    seeds = rng.integers(2**31, size=len(p["B"]))
    out = Outcome()
    rows = []
    for i, (eta, B, seed) in enumerate(zip(p["eta"], p["B"], seeds)):
        run = sgd_linreg(prob, eta=float(eta), B=int(B), steps=p["steps"],
                         replicas=p["replicas"], seed=int(seed), record_every=1)
        burn = int(np.ceil(50 / (eta * h)))
        x = np.abs(run.samples[burn:, :, 0] - prob.theta_star[0])
        est = hill_tail_index(x, p["fraction"])
        row = dict(eta=float(eta), B=int(B), hill=est.value, hill_stderr=est.stderr,
                   k=int(p["fraction"] * x.size), n=int(x.size),
                   alpha_paper=theory.tail_index_paper(eta, B, h),
                   alpha_exact_noise=theory.tail_index_exact_noise(eta, B, h),
                   kesten_alpha=theory.kesten_tail_index(eta, int(B), h))
        rows.append(row)
        xs = np.sort(x.ravel())[::-1]
        n = xs.size
        idx = np.unique(np.geomspace(1, n, 200).astype(int)) - 1
        out.arrays[f"x_{i}"] = xs[idx][::-1]
        out.arrays[f"surv_{i}"] = ((idx + 1) / n)[::-1]
        out.measured[f"hill[eta={eta:g},B={B}]"] = est
        out.theory[f"hill[eta={eta:g},B={B}]"] = row["kesten_alpha"]
    out.tables["tail"] = rows
    out.notes.append(f"Hill estimator on the top {p['fraction']:g} of |u| ({p['replicas']} replicas "
                     f"× {p['steps']} steps, every step); standard errors from 20 groups of replicas")
    return out
