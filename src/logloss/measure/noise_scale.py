"""The gradient noise scale B_simple of McCandlish et al. (2018), exact and from two batch sizes.

McCandlish, Kaplan, Amodei et al., "An empirical model of large-batch training" (2018),
define the *simple noise scale*

    B_simple = tr Σ₁ / |G|²,

with G = ∇L the full-batch gradient and Σ₁ the covariance of a single-sample gradient,
Σ₁ = (1/N) Σ_μ ∇ℓ_μ∇ℓ_μᵀ − ∇L∇Lᵀ.  Its trace is the noise strength of the paper,
tr Σ₁ = 𝒩 = (1/N) Σ_μ ‖∇ℓ_μ‖² − ‖∇L‖², so B_simple = 𝒩 / ‖∇L‖² exactly.

Large-scale training code cannot afford the N per-sample gradients.  It estimates |G|² and
tr Σ₁ from the squared norms of two minibatch gradients of sizes B_small < B_big.  For a
minibatch of B samples drawn without replacement (Eq. 8),

    E |G_B|² = |G|² + c_B 𝒩,     c_B = (N − B) / (B (N − 1)),

so two sizes give two linear equations, solved by

    𝒮 = (|G_small|² − |G_big|²) / (c_small − c_big),
    𝒢 = (c_small |G_big|² − c_big |G_small|²) / (c_small − c_big),

unbiased estimates of tr Σ₁ and |G|².  McCandlish et al. write c_B = 1/B (sampling with
replacement, or N → ∞); with that choice E𝒮 = 𝒩 · N/(N − 1) and E𝒢 = |G|² − 𝒩/(N − 1), a
bias that is negligible for large N unless |G|² is itself small, which it is near a minimum.
As in their Appendix A, B_simple is estimated as the ratio of the means of 𝒮 and 𝒢 over many
independent draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_batch_size, check_positive_int
from .losses import mse_per_sample
from .noise import noise_strength

__all__ = ["GradientNoiseScale", "gradient_noise_scale", "minibatch_grad_sq_norm"]


@dataclass(frozen=True)
class GradientNoiseScale:
    """Exact and two-batch estimates of the simple noise scale at one θ.

    Attributes
    ----------
    b_simple : float
        Exact B_simple = 𝒩 / ‖∇L‖² from all N per-sample gradients.
    noise : float
        𝒩 = tr Σ₁ (exact).
    grad_sq_norm : float
        |G|² = ‖∇L‖² (exact).
    b_simple_two_batch : Measured
        Ratio of the mean two-batch estimates, mean(𝒮)/mean(𝒢), with its delta-method
        standard error over the draws.
    trace_estimate : Measured
        mean 𝒮 over the draws (estimates 𝒩), with its standard error.
    grad_sq_estimate : Measured
        mean 𝒢 over the draws (estimates |G|²), with its standard error.
    B_small, B_big, draws : int
        The two batch sizes and the number of independent draws of each.
    finite_population : bool
        Whether c_B = (N − B)/(B(N − 1)) (unbiased) or McCandlish et al.'s 1/B was used.
    """

    b_simple: float
    noise: float
    grad_sq_norm: float
    b_simple_two_batch: Measured
    trace_estimate: Measured
    grad_sq_estimate: Measured
    B_small: int
    B_big: int
    draws: int
    finite_population: bool


def minibatch_grad_sq_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                           loss=mse_per_sample) -> float:
    """|G_B|² = ‖∇L_B‖² in float64 for the minibatch (x, y), with L_B the mean of ℓ_μ."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(model(x), y).mean(), params)
    return float(sum(g.double().pow(2).sum() for g in grads))


def gradient_noise_scale(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    B_small: int,
    B_big: int,
    rng: np.random.Generator | int,
    draws: int = 100,
    loss=mse_per_sample,
    finite_population: bool = True,
    chunk_size: int = 1000,
) -> GradientNoiseScale:
    """The simple noise scale B_simple = tr Σ₁/|G|² = 𝒩/‖∇L‖², exact and from two batch sizes.

    Parameters
    ----------
    model : nn.Module
        The network at the parameters θ of interest (not changed).
    x, y : Tensor
        The N training inputs, shape (N, ...), and targets, shape (N, ...).
    B_small, B_big : int
        The two minibatch sizes, 1 ≤ B_small < B_big ≤ N (keyword-only).
    rng : numpy Generator or int
        Draws the minibatches (each without replacement, the two independent); an int seeds
        a new ``numpy.random.default_rng``.
    draws : int
        Independent pairs (small, big) of minibatches; the standard errors are over them.
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)``; L and L_B are its means.
    finite_population : bool
        Use c_B = (N − B)/(B(N − 1)) (unbiased for draws without replacement) rather than
        the 1/B of McCandlish et al. (2018, App. A.1).
    chunk_size : int
        Samples per pass for the exact per-sample statistics.

    Returns
    -------
    GradientNoiseScale

    Notes
    -----
    The exact value uses :func:`logloss.noise_strength`.  The two-batch estimates 𝒮 and 𝒢
    solve E|G_B|² = |G|² + c_B 𝒩 for two batch sizes; see the module docstring.

    References
    ----------
    McCandlish et al. (2018), Eq. (2.3) and App. A.1; Mori et al. (2022), Eq. (8).
    """
    N = x.shape[0]
    B_small = check_batch_size(B_small, N)
    B_big = check_batch_size(B_big, N)
    if B_small >= B_big:
        raise InvalidInput(f"need B_small < B_big, got B_small={B_small}, B_big={B_big}")
    draws = check_positive_int(draws, "draws")
    if draws < 2:
        raise InvalidInput("draws must be >= 2 for a standard error")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    ns = noise_strength(model, x, y, loss=loss, chunk_size=chunk_size)

    def c(B: int) -> float:
        return (N - B) / (B * (N - 1)) if finite_population else 1.0 / B

    cs, cb = c(B_small), c(B_big)
    S, Gq = np.empty(draws), np.empty(draws)
    for i in range(draws):
        small = torch.as_tensor(rng.choice(N, B_small, replace=False), device=x.device)
        big = torch.as_tensor(rng.choice(N, B_big, replace=False), device=x.device)
        g_s = minibatch_grad_sq_norm(model, x[small], y[small], loss=loss)
        g_b = minibatch_grad_sq_norm(model, x[big], y[big], loss=loss)
        S[i] = (g_s - g_b) / (cs - cb)
        Gq[i] = (cs * g_b - cb * g_s) / (cs - cb)
    s_mean, g_mean = S.mean(), Gq.mean()
    cov = np.cov(S, Gq, ddof=1) / draws
    ratio = s_mean / g_mean
    # delta method for mean(S)/mean(G)
    var = ratio**2 * (cov[0, 0] / s_mean**2 + cov[1, 1] / g_mean**2 - 2 * cov[0, 1] / (s_mean * g_mean))
    return GradientNoiseScale(
        b_simple=ns.noise / ns.grad_sq_norm,
        noise=ns.noise,
        grad_sq_norm=ns.grad_sq_norm,
        b_simple_two_batch=Measured(float(ratio), float(np.sqrt(max(var, 0.0)))),
        trace_estimate=Measured(float(s_mean), float(np.sqrt(cov[0, 0]))),
        grad_sq_estimate=Measured(float(g_mean), float(np.sqrt(cov[1, 1]))),
        B_small=B_small, B_big=B_big, draws=draws, finite_population=finite_population,
    )
