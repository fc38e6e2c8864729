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


def test_an_entry_copied_under_another_key_is_rebuilt(cache):
    """A file copied or linked to another entry's name never stands in for it: each entry
    records the key it was stored under."""
    calls = []
    cached("thing", {"n": 1}, lambda: calls.append(1) or {"n": 1})
    cached("thing", {"n": 2}, lambda: calls.append(2) or {"n": 2})
    one, two = (next(cache.glob(f"thing-{cache_mod.cache_key('thing', {'n': n})}.pt"))
                for n in (1, 2))
    shutil.copyfile(one, two)  # the entry of n = 1 under the name of n = 2
    with pytest.warns(RuntimeWarning, match="stored for another key"):
        value = cached("thing", {"n": 2}, lambda: calls.append(2) or {"n": 2})
    assert value == {"n": 2} and calls == [1, 2, 2]
    two.unlink()
    two.symlink_to(one)  # a link, likewise
    with pytest.warns(RuntimeWarning, match="stored for another key"):
        assert cached("thing", {"n": 2}, lambda: {"n": 2}) == {"n": 2}
    assert one.is_file()  # the link was removed, not its target


@pytest.mark.parametrize("crafted", [[], {}, "text", {"x": "not an array"}, {"x": np.zeros(2)}])
def test_a_crafted_entry_with_a_valid_checksum_is_rebuilt(cache, crafted):
    """An entry whose checksum and key are right but whose value is not what the code
    stores there (a hand-made file) is reported and rebuilt, never handed to the code."""
    spec = {"x": cache_mod.shaped(np.ndarray, 3), "n": cache_mod.NUMBER}
    calls = []
    cached("thing", {"n": 1}, _make(calls), spec=spec)
    (path,) = cache.glob("thing-*.pt")
    cache_mod.write_entry(path, crafted, path.stem)
    with pytest.warns(RuntimeWarning, match="structure"):
        value = cached("thing", {"n": 1}, _make(calls), spec=spec)
    assert len(calls) == 2 and np.array_equal(value["x"], np.arange(3.0))


def test_the_pretrained_net_of_one_seed_never_serves_another(cache):
    """Issue 26: a pretrained net's entry copied to the name of another seed's was served
    (λ₁ 29.5 instead of 45.8)."""
    from logloss.dynamics.pretrain import pretrain

    kw = dict(n=200, B=10, steps=4, log_every=2)
    zero = pretrain(seeds=[0], **kw)
    one = pretrain(seeds=[1], **kw)
    files = sorted(cache.glob("pretrain-mlp-*.pt"), key=lambda f: f.stat().st_mtime_ns)
    shutil.copyfile(files[0], files[1])  # seed 0's nets under seed 1's name
    with pytest.warns(RuntimeWarning, match="stored for another key"):
        again = pretrain(seeds=[1], **kw)
    assert torch.equal(again["params"].W1, one["params"].W1)
    assert not torch.equal(again["params"].W1, zero["params"].W1)


def test_the_stored_experiment_values_have_the_structure_their_specs_ask(cache):
    """The shared caches read back what they stored without a warning (pytest turns one
    into an error): a spec that refused genuine values would recompute them every time."""
    from logloss.data import mnist_even_odd
    from logloss.dynamics.pretrain import pretrain
    from logloss.experiments import first_passage_nn
    from logloss.experiments._shared import pretrained_spectrum

    kw = dict(n=200, pre_steps=4, pre_seeds=[0], index=0, k=5)
    assert np.array_equal(pretrained_spectrum(**kw)["eigenvalues"],
                          pretrained_spectrum(**kw)["eigenvalues"])
    net = pretrain(n=200, steps=4, seeds=[0], B=10)["params"].model(0)
    data = mnist_even_odd(200)
    K = data.x @ data.x.T
    run = dict(eta=0.01, B=10, burn=2, steps=3, replicas=2, thresholds=[1.0, 2.0], seed=1)
    a = first_passage_nn._brute(net, data, K, **run)
    b = first_passage_nn._brute(net, data, K, **run)
    assert np.array_equal(a["first_passage"], b["first_passage"])


def test_cache_reuses_and_rekeys(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path))
    calls = []

    def make():
        calls.append(1)
        return {"x": np.arange(3)}

    a = cached("thing", {"n": 3}, make)
    b = cached("thing", {"n": 3}, make)
    cached("thing", {"n": 4}, make)
    assert len(calls) == 2 and np.array_equal(a["x"], b["x"])
    assert len(list(tmp_path.glob("thing-*.pt"))) == 2
