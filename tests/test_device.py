"""--device: auto is the CPU here, cuda is a clear error without a GPU, the summary says
where the run computed, and the GPU code path of the replica kernel is checked on the CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from logloss import cli, run_experiment
from logloss.core.device import resolve_device
from logloss.core.errors import InvalidInput
from logloss.dynamics import mlp_sgd
from logloss.models.nets import mlp

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")


def test_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert resolve_device(None) == resolve_device("auto")
    with pytest.raises(InvalidInput, match="device must be one of"):
        resolve_device("tpu")
    with pytest.raises(InvalidInput, match="cuda:K"):
        resolve_device("cuda:x")


@no_gpu
def test_cuda_without_a_gpu_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(InvalidInput, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(InvalidInput, match="no CUDA GPU"):
        run_experiment("noise-strength", "smoke", verbose=False, device="cuda")
    for cmd in (["run", "noise-strength"], ["sweep", "stationary", "--grid", "B=1"]):
        assert cli.main([*cmd, "--scale", "smoke", "--device", "cuda",
                         "--out", str(tmp_path / cmd[0])]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "no CUDA GPU" in err[0]
        assert not (tmp_path / cmd[0]).exists()  # refused before any work


def test_the_summary_records_the_device_used():
    torch_run = run_experiment("noise-strength", "smoke", verbose=False, device="cpu")
    assert torch_run.device.startswith("cpu (")
    numba_run = run_experiment("first-passage-linreg", "smoke", verbose=False, device="cpu")
    assert numba_run.device.startswith("cpu (") and not any("asked for" in n for n in numba_run.notes)


def test_the_gpu_loss_tracking_matches_the_numba_kernel(monkeypatch):
    """The torch tracker (used for tensors off the CPU) against the numba kernel, on the CPU."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 12, generator=g), torch.randn(300, generator=g)
    thresholds = np.geomspace(1.05, 3, 6) * float(mlp_sgd.replica_losses(
        mlp_sgd.replicate(mlp([12, 5, 1], seed=1), 1), x, y)[0])
    runs = {}
    for path in (True, False):
        monkeypatch.setattr(mlp_sgd.driver, "_on_cpu", lambda _x, path=path: path)
        p = mlp_sgd.replicate(mlp([12, 5, 1], seed=1), 6)
        runs[path] = mlp_sgd.sgd_mlp(p, x, y, eta=0.3, B=4, steps=400, rng=np.random.default_rng(2),
                                     thresholds=thresholds, resync_every=100)
    numba, torch_path = runs[True], runs[False]
    np.testing.assert_array_equal(torch_path.first_passage, numba.first_passage)
    np.testing.assert_array_equal(torch_path.steps_run, numba.steps_run)
    # float32 pre-activations, summed in another order: rounding over 400 steps
    np.testing.assert_allclose(torch_path.params.W1.numpy(), numba.params.W1.numpy(), atol=1e-5)
    np.testing.assert_allclose(torch_path.loss, numba.loss, rtol=1e-5)
    assert (numba.first_passage > 0).any() and (numba.first_passage < 0).any()


def test_the_gpu_sgd_step_matches_the_sparse_cpu_kernel(monkeypatch):
    """The batched torch steps (used for tensors off the CPU) against the CPU kernel, on
    dense Gaussian inputs (the sparse kernel's worst case: no zeros to skip)."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 12, generator=g), torch.randn(200, generator=g)
    idx = mlp_sgd.draw_minibatches(np.random.default_rng(3), 300, 4, 200, 8)
    runs = {}
    for path in (True, False):
        monkeypatch.setattr(mlp_sgd.driver, "_on_cpu", lambda _x, path=path: path)
        p = mlp_sgd.replicate(mlp([12, 5, 1], seed=2), 4)
        runs[path] = mlp_sgd.sgd_mlp(p, x, y, eta=0.05, B=8, steps=300, indices=idx, chunk=64)
    for field in ("W1", "b1", "w2", "b2"):
        np.testing.assert_allclose(getattr(runs[False].params, field).numpy(),
                                   getattr(runs[True].params, field).numpy(), atol=1e-5)
