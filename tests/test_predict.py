"""predict_escape and NoiseMonitor on a user's own model."""

import numpy as np
import pytest
import torch
from torch import nn

import logloss
from logloss.reference import per_sample_sq_norms_loop


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)).double()


def test_prediction_uses_the_gauss_newton_spectrum():
    model = _model()
    x = torch.randn(200, 5, dtype=torch.float64)
    pred = logloss.predict_escape(model, x, eta=0.01, B=10)
    J = logloss.ggn_jacobian(model, x)
    top = np.linalg.eigvalsh((J.T @ J / 200).numpy())[::-1][0]
    assert pred.h_star == pytest.approx(top, rel=1e-8)
    assert pred.exponent.value == pytest.approx(
        logloss.theory.escape_exponent(eta=0.01, B=10, h=pred.h_star, n=pred.n.value))
    assert pred.n_c == pytest.approx(2 * (10 / (0.01 * pred.h_star) + 1))
    assert pred.warnings == ()


def test_prediction_warns_near_the_stability_edge_and_above_n_c():
    model = _model()
    x = torch.randn(100, 5, dtype=torch.float64)
    h = logloss.predict_escape(model, x, eta=0.01, B=1).h_star
    with pytest.warns(UserWarning, match="stability edge"):
        logloss.predict_escape(model, x, eta=1.5 / h, B=1)
    # a linear model on isotropic inputs in 10 dimensions: n ≈ 10 > n_c = 2(B/(ηh) + 1) = 6
    lin = nn.Linear(10, 1, bias=False).double()
    x10 = torch.randn(4000, 10, dtype=torch.float64)
    h10 = logloss.predict_escape(lin, x10, eta=0.01, B=1).h_star
    with pytest.warns(UserWarning, match="does not trap"):
        pred = logloss.predict_escape(lin, x10, eta=0.5 / h10, B=1)
    assert pred.n.value > 9 and pred.n_c == pytest.approx(6.0)
    with pytest.raises(ValueError, match="exceeds"):
        logloss.predict_escape(model, x, eta=0.1, B=101)


def test_noise_monitor_records_every_k_steps_and_matches_a_loop():
    model = _model()
    x, y = torch.randn(64, 5, dtype=torch.float64), torch.randn(64, dtype=torch.float64)
    mon = logloss.NoiseMonitor(model, x, y, every=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    brute = []
    for step in range(10):
        if mon(step) is not None:  # 𝒩 = mean ‖∇ℓ_μ‖² − ‖∇L‖², by one backward() per sample
            sq = per_sample_sq_norms_loop(model, x, y[:, None])
            model.zero_grad()
            (0.5 * (model(x)[:, 0] - y) ** 2).mean().backward()
            g2 = sum(float(p.grad.pow(2).sum()) for p in model.parameters())
            brute.append(float(sq.mean()) - g2)
        opt.zero_grad()
        (0.5 * (model(x)[:, 0] - y) ** 2).mean().backward()
        opt.step()
    h = mon.history()
    assert list(h["step"]) == [0, 3, 6, 9]
    np.testing.assert_allclose(h["noise"], brute, rtol=1e-9)
    np.testing.assert_allclose(h["noise_scale"], h["noise"] / h["grad_sq_norm"])
