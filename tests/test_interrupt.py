"""Ctrl-C during a long numba kernel stops the run at once, and chunking changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from logloss.dynamics import linreg_sgd
from logloss.models.linreg import make_linear_regression


def test_replica_groups_give_bitwise_the_results_of_one_kernel_call(monkeypatch):
    prob = make_linear_regression(500, 3, np.random.default_rng(1))
    kw = dict(eta=0.3, B=2, steps=3000, replicas=13, seed=5, record_every=7,
              thresholds=prob.L_star * np.array([1.1, 1.5, 3.0]))
    chunked = linreg_sgd.sgd_linreg(prob, **kw)
    # the reference: one call of the kernel over all replicas, as before the chunking
    calls = []
    kernel = linreg_sgd._sgd_kernel

    def spy(*args):
        calls.append(args[10].shape[0])  # theta0, one row per replica of the call
        return kernel(*args)

    monkeypatch.setattr(linreg_sgd, "_sgd_kernel", spy)
    monkeypatch.setattr(linreg_sgd.numba, "get_num_threads", lambda: 13)
    whole = linreg_sgd.sgd_linreg(prob, **kw)
    assert calls == [13]
    np.testing.assert_array_equal(chunked.samples, whole.samples)
    np.testing.assert_array_equal(chunked.first_passage, whole.first_passage)
    np.testing.assert_array_equal(chunked.theta_final, whole.theta_final)
    calls.clear()
    monkeypatch.setattr(linreg_sgd.numba, "get_num_threads", lambda: 2)
    small = linreg_sgd.sgd_linreg(prob, **kw)
    assert len(calls) > 1
    np.testing.assert_array_equal(small.samples, whole.samples)
    np.testing.assert_array_equal(small.first_passage, whole.first_passage)


def test_sigint_during_a_long_kernel_exits_at_once_without_a_complete_folder(tmp_path):
    out = tmp_path / "run"
    env = os.environ | {"LOGLOSS_PROGRESS": "0", "LOGLOSS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logloss", "run", "first-passage-linreg", "--scale", "smoke",
         "--set", "steps=5000000", "--set", "replicas=4000", "--set", "ds=1", "--set", "eta=0.01",
         "--out", str(out)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    time.sleep(30)  # imports, numba's cache, then deep inside the kernel
    assert proc.poll() is None, proc.communicate()
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    waited = time.perf_counter() - sent
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["error: interrupted"]
    # a call lasts ~0.5 s, or one replica trajectory if longer (~0.5 s here); the 2 s asked
    # for, with slack for a shared CPU
    assert waited < 4.0, waited
    assert not out.exists() and not list(tmp_path.glob(".run.*"))
