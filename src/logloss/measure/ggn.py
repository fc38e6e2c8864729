"""The generalised Gauss–Newton matrix of any loss, as a Jacobian (App. E, Eq. 44).

For a per-sample loss ℓ(f_μ, y_μ) of the K outputs f_μ, the generalised Gauss–Newton
matrix is

    G = (1/N) Σ_μ J_μᵀ Λ_μ J_μ,     Λ_μ = ∂²ℓ_μ/∂f_μ² (K × K, positive semi-definite),

which is the paper's H ≈ (1/N) Σ ∇f∇fᵀ (Eq. 44) for the mean-square loss (Λ = I) and
the output-space-weighted version for the cross-entropy loss.  Writing Λ_μ = A_μ A_μᵀ,
G = J̃ᵀJ̃/N with rows J̃_μ = A_μᵀ J_μ, so :func:`logloss.hessian_outliers` runs unchanged on
J̃ (pass it as ``J=``).  The factors are:

* mean-square loss ℓ = ½‖f − y‖²: A = I;
* cross-entropy over K ≥ 2 outputs, targets on the simplex (one-hot or probabilities):
  Λ = diag(p) − ppᵀ with p = softmax(f), and A = diag(√p) − p√pᵀ (so AAᵀ = Λ since
  Σp = 1);
* binary cross-entropy with logits for one output (labels in {0, 1}, probabilities, or
  ±1, see :mod:`logloss.measure.losses`): Λ = p(1 − p) with p = σ(f), whatever the
  label, and A = √(p(1 − p)).
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import InvalidInput
from .gradients import jacobian

__all__ = ["loss_hessian_factor", "ggn_jacobian"]


def loss_hessian_factor(output: torch.Tensor, loss: str) -> torch.Tensor:
    """A_μ with A_μ A_μᵀ = ∂²ℓ_μ/∂f_μ², shape (N, K, K), for ``loss`` = ``"mse"`` or ``"ce"``.

    Parameters
    ----------
    output : Tensor, shape (N, K)
        The model's outputs f_μ (logits for ``"ce"``).
    loss : {"mse", "ce"}
        The per-sample loss (conventions of :mod:`logloss.measure.losses`).
    """
    f = output.detach().reshape(output.shape[0], -1).double()
    N, K = f.shape
    if loss == "mse":
        return torch.eye(K, dtype=f.dtype, device=f.device).expand(N, K, K)
    if loss != "ce":
        raise InvalidInput(f"loss must be 'mse' or 'ce', got {loss!r}")
    if K == 1:  # binary cross-entropy: Λ = σ(f)σ(−f)
        s = torch.sigmoid(f[:, 0])
        return torch.sqrt(s * (1 - s)).reshape(N, 1, 1)
    p = torch.softmax(f, dim=1)
    r = p.sqrt()
    return torch.diag_embed(r) - p[:, :, None] * r[:, None, :]


def ggn_jacobian(model: nn.Module, x: torch.Tensor, *, loss: str = "mse",
                 chunk_size: int = 512) -> torch.Tensor:
    """J̃ with J̃ᵀJ̃/N the generalised Gauss–Newton matrix of ``loss``, shape (N·K, P).

    For the mean-square loss this is the Jacobian itself (Eq. 44); for the cross-entropy
    loss each sample's K rows are A_μᵀ J_μ (see the module docstring).  The GGN does not
    depend on the targets for these losses (with targets on the simplex for ``"ce"``).
    Pass the result to :func:`logloss.hessian_outliers` as ``J=``.
    """
    J = jacobian(model, x, chunk_size=chunk_size).double()
    if loss == "mse":
        return J
    with torch.no_grad():
        out = model(x)
    A = loss_hessian_factor(out, loss)                      # (N, K, K)
    N, K = A.shape[0], A.shape[1]
    Jk = J.reshape(N, K, -1)
    return torch.einsum("nab,nap->nbp", A, Jk).reshape(N * K, -1)
