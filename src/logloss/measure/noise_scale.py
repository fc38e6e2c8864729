"""The gradient noise scale B_simple of McCandlish et al. (2018), exact and from two batch sizes.

McCandlish, Kaplan, Amodei et al., "An empirical model of large-batch training" (2018),
define the *simple noise scale*

    B_simple = tr Σ₁ / |G|²,

with G = ∇L the full-batch gradient and Σ₁ the covariance of a single-sample gradient,
Σ₁ = (1/N) Σ_μ ∇ℓ_μ∇ℓ_μᵀ − ∇L∇Lᵀ.  Its trace is the noise strength of the paper,
tr Σ₁ = 𝒩 = (1/N) Σ_μ ‖∇ℓ_μ‖² − ‖∇L‖², so B_simple = 𝒩 / ‖∇L‖² exactly.

Large-scale training code cannot afford the N per-sample gradients.  It estimates |G|² and
tr Σ₁ from the squared norms of minibatch gradients of two sizes B_small < B_big.  For a
minibatch of B samples drawn without replacement (Eq. 8),

    E |G_B|² = |G|² + c_B 𝒩,     c_B = (N − B) / (B (N − 1)),

so two sizes give two linear equations, solved by

    𝒮 = (|G_small|² − |G_big|²) / (c_small − c_big),
    𝒢 = (c_small |G_big|² − c_big |G_small|²) / (c_small − c_big),

unbiased estimates of tr Σ₁ and |G|².  McCandlish et al. write c_B = 1/B (sampling with
replacement, or N → ∞); with that choice E𝒮 = 𝒩 · N/(N − 1) and E𝒢 = |G|² − 𝒩/(N − 1), a
bias that is negligible for large N unless |G|² is itself small, which it is near a minimum.
As in their Appendix A, B_simple is estimated as the ratio of the means of 𝒮 and 𝒢 over many
draws.

The small batches are nested in the big one, as in data-parallel training where each
worker's gradient is a small batch and their mean the big one: a draw is one big batch of
B_big samples, cut into m = ⌊B_big/B_small⌋ disjoint small batches, and |G_small|² is the
mean of their m squared norms (each small batch is a uniform subset, so each is unbiased).
All of it comes from one forward and backward pass over the big batch: on the fast path
(:mod:`logloss.measure.gradients`) the squared norm of each small batch's summed gradient
is formed layer by layer, as per-sample norms are (B_small = 1 gives per-sample norms);
other models take one backward pass per small batch.  Nesting removes the independent big
batch's own noise from the difference |G_small|² − |G_big|², and m small batches instead of
one divide the rest of it by about m; ``logloss bench --peers`` measures the gain at equal
compute.  :class:`~logloss.measure.monitor.NoiseMonitor` uses the same estimate on the
minibatches of the reader's training loop, from the gradients of the loop's own backward
pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_batch_size, check_positive_int
from ._guard import check, torch_errors, unchanged
from .gradients import _Capture, _layer_stats, fast_path_problem
from .losses import mse_per_sample
from .noise import noise_strength

__all__ = ["GradientNoiseScale", "gradient_noise_scale", "minibatch_grad_sq_norm", "BatchNoise",
           "batch_noise_scale"]


@dataclass(frozen=True)
class BatchNoise:
    """The nested two-batch estimates from one big batch.

    Attributes
    ----------
    trace, grad_sq : float
        𝒮 (estimates tr Σ₁ = 𝒩) and 𝒢 (estimates |G|²).
    small_sq, big_sq : float
        The mean of |G_small,i|² over the small batches, and |G_big|².
    B_small, B_big, blocks : int
        The sizes and the number m of small batches in the big one.
    """

    trace: float
    grad_sq: float
    small_sq: float
    big_sq: float
    B_small: int
    B_big: int
    blocks: int


def _c(B: int, N: int | None, finite_population: bool) -> float:
    """c_B = (N − B)/(B(N − 1)) without replacement, 1/B for N = ∞ (or McCandlish's choice)."""
    if N is None or not finite_population:
        return 1.0 / B
    return (N - B) / (B * (N - 1)) if N > 1 else 0.0


def _estimate(small_sq: float, big_sq: float, B_small: int, B_big: int, blocks: int, N, finite_population):
    cs, cb = _c(B_small, N, finite_population), _c(B_big, N, finite_population)
    return BatchNoise((small_sq - big_sq) / (cs - cb), (cs * big_sq - cb * small_sq) / (cs - cb),
                      small_sq, big_sq, B_small, B_big, blocks)


def block_sq_norms(records: dict, B_small: int, scale: float = 1.0) -> tuple[float, float]:
    """(mean over the small batches of |G_small,i|², |G_big|²) from captured layer inputs and
    output gradients (:class:`~logloss.measure.gradients._Capture` records of one batch).

    The gradients δ are those of Σ_μ ℓ_μ times ``scale`` (``scale`` = B for a loop that
    back-propagated the batch mean).  The first m·B_small samples form the m small batches.
    """
    B = next(iter(records.values()))[0][0].shape[0]
    m = B // B_small
    cut = m * B_small
    small = torch.zeros(m, dtype=torch.float64)
    total: dict = {}
    for module, recs in records.items():
        a, _, _, delta = recs[0]
        delta = delta * scale if scale != 1.0 else delta
        sq, sums = _layer_stats(module, a[:cut], delta[:cut], B_small)
        small += sq.cpu()
        if cut < B:
            sums = {p: g + sums.get(p, 0) for p, g in _layer_stats(module, a[cut:], delta[cut:], B - cut)[1].items()}
        for p, g in sums.items():
            total[p] = total.get(p, 0) + g.double()
    big = float(sum(g.pow(2).sum() for g in total.values())) / B**2
    return float(small.mean()) / B_small**2, big


def _batch(model: nn.Module, params: list, xb, yb, loss, B_small: int, fast: bool) -> tuple[float, float]:
    """(mean |G_small,i|², |G_big|²) for the big batch (xb, yb) by one pass (fast) or one
    backward pass per small batch."""
    B = xb.shape[0]
    if fast:
        cap = _Capture(model)
        try:
            with torch.enable_grad(), torch_errors():
                cap.backward(loss(model(xb), yb).sum(), params)
            return block_sq_norms(cap.records, B_small)
        finally:
            cap.close()
    m = B // B_small
    parts = [(s, s + B_small) for s in range(0, m * B_small, B_small)] + ([(m * B_small, B)] if m * B_small < B else [])
    total, small = None, []
    for s, e in parts:
        with torch.enable_grad(), torch_errors():
            g = torch.autograd.grad(loss(model(xb[s:e]), yb[s:e]).sum(), params, allow_unused=True)
        flat = torch.cat([torch.zeros(p.numel(), dtype=torch.float64, device=p.device) if t is None
                          else t.reshape(-1).double() for p, t in zip(params, g)])
        if e - s == B_small and len(small) < m:
            small.append(float(flat.pow(2).sum()) / B_small**2)
        total = flat if total is None else total + flat
    return float(np.mean(small)), float(total.pow(2).sum()) / B**2


def batch_noise_scale(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, B_small: int,
                      N: int | None = None, loss=mse_per_sample, finite_population: bool = True) -> BatchNoise:
    """𝒮 and 𝒢 from one big batch (x, y), e.g. a minibatch of a training loop, with small
    batches of ``B_small`` nested in it (see the module docstring).

    Parameters
    ----------
    model : nn.Module
        The network at θ (not changed).
    x, y : Tensor
        The big batch: B_big = len(x) samples drawn uniformly without replacement.
    B_small : int
        Size of the nested small batches (1 ≤ B_small < B_big; 1 uses per-sample norms).
    N : int, optional
        The data set's size, for c_B = (N − B)/(B(N − 1)); None for an infinite one (1/B).
    loss : callable or {"mse", "ce"}
        Per-sample loss.
    finite_population : bool
        Use the finite-population c_B (when N is given).
    """
    B_big = int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0
    B_small = check_positive_int(B_small, "B_small")
    if not B_small < B_big:
        raise InvalidInput(f"need B_small < B_big = len(x), got B_small={B_small}, B_big={B_big}")
    if N is not None:
        check_batch_size(B_big, N)
    with unchanged(model):
        c = check(model, x, y, loss, batch=B_big)
        fast = _fast(model, x, c)
        params = [p for p in model.parameters() if p.requires_grad]
        small, big = _batch(model, params, x, c.y, c.loss, B_small, fast)
    return _estimate(small, big, B_small, B_big, B_big // B_small, N, finite_population)


def _fast(model: nn.Module, x, c) -> bool:
    k = min(int(x.shape[0]), 8)
    with torch_errors():
        return fast_path_problem(model, x[:k], lambda out: c.loss(out, c.y[:k])) is None


@dataclass(frozen=True)
class GradientNoiseScale:
    """Exact and two-batch estimates of the simple noise scale at one θ.

    Attributes
    ----------
    b_simple : float
        Exact B_simple = 𝒩 / ‖∇L‖² from all N per-sample gradients (NaN with exact=False).
    noise : float
        𝒩 = tr Σ₁ (exact; NaN with exact=False).
    grad_sq_norm : float
        |G|² = ‖∇L‖² (exact; NaN with exact=False).
    b_simple_two_batch : Measured
        Ratio of the mean two-batch estimates, mean(𝒮)/mean(𝒢), with its delta-method
        standard error over the draws.
    trace_estimate : Measured
        mean 𝒮 over the draws (estimates 𝒩), with its standard error.
    grad_sq_estimate : Measured
        mean 𝒢 over the draws (estimates |G|²), with its standard error.
    B_small, B_big, draws : int
        The two batch sizes and the number of independent big batches (each holding
        ⌊B_big/B_small⌋ nested small ones).
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
    with unchanged(model):
        c = check(model, x, y, loss, batch=int(x.shape[0]))
        params = [p for p in model.parameters() if p.requires_grad]
        with torch.enable_grad(), torch_errors():
            grads = torch.autograd.grad(c.loss(model(x), c.y).mean(), params, allow_unused=True)
    return float(sum(g.double().pow(2).sum() for g in grads if g is not None))


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
    exact: bool = True,
    chunk_size: int | None = None,
) -> GradientNoiseScale:
    """The simple noise scale B_simple = tr Σ₁/|G|² = 𝒩/‖∇L‖², from nested batches of two
    sizes, and exactly.

    Parameters
    ----------
    model : nn.Module
        The network at the parameters θ of interest (not changed).
    x, y : Tensor
        The N training inputs, shape (N, ...), and targets, shape (N, ...).
    B_small, B_big : int
        The two minibatch sizes, 1 ≤ B_small < B_big ≤ N (keyword-only).
    rng : numpy Generator or int
        Draws the big batches (without replacement); an int seeds a new
        ``numpy.random.default_rng``.
    draws : int
        Independent big batches, each cut into ⌊B_big/B_small⌋ nested small batches; the
        standard errors are over the draws.
    loss : callable or {"mse", "ce"}
        Per-sample loss ``loss(output, target) -> (batch,)``; L and L_B are its means.
    finite_population : bool
        Use c_B = (N − B)/(B(N − 1)) (unbiased for draws without replacement) rather than
        the 1/B of McCandlish et al. (2018, App. A.1).
    exact : bool
        Also compute the exact B_simple, 𝒩 and |G|² from all N per-sample gradients (one
        pass over the data); with False they are NaN and only the draws are computed.
    chunk_size : int, optional
        Samples per pass of the exact per-sample statistics.

    Returns
    -------
    GradientNoiseScale

    Notes
    -----
    The exact value uses :func:`logloss.noise_strength`.  The two-batch estimates 𝒮 and 𝒢
    solve E|G_B|² = |G|² + c_B 𝒩 for the two sizes; see the module docstring.

    References
    ----------
    McCandlish et al. (2018), Eq. (2.3) and App. A.1; Mori et al. (2022), Eq. (8).
    """
    N = int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0
    B_small = check_batch_size(B_small, N)
    B_big = check_batch_size(B_big, N)
    if B_small >= B_big:
        raise InvalidInput(f"need B_small < B_big, got B_small={B_small}, B_big={B_big}")
    draws = check_positive_int(draws, "draws")
    if draws < 2:
        raise InvalidInput("draws must be >= 2 for a standard error")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    nan = float("nan")
    ns = noise_strength(model, x, y, loss=loss, chunk_size=chunk_size) if exact else None
    S, Gq = np.empty(draws), np.empty(draws)
    with unchanged(model):
        c = check(model, x, y, loss, batch=B_big)
        fast = _fast(model, x, c)
        params = [p for p in model.parameters() if p.requires_grad]
        for i in range(draws):
            big = torch.as_tensor(rng.choice(N, B_big, replace=False), device=x.device)
            small, bigsq = _batch(model, params, x[big], c.y[big], c.loss, B_small, fast)
            est = _estimate(small, bigsq, B_small, B_big, B_big // B_small, N, finite_population)
            S[i], Gq[i] = est.trace, est.grad_sq
    s_mean, g_mean = S.mean(), Gq.mean()
    cov = np.cov(S, Gq, ddof=1) / draws
    ratio = s_mean / g_mean
    # delta method for mean(S)/mean(G)
    var = ratio**2 * (cov[0, 0] / s_mean**2 + cov[1, 1] / g_mean**2 - 2 * cov[0, 1] / (s_mean * g_mean))
    return GradientNoiseScale(
        b_simple=ns.noise / ns.grad_sq_norm if exact else nan,
        noise=ns.noise if exact else nan,
        grad_sq_norm=ns.grad_sq_norm if exact else nan,
        b_simple_two_batch=Measured(float(ratio), float(np.sqrt(max(var, 0.0)))),
        trace_estimate=Measured(float(s_mean), float(np.sqrt(max(cov[0, 0], 0.0)))),
        grad_sq_estimate=Measured(float(g_mean), float(np.sqrt(max(cov[1, 1], 0.0)))),
        B_small=B_small, B_big=B_big, draws=draws, finite_population=finite_population,
    )
