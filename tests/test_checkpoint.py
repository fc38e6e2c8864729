"""A run killed midway (SIGINT, SIGKILL) resumes from its finished units to the result of
an uninterrupted run; a folder of other settings is refused; pretraining resumes too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from logloss import cli
from logloss.core.checkpoint import UnitStore
from logloss.dynamics import pretrain as pretrain_mod

# (experiment, --set values, signal): the interrupted run stops after its first stored unit
# and waits there for the signal (_PAUSE), so that the kill lands midway on any machine load
CASES = [
    ("stationary", ["samples=300", "B=1,2,5"], signal.SIGINT),
    ("first-passage-linreg", ["ds=2,3,4", "Ns=0", "decades=6"], signal.SIGKILL),
]

# imported by the interrupted run's interpreter at start-up (sitecustomize on PYTHONPATH):
# after a unit is stored, it tells the test so and sleeps until the signal comes
_PAUSE = """
import time
from pathlib import Path
from logloss.core import checkpoint

_put = checkpoint.UnitStore.put


def put(self, key, value):
    out = _put(self, key, value)
    if self.folder is not None:
        Path(self.folder.parent / "paused").touch()
        time.sleep(600)
    return out


checkpoint.UnitStore.put = put
"""


def _run(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "logloss", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _load(out: Path):
    summary = json.loads((out / "summary.json").read_text())
    with np.load(out / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return summary, arrays


@pytest.mark.parametrize("name,sets,sig", CASES, ids=[c[0] for c in CASES])
def test_a_killed_run_resumes_to_the_uninterrupted_result(name, sets, sig, tmp_path):
    env = os.environ | {"LOGLOSS_PROGRESS": "0", "LOGLOSS_CACHE": str(tmp_path / "cache")}
    args = [name, "--scale", "smoke", "--seed", "3", *[a for s in sets for a in ("--set", s)]]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    ref = _run([*args, "--out", str(whole)], env)
    assert ref.wait(timeout=600) == 0, ref.communicate()
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_PAUSE)
    path = os.pathsep.join(filter(None, [str(hook), env.get("PYTHONPATH")]))
    # a child of a shell's background job inherits SIGINT ignored: give it the default back
    proc = _run([*args, "--out", str(cut)], env | {"PYTHONPATH": path},
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (cut / "paused").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    assert not (cut / "complete.json").exists()
    units = cut / "units"
    stored = len(list(units.glob("*.pt")))
    total = len(UnitStore(whole / "units").keys())
    assert stored == 1 < total  # killed midway, with finished work on disk
    again = _run([*args, "--out", str(cut)], env)
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert f"{stored} finished unit(s)" in stdout
    (s1, a1), (s2, a2) = _load(whole), _load(cut)
    assert s2["measured"] == s1["measured"]
    assert s2["tables"] == s1["tables"]
    assert a1.keys() == a2.keys()
    for k in a1:
        np.testing.assert_array_equal(a2[k], a1[k])
    assert cli.main(["run", *args, "--out", str(cut)]) == 2  # a finished run is kept


def test_a_mismatched_unfinished_folder_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    base = ["run", "stationary", "--scale", "smoke", "--set", "B=20", "--set", "eta=0.1",
            "--out", str(out), "--json"]
    from logloss import runs

    manifest = runs.run_manifest("stationary", "smoke", 0, {})
    runs.open_run(out, manifest | {"params": {"B": [5], "eta": [0.1]}})  # a foreign run
    assert cli.main(base) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "unfinished run of something else" in err
    assert len(err.splitlines()) == 1
    other = dict(manifest, code="0" * 64)
    runs.open_run(tmp_path / "code", other)
    assert cli.main([*base[:-3], "--out", str(tmp_path / "code")]) == 2
    assert "code" in capsys.readouterr().err
    assert cli.main([*base[:-3], "--out", str(tmp_path / "code"), "--force"]) == 0


def test_pretraining_resumes_from_its_last_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "whole"))
    kw = dict(n=600, steps=60, log_every=20, seeds=(0, 1), B=20)
    whole = pretrain_mod.pretrain(**kw)
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cut"))
    calls = []
    real = pretrain_mod.sgd_mlp

    def dies_on_the_third_block(*a, **k):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        time.sleep(0.4)  # the interrupted run's two blocks take at least 0.8 s
        return real(*a, **k)

    monkeypatch.setattr(pretrain_mod, "sgd_mlp", dies_on_the_third_block)
    with pytest.raises(KeyboardInterrupt):
        pretrain_mod.pretrain(**kw)
    partial = UnitStore(tmp_path / "cut" / "partial")
    assert len(partial.keys()) == 1
    monkeypatch.setattr(pretrain_mod, "sgd_mlp", real)
    seen = []
    monkeypatch.setattr(pretrain_mod, "sgd_mlp", lambda *a, **k: seen.append(k["steps"]) or real(*a, **k))
    resumed = pretrain_mod.pretrain(**kw)
    assert seen == [20]  # only the block after the last checkpoint ran
    np.testing.assert_array_equal(resumed["curve"], whole["curve"])
    np.testing.assert_array_equal(resumed["curve_steps"], whole["curve_steps"])
    for f in ("W1", "b1", "w2", "b2"):
        np.testing.assert_array_equal(getattr(resumed["params"], f).numpy(),
                                      getattr(whole["params"], f).numpy())
    assert partial.keys() == []  # the checkpoint is gone once the result is cached
    assert resumed["seconds"] >= 0.8  # the time of both runs, not only the last block
