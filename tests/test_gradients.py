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


class _Convs(torch.nn.Module):
    """Conv1d, a grouped Conv2d, a Conv2d on a small image with many channels (the ghost
    route), a Conv3d, and in-place ReLUs after each."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.c1 = nn.Conv1d(2, 4, 3, padding=1)
        self.c2 = nn.Conv2d(4, 8, 3, padding=1, groups=2)
        self.c3 = nn.Conv2d(8, 24, 3, padding=1, stride=2)
        self.c4 = nn.Conv3d(1, 2, (1, 2, 2))
        self.out = nn.Linear(2 * 24 * 1 * 1, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):                              # x: (n, 2, 16)
        h = self.act(self.c1(x)).reshape(x.shape[0], 4, 4, 4)
        h = self.act(self.c3(self.act(self.c2(h))))     # (n, 24, 2, 2)
        h = self.act(self.c4(h[:, None]))              # (n, 2, 24, 1, 1)
        return self.out(h.reshape(x.shape[0], -1))


def test_every_convolution_route_matches_the_loop():
    from logloss.measure.gradients import _Capture, layer_route

    torch.manual_seed(0)
    model = _Convs().double()
    x, y = _data(7, (2, 16), 3)
    cap = _Capture(model)
    model(x)
    cap.close()
    routes = {type(m).__name__ + str(i): layer_route(m, recs[0][0], recs[0][1])
              for i, (m, recs) in enumerate(cap.records.items())}
    assert set(routes.values()) == {"ghost", "materialise", "outer"}, routes
    fast = per_sample_grad_stats(model, x, y, chunk_size=4, method="fast")
    torch.testing.assert_close(fast.sq_norms, per_sample_sq_norms_loop(model, x, y), rtol=1e-12, atol=0)
    gen = per_sample_grad_stats(model, x, y, method="generic")
    torch.testing.assert_close(fast.mean_grad, gen.mean_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("case", ["pixels_0_255", "near_minimum"])
def test_half_precision_squares_are_accumulated_in_float32(dtype, case):
    """float16 squared ‖a‖² in half precision: inf (NaN) for 0-255 inputs, and sums of tiny
    squares lost digits near a minimum.  The oracle is the loop over the same half-precision
    per-sample gradients, each squared and summed in float64."""
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 1))
    if case == "pixels_0_255":
        with torch.no_grad():
            model[0].weight.mul_(0.01)
        x, y = torch.randint(0, 256, (64, 20)).float(), torch.randn(64)
    else:
        x = torch.randn(64, 20)
    model, x = model.to(dtype), x.to(dtype)
    if case == "near_minimum":
        with torch.no_grad():
            y = model(x)[:, 0].float() + 1e-3 * torch.randn(64)
    y = y.to(dtype)
    ref = per_sample_sq_norms_loop(model, x, y)
    fast = per_sample_grad_stats(model, x, y, method="fast")
    u = torch.finfo(dtype).eps / 2  # unit roundoff of the model's dtype
    # tolerance: criterion: 2 unit roundoffs of the dtype, the rounding that the per-sample
    # gradient entries themselves carry (the loop rounds each entry once)
    torch.testing.assert_close(fast.sq_norms, ref, rtol=2 * u, atol=1e-30)
    assert torch.isfinite(fast.mean_grad).all()


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
