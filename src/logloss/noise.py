"""The SGD noise strength 𝒩 and the decoupling approximation (Sec. 3.1, 5.1, 5.2).

Conventions (as in :mod:`logloss.persample`): ℓ_μ is the per-sample loss, the training
loss is the mean L = (1/N) Σ_μ ℓ_μ, and a minibatch loss is L_B = (1/B) Σ_{μ∈B} ℓ_μ.
The noise strength is

    𝒩 = (1/N) Σ_μ ‖∇ℓ_μ‖² − ‖∇L‖²,

so that E‖ξ‖² = tr Σ = (N − B)/(B(N − 1)) · 𝒩 ≈ 𝒩/B (Eq. 8).

Decoupling (Eq. 7).  For a scalar output f and a loss ℓ_μ = ℓ(f_μ, y_μ),
∇ℓ_μ = ℓ'_μ ∇f_μ, so (1/N) Σ ∇ℓ_μ∇ℓ_μᵀ = (2/N) Σ w_μ ∇f_μ∇f_μᵀ with
w_μ = ½(∂ℓ_μ/∂f_μ)², which is w_μ = ℓ_μ for the mean-square loss.  The exact matrix
M = (1/N) Σ w_μ ∇f_μ∇f_μᵀ = JᵀWJ/N and its decoupled version M̃ = w̄ · JᵀJ/N
(w̄ = L for MSE) are P × P of rank ≤ N; their nonzero eigenvalues are those of the
N × N matrices W^{1/2} K W^{1/2}/N and w̄ K/N, with K = JJᵀ the Gram (neural-tangent)
matrix of the Jacobian J (rows ∇f_μ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .covariance import minibatch_noise_covariance
from .persample import mse_per_sample, per_sample_grad_stats, per_sample_grads, supports_fast_path

__all__ = [
    "NoiseStrength",
    "noise_strength",
    "noise_covariance",
    "jacobian",
    "ntk_gram",
    "loss_weights",
    "Spectra",
    "decoupling_spectra",
    "PowerLawFit",
    "fit_power_law",
]


@dataclass(frozen=True)
class NoiseStrength:
    """𝒩 and its ingredients at one θ.

    Attributes
    ----------
    noise : float
        𝒩 = (1/N) Σ ‖∇ℓ_μ‖² − ‖∇L‖².
    loss : float
        L = (1/N) Σ ℓ_μ.
    mean_sq_norm : float
        (1/N) Σ ‖∇ℓ_μ‖².
    grad_sq_norm : float
        ‖∇L‖².
    """

    noise: float
    loss: float
    mean_sq_norm: float
    grad_sq_norm: float


def noise_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss=mse_per_sample,
                   chunk_size: int = 1000, method: str = "auto") -> NoiseStrength:
    """The noise strength 𝒩 of SGD at the model's current parameters θ (Sec. 5.2).

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·).
    x, y : Tensor
        The N training inputs and targets.
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int
        Samples per pass.
    method : {"auto", "fast", "generic"}
        See :func:`logloss.persample.per_sample_grad_stats`.

    Notes
    -----
    Computed in float64 from per-sample squared norms; with the mean convention,
    tr Σ = (N − B)/(B(N − 1)) · 𝒩 for minibatches drawn without replacement (Eq. 8).
    """
    stats = per_sample_grad_stats(model, x, y, loss=loss, chunk_size=chunk_size, method=method)
    msq = float(stats.sq_norms.mean())
    gsq = float(stats.mean_grad.pow(2).sum())
    return NoiseStrength(msq - gsq, float(stats.losses.mean()), msq, gsq)


def noise_covariance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, B: int, *,
                     loss=mse_per_sample, chunk_size: int = 256) -> np.ndarray:
    """The exact P × P minibatch-noise covariance Σ of Eq. (8), for small P.

    Per-sample gradients from :func:`logloss.persample.per_sample_grads`, covariance from
    :func:`logloss.covariance.minibatch_noise_covariance` (without replacement).
    """
    G = per_sample_grads(model, x, y, loss=loss, chunk_size=chunk_size).double().numpy()
    return minibatch_noise_covariance(G, B)


def _scalar_output(out: torch.Tensor) -> torch.Tensor:
    if out.dim() > 2 or (out.dim() == 2 and out.shape[1] != 1):
        raise ValueError(f"the decoupling spectra need a scalar output f, got shape {tuple(out.shape)}")
    return out.reshape(-1)


def jacobian(model: nn.Module, x: torch.Tensor, *, chunk_size: int = 256) -> torch.Tensor:
    """J with rows ∇_θ f(θ, x_μ), shape (N, P), for a scalar-output model (torch.func, chunked)."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}

    def f(p, xi):
        return _scalar_output(functional_call(model, p, (xi.unsqueeze(0),))).sum()

    rows_fn = vmap(grad(f), in_dims=(None, 0))
    P = sum(v.numel() for v in params.values())
    J = torch.empty(x.shape[0], P, dtype=x.dtype)
    for s in range(0, x.shape[0], chunk_size):
        g = rows_fn(params, x[s:s + chunk_size])
        J[s:s + chunk_size] = torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1)
    return J


def _linear_only(model: nn.Module) -> bool:
    return supports_fast_path(model) and not any(isinstance(m, nn.Conv2d) for m in model.modules())


def ntk_gram(model: nn.Module, x: torch.Tensor, *, chunk_size: int = 1000, method: str = "auto",
             block: int = 2048) -> np.ndarray:
    """The Gram matrix K = JJᵀ, K_μν = ∇f_μ·∇f_ν, shape (N, N), float64.

    Parameters
    ----------
    model : nn.Module
        A scalar-output network.
    x : Tensor
        Inputs (N, ...).
    method : {"auto", "fast", "generic"}
        ``"fast"`` (models whose parameters are all in Linear layers): with a_μ the input
        and δ_μ = ∂f_μ/∂z_μ the back-propagated output gradient of each layer,
        K = Σ_layers (A Aᵀ + 1) ⊙ (Δ Δᵀ) (the 1 for the bias), with no Jacobian formed.
        ``"generic"``: J from :func:`jacobian` (memory N·P), then JJᵀ.
    block : int
        Rows of K formed at a time in the fast route.
    """
    if method not in {"auto", "fast", "generic"}:
        raise ValueError(f"method must be auto, fast or generic, got {method!r}")
    fast = _linear_only(model)
    if method == "fast" and not fast:
        raise ValueError("fast path needs every trainable parameter in nn.Linear layers")
    if method == "generic" or not fast:
        J = jacobian(model, x, chunk_size=min(chunk_size, 256)).double()
        return (J @ J.T).numpy()
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)]
    acts: dict[nn.Module, list] = {m: [] for m in layers}
    deltas: dict[nn.Module, list] = {m: [] for m in layers}

    def hook(module, inputs, output):
        acts[module].append(inputs[0].detach().double())
        output.register_hook(lambda g, m=module: deltas[m].append(g.detach().double()))

    handles = [m.register_forward_hook(hook) for m in layers]
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for s in range(0, x.shape[0], chunk_size):
            f = _scalar_output(model(x[s:s + chunk_size]))
            torch.autograd.grad(f.sum(), params)
    finally:
        for h in handles:
            h.remove()
    N = x.shape[0]
    K = np.zeros((N, N))
    for m in layers:
        A = torch.cat(acts[m]).numpy()
        D = torch.cat(deltas[m]).numpy()
        has_w, has_b = m.weight.requires_grad, m.bias is not None and m.bias.requires_grad
        for r in range(0, N, block):
            ad = (A[r:r + block] @ A.T) if has_w else 0.0
            K[r:r + block] += (ad + (1.0 if has_b else 0.0)) * (D[r:r + block] @ D.T)
    return K


def loss_weights(output: torch.Tensor, target: torch.Tensor, *, loss=mse_per_sample) -> torch.Tensor:
    """w_μ = ½ (∂ℓ_μ/∂f_μ)² for a scalar output (w_μ = ℓ_μ for the mean-square loss)."""
    f = _scalar_output(output).detach().double().requires_grad_(True)
    ell = loss(f.reshape(-1, 1), target.double().reshape(-1, 1)).sum()
    (df,) = torch.autograd.grad(ell, f)
    return 0.5 * df.pow(2)


@dataclass(frozen=True)
class Spectra:
    """Nonzero-part spectra of the exact and the decoupled matrices (Eq. 7), descending.

    Attributes
    ----------
    exact : ndarray, shape (N,)
        Eigenvalues of (1/N) Σ w_μ ∇f_μ∇f_μᵀ (w_μ = ℓ_μ for MSE).
    decoupled : ndarray, shape (N,)
        Eigenvalues of w̄ · (1/N) Σ ∇f_μ∇f_μᵀ (w̄ = L for MSE).
    """

    exact: np.ndarray
    decoupled: np.ndarray

    def top_ratio(self, k: int) -> np.ndarray:
        """λ_i(exact)/λ_i(decoupled) for the k largest eigenvalues."""
        return self.exact[:k] / self.decoupled[:k]

    def trace_ratio(self) -> float:
        """tr(exact)/tr(decoupled) = mean(w_μ K_μμ)/(w̄ · mean K_μμ)."""
        return float(self.exact.sum() / self.decoupled.sum())


def decoupling_spectra(K: np.ndarray, w: np.ndarray) -> Spectra:
    """Eigenvalues of the exact W^{1/2} K W^{1/2}/N and decoupled w̄ K/N Gram matrices.

    Parameters
    ----------
    K : ndarray, shape (N, N)
        Gram matrix JJᵀ (:func:`ntk_gram`).
    w : ndarray, shape (N,)
        Weights w_μ ≥ 0 (:func:`loss_weights`; ℓ_μ for MSE).
    """
    K = np.asarray(K, dtype=float)
    w = np.asarray(w, dtype=float)
    N = K.shape[0]
    if K.shape != (N, N) or w.shape != (N,):
        raise ValueError(f"K must be N × N and w of length N, got {K.shape} and {w.shape}")
    if np.any(w < 0):
        raise ValueError("weights w_μ must be >= 0")
    s = np.sqrt(w)
    exact = np.linalg.eigvalsh(s[:, None] * K * s[None, :] / N)[::-1]
    decoupled = w.mean() * np.linalg.eigvalsh(K / N)[::-1]
    return Spectra(np.clip(exact, 0, None), np.clip(decoupled, 0, None))


@dataclass(frozen=True)
class PowerLawFit:
    """Least-squares fit log y = slope · log x + intercept.

    Attributes
    ----------
    slope, slope_stderr : float
        Fitted exponent and its ordinary-least-squares standard error.
    intercept : float
        Fitted intercept (natural log).
    n : int
        Number of points.
    """

    slope: float
    slope_stderr: float
    intercept: float
    n: int


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLawFit:
    """Fit y ∝ x^slope by ordinary least squares on log–log axes (x, y > 0, ≥ 3 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.size < 3 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("power-law fit needs >= 3 pairs of positive values")
    lx, ly = np.log(x), np.log(y)
    X = np.column_stack([lx, np.ones_like(lx)])
    coef, *_ = np.linalg.lstsq(X, ly, rcond=None)
    resid = ly - X @ coef
    dof = max(x.size - 2, 1)
    s2 = resid @ resid / dof
    se = np.sqrt(s2 / np.sum((lx - lx.mean()) ** 2))
    return PowerLawFit(float(coef[0]), float(se), float(coef[1]), int(x.size))


def _bench_noise_strength(quick: bool):
    """𝒩 of the paper's 784-2000-2000-2000-10 MLP: fast path against a backward() loop."""
    import time

    from .bench import BenchResult
    from .data import fashion_mnist
    from .models import mlp
    from .persample import per_sample_sq_norms_loop

    n, n_loop = (1000, 10) if quick else (10_000, 100)
    data = fashion_mnist(n)
    net = mlp([784, 2000, 2000, 2000, 10], seed=0)
    start = time.perf_counter()
    ns = noise_strength(net, data.x, data.y, method="fast")
    fast = time.perf_counter() - start
    start = time.perf_counter()
    per_sample_sq_norms_loop(net, data.x[:n_loop], data.y[:n_loop])
    loop = (time.perf_counter() - start) * n / n_loop  # extrapolated to all n samples
    assert np.isfinite(ns.noise)
    return BenchResult(
        name="noise-strength-mlp2000", unit="samples/s", rate=n / fast, naive_rate=n / loop,
        config=f"784-2000-2000-2000-10, N={n}, fast {fast:.1f} s, loop {n_loop} samples "
               f"extrapolated to {loop:.0f} s, {torch.get_num_threads()} threads")


def _register_benchmark() -> None:
    from .bench import benchmark

    benchmark("noise-strength-mlp2000")(_bench_noise_strength)


_register_benchmark()
