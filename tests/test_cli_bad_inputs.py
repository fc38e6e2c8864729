"""Every bad input gives one line ``error: ...``, exit status 2 and no traceback.

The table is generated from the experiment registry: every registered experiment and
every parameter gets bad values derived from the type of its preset value, so a new
experiment joins the table automatically.  Cases run in-process through ``cli.main``
(fast: bad parameters fail before any work); a few go through a real subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from logloss import cli
from logloss.experiments.spec import list_experiments

#: Bad values derived from the preset's type.
BAD = {
    bool: ["maybe", ""],
    int: ["0", "-3", "abc", "1.5", "nan", ""],
    float: ["nan", "inf", "-1", "abc", ""],
    list: ["", "1,,2", "abc", "-1"],
    str: ["", "bogus"],
}

#: Values from BAD that are valid for a parameter: (experiment or "*", parameter, value) -> why.
VALID = {
    ("*", "N_large", "0"): "0 switches the large-N case off",
    ("*", "data_seed", "0"): "0 is a valid seed",
    ("*", "u0", "-1"): "u0 is a starting point: any finite value",
    ("*", "a", "-1"): "a is the regression coefficient of x in the barrier landscape: any finite value",
    ("rare-first-passage-linreg", "N", "0"): "N = 0 is online SGD (a fresh sample every step)",
    ("hessian-outliers", "model", ""): "empty means our pretrained nets",
    ("hessian-outliers", "data", ""): "empty means our pretrained nets",
}


def _kind(default):
    return bool if isinstance(default, bool) else list if isinstance(default, (list, tuple)) \
        else type(default)


def _table():
    cases, skipped = [], []
    for exp in list_experiments():
        for key, default in exp.presets["smoke"].items():
            for value in BAD[_kind(default)]:
                why = VALID.get((exp.name, key, value)) or VALID.get(("*", key, value))
                if why:
                    skipped.append((exp.name, key, value, why))
                    continue
                cases.append(pytest.param(["run", exp.name, "--set", f"{key}={value}"],
                                          id=f"{exp.name}:{key}={value}"))
    return cases, skipped


TABLE, SKIPPED = _table()

#: Failures found by an adversarial test of the CLI, by name, beyond the generated table.
EXTRA = [
    ["run", "critical-dimension", "--set", "B=10001"],
    ["run", "critical-dimension", "--set", "B=1e12"],
    ["run", "critical-dimension", "--set", "steps=0"],
    ["run", "critical-dimension", "--set", "record_every=0"],
    ["run", "critical-dimension", "--set", "record_every=600"],
    ["run", "critical-dimension", "--set", "ds="],
    ["run", "stationary", "--set", "eta=0"],
    ["run", "stationary", "--set", "B=20000"],
    ["run", "stationary-tail", "--set", "eta=1,0.5"],  # unpaired with the preset's B
    ["run", "first-passage-nn", "--set", "betas=0"],
    ["run", "first-passage-nn", "--set", "nets=5"],
    ["run", "first-passage-nn", "--set", "B=0"],
    ["run", "first-passage-nn", "--set", "decades=0.3"],
    ["run", "decoupling", "--set", "top_k=0"],
    ["run", "decoupling", "--set", "top_k=-3"],
    ["run", "decoupling", "--set", "widths=10,1"],
    ["run", "hessian-outliers", "--set", "k=-3"],
    ["run", "hessian-outliers", "--set", "k=0"],
    ["run", "hessian-outliers", "--set", "data=nope.pt"],
    ["run", "hessian-outliers", "--set", "model=nope.pt", "--set", "data=nope.pt"],
    ["run", "noise-hessian", "--set", "distances="],
    ["run", "noise-hessian", "--set", "distances=0.5,1"],
    ["run", "minibatch-covariance", "--set", "draws=0"],
    ["run", "minibatch-covariance", "--set", "batch_sizes=1,,2"],
    ["run", "minibatch-covariance", "--set", "batch_sizes=1e3"],
    ["run", "noise-strength", "--set", "mid_window=0.3,0.1"],
    ["run", "noise-strength", "--set", "epochs=0"],
    ["run", "noise-strength", "--set", "steps=-3"],
    ["run", "time-change", "--set", "tau_max=1"],
    ["run", "minibatch-covariance", "--seed", "abc"],
    ["run", "minibatch-covariance", "--seed", "2**70"],
    ["run", "minibatch-covariance", "--seed", str(2**70)],
    ["run", "minibatch-covariance", "--seed", "-1"],
    ["run", "minibatch-covariance", "--scale", "bogus"],
    ["run", "minibatch-covariance", "--set", "N"],
    ["run", "minibatch-covariance", "--set", "bogus=1"],
    ["run", "nope"],
    ["frobnicate"],
    [],
    # issue 26: duplicates, absurd sizes and values, B = N, repeated keys
    ["run", "first-passage-nn", "--set", "betas=15,15"],
    ["run", "first-passage-nn", "--set", "nets=0,0"],
    ["run", "first-passage-nn", "--set", "pre_seeds=0,0"],
    ["run", "first-passage-nn", "--set", "pre_seeds=18446744073709551616"],
    ["run", "hessian-outliers", "--set", "pre_seeds=18446744073709551616"],
    ["run", "hessian-outliers", "--set", "N=1"],
    ["run", "first-passage-nn", "--set", "N=50"],
    ["run", "stationary", "--set", "eta=5e-324"],
    ["run", "stationary", "--set", "eta=1e-300"],
    ["run", "stationary", "--set", "N=1e10"],
    ["run", "stationary", "--set", "B=10000"],
    ["run", "stationary-tail", "--set", "eta=5e-324,5e-324"],
    ["run", "time-change", "--set", "dt=1e-300"],
    ["run", "time-change", "--set", "dt=5e-324"],
    ["run", "time-change", "--set", "tau_max=1e300"],
    ["run", "time-change", "--set", "tau_targets=1e300"],
    ["run", "minibatch-covariance", "--set", "batch_sizes=40"],
    ["run", "minibatch-covariance", "--set", "d=1e10"],
    ["run", "minibatch-covariance", "--set", "draws=1e15"],
    ["run", "noise-hessian", "--set", "B=2000"],
    ["run", "barrier", "--set", "N=1e10"],
    ["run", "barrier", "--set", "chain_grid=3000000"],
    ["run", "barrier", "--set", "steps=18446744073709551616"],
    ["run", "barrier", "--set", "eta=5e-324"],
    ["run", "error-budget", "--set", "eta=1e-300"],
    ["run", "barrier-dimension", "--set", "eta=1e300"],
    ["run", "critical-dimension", "--set", "B2=10001"],
    ["run", "first-passage-curve", "--set", "half_ds=4,4"],
    ["run", "time-change", "--set", "tau_targets=0.5,0.05"],  # rows were compared out of order
    ["run", "error-budget-linreg", "--set", "cs=1.3,1.1"],
    ["run", "first-passage-curve", "--set", "half_c=1.05,1.03"],
    ["run", "decoupling", "--set", "permutations_topk=60"],
    ["run", "own-model", "--set", "channels=4,8,8"],
    ["run", "stationary", "--set", "eta=0.1", "--set", "eta=7"],
    ["run", "stationary", "--set", "eta=0.1", "--set", " eta =0.1"],
]


def _check(capsys, argv, tmp_path, *, out=True, scale=True):
    args = [*argv, "--out", str(tmp_path / "out")] if out and argv[:1] == ["run"] else argv
    if scale and "--scale" not in args and args[:1] == ["run"]:
        args = [*args, "--scale", "smoke"]
    rc = cli.main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, (args, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > 8, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    return lines[0]


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_PROGRESS", "0")
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def test_the_table_covers_every_experiment_and_type():
    names = {p.id.split(":")[0] for p in TABLE}
    assert names == {e.name for e in list_experiments()}
    kinds = {_kind(d) for e in list_experiments() for d in e.presets["smoke"].values()}
    assert kinds == set(BAD)
    assert len(TABLE) > 400


@pytest.mark.parametrize("argv", TABLE)
def test_bad_parameter(argv, capsys, tmp_path):
    line = _check(capsys, argv, tmp_path)
    key = argv[-1].split("=")[0]
    assert key in line  # the message names the parameter


@pytest.mark.parametrize("argv", EXTRA, ids=lambda a: " ".join(a) or "(nothing)")
def test_known_failure(argv, capsys, tmp_path):
    _check(capsys, argv, tmp_path)


def test_messages_say_what_is_wrong(capsys, tmp_path):
    def msg(*argv):
        return _check(capsys, list(argv), tmp_path)

    assert "not found" in msg("run", "hessian-outliers", "--set", "model=nope.pt",
                              "--set", "data=nope.pt")
    assert "exceeds the number of samples N=10000" in msg("run", "critical-dimension",
                                                          "--set", "B=10001")
    assert "eta must be a number > 0" in msg("run", "stationary", "--set", "eta=0")
    assert "only 1 pretrained nets" in msg("run", "first-passage-nn", "--set", "nets=5")
    assert "betas must be a number > 0" in msg("run", "first-passage-nn", "--set", "betas=0")
    assert "empty entry" in msg("run", "minibatch-covariance", "--set", "batch_sizes=1,,2")
    assert "B=1000 exceeds" in msg("run", "minibatch-covariance", "--set", "batch_sizes=1e3")
    assert "draws" in msg("run", "minibatch-covariance", "--set", "draws=0")
    assert "epochs must be an integer >= 1" in msg("run", "noise-strength", "--set", "epochs=0")
    assert "seed must be an integer in [0, 2**63)" in msg("run", "minibatch-covariance",
                                                          "--seed", str(2**70))
    assert "invalid choice" in msg("run", "minibatch-covariance", "--scale", "bogus")
    assert "repeats an entry" in msg("run", "first-passage-nn", "--set", "betas=15,15")
    assert "in [0, 2**63) (a seed)" in msg("run", "first-passage-nn", "--set",
                                           "pre_seeds=18446744073709551616")
    assert "pretrained with minibatches of B = 100" in msg("run", "hessian-outliers",
                                                           "--set", "N=1")
    # names that meant two things were renamed: the old name says what it is now
    assert "unknown parameter 'n' for experiment 'hessian-outliers' (n was renamed N)" in \
        msg("run", "hessian-outliers", "--set", "n=1")
    assert "(n_c was renamed thresholds)" in msg("run", "escape-sde", "--set", "n_c=11")
    assert "--set eta is given twice" in msg("run", "stationary", "--set", "eta=0.1",
                                             "--set", "eta=7")
    assert "equals the number of samples N=40" in msg("run", "minibatch-covariance", "--set",
                                                      "batch_sizes=40")
    line = msg("run", "stationary", "--set", "eta=1e-300")  # a burn-in of 20/(eta h*) steps
    assert "more memory than any machine has" in line and "1/eta" in line
    assert "(a normal float64), got 5e-324" in msg("run", "stationary", "--set", "eta=5e-324")
    line = msg("run", "time-change", "--set", "dt=1e-300")
    assert "more memory than any machine has" in line and "tau_max/dt" in line
    line = msg("run", "stationary", "--set", "thin=1e12")
    assert "would take about" in line and "LOGLOSS_MAX_HOURS" in line
    line = msg("run", "stationary", "--set", "N=1e10")
    assert "of memory" in line and "estimated from its parameters" in line


def _module_file(path):
    torch.save(nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 1)), path)


def _export_file(path):
    model = nn.Sequential(nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 1))
    batch = {0: torch.export.Dim("batch", min=1)}  # any number of samples, as the README says
    torch.export.save(torch.export.export(model, (torch.zeros(4, 5),), dynamic_shapes=(batch,)), path)


class _Payload:
    """Unpickling this runs code: it writes the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _file_cases(tmp: Path):
    """(name, --set values, expected message fragment) for bad model and data files."""
    good_model = tmp / "model.pt"
    _module_file(good_model)
    x = tmp / "x.pt"
    torch.save(torch.randn(20, 5), x)
    (tmp / "text.pt").write_text("this is not a model\n")
    (tmp / "empty.pt").write_bytes(b"")
    raw = good_model.read_bytes()
    (tmp / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    torch.save(nn.Linear(5, 1).state_dict(), tmp / "state.pt")
    torch.save(nn.ReLU(), tmp / "noparams.pt")
    with warnings.catch_warnings():  # TorchScript is deprecated, but users still have files
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(nn.Linear(5, 1)), tmp / "script.pt")
    main = sys.modules["__main__"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 1)

        def forward(self, v):
            return self.lin(v)

    Net.__module__, Net.__qualname__ = "__main__", "Net"
    main.Net = Net
    try:
        torch.save(Net(), tmp / "script_class.pt")
    finally:
        del main.Net
    (tmp / "folder").mkdir()
    torch.save(torch.randn(20), tmp / "rank1.pt")
    torch.save(torch.randn(20, 7), tmp / "wrongshape.pt")
    torch.save({"inputs": torch.randn(20, 5)}, tmp / "nokey.pt")
    np.savez(tmp / "nokey.npz", inputs=np.zeros((20, 5)))
    np.savez(tmp / "objects.npz", x=np.array([{"a": 1}], dtype=object))
    torch.save({"x": _Payload(tmp / "marker")}, tmp / "payload.pt")
    torch.save(torch.full((20, 5), float("nan")), tmp / "nan.pt")
    m, t = f"model={good_model}", "trust_model=true"
    return [
        ("model text", [f"model={tmp / 'text.pt'}", f"data={x}"], "not a torch file"),
        ("model empty", [f"model={tmp / 'empty.pt'}", f"data={x}"], "is empty"),
        ("model truncated", [f"model={tmp / 'truncated.pt'}", f"data={x}", t], "truncated"),
        ("model state_dict", [f"model={tmp / 'state.pt'}", f"data={x}"], "state_dict"),
        ("model pickled, untrusted", [m, f"data={x}"], "would run code"),
        ("model class from a script", [f"model={tmp / 'script_class.pt'}", f"data={x}", t],
         "defined in your own script"),
        ("model without parameters", [f"model={tmp / 'noparams.pt'}", f"data={x}", t],
         "no trainable parameters"),
        ("model TorchScript", [f"model={tmp / 'script.pt'}", f"data={x}"], "TorchScript"),
        ("model directory", [f"model={tmp / 'folder'}", f"data={x}"], "is a directory"),
        ("model missing", [f"model={tmp / 'nope.pt'}", f"data={x}"], "not found"),
        ("model without data", [m, t], "needs its inputs"),
        ("data missing", [m, t, "data=nope.pt"], "not found"),
        ("data directory", [m, t, f"data={tmp / 'folder'}"], "is a directory"),
        ("data text", [m, t, f"data={tmp / 'text.pt'}"], "cannot be read"),
        ("data empty", [m, t, f"data={tmp / 'empty.pt'}"], "is empty"),
        ("data truncated", [m, t, f"data={tmp / 'truncated.pt'}"], "cannot be read"),
        ("data rank 1", [m, t, f"data={tmp / 'rank1.pt'}"], "shape (N, features"),
        ("data wrong shape", [m, t, f"data={tmp / 'wrongshape.pt'}"], "cannot take the inputs"),
        ("data dict without x", [m, t, f"data={tmp / 'nokey.pt'}"], "without 'x'"),
        ("data npz without x", [m, t, f"data={tmp / 'nokey.npz'}"], "no array 'x'"),
        ("data npz of objects", [m, t, f"data={tmp / 'objects.npz'}"], "never unpickled"),
        ("data that runs code", [m, t, f"data={tmp / 'payload.pt'}"], "only unpickling"),
        ("data NaN", [m, t, f"data={tmp / 'nan.pt'}"], "NaN"),
        ("data a module", [m, t, f"data={good_model}"], "only unpickling"),
        ("trust_model not a bool", [m, "trust_model=maybe", f"data={x}"], "true or false"),
    ]


def test_bad_model_and_data_files(capsys, tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    cases = _file_cases(files)
    assert len(cases) == 25
    for name, sets, fragment in cases:
        argv = ["run", "hessian-outliers"] + [a for s in sets for a in ("--set", s)]
        line = _check(capsys, argv, tmp_path)
        assert fragment in line, (name, line)
    assert not (files / "marker").exists()  # the crafted data file ran nothing


def test_a_data_file_that_runs_code_is_never_unpickled(tmp_path):
    from logloss.core.errors import InvalidInput
    from logloss.models.user_files import load_user_inputs

    torch.save({"x": _Payload(tmp_path / "marker")}, tmp_path / "evil.pt")
    with pytest.raises(InvalidInput):
        load_user_inputs(tmp_path / "evil.pt")
    assert not (tmp_path / "marker").exists()
    torch.load(tmp_path / "evil.pt", weights_only=False)  # the payload is real
    assert (tmp_path / "marker").read_text() == "ran"


def test_bad_out_and_cache_paths(capsys, tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    run = ["run", "minibatch-covariance", "--scale", "smoke"]
    assert "is a file" in _check(capsys, [*run, "--out", str(f)], tmp_path, out=False)
    assert "under the file" in _check(capsys, [*run, "--out", str(f / "sub")], tmp_path, out=False)
    assert "cannot write" in _check(capsys, [*run, "--out", "/proc/logloss-out/x"], tmp_path,
                                    out=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert "not a logloss run" in _check(capsys, [*run, "--out", str(other)], tmp_path, out=False)
    done = tmp_path / "done"
    done.mkdir()
    (done / "complete.json").write_text("{}")
    assert "--force" in _check(capsys, [*run, "--out", str(done)], tmp_path, out=False)
    monkeypatch.setenv("LOGLOSS_CACHE", str(f))
    assert "LOGLOSS_CACHE" in _check(capsys, run, tmp_path)
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LOGLOSS_SCALE", "bogus")
    assert "LOGLOSS_SCALE" in _check(capsys, ["run", "minibatch-covariance"], tmp_path, scale=False)


def test_a_user_model_runs_from_a_torch_export_archive(capsys, tmp_path):
    _export_file(tmp_path / "model.pt2")
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).standard_normal((30, 5)))
    rc = cli.main(["run", "hessian-outliers", "--scale", "smoke", "--json", "--set",
                   f"model={tmp_path / 'model.pt2'}", "--set", f"data={tmp_path / 'x.npz'}",
                   "--set", "k=5", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert (tmp_path / "run" / "complete.json").exists()


def _subprocess(*args, env=None):
    full = os.environ | {"LOGLOSS_PROGRESS": "0"} | (env or {})
    return subprocess.run([sys.executable, "-m", "logloss", *args], capture_output=True,
                          text=True, env=full, timeout=300)


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["run", "minibatch-covariance", "--scale", "bogus"],
    ["run", "minibatch-covariance", "--seed", "abc"],
    ["run", "critical-dimension", "--scale", "smoke", "--set", "ds="],
    ["run", "hessian-outliers", "--scale", "smoke", "--set", "data=nope.pt"],
])
def test_through_a_real_subprocess(argv, tmp_path):
    out = _subprocess(*argv, "--out", str(tmp_path / "o")) if argv[0] == "run" else _subprocess(*argv)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr


def test_skipped_values_are_listed_with_a_reason():
    assert all(why for *_, why in SKIPPED)
    assert {(k, v) for _, k, v, _ in SKIPPED} <= {(k, v) for _, k, v in VALID}


def test_a_model_whose_jacobian_is_zero_is_one_line(capsys, tmp_path):
    """Issue 26: a model whose outputs do not depend on its parameters divided by zero."""
    class Zero(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(5, 1)

        def forward(self, v):
            return self.lin(v) * 0.0

    batch = {0: torch.export.Dim("batch", min=1)}
    torch.export.save(torch.export.export(Zero(), (torch.zeros(4, 5),), dynamic_shapes=(batch,)),
                      tmp_path / "zero.pt2")
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).standard_normal((30, 5)))
    line = _check(capsys, ["run", "hessian-outliers", "--set", f"model={tmp_path / 'zero.pt2'}",
                           "--set", f"data={tmp_path / 'x.npz'}", "--set", "k=3"], tmp_path)
    assert "Jacobian J is 0" in line


def test_warnings_are_one_line_each_and_dropped_on_failure(capsys, monkeypatch, tmp_path):
    def warns(args):
        warnings.warn("first\nsecond line", RuntimeWarning)
        if args.name == "fail":
            raise cli.InvalidInput("it failed")

    monkeypatch.setattr(cli, "_cmd_list", warns)
    monkeypatch.setattr(cli.argparse.Namespace, "name", "ok", raising=False)
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().err == "warning: first second line\n"
    monkeypatch.setattr(cli.argparse.Namespace, "name", "fail", raising=False)
    assert cli.main(["list"]) == 2
    assert capsys.readouterr().err == "error: it failed\n"


def test_an_arithmetic_failure_is_one_line(capsys, monkeypatch):
    """The last guard for float parameters at the edge of float64 (eta=1e300 in the barrier
    predictions): an overflow or a zero denominator is one line, not a traceback."""
    def overflows(_args):
        raise OverflowError(34, "Numerical result out of range")

    monkeypatch.setattr(cli, "_cmd_list", overflows)
    assert cli.main(["list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "too extreme for float64" in err[0], err
