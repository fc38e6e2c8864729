"""The reproduction report: its claims follow the experiments' keys, its verdicts are
computed from the numbers, and the results store holds only complete paper-scale runs
that this repository's code produced."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from logloss.core.errors import CorruptFile
from logloss.experiments.spec import get_experiment
from logloss.report import CLAIMS, Claim, Standard, load_store, report_rows, verdict

ROOT = Path(__file__).resolve().parents[1]


def test_every_claim_reads_declared_keys():
    assert CLAIMS[0].result == "R1" and CLAIMS[-1].result == "R13"
    assert {c.result for c in CLAIMS} == {f"R{i}" for i in range(1, 14)}
    for claim in CLAIMS:
        if claim.experiment is None:
            continue
        keys = get_experiment(claim.experiment).keys
        assert claim.key in keys["measured"], claim
        if isinstance(claim.target, tuple):
            assert claim.target[1] in keys[claim.target[0]], claim
        elif claim.target is None:
            assert claim.standard.test == "bound", claim
        if claim.standard.spread:
            assert claim.standard.spread in keys["measured"], claim
        assert (ROOT / f"{claim.chapter}.md").is_file(), claim


def _summary(value, stderr, target, scale="book", seeds=5, sd=None):
    return {"experiment": "x", "scale": scale,
            "measured": {"m": {"value": value, "stderr": stderr}, "m_sd": {"value": sd, "stderr": None}},
            "theory": {"t": target}, "reference": {}, "tables": {"seeds": [{}] * seeds},
            "device": "cpu (x86_64)", "date": "2026-12-01", "git_commit": "abcdef0123"}


CLAIM = Claim("R0", "t", "chapters/escape", "x", "m", ("theory", "t"), "p", "c", "why")


def test_verdict_is_a_three_standard_error_test():
    assert verdict(CLAIM, _summary(10.5, 0.2, 10.0))[0] == "reproduced"  # z = 2.5
    word, stat = verdict(CLAIM, _summary(10.7, 0.2, 10.0))  # z = 3.5
    assert word == "not reproduced" and stat.startswith("z = +3.5;") and "3 s.e." in stat
    assert verdict(CLAIM, _summary(10.5, None, 10.0))[0] == "not reproduced"  # no error bar
    assert verdict(CLAIM, None) == ("not yet run", "")
    tol = Claim("R0", "t", "chapters/escape", "x", "m", ("theory", "t"), "p", "c", "why",
                Standard(test="bound", critical=1.0))
    assert verdict(tol, _summary(9.2, None, 10.0))[0] == "reproduced"
    assert verdict(tol, _summary(8.9, None, 10.0))[0] == "not reproduced"
    with pytest.raises(KeyError):
        verdict(Claim("R0", "t", "c", "x", "renamed", None, "p", "c", "why"), _summary(1, 1, 1))


def _claim(standard, target=("theory", "t")):
    return Claim("R0", "t", "chapters/escape", "x", "m", target, "p", "c", "why", standard)


def test_verdict_uses_the_chapters_student_t():
    """R3's chapter: Student t with seeds − 1 dof at 99 % two-sided; 5 seeds give 4.60."""
    t4 = _claim(Standard(level=0.99, dof=lambda s: len(s["tables"]["seeds"]) - 1))
    word, stat = verdict(t4, _summary(1.4, 0.1, 1.0))  # t = 4: inside 4.60, outside 3 normal s.e.
    assert word == "reproduced" and "4 dof" in stat and "4.60" in stat
    assert verdict(t4, _summary(1.47, 0.1, 1.0))[0] == "not reproduced"
    assert verdict(t4, _summary(1.4, 0.1, 1.0, seeds=50))[0] == "not reproduced"  # 49 dof: 2.68


def test_verdict_compares_a_single_published_value_with_the_seed_sd():
    """R11: one published net against our seeds: the seed s.d., not the s.e. of their mean."""
    one = _claim(Standard(critical=2.0, spread="m_sd"))
    word, stat = verdict(one, _summary(80.0, 5.0, 95.0, sd=12.0))  # 3 s.e. but 1.25 s.d.
    assert word == "reproduced" and "seed s.d." in stat
    assert verdict(one, _summary(80.0, 5.0, 110.0, sd=12.0))[0] == "not reproduced"


def test_verdict_chooses_between_two_laws():
    """R5: the small-loss slope against 2, as the chapter's choice between 2 and 1."""
    closer = _claim(Standard(test="closer", alternative=1.0, level=0.99,
                             dof=lambda s: len(s["tables"]["seeds"]) - 1), target=2.0)
    word, stat = verdict(closer, _summary(1.79, 0.03, None))  # 9.7 s.e. above 1.5
    assert word == "reproduced" and "towards 2" in stat
    assert verdict(closer, _summary(1.55, 0.03, None))[0] == "not reproduced"  # 1.7 < t(4) = 3.75
    with pytest.raises(ValueError, match="alternative"):
        Standard(test="closer")


def test_rows_give_the_reason_only_where_a_run_disagrees(monkeypatch):
    import dataclasses

    import logloss.report as report

    monkeypatch.setattr(report, "CLAIMS", (dataclasses.replace(CLAIM, experiment="stationary"),))
    (row,) = report_rows({"stationary": _summary(10.1, 0.2, 10.0)}, {})
    assert row["book"]["value"] == "10.1 ± 0.2" and row["paper_scale"]["verdict"][0] == "not yet run"
    assert row["reason"] == "" and row["target"] == "10"
    (row,) = report_rows({}, {"stationary": _summary(12.0, 0.2, 10.0, scale="paper")})
    assert row["paper_scale"]["verdict"][0] == "not reproduced" and row["reason"] == "why"
    assert "to_make" not in row["paper_scale"]


def test_a_row_without_a_paper_scale_run_says_what_makes_it(monkeypatch):
    """The command, the estimated cost from the experiment's cost(), and the user's data."""
    monkeypatch.delenv("LOGLOSS_DATA", raising=False)
    rows = {row["claim"].experiment: row for row in report_rows({}, {})}
    sentence = rows["stationary"]["paper_scale"]["to_make"]
    assert "`python -m logloss run stationary --scale paper --seed 0 --out " \
           "results/stationary-paper-seed0`" in sentence
    assert "on 2 CPU cores" in sentence and "no data beyond the vendored" in sentence
    mlp = rows["noise-strength"]["paper_scale"]
    assert "Fashion-MNIST in $LOGLOSS_DATA" in mlp["to_make"]
    (cnn,) = mlp["also"]
    assert cnn.startswith("noise-strength-cnn: not yet run") and "CIFAR-10 in $LOGLOSS_DATA" in cnn
    for row in rows.values():  # every row with an experiment: a number or the sentence
        cell = row["paper_scale"]
        assert row["claim"].experiment is None or "to_make" in cell, row["claim"]


def _write_run(folder: Path, summary: dict, complete: bool = True) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary))
    if complete:
        (folder / "complete.json").write_text("{}")


def test_store_reads_complete_paper_runs_only(tmp_path):
    _write_run(tmp_path / "a", {**_summary(1, 1, 1, scale="paper"), "experiment": "a"})
    _write_run(tmp_path / "b", {**_summary(1, 1, 1, scale="paper"), "experiment": "b"}, complete=False)
    assert list(load_store(tmp_path)) == ["a"]
    assert load_store(tmp_path / "absent") == {}
    _write_run(tmp_path / "c", {**_summary(1, 1, 1, scale="book"), "experiment": "c"})
    with pytest.raises(CorruptFile, match="not a paper-scale"):
        load_store(tmp_path)


@pytest.mark.parametrize("text", ["[]", "{}", '"x"', '{"experiment": "a", "scale": "paper"}',
                                  '{"experiment": "a", "scale": "paper", "measured": [], '
                                  '"theory": {}, "reference": {}}',
                                  '{"experiment": "a", "scale": "paper", "measured": {"k": 1}, '
                                  '"theory": {}, "reference": {}}'])
def test_a_stored_summary_of_the_wrong_structure_is_one_line(tmp_path, text):
    """A summary.json that is valid JSON but not a run summary is a one-line CorruptFile
    naming it, not a TypeError or KeyError inside the report."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "summary.json").write_text(text)
    (tmp_path / "a" / "complete.json").write_text("{}")
    with pytest.raises(CorruptFile, match="a/summary.json is not a run summary") as info:
        load_store(tmp_path)
    assert "\n" not in str(info.value)


def test_stored_results_were_produced_by_this_repository():
    store = load_store(ROOT / "results")
    for name, summary in store.items():
        get_experiment(name)  # a registered experiment
        assert summary["git_dirty"] is False, name
        commit = summary["git_commit"]
        if (ROOT / ".git").exists():  # a source tree without its history cannot tell
            known = subprocess.run(["git", "cat-file", "-t", commit], cwd=ROOT,
                                   capture_output=True, text=True)
            assert known.stdout.strip() == "commit", f"{name}: commit {commit} is not in this repository"
        for key in ("device", "date", "wall_time_s", "cpu_time_s"):
            assert summary[key], (name, key)
