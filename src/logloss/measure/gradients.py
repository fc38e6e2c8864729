"""Per-sample gradients ∇ℓ_μ and Jacobians ∇f_μ of any PyTorch model, and fast ‖∇ℓ_μ‖².

Conventions in :mod:`logloss.measure.losses`.  Routes to per-sample gradient statistics,
which agree to rounding (tests):

* :func:`per_sample_grads` — generic (``torch.func``: functional_call + vmap + grad),
  materialises the N × P matrix in chunks;
* :func:`per_sample_grad_stats` — the fast path for models whose parameters all sit in
  ``nn.Linear`` and ``nn.Conv2d`` layers: for a Linear layer z = W a + b the per-sample
  gradient is ∇_W ℓ_μ = δ_μ a_μᵀ with δ_μ = ∂ℓ_μ/∂z_μ, so
  ‖∇_W ℓ_μ‖² = ‖a_μ‖²·‖δ_μ‖² and ‖∇_b ℓ_μ‖² = ‖δ_μ‖², and no per-sample gradient is
  ever formed.  A Conv2d layer forms its own per-sample gradient (one layer at a time,
  C_out × C_in k² per sample) from the unfolded input;
* :func:`jacobian` — the (N·K) × P Jacobian of the outputs (Gauss–Newton, Gram matrices);
* the brute-force oracle lives in :mod:`logloss.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jacrev, vmap

from .losses import mse_per_sample

__all__ = [
    "per_sample_grads",
    "jacobian",
    "flat_params",
    "GradStats",
    "per_sample_grad_stats",
    "supports_fast_path",
]


def flat_params(model: nn.Module) -> torch.Tensor:
    """All trainable parameters θ as one vector of length P."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss=mse_per_sample,
    chunk_size: int = 256,
) -> torch.Tensor:
    """The matrix of per-sample gradients G with rows ∇ℓ_μ, shape (N, P).

    Parameters
    ----------
    model : nn.Module
        Any model; its trainable parameters define θ (P entries, in ``parameters()`` order).
    x, y : Tensor
        Inputs (N, ...) and targets (N, ...).
    loss : callable
        ``loss(output, target) -> (batch,)`` per-sample losses ℓ_μ.
    chunk_size : int
        Samples per vmap call, to bound memory.
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}

    def sample_loss(p, xi, yi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return loss(out, yi.unsqueeze(0)).sum()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    rows = []
    for start in range(0, x.shape[0], chunk_size):
        g = per_sample(params, x[start:start + chunk_size], y[start:start + chunk_size])
        rows.append(torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1))
    return torch.cat(rows)


def jacobian(model: nn.Module, x: torch.Tensor, *, chunk_size: int = 512) -> torch.Tensor:
    """The Jacobian J of the outputs with respect to all trainable parameters.

    Parameters
    ----------
    model : nn.Module
        Any model; θ is its trainable parameters in ``parameters()`` order (P entries).
    x : Tensor, shape (N, ...)
        Inputs x_μ.
    chunk_size : int
        Samples per ``vmap`` call, to bound memory.

    Returns
    -------
    Tensor, shape (N·K, P)
        Row μ·K + a is ∂f_a(θ, x_μ)/∂θ, for K outputs per sample.
    """
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}

    def f(p, xi):
        return functional_call(model, p, (xi.unsqueeze(0),)).reshape(-1)

    jac = vmap(jacrev(f), in_dims=(None, 0))
    rows = []
    for start in range(0, x.shape[0], chunk_size):
        g = jac(params, x[start:start + chunk_size])
        n = next(iter(g.values())).shape[0]
        rows.append(torch.cat([t.reshape(n, t.shape[1], -1) for t in g.values()], dim=2)
                    .reshape(-1, sum(v.numel() for v in params.values())))
    return torch.cat(rows)


@dataclass(frozen=True)
class GradStats:
    """Per-sample gradient statistics at one θ (float64).

    Attributes
    ----------
    sq_norms : Tensor, shape (N,)
        ‖∇ℓ_μ‖² for each sample.
    mean_grad : Tensor, shape (P,)
        ∇L = (1/N) Σ_μ ∇ℓ_μ.
    losses : Tensor, shape (N,)
        ℓ_μ.
    """

    sq_norms: torch.Tensor
    mean_grad: torch.Tensor
    losses: torch.Tensor


def supports_fast_path(model: nn.Module) -> bool:
    """Whether every trainable parameter sits in an ``nn.Linear`` or ``nn.Conv2d`` layer.

    The fast path also assumes that samples do not interact in the forward pass (no
    batch normalisation; such layers own parameters and are rejected here).
    """
    for module in model.modules():
        own = [p for p in module.parameters(recurse=False) if p.requires_grad]
        if not own:
            continue
        if isinstance(module, nn.Linear):
            continue
        if isinstance(module, nn.Conv2d) and module.groups == 1 and module.padding_mode == "zeros" \
                and not isinstance(module.padding, str):
            continue
        return False
    return True


class _Capture:
    """Forward hooks that keep each layer's input a and the gradient δ at its output."""

    def __init__(self, model: nn.Module):
        self.layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))
                       and any(p.requires_grad for p in m.parameters(recurse=False))]
        self.records: dict[nn.Module, list] = {}
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module, inputs, output):
        rec = [inputs[0].detach(), None]
        self.records.setdefault(module, []).append(rec)

        def keep(g, rec=rec):
            rec[1] = g.detach()

        output.register_hook(keep)

    def reset(self):
        self.records = {}

    def close(self):
        for h in self.handles:
            h.remove()


def _layer_sq_norms(module: nn.Module, a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Σ over the layer's parameters of ‖∂ℓ_μ/∂param‖², for each sample of the chunk."""
    n = a.shape[0]
    if isinstance(module, nn.Linear):
        if a.dim() != 2:
            raise ValueError("fast path: Linear layers must act on (batch, features) inputs")
        d2 = delta.pow(2).sum(dim=1)
        out = torch.zeros(n, dtype=torch.float64)
        if module.weight.requires_grad:
            out += (a.pow(2).sum(dim=1) * d2).double()
        if module.bias is not None and module.bias.requires_grad:
            out += d2.double()
        return out
    # Conv2d: per-sample weight gradient δ_μ (C_out × S) times unfolded input (S × C_in k²).
    cols = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding,
                    stride=module.stride)                      # (n, C_in k², S)
    d = delta.reshape(n, delta.shape[1], -1)                  # (n, C_out, S)
    out = torch.zeros(n, dtype=torch.float64)
    if module.weight.requires_grad:
        gw = torch.bmm(d, cols.transpose(1, 2))               # (n, C_out, C_in k²)
        out += gw.pow(2).sum(dim=(1, 2)).double()
    if module.bias is not None and module.bias.requires_grad:
        out += d.sum(dim=2).pow(2).sum(dim=1).double()
    return out


def per_sample_grad_stats(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss=mse_per_sample,
    chunk_size: int = 1000,
    method: str = "auto",
) -> GradStats:
    """‖∇ℓ_μ‖² for every sample, ∇L and ℓ_μ, in one pass over the data.

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·); its trainable parameters are θ.
    x, y : Tensor
        Inputs (N, ...) and targets (N, ...).
    loss : callable
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int
        Samples per forward/backward pass.
    method : {"auto", "fast", "generic"}
        ``"fast"``: the Linear/Conv2d identity (no per-sample gradients for Linear layers);
        ``"generic"``: :func:`per_sample_grads`; ``"auto"``: fast where supported.

    Notes
    -----
    With the mean convention L = (1/N) Σ ℓ_μ, ∇L is the mean of the per-sample
    gradients; the chunk loss Σ_μ ℓ_μ (a sum) is back-propagated so that δ_μ is the
    gradient of ℓ_μ alone.
    """
    if method not in {"auto", "fast", "generic"}:
        raise ValueError(f"method must be auto, fast or generic, got {method!r}")
    fast = supports_fast_path(model)
    if method == "fast" and not fast:
        raise ValueError("fast path needs every trainable parameter in nn.Linear or nn.Conv2d")
    params = [p for p in model.parameters() if p.requires_grad]
    N = x.shape[0]
    sq = torch.zeros(N, dtype=torch.float64)
    losses = torch.zeros(N, dtype=torch.float64)
    total = torch.zeros(sum(p.numel() for p in params), dtype=torch.float64)
    if method == "generic" or (method == "auto" and not fast):
        for s in range(0, N, chunk_size):
            xb, yb = x[s:s + chunk_size], y[s:s + chunk_size]
            G = per_sample_grads(model, xb, yb, loss=loss, chunk_size=chunk_size).double()
            sq[s:s + len(xb)] = G.pow(2).sum(dim=1)
            total += G.sum(dim=0)
            with torch.no_grad():
                losses[s:s + len(xb)] = loss(model(xb), yb).double()
        return GradStats(sq, total / N, losses)
    cap = _Capture(model)
    try:
        for s in range(0, N, chunk_size):
            xb, yb = x[s:s + chunk_size], y[s:s + chunk_size]
            cap.reset()
            ell = loss(model(xb), yb)
            grads = torch.autograd.grad(ell.sum(), params)
            total += torch.cat([g.reshape(-1) for g in grads]).double()
            losses[s:s + len(xb)] = ell.detach().double()
            for module, recs in cap.records.items():
                if len(recs) != 1:
                    raise ValueError("fast path: each layer must be called once per forward pass")
                a, delta = recs[0]
                sq[s:s + len(xb)] += _layer_sq_norms(module, a, delta)
    finally:
        cap.close()
    return GradStats(sq, total / N, losses)
