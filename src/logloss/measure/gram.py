"""The Gram (neural-tangent) matrix and the decoupling approximation (Eq. 7, Sec. 5.1).

Conventions (as in :mod:`logloss.measure.losses`): ℓ_μ is the per-sample loss, the training
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

from ..core.errors import InvalidInput
from ..core.validation import check_positive_int
from ._guard import check, check_chunk_size, torch_errors, unchanged
from .gradients import _jacobian, fast_path_problem
from .losses import scalar_output

__all__ = ["ntk_gram", "Spectra", "decoupling_spectra"]


def ntk_gram(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None, method: str = "auto",
             block: int = 2048) -> np.ndarray:
    """The Gram matrix K = JJᵀ, K_μν = ∇f_μ·∇f_ν, shape (N, N), float64.

    Parameters
    ----------
    model : nn.Module
        A scalar-output network; supported models and refusals as in
        :func:`~logloss.measure.gradients.per_sample_grads` (BatchNorm and dropout only in
        eval mode).  It is left exactly as it was.
    x : Tensor
        Inputs (N, ...).
    chunk_size : int, optional
        Samples per pass (fast route, default 1000) or per vmap call (generic route,
        lowered to fit memory).
    method : {"auto", "fast", "generic"}
        ``"fast"`` (models whose parameters are all in Linear layers, each called once on
        (batch, features) inputs, no tied weights): with a_μ the input and
        δ_μ = ∂f_μ/∂z_μ the back-propagated output gradient of each layer,
        K = Σ_layers (A Aᵀ + 1) ⊙ (Δ Δᵀ) (the 1 for the bias), with no Jacobian formed.
        ``"generic"``: J from :func:`jacobian` (memory N·P), then JJᵀ.  ``"auto"``: fast
        where a probe of a few samples shows it exact, generic otherwise.
    block : int
        Rows of K formed at a time in the fast route.
    """
    if method not in {"auto", "fast", "generic"}:
        raise InvalidInput(f"method must be auto, fast or generic, got {method!r}")
    chunk = check_chunk_size(chunk_size)
    block = check_positive_int(block, "block")
    with unchanged(model):
        c = check(model, x)
        if len(c.out_shape) > 2 or (len(c.out_shape) == 2 and c.out_shape[1] != 1):
            raise InvalidInput(f"ntk_gram needs a model with a scalar output f, got outputs of shape "
                               f"{c.out_shape[1:]} per sample")
        fast = False
        if method != "generic":
            with torch_errors():
                problem = fast_path_problem(model, x[:8], scalar_output, kinds=(nn.Linear,), linear_2d=True)
            if problem and method == "fast":
                raise InvalidInput(f"fast path: {problem}; use method='generic' or 'auto'")
            fast = problem is None
        if not fast:
            J = _jacobian(model, x, c, chunk).double()
            return (J @ J.T).cpu().numpy()
        return _fast_gram(model, x, 1000 if chunk is None else chunk, block)


def _fast_gram(model: nn.Module, x: torch.Tensor, chunk: int, block: int) -> np.ndarray:
    layers = [m for m in model.modules() if isinstance(m, nn.Linear)
              and any(p.requires_grad for p in m.parameters(recurse=False))]
    acts: dict[nn.Module, list] = {m: [] for m in layers}
    deltas: dict[nn.Module, list] = {m: [] for m in layers}

    def hook(module, inputs, output):
        acts[module].append(inputs[0].detach().double())
        output.register_hook(lambda g, m=module: deltas[m].append(g.detach().double()))

    handles = [m.register_forward_hook(hook) for m in layers]
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for s in range(0, x.shape[0], chunk):
            with torch.enable_grad(), torch_errors():
                f = scalar_output(model(x[s:s + chunk]))
                torch.autograd.grad(f.sum(), params)
    finally:
        for h in handles:
            h.remove()
    N = x.shape[0]
    K = np.zeros((N, N))
    for m in layers:
        A = torch.cat(acts[m]).cpu().numpy()
        D = torch.cat(deltas[m]).cpu().numpy()
        has_w, has_b = m.weight.requires_grad, m.bias is not None and m.bias.requires_grad
        for r in range(0, N, block):
            ad = (A[r:r + block] @ A.T) if has_w else 0.0
            K[r:r + block] += (ad + (1.0 if has_b else 0.0)) * (D[r:r + block] @ D.T)
    return K


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
        raise InvalidInput(f"K must be N × N and w of length N, got {K.shape} and {w.shape}")
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(w))):
        raise InvalidInput("K and w must be finite")
    if np.any(w < 0):
        raise InvalidInput("weights w_μ must be >= 0")
    s = np.sqrt(w)
    exact = np.linalg.eigvalsh(s[:, None] * K * s[None, :] / N)[::-1]
    decoupled = w.mean() * np.linalg.eigvalsh(K / N)[::-1]
    return Spectra(np.clip(exact, 0, None), np.clip(decoupled, 0, None))
