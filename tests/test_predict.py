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


def test_watch_records_the_nested_estimates_from_the_loops_own_backward_pass():
    """NoiseMonitor.watch reuses the loop's forward and backward pass (one forward per
    watched step, counted) and gives the estimates of batch_noise_scale on that minibatch."""
    from logloss.measure.losses import mse_per_sample
    from logloss.measure.noise_scale import batch_noise_scale

    model = _model()
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(200, 5, generator=g, dtype=torch.float64), torch.randn(200, generator=g, dtype=torch.float64)
    calls = []
    model[0].register_forward_hook(lambda *_: calls.append(1))
    mon = logloss.NoiseMonitor(model, every=2, B_small=4, N=200)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    refs = []
    for step in range(6):
        idx = torch.arange(step * 30, step * 30 + 30)
        if step % 2 == 0:
            refs.append(batch_noise_scale(model, x[idx], y[idx], B_small=4, N=200))
        calls.clear()
        opt.zero_grad()
        with mon.watch(step):
            mse_per_sample(model(x[idx]), y[idx]).mean().backward()
        assert len(calls) == 1  # nothing but the loop's own forward pass
        opt.step()
    h = mon.history()
    assert list(h["watched_step"]) == [0, 2, 4]
    np.testing.assert_allclose(h["trace_estimate"], [r.trace for r in refs], rtol=1e-10)
    np.testing.assert_allclose(h["grad_sq_estimate"], [r.grad_sq for r in refs], rtol=1e-10)
    ns = mon.noise_scale()
    assert ns.value == pytest.approx(np.mean(h["trace_estimate"]) / np.mean(h["grad_sq_estimate"]))


def test_watch_refuses_what_it_cannot_estimate():
    bn = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 1)).double()
    x = torch.randn(20, 5, dtype=torch.float64)
    mon = logloss.NoiseMonitor(bn)
    with pytest.raises(logloss.InvalidInput, match="BatchNorm1d '1' in train mode"):
        with mon.watch(0):
            bn(x).sum().backward()
    ln = nn.Sequential(nn.Linear(5, 4), nn.LayerNorm(4), nn.Linear(4, 1)).double()
    with pytest.raises(logloss.InvalidInput, match="Linear or Conv layers"):
        with logloss.NoiseMonitor(ln).watch(0):
            ln(x).sum().backward()
    with pytest.raises(logloss.InvalidInput, match="record.*need the data"):
        logloss.NoiseMonitor(_model()).record(0)
