"""The replicas' parameters and the pieces every execution path shares: R copies of
f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂ (:class:`MLPReplicas`), their minibatches (Eq. 8) and
their full training loss."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ...core.sampling import uniform_subsets
from ...core.validation import check_positive_int

__all__ = ["MLPReplicas", "replicate", "draw_minibatches", "replica_losses"]


@dataclass
class MLPReplicas:
    """Parameters of R replicas of f(θ, x) = w₂ᵀ relu(W₁x + b₁) + b₂.

    Attributes
    ----------
    W1 : Tensor, shape (R, h, D)
    b1 : Tensor, shape (R, h)
    w2 : Tensor, shape (R, h)
    b2 : Tensor, shape (R,)
    """

    W1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor

    @property
    def R(self) -> int:
        return int(self.W1.shape[0])

    def select(self, keep: torch.Tensor) -> MLPReplicas:
        return MLPReplicas(self.W1[keep], self.b1[keep], self.w2[keep], self.b2[keep])

    def to(self, device) -> MLPReplicas:
        """The replicas on ``device`` (``"cpu"``, ``"cuda:0"``)."""
        return MLPReplicas(*(t.to(device) for t in (self.W1, self.b1, self.w2, self.b2)))

    def model(self, r: int = 0) -> nn.Sequential:
        """Replica r as a ``torch.nn`` model (Linear, ReLU, Linear)."""
        h, D = self.W1.shape[1:]
        net = nn.Sequential(nn.Linear(D, h), nn.ReLU(), nn.Linear(h, 1)).to(self.W1.dtype)
        with torch.no_grad():
            net[0].weight.copy_(self.W1[r])
            net[0].bias.copy_(self.b1[r])
            net[2].weight.copy_(self.w2[r][None, :])
            net[2].bias.copy_(self.b2[r].reshape(1))
        return net


def replicate(model: nn.Sequential, replicas: int) -> MLPReplicas:
    """R identical copies of a ``Sequential(Linear(D, h), ReLU(), Linear(h, 1))``."""
    lin1, lin2 = model[0], model[-1]
    if not (isinstance(lin1, nn.Linear) and isinstance(lin2, nn.Linear) and lin2.out_features == 1
            and len(model) == 3):
        raise ValueError("the replica kernel needs Sequential(Linear(D, h), ReLU(), Linear(h, 1))")
    R = check_positive_int(replicas, "number of replicas")
    rep = lambda t: t.detach().clone().unsqueeze(0).repeat(R, *([1] * t.dim())).contiguous()  # noqa: E731
    return MLPReplicas(rep(lin1.weight), rep(lin1.bias), rep(lin2.weight[0]), rep(lin2.bias[0]))


def draw_minibatches(rng: np.random.Generator, steps: int, replicas: int, N: int, B: int) -> np.ndarray:
    """Minibatch indices, shape (steps, replicas, B): independent uniform B-subsets
    (:func:`logloss.core.sampling.uniform_subsets`, the scheme of Eq. 8)."""
    return uniform_subsets(rng, (steps, replicas), N, B)


def replica_losses(params: MLPReplicas, x: torch.Tensor, y: torch.Tensor, *, chunk: int = 2048) -> torch.Tensor:
    """The full training loss L(θ_r) = (1/2N) Σ_μ (f(θ_r, x_μ) − y_μ)² of each replica, (R,)."""
    total = torch.zeros(params.R, dtype=torch.float64, device=params.W1.device)
    for s in range(0, x.shape[0], chunk):
        a = torch.einsum("nd,rhd->rnh", x[s:s + chunk], params.W1) + params.b1[:, None, :]
        f = torch.relu(a) @ params.w2[:, :, None]
        r = f[..., 0] + params.b2[:, None] - y[None, s:s + chunk]
        total += 0.5 * (r.double() ** 2).sum(1)
    return total / x.shape[0]
