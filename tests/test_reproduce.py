"""``python -m logloss reproduce``: the dry run lists every paper-scale run the report
needs with a finite cost and the store's status; a re-made run is compared with the
store value by value, in combined standard errors; a missing dataset blocks in one line."""

from __future__ import annotations

import json
import math

import pytest

from logloss.cli import main
from logloss.experiments.run import run_experiment
from logloss.experiments.spec import get_experiment
from logloss.report import CLAIMS, load_store, paper_runs
from logloss.runs import compare_summaries, save_run

CHEAP = "minibatch-covariance"


@pytest.fixture
def no_data(monkeypatch):
    monkeypatch.delenv("LOGLOSS_DATA", raising=False)


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store holding one run of a cheap experiment, labelled paper scale, at its smoke sizes."""
    root = tmp_path_factory.mktemp("store")
    params = dict(get_experiment(CHEAP).presets["smoke"])
    result = run_experiment(CHEAP, "paper", seed=0, verbose=False, **params)
    save_run(result, root / f"{CHEAP}-paper-seed0")
    return root


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_dry_run_lists_every_claims_experiment_with_a_finite_cost(capsys, stored, no_data):
    assert main(["reproduce", "--dry-run", "--store", str(stored), "--json"]) == 0
    runs = {r["experiment"]: r for r in _last_json(capsys.readouterr().out)["runs"]}
    wanted = {name for c in CLAIMS if c.experiment for name in (c.experiment, *c.also)}
    assert set(runs) == wanted
    for name, run in runs.items():
        assert math.isfinite(run["cost"]["seconds"]) and run["cost"]["seconds"] > 0, name
        assert math.isfinite(run["cost"]["memory"]) and run["cost"]["memory"] > 0, name
        assert f"run {name} --scale paper" in run["command"]
        assert (run["stored"] is not None) == (name == CHEAP), name
    # the rows that need the user's data say which, and that it is missing here
    assert runs["noise-strength-cnn"]["needs"] == ["CIFAR-10"]
    assert runs["noise-strength"]["needs"] == ["Fashion-MNIST"]
    assert runs["noise-strength"]["missing"] and not runs[CHEAP]["missing"]
    # and the plain text says the same, one block per run
    assert main(["reproduce", "--dry-run", "--store", str(stored)]) == 0
    text = capsys.readouterr().out
    assert f"{CHEAP}: stored in {stored}" in text and "decoupling: not in" in text
    assert "CIFAR-10 in $LOGLOSS_DATA" in text


def test_paper_runs_reads_the_repository_store():
    runs = paper_runs()
    assert {r["experiment"] for r in runs if r["stored"]} == set(load_store("results"))


def test_rerun_with_the_same_settings_is_identical(capsys, stored):
    out = stored.parent / "remade"
    assert main(["reproduce", "--only", CHEAP, "--store", str(stored), "--out", str(out),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert f"{CHEAP}: identical" in captured.out
    assert "[reproduce]" in captured.err and "[reproduce]" not in captured.out  # progress on stderr
    (record,) = _last_json(captured.out)["runs"]
    assert record["status"] == "identical" and all(v["z"] == 0 for v in record["values"])
    assert (out / f"{CHEAP}-paper-seed0" / "complete.json").is_file()


@pytest.mark.parametrize("shift,status,code", [(5, "beyond", 1), (2, "within", 0)])
def test_an_altered_store_value_gives_its_z(capsys, stored, tmp_path, shift, status, code):
    """The stored mean_z moved by `shift` of its s.e.: the re-made run (the same s.e.) is
    shift/√2 combined s.e. away; beyond 3 the command fails."""
    import shutil

    altered = tmp_path / "store"
    shutil.copytree(stored, altered)
    path = altered / f"{CHEAP}-paper-seed0" / "summary.json"
    summary = json.loads(path.read_text())
    m = summary["measured"]["mean_z"]
    m["value"] += shift * m["stderr"]
    path.write_text(json.dumps(summary))
    got = main(["reproduce", "--only", CHEAP, "--store", str(altered), "--out",
                str(tmp_path / "out"), "--json"])
    out = capsys.readouterr().out
    (record,) = _last_json(out)["runs"]
    (row,) = [v for v in record["values"] if not v["identical"]]
    assert row["key"] == "mean_z" and row["z"] == pytest.approx(-shift / math.sqrt(2))
    assert got == code and record["status"] == status and f"z = {-shift / math.sqrt(2):+.2f}" in out


def test_compare_summaries_without_a_standard_error():
    a = {"measured": {"k": {"value": 1.0, "stderr": None}, "gone": {"value": 1.0, "stderr": 0.1}}}
    b = {"measured": {"k": {"value": 1.5, "stderr": None}}}
    rows = {r["key"]: r for r in compare_summaries(a, b)}
    assert rows["k"]["z"] is None and not rows["k"]["identical"]
    assert rows["k"]["relative"] == pytest.approx(0.5 / 1.5)
    assert rows["gone"]["new"] is None and rows["gone"]["z"] is None
    assert compare_summaries(a, a)[0]["identical"]


@pytest.mark.parametrize("relative,agrees", [(1e-9, True), (1e-3, False)])
def test_a_value_without_standard_error_agrees_within_rounding(capsys, stored, tmp_path,
                                                               relative, agrees):
    """max_abs_z has no standard error: a relative change of 1e-9 is rounding (the run
    agrees, status 0), one of 1e-3 is not (status 1), and both say how large it is."""
    import shutil

    altered = tmp_path / "store"
    shutil.copytree(stored, altered)
    path = altered / f"{CHEAP}-paper-seed0" / "summary.json"
    summary = json.loads(path.read_text())
    summary["measured"]["max_abs_z"]["value"] *= 1 + relative
    path.write_text(json.dumps(summary))
    got = main(["reproduce", "--only", CHEAP, "--store", str(altered), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert got == (0 if agrees else 1)
    assert f"relative difference {relative:.1e}" in out and "no standard error" in out


def test_a_missing_dataset_blocks_in_one_line(capsys, tmp_path, no_data):
    """A stored run of an experiment that needs the full Fashion-MNIST, with no
    $LOGLOSS_DATA here: one line, no traceback, no run."""
    folder = tmp_path / "store" / "noise-strength-paper-seed0"
    folder.mkdir(parents=True)
    params = dict(get_experiment("noise-strength").presets["paper"])
    summary = {"experiment": "noise-strength", "scale": "paper", "seed": 0, "params": params,
               "measured": {"slope": {"value": 1.0, "stderr": 0.1}}, "theory": {}, "reference": {}}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "complete.json").write_text("{}")
    assert main(["reproduce", "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    (line,) = captured.out.strip().splitlines()
    assert line.startswith("noise-strength: blocked: ") and "LOGLOSS_DATA" in line
    assert "Traceback" not in captured.err and not (tmp_path / "out").exists()


def test_only_an_unstored_run_is_one_line(capsys, stored):
    assert main(["reproduce", "--only", "decoupling", "--store", str(stored)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --only decoupling:") and err.count("\n") == 1


def test_a_diagnostic_with_a_bound_agrees_when_both_runs_are_within_it():
    """hessian-outliers' solver check (|Lanczos − dense| over the residual bound) moves
    between runs; re-made, it agrees when both values are within its bound 1, not by
    rounding."""
    from logloss.cli import _agrees, _describe_differences

    bounds = get_experiment("hessian-outliers").bounds
    assert bounds == {"solver_check_worst": 1.0}

    def row(old, new):
        a, b = ({"measured": {"solver_check_worst": {"value": v, "stderr": None}}} for v in (old, new))
        return compare_summaries(a, b)[0]

    assert _agrees(row(0.040, 0.058), bounds) and not _agrees(row(0.040, 0.058), {})
    assert not _agrees(row(0.040, 1.5), bounds)
    assert "both within it" in _describe_differences([row(0.040, 0.058)], bounds)[0]


def test_a_bound_on_an_undeclared_key_is_refused():
    from logloss.experiments.spec import experiment

    with pytest.raises(ValueError, match="bounds for undeclared measured keys"):
        experiment("x-bound", description="x", presets={s: {} for s in ("smoke", "book", "paper")},
                   measured=("a",), cost=lambda _p: None, bounds={"b": 1.0})
