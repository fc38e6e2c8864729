"""Noise strength 𝒩, Gram-matrix spectra and the power-law fit, against independent oracles."""

import numpy as np
import pytest
import torch

from logloss.dynamics.training import train_sgd
from logloss.measure.covariance import per_sample_covariance
from logloss.measure.gradients import jacobian, per_sample_grads
from logloss.measure.gram import decoupling_spectra, ntk_gram
from logloss.measure.losses import cross_entropy_per_sample, loss_weights, mse_per_sample
from logloss.measure.noise import noise_covariance, noise_strength
from logloss.models.nets import mlp
from logloss.stats.lines import fit_power_law


def _data(n=30, d=6, k=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, k, generator=g, dtype=torch.float64).squeeze(1) if k == 1 else \
        torch.randn(n, k, generator=g, dtype=torch.float64)
    return x, y


def test_noise_strength_is_trace_of_per_sample_covariance():
    model = mlp([6, 5, 3], seed=0).double()
    x, y = _data(k=3)
    ns = noise_strength(model, x, y)
    G = per_sample_grads(model, x, y).numpy()
    assert ns.noise == pytest.approx(np.trace(per_sample_covariance(G)), rel=1e-10)
    assert ns.loss == pytest.approx(float(mse_per_sample(model(x), y).mean().detach()), rel=1e-12)


def test_trace_of_eq8_covariance_is_noise_over_B():
    model = mlp([6, 4, 1], seed=1).double()
    x, y = _data()
    N, B = x.shape[0], 7
    Sigma = noise_covariance(model, x, y, B)
    ns = noise_strength(model, x, y)
    assert np.trace(Sigma) == pytest.approx(ns.noise * (N - B) / (B * (N - 1)), rel=1e-10)


@pytest.mark.parametrize("k", [0.5, 3.0])
def test_rescaling_loss_by_k_equals_rescaling_eta_by_k(k):
    x, y = _data(n=40)
    base = mlp([6, 5, 1], seed=2).double()
    scaled = mlp([6, 5, 1], seed=2).double()

    def k_loss(out, tgt):
        return k * mse_per_sample(out, tgt)

    eta = 0.05
    r1 = train_sgd(base, x, y, eta=k * eta, B=8, epochs=3, seed=5)
    r2 = train_sgd(scaled, x, y, eta=eta, B=8, epochs=3, seed=5, loss=k_loss)
    for p, q in zip(base.parameters(), scaled.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(r2.loss, k * r1.loss, rtol=1e-10)
    np.testing.assert_allclose(r2.noise, k**2 * r1.noise, rtol=1e-9)


def test_fast_gram_matches_jacobian():
    model = mlp([6, 5, 4, 1], seed=3).double()
    x, _ = _data(n=25)
    J = jacobian(model, x, chunk_size=7)
    # oracle: one backward per sample
    rows = []
    for mu in range(x.shape[0]):
        model.zero_grad()
        model(x[mu:mu + 1]).sum().backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    torch.testing.assert_close(J, torch.stack(rows), rtol=1e-12, atol=1e-14)
    K_fast = ntk_gram(model, x, method="fast", chunk_size=6, block=10)
    np.testing.assert_allclose(K_fast, (J @ J.T).numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ntk_gram(model, x, method="generic"), K_fast, rtol=1e-10, atol=1e-12)


def test_gram_spectra_equal_nonzero_eigenvalues_of_P_by_P_matrices():
    model = mlp([4, 3, 1], seed=4).double()  # P = 19 > N = 12
    x, y = _data(n=12, d=4)
    J = jacobian(model, x).numpy()
    w = loss_weights(model(x), y).numpy()
    ell = mse_per_sample(model(x), y).detach().numpy()
    np.testing.assert_allclose(w, ell, rtol=1e-12)  # w_μ = ℓ_μ for the mean-square loss
    N = x.shape[0]
    exact_P = np.linalg.eigvalsh(J.T @ (w[:, None] * J) / N)[::-1][:N]
    dec_P = w.mean() * np.linalg.eigvalsh(J.T @ J / N)[::-1][:N]
    spec = decoupling_spectra(J @ J.T, w)
    np.testing.assert_allclose(spec.exact, np.clip(exact_P, 0, None), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(spec.decoupled, np.clip(dec_P, 0, None), rtol=1e-8, atol=1e-12)


def test_decoupling_is_exact_for_constant_weights():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 4))
    spec = decoupling_spectra(A @ A.T, np.full(10, 0.3))
    np.testing.assert_allclose(spec.exact, spec.decoupled, rtol=1e-10, atol=1e-14)
    assert spec.trace_ratio() == pytest.approx(1.0, rel=1e-12)


def test_loss_weights_for_logistic_loss():
    f = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    w = loss_weights(f, y, loss=cross_entropy_per_sample)
    expected = 0.5 * torch.sigmoid(-y * f) ** 2  # ½ (∂/∂f log(1 + e^{−yf}))²
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=0)


def test_scalar_output_required():
    with pytest.raises(ValueError, match="scalar output"):
        ntk_gram(mlp([3, 2], seed=0), torch.zeros(2, 3), method="generic")


def test_power_law_fit_and_stderr_calibration():
    rng = np.random.default_rng(1)
    x = np.geomspace(1e-3, 1, 20)
    exact = fit_power_law(x, 2 * x**1.3)
    assert exact.slope == pytest.approx(1.3, rel=1e-12)
    # Over replicas with i.i.d. log-normal scatter, the spread of the fitted slopes
    # matches the mean reported standard error (2000 replicas: ~2 % sampling error).
    fits = [fit_power_law(x, x * np.exp(0.2 * rng.standard_normal(x.size))) for _ in range(2000)]
    slopes = np.array([f.slope for f in fits])
    ses = np.array([f.slope_stderr for f in fits])
    assert abs(slopes.mean() - 1) < 4 * slopes.std() / np.sqrt(len(fits))
    assert slopes.std() == pytest.approx(np.sqrt(np.mean(ses**2)), rel=0.08)
    with pytest.raises(ValueError):
        fit_power_law([1, 2], [1, 2])


def test_benchmark_quick_mode_runs_and_fast_path_wins():
    from logloss.benchmarks import _bench_noise_strength

    res = _bench_noise_strength(quick=True)
    assert res.rate > 0 and res.naive_rate > 0
    assert res.ratio > 1  # a sanity floor only; the 20× target is measured by `logloss bench`


def test_peer_benchmark_row_runs_and_checks_values_first(capsys):
    """One row of `logloss bench --peers --quick` (the table itself is measured by the command)."""
    pytest.importorskip("curvlinops")
    from logloss.benchmarks import run_peer_benchmarks

    rows = run_peer_benchmarks(quick=True, reps=1, only="gn-top6-784-10-1-big")
    assert [r["name"] for r in rows] == ["gn-top6-784-10-1-big"]
    r = rows[0]
    assert r["ours_s"] > 0 and r["peer_s"] > 0 and r["ratio"] == pytest.approx(r["ours_s"] / r["peer_s"])
    assert "curvlinops float64" in r["check"]
    assert "ratio" in capsys.readouterr().out
