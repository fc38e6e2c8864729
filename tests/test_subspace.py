"""logloss.measure.subspace against dense oracles: ΔθᵀGΔθ from the dense Jacobian and the
dense output Hessian of the loss (torch.autograd.functional, float64), and the subspace
fractions from the eigenvectors of the dense G."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call

from logloss.core.errors import InvalidInput
from logloss.measure.gradients import flat_params
from logloss.measure.subspace import gauss_newton_quadratic, subspace_fractions

D = torch.float64


def _mlp(K):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, K)).to(D)


def _cnn():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 3)).to(D)


def _dense_ggn(model, x, loss):
    """G = (1/N) Σ_μ J_μᵀ Λ_μ J_μ with J from autograd's dense Jacobian and Λ_μ the Hessian of
    ℓ_μ in the outputs (½‖f − y‖²: I; cross-entropy: of F.cross_entropy, or of the binary
    one for one output), neither from the library."""
    names = [k for k, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def f(theta):
        p = {k: t.view(s) for k, t, s in zip(names, theta.split(sizes), shapes)}
        out = functional_call(model, p, (x,))
        return out.reshape(out.shape[0], -1)

    theta = flat_params(model)
    J = torch.autograd.functional.jacobian(f, theta)  # (N, K, P)
    out = f(theta).detach()
    N, K = out.shape
    G = torch.zeros(theta.numel(), theta.numel(), dtype=D)
    for mu in range(N):
        if loss == "mse":
            lam = torch.eye(K, dtype=D)
        elif K == 1:
            lam = torch.autograd.functional.hessian(
                lambda o: nn.functional.binary_cross_entropy_with_logits(o, torch.ones(1, dtype=D)), out[mu])
        else:
            lam = torch.autograd.functional.hessian(
                lambda o, c=mu % K: nn.functional.cross_entropy(o[None], torch.tensor([c])), out[mu])
        G += J[mu].T @ lam @ J[mu]
    return G / N


@pytest.mark.parametrize("make, x, loss", [
    (lambda: _mlp(1), torch.randn(40, 5, dtype=D, generator=torch.Generator().manual_seed(2)), "mse"),
    (lambda: _mlp(3), torch.randn(40, 5, dtype=D, generator=torch.Generator().manual_seed(3)), "mse"),
    (lambda: _mlp(3), torch.randn(40, 5, dtype=D, generator=torch.Generator().manual_seed(4)), "ce"),
    (lambda: _mlp(1), torch.randn(40, 5, dtype=D, generator=torch.Generator().manual_seed(5)), "ce"),
    (_cnn, torch.randn(30, 1, 6, 6, dtype=D, generator=torch.Generator().manual_seed(6)), "mse"),
], ids=["mlp-1-mse", "mlp-3-mse", "mlp-3-ce", "mlp-1-bce", "cnn-mse"])
def test_quadratic_matches_the_dense_gauss_newton_matrix(make, x, loss):
    model = make()
    G = _dense_ggn(model, x, loss)
    delta = torch.randn(4, G.shape[0], dtype=D, generator=torch.Generator().manual_seed(7))
    dense = torch.einsum("rp,pq,rq->r", delta, G, delta).numpy()
    # tolerance: criterion: float64 round-off of sums over N·P terms (relative 1e-10)
    np.testing.assert_allclose(gauss_newton_quadratic(model, x, delta, loss=loss, chunk_size=7), dense,
                               rtol=1e-10)
    # one displacement as a vector, and the default chunk, give the same number
    # tolerance: criterion: float64 round-off (relative 1e-10)
    np.testing.assert_allclose(gauss_newton_quadratic(model, x, delta[0].numpy(), loss=loss), dense[:1],
                               rtol=1e-10)


def test_fractions_are_one_inside_the_top_eigenspace_and_match_the_dense_split_outside():
    model, x = _mlp(1), torch.randn(50, 5, dtype=D, generator=torch.Generator().manual_seed(8))
    lam, V = torch.linalg.eigh(_dense_ggn(model, x, "mse"))
    lam, V = lam.flip(0).numpy(), V.flip(1).numpy()  # h_1 ≥ h_2 ≥ ...
    n = 3
    rng = np.random.default_rng(9)
    inside = rng.standard_normal((2, n)) @ V[:, :n].T
    outside = rng.standard_normal((3, V.shape[0]))
    delta = np.concatenate([inside, outside])
    q = gauss_newton_quadratic(model, torch.as_tensor(x), delta)
    disp, curv = subspace_fractions(delta, V[:, :6], lam[:6], q, n)
    # tolerance: criterion: float64 round-off; a displacement in span(v_1..v_n) has both fractions 1
    np.testing.assert_allclose(disp[:2], 1.0, rtol=1e-10)
    np.testing.assert_allclose(curv[:2], 1.0, rtol=1e-8)
    c = delta[2:] @ V
    # tolerance: criterion: float64 round-off against the dense eigen-decomposition
    np.testing.assert_allclose(disp[2:], (c[:, :n] ** 2).sum(1) / (c**2).sum(1), rtol=1e-10)
    np.testing.assert_allclose(curv[2:], (lam[:n] * c[:, :n] ** 2).sum(1) / (lam * c**2).sum(1), rtol=1e-8)
    assert np.all((curv[2:] > 0) & (curv[2:] < 1))


def test_bad_displacement_shape_and_loss_are_clear_errors():
    model, x = _mlp(1), torch.randn(10, 5, dtype=D)
    P = flat_params(model).numel()
    with pytest.raises(InvalidInput, match=f"delta must have shape \\(R, {P}\\)"):
        gauss_newton_quadratic(model, x, np.zeros((2, P + 1)))
    with pytest.raises(InvalidInput, match="loss must be"):
        gauss_newton_quadratic(model, x, np.zeros(P), loss="hinge")
