"""The same seeds give the same numbers as before the experiment API was refactored.

``tests/data/smoke_summaries.json`` holds every experiment's smoke-scale summary at seed 0
(``measured``, ``theory``, ``reference``, ``tables``, and the shapes of its arrays),
recorded by ``scripts/record_smoke_summaries.py`` on main at 005f9f5, before the registry
was split.  Running all 28 experiments takes about 6 minutes on 2 cores, more than
``make test`` can spend, so by default only the experiments whose recorded run took at most
:data:`CHEAP_S` seconds run here (the others run in the chapters under nbval, and the
book build); ``LOGLOSS_BASELINE=all`` compares every experiment.

Numbers must agree to a relative 1e-12: the same code on the same seeds, allowing only
for a different order of a floating-point sum between library builds.  Wall-clock times
(:data:`WALL_TIMES`) are not functions of the seed and are not compared.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from logloss import run_experiment

BASELINE = json.loads((Path(__file__).parent / "data" / "smoke_summaries.json").read_text())

#: Experiments whose recorded smoke run took at most this long run in ``make test``.
CHEAP_S = 4.0

#: Fields that are wall-clock times of the machine, not functions of the seed.
WALL_TIMES = {"seconds", "seconds_net", "model_seconds"}

NAMES = sorted(BASELINE) if os.environ.get("LOGLOSS_BASELINE") == "all" else \
    sorted(n for n, v in BASELINE.items() if v["wall_s"] <= CHEAP_S)


def _same(a, b, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in set(a) - WALL_TIMES:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b, f"{where}: {a!r} != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_summary_as_before(name):
    with warnings.catch_warnings():  # what the run warns about (own-model: η λ₁ near 2) is
        warnings.simplefilter("ignore")  # part of its outcome, not of this comparison
        result = run_experiment(name, "smoke", seed=0, verbose=False)
    summary = json.loads(json.dumps(result.summary()))
    want = BASELINE[name]
    for part in ("measured", "theory", "reference", "tables"):
        _same(summary[part], want[part], f"{name}.{part}")
    assert {k: list(np.shape(v)) for k, v in result.arrays.items()} == want["arrays"]
