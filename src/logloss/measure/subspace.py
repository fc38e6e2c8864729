"""How much of an SGD displacement lies in the top Hessian eigenspace (Assumption 4.6).

Assumption 4.6 of Mori et al. (2022) says that near the minimum θ* SGD moves in the span
of the n outlier eigenvectors v_1, ..., v_n of H*.  For displacements Δθ = θ − θ* of any
model this module measures

* the displacement fraction  Σ_{i≤n} (v_iᵀΔθ)² / |Δθ|²;
* the curvature fraction     Σ_{i≤n} h_i (v_iᵀΔθ)² / ΔθᵀGΔθ, the share of the quadratic
  loss increase ½ΔθᵀGΔθ carried by the top n directions, with the generalised
  Gauss–Newton matrix G = (1/N) Σ_μ J_μᵀ Λ_μ J_μ (Eq. 44; G = JᵀJ/N for the mean-square
  loss).  ΔθᵀGΔθ = (1/N) Σ_μ |A_μᵀ J_μΔθ|² with Λ_μ = A_μA_μᵀ
  (:func:`~logloss.measure.ggn.loss_hessian_factor`), and J_μΔθ is one forward-mode
  product (``torch.func.jvp``): exact, without forming J.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import jvp

from ..core.errors import InvalidInput
from ._guard import call, check, check_chunk_size, torch_errors, unchanged
from .ggn import loss_hessian_factor

__all__ = ["gauss_newton_quadratic", "subspace_fractions"]


def gauss_newton_quadratic(model: nn.Module, x: torch.Tensor, delta, *, loss: str = "mse",
                           chunk_size: int | None = 2048) -> np.ndarray:
    """ΔθᵀGΔθ at the model's θ for each row Δθ of ``delta``, with G the generalised
    Gauss–Newton matrix of ``loss`` (Eq. 44), shape (R,), float64.

    Parameters
    ----------
    model : nn.Module
        The model at θ* (not modified); θ is its trainable parameters in ``parameters()``
        order (P entries, as :func:`~logloss.measure.gradients.flat_params`).
    x : Tensor, shape (N, ...)
        Inputs x_μ.
    delta : array_like or Tensor, shape (R, P) or (P,)
        Displacements Δθ.
    loss : {"mse", "ce"}
        The per-sample loss whose Gauss–Newton matrix is meant (see
        :mod:`logloss.measure.ggn`).
    chunk_size : int or None
        Samples per forward-mode pass (None: all at once).
    """
    with unchanged(model):
        c = check(model, x)
        chunk = check_chunk_size(chunk_size) or int(x.shape[0])
        d = torch.as_tensor(delta, dtype=c.dtype, device=x.device)
        d = d.reshape(1, -1) if d.dim() == 1 else d
        if d.dim() != 2 or d.shape[1] != c.P:
            raise InvalidInput(f"delta must have shape (R, {c.P}) (P trainable entries), got "
                               f"{tuple(torch.as_tensor(delta).shape)}")
        names = list(c.params)
        sizes = [c.params[k].numel() for k in names]
        out = np.empty(d.shape[0])
        for r in range(d.shape[0]):
            tangent = {k: t.view_as(c.params[k]) for k, t in zip(names, d[r].split(sizes))}
            total = torch.zeros((), dtype=torch.float64, device=x.device)
            for s in range(0, x.shape[0], chunk):
                xc = x[s:s + chunk]
                with torch_errors():
                    f, jv = jvp(lambda p, xc=xc: call(model, p, xc), (c.params,), (tangent,))
                A = loss_hessian_factor(f.reshape(f.shape[0], -1), loss)  # (n, K, K)
                g = torch.einsum("nab,na->nb", A, jv.reshape(jv.shape[0], -1).double())
                total += (g**2).sum()
            out[r] = float(total) / x.shape[0]
    return out


def subspace_fractions(delta: np.ndarray, eigenvectors: np.ndarray, eigenvalues: np.ndarray,
                       quadratic: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Displacement and curvature fractions in the top-n eigenspace, one per replica.

    Parameters
    ----------
    delta : ndarray, shape (R, P)
        Displacements Δθ.
    eigenvectors : ndarray, shape (P, k), k ≥ n
        Orthonormal top eigenvectors v_i of H*.
    eigenvalues : ndarray, shape (k,)
        h_1 ≥ ... ≥ h_k.
    quadratic : ndarray, shape (R,)
        ΔθᵀH*Δθ (:func:`gauss_newton_quadratic`).
    n : int
        Size of the subspace.
    """
    proj = delta @ eigenvectors[:, :n]  # (R, n)
    disp = (proj**2).sum(1) / (delta**2).sum(1)
    curv = (proj**2 * eigenvalues[None, :n]).sum(1) / quadratic
    return disp, curv
