"""The three routes to per-sample gradient norms agree: fast, generic torch.func, and a loop."""

import pytest
import torch

from logloss.measure.gradients import per_sample_grad_stats, per_sample_grads, supports_fast_path
from logloss.measure.losses import cross_entropy_per_sample, mse_per_sample
from logloss.models.nets import cnn, mlp
from logloss.reference import per_sample_sq_norms_loop


def _data(n, shape, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    if k == 1:
        y = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    else:
        y = torch.nn.functional.one_hot(torch.randint(k, (n,), generator=g), k).double()
    return x, y


@pytest.mark.parametrize("loss", [mse_per_sample, cross_entropy_per_sample])
@pytest.mark.parametrize("widths", [[7, 5, 1], [6, 4, 4, 3]])
def test_mlp_fast_generic_loop_agree(loss, widths):
    model = mlp(widths, seed=1).double()
    x, y = _data(13, (widths[0],), widths[-1])
    fast = per_sample_grad_stats(model, x, y, loss=loss, chunk_size=5, method="fast")
    gen = per_sample_grad_stats(model, x, y, loss=loss, chunk_size=4, method="generic")
    loop = per_sample_sq_norms_loop(model, x, y, loss=loss)
    torch.testing.assert_close(fast.sq_norms, loop, rtol=1e-12, atol=0)
    torch.testing.assert_close(gen.sq_norms, loop, rtol=1e-12, atol=0)
    torch.testing.assert_close(fast.mean_grad, gen.mean_grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(fast.losses, gen.losses, rtol=1e-14, atol=0)


def test_cnn_fast_path_matches_loop():
    model = cnn((3, 4), seed=2, convs_per_stack=2, in_channels=1, image_size=8, outputs=3).double()
    assert supports_fast_path(model)
    x, y = _data(6, (1, 8, 8), 3)
    fast = per_sample_grad_stats(model, x, y, chunk_size=4, method="fast")
    loop = per_sample_sq_norms_loop(model, x, y)
    torch.testing.assert_close(fast.sq_norms, loop, rtol=1e-12, atol=0)


def test_mean_grad_is_mean_of_rows():
    model = mlp([5, 3, 2], seed=0).double()
    x, y = _data(9, (5,), 2)
    G = per_sample_grads(model, x, y)
    stats = per_sample_grad_stats(model, x, y)
    torch.testing.assert_close(stats.mean_grad, G.mean(dim=0), rtol=1e-12, atol=1e-15)
    # the mean convention: ∇L of L = (1/N) Σ ℓ_μ
    model.zero_grad()
    mse_per_sample(model(x), y).mean().backward()
    full = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(stats.mean_grad, full, rtol=1e-12, atol=1e-15)


def test_float32_fast_path_close_to_float64():
    model = mlp([20, 16, 1], seed=3)
    x, y = _data(50, (20,), 1)
    s32 = per_sample_grad_stats(model, x.float(), y.float()).sq_norms
    s64 = per_sample_grad_stats(model.double(), x, y).sq_norms
    torch.testing.assert_close(s32, s64, rtol=1e-5, atol=0)


def test_unsupported_model_falls_back_or_raises():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3), torch.nn.Linear(3, 1))
    model = model.double()
    assert not supports_fast_path(model)
    x, y = _data(5, (4,), 1)
    with pytest.raises(ValueError, match="fast path"):
        per_sample_grad_stats(model, x, y, method="fast")
    auto = per_sample_grad_stats(model, x, y)
    torch.testing.assert_close(auto.sq_norms, per_sample_sq_norms_loop(model, x, y), rtol=1e-12, atol=0)
