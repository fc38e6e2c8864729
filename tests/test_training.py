"""SGD training loop: without-replacement epochs, determinism, recording, divergence."""

import numpy as np
import pytest
import torch

from logloss.core.errors import SGDDiverged
from logloss.dynamics.training import log_schedule, train_sgd
from logloss.measure.losses import mse_per_sample
from logloss.models.nets import mlp


def _data(n=20, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)


def test_full_batch_epoch_is_one_gradient_descent_step():
    x, y = _data()
    a, b = mlp([5, 4, 1], seed=0).double(), mlp([5, 4, 1], seed=0).double()
    train_sgd(a, x, y, eta=0.1, B=20, epochs=1, seed=0, measure_noise=False)
    mse_per_sample(b(x), y).mean().backward()
    with torch.no_grad():
        for p in b.parameters():
            p -= 0.1 * p.grad
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-14)


def test_epoch_visits_every_sample_once():
    """A model with one parameter per sample (f_μ = t_μ): an epoch touches each t_μ exactly once."""
    x = torch.arange(12, dtype=torch.float64).reshape(12, 1)
    y = torch.zeros(12, dtype=torch.float64)

    class Table(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.t = torch.nn.Parameter(torch.ones(12, dtype=torch.float64))

        def forward(self, xb):
            return self.t[xb[:, 0].long()]

    model = Table()
    train_sgd(model, x, y, eta=0.5, B=3, epochs=1, seed=4, measure_noise=False)
    # each entry is touched exactly once by a step of size η/B·t: 1 → 1 − 0.5/3
    torch.testing.assert_close(model.t.detach(), torch.full((12,), 1 - 0.5 / 3, dtype=torch.float64))


def test_seeded_runs_are_identical_and_record_schedule():
    x, y = _data()
    r1 = train_sgd(mlp([5, 4, 1], seed=1).double(), x, y, eta=0.05, B=5, epochs=4, seed=3,
                   record_at=[0, 2, 4], snapshot_at=[2])
    r2 = train_sgd(mlp([5, 4, 1], seed=1).double(), x, y, eta=0.05, B=5, epochs=4, seed=3,
                   record_at=[0, 2, 4])
    np.testing.assert_array_equal(r1.epochs, [0, 2, 4])
    np.testing.assert_array_equal(r1.loss, r2.loss)
    np.testing.assert_array_equal(r1.noise, r2.noise)
    assert set(r1.snapshots) == {2}
    assert np.all(r1.noise > 0)


def test_divergence_raises():
    x, y = _data()
    with pytest.raises(SGDDiverged, match="diverged"):
        train_sgd(mlp([5, 4, 1], seed=1).double(), 100 * x, y, eta=50.0, B=5, epochs=30, seed=0)


def test_bad_input():
    x, y = _data()
    with pytest.raises(ValueError, match="minibatch size B"):
        train_sgd(mlp([5, 1], seed=0).double(), x, y, eta=0.1, B=21, epochs=1, seed=0)
    with pytest.raises(ValueError, match="eta"):
        train_sgd(mlp([5, 1], seed=0).double(), x, y, eta=-1.0, B=2, epochs=1, seed=0)


def test_log_schedule():
    s = log_schedule(100, 10)
    assert s[0] == 0 and s[-1] == 100 and s == sorted(set(s))
