"""The batched MLP replica kernel against a naive torch.nn + autograd loop."""

import numpy as np
import pytest
import torch

from logloss.data import mnist_even_odd
from logloss.dynamics.mlp_sgd import draw_minibatches, replica_losses, replicate, sgd_mlp
from logloss.dynamics.rng import minibatch_indices
from logloss.models.nets import mlp
from logloss.reference import naive_sgd_mlp


@pytest.fixture(scope="module")
def data():
    d = mnist_even_odd(300)
    return d.x.double(), d.y.double()


def _net(seed=0, hidden=6):
    return mlp([784, hidden, 1], seed=seed).double()


def _params_of(model):
    return [p.detach().clone() for p in model.parameters()]


def test_minibatches_are_distinct_and_cover_all_samples():
    idx = draw_minibatches(np.random.default_rng(0), 2000, 3, 12, 5)
    assert idx.shape == (2000, 3, 5)
    assert all(len(set(row)) == 5 for row in idx.reshape(-1, 5))
    counts = np.bincount(idx.ravel(), minlength=12)
    expected = idx.size / 12
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


@pytest.mark.parametrize("steps", [1, 2, 9])
def test_step_for_step_agreement_with_autograd_loop(data, steps):
    x, y = data
    R, B, eta = 3, 10, 0.05
    idx = draw_minibatches(np.random.default_rng(steps), steps, R, x.shape[0], B)
    net = _net()
    run = sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=steps, indices=idx)
    for r in range(R):
        ref = naive_sgd_mlp(_net(), x, y, eta=eta, indices=idx[:, r])
        for got, want in zip(run.params.model(r).parameters(), ref.parameters()):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hidden", [3, 16, 21])
def test_sparse_cpu_kernel_matches_autograd_at_any_width_and_thread_count(data, hidden, at_one_thread):
    """The CPU kernel (nonzero inputs only, W₁ᵀ in 16-lane blocks) at widths below, at and
    above one block, on MNIST inputs with a few exact zeros set in the minibatch rows."""
    x, y = data
    x = x.clone()
    x[:, 300:310] = 0.0
    R, B, eta, steps = 3, 7, 0.05, 12
    idx = draw_minibatches(np.random.default_rng(hidden), steps, R, x.shape[0], B)
    run = sgd_mlp(replicate(_net(hidden=hidden), R), x, y, eta=eta, B=B, steps=steps,
                  indices=idx, chunk=5)
    for r in range(R):
        ref = naive_sgd_mlp(_net(hidden=hidden), x, y, eta=eta, indices=idx[:, r])
        for got, want in zip(run.params.model(r).parameters(), ref.parameters()):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    one = at_one_thread(lambda: sgd_mlp(replicate(_net(hidden=hidden), R), x, y, eta=eta, B=B,
                                        steps=steps, indices=idx, chunk=5))
    assert torch.equal(one.params.W1, run.params.W1)


@pytest.mark.parametrize("B", [1, 10])
def test_sparse_cpu_kernel_draws_each_replicas_own_stream(data, B, at_one_thread):
    """Drawing inline, replica r uses the indices of stream r of the seed taken from rng
    (``minibatch_indices``), across chunks, at any thread count."""
    x, y = data
    R, steps = 3, 40
    kw = dict(eta=0.05, B=B, steps=steps, chunk=16)
    run = sgd_mlp(replicate(_net(), R), x, y, rng=np.random.default_rng(9), **kw)
    seed = int(np.random.default_rng(9).integers(2**63))
    idx = np.stack([minibatch_indices(seed, r, x.shape[0], B, steps) for r in range(R)], axis=1)
    ref = sgd_mlp(replicate(_net(), R), x, y, indices=idx, **kw)
    assert torch.equal(run.params.W1, ref.params.W1) and torch.equal(run.params.b2, ref.params.b2)
    one = at_one_thread(lambda: sgd_mlp(replicate(_net(), R), x, y, rng=np.random.default_rng(9), **kw))
    assert torch.equal(one.params.W1, run.params.W1)


def test_first_passage_matches_brute_force(data):
    """Tracked loss (Gram-matrix updates) against the full loss evaluated from scratch."""
    x, y = data
    R, B, eta, steps = 4, 10, 0.2, 60
    net = _net(1)
    L0 = float(replica_losses(replicate(net, 1), x, y)[0])
    thresholds = L0 * np.array([1.05, 1.2, 1.5])
    idx = draw_minibatches(np.random.default_rng(5), steps, R, x.shape[0], B)
    run = sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=steps, indices=idx,
                  thresholds=thresholds, stop_when_all_crossed=False, resync_every=7)
    for r in range(R):
        model = _net(1)
        want = np.full(len(thresholds), -1)
        for k in range(steps):
            naive_sgd_mlp(model, x, y, eta=eta, indices=idx[k:k + 1, r])
            with torch.no_grad():
                L = float(0.5 * ((model(x)[:, 0] - y) ** 2).mean())
            for j, t in enumerate(thresholds):
                if want[j] < 0 and L >= t:
                    want[j] = k + 1
        np.testing.assert_array_equal(run.first_passage[r], want)
        assert run.loss[r] == pytest.approx(L, rel=1e-10)
    assert (run.first_passage >= 0).any(), "the test should exercise crossings"


def test_stopped_replicas_keep_their_state(data):
    x, y = data
    R, B, eta, steps = 5, 10, 0.2, 80
    net = _net(2)
    L0 = float(replica_losses(replicate(net, 1), x, y)[0])
    idx = draw_minibatches(np.random.default_rng(6), steps, R, x.shape[0], B)
    run = sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=steps, indices=idx,
                  thresholds=[1.1 * L0])
    for r in range(R):
        k = run.steps_run[r]
        # A replica stops within 16 steps of its last crossing (checked in batches).
        if run.first_passage[r, 0] > 0:
            assert run.first_passage[r, 0] <= k < run.first_passage[r, 0] + 16
        else:
            assert k == steps
        ref = naive_sgd_mlp(_net(2), x, y, eta=eta, indices=idx[:k, r])
        for got, want in zip(run.params.model(r).parameters(), ref.parameters()):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_float32_tracking_stays_close_to_exact():
    d = mnist_even_odd(500)
    net = mlp([784, 10, 1], seed=3)
    R = 4
    run = sgd_mlp(replicate(net, R), d.x, d.y, eta=0.05, B=10, steps=300,
                  rng=np.random.default_rng(0), thresholds=[np.inf], resync_every=10_000)
    exact = replica_losses(run.params, d.x, d.y).numpy()
    np.testing.assert_allclose(run.loss, exact, rtol=1e-4)


def test_rejects_other_architectures():
    with pytest.raises(ValueError, match="Sequential"):
        replicate(mlp([4, 3, 3, 1], seed=0), 2)


def test_monitored_kernel_steps_like_autograd_loop_at_any_thread_count(data, at_one_thread):
    """The first-passage mode's own (numba) step, with chunks and a resync, matches autograd."""
    x, y = data
    R, B, eta, steps = 3, 10, 0.05, 23
    idx = draw_minibatches(np.random.default_rng(8), steps, R, x.shape[0], B)
    kw = dict(eta=eta, B=B, steps=steps, indices=idx, thresholds=[float("inf")], chunk=5,
              resync_every=7)
    run = sgd_mlp(replicate(_net(), R), x, y, **kw)
    for r in range(R):
        ref = naive_sgd_mlp(_net(), x, y, eta=eta, indices=idx[:, r])
        for got, want in zip(run.params.model(r).parameters(), ref.parameters()):
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    one = at_one_thread(lambda: sgd_mlp(replicate(_net(), R), x, y, **kw))
    assert torch.equal(one.params.W1, run.params.W1)
    np.testing.assert_array_equal(one.loss, run.loss)
