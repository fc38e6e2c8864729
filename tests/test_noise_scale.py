"""The gradient noise scale B_simple, against a brute-force per-sample loop and its own law."""

import numpy as np
import pytest
import torch

from logloss import InvalidInput, gradient_noise_scale
from logloss.measure.losses import cross_entropy_per_sample, mse_per_sample
from logloss.models.nets import mlp
from logloss.reference import per_sample_sq_norms_loop


def _data(n=40, d=6, k=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = torch.randn(n, k, generator=g, dtype=torch.float64)
    return x, y


def _brute_force(model, x, y, loss):
    """𝒩/‖∇L‖² from one backward() per sample and one full-batch backward()."""
    sq = per_sample_sq_norms_loop(model, x, y, loss=loss)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss(model(x), y).mean(), params)
    gsq = float(sum(g.double().pow(2).sum() for g in grads))
    noise = float(sq.mean()) - gsq
    return noise / gsq, noise, gsq


@pytest.mark.parametrize("loss,k", [(mse_per_sample, 1), (mse_per_sample, 3),
                                    (cross_entropy_per_sample, 3)])
def test_exact_b_simple_matches_brute_force_loop(loss, k):
    model = mlp([6, 5, k], seed=0).double()
    x, y = _data(k=k)
    if loss is cross_entropy_per_sample:
        y = torch.nn.functional.one_hot(y.argmax(1), k).double()
    b, noise, gsq = _brute_force(model, x, y, loss)
    gns = gradient_noise_scale(model, x, y, B_small=2, B_big=20, draws=4, rng=0, loss=loss)
    assert gns.b_simple == pytest.approx(b, rel=1e-9)
    assert gns.noise == pytest.approx(noise, rel=1e-9)
    assert gns.grad_sq_norm == pytest.approx(gsq, rel=1e-9)


def test_two_batch_estimates_are_unbiased_with_the_finite_population_factor():
    model = mlp([6, 5, 1], seed=2).double()
    x, y = _data(seed=3)
    gns = gradient_noise_scale(model, x, y, B_small=4, B_big=30, draws=3000,
                               rng=np.random.default_rng(1))
    for est, exact in ((gns.trace_estimate, gns.noise), (gns.grad_sq_estimate, gns.grad_sq_norm)):
        assert abs(est.value - exact) < 4 * est.stderr, (est, exact)
    assert abs(gns.b_simple_two_batch.value - gns.b_simple) < 4 * gns.b_simple_two_batch.stderr


def test_one_over_B_version_has_the_predicted_bias():
    """With c_B = 1/B the means are 𝒩·N/(N−1) and |G|² − 𝒩/(N−1) (module docstring)."""
    model = mlp([6, 5, 1], seed=2).double()
    x, y = _data(seed=3)
    N = x.shape[0]
    gns = gradient_noise_scale(model, x, y, B_small=4, B_big=30, draws=3000, rng=1,
                               finite_population=False)
    assert abs(gns.trace_estimate.value - gns.noise * N / (N - 1)) < 4 * gns.trace_estimate.stderr
    assert abs(gns.grad_sq_estimate.value - (gns.grad_sq_norm - gns.noise / (N - 1))) \
        < 4 * gns.grad_sq_estimate.stderr


def test_full_batch_as_big_batch_gives_exact_gradient_norm():
    model = mlp([6, 5, 1], seed=4).double()
    x, y = _data()
    gns = gradient_noise_scale(model, x, y, B_small=5, B_big=x.shape[0], draws=3, rng=0)
    assert gns.grad_sq_estimate.value == pytest.approx(gns.grad_sq_norm, rel=1e-9)
    assert gns.grad_sq_estimate.stderr == pytest.approx(0, abs=1e-12)


def test_same_rng_same_answer_and_bad_sizes():
    model = mlp([6, 5, 1], seed=4).double()
    x, y = _data()
    a = gradient_noise_scale(model, x, y, B_small=2, B_big=10, draws=5, rng=7)
    b = gradient_noise_scale(model, x, y, B_small=2, B_big=10, draws=5, rng=7)
    assert a == b
    with pytest.raises(InvalidInput):
        gradient_noise_scale(model, x, y, B_small=10, B_big=10, draws=5, rng=0)
    with pytest.raises(InvalidInput):
        gradient_noise_scale(model, x, y, B_small=2, B_big=x.shape[0] + 1, draws=5, rng=0)
    with pytest.raises(InvalidInput):
        gradient_noise_scale(model, x, y, B_small=2, B_big=10, draws=1, rng=0)
