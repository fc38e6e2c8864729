"""The factorisation of 𝒩 (measure.kernel), the slope decomposition (stats.decomposition) and
the stationary gradient norm of SGD (theory.noise_scale), against independent oracles."""

import numpy as np
import pytest
import torch

from logloss import InvalidInput
from logloss.measure.gradients import jacobian, per_sample_grads
from logloss.measure.hessian import gauss_newton
from logloss.measure.kernel import FACTORS, gauss_newton_traces, per_sample_kernel
from logloss.measure.losses import cross_entropy_per_sample, mse_per_sample
from logloss.models.nets import mlp
from logloss.stats.decomposition import slope_decomposition
from logloss.theory.noise_scale import noise_scale_plateau, stationary_grad_sq


def _data(n=25, d=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, torch.randn(n, k, generator=g, dtype=torch.float64), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_per_sample_kernel_against_the_jacobian(loss_name):
    x, y_mse, y_ce = _data()
    loss, y = (mse_per_sample, y_mse) if loss_name == "mse" else (cross_entropy_per_sample, y_ce)
    model = mlp([6, 7, 3], seed=1).double()
    before = [p.clone() for p in model.parameters()]
    pk = per_sample_kernel(model, x, y, loss=loss, chunk_size=8)
    J = jacobian(model, x).double().reshape(25, 3, -1)                 # (N, K, P), the oracle
    G = per_sample_grads(model, x, y, loss=loss).double()
    out = model(x).detach().requires_grad_(True)
    e = torch.autograd.grad(loss(out, y).sum(), out)[0]               # ∂ℓ_μ/∂f_μ
    np.testing.assert_allclose(pk.jacobian_sq_norms, (J**2).sum(dim=(1, 2)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(pk.grad_sq_norms, (G**2).sum(dim=1).numpy(), rtol=1e-10)
    np.testing.assert_allclose(pk.residual_sq_norms, (e**2).sum(dim=1).numpy(), rtol=1e-10)
    # ∇ℓ_μ = J_μᵀ e_μ: the per-sample gradients are the Jacobian's rows weighted by e_μ
    np.testing.assert_allclose(torch.einsum("nkp,nk->np", J, e).numpy(), G.numpy(), atol=1e-10)
    assert pk.noise == pytest.approx(float((G**2).sum(1).mean() - G.mean(0).pow(2).sum()), rel=1e-10)
    assert pk.kernel == pytest.approx(float((J**2).sum() / (25 * 3)), rel=1e-10)
    for p, q in zip(model.parameters(), before):
        assert torch.equal(p, q)


@pytest.mark.parametrize("power", [1.0, 2.0, 0.5])
def test_factors_multiply_to_the_noise_strength(power):
    x, y, _ = _data(seed=3)
    pk = per_sample_kernel(mlp([6, 5, 3], seed=2).double(), x, y)
    f = pk.factors(power)
    assert set(f) == {"loss_power", *FACTORS}
    assert np.prod(list(f.values())) == pytest.approx(pk.noise, rel=1e-12)
    assert f["loss_power"] == pytest.approx(pk.loss ** power)


def test_mse_shape_is_two_and_isotropic_residuals_give_within_one():
    x, y, _ = _data(k=1, seed=4)
    pk = per_sample_kernel(mlp([6, 5, 1], seed=3).double(), x, y)
    f = pk.factors(1.0)
    # ‖e_μ‖² = ‖f_μ − y_μ‖² = 2ℓ_μ; with one output e_μ is trivially "isotropic"; M_1 = 1
    assert f["shape"] == pytest.approx(2.0, rel=1e-12)
    assert f["within"] == pytest.approx(1.0, rel=1e-12)
    assert f["moment"] == pytest.approx(1.0, rel=1e-12)


def test_factors_reject_a_bad_power_and_zero_loss():
    x, y, _ = _data(k=1)
    model = mlp([6, 5, 1], seed=0).double()
    pk = per_sample_kernel(model, x, y)
    with pytest.raises(InvalidInput, match="power"):
        pk.factors(0.0)
    with torch.no_grad():
        pk0 = per_sample_kernel(model, x, model(x).reshape(-1).clone())
    with pytest.raises(InvalidInput, match="> 0"):
        pk0.factors(1.0)


def test_slope_decomposition_adds_up_and_recovers_known_exponents():
    rng = np.random.default_rng(0)
    L = np.geomspace(1e-3, 1e-1, 12)
    a = 3.0 * L**0.25 * np.exp(0.01 * rng.standard_normal(12))
    b = 0.5 * L**-0.1
    parts = slope_decomposition(L, {"a": a, "b": b})
    assert parts["b"] == pytest.approx(-0.1, abs=1e-12)
    assert parts["a"] == pytest.approx(0.25, abs=0.02)
    total = np.polyfit(np.log(L), np.log(a * b), 1)[0]
    assert parts["total"] == pytest.approx(total, abs=1e-12)
    with pytest.raises(InvalidInput, match="> 0"):
        slope_decomposition(L, {"a": -a})
    with pytest.raises(InvalidInput, match="shape"):
        slope_decomposition(L, {"a": a[:-1]})


def test_gauss_newton_traces_against_the_dense_matrix():
    x, _, _ = _data(n=30, k=1, seed=5)
    model = mlp([6, 8, 1], seed=4).double()
    ev = np.linalg.eigvalsh(gauss_newton(model, x))
    np.testing.assert_allclose(gauss_newton_traces(model, x, powers=4),
                               [np.sum(ev**k) for k in (1, 2, 3, 4)], rtol=1e-9)


def test_stationary_grad_sq_matches_a_simulated_quadratic():
    # SGD-like linear recursion δ' = (I − ηH)δ − η ξ with Cov ξ = c(2L/B)H held at L: the
    # stationary E‖Hδ‖² is Σ_i h_i² η σ_i/(h_i(2 − ηh_i)), σ_i = c(2L/B)h_i; the formula's
    # series tr H² + (η/2)tr H³ + (η/2)²tr H⁴ + ... converges to it.
    h = np.array([3.0, 1.0, 0.3, 0.05])
    eta, B, N, L = 0.2, 10, 50, 0.7
    c = (N - B) / (N - 1)
    exact = float(np.sum(h**2 * eta * c * 2 * L / B / (2 - eta * h)))
    traces = [np.sum(h**k) for k in range(1, 30)]
    assert stationary_grad_sq(L, traces, eta=eta, B=B, N=N) == pytest.approx(exact, rel=1e-8)
    # leading order only: the correction (η/2) tr H³/tr H² is the relative error
    lead = stationary_grad_sq(L, traces[:2], eta=eta, B=B, N=N)
    assert lead == pytest.approx(eta * c * L * np.sum(h**2) / B)
    # many independent chains run to stationarity (≫ 1/(η h_min) = 100 steps)
    rng = np.random.default_rng(1)
    d = np.zeros((20_000, 4))
    for _ in range(1500):
        d = (1 - eta * h) * d - eta * np.sqrt(c * 2 * L / B * h) * rng.standard_normal(d.shape)
    g2 = np.sum((h * d) ** 2, axis=1)
    assert abs(g2.mean() - exact) < 4 * g2.std() / np.sqrt(g2.size)


def test_noise_scale_plateau_is_independent_of_the_loss_and_scales_as_B_over_eta():
    tr = [5.0, 9.0, 20.0]
    b1 = noise_scale_plateau(tr, eta=0.01, B=100, N=1000)
    assert b1 == pytest.approx(2 * 100 * 5.0 / (0.01 * (900 / 999) * (9.0 + 0.005 * 20.0)))
    # with N omitted (B ≪ N) and only tr H, tr H²: the leading-order 2B tr H/(η tr H²)
    assert noise_scale_plateau(tr[:2], eta=0.01, B=100) == pytest.approx(2 * 100 * 5 / (0.01 * 9))
    assert noise_scale_plateau(tr[:2], eta=0.005, B=100) == pytest.approx(
        2 * noise_scale_plateau(tr[:2], eta=0.01, B=100))
    L = 0.3
    assert 2 * L * tr[0] / stationary_grad_sq(L, tr, eta=0.01, B=100, N=1000) == pytest.approx(b1)
    for bad in (dict(eta=0.0, B=100), dict(eta=0.01, B=0)):
        with pytest.raises(InvalidInput):
            noise_scale_plateau(tr, **bad)
    with pytest.raises(InvalidInput):
        noise_scale_plateau([5.0], eta=0.01, B=100)
    with pytest.raises(InvalidInput):
        stationary_grad_sq(-1.0, tr, eta=0.01, B=100)
