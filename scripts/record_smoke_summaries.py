"""Record every experiment's smoke-scale summary (seed 0) as the numbers baseline.

    python scripts/record_smoke_summaries.py tests/data/smoke_summaries.json [NAME ...]

Writes, per experiment, its ``measured``, ``theory``, ``reference`` and ``tables`` (the
parts of :meth:`logloss.Result.summary` that depend on the seed and the code, not on the
machine or the date), the names and shapes of its arrays and the wall time of the run.
``tests/test_smoke_summaries.py`` compares runs of the current code with this file: the
same seeds must give the same numbers after a refactoring.  Record it on the code the
refactoring starts from.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

import logloss


def record(name: str) -> dict:
    start = time.perf_counter()
    result = logloss.run_experiment(name, "smoke", seed=0, verbose=False)
    wall = time.perf_counter() - start
    summary = result.summary()
    entry = {k: summary[k] for k in ("measured", "theory", "reference", "tables")}
    entry["arrays"] = {k: list(np.shape(v)) for k, v in result.arrays.items()}
    entry["wall_s"] = round(wall, 2)
    return entry


def main(argv: list[str]) -> None:
    out = argv[0]
    names = argv[1:] or [e.name for e in logloss.list_experiments()]
    data = {}
    for name in names:
        data[name] = record(name)
        print(f"{name}: {data[name]['wall_s']} s", flush=True)
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, allow_nan=True)
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
