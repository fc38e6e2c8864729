"""Experiment ``noise-hessian``: Σ against (2L/B)H near a minimum, in linear regression and
a small MLP (R3, Eqs. 6–11)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.measured import Measured, standard_error
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_noisy_batch
from ..data import mnist_even_odd
from ..dynamics.training import train_sgd
from ..measure.covariance import finite_population_factor, minibatch_noise_covariance
from ..measure.gradients import per_sample_grads
from ..measure.gram import ntk_gram
from ..measure.hessian import hessian_top_eigenvalues
from ..models.linreg import make_linear_regression
from ..models.nets import mlp
from ._cost import F4, F8, dense_symmetric, linreg_data, mlp_params, torch_training
from ._shared import check_mnist_n
from .params import Param
from .result import Outcome
from .spec import experiment

NH_PRESETS = {
    "smoke": dict(N_lin=2000, d=5, distances=[0.0, 0.5, 1.0, 2.0], replicas=10, B=10,
                  N_mlp=300, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=100, top_k=5, seeds=2),
    "book": dict(N_lin=10000, d=5, distances=[0.0, 0.25, 0.5, 1.0, 2.0, 4.0], replicas=20, B=10,
                 N_mlp=1000, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=300, top_k=10, seeds=5),
    "paper": dict(N_lin=100000, d=5, distances=[0.0, 0.25, 0.5, 1.0, 2.0, 4.0], replicas=50, B=10,
                  N_mlp=10000, widths=[784, 10, 1], eta=0.01, B_mlp=100, epochs=1000, top_k=10, seeds=4),
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


def _validate(p: dict) -> None:
    if 0.0 not in [float(s) for s in p["distances"]]:
        raise InvalidInput("distances must include 0 (the minimum itself, where Eq. 6 is exact)")
    if p["replicas"] < 2:
        raise InvalidInput(f"replicas={p['replicas']}: a standard error needs >= 2 data sets")
    check_noisy_batch(p["B"], p["N_lin"])
    check_noisy_batch(p["B_mlp"], p["N_mlp"])
    if p["widths"][0] != 784 or p["widths"][-1] != 1:
        raise InvalidInput("widths must start with 784 inputs and end with 1 output (scalar f)")
    if p["top_k"] >= min(p["N_mlp"], p["widths"][1] * 785):
        raise InvalidInput(f"top_k={p['top_k']} must be below N_mlp and the number of parameters")
    check_mnist_n(p["N_mlp"], "N_mlp")


def _cost(p: dict) -> Cost:
    """Linear regression: a data set per replica, Σ (d × d) at each distance; the MLP per
    seed: training, per-sample gradients G (N × P), the N × N Gram matrices and their
    eigenvalues."""
    N, P, d = float(p["N_mlp"]), mlp_params(p["widths"]), float(p["d"])
    lin = linreg_data(p["N_lin"], d)
    lin = Cost(lin.memory * 2, p["replicas"] * len(p["distances"]) * 4 * float(p["N_lin"])
               * d * d / FLOP_RATE)
    train = torch_training(N=N, features=784, params=P, epochs=p["epochs"],
                           activations=sum(p["widths"]), records=1)
    grams = dense_symmetric(N, copies=3)
    seed = Cost(train.memory + N * P * (F4 + 2 * F8) + grams.memory,
                train.seconds + grams.seconds + (4 * N * N * P + 60 * N * P * p["top_k"]) / FLOP_RATE)
    return Cost(max(lin.memory, seed.memory), lin.seconds + p["seeds"] * seed.seconds,
                "N_lin, d, replicas, N_mlp, widths, epochs, seeds")


@experiment(
    "noise-hessian",
    description="Σ against (2L/B)H near a minimum: linear regression and a small MLP (R3, Eqs. 6–11)",
    presets=NH_PRESETS,
    measured=('linreg_err_eq6_at_min', 'mlp_L', 'mlp_gn_top1_ratio', 'mlp_grad_sq_over_noise',
              'mlp_top1_ratio', 'mlp_topk_geomean_ratio', 'mlp_topk_center', 'mlp_topk_decoupling',
              'mlp_topk_gn_ratio'),
    theory=('mlp_gn_top1_ratio', 'mlp_top1_ratio', 'mlp_topk_geomean_ratio'),
    tables=dict(
        linreg=("L", "distance", "err_eq6", "err_gauss", "predicted_gap", "replica"),
        mlp=("gauss_newton", "hessian", "i", "log_ratio_mean", "log_ratio_sd", "log_ratio_se",
            "seeds", "sigma_B_over_2Lc"),
    ),
    arrays=("gn_top", "hess_top", "log_center", "log_decoupling", "log_gn_ratio", "log_ratio",
        "sigma_top"),
    fields=dict(
        replica="index of the linear-regression data set",
        distance="distance |θ − θ*| along a random unit direction",
        err_eq6="relative Frobenius error of Σ (Eq. 8) against c(2L/B)H (Eq. 6)",
        err_gauss="the same against the Gaussian-data form (c/B)(2LH + ∇L∇Lᵀ)",
        predicted_gap="‖∇L∇Lᵀ‖/‖2LH‖: the error Eq. (6) should make",
        sigma_B_over_2Lc="i-th eigenvalue of ΣB/(2Lc) = C/(2L), first seed",
        gauss_newton="i-th eigenvalue of the Gauss–Newton matrix, first seed",
        hessian="i-th eigenvalue of the Hessian (Lanczos), first seed",
        log_ratio_mean="mean over seeds of log λ_i(ΣB/2Lc)/λ_i(H)",
        log_ratio_se="its standard error over seeds",
        log_ratio_sd="its standard deviation over seeds",
        sigma_top="top-k eigenvalues of ΣB/(2Lc), first seed",
        gn_top="top-k eigenvalues of the Gauss–Newton matrix, first seed",
        hess_top="top-k eigenvalues of the Hessian, first seed",
        log_ratio="log λ_i(ΣB/2Lc)/λ_i(H), seeds × k",
        log_center="log of the centring factor λ_i(C/2)/λ_i(M), seeds × k",
        log_decoupling="log of the decoupling factor λ_i(M)/(L λ_i(G)), seeds × k",
        log_gn_ratio="log of the Gauss–Newton factor λ_i(G)/λ_i(H), seeds × k",
    ),
    params=dict(
        N_lin=Param("training samples N of the linear-regression part", symbol="N"),
        N_mlp=Param("training images N of the network part", symbol="N"),
        B_mlp=Param("minibatch size B of the network’s training", symbol="B"),
        distances=Param("distances from θ* at which Σ and (2L/B)H are compared"),
    ),
    checks=dict(distances=">=0"),
    cost=_cost,
    validate=_validate,
)
def run_noise_hessian(p: dict, rng: np.random.Generator) -> Outcome:
    out = Outcome()
    lin_rows = _linreg_rows(p, rng)
    out.tables["linreg"] = lin_rows
    at_min = [r for r in lin_rows if r["distance"] == 0.0]
    out.measured["linreg_err_eq6_at_min"] = Measured.from_samples([r["err_eq6"] for r in at_min])
    # Small MLP trained towards a minimum of the MNIST even/odd data, from several seeds.
    data = mnist_even_odd(p["N_mlp"])
    k = int(p["top_k"])
    per_seed = []
    for s_i in range(int(p["seeds"])):
        seed = int(rng.integers(2**31))
        net = mlp(p["widths"], seed=seed)
        rec = train_sgd(net, data.x, data.y, eta=p["eta"], B=p["B_mlp"], epochs=p["epochs"],
                        seed=seed + 1, record_at=[0, p["epochs"]], desc=f"SGD (noise-hessian) seed {s_i}")
        G = per_sample_grads(net, data.x, data.y).double().numpy()
        Nm = G.shape[0]
        Gc = G - G.mean(axis=0)
        # Σ = c/B · C with C = GcᵀGc/N (Eq. 8, c = (N − B)/(N − 1)); Eq. (6) with c kept reads
        # Σ ≈ c (2L/B) H, that is C/(2L) ≈ H: the eigenvalues of ΣB/(2Lc) = C/(2L) are compared
        # with H's (c cancels, so it is not part of any deficit).  Nonzero eigenvalues of C
        # from the N × N Gram matrix.
        L = float(rec.loss[-1])
        sig = np.linalg.eigvalsh(Gc @ Gc.T / Nm)[::-1][:k] / (2 * L)
        K = ntk_gram(net, data.x)
        # M = (1/N) Σ ℓ_μ ∇f_μ∇f_μᵀ, the exact matrix of the decoupling (Eq. 7); C = 2M − ∇L∇Lᵀ
        ell = 0.5 * (net(data.x).detach().double().reshape(-1) - data.y.double().reshape(-1)) ** 2
        sw = np.sqrt(ell.numpy())
        m_top = np.linalg.eigvalsh(sw[:, None] * K * sw[None, :] / Nm)[::-1][:k]
        per_seed.append(dict(seed=seed, L=L, sigma_top=sig,
                             m_top=m_top / L, gn_top=np.linalg.eigvalsh(K / Nm)[::-1][:k],
                             hess_top=hessian_top_eigenvalues(net, data.x, data.y, k=k),
                             grad_sq_over_noise=float(rec.grad_sq_norm[-1] / rec.noise[-1])))
    first = per_seed[0]
    sigma_top, gn_top, hess_top = first["sigma_top"], first["gn_top"], first["hess_top"]
    # r_i = λ_i(C/2L)/λ_i(H) telescopes exactly into three factors, eigenvalue by eigenvalue:
    # centring λ_i(C/2)/λ_i(M), decoupling λ_i(M)/(L λ_i(G)), Gauss–Newton λ_i(G)/λ_i(H)
    out.arrays.update(sigma_top=sigma_top, gn_top=gn_top, hess_top=hess_top,
                      log_ratio=np.array([np.log(r["sigma_top"] / r["hess_top"]) for r in per_seed]),
                      log_center=np.array([np.log(r["sigma_top"] / r["m_top"]) for r in per_seed]),
                      log_decoupling=np.array([np.log(r["m_top"] / r["gn_top"]) for r in per_seed]),
                      log_gn_ratio=np.array([np.log(r["gn_top"] / r["hess_top"]) for r in per_seed]))
    lr = out.arrays["log_ratio"]  # (seeds, k): log of ΣB/(2Lc) over the Hessian, eigenvalue by eigenvalue
    n_s = lr.shape[0]
    lr_se = standard_error(lr, axis=0)
    ratio = np.exp(lr)
    L = float(np.mean([r["L"] for r in per_seed]))
    gm = np.exp(lr.mean(axis=1))  # geometric-mean ratio of each seed
    out.measured["mlp_top1_ratio"] = Measured.from_samples(ratio[:, 0])
    out.measured["mlp_topk_geomean_ratio"] = Measured.from_samples(gm)
    out.measured["mlp_gn_top1_ratio"] = Measured.from_samples([r["gn_top"][0] / r["hess_top"][0] for r in per_seed])
    for key in ("center", "decoupling", "gn_ratio"):  # geometric means over the top k, per seed
        out.measured[f"mlp_topk_{key}"] = Measured.from_samples(np.exp(out.arrays[f"log_{key}"].mean(axis=1)))
    out.measured["mlp_L"] = Measured.from_samples([r["L"] for r in per_seed])
    out.measured["mlp_grad_sq_over_noise"] = Measured.from_samples([r["grad_sq_over_noise"] for r in per_seed])
    out.theory.update(mlp_top1_ratio=1.0, mlp_topk_geomean_ratio=1.0, mlp_gn_top1_ratio=1.0)
    out.tables["mlp"] = [dict(i=i + 1, sigma_B_over_2Lc=float(s), gauss_newton=float(g), hessian=float(h),
                              log_ratio_mean=float(lr[:, i].mean()), log_ratio_se=float(lr_se[i]),
                              log_ratio_sd=float(lr[:, i].std(ddof=1)) if n_s > 1 else float("nan"),
                              seeds=n_s)
                         for i, (s, g, h) in enumerate(zip(sigma_top, gn_top, hess_top))]
    out.notes.append(f"linear regression: x, y i.i.d. N(0,1), d={p['d']}, N={p['N_lin']}, B={p['B']}, "
                     f"{p['replicas']} data sets; MLP {'-'.join(map(str, p['widths']))} on {data.name}, "
                     f"SGD η={p['eta']}, B={p['B_mlp']}, {p['epochs']} epochs, {p['seeds']} seeds (mean L={L:.3g})")
    return out
