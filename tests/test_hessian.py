"""Gauss–Newton outliers against dense autograd on small models."""

import copy

import numpy as np
import pytest
import torch
from torch.autograd.functional import hessian as autograd_hessian
from torch.func import functional_call

from logloss.measure.gradients import jacobian
from logloss.measure.hessian import (
    gauss_newton,
    hessian_outliers,
    participation_ratio,
    spectral_density,
)
from logloss.models.nets import mlp


def _flat_model_fn(model):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def f(theta, x):
        parts = torch.split(theta, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        return functional_call(model, params, (x,))

    theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return f, theta0


def _dense_gn(model, x):
    """Oracle: J from torch.autograd.functional.jacobian on the flat parameter vector."""
    f, theta0 = _flat_model_fn(model)
    J = torch.autograd.functional.jacobian(lambda t: f(t, x).reshape(-1), theta0.double())
    return (J.T @ J / x.shape[0]).numpy()


@pytest.fixture
def small():
    torch.manual_seed(0)
    model = mlp([6, 5, 1], seed=1).double()
    x = torch.randn(40, 6, dtype=torch.float64)
    return model, x


def test_jacobian_matches_autograd(small):
    model, x = small
    np.testing.assert_allclose(gauss_newton(model, x), _dense_gn(model, x), rtol=1e-10, atol=1e-12)


def test_vector_output_jacobian_rows():
    model = mlp([4, 3, 2], seed=2).double()
    x = torch.randn(7, 4, dtype=torch.float64)
    J = jacobian(model, x, chunk_size=3)
    assert J.shape == (14, sum(p.numel() for p in model.parameters()))
    np.testing.assert_allclose(gauss_newton(model, x), _dense_gn(model, x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N", [20, 200])  # N < P (Gram route) and N > P (P × P route)
def test_dense_method_against_autograd_spectrum(N):
    model = mlp([6, 5, 1], seed=3).double()  # P = 41
    x = torch.randn(N, 6, generator=torch.Generator().manual_seed(N), dtype=torch.float64)
    oracle = np.sort(np.linalg.eigvalsh(_dense_gn(model, x)))[::-1]
    spec = hessian_outliers(model, x, k=10, method="dense")
    np.testing.assert_allclose(spec.eigenvalues, np.clip(oracle, 0, None), atol=1e-10)
    assert spec.trace == pytest.approx(oracle.sum(), rel=1e-10)
    assert spec.trace_sq == pytest.approx((oracle**2).sum(), rel=1e-10)
    assert spec.participation_ratio == pytest.approx(participation_ratio(oracle), rel=1e-10)
    H = _dense_gn(model, x)
    V = spec.eigenvectors
    np.testing.assert_allclose(H @ V, V * spec.eigenvalues[:10], atol=1e-9)


def test_lanczos_matches_dense_and_estimates_trace_sq():
    model = mlp([30, 8, 1], seed=4)  # float32, P = 257
    x = torch.rand(300, 30, generator=torch.Generator().manual_seed(5))
    H = _dense_gn(model.double(), x.double())
    oracle = np.sort(np.linalg.eigvalsh(H))[::-1]
    model = model.float()
    spec = hessian_outliers(model, x, k=12, method="lanczos", probes=200, seed=1)
    np.testing.assert_allclose(spec.eigenvalues, oracle[:12], rtol=1e-4, atol=1e-6 * oracle[0])
    assert spec.trace == pytest.approx(oracle.sum(), rel=1e-5)
    true_trsq = (oracle**2).sum()
    assert abs(spec.trace_sq - true_trsq) < 4 * spec.trace_sq_stderr + 1e-5 * true_trsq
    true_pr = participation_ratio(oracle)
    assert abs(spec.participation_ratio - true_pr) < 4 * spec.participation_ratio_stderr + 1e-4


def test_gauss_newton_is_the_hessian_at_zero_residual():
    """With targets y_μ = f(θ, x_μ) the residual term of ∇²L vanishes: H = GN exactly."""
    model = mlp([5, 4, 1], seed=6).double()
    x = torch.randn(25, 5, dtype=torch.float64)
    f, theta0 = _flat_model_fn(model)
    y = f(theta0, x).detach()
    hess = autograd_hessian(lambda t: 0.5 * ((f(t, x) - y) ** 2).sum() / x.shape[0], theta0)
    np.testing.assert_allclose(gauss_newton(model, x), hess.numpy(), atol=1e-10)


def test_participation_ratio_counts_equal_eigenvalues():
    assert participation_ratio([2.0, 2.0, 2.0, 0.0, 0.0]) == pytest.approx(3.0)
    assert participation_ratio([1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        participation_ratio([0.0, 0.0])


def test_spectral_density_counts_and_moments():
    model = mlp([30, 8, 1], seed=7)
    x = torch.rand(300, 30, generator=torch.Generator().manual_seed(8))
    J = jacobian(model, x)
    H = _dense_gn(model.double(), x.double())
    nodes, counts = spectral_density(J, x.shape[0], steps=40, probes=30, seed=2)
    P = H.shape[0]
    assert counts.sum() == pytest.approx(P, rel=1e-9)
    # Quadrature is exact for degree-1 polynomials, so Σ θ_j·count_j is P times the mean
    # of z'Hz/P over unit Rademacher probes: Hutchinson's tr H, whose variance per probe
    # is 2(‖H‖_F² − Σ H_ii²).
    est = float((nodes * counts).sum())
    se = np.sqrt(2 * ((H**2).sum() - (np.diag(H) ** 2).sum()) / 30)
    assert abs(est - np.trace(H)) < 4 * se
    assert nodes.max() == pytest.approx(np.linalg.eigvalsh(H).max(), rel=1e-4)


def test_true_hessian_top_eigenvalues_match_dense_autograd():
    from torch.func import functional_call

    from logloss.measure.hessian import hessian_top_eigenvalues

    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    x, y = torch.randn(25, 4), torch.randn(25, 1)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    top = hessian_top_eigenvalues(net, x, y, k=4)
    names = [n for n, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]
    sizes = [p.numel() for p in net.parameters()]
    theta = torch.cat([p.detach().double().reshape(-1) for p in net.parameters()])
    net64 = copy.deepcopy(net).double()

    def L(v):
        ps = {n: t.reshape(s) for n, t, s in zip(names, torch.split(v, sizes), shapes)}
        return 0.5 * ((functional_call(net64, ps, (x.double(),)) - y.double()) ** 2).sum(1).mean()

    H = torch.autograd.functional.hessian(L, theta).numpy()
    np.testing.assert_allclose(top, np.sort(np.linalg.eigvalsh(H))[::-1][:4], rtol=1e-6, atol=1e-9)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert next(net.parameters()).dtype == torch.float32


def test_lanczos_dense_check_agrees_within_its_residual_bound():
    from logloss import lanczos_dense_check

    model = mlp([30, 8, 1], seed=9)  # float32 Lanczos, float64 dense Gram
    x = torch.rand(120, 30, generator=torch.Generator().manual_seed(10))
    chk = lanczos_dense_check(model, x, k=6)
    oracle = np.sort(np.linalg.eigvalsh(_dense_gn(model.double(), x.double())))[::-1][:6]
    np.testing.assert_allclose(chk.dense, oracle, rtol=1e-6)  # J is float32 (the model's dtype)
    assert np.all(np.abs(chk.lanczos - chk.dense) <= chk.bound) and chk.worst <= 1
    assert 0 < chk.bound < 1e-3 * chk.dense[0]
