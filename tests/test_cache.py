"""The cache: keyed on every source file, loaded without unpickling, self-healing."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import logloss
from logloss.core import cache as cache_mod
from logloss.core.cache import cached
from logloss.core.errors import InvalidInput


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _make(calls):
    def make():
        calls.append(1)
        return {"x": np.arange(3.0), "t": torch.ones(2), "n": 3, "s": "gn", "pair": (1, 2.5),
                "nested": [{"a": np.float64(1.5)}], "none": None}
    return make


def test_values_round_trip_through_a_weights_only_load(cache):
    calls = []
    a = cached("thing", {"n": 3}, _make(calls))
    b = cached("thing", {"n": 3}, _make(calls))
    assert len(calls) == 1
    assert isinstance(b["x"], np.ndarray) and np.array_equal(a["x"], b["x"])
    assert torch.equal(b["t"], torch.ones(2)) and b["pair"] == (1, 2.5)
    assert b["nested"] == [{"a": 1.5}] and b["s"] == "gn" and b["none"] is None


def test_values_that_need_unpickling_are_refused(cache):
    class Thing:
        pass

    with pytest.raises(TypeError, match="not Thing"):
        cached("thing", {}, lambda: {"x": Thing()})


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "flipped", "pickle"])
def test_a_bad_entry_is_reported_deleted_and_rebuilt(cache, damage, tmp_path):
    calls = []
    cached("thing", {"n": 1}, _make(calls))
    (path,) = cache.glob("thing-*.pt")
    raw = path.read_bytes()
    marker = tmp_path / "ran"
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a cache entry at all\n")
    elif damage == "flipped":
        path.write_bytes(raw[:-10] + bytes(b ^ 1 for b in raw[-10:]))
    else:  # a valid header and checksum around a payload whose unpickling runs code
        class Payload:
            def __reduce__(self):
                return (exec, (f"open({str(marker)!r}, 'w').write('x')",))

        import hashlib
        import io
        buf = io.BytesIO()
        torch.save({"x": Payload()}, buf)
        payload = buf.getvalue()
        path.write_bytes(cache_mod._MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n"
                         + payload)
    with pytest.warns(RuntimeWarning, match=str(path.name)):
        value = cached("thing", {"n": 1}, _make(calls))
    assert len(calls) == 2 and np.array_equal(value["x"], np.arange(3.0))
    assert not marker.exists()
    again = cached("thing", {"n": 1}, _make(calls))  # the rebuilt entry is good
    assert len(calls) == 2 and again["n"] == 3


def test_cache_folder_that_is_a_file_is_one_line(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    for bad in (f, f / "below"):
        monkeypatch.setenv("LOGLOSS_CACHE", str(bad))
        with pytest.raises(InvalidInput, match="LOGLOSS_CACHE") as info:
            cache_mod.cache_dir()
        assert "\n" not in str(info.value)


def test_unwritable_cache_folder_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", "/proc/logloss-cache")  # cannot be created, even by root
    with pytest.raises(InvalidInput, match="set LOGLOSS_CACHE to a writable folder"):
        cache_mod.cache_dir()
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        monkeypatch.setenv("LOGLOSS_CACHE", str(ro))
        with pytest.raises(InvalidInput, match="not writable"):
            cache_mod.cache_dir()


SCRIPT = """
import sys
from logloss.core.cache import cached
from logloss import theory
calls = []
def make():
    calls.append(1)
    return {"phi": theory.phi(eta=0.5, B=1, h=1.0)}
value = cached("edited", {"a": 1}, make)
print("miss" if calls else "hit", value["phi"])
"""


def test_editing_a_transitively_called_function_is_a_cache_miss(tmp_path):
    """make() calls theory.phi, which calls temperature() in the same module: editing
    temperature (never named to the cache) must invalidate the entry."""
    src = Path(logloss.__file__).parent
    pkg = tmp_path / "pkg"
    shutil.copytree(src, pkg / "logloss", ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    env = os.environ | {"PYTHONPATH": str(pkg), "LOGLOSS_CACHE": str(tmp_path / "cache")}

    def run():
        out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                             env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.split()

    assert run() == ["miss", "3.0"]
    assert run() == ["hit", "3.0"]
    target = pkg / "logloss" / "theory" / "escape.py"
    text = target.read_text()
    start = text.index("def temperature(")
    ret = text.index("    return ", start)
    end = text.index("\n", ret)
    target.write_text(text[:ret] + "    return 2 * (" + text[ret + len("    return "):end] + ")"
                      + text[end:])
    assert run() == ["miss", "2.0"]  # phi = 1 + 1/T with T doubled


def test_pretrained_nets_come_back_as_replicas(cache):
    from logloss.dynamics.pretrain import pretrain

    a = pretrain(n=200, B=10, steps=4, seeds=[0], log_every=2)
    b = pretrain(n=200, B=10, steps=4, seeds=[0], log_every=2)
    assert torch.equal(a["params"].W1, b["params"].W1)
    assert isinstance(b["curve"], np.ndarray) and b["params"].model(0)(torch.zeros(1, 784)).shape
    assert pickle.dumps(b["loss"])
