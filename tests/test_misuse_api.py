"""The Python API on a user's own model is never silently wrong.

Each case of the misuse report (train-mode BatchNorm and dropout, broadcast targets,
integer labels, frozen parameters, mixed dtypes, tied weights, 3-d Linear inputs, LSTMs,
degenerate arguments) is here either a clear InvalidInput or the right number, checked
against the brute-force loop of :mod:`logloss.reference`; and no public measure function
changes the caller's model.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from logloss import InvalidInput, theory
from logloss.measure import _guard
from logloss.measure.covariance import minibatch_noise_covariance, per_sample_covariance_moments
from logloss.measure.curvature import CurvatureOperator
from logloss.measure.ggn import ggn_jacobian
from logloss.measure.gradients import (
    flat_params,
    jacobian,
    per_sample_grad_stats,
    per_sample_grads,
    supports_fast_path,
)
from logloss.measure.gram import ntk_gram
from logloss.measure.hessian import (
    gauss_newton,
    hessian_outliers,
    hessian_top_eigenvalues,
    lanczos_dense_check,
    participation_ratio,
    spectral_density,
)
from logloss.measure.kernel import gauss_newton_traces, per_sample_kernel
from logloss.measure.losses import cross_entropy_per_sample, mse_per_sample
from logloss.measure.monitor import NoiseMonitor
from logloss.measure.noise import noise_covariance, noise_strength
from logloss.measure.noise_scale import batch_noise_scale, gradient_noise_scale, minibatch_grad_sq_norm
from logloss.measure.predict import predict_escape
from logloss.measure.subspace import gauss_newton_quadratic
from logloss.reference import per_sample_sq_norms_loop
from logloss.stats.first_passage import fit_slope, mean_first_passage

D = torch.float64


def _x(n=24, d=8, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=D)


def _noise_loop(model, x, y, loss=mse_per_sample):
    """𝒩 by brute force: one backward per sample for ‖∇ℓ_μ‖², one full backward for ∇L."""
    sq = per_sample_sq_norms_loop(model, x, y, loss=loss)
    params = [p for p in model.parameters() if p.requires_grad]
    g = torch.autograd.grad(loss(model(x), y).mean(), params)
    return float(sq.mean() - sum(t.double().pow(2).sum() for t in g))


def _bn_net(affine=False):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, affine=affine), nn.ReLU(),
                        nn.Linear(16, 1)).to(D)
    with torch.no_grad():
        net[1].running_mean.fill_(0.3)
        net[1].running_var.fill_(2.0)
    return net


def _dropout_net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1)).to(D)


# every public measure function that takes a model, as f(model, x, y)
CALLS = {
    "noise_strength": lambda m, x, y: noise_strength(m, x, y),
    "per_sample_grads": lambda m, x, y: per_sample_grads(m, x, y),
    "per_sample_grad_stats": lambda m, x, y: per_sample_grad_stats(m, x, y),
    "per_sample_grad_stats_generic": lambda m, x, y: per_sample_grad_stats(m, x, y, method="generic"),
    "noise_covariance": lambda m, x, y: noise_covariance(m, x, y, 4),
    "jacobian": lambda m, x, _y: jacobian(m, x),
    "ntk_gram": lambda m, x, _y: ntk_gram(m, x),
    "hessian_outliers": lambda m, x, _y: hessian_outliers(m, x, k=3),
    "gauss_newton": lambda m, x, _y: gauss_newton(m, x),
}


# ---------------------------------------------------------------- train-mode BatchNorm, dropout

@pytest.mark.parametrize("name", CALLS)
def test_train_mode_batchnorm_raises_and_leaves_running_stats(name):
    net, x = _bn_net(), _x()
    y = torch.randn(24, 1, dtype=D)
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(InvalidInput, match=r"BatchNorm1d '1' in train mode.*model\.eval\(\)"):
        CALLS[name](net, x, y)
    assert net.training and net[1].training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_batchnorm_value_was_chunk_dependent_and_is_now_the_eval_value():
    """Issue: train-mode BN without affine gave 𝒩 depending on chunk_size; now it raises,
    and in eval mode 𝒩 is one number whatever the chunk and route, equal to the loop."""
    net, x = _bn_net(), _x(n=64)
    y = torch.randn(64, 1, dtype=D)
    for chunk in (None, 16):
        with pytest.raises(InvalidInput):
            noise_strength(net, x, y, chunk_size=chunk)
    net.eval()
    ref = _noise_loop(net, x, y)
    values = [noise_strength(net, x, y, chunk_size=c, method=m).noise
              for c in (None, 16, 5) for m in ("auto", "generic")]
    np.testing.assert_allclose(values, ref, rtol=1e-10)
    assert not net.training  # the caller's mode is kept


def test_batchnorm_without_running_stats_raises_even_in_eval():
    net = nn.Sequential(nn.Linear(8, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 1))
    net = net.to(D).eval()
    with pytest.raises(InvalidInput, match="track_running_stats=False"):
        noise_strength(net, _x(), torch.randn(24, dtype=D))


@pytest.mark.parametrize("name", CALLS)
def test_train_mode_dropout_raises(name):
    net, x = _dropout_net(), _x()
    y = torch.randn(24, 1, dtype=D)
    state = torch.random.get_rng_state()
    with pytest.raises(InvalidInput, match=r"Dropout '2' in train mode.*model\.eval\(\)"):
        CALLS[name](net, x, y)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_dropout_in_eval_mode_gives_one_deterministic_value():
    net, x = _dropout_net(), _x()
    y = torch.randn(24, 1, dtype=D)
    net.eval()
    values = {noise_strength(net, x, y).noise for _ in range(3)}
    assert len(values) == 1
    assert values.pop() == pytest.approx(_noise_loop(net, x, y), rel=1e-10)


class _Noisy(nn.Module):
    """A custom random layer that is not an nn.Dropout."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 1)

    def forward(self, x):
        return self.lin(x + 0.1 * torch.randn_like(x))


class _Centred(nn.Module):
    """A custom layer that couples the samples of a batch."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 1)

    def forward(self, x):
        return self.lin(x - x.mean(dim=0, keepdim=True))


@pytest.mark.parametrize("method", ["auto", "generic"])
def test_custom_randomness_and_batch_coupling_are_detected(method):
    x, y = _x(), torch.randn(24, dtype=D)
    noisy = _Noisy().to(D)
    state = torch.random.get_rng_state()
    with pytest.raises(InvalidInput, match="random numbers"):
        noise_strength(noisy, x, y, method=method)
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(InvalidInput, match="depends on the other samples"):
        noise_strength(_Centred().to(D), x, y, method=method)


class _MixesLargeBatches(nn.Module):
    """Per-sample in batches of up to 16 samples; beyond, it adds a tenth of the batch mean
    (a layer that switches to batch statistics for large batches)."""

    def __init__(self, limit=16):
        super().__init__()
        self.lin, self.limit = nn.Linear(8, 1), limit

    def forward(self, x):
        h = x + 0.1 * x.mean(dim=0, keepdim=True) if x.shape[0] > self.limit else x
        return self.lin(h)


class _RollsLargeBatches(nn.Module):
    """Mixes each sample with its neighbour in the batch, only in batches of 32 or more."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 1)

    def forward(self, x):
        return self.lin(x + 0.1 * x.roll(1, 0) if x.shape[0] >= 32 else x)


@pytest.mark.parametrize("make", [_MixesLargeBatches, _RollsLargeBatches])
def test_coupling_only_in_large_batches_is_detected(make):
    """The probe compared 4 samples with their batch of 4; the measurement runs batches of
    up to chunk_size, so the probe now checks at that size."""
    net = make().to(D)
    x, y = _x(n=200), torch.randn(200, dtype=D)
    for f in (lambda: noise_strength(net, x, y), lambda: noise_strength(net, x, y, method="generic"),
              lambda: hessian_outliers(net, x, k=1), lambda: per_sample_grads(net, x, y)):
        with pytest.raises(InvalidInput, match="depends on the other samples"):
            f()


def test_coupling_beyond_the_measured_batch_cannot_matter():
    """A layer that mixes samples only beyond the chunk the measurement uses gives the
    per-sample value (the loop's, one sample at a time)."""
    net = _MixesLargeBatches(limit=16).to(D)
    x, y = _x(n=60), torch.randn(60, dtype=D)
    rows = []
    for mu in range(60):  # each sample alone
        g = torch.autograd.grad(mse_per_sample(net(x[mu:mu + 1]), y[mu:mu + 1]).sum(), list(net.parameters()))
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    G = torch.stack(rows)
    ref = float(G.pow(2).sum(1).mean() - G.mean(0).pow(2).sum())
    assert noise_strength(net, x, y, chunk_size=16).noise == pytest.approx(ref, rel=1e-10)


class _Counter(nn.Module):
    """Deterministic, per-sample, but counts its calls in a buffer (an in-place update)."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 1)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return self.lin(x)


def test_raw_functorch_error_becomes_invalid_input_with_hint():
    net = _Counter().to(D)
    with pytest.raises(InvalidInput, match=r"updates a tensor in place.*torch said: .*mutate a captured"):
        noise_strength(net, _x(), torch.randn(24, dtype=D), method="generic")
    assert float(net.calls) == 0  # restored after the probe's forward passes
    noise_strength(net, _x(), torch.randn(24, dtype=D))  # the fast path has no such limit
    assert float(net.calls) == 0


# ---------------------------------------------------------------- targets

def test_targets_are_never_broadcast():
    x = _x()
    three = nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 3)).to(D)
    scalar = nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 1)).to(D)
    for y in (torch.randn(24, dtype=D), torch.randn(24, 1, dtype=D)):
        with pytest.raises(InvalidInput, match=r"shape \(24,( 1)?\) but the model's output has shape \(24, 3\)"):
            noise_strength(three, x, y)
    with pytest.raises(InvalidInput, match=r"targets y have shape \(24, 3\) but the model's output has shape \(24, 1\)"):
        noise_strength(scalar, x, torch.randn(24, 3, dtype=D))
    with pytest.raises(InvalidInput, match="one row per input"):
        noise_strength(scalar, x, torch.randn(23, dtype=D))
    # the trailing singleton is allowed either way
    a = noise_strength(scalar, x, torch.ones(24, dtype=D)).noise
    b = noise_strength(scalar, x, torch.ones(24, 1, dtype=D)).noise
    assert a == pytest.approx(b, rel=1e-14)
    with pytest.raises(InvalidInput):  # also where the losses are called directly
        mse_per_sample(torch.zeros(4, 3), torch.zeros(4))


def test_integer_labels_with_mse_say_to_one_hot_encode():
    net = nn.Sequential(nn.Linear(8, 10)).to(D)
    labels = torch.randint(10, (24,), generator=torch.Generator().manual_seed(0))
    for f in (noise_strength, per_sample_grads):
        with pytest.raises(InvalidInput, match=r"integer class labels.*one-hot.*loss='ce'"):
            f(net, _x(), labels)


def test_integer_labels_with_cross_entropy_equal_one_hot():
    net = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 4)).to(D)
    x = _x()
    labels = torch.randint(4, (24,), generator=torch.Generator().manual_seed(0))
    onehot = nn.functional.one_hot(labels, 4).to(D)
    ref = _noise_loop(net, x, onehot, cross_entropy_per_sample)
    for y in (labels, labels[:, None]):
        for loss in ("ce", cross_entropy_per_sample):
            for method in ("auto", "generic"):
                ns = noise_strength(net, x, y, loss=loss, method=method)
                assert ns.noise == pytest.approx(ref, rel=1e-10)
    G = per_sample_grads(net, x, labels, loss="ce")
    torch.testing.assert_close(G, per_sample_grads(net, x, onehot, loss="ce"), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(cross_entropy_per_sample(net(x), labels),
                               cross_entropy_per_sample(net(x), onehot), rtol=1e-12, atol=0)
    with pytest.raises(InvalidInput, match=r"labels must lie in 0\.\.3"):
        noise_strength(net, x, labels + 1, loss="ce")
    with pytest.raises(InvalidInput, match=r"y\.long\(\)"):
        noise_strength(net, x, labels.to(D), loss="ce")
    with pytest.raises(InvalidInput, match="loss must be one of"):
        noise_strength(net, x, labels, loss="hinge")


def test_one_output_cross_entropy_is_torch_binary_cross_entropy_on_0_1_labels():
    """Labels 0/1 were read as ±1: every y = 0 sample had loss log 2 and no gradient."""
    F = nn.functional
    net = nn.Sequential(nn.Linear(8, 6), nn.Tanh(), nn.Linear(6, 1)).to(D)
    x = _x()
    q = (torch.rand(24, generator=torch.Generator().manual_seed(1)) < 0.5).to(D)
    out = net(x)
    for labels in (q, q.long(), q[:, None]):
        torch.testing.assert_close(cross_entropy_per_sample(out, labels),
                                   F.binary_cross_entropy_with_logits(out[:, 0], q, reduction="none"),
                                   rtol=1e-14, atol=0)
    soft = torch.rand(24, generator=torch.Generator().manual_seed(2), dtype=D)  # probabilities
    torch.testing.assert_close(cross_entropy_per_sample(out, soft),
                               F.binary_cross_entropy_with_logits(out[:, 0], soft, reduction="none"),
                               rtol=1e-13, atol=1e-15)

    def bce(o, t):
        return F.binary_cross_entropy_with_logits(o.reshape(-1), t.reshape(-1).to(o.dtype), reduction="none")

    ref = _noise_loop(net, x, q, bce)
    for labels in (q, q.long(), 2 * q - 1):  # 0/1 and the logistic ±1 give one 𝒩
        for method in ("auto", "generic"):
            assert noise_strength(net, x, labels, loss="ce", method=method).noise == pytest.approx(ref, rel=1e-10)
    with pytest.raises(InvalidInput, match="mix -1 with 0"):
        noise_strength(net, x, torch.where(q > 0, 0.0, -1.0).to(D).index_fill(0, torch.tensor([0]), 1.0)
                       .index_fill(0, torch.tensor([1]), 0.0), loss="ce")
    with pytest.raises(InvalidInput, match=r"labels in \{0, 1\}.*got the value 2"):
        noise_strength(net, x, 2 * q, loss="ce")
    with pytest.raises(InvalidInput, match="got the value 2"):
        cross_entropy_per_sample(out, 2 * q)


# ---------------------------------------------------------------- parameters and dtypes

def test_no_or_frozen_parameters_are_clear_errors():
    x, y = _x(), torch.randn(24, dtype=D)
    with pytest.raises(InvalidInput, match="no parameters"):
        noise_strength(nn.Sequential(nn.Tanh()), x, y)
    net = nn.Sequential(nn.Linear(8, 1)).to(D).requires_grad_(False)
    for f in CALLS.values():
        with pytest.raises(InvalidInput, match="all 2 parameters of the model are frozen"):
            f(net, x, y)


def test_partly_frozen_parameters_are_excluded_and_counted():
    net = nn.Sequential(nn.Linear(8, 5), nn.Tanh(), nn.Linear(5, 1)).to(D)
    net[0].weight.requires_grad_(False)
    x, y = _x(), torch.randn(24, dtype=D)
    ns = noise_strength(net, x, y)
    assert (ns.P, ns.frozen) == (5 + 6, 40)
    assert ns.noise == pytest.approx(_noise_loop(net, x, y), rel=1e-10)
    assert per_sample_grads(net, x, y).shape == (24, 11)
    spec = hessian_outliers(net, x, k=2)
    assert (spec.P, spec.frozen) == (11, 40)


def test_float32_against_float64_is_an_error():
    net = nn.Sequential(nn.Linear(8, 1))  # float32
    for f in CALLS.values():
        with pytest.raises(InvalidInput, match="inputs x are torch.float64 but the model's parameters are "
                                               "torch.float32"):
            f(net, _x(), torch.randn(24, dtype=D))
    with pytest.raises(InvalidInput, match="torch.float32 but the model's parameters are torch.float64"):
        noise_strength(net.to(D), _x().float(), torch.randn(24))
    assert next(net.parameters()).dtype == D  # our .to(D) above, nothing else


# ---------------------------------------------------------------- auto falls back to generic

class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 2)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.out(torch.tanh(self.b(torch.tanh(self.a(x)))))


class _Reused(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.out = nn.Linear(6, 6), nn.Linear(6, 1)

    def forward(self, x):
        return self.out(torch.tanh(self.a(torch.tanh(self.a(x)))))


class _Functional(nn.Module):
    """A decoder that reuses the encoder's weight through F.linear (its own layer owns none)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 3)

    def forward(self, x):
        return nn.functional.linear(torch.tanh(self.enc(x)), self.enc.weight.T)[:, :1]


def _seq3d():
    return nn.Sequential(nn.Linear(6, 4), nn.Tanh(), nn.Linear(4, 1), nn.Flatten())


@pytest.mark.parametrize("make, x, k", [
    (_Tied, (20, 6), 2), (_Reused, (20, 6), 1), (_Functional, (20, 6), 1),
])
def test_auto_falls_back_to_generic_and_matches_the_loop(make, x, k):
    torch.manual_seed(3)
    net = make().to(D)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(*x, generator=g, dtype=D)
    y = torch.randn(20, k, generator=g, dtype=D)
    loop = per_sample_sq_norms_loop(net, x, y)
    auto = per_sample_grad_stats(net, x, y)
    assert auto.method == "generic"
    torch.testing.assert_close(auto.sq_norms, loop, rtol=1e-12, atol=0)
    assert noise_strength(net, x, y).noise == pytest.approx(_noise_loop(net, x, y), rel=1e-10)
    with pytest.raises(InvalidInput, match="fast path: "):
        per_sample_grad_stats(net, x, y, method="fast")


def test_linear_layers_on_sequences_take_the_fast_path_and_match_the_loop():
    """(batch, T, features) inputs: the per-sample gradient of a Linear layer is a sum over T,
    whose norm is formed by the ghost (T small) or the materialised route (T large)."""
    torch.manual_seed(3)
    net = _seq3d().to(D)
    g = torch.Generator().manual_seed(4)
    for T in (2, 40):  # T·(6 + 4) < 24 takes the ghost route, T = 40 materialises
        x = torch.randn(20, T, 6, generator=g, dtype=D)
        y = torch.randn(20, T, generator=g, dtype=D)
        auto = per_sample_grad_stats(net, x, y)
        assert auto.method == "fast"
        torch.testing.assert_close(auto.sq_norms, per_sample_sq_norms_loop(net, x, y), rtol=1e-12, atol=0)
        gen = per_sample_grad_stats(net, x, y, method="generic")
        torch.testing.assert_close(auto.mean_grad, gen.mean_grad, rtol=1e-12, atol=1e-15)


def test_ntk_gram_falls_back_for_tied_weights():
    class TiedScalar(_Tied):
        def forward(self, x):
            return super().forward(x)[:, :1]

    torch.manual_seed(5)
    net = TiedScalar().to(D)
    x = _x(n=10, d=6)
    J = jacobian(net, x)
    np.testing.assert_allclose(ntk_gram(net, x), (J @ J.T).numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(InvalidInput, match="tied weights"):
        ntk_gram(net, x, method="fast")


class _LSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.out = nn.LSTM(8, 5, batch_first=True), nn.Linear(5, 1)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


def test_lstm_that_vmap_cannot_batch_is_a_clear_error():
    net = _LSTM().to(D)
    x = torch.randn(6, 4, 8, dtype=D)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's "performance drop" notice
        with pytest.raises(InvalidInput, match=r"torch\.func\.vmap could not.*nn\.LSTM"):
            noise_strength(net, x, torch.randn(6, dtype=D))


# ---------------------------------------------------------------- memory and chunk sizes

@pytest.mark.parametrize("chunk", [0, -3, 2.5, True])
def test_bad_chunk_size_is_a_clear_error(chunk):
    net, x, y = nn.Sequential(nn.Linear(8, 1)).to(D), _x(), torch.randn(24, dtype=D)
    for f in (lambda: noise_strength(net, x, y, chunk_size=chunk),
              lambda: per_sample_grads(net, x, y, chunk_size=chunk),
              lambda: jacobian(net, x, chunk_size=chunk),
              lambda: ntk_gram(net, x, chunk_size=chunk),
              lambda: hessian_outliers(net, x, chunk_size=chunk)):
        with pytest.raises(InvalidInput, match="chunk_size must be an integer >= 1"):
            f()


def test_generic_chunk_fits_the_memory_budget(monkeypatch):
    cpu = torch.device("cpu")
    P = 1_000_000
    chunk = _guard.generic_chunk(P, 4, cpu, 1000)
    assert chunk * _guard.GENERIC_COST * 4 * P <= _guard.DEFAULT_BUDGET
    assert _guard.generic_chunk(10, 8, cpu, 7) == 7  # a request that fits is kept
    # with little memory the chunk shrinks, and the value does not change
    net = nn.Sequential(nn.Linear(8, 6), nn.LayerNorm(6), nn.Linear(6, 1)).to(D)
    x, y = _x(), torch.randn(24, dtype=D)
    ref = noise_strength(net, x, y).noise
    monkeypatch.setattr(_guard, "available_memory", lambda _device: 2 * _guard.GENERIC_COST * 8 * 55 * 3)
    assert _guard.generic_chunk(55, 8, cpu, None) == 3
    assert noise_strength(net, x, y, chunk_size=1000).noise == pytest.approx(ref, rel=1e-12)
    with pytest.raises(InvalidInput, match=r"per-sample gradient matrix G \(N × P\) would need"):
        per_sample_grads(net, torch.randn(5000, 8, dtype=D), torch.randn(5000, dtype=D))


# ---------------------------------------------------------------- Hessian outliers, spectral density

def test_hessian_outliers_bad_k():
    net, x = nn.Sequential(nn.Linear(8, 3), nn.Tanh(), nn.Linear(3, 1)).to(D), _x()
    P = 31
    for k in (0, -3, 1.5):
        with pytest.raises(InvalidInput, match="k must be an integer >= 1"):
            hessian_outliers(net, x, k=k)
    with pytest.raises(InvalidInput, match=f"method='lanczos' needs k < P, got k={P}"):
        hessian_outliers(net, x, k=P, method="lanczos")
    spec = hessian_outliers(net, x, k=P + 5)  # auto: dense, all P eigenvalues
    assert spec.method == "dense" and spec.eigenvalues.shape == (P,)


def _krylov_dim(H, z):
    K = np.column_stack([np.linalg.matrix_power(H, j) @ z for j in range(H.shape[0] + 1)])
    return np.linalg.matrix_rank(K, tol=1e-9)


def test_lanczos_breakdown_in_one_probe_does_not_shorten_the_others():
    # H = JᵀJ/N with eigenvectors u = (1,1,1,1)/2 and w = (1,-1,0,0)/√2: a probe z = ±(1,1,1,1)
    # spans a 1-d Krylov space (breakdown at once), most others a 3-d one.
    u = np.full(4, 0.5)
    w = np.array([1.0, -1.0, 0.0, 0.0]) / np.sqrt(2)
    J = torch.tensor(np.stack([2.0 * u, 1.0 * w]))
    H = J.numpy().T @ J.numpy() / 2
    probes, steps = 6, 4
    for seed in range(200):
        rng = np.random.default_rng(seed)
        zs = [rng.choice([-1.0, 1.0], size=4) for _ in range(probes)]
        dims = [_krylov_dim(H, z) for z in zs]
        if dims[0] == 1 and max(dims) > 1:
            break
    else:  # pragma: no cover
        pytest.fail("no seed with an early breakdown in the first probe")
    nodes, counts = spectral_density(J, 2, steps=steps, probes=probes, seed=seed)
    assert len(nodes) == sum(dims)  # each probe runs to its own Krylov dimension
    ends = np.cumsum(dims)[:-1]
    for z, c, t in zip(zs, np.split(counts, ends), np.split(nodes, ends)):
        assert c.sum() * probes == pytest.approx(4.0, rel=1e-12)  # each probe's counts sum to P
        # and its quadrature is exact on the moments it reaches: Σ counts·θ = zᵀHz / probes
        assert float(c @ t) * probes == pytest.approx(z @ H @ z, rel=1e-10)
        assert float(c @ t**2) * probes == pytest.approx(z @ H @ H @ z, rel=1e-10)


# ---------------------------------------------------------------- no side effects on the model

class _Everything(nn.Module):
    """Eval-mode BatchNorm and dropout, a frozen layer, a buffer, float64."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 6)
        self.bn = nn.BatchNorm1d(6)
        self.drop = nn.Dropout(0.3)
        self.b = nn.Linear(6, 1)
        self.a.bias.requires_grad_(False)

    def forward(self, x):
        return self.b(self.drop(torch.tanh(self.bn(self.a(x)))))


def _reused_layer():
    """The issue's model: one Linear layer called twice (registered under two names)."""
    lin = nn.Linear(8, 8)
    return nn.Sequential(lin, nn.Tanh(), lin, nn.Tanh(), nn.Linear(8, 1))


class _TiedWithBuffer(nn.Module):
    """Two layers that share one weight Parameter, and a buffer used in the forward pass."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 1)
        self.b.weight = self.a.weight
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 8))

    def forward(self, x):
        return self.out(torch.tanh(self.b(torch.tanh(self.a(x))) * self.scale))


class _SharedSubmodule(nn.Module):
    """One block (with an eval-mode BatchNorm's buffers) registered in two parents."""

    def __init__(self):
        super().__init__()
        block = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Tanh())
        self.left = nn.Sequential(block)
        self.right = nn.ModuleDict({"inner": block})
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(self.right["inner"](self.left(x)))


MODELS = {"everything": _Everything, "reused_layer": _reused_layer, "tied_with_buffer": _TiedWithBuffer,
          "shared_submodule": _SharedSubmodule}


def _every_slot(model):
    """(module name, attribute, object) for every parameter and buffer slot, duplicates included."""
    return [(mn, k, t) for mn, m in model.named_modules(remove_duplicate=False)
            for d in (m._parameters, m._buffers) for k, t in d.items()]


def _state(model):
    return ({k: v.clone() for k, v in model.state_dict(keep_vars=False).items()},
            [(n, m.training) for n, m in model.named_modules(remove_duplicate=False)],
            [(n, p.dtype, p.requires_grad, None if p.grad is None else p.grad.clone())
             for n, p in model.named_parameters(remove_duplicate=False)],
            [(mn, k, id(t), type(t)) for mn, k, t in _every_slot(model)])


def _make(name):
    torch.manual_seed(0)
    net = MODELS[name]().to(D).eval()
    first = next(p for p in net.parameters() if p.requires_grad)
    first.grad = torch.full_like(first, 0.5)  # a caller's accumulated gradient
    return net


def _every_public_model_function():
    """Every public function (or class) of the measure layer whose first argument is a model."""
    import inspect

    import logloss.measure as pkg
    found = set()
    for info in __import__("pkgutil").iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = __import__(f"logloss.measure.{info.name}", fromlist=["__all__"])
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            target = obj.__init__ if inspect.isclass(obj) else obj
            if not callable(obj) or not hasattr(target, "__code__"):
                continue
            params = [p for p in inspect.signature(target).parameters if p != "self"]
            if params and params[0] == "model":
                found.add(name)
    return found


def _monitor(m, x, y):
    mon = NoiseMonitor(m, x, y, every=2)
    mon(0)
    mon.record(3)
    return mon.history()


# every public measure function that takes a model, as f(model, x, y) (scalar targets)
EVERY = CALLS | {
    "flat_params": lambda m, _x, _y: flat_params(m),
    "supports_fast_path": lambda m, _x, _y: supports_fast_path(m),
    "ggn_jacobian": lambda m, x, _y: ggn_jacobian(m, x, loss="mse"),
    "hessian_top_eigenvalues": lambda m, x, y: hessian_top_eigenvalues(m, x, y, k=2),
    "lanczos_dense_check": lambda m, x, _y: lanczos_dense_check(m, x, k=2),
    "predict_escape": lambda m, x, _y: predict_escape(m, x, eta=0.01, B=4, k=3),
    "gradient_noise_scale": lambda m, x, y: gradient_noise_scale(m, x, y, B_small=2, B_big=8, rng=0, draws=3),
    "minibatch_grad_sq_norm": lambda m, x, y: minibatch_grad_sq_norm(m, x, y),
    "batch_noise_scale": lambda m, x, y: [batch_noise_scale(m, x, y, B_small=b, N=100) for b in (1, 5)],
    "NoiseMonitor": _monitor,
    "CurvatureOperator": lambda m, x, y: [CurvatureOperator(m, x, y, curvature=c, cache=cache).matmat(
        torch.ones(sum(p.numel() for p in m.parameters() if p.requires_grad), dtype=D))
        for c in ("ggn", "hessian") for cache in (True, False)],
    "hessian_outliers_ce_float32": lambda m, x, _y: hessian_outliers(m, x, loss="ce", k=2, dtype=torch.float32,
                                                                     method="lanczos"),
    "hessian_outliers_hessian": lambda m, x, y: hessian_outliers(m, x, y, curvature="hessian", k=2,
                                                                 method="lanczos", trace="hutch++"),
    "participation_ratio": lambda m, x, _y: participation_ratio(m, x, k=2),
    "per_sample_kernel": lambda m, x, y: per_sample_kernel(m, x, y),
    "gauss_newton_traces": lambda m, x, _y: gauss_newton_traces(m, x, powers=2),
    "gauss_newton_quadratic": lambda m, x, _y: gauss_newton_quadratic(m, x, flat_params(m)[None] + 1.0),
}
FUNCTION_OF = {"per_sample_grad_stats_generic": "per_sample_grad_stats",
               "hessian_outliers_ce_float32": "hessian_outliers", "hessian_outliers_hessian": "hessian_outliers"}


def test_every_public_model_function_is_in_the_no_mutation_test():
    assert _every_public_model_function() <= {FUNCTION_OF.get(k, k) for k in EVERY}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("name", EVERY)
def test_no_measure_function_mutates_the_model(name, model):
    """Identity and value: every slot keeps its own object (a Parameter stays the same
    Parameter), values, gradients, flags, modes, buffers and the RNG state are unchanged."""
    net = _make(model)
    x, y = _x(), torch.randn(24, dtype=D)
    before = _state(net)
    rng = torch.random.get_rng_state()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # predict_escape's warnings on a random net
        EVERY[name](net, x, y)
    after = _state(net)
    assert before[3] == after[3]  # identity and type of every parameter and buffer slot
    assert before[1] == after[1]
    for (n, dt, rg, g), (_, dt2, rg2, g2) in zip(before[2], after[2]):
        assert (dt, rg) == (dt2, rg2), n
        assert (g is None and g2 is None) or torch.equal(g, g2), n
    for k, v in before[0].items():
        assert torch.equal(v, after[0][k]), k
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_an_optimizer_built_before_a_measurement_still_trains_a_reused_layer():
    """The issue's scenario: the reused layer's weight lost its Parameter, so SGD built
    beforehand stopped updating it, and gradient_noise_scale then crashed."""
    net = _reused_layer().to(D)
    x, y = _x(), torch.randn(24, 1, dtype=D)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    noise_strength(net, x, y, method="generic")
    hessian_outliers(net, x, k=2)
    w0 = net[0].weight.detach().clone()
    opt.zero_grad()
    mse_per_sample(net(x), y).mean().backward()
    opt.step()
    assert not torch.equal(net[0].weight, w0)
    gradient_noise_scale(net, x, y, B_small=2, B_big=8, rng=0, draws=3)


def test_measure_sources_never_convert_or_switch_the_model():
    import inspect

    from logloss.measure import gradients, gram, hessian, noise
    for mod in (gradients, gram, hessian, noise, _guard):
        src = inspect.getsource(mod)
        for bad in ("model.double()", "model.float()", "model.eval()\n", "model.train()\n", "model.to("):
            assert bad not in src.replace('"model.eval()', "").replace("call model.eval()", ""), (mod, bad)


# ---------------------------------------------------------------- first passage, theory, covariance

def test_first_passage_edge_cases():
    fp = np.array([[3, 5], [2, -1], [4, 9]])
    with pytest.raises(InvalidInput, match="replica 2 has a first-passage step beyond its budget"):
        mean_first_passage(fp, 8)
    with pytest.raises(InvalidInput, match="one per replica"):
        mean_first_passage(fp, [10, 10])
    with pytest.raises(InvalidInput, match=">= 1, or −1"):
        mean_first_passage(np.array([[0, 3]]), 10)
    with pytest.raises(InvalidInput, match="one column of first_passage per threshold"):
        fit_slope(np.array([1.5, 2.0, 3.0]), fp, 10, window=(1, 3), rng=0)


def test_fit_slope_accepts_an_integer_seed():
    rng = np.random.default_rng(1)
    fp = np.column_stack([rng.integers(1, 20, 40), rng.integers(20, 60, 40), rng.integers(60, 200, 40)])
    c = np.array([1.5, 2.0, 3.0])
    a = fit_slope(c, fp, 200, window=(1, 3), rng=7, n_boot=50)
    b = fit_slope(c, fp, 200, window=(1, 3), rng=np.random.default_rng(7), n_boot=50)
    assert (a.slope, a.slope_stderr) == (b.slope, b.slope_stderr)


def test_theory_edge_cases():
    with pytest.raises(InvalidInput, match="B must be finite"):
        theory.escape_exponent(eta=0.1, B=float("inf"), h=1.0, n=2)
    for n in (-1, float("nan")):
        with pytest.raises(InvalidInput, match="effective dimension n"):
            theory.escape_exponent(eta=0.1, B=8, h=1.0, n=n)


def test_covariance_needs_a_matrix_of_per_sample_gradients():
    with pytest.raises(InvalidInput, match=r"\(N, P\) matrix"):
        minibatch_noise_covariance(np.ones(5), 2)
    with pytest.raises(InvalidInput, match="directions must have shape"):
        per_sample_covariance_moments(np.ones((5, 3)), np.ones((1, 4)))
