"""Run folders: written atomically, marked complete last, never overwritten silently."""

from __future__ import annotations

import pytest

from logloss import runs
from logloss.cli import default_out
from logloss.core.errors import InvalidInput
from logloss.experiments._registry import run_experiment


@pytest.fixture(scope="module")
def result():
    return run_experiment("minibatch-covariance", "smoke", verbose=False)


def test_a_run_is_complete_and_not_replaced_without_force(result, tmp_path):
    out = runs.save_run(result, tmp_path / "run", dpi=20)
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "complete.json", "figure.png",
                                                      "run.json", "summary.json"]
    with pytest.raises(InvalidInput, match="--force"):
        runs.save_run(result, out, dpi=20)
    runs.save_run(result, out, dpi=20, overwrite=True)
    assert (out / "complete.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary folders left


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failed_save_leaves_no_folder(result, tmp_path, monkeypatch, error):
    def boom(_result):
        raise error("figure failed")

    monkeypatch.setattr(runs, "plot", boom)
    with pytest.raises(error):
        runs.save_run(result, tmp_path / "run", dpi=20)
    assert list(tmp_path.iterdir()) == []


def test_default_folder_names_differ_by_overrides():
    plain = default_out("stationary", "smoke", 0, {})
    assert str(plain) == "runs/stationary-smoke-seed0"
    a = default_out("stationary", "smoke", 0, {"eta": "0.1"})
    b = default_out("stationary", "smoke", 0, {"eta": "0.2"})
    assert a != b and str(a).startswith(str(plain) + "-")
