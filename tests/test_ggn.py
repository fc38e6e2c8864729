"""The generalised Gauss–Newton matrix against curvlinops' GGN operator (an independent
implementation), for the mean-square and the cross-entropy loss."""

import numpy as np
import pytest
import torch
from torch import nn

from logloss import hessian_outliers
from logloss.measure.ggn import ggn_jacobian, loss_hessian_factor

curvlinops = pytest.importorskip("curvlinops")


def _net(K):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, K)).double()


def _dense_curvlinops(model, x, y, loss_func):
    params = [p for p in model.parameters() if p.requires_grad]
    op = curvlinops.GGNLinearOperator(model, loss_func, params, [(x, y)], check_deterministic=False)
    P = sum(p.numel() for p in params)
    return (op @ torch.eye(P, dtype=torch.float64)).numpy()


@pytest.mark.parametrize("K", [3, 1])
def test_cross_entropy_ggn_matches_curvlinops(K):
    model = _net(K)
    x = torch.randn(20, 6, dtype=torch.float64)
    if K == 1:  # logistic loss with labels ±1: BCE-with-logits on labels (1 + y)/2
        y = torch.where(torch.randn(20) > 0, 1.0, -1.0).double()
        ours = ggn_jacobian(model, x, loss="ce")
        theirs = _dense_curvlinops(model, x, ((1 + y) / 2)[:, None],
                                   nn.BCEWithLogitsLoss(reduction="mean"))
    else:
        labels = torch.randint(0, K, (20,))
        ours = ggn_jacobian(model, x, loss="ce")
        theirs = _dense_curvlinops(model, x, labels, nn.CrossEntropyLoss(reduction="mean"))
    G = (ours.T @ ours / x.shape[0]).numpy()
    np.testing.assert_allclose(G, theirs, rtol=1e-8, atol=1e-10)


def test_mse_ggn_is_the_jacobian_and_matches_curvlinops():
    model = _net(2)
    x, y = torch.randn(15, 6, dtype=torch.float64), torch.randn(15, 2, dtype=torch.float64)
    J = ggn_jacobian(model, x, loss="mse")
    # torch's MSELoss(mean) is (1/NK) Σ (f − y)²: its GGN is (2/K) JᵀJ/N, ours (½‖f − y‖²) JᵀJ/N
    K = 2
    theirs = _dense_curvlinops(model, x, y, nn.MSELoss(reduction="mean"))
    np.testing.assert_allclose((2 / K) * (J.T @ J / 15).numpy(), theirs, rtol=1e-8, atol=1e-10)


def test_factor_squares_to_the_output_hessian():
    f = torch.randn(7, 4, dtype=torch.float64)
    A = loss_hessian_factor(f, "ce")
    p = torch.softmax(f, 1)
    Lam = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    torch.testing.assert_close(A @ A.transpose(1, 2), Lam)


def test_hessian_outliers_on_the_cross_entropy_ggn():
    model = _net(3)
    x = torch.randn(30, 6, dtype=torch.float64)
    Jt = ggn_jacobian(model, x, loss="ce")
    spec = hessian_outliers(model, x, k=5, J=Jt)
    G = (Jt.T @ Jt / 30).numpy()
    np.testing.assert_allclose(spec.eigenvalues[:5], np.sort(np.linalg.eigvalsh(G))[::-1][:5],
                               rtol=1e-8, atol=1e-12)
