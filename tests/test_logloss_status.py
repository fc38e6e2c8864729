"""The run records that the status page reads from the executed notebooks."""

import json
from pathlib import Path

import pytest

from logloss.experiments.result import RUN_MIME, Result, run_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def status_ext():
    pytest.importorskip("myst_nb")
    import logloss_status

    return logloss_status


def test_run_record_is_json_with_scale_and_machine():
    rec = run_record(Result(name="x", scale="smoke", seed=3, wall_time_s=1.23456))
    assert json.loads(json.dumps(rec)) == rec
    assert rec["experiment"] == "x" and rec["scale"] == "smoke" and rec["seed"] == 3
    assert rec["wall_time_s"] == 1.235 and rec["cpu_count"] >= 1


def test_status_reads_records_from_an_executed_notebook(tmp_path, status_ext):
    assert status_ext.RUN_MIME == RUN_MIME
    rec = run_record(Result(name="x", scale="book"))
    nb = {"cells": [
        {"cell_type": "code", "outputs": [
            {"output_type": "stream", "text": "[logloss] x: scale=smoke, seed=0, 1.0 s"},
            {"output_type": "display_data", "data": {RUN_MIME: rec}, "metadata": {}}]},
        {"cell_type": "markdown", "source": "scale=paper"}]}
    path = tmp_path / "ch.ipynb"
    path.write_text(json.dumps(nb))
    assert [r["scale"] for r in status_ext.run_records(path)] == ["book"]  # not the printed line
    assert status_ext.run_records(tmp_path / "missing.ipynb") == []
    assert status_ext.minutes(150) == "2.5 min" and status_ext.minutes(240) == "4 min"


def _run(mod, runtime, *, budget=150.0, scales=("book",), ok=True, title="1. A"):
    return mod.ChapterRun(title=title, scales=scales, experiments=1, runtime=runtime,
                          budget=budget, succeeded=ok)


def test_status_verdicts_report_time_against_budget(status_ext):
    assert _run(status_ext, 90).verdict == "within budget (60% of it)"
    assert _run(status_ext, 200).verdict == "over budget by 50 s"
    assert _run(status_ext, 200, ok=False).verdict == "failed"
    assert _run(status_ext, 5, scales=("smoke",)).verdict == (
        "within budget (3% of it); the budget is for the book scale")
    assert _run(status_ext, 900, scales=("paper",)).verdict.startswith("over budget by 750 s;")
    assert [status_ext.duration(x) for x in (95, 150, 240, 3.2, 0)] == [
        "1 min 35 s", "2 min 30 s", "4 min", "3 s", "0 s"]


def test_status_summary_stays_true_for_any_numbers(status_ext):
    summary = status_ext.summary
    ok = summary([_run(status_ext, 100), _run(status_ext, 120, title="2. B")], 600,
                 cores="2", machine="CPU X")
    assert "on CPU X, with 2 CPU cores" in ok and "at the book scale" in ok
    assert "within the budget of 10 min" in ok and "No chapter went over" in ok
    assert "do not test" not in ok
    over = summary([_run(status_ext, 700), _run(status_ext, 10, ok=False, title="2. B")], 600,
                   cores="2", machine="CPU X")
    assert "over the budget of 10 min by 110 s" in over
    assert "Over their own budget: 1. A." in over and "Failed: 2. B." in over
    assert "No chapter went over" not in over
    smoke = summary([_run(status_ext, 5, scales=("smoke",))], 600, cores="16", machine="CPU X")
    assert "at the smoke scale" in smoke
    assert "ran at another scale and on another number of cores, so its times do not test them" in smoke
    assert summary([], 600, cores="2", machine="CPU X").startswith("No chapter was executed")
