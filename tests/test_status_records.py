"""The run records that the status page reads from the executed notebooks."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from logloss.experiments._registry import RUN_MIME, Result, run_record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def status_ext():
    pytest.importorskip("myst_nb")
    spec = importlib.util.spec_from_file_location("logloss_status", ROOT / "_ext" / "logloss_status.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["logloss_status"] = mod
    spec.loader.exec_module(mod)
    return mod


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
