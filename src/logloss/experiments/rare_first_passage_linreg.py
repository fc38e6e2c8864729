"""Experiment ``rare-first-passage-linreg``: t_p(c) of SGD on linear regression at any
(η, B, d, N, thresholds) a user passes, by splitting on log L (one case of
``first-passage-linreg``: the same estimator, cross-checks and regime rule)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.resources import Cost
from ..core.validation import check_noisy_batch
from .first_passage_linreg import FIELDS, TABLES, case_cost, collect_cases, linreg_first_passage_case
from .result import Outcome
from .spec import experiment

RARE_PRESETS = {
    scale: dict(eta=0.1, B=1, d=1, N=10_000, cs=[1.5, 2.0, 3.0, 5.0, 10.0], data_seed=0,
                repetitions=r, replicas=n, brute_replicas=br, brute_steps=bs, importance="auto")
    for scale, r, n, br, bs in (("smoke", 4, 100, 16, 20_000), ("book", 8, 300, 32, 200_000),
                                ("paper", 16, 1000, 100, 10_000_000))
}


def _validate(p: dict) -> None:
    if p["N"]:
        check_noisy_batch(p["B"], p["N"])
    if len(p["cs"]) < 2:
        raise InvalidInput("cs needs at least two thresholds (the local slope is between two)")


def _cost(p: dict) -> Cost:
    cost = case_cost(eta=p["eta"], B=p["B"], d=p["d"], N=p["N"], cs=p["cs"],
                     repetitions=p["repetitions"], replicas=p["replicas"],
                     brute_replicas=p["brute_replicas"], brute_steps=p["brute_steps"])
    return Cost(cost.memory, cost.seconds, "N, d, cs, repetitions, replicas, brute_steps")


@experiment("rare-first-passage-linreg",
            description="t_p(c) of SGD on linear regression at any (eta, B, d, N, cs), by "
                        "splitting on log L; N = 0: online",
            presets=RARE_PRESETS,
            measured=("decades_min", "brute_z_max", "cost", "slope_rare"),
            theory=("slope_eq15", "slope_kesten"),
            tables=TABLES,
            arrays=(),
            fields=FIELDS,
            checks=dict(N=">=0", cs=">1 increasing", data_seed="seed",
                        importance=("auto", "off")),
            cost=_cost,
            validate=_validate)
def run_rare(p: dict, rng: np.random.Generator) -> Outcome:
    case = linreg_first_passage_case(
        eta=p["eta"], B=p["B"], d=p["d"], N=p["N"], cs=p["cs"], seed=int(rng.integers(2**31)),
        data_seed=p["data_seed"],
        estimator=dict(repetitions=p["repetitions"], replicas=p["replicas"]),
        importance=p["importance"],
        brute_replicas=p["brute_replicas"], brute_steps=p["brute_steps"])
    return collect_cases([case], Outcome())
