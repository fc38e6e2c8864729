"""Experiments ``decoupling`` (R2, Eq. 7, Fig. 1) and ``noise-hessian`` (R3, Eqs. 6–11)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch.func import functional_call, grad, jvp

from .. import plotting
from ..covariance import finite_population_factor, minibatch_noise_covariance
from ..data import mnist_even_odd
from ..experiment import Measured, Outcome, Result, experiment
from ..linreg import make_linear_regression
from ..models import mlp
from ..noise import decoupling_spectra, loss_weights, ntk_gram
from ..persample import get_loss, per_sample_grads
from ..training import train_sgd

PRESETS = {
    "smoke": dict(N=300, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 20, 100],
                  loss="mse", top_k=10, permutations=8, mass_threshold=1e-4),
    "book": dict(N=1000, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 50, 500],
                 loss="mse", top_k=10, permutations=8, mass_threshold=1e-4),
    "paper": dict(N=10000, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 50, 500],
                  loss="mse", top_k=10, permutations=8, mass_threshold=1e-4),
}


def _tail_mass(lam: np.ndarray, threshold: float) -> float:
    """Fraction of the trace carried by eigenvalues below threshold·λ₁."""
    return float(lam[lam < threshold * lam[0]].sum() / lam.sum())


def plot(result: Result):
    """Histograms of log10 eigenvalues, exact against decoupled, one panel per stage."""
    stages = result.params["stages"]
    fig, axes = plotting.figure(ncols=len(stages), width=3.0)
    for ax, e in zip(axes, stages):
        ex, dc = result.arrays[f"exact_{e}"], result.arrays[f"decoupled_{e}"]
        floor = 1e-14 * dc[0]
        lex, ldc = np.log10(np.maximum(ex, floor)), np.log10(np.maximum(dc, floor))
        bins = np.linspace(min(lex.min(), ldc.min()), max(lex.max(), ldc.max()) + 1e-9, 40)
        ax.hist(ldc, bins=bins, alpha=0.55, label="decoupled $L\\cdot\\frac{1}{N}\\sum C_f$")
        ax.hist(lex, bins=bins, histtype="step", lw=1.5, color="C1",
                label="exact $\\frac{1}{N}\\sum \\ell_\\mu C_f$")
        ax.set(yscale="log", xlabel="$\\log_{10}$ eigenvalue", ylabel="count")
        ax.text(0.03, 0.92, f"epoch {e}", transform=ax.transAxes)
    axes[0].legend(loc="lower left", fontsize=7)
    return plotting.stamp(fig, result)


@experiment(
    "decoupling",
    description="Exact (1/N)Σℓ_μ∇f∇fᵀ against decoupled L·(1/N)Σ∇f∇fᵀ spectra (R2, Eq. 7, Fig. 1)",
    presets=PRESETS,
    plot=plot,
)
def run(p: dict, rng: np.random.Generator) -> Outcome:
    loss = get_loss(p["loss"])
    data = mnist_even_odd(p["N"])
    if p["widths"][0] != 784 or p["widths"][-1] != 1:
        raise ValueError("widths must start with 784 inputs and end with 1 output (scalar f)")
    seed = int(rng.integers(2**31))
    net = mlp(p["widths"], seed=seed)
    stages = sorted(int(e) for e in p["stages"])
    rec = train_sgd(net, data.x, data.y, eta=p["eta"], B=p["B"], epochs=stages[-1], seed=seed + 1,
                    loss=loss, record_at=stages, snapshot_at=stages, measure_noise=False,
                    desc="SGD (decoupling)")
    out = Outcome()
    rows = []
    k, thr = int(p["top_k"]), float(p["mass_threshold"])
    for e, L in zip(rec.epochs, rec.loss):
        net.load_state_dict(rec.snapshots[int(e)])
        K = ntk_gram(net, data.x)
        with torch.no_grad():
            f = net(data.x)
        w = loss_weights(f, data.y, loss=loss).numpy()
        spec = decoupling_spectra(K, w)
        # Null: shuffle w over samples, which makes w_μ independent of ∇f_μ (decoupling
        # exact in distribution) and shows the scatter that finite N alone produces.
        null = []
        for _ in range(int(p["permutations"])):
            sp = decoupling_spectra(K, rng.permutation(w))
            null.append([np.log(sp.top_ratio(1)[0]), np.mean(np.log(sp.top_ratio(k))),
                         np.log(sp.trace_ratio())])
        null = np.array(null)
        obs = np.array([np.log(spec.top_ratio(1)[0]), np.mean(np.log(spec.top_ratio(k))),
                        np.log(spec.trace_ratio())])
        z = (obs - null.mean(axis=0)) / null.std(axis=0, ddof=1)
        rows.append(dict(epoch=int(e), L=float(L), log_top1_ratio=obs[0], log_topk_ratio=obs[1],
                         log_trace_ratio=obs[2], null_mean=null.mean(axis=0).tolist(),
                         null_sd=null.std(axis=0, ddof=1).tolist(), z_top1=z[0], z_topk=z[1],
                         z_trace=z[2], tail_mass_exact=_tail_mass(spec.exact, thr),
                         tail_mass_decoupled=_tail_mass(spec.decoupled, thr),
                         n_tiny_exact=int(np.sum(spec.exact < 1e-6 * spec.exact[0])),
                         n_tiny_decoupled=int(np.sum(spec.decoupled < 1e-6 * spec.decoupled[0])),
                         lambda1_exact=float(spec.exact[0]),
                         lambda1_decoupled=float(spec.decoupled[0])))
        out.arrays[f"exact_{int(e)}"] = spec.exact
        out.arrays[f"decoupled_{int(e)}"] = spec.decoupled
    out.tables["stages"] = rows
    out.measured["max_abs_z_top1"] = Measured(float(max(abs(r["z_top1"]) for r in rows)))
    out.measured["max_abs_z_trace"] = Measured(float(max(abs(r["z_trace"]) for r in rows)))
    out.measured["max_tail_mass"] = Measured(float(max(max(r["tail_mass_exact"], r["tail_mass_decoupled"])
                                                       for r in rows)))
    for r in rows:
        out.measured[f"top1_ratio_epoch{r['epoch']}"] = Measured(float(np.exp(r["log_top1_ratio"])))
        out.measured[f"trace_ratio_epoch{r['epoch']}"] = Measured(float(np.exp(r["log_trace_ratio"])))
    widths = "-".join(map(str, p["widths"]))
    out.notes.append(f"MLP {widths}, {data.name}; {p['loss']} loss, η={p['eta']}, B={p['B']}, "
                     f"spectra at epochs {stages}")
    return out


# ----------------------------------------------------------------------------- R3

NH_PRESETS = {
    "smoke": dict(N_lin=2000, d=5, distances=[0.0, 0.5, 1.0, 2.0], replicas=10, B=10,
                  N_mlp=300, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=100, top_k=5),
    "book": dict(N_lin=10000, d=5, distances=[0.0, 0.25, 0.5, 1.0, 2.0, 4.0], replicas=20, B=10,
                 N_mlp=1000, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=300, top_k=10),
    "paper": dict(N_lin=100000, d=5, distances=[0.0, 0.25, 0.5, 1.0, 2.0, 4.0], replicas=50, B=10,
                  N_mlp=10000, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=1000, top_k=10),
}


def _rel_frob(A: np.ndarray, Bm: np.ndarray) -> float:
    return float(np.linalg.norm(A - Bm) / np.linalg.norm(Bm))


def _linreg_rows(p: dict, rng: np.random.Generator) -> list[dict]:
    """Σ (Eq. 8) against (2L/B)H and against the Gaussian-data form (1/B)(2LH + ∇L∇Lᵀ)."""
    rows = []
    for rep in range(int(p["replicas"])):
        lin = make_linear_regression(p["N_lin"], p["d"], rng)
        u = rng.standard_normal(lin.d)
        u /= np.linalg.norm(u)
        for s in p["distances"]:
            theta = lin.theta_star + s * u
            G = lin.per_sample_grads(theta)
            Sigma = minibatch_noise_covariance(G, p["B"])
            L = float(lin.loss(theta))
            g = G.mean(axis=0)
            fpf = finite_population_factor(lin.N, p["B"])
            eq6 = fpf * 2 * L / p["B"] * lin.hessian
            gauss = fpf / p["B"] * (2 * L * lin.hessian + np.outer(g, g))
            rows.append(dict(replica=rep, distance=float(s), L=L, err_eq6=_rel_frob(Sigma, eq6),
                             err_gauss=_rel_frob(Sigma, gauss),
                             predicted_gap=float(np.linalg.norm(np.outer(g, g))
                                                 / np.linalg.norm(2 * L * lin.hessian))))
    return rows


def _top_eigs_hessian(net, x, y, k: int) -> np.ndarray:
    """Top-k eigenvalues of the Hessian of L = (1/N)Σℓ_μ (MSE) by Lanczos on HVPs."""
    names = [n for n, q in net.named_parameters()]
    shapes = [q.shape for q in net.parameters()]
    sizes = [q.numel() for q in net.parameters()]
    theta0 = torch.cat([q.detach().double().reshape(-1) for q in net.parameters()])
    xd, yd = x.double(), y.double()
    net64 = net.double()

    def unflat(v):
        return {n: t.reshape(s) for n, t, s in zip(names, torch.split(v, sizes), shapes)}

    def L(v):
        out = functional_call(net64, unflat(v), (xd,))
        return 0.5 * ((out.reshape(-1) - yd) ** 2).mean()

    gL = grad(L)

    def hvp(v):
        return jvp(gL, (theta0,), (torch.from_numpy(v).reshape(-1),))[1].numpy()

    P = theta0.numel()
    op = LinearOperator((P, P), matvec=hvp, dtype=np.float64)
    vals = eigsh(op, k=k, which="LA", tol=1e-8, v0=np.ones(P) / np.sqrt(P))[0]
    net.float()
    return np.sort(vals)[::-1]


def nh_plot(result: Result):
    """(a) linear regression: relative gap against distance; (b) MLP: top eigenvalues."""
    fig, axes = plotting.figure(ncols=2, width=3.4)
    t = result.tables["linreg"]
    dist = np.array(sorted({r["distance"] for r in t}))
    for key, lab, c in [("err_eq6", r"$\Sigma$ vs $(2L/B)H$, Eq. (6)", "C0"),
                        ("err_gauss", r"$\Sigma$ vs $(2LH+\nabla L\nabla L^T)/B$", "C1")]:
        m = np.array([np.mean([r[key] for r in t if r["distance"] == s]) for s in dist])
        sd = np.array([np.std([r[key] for r in t if r["distance"] == s]) for s in dist])
        axes[0].errorbar(dist, m, yerr=sd, fmt="o-", ms=4, color=c, label=lab)
    pg = np.array([np.mean([r["predicted_gap"] for r in t if r["distance"] == s]) for s in dist])
    # The predicted gap vanishes at θ* (∇L = 0), which a log axis cannot show.
    away = dist > 0
    axes[0].plot(dist[away], pg[away], color=plotting.THEORY_COLOR, ls="--",
                 label=r"$\|\nabla L\nabla L^T\|/\|2LH\|$")
    axes[0].set(xlabel=r"distance $\|\theta-\theta^*\|$", ylabel="relative Frobenius gap", yscale="log")
    axes[0].legend(fontsize=7)
    a = result.arrays
    i = np.arange(1, len(a["hess_top"]) + 1)
    axes[1].plot(i, a["hess_top"], "o-", ms=4, color=plotting.THEORY_COLOR, label="Hessian $H$")
    axes[1].plot(i, a["gn_top"], "s--", ms=4, mfc="none", label=r"$\frac{1}{N}\sum\nabla f\nabla f^T$, Eq. (11)")
    axes[1].plot(i, a["sigma_top"], "^", ms=5, label=r"$\Sigma\cdot B/(2L)$")
    axes[1].set(xlabel="eigenvalue index $i$", ylabel="eigenvalue", yscale="log")
    axes[1].legend(fontsize=7)
    return plotting.stamp(fig, result)


@experiment(
    "noise-hessian",
    description="Σ against (2L/B)H near a minimum: linear regression and a small MLP (R3, Eqs. 6–11)",
    presets=NH_PRESETS,
    plot=nh_plot,
)
def run_noise_hessian(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    lin_rows = _linreg_rows(p, rng)
    out.tables["linreg"] = lin_rows
    at_min = [r for r in lin_rows if r["distance"] == 0.0]
    out.measured["linreg_err_eq6_at_min"] = Measured(float(np.mean([r["err_eq6"] for r in at_min])),
                                                     float(np.std([r["err_eq6"] for r in at_min], ddof=1)
                                                           / np.sqrt(len(at_min))))
    # Small MLP trained towards a minimum of the MNIST even/odd data.
    data = mnist_even_odd(p["N_mlp"])
    seed = int(rng.integers(2**31))
    net = mlp(p["widths"], seed=seed)
    rec = train_sgd(net, data.x, data.y, eta=p["eta"], B=p["B_mlp"], epochs=p["epochs"],
                    seed=seed + 1, record_at=[0, p["epochs"]], desc="SGD (noise-hessian)")
    k = int(p["top_k"])
    G = per_sample_grads(net, data.x, data.y).double().numpy()
    Nm = G.shape[0]
    Gc = G - G.mean(axis=0)
    fpf = finite_population_factor(Nm, p["B_mlp"])
    # Σ = fpf/B · GcᵀGc/N: nonzero eigenvalues from the N × N Gram matrix.
    sig = fpf / p["B_mlp"] * np.linalg.eigvalsh(Gc @ Gc.T / Nm)[::-1][:k]
    L = float(rec.loss[-1])
    sigma_top = sig * p["B_mlp"] / (2 * L)
    K = ntk_gram(net, data.x)
    gn_top = np.linalg.eigvalsh(K / Nm)[::-1][:k]
    hess_top = _top_eigs_hessian(net, data.x, data.y, k)
    out.arrays.update(sigma_top=sigma_top, gn_top=gn_top, hess_top=hess_top)
    ratio = sigma_top / hess_top
    out.measured["mlp_top1_ratio"] = Measured(float(ratio[0]))
    out.measured["mlp_topk_geomean_ratio"] = Measured(float(np.exp(np.mean(np.log(ratio)))))
    out.measured["mlp_gn_top1_ratio"] = Measured(float(gn_top[0] / hess_top[0]))
    out.measured["mlp_L"] = Measured(L)
    out.measured["mlp_grad_sq_over_noise"] = Measured(float(rec.grad_sq_norm[-1] / rec.noise[-1]))
    out.theory.update(mlp_top1_ratio=1.0, mlp_topk_geomean_ratio=1.0, mlp_gn_top1_ratio=1.0)
    out.tables["mlp"] = [dict(i=i + 1, sigma_B_over_2L=float(s), gauss_newton=float(g), hessian=float(h))
                         for i, (s, g, h) in enumerate(zip(sigma_top, gn_top, hess_top))]
    out.notes.append(f"linear regression: x, y i.i.d. N(0,1), d={p['d']}, N={p['N_lin']}, B={p['B']}, "
                     f"{p['replicas']} data sets; MLP {'-'.join(map(str, p['widths']))} on {data.name}, "
                     f"SGD η={p['eta']}, B={p['B_mlp']}, {p['epochs']} epochs (L={L:.3g})")
    return out
