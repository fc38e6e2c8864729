"""Experiment ``decoupling``: exact (1/N)Σℓ_μ∇f∇fᵀ against the decoupled L·(1/N)Σ∇f∇fᵀ
(R2, Eq. 7, Fig. 1)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import eigsh

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.resources import FLOP_RATE, Cost
from ..core.validation import check_batch_size
from ..data import mnist_even_odd
from ..dynamics.training import train_sgd
from ..measure.gram import decoupling_spectra, ntk_gram
from ..measure.losses import get_loss, loss_weights
from ..models.nets import mlp
from ._cost import F8, dense_symmetric, mlp_params, torch_training
from ._shared import check_mnist_n
from .params import Param
from .result import Outcome, RunContext
from .spec import experiment

PRESETS = {
    "smoke": dict(N=300, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 20, 100],
                  loss="mse", top_k=10, permutations=50, permutations_topk=8,
                  mass_threshold=1e-4, seeds=2),
    "book": dict(N=1000, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 50, 500],
                 loss="mse", top_k=10, permutations=200, permutations_topk=30,
                 mass_threshold=1e-4, seeds=3),
    "paper": dict(N=10000, widths=[784, 100, 100, 1], eta=0.01, B=100, stages=[0, 50, 500],
                  loss="mse", top_k=10, permutations=200, permutations_topk=30,
                  mass_threshold=1e-4, seeds=3),
}


def _tail_mass(lam: np.ndarray, threshold: float) -> float:
    """Fraction of the trace carried by eigenvalues below threshold·λ₁."""
    return float(lam[lam < threshold * lam[0]].sum() / lam.sum())


def _top1_batched(K: np.ndarray, W: np.ndarray, iters: int = 500, tol: float = 1e-9) -> np.ndarray:
    """λ₁ of diag(s_j) K diag(s_j)/N for every column s_j = √w_j of ``W`` (N × m), by power
    iteration on all columns at once (K is positive semi-definite), started from
    s_j ⊙ v₁(K), close to the answer because K's top eigenvalue is well separated."""
    N = K.shape[0]
    S = np.sqrt(W)
    v1 = eigsh(K, k=1, which="LA")[1][:, 0]
    X = S * v1[:, None]
    X /= np.linalg.norm(X, axis=0)
    lam = np.zeros(S.shape[1])
    for _ in range(iters):
        Y = S * (K @ (S * X)) / N
        new = np.einsum("ij,ij->j", X, Y)
        X = Y / np.linalg.norm(Y, axis=0)
        if np.all(np.abs(new - lam) <= tol * np.abs(new)):
            return new
        lam = new
    return lam


def _top_k(K: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """The k largest eigenvalues of diag(√w) K diag(√w)/N, descending (Lanczos)."""
    sw = np.sqrt(w)
    M = sw[:, None] * K * sw[None, :] / K.shape[0]
    v0 = np.ones(K.shape[0]) / np.sqrt(K.shape[0])
    return np.sort(eigsh(M, k=k, which="LA", tol=1e-8, v0=v0)[0])[::-1]


def _lanczos_log_ratios(K: np.ndarray, w: np.ndarray, top_dc: np.ndarray, k: int) -> np.ndarray:
    """log of exact over decoupled λ₁, top-k geometric mean and trace; the exact top k by
    Lanczos, the decoupled ones given (``top_dc``), the traces from the diagonal of K."""
    top_ex = _top_k(K, w, k)
    return np.array([np.log(top_ex[0] / top_dc[0]), np.mean(np.log(top_ex / top_dc[:k])),
                     np.log(np.mean(w * np.diag(K)) / (w.mean() * np.diag(K).mean()))])


def _log_ratios(K: np.ndarray, w: np.ndarray, k: int):
    spec = decoupling_spectra(K, w)
    return spec, np.array([np.log(spec.top_ratio(1)[0]), np.mean(np.log(spec.top_ratio(k))),
                           np.log(spec.trace_ratio())])


def _validate(p: dict) -> None:
    if p["widths"][0] != 784 or p["widths"][-1] != 1:
        raise InvalidInput("widths must start with 784 inputs and end with 1 output (scalar f)")
    check_mnist_n(p["N"], "N")
    check_batch_size(p["B"], p["N"])
    if p["top_k"] >= p["N"]:
        raise InvalidInput(f"top_k={p['top_k']} must be below the number of samples N={p['N']}")
    if p["permutations"] < 2:
        raise InvalidInput(f"permutations={p['permutations']}: the null spread needs >= 2")
    if not 2 <= p["permutations_topk"] <= p["permutations"]:
        raise InvalidInput(f"permutations_topk={p['permutations_topk']} must lie in 2..permutations "
                           f"= {p['permutations']} (its null spread needs >= 2)")


def _cost(p: dict) -> Cost:
    """Training to the last stage, then at each stage the N × N Gram matrix, its weighted
    copies and eigendecompositions, and the permutation null (N × permutations)."""
    N, P = float(p["N"]), mlp_params(p["widths"])
    train = torch_training(N=N, features=784, params=P, epochs=max(p["stages"]),
                           activations=sum(p["widths"]))
    gram = dense_symmetric(N, copies=5)
    null = Cost(memory=6 * N * p["permutations"] * F8,
                seconds=(200 * N * N * p["permutations"] + 30 * N * N * p["top_k"]
                         * p["permutations_topk"]) / FLOP_RATE)
    stage = Cost(gram.memory + null.memory, gram.seconds + null.seconds
                 + 2 * N * N * sum(p["widths"]) / FLOP_RATE)
    return Cost(train.memory + stage.memory,
                p["seeds"] * (train.seconds + len(p["stages"]) * stage.seconds),
                "N, widths, stages, permutations, seeds")


@experiment(
    "decoupling",
    description="Exact (1/N)Σℓ_μ∇f∇fᵀ against decoupled L·(1/N)Σ∇f∇fᵀ spectra (R2, Eq. 7, Fig. 1)",
    presets=PRESETS,
    measured=('max_abs_z_top1', 'max_abs_z_trace', 'max_tail_mass', 'max_seed_sd_log_top1',
              'max_seed_sd_log_topk', 'max_seed_sd_log_trace'),
    tables=dict(
        stages=("L", "control_log_top1_ratio", "control_log_topk_ratio",
            "control_log_trace_ratio", "epoch", "lambda1_decoupled", "lambda1_exact",
            "log_top1_ratio", "log_topk_ratio", "log_trace_ratio", "n_tiny_decoupled",
            "n_tiny_exact", "null_mean", "null_sd", "permutations", "permutations_topk",
            "tail_mass_decoupled", "tail_mass_exact", "z_top1", "z_topk", "z_trace"),
        seed_spread=("L", "epoch", "log_top1_ratio", "log_topk_ratio", "log_trace_ratio",
            "seed"),
    ),
    arrays=("spectrum_decoupled", "spectrum_exact"),
    fields=dict(
        log_top1_ratio="log of exact over decoupled λ₁",
        log_topk_ratio="mean log of exact over decoupled top-k eigenvalues",
        log_trace_ratio="log of exact over decoupled trace",
        null_mean="means of the three log ratios over label permutations (the null)",
        null_sd="their standard deviations over the permutations",
        z_top1="(log_top1_ratio − null mean)/null s.d.",
        z_topk="(log_topk_ratio − null mean)/null s.d.",
        z_trace="(log_trace_ratio − null mean)/null s.d.",
        control_log_top1_ratio="log_top1_ratio when losses are rearranged to rise with ‖∇f_μ‖²",
        control_log_topk_ratio="log_topk_ratio of that control",
        control_log_trace_ratio="log_trace_ratio of that control",
        tail_mass_exact="spectral mass of the exact matrix below mass_threshold·λ₁",
        tail_mass_decoupled="the same for the decoupled matrix",
        n_tiny_exact="eigenvalues of the exact matrix below 10⁻⁶ λ₁",
        n_tiny_decoupled="the same for the decoupled matrix",
        lambda1_exact="λ₁ of the exact (1/N)Σℓ_μ∇f_μ∇f_μᵀ",
        lambda1_decoupled="λ₁ of the decoupled L·(1/N)Σ∇f_μ∇f_μᵀ",
        spectrum_exact="spectrum of the exact matrix, one row per stage (first seed)",
        spectrum_decoupled="spectrum of the decoupled matrix, one row per stage",
        max_abs_z_top1="largest |z_top1| over the stages",
        max_abs_z_trace="largest |z_trace| over the stages",
        max_tail_mass="largest tail mass over the stages and both matrices",
    ),
    params=dict(
        stages=Param("training epochs at which both spectra are computed", unit="epochs"),
        permutations=Param("label permutations of the shuffle null"),
        permutations_topk=Param("permutations whose top eigenvalues are computed"),
        mass_threshold=Param("spectral mass below which eigenvalues count as exponentially small"),
    ),
    checks=dict(stages=">=0", loss=("mse", "ce"), mass_threshold="(0,1)"),
    cost=_cost,
    validate=_validate,
)
def run(p: dict, rng: np.random.Generator, ctx: RunContext) -> Outcome:
    loss = get_loss(p["loss"])
    data = mnist_even_odd(p["N"])
    x, y = data.x.to(ctx.device), data.y.to(ctx.device)
    stages = sorted(int(e) for e in p["stages"])
    k, thr = int(p["top_k"]), float(p["mass_threshold"])
    out = Outcome(device=ctx.device)  # training and Gram matrices; spectra on the CPU
    rows, spread, spectra = [], [], []
    for s_i in range(int(p["seeds"])):
        seed = int(rng.integers(2**31))
        net = mlp(p["widths"], seed=seed).to(ctx.device)
        rec = train_sgd(net, x, y, eta=p["eta"], B=p["B"], epochs=stages[-1],
                        seed=seed + 1, loss=loss, record_at=stages, snapshot_at=stages,
                        measure_noise=False, desc=f"SGD (decoupling) seed {s_i}")
        for e, L in zip(rec.epochs, rec.loss):
            net.load_state_dict(rec.snapshots[int(e)])
            K = ntk_gram(net, x)
            with torch.no_grad():
                f = net(x)
            w = loss_weights(f, y, loss=loss).cpu().numpy()
            if s_i > 0:  # the ratios only: top k by Lanczos, traces from the diagonal
                obs = _lanczos_log_ratios(K, w, w.mean() * _top_k(K, np.ones_like(w), k), k)
            else:
                spec, obs = _log_ratios(K, w, k)
            spread.append(dict(seed=seed, epoch=int(e), L=float(L), log_top1_ratio=obs[0],
                               log_topk_ratio=obs[1], log_trace_ratio=obs[2]))
            if s_i > 0:
                continue  # the null and the spectra of the first seed only
            # Null: shuffle w over samples, which makes w_μ independent of ∇f_μ (decoupling
            # exact in distribution) and shows the scatter that finite N alone produces.
            # λ₁ and the trace for every permutation; the top-k mean for the first few.
            n_perm, n_topk = int(p["permutations"]), int(p["permutations_topk"])
            Wp = np.stack([rng.permutation(w) for _ in range(n_perm)], axis=1)
            lam_dec = spec.decoupled
            null_top1 = np.log(_top1_batched(K, Wp) / lam_dec[0])
            null_trace = np.log((Wp * np.diag(K)[:, None]).mean(axis=0)
                                / (w.mean() * np.diag(K).mean()))
            # only the exact spectrum changes under a permutation (w̄ does not); its top k by
            # Lanczos, deterministic start vector
            null_topk = np.array([np.mean(np.log(_top_k(K, Wp[:, j], k) / lam_dec[:k]))
                                  for j in range(n_topk)])
            null_mean = [null_top1.mean(), null_topk.mean(), null_trace.mean()]
            null_sd = [null_top1.std(ddof=1), null_topk.std(ddof=1), null_trace.std(ddof=1)]
            z = (obs - np.array(null_mean)) / np.array(null_sd)
            # Control: the same w_μ rearranged to rise with K_μμ = ‖∇f_μ‖² (the largest losses on
            # the samples with the largest gradients), the strongest coupling this distribution
            # of losses allows sample by sample; what the ratios look like when decoupling fails.
            w_co = np.empty_like(w)
            w_co[np.argsort(np.diag(K))] = np.sort(w)
            ctrl = _lanczos_log_ratios(K, w_co, lam_dec[:k], k)
            rows.append(dict(epoch=int(e), L=float(L), log_top1_ratio=obs[0], log_topk_ratio=obs[1],
                             log_trace_ratio=obs[2], null_mean=[float(v) for v in null_mean],
                             null_sd=[float(v) for v in null_sd], permutations=n_perm,
                             permutations_topk=n_topk, z_top1=z[0], z_topk=z[1],
                             z_trace=z[2], control_log_top1_ratio=ctrl[0],
                             control_log_topk_ratio=ctrl[1], control_log_trace_ratio=ctrl[2],
                             tail_mass_exact=_tail_mass(spec.exact, thr),
                             tail_mass_decoupled=_tail_mass(spec.decoupled, thr),
                             n_tiny_exact=int(np.sum(spec.exact < 1e-6 * spec.exact[0])),
                             n_tiny_decoupled=int(np.sum(spec.decoupled < 1e-6 * spec.decoupled[0])),
                             lambda1_exact=float(spec.exact[0]),
                             lambda1_decoupled=float(spec.decoupled[0])))
            spectra.append((spec.exact, spec.decoupled))
    out.tables["stages"] = rows
    # row i of each array is the stage of row i of table "stages"
    out.arrays["spectrum_exact"] = np.stack([ex for ex, _ in spectra])
    out.arrays["spectrum_decoupled"] = np.stack([dc for _, dc in spectra])
    out.tables["seed_spread"] = spread
    out.measured["max_abs_z_top1"] = Measured(float(max(abs(r["z_top1"]) for r in rows)))
    out.measured["max_abs_z_trace"] = Measured(float(max(abs(r["z_trace"]) for r in rows)))
    out.measured["max_tail_mass"] = Measured(float(max(max(r["tail_mass_exact"], r["tail_mass_decoupled"])
                                                       for r in rows)))
    for key in ("log_top1_ratio", "log_topk_ratio", "log_trace_ratio"):
        sds = [np.std([r[key] for r in spread if r["epoch"] == e], ddof=1) if p["seeds"] > 1
               else np.nan for e in stages]
        out.measured["max_seed_sd_" + key[:-6]] = Measured(float(np.max(sds)))
    widths = "-".join(map(str, p["widths"]))
    out.notes.append(f"MLP {widths}, {data.name}; {p['loss']} loss, η={p['eta']}, B={p['B']}, "
                     f"spectra at epochs {stages}; {p['seeds']} seeds")
    return out
