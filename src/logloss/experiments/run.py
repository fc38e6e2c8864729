"""Running a registered experiment: :func:`run_experiment`."""

from __future__ import annotations

import dataclasses
import datetime
import time
from typing import Any

import numpy as np
import torch

from ..core.checkpoint import UnitStore
from ..core.device import resolve_device
from ..core.errors import InvalidInput
from ..core.scales import resolve_scale
from ..core.validation import check_seed
from .params import Params
from .result import Outcome, Result, RunContext, display_run_record, takes_context, where
from .spec import get_experiment

__all__ = ["announce", "run_experiment"]


def run_experiment(
    name: str,
    scale: str | None = None,
    *,
    seed: int = 0,
    verbose: bool = True,
    device: str = "auto",
    store: UnitStore | None = None,
    params: Params | None = None,
    **overrides: Any,
) -> Result:
    """Run one experiment and return its :class:`~logloss.experiments.result.Result`.

    Parameters
    ----------
    name : str
        A registered experiment (see :func:`~logloss.experiments.spec.list_experiments`).
    scale : {"smoke", "book", "paper"} or None
        ``None`` reads ``$LOGLOSS_SCALE`` and defaults to ``"book"``.
    seed : int
        Seeds numpy's generator passed to the experiment and torch's global generator.
    verbose : bool
        Print one line saying which experiment ran at which scale.
    device : {"auto", "cpu", "cuda", "cuda:K"}
        Where the torch experiments compute (:func:`logloss.core.device.resolve_device`;
        ``"auto"`` is a GPU when torch sees one).  Experiments built on the numba kernels
        always run on the CPU; ``Result.device`` says where the run really computed.
    store : UnitStore, optional
        Finished units of this run (see :mod:`logloss.core.checkpoint`): experiments that
        resume read their done units from it and add each new one.  The caller makes sure
        it belongs to the same experiment, parameters, seed and code
        (:func:`logloss.runs.open_run` does).
    params : Params, optional
        Parameters already converted and checked by
        :meth:`~logloss.experiments.spec.Experiment.params` for this experiment and scale
        (the command line does so once): taken as they are, with no ``overrides``.
    **overrides
        Parameters that replace the preset values; unknown names raise ``ValueError``.
    """
    exp = get_experiment(name)
    scale = resolve_scale(scale)
    seed = check_seed(seed)
    if params is None:
        params = exp.params(scale, overrides)
    elif overrides or not isinstance(params, Params) or (params.experiment, params.scale) != \
            (name, scale):
        raise InvalidInput(f"params= must be the checked parameters of {name!r} at scale "
                           f"{scale!r} (Experiment.params), given without overrides")
    device = resolve_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start, cpu_start = time.perf_counter(), time.process_time()
    if takes_context(exp.fn):
        outcome = exp.fn(params, rng, ctx=RunContext(device, store or UnitStore(None)))
    else:
        outcome = exp.fn(params, rng)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    exp.check(outcome)
    if outcome.device != device:
        outcome.notes.append(f"device {device} was asked for; this experiment computed on "
                             f"{outcome.device}")
    fields = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(Outcome)}
    fields["device"] = where(outcome.device)
    result = Result(**fields, name=name, scale=scale, seed=seed, params=dict(params),
                    wall_time_s=wall, cpu_time_s=cpu, date=date)
    if verbose:
        announce(result)
    display_run_record(result)
    return result


def announce(result: Result) -> None:
    """Print the line that says which experiment ran at which scale, and its notes."""
    print(f"[logloss] {result.name}: scale={result.scale}, seed={result.seed}, "
          f"{result.wall_time_s:.1f} s")
    for note in result.notes:
        print(f"[logloss] note: {note}")
