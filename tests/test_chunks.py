"""Ctrl-C during a long numba kernel stops the run at once, and chunking changes nothing."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from logloss.dynamics import barrier_sgd, chunks, linreg_sgd, sde
from logloss.models.barrier import add_spectators, make_barrier_regression
from logloss.models.linreg import make_linear_regression


def _linreg(prob, **extra):
    kw = dict(eta=0.3, B=2, steps=3000, replicas=13, seed=5, record_every=7,
              thresholds=prob.L_star * np.array([1.1, 1.5, 3.0]))
    run = linreg_sgd.sgd_linreg(prob, **(kw | extra))
    return run.samples, run.first_passage, run.theta_final, run.pre_loss


def _barrier(prob):
    sp = add_spectators(prob, 2, np.random.default_rng(3), h_spectator=1.0)
    cp = prob.critical_points
    run = barrier_sgd.sgd_barrier(sp, eta=0.05, B=3, steps=5000, replicas=11, seed=2,
                                  lo=cp["exit_lo"], hi=cp["exit_hi"], theta0=cp["theta_star"])
    x = prob.path_grid(201)
    em = barrier_sgd.em_first_passage(x, -prob.grad(x), 0.05 * prob.noise_variance(x, B=1) / 2,
                                      eta=0.05, substeps=4, steps=5000, replicas=11, seed=4,
                                      theta0=cp["theta_star"])
    return run.first_passage, run.side, run.spectator_loss, em.first_passage, em.side


def _sde():
    m = sde.QuadraticMinimum(np.array([[1.0, 0.2], [0.2, 0.5]]), 0.5)
    a = sde.em_sgd_sde(m, eta=0.1, B=1, dt=0.01, steps=2003, replicas=9, seed=3, record_every=10,
                       tau_targets=[0.1, 0.5, 3.0], u0=[0.3, -0.2])
    return a.samples, a.tau, a.at_tau, a.u_final


@pytest.mark.parametrize("d, online", [(1, False), (3, False), (2, True)])
def test_chunks_and_groups_give_bitwise_the_results_of_one_kernel_call(monkeypatch, d, online):
    prob = make_linear_regression(500, d, np.random.default_rng(1))
    runs = {}
    calls = []
    kernel = linreg_sgd._sgd_kernel

    def spy(*args):
        calls.append((args[9], args[10], args[11].shape[0]))  # k0, k1, replicas of the call
        return kernel(*args)

    monkeypatch.setattr(linreg_sgd, "_sgd_kernel", spy)
    for name, seconds, group_bytes in (("whole", 1e9, 1e18), ("chunked", 1e-4, 1.0)):
        monkeypatch.setattr(chunks, "CALL_SECONDS", seconds)
        monkeypatch.setattr(chunks, "GROUP_BYTES", group_bytes)
        calls.clear()
        runs[name] = _linreg(prob, online=online)
        runs[name + " calls"] = list(calls)
    assert runs["whole calls"] == [(0, 3000, 13)]  # the reference: one call, as before chunking
    chunked = runs["chunked calls"]
    assert len({c[2] for c in chunked}) >= 1 and max(c[2] for c in chunked) < 13
    assert len(chunked) > 10 and all(k1 - k0 < 3000 for k0, k1, _ in chunked)
    for a, b in zip(runs["whole"], runs["chunked"]):
        np.testing.assert_array_equal(a, b)


def test_the_barrier_and_sde_kernels_give_the_same_results_in_chunks(monkeypatch):
    prob = make_barrier_regression(500, np.random.default_rng(1), A=2.0, k=2.0, a=0.0,
                                   b=1.0).with_sigma2(4.0)
    out = {}
    for name, seconds, group_bytes in (("whole", 1e9, 1e18), ("chunked", 1e-4, 1.0)):
        monkeypatch.setattr(chunks, "CALL_SECONDS", seconds)
        monkeypatch.setattr(chunks, "GROUP_BYTES", group_bytes)
        out[name] = _barrier(prob) + _sde()
    for a, b in zip(out["whole"], out["chunked"]):
        np.testing.assert_array_equal(a, b)


def _seconds_to_start_python():
    """Wall time of starting Python and importing the CLI, now, on this machine: the
    calibration of how slow process start and exit are under the current load."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import logloss.cli"], check=True, timeout=600)
    return time.perf_counter() - start


def test_sigint_during_a_long_kernel_exits_at_once_without_a_complete_folder(tmp_path):
    """10¹⁰ brute-force steps of 4 replicas (after the splitting, seconds): before the kernels ran in chunks of steps, Ctrl-C waited for
    a replica's whole trajectory (minutes).  The allowance is two kernel calls plus the
    time this machine takes, now, to start Python and import logloss (which bounds what an
    exit costs), so that it holds on a loaded machine too."""
    out = tmp_path / "run"
    env = os.environ | {"LOGLOSS_PROGRESS": "1", "LOGLOSS_CACHE": str(tmp_path / "cache")}
    calibration = _seconds_to_start_python()
    proc = subprocess.Popen(
        [sys.executable, "-m", "logloss", "run", "rare-first-passage-linreg", "--scale", "smoke",
         "--set", "brute_steps=10000000000", "--set", "brute_replicas=4", "--set", "eta=0.01",
         "--set", "cs=1.2,1.3", "--out", str(out)],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        # a child of a shell's background job inherits SIGINT ignored: give it the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    with selectors.DefaultSelector() as sel:  # wait until the kernel's progress bar shows
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 600
        while b"SGD replicas" not in seen and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=1):
                seen += os.read(proc.stderr.fileno(), 4096)
    assert b"SGD replicas" in seen, seen.decode(errors="replace")
    time.sleep(2.0)  # deep inside the kernel's loop of calls
    assert proc.poll() is None
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=600)
    waited = time.perf_counter() - sent
    assert proc.returncode == 130, err
    last = (seen + err).decode().split("\n")[-2].rsplit("\r", 1)[-1]
    assert last == "error: interrupted", err
    # tolerance: criterion: two kernel calls (chunks.CALL_SECONDS each) and one Python start
    # measured in this test, under the same load
    print(f"waited {waited:.2f} s, calibration {calibration:.2f} s")
    assert waited < 2 * chunks.CALL_SECONDS + calibration, (waited, calibration)
    assert not out.exists() and not list(tmp_path.glob(".run.*"))
