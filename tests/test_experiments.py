"""The experiment registry: scales, overrides, summaries and reproducibility."""

import json

import numpy as np
import pytest

from logloss.core.scales import SCALES, resolve_scale
from logloss.experiments.run import run_experiment
from logloss.experiments.spec import get_experiment, list_experiments

REQUIRED_KEYS = {"experiment", "scale", "seed", "params", "measured", "theory", "device",
                 "wall_time_s", "cpu_time_s", "date", "version", "git_commit"}


def test_every_experiment_has_all_scales_with_the_same_keys():
    for exp in list_experiments():
        assert set(exp.presets) == set(SCALES)
        assert len({frozenset(p) for p in exp.presets.values()}) == 1


def test_scale_from_environment(monkeypatch):
    monkeypatch.setenv("LOGLOSS_SCALE", "smoke")
    assert resolve_scale() == "smoke"
    assert resolve_scale("paper") == "paper"
    monkeypatch.setenv("LOGLOSS_SCALE", "huge")
    with pytest.raises(ValueError, match="LOGLOSS_SCALE"):
        resolve_scale()
    monkeypatch.delenv("LOGLOSS_SCALE")
    assert resolve_scale() == "book"


def test_unknown_experiment_and_parameter():
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        get_experiment("nope")
    with pytest.raises(ValueError, match="unknown parameter 'bogus'"):
        run_experiment("minibatch-covariance", "smoke", bogus=1)


def test_cli_strings_are_coerced_to_the_preset_types():
    exp = get_experiment("minibatch-covariance")
    p = exp.params("smoke", {"N": "30", "batch_sizes": "1,2,3", "draws": "1e2"})
    assert p["N"] == 30 and p["batch_sizes"] == [1, 2, 3] and p["draws"] == 100
    with pytest.raises(ValueError, match="N='x'"):
        exp.params("smoke", {"N": "x"})


def test_summary_is_complete_json_and_reproducible(capsys):
    a = run_experiment("minibatch-covariance", "smoke", seed=7)
    b = run_experiment("minibatch-covariance", "smoke", seed=7)
    assert "scale=smoke" in capsys.readouterr().out
    summary = json.loads(json.dumps(a.summary()))
    assert REQUIRED_KEYS <= set(summary)
    assert summary["measured"]["max_abs_z"]["value"] == b.summary()["measured"]["max_abs_z"]["value"]
    np.testing.assert_array_equal(a.arrays["z"], b.arrays["z"])
    c = run_experiment("minibatch-covariance", "smoke", seed=8, verbose=False)
    assert not np.array_equal(a.arrays["z"], c.arrays["z"])


def test_bad_batch_size_is_a_one_line_value_error():
    with pytest.raises(ValueError, match=r"B=50 exceeds the number of samples N=40"):
        run_experiment("minibatch-covariance", "smoke", batch_sizes=[1, 50], verbose=False)


def test_stationary_without_a_trusted_moment_error_says_so():
    """At d > 1 the Kesten–Goldie index is not known in closed form, so no grid point's
    moment z-score is trusted: the key is nan, with a note, not a missing-key error."""
    res = run_experiment("stationary", "smoke", d=2, eta=[0.1], B=[1], samples=200,
                         replicas=10, N=1000, verbose=False)
    assert np.isnan(res.summary()["measured"]["max_abs_z_moment"]["value"] or np.nan)
    assert any("max_abs_z_moment is nan" in n for n in res.summary()["notes"])


def test_the_critical_crossover_is_the_smallest_growing_dimension_in_any_order():
    """ds=20,4,9 must give the crossover of ds=4,9,20: it was the first growing d in the
    order the list was given."""
    from logloss.experiments.critical_dimension import _crossover

    rows = [dict(d=d, growth_rate=g, growth_rate_stderr=0.1) for d, g in
            ((4, -1.0), (9, 1.0), (20, 2.0))]
    assert _crossover(rows) == _crossover(rows[::-1]) == _crossover([rows[2], rows[0], rows[1]]) == 9


def test_critical_dimension_survives_replicas_whose_loss_overflows():
    # paper-scale lengths: at d = 24 the loss of fast replicas passes float64's range
    res = run_experiment("critical-dimension", "smoke", verbose=False, ds=[24], steps=3000,
                         replicas=20, ds2=[6], sphere_ds=[9], limit_etas=[0.2],
                         limit_etas2=[0.6])
    row = res.tables["critical"][0]
    assert row["overflowed"] > 0 and row["growth_rate"] > 0
    assert np.isfinite(row["growth_rate_stderr"])
    assert any("overflowed" in n for n in res.notes)
