"""The command line: listing, running with a JSON summary, and one-line errors."""

import json
import os
import subprocess
import sys

import pytest


def cli(*args, env=None):
    full_env = os.environ | {"LOGLOSS_PROGRESS": "0"} | (env or {})
    return subprocess.run([sys.executable, "-m", "logloss", *args], capture_output=True,
                          text=True, env=full_env, timeout=300)


def test_list_names_the_first_experiment():
    out = cli("list")
    assert out.returncode == 0
    assert "minibatch-covariance" in out.stdout


def test_run_writes_outputs_and_prints_json_last(tmp_path):
    out = cli("run", "minibatch-covariance", "--scale", "smoke", "--json", "--seed", "3",
              "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["scale"] == "smoke" and summary["seed"] == 3
    assert summary["params"]["N"] == 40
    assert {"value", "stderr"} <= set(summary["measured"]["mean_z"])
    for name in ("summary.json", "arrays.npz", "figure.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "nope"], "unknown experiment 'nope'"),
        (["run", "minibatch-covariance", "--scale", "smoke", "--set", "bogus=1"],
         "unknown parameter 'bogus'"),
        (["run", "minibatch-covariance", "--scale", "smoke", "--set", "batch_sizes=1,99"],
         "minibatch size B=99 exceeds the number of samples N=40"),
        (["run", "minibatch-covariance", "--scale", "smoke", "--set", "batch_sizes=0"],
         "every entry of batch_sizes must be an integer >= 1"),
        (["run", "minibatch-covariance", "--scale", "smoke", "--set", "N=abc"],
         "parameter N='abc' is not a valid int"),
        (["run", "minibatch-covariance", "--scale", "smoke", "--set", "N=20000"],
         "N=20000 exceeds the 10000 images of the vendored MNIST subset"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, message, tmp_path):
    out = cli(*args, "--out", str(tmp_path)) if args[0] == "run" and len(args) > 2 else cli(*args)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
