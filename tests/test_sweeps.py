"""Sweeps give the same results serially, with joblib workers and on a Dask cluster, and
resume from stored tasks."""

import numpy as np
import pytest

from logloss import run_experiment
from logloss.sweeps import run_experiments, sweep, sweep_tasks

GRID = {"B": [[1], [5]]}  # two points of the stationary experiment (B is a list parameter)


def _values(results):
    return [(r.params["B"], r.seed, r.measured["phi"].value, r.measured["phi"].stderr) for r in results]


@pytest.fixture(scope="module")
def serial():
    return sweep("stationary", GRID, seeds=2, seed=7, scale="smoke")


def test_tasks_are_seeded_from_one_seed_sequence():
    a = sweep_tasks("stationary", GRID, seeds=2, seed=7, scale="smoke")
    b = sweep_tasks("stationary", GRID, seeds=2, seed=7, scale="smoke")
    assert [t["seed"] for t in a] == [t["seed"] for t in b]
    assert len({t["seed"] for t in a}) == 4
    c = sweep_tasks("stationary", GRID, seeds=2, seed=8, scale="smoke")
    assert [t["seed"] for t in a] != [t["seed"] for t in c]


def test_joblib_workers_match_serial(serial):
    par = sweep("stationary", GRID, seeds=2, seed=7, scale="smoke", jobs=2)
    assert _values(par) == _values(serial)


def test_dask_local_cluster_matches_serial(serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = sweep("stationary", GRID, seeds=2, seed=7, scale="smoke",
                    scheduler=cluster.scheduler_address)
    assert _values(res) == _values(serial)


def test_resumes_from_stored_tasks(serial, tmp_path, monkeypatch):
    first = sweep("stationary", GRID, seeds=2, seed=7, scale="smoke", out=tmp_path)
    assert _values(first) == _values(serial)
    assert len(list((tmp_path / "tasks").iterdir())) == 4
    import logloss.sweeps as sw

    def boom(*a, **k):
        raise AssertionError("a stored task was run again")

    monkeypatch.setattr(sw, "run_experiment", boom)
    again = sweep("stationary", GRID, seeds=2, seed=7, scale="smoke", out=tmp_path)
    assert _values(again) == _values(serial)
    np.testing.assert_array_equal(len(again[0].tables["phi"]), len(serial[0].tables["phi"]))


def test_bad_sweeps_fail_before_work():
    with pytest.raises(ValueError, match="unknown parameter"):
        sweep_tasks("stationary", {"nope": [1]}, scale="smoke")
    with pytest.raises(ValueError, match="non-empty list"):
        sweep_tasks("stationary", {"B": []}, scale="smoke")
    with pytest.raises(ValueError, match="jobs"):
        sweep("stationary", GRID, jobs=0, scale="smoke")


@pytest.mark.parametrize("damage", ["summary {}", "summary truncated", "arrays truncated",
                                    "task.json of another task", "summary of another task",
                                    "no task.json"])
def test_an_unusable_stored_task_is_named_and_run_again(tmp_path, monkeypatch, damage):
    """Issue 26: a truncated task summary.json gave json's parse message, naming neither the
    file nor a remedy, and was never recomputed; one set to {} was a traceback."""
    import logloss.sweeps as sw

    grid = {"draws": [2, 3]}
    first = sweep("minibatch-covariance", grid, scale="smoke", out=tmp_path)
    folders = {r.params["draws"]: tmp_path / "tasks" / sw._task_key(
        dict(name="minibatch-covariance", scale="smoke", seed=r.seed, overrides={"draws": r.params["draws"]}))
        for r in first}
    a, b = folders[2], folders[3]
    if damage == "summary {}":
        (a / "summary.json").write_text("{}")
    elif damage == "summary truncated":
        (a / "summary.json").write_text((a / "summary.json").read_text()[:50])
    elif damage == "arrays truncated":
        (a / "arrays.npz").write_bytes((a / "arrays.npz").read_bytes()[:30])
    elif damage == "task.json of another task":
        (a / "task.json").write_text((b / "task.json").read_text())
    elif damage == "summary of another task":
        (a / "summary.json").write_text((b / "summary.json").read_text())
    else:
        (a / "task.json").unlink()
    runs = []
    real = sw.run_experiment
    monkeypatch.setattr(sw, "run_experiment", lambda *x, **k: runs.append(k) or real(*x, **k))
    with pytest.warns(RuntimeWarning, match=f"stored sweep task {a}/.* is unusable .* running the "
                                            "task again"):
        again = sweep("minibatch-covariance", grid, scale="smoke", out=tmp_path)
    assert [k["draws"] for k in runs] == [2]  # only the damaged task ran again
    assert [r.summary()["measured"] for r in again] == [f.summary()["measured"] for f in first]
    assert sweep("minibatch-covariance", grid, scale="smoke", out=tmp_path)  # healed: no warning


def test_experiments_side_by_side_are_those_run_one_by_one(capsys):
    names = ["stationary", "time-change"]  # numba experiments: bitwise the same anywhere
    alone = {n: run_experiment(n, "smoke", seed=3, verbose=False) for n in names}
    capsys.readouterr()
    both = run_experiments(names, scale="smoke", seed=3, jobs=2)
    assert list(both) == names
    for n in names:
        for part in ("measured", "tables"):  # repr: a NaN equals itself there
            assert repr(getattr(both[n], part)) == repr(getattr(alone[n], part))
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines if "scale=smoke" in ln] == [f"[logloss] {n}"
                                                                         for n in names]


@pytest.mark.parametrize("names,kw,match", [
    ([], {}, "each experiment once"),
    ("stationary", {}, "a list of experiment names"),
    (["stationary", "stationary"], {}, "each experiment once"),
    (["no-such-experiment"], {}, "no-such-experiment"),
    (["stationary"], {"jobs": 0}, "jobs"),
    (["stationary"], {"seed": -1}, "seed"),
])
def test_bad_lists_of_experiments_fail_before_work(names, kw, match):
    with pytest.raises(ValueError, match=match):
        run_experiments(names, scale="smoke", **kw)
