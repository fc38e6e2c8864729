"""Experiments: one code path for the chapters and the command line.

The public API, by what it does:

- :mod:`.spec`: :class:`Experiment`, the :func:`experiment` decorator, :func:`variant` and
  the registry (:func:`get_experiment`, :func:`list_experiments`);
- :mod:`.params`: a parameter's declaration (:class:`Param`), checked values
  (:class:`Params`), the conversion of command-line strings (:func:`coerce`) and the rules
  (:func:`check_param`);
- :mod:`.result`: :class:`Outcome` (what an experiment returns), :class:`Result` (with the
  run's provenance), :class:`RunContext` and the run record (:func:`run_record`);
- :mod:`.run`: :func:`run_experiment`.

Every other public module is one registered experiment, named after it (``-`` becomes
``_``), discovered by :func:`list_experiments`; private helpers shared by several
experiments live in ``_shared.py``, ``_barrier.py`` and ``_cost.py``.  An experiment that
computes with torch, or that can resume, declares a third parameter ``ctx`` and receives a
:class:`RunContext`: ``ctx.device``, the torch device to put its tensors on, and
``ctx.store``, a :class:`~logloss.core.checkpoint.UnitStore` in which it keeps each finished
unit of work so that a killed run resumes.  Figures live one layer up, in
:mod:`logloss.display.figures`.
"""

from ..core.measured import Measured
from .params import Param, Params, check_param, coerce
from .result import RUN_MIME, Outcome, Result, RunContext, jsonable, run_record
from .run import run_experiment
from .spec import Experiment, experiment, get_experiment, list_experiments, variant

__all__ = ["Measured", "Param", "Params", "check_param", "coerce", "RUN_MIME", "Outcome",
           "Result", "RunContext", "jsonable", "run_record", "run_experiment", "Experiment",
           "experiment", "get_experiment", "list_experiments", "variant"]
