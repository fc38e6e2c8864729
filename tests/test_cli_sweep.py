"""``python -m logloss sweep``: the CLI over :func:`logloss.sweep` — the same tasks as the
API, the same results with --jobs 2 and on a Dask cluster, resumable, one-line errors."""

from __future__ import annotations

import json

import pytest

from logloss import cli, sweep

ARGS = ["sweep", "stationary", "--scale", "smoke", "--grid", "B=1,5", "--grid", "eta=0.1",
        "--seeds", "2", "--seed", "7", "--json"]


def _sweep(capsys, *extra):
    assert cli.main([*ARGS, *extra]) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return [(t["params"]["B"], t["params"]["eta"], t["seed"], t["measured"]) for t in out["tasks"]]


@pytest.fixture(scope="module")
def api():
    return sweep("stationary", {"B": [[1], [5]], "eta": [[0.1]]}, seeds=2, seed=7, scale="smoke",
                 device="cpu")


def test_serial_matches_the_api_and_two_jobs_match_serial(capsys, api):
    serial = _sweep(capsys)
    assert [(s[0], s[2]) for s in serial] == [(r.params["B"], r.seed) for r in api]
    assert [s[3]["phi"]["value"] for s in serial] == [r.measured["phi"].value for r in api]
    assert len({s[2] for s in serial}) == 4
    assert _sweep(capsys, "--jobs", "2") == serial


def test_a_dask_cluster_matches_serial(capsys):
    distributed = pytest.importorskip("distributed")
    serial = _sweep(capsys)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert _sweep(capsys, "--scheduler", cluster.scheduler_address) == serial


def test_out_stores_tasks_and_resumes(capsys, tmp_path, monkeypatch):
    first = _sweep(capsys, "--out", str(tmp_path))
    assert len(list((tmp_path / "tasks").iterdir())) == 4
    import logloss.sweeps as sw

    monkeypatch.setattr(sw, "run_experiment", lambda *_a, **_k: pytest.fail("a stored task ran again"))
    assert _sweep(capsys, "--out", str(tmp_path)) == first


def test_text_output_names_each_point(capsys):
    assert cli.main(ARGS[:-1]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("B=[1], eta=[0.1] seed=")


@pytest.mark.parametrize("extra,message", [
    (["--grid", "B"], "key=v1,v2"),
    (["--grid", "B="], "empty value"),
    (["--grid", "B=1,,5"], "empty value"),
    (["--grid", "nope=1"], "unknown parameter 'nope'"),
    (["--grid", "B=1,0"], "B"),
    (["--grid", "B=1", "--grid", "B=5"], "given twice"),
    (["--grid", "B=1", "--jobs", "0"], "integer >= 1"),
    (["--grid", "B=1", "--seeds", "x"], "integer >= 1"),
    (["--grid", "B=1", "--device", "tpu"], "device must be one of"),
    ([], "at least one --grid"),
    (["--grid", "B=1,20000"], "exceeds the number of samples"),  # every point, not the first
    (["--grid", "N=100,1e10"], "of memory"),
])
def test_bad_input_is_one_line(capsys, extra, message):
    assert cli.main(["sweep", "stationary", "--scale", "smoke", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_an_unknown_experiment_is_one_line(capsys):
    assert cli.main(["sweep", "nope", "--grid", "B=1"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_jobs_are_capped_at_the_cores_and_the_tasks(capsys, monkeypatch):
    """Issue 26: --jobs 100000 started hundreds of workers (809 leaked semaphores)."""
    import logloss.sweeps as sw

    monkeypatch.setattr(sw, "usable_cpus", lambda: 2)
    seen = []
    monkeypatch.setattr(cli, "sweep", lambda *_, **k: seen.append(k["jobs"]) or [])
    assert cli.main(["sweep", "stationary", "--scale", "smoke", "--grid", "B=1,5,10",
                     "--jobs", "100000"]) == 0
    assert seen == [2]
    assert capsys.readouterr().err.strip() == ("note: --jobs 100000 lowered to 2 (at most one "
                                               "worker per CPU core and per task)")
    assert cli.main(["sweep", "stationary", "--scale", "smoke", "--grid", "B=1", "--jobs",
                     "8"]) == 0
    assert seen == [2, 1]
