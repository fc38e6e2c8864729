"""Run folders: written atomically, marked complete last, never overwritten silently."""

from __future__ import annotations

import pytest

from logloss import runs
from logloss.cli import default_out
from logloss.core.errors import InvalidInput
from logloss.experiments.run import run_experiment


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


# --- issue 26: files that pass their checksum but are not what they should be; --force ---

def _unfinished(folder, manifest_text):
    folder.mkdir()
    (folder / "run.json").write_text(manifest_text)
    return folder


@pytest.mark.parametrize("text", ["[]", "{}", '"run"', "3", '{"params": []}',
                                  '{"experiment": "stationary", "scale": "smoke", "seed": 0, '
                                  '"params": [], "version": "1", "code": "x"}'])
def test_a_run_json_of_the_wrong_structure_is_one_line(tmp_path, capsys, monkeypatch, text):
    from logloss import cli

    monkeypatch.setenv("LOGLOSS_CACHE", str(tmp_path / "cache"))
    out = _unfinished(tmp_path / "run", text)
    rc = cli.main(["run", "stationary", "--scale", "smoke", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "run.json cannot be read" in err[0], err
    assert (out / "run.json").read_text() == text  # nothing was replaced


@pytest.mark.parametrize("sets", [
    ["B=20000"],                                  # B > N (issue 26)
    ["B=10000"],                                  # B = N: no noise
    ["eta=0.1", "--set", "eta=7"],               # a repeated key
    ["N=1e10"],                                   # cannot fit the machine
])
def test_force_checks_everything_before_it_deletes_a_complete_run(tmp_path, capsys, sets):
    from logloss import cli

    out = tmp_path / "done"
    (out / "units").mkdir(parents=True)
    for name in ("run.json", "summary.json", "complete.json", "units/point0.pt"):
        (out / name).write_text("kept")
    argv = ["run", "stationary", "--scale", "smoke", "--out", str(out), "--force"]
    rc = cli.main([*argv, *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: "), err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == \
        ["complete.json", "run.json", "summary.json", "units", "units/point0.pt"]


def test_a_unit_from_another_run_or_of_another_structure_is_recomputed(tmp_path):
    from logloss.core.cache import NUMBER
    from logloss.core.checkpoint import UnitStore

    mine = UnitStore(tmp_path / "a" / "units", scope="run-a")
    other = UnitStore(tmp_path / "b" / "units", scope="run-b")
    other.put("point0", {"phi": 9.0})
    (tmp_path / "a" / "units").mkdir(parents=True)
    (tmp_path / "b" / "units" / "point0.pt").rename(tmp_path / "a" / "units" / "point0.pt")
    with pytest.warns(RuntimeWarning, match="stored for another key"):
        assert mine.unit("point0", lambda: {"phi": 1.0}) == {"phi": 1.0}
    mine.put("point1", {"phi": "crafted"})  # the right key, the wrong structure
    with pytest.warns(RuntimeWarning, match="structure"):
        assert mine.unit("point1", lambda: {"phi": 2.0}, spec={"phi": NUMBER}) == {"phi": 2.0}
    (tmp_path / "a" / "units" / "point0.pt").rename(tmp_path / "a" / "units" / "point2.pt")
    with pytest.warns(RuntimeWarning, match="stored for another key"):  # renamed to another unit
        assert mine.unit("point2", lambda: {"phi": 3.0}) == {"phi": 3.0}
    assert mine.get("point1", spec={"phi": NUMBER}) == {"phi": 2.0}  # the recomputed one


def test_the_units_experiments_store_have_the_structure_their_specs_ask():
    """A genuine unit passes its experiment's spec, so that a resumed run reads it back."""
    import numpy as np

    from logloss.core.cache import conforms
    from logloss.experiments import first_passage_linreg, stationary
    from logloss.models.linreg import make_linear_regression

    prob = make_linear_regression(300, 1, np.random.default_rng(0))
    row = stationary._point(prob, 0.5, 2, dict(thin=2, samples=300, replicas=4), seed=1)
    assert conforms(row, stationary._ROW) and (row["eta"], row["B"]) == (0.5, 2)
    case = first_passage_linreg.linreg_first_passage_case(
        eta=0.1, B=1, d=2, N=300, cs=[1.5, 2.0], seed=2, data_seed=0,
        estimator=dict(repetitions=2, replicas=20), brute_replicas=4, brute_steps=2000)
    assert conforms(case, first_passage_linreg.CASE_SPEC)
