"""Experiment first-passage-nn: the window rule is declared from physics (t_p >= 100
relaxation times and resolved by the repetitions) and the same for any parameters; the
three curves (net, noise model, Eq. 15) are on the same thresholds."""

from types import SimpleNamespace

import numpy as np
import pytest

from logloss import run_experiment
from logloss.core.checkpoint import UnitStore
from logloss.experiments import first_passage_nn as fpnn


def test_window_is_rare_and_resolved_thresholds_only():
    rf = SimpleNamespace(t_p=np.array([50.0, 2e3, 1e4, 1e6, 1e8, np.nan]), relaxation=10.0,
                         resolved=np.array([True, True, False, True, True, True]))
    # 50 steps is below 100 relaxation times (1000 steps), 1e4 is not resolved, nan never ran
    np.testing.assert_array_equal(fpnn._window(rf, fpnn.MIN_RELAX), [1, 3, 4])


def test_the_rule_is_not_a_parameter():
    """No preset (hence no user override) can move the 100-relaxation-time floor."""
    for preset in fpnn.NN_PRESETS.values():
        assert not any("relax" in k and "min" in k for k in preset)
    assert fpnn.MIN_RELAX == 100.0


SMOKE = dict(seed=3, betas=[30.0], verbose=False)


@pytest.fixture(scope="module")
def units(tmp_path_factory):
    return UnitStore(tmp_path_factory.mktemp("units"))


@pytest.fixture(scope="module")
def smoke(units):
    return run_experiment("first-passage-nn", "smoke", store=units, **SMOKE)


def test_a_run_resumes_from_its_stored_net_beta_units(smoke, units, monkeypatch):
    assert units.keys() == ["net0-beta0"]

    def boom(*a, **k):
        raise AssertionError("a stored (net, beta) unit was run again")

    monkeypatch.setattr(fpnn, "_run_beta", boom)
    again = run_experiment("first-passage-nn", "smoke", store=units, **SMOKE)
    assert repr(again.tables) == repr(smoke.tables)  # repr: a NaN equals itself there
    assert repr(again.measured) == repr(smoke.measured)


def test_curves_share_thresholds_and_eq15_is_absolute(smoke):
    tp = smoke.tables["first_passage"]
    cs = {s: [r["c"] for r in tp if r["system"] == s] for s in ("net", "noise model", "paper Eq. (15)")}
    assert cs["net"] == cs["noise model"] == cs["paper Eq. (15)"] and len(cs["net"]) >= 4
    run = smoke.tables["runs"][0]
    fit = next(f for f in smoke.tables["fits"] if f["system"] == "net")
    for r in (r for r in tp if r["system"] == "paper Eq. (15)"):
        assert r["t_p"] == pytest.approx(2 * np.pi * run["relaxation"] * r["c"] ** fit["slope_eq15"])
    # the user's β sets η = B/(βλ₁): one relaxation time 1/(ηλ₁) = β/B steps
    assert run["relaxation"] == pytest.approx(30.0 / smoke.params["B"])
    for f in smoke.tables["fits"]:
        rows = [r for r in tp if r["system"] == f["system"]]
        inside = [r for r in rows if r["relaxations"] >= 100 and r["resolved"]]
        assert f["thresholds"] == len(inside)
        assert f["left_out"] == sum(r["relaxations"] >= 100 and not r["resolved"] for r in rows)


def test_noise_model_quasi_stationary_mean(smoke):
    """The noise model's kernel: its simulated quasi-stationary L/L* against the exact
    1/(1 − S), within 4 s.e. of the replica means."""
    m = smoke.measured["qs_loss_ratio_model"]
    assert abs(m.value - smoke.theory["qs_loss_ratio_model_exact"]) < 4 * m.stderr
