"""Every experiment estimates its memory and time from its parameters, and a run that
cannot fit this machine is refused in one line before any work."""

from __future__ import annotations

import pytest

from logloss import sweeps
from logloss.core import resources
from logloss.core.errors import InvalidInput, LoglossError
from logloss.core.resources import Cost, check_fits
from logloss.experiments.spec import list_experiments

EXPERIMENTS = list_experiments()


def _size_params(exp):
    """The integer parameters (or lists of integers) the experiment's cost grows with, as its
    cost function names them."""
    preset = exp.presets["smoke"]
    names = [s.strip() for s in exp.estimate(preset).sizes.split(",")]
    out = []
    for name in names:
        value = preset.get(name)
        if isinstance(value, bool) or name not in preset:
            continue
        if isinstance(value, int) or (isinstance(value, list) and isinstance(value[0], int)):
            out.append(name)
    return out


@pytest.mark.parametrize("scale", ["smoke", "book"])
def test_every_preset_fits_and_passes_its_rules(scale):
    for exp in EXPERIMENTS:
        exp.params(scale)  # raises if a preset does not fit or breaks a cross rule
        cost = exp.estimate(exp.presets[scale])
        assert cost.memory > 0 and cost.seconds > 0 and cost.sizes, exp.name


@pytest.mark.parametrize("exp", EXPERIMENTS, ids=lambda e: e.name)
def test_an_absurd_size_is_refused_before_any_work(exp):
    """10¹⁸ in each size the cost names: its estimate alone cannot fit, and the run is
    refused in one line (by the estimate, or by a rule of the parameters checked first)."""
    sizes = _size_params(exp)
    assert sizes, f"{exp.name} names no integer size in its cost"
    huge = 10**18
    for name in sizes:
        preset = exp.presets["smoke"][name]
        if isinstance(preset, list):  # the middle entry (a hidden width, a dimension)
            raw = [huge if i == len(preset) // 2 else v for i, v in enumerate(preset)]
        else:
            raw = huge
        with pytest.raises(InvalidInput, match=r"would (need|take) .*estimated from its parameters"):
            check_fits(exp.estimate(dict(exp.presets["smoke"], **{name: raw})), exp.name)
        value = ",".join(map(str, raw)) if isinstance(raw, list) else str(raw)  # as the CLI has it
        with pytest.raises(LoglossError) as info:  # DatasetMissingError included
            exp.params("smoke", {name: value})
        assert "\n" not in str(info.value)


def test_the_estimate_is_checked_against_free_memory_and_the_time_limit(monkeypatch):
    exp = next(e for e in EXPERIMENTS if e.name == "stationary")
    exp.params("smoke")
    monkeypatch.setattr(resources, "free_memory", lambda: 1000)
    with pytest.raises(InvalidInput, match=r"would need about .* of memory, more than the 1 kB free"):
        exp.params("smoke")
    monkeypatch.undo()
    monkeypatch.setenv("LOGLOSS_MAX_HOURS", "1e-9")
    with pytest.raises(InvalidInput, match=r"would take about .* more than the .* allowed by "
                                           r"\$LOGLOSS_MAX_HOURS"):
        exp.params("smoke")
    monkeypatch.setenv("LOGLOSS_MAX_HOURS", "soon")
    with pytest.raises(InvalidInput, match="LOGLOSS_MAX_HOURS='soon' must be a number"):
        exp.params("smoke")


def test_infinite_and_overflowing_costs_are_refused():
    for cost in (Cost(float("inf"), 1.0), Cost(float("nan"), 1.0)):
        with pytest.raises(InvalidInput, match="more memory than any machine has"):
            check_fits(cost, "x")
    with pytest.raises(InvalidInput, match="would take forever"):
        check_fits(Cost(1.0, float("inf")), "x")
    exp = next(e for e in EXPERIMENTS if e.name == "stationary")
    assert exp.estimate(dict(exp.presets["smoke"], N=10**400)).memory == float("inf")


def test_sweep_workers_are_capped_and_share_the_memory(monkeypatch):
    monkeypatch.setattr(sweeps, "usable_cpus", lambda: 2)
    assert sweeps.worker_count(100_000, 50) == 2
    assert sweeps.worker_count(100_000, 1) == 1
    with pytest.raises(InvalidInput, match="jobs must be an integer >= 1"):
        sweeps.worker_count(0, 3)
    exp = next(e for e in EXPERIMENTS if e.name == "stationary")
    one = exp.estimate(exp.presets["smoke"]).memory + resources.OVERHEAD
    monkeypatch.setattr(resources, "free_memory", lambda: int(1.5 * one))
    with pytest.raises(InvalidInput, match=r"with 2 parallel workers would need .* \(2 at once\)"):
        sweeps.sweep("stationary", {"B": [[1], [2]]}, scale="smoke", jobs=2)
