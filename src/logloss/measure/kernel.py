"""The noise strength split into loss, loss-distribution, kernel and coupling factors (Sec. 3.1, App. D).

Conventions (as in :mod:`logloss.measure.losses`): ℓ_μ is the per-sample loss, L = (1/N) Σ_μ ℓ_μ,
and the noise strength is 𝒩 = (1/N) Σ_μ ‖∇ℓ_μ‖² − ‖∇L‖².  For a model with K outputs let
J_μ = ∂f(θ, x_μ)/∂θ (K × P), Θ_μ = J_μ J_μᵀ (K × K, the sample's block of the neural-tangent
kernel), κ_μ = tr Θ_μ / K and e_μ = ∂ℓ_μ/∂f_μ (the residual f_μ − y_μ for the mean-square
loss, p_μ − onehot(y_μ) for the cross-entropy), so that ∇ℓ_μ = J_μᵀ e_μ and
‖∇ℓ_μ‖² = e_μᵀ Θ_μ e_μ.  For any power p > 0 the noise strength factorises exactly as

    𝒩 = L^p · M_p · s · κ · a · w · g,

    M_p = (1/N) Σ_μ (ℓ_μ/L)^p               shape of the distribution of ℓ_μ/L
    s   = Σ_μ ‖e_μ‖² / Σ_μ ℓ_μ^p             loss shape (s = 2 for the mean-square loss, p = 1)
    κ   = (1/N) Σ_μ κ_μ                      kernel: output-averaged NTK trace per sample
    a   = Σ_μ ‖e_μ‖² κ_μ / (κ Σ_μ ‖e_μ‖²)    across samples: 1 if ‖e_μ‖² and κ_μ are uncorrelated
    w   = Σ_μ e_μᵀ Θ_μ e_μ / Σ_μ ‖e_μ‖² κ_μ  within a sample: 1 if e_μ is isotropic over Θ_μ
    g   = 𝒩 / ((1/N) Σ_μ ‖∇ℓ_μ‖²)           the −‖∇L‖² term

so that log 𝒩 is the sum of the logs of the factors, and so is any log–log slope of 𝒩 against
L fitted by least squares.  p = 1 is the mean-square loss, for which Eq. (9) and its
K-output form take a, w and g as 1 and κ as constant in the valley; p = 2 is the cross-entropy
near zero loss, where ‖e_μ‖ ∝ ℓ_μ (App. D).  A drift of 𝒩/L^p during training is thereby
split into a drift of the loss distribution (M_p), of the loss shape (s), of the kernel (κ),
of the coupling of residuals to the kernel across (a) and within (w) samples, and of the
gradient term (g).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..core.errors import InvalidInput
from ..core.validation import check_positive_int
from .gradients import per_sample_grad_stats
from .gram import ntk_gram
from .losses import mse_per_sample, resolve_loss

__all__ = ["FACTORS", "PerSampleKernel", "per_sample_kernel", "gauss_newton_traces"]


FACTORS = ("moment", "shape", "kernel", "across", "within", "gradient")


@dataclass(frozen=True)
class PerSampleKernel:
    """Per-sample losses, residuals, gradient norms and kernel traces at one θ (float64).

    Attributes
    ----------
    losses : ndarray, shape (N,)
        ℓ_μ.
    residual_sq_norms : ndarray, shape (N,)
        ‖e_μ‖² = ‖∂ℓ_μ/∂f_μ‖².
    grad_sq_norms : ndarray, shape (N,)
        ‖∇ℓ_μ‖² = e_μᵀ Θ_μ e_μ.
    jacobian_sq_norms : ndarray, shape (N,)
        ‖J_μ‖²_F = tr Θ_μ = Σ_k ‖∇f_μk‖², summed over the K outputs.
    grad_sq_norm : float
        ‖∇L‖².
    outputs : int
        K, the number of outputs per sample.
    """

    losses: np.ndarray
    residual_sq_norms: np.ndarray
    grad_sq_norms: np.ndarray
    jacobian_sq_norms: np.ndarray
    grad_sq_norm: float
    outputs: int

    @property
    def loss(self) -> float:
        """L = (1/N) Σ ℓ_μ."""
        return float(self.losses.mean())

    @property
    def noise(self) -> float:
        """𝒩 = (1/N) Σ ‖∇ℓ_μ‖² − ‖∇L‖²."""
        return float(self.grad_sq_norms.mean() - self.grad_sq_norm)

    @property
    def kernel(self) -> float:
        """κ = (1/(N K)) Σ_μ ‖J_μ‖²_F, the output-averaged kernel trace per sample."""
        return float(self.jacobian_sq_norms.mean() / self.outputs)

    def factors(self, power: float) -> dict[str, float]:
        """The factors of 𝒩 = L^p · M_p · s · κ · a · w · g (module docstring), p = ``power``.

        Returns
        -------
        dict
            ``loss_power`` (L^p) and, in the order of ``FACTORS``, ``moment`` (M_p),
            ``shape`` (s), ``kernel`` (κ), ``across`` (a), ``within`` (w) and ``gradient``
            (g); their product is 𝒩 up to rounding.
        """
        p = float(power)
        if not np.isfinite(p) or p <= 0:
            raise InvalidInput(f"power p must be finite and > 0, got {power!r}")
        L = self.loss
        e2 = self.residual_sq_norms
        if not (L > 0 and e2.sum() > 0):
            raise InvalidInput(f"the loss L = {L} and the residuals must be > 0 to factorise 𝒩")
        kmu = self.jacobian_sq_norms / self.outputs
        msq = float(self.grad_sq_norms.mean())
        lp = float(np.mean(self.losses ** p))
        ek = float(np.mean(e2 * kmu))
        return dict(loss_power=L ** p, moment=lp / L ** p, shape=float(e2.mean()) / lp,
                    kernel=self.kernel, across=ek / (self.kernel * float(e2.mean())),
                    within=msq / ek, gradient=self.noise / msq)


def _output(k: int):
    def f(out: torch.Tensor, _target: torch.Tensor) -> torch.Tensor:
        return out.reshape(out.shape[0], -1)[:, k]
    return f


def per_sample_kernel(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, loss=mse_per_sample,
                      chunk_size: int | None = None) -> PerSampleKernel:
    """ℓ_μ, ‖e_μ‖², ‖∇ℓ_μ‖², ‖J_μ‖²_F and ‖∇L‖² at the model's current θ, in K + 1 passes.

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·) with K outputs per sample; supported models, refusals and the
        guarantee that it is left unchanged as in
        :func:`~logloss.measure.gradients.per_sample_grad_stats`.
    x, y : Tensor
        The N inputs and their targets (as for ``loss``).
    loss : callable or {"mse", "ce"}
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int, optional
        Samples per pass; the result does not depend on it.

    Notes
    -----
    ‖J_μ‖²_F = Σ_k ‖∇f_μk‖² comes from one per-sample pass per output k, each treating the
    output f_μk as the "loss" of :func:`~logloss.measure.gradients.per_sample_grad_stats`
    (for Linear and Conv2d layers no per-sample gradient is formed); e_μ = ∂ℓ_μ/∂f_μ from
    one more backward pass to the outputs.
    """
    stats = per_sample_grad_stats(model, x, y, loss=loss, chunk_size=chunk_size)
    loss_fn = resolve_loss(loss)
    size = x.shape[0] if chunk_size is None else int(chunk_size)
    e2, K = [], 1
    with torch.enable_grad():
        for s in range(0, x.shape[0], size):
            out = model(x[s:s + size]).detach().requires_grad_(True)
            e = torch.autograd.grad(loss_fn(out, y[s:s + size]).sum(), out)[0]
            e2.append(e.reshape(e.shape[0], -1).double().pow(2).sum(dim=1))
            K = int(out[0].numel())
    dummy = torch.zeros(x.shape[0], device=x.device)
    jac = sum(per_sample_grad_stats(model, x, dummy, loss=_output(k), chunk_size=chunk_size).sq_norms
              for k in range(K))
    return PerSampleKernel(stats.losses.cpu().numpy(), torch.cat(e2).cpu().numpy(),
                           stats.sq_norms.cpu().numpy(), jac.cpu().numpy(),
                           float(stats.mean_grad.pow(2).sum()), K)


def gauss_newton_traces(model: nn.Module, x: torch.Tensor, *, powers: int = 3,
                        chunk_size: int | None = None) -> np.ndarray:
    """tr G, tr G², …, tr G^powers of the Gauss–Newton matrix G = JᵀJ/N (Eq. 44), exactly.

    The nonzero spectrum of G is that of the N × N Gram matrix JJᵀ/N, so
    tr G^k = tr (JJᵀ/N)^k, from :func:`~logloss.measure.gram.ntk_gram` (which never forms
    J for networks of Linear layers).  Memory N² floats.

    Parameters
    ----------
    model : nn.Module
        A scalar-output network, as for :func:`~logloss.measure.gram.ntk_gram`; left unchanged.
    x : Tensor
        The N training inputs.
    powers : int
        The largest power k (≥ 1).
    chunk_size : int, optional
        Samples per pass of :func:`~logloss.measure.gram.ntk_gram`.

    Returns
    -------
    ndarray, shape (powers,)
        tr G^k for k = 1 … ``powers`` (float64).
    """
    powers = check_positive_int(powers, "powers")
    Kn = ntk_gram(model, x, chunk_size=chunk_size) / x.shape[0]
    out, M = [float(np.trace(Kn))], Kn
    for _ in range(powers - 1):
        out.append(float(np.sum(M * Kn)))   # tr(M Kn) = Σ M ⊙ Knᵀ, Kn symmetric
        if len(out) < powers:
            M = M @ Kn
    return np.array(out)
