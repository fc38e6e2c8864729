"""What a run returns: :class:`Outcome` (from the experiment), :class:`Result` (with the
run's provenance), :class:`RunContext` (what a run hands to an experiment that declares
``ctx``) and the run record the book's status and report pages read (:func:`run_record`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoint import UnitStore
from ..core.gitstate import git_state
from ..core.measured import Measured, json_float

__all__ = ["Outcome", "Result", "RunContext", "RUN_MIME", "run_record", "jsonable",
           "takes_context", "where", "package_git_state", "display_run_record"]


@dataclasses.dataclass
class Outcome:
    """What an experiment function returns.

    Attributes
    ----------
    measured : dict of str to Measured
        Measured values with their standard errors.
    theory : dict of str to float
        The predictions they are compared with (closed forms, quadratures).
    reference : dict of str to float
        What the paper reports (its measurements, for example λ₁ = 95.6), kept apart
        from theory.
    arrays : dict of str to ndarray
        Raw arrays (curves, samples, spectra), saved to ``arrays.npz``.
    tables : dict of str to list of dict
        Small tables (for example one row per learning rate) kept in the JSON summary.
    notes : list of str
        Remarks the reader must see (substituted datasets, censored runs, ...).
    device : str
        Where the computation ran (``"cpu"``, ``"cuda:0"``, ...), as the experiment saw it.
    """

    measured: dict[str, Measured] = dataclasses.field(default_factory=dict)
    theory: dict[str, float] = dataclasses.field(default_factory=dict)
    reference: dict[str, float] = dataclasses.field(default_factory=dict)
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    device: str = "cpu"


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What :func:`run_experiment` hands to an experiment that declares ``ctx``.

    Attributes
    ----------
    device : str
        The torch device to compute on, already resolved (``"cpu"``, ``"cuda:0"``).
    store : UnitStore
        Finished units of work of this run; ``UnitStore(None)`` (stores nothing) unless
        the run has an output folder.
    """

    device: str = "cpu"
    store: UnitStore = dataclasses.field(default_factory=lambda: UnitStore(None))


def takes_context(fn: Callable) -> bool:
    """Whether the experiment function ``fn`` declares the ``ctx`` parameter."""
    return "ctx" in inspect.signature(fn).parameters


@dataclasses.dataclass
class Result(Outcome):
    """An :class:`Outcome` with the provenance of the run that produced it."""

    name: str = ""
    scale: str = ""
    seed: int = 0
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    wall_time_s: float = 0.0
    cpu_time_s: float = 0.0
    date: str = ""

    def summary(self) -> dict[str, Any]:
        """The JSON-able record of the run (stable keys; see the README)."""
        from ..core.version import __version__

        commit, dirty = package_git_state()
        return {
            "experiment": self.name,
            "scale": self.scale,
            "seed": self.seed,
            "params": self.params,
            "measured": {k: v.as_dict() for k, v in self.measured.items()},
            "theory": {k: json_float(v) for k, v in self.theory.items()},
            "reference": {k: json_float(v) for k, v in self.reference.items()},
            "tables": jsonable(self.tables),
            "notes": list(self.notes),
            "device": self.device,
            "wall_time_s": round(self.wall_time_s, 3),
            "cpu_time_s": round(self.cpu_time_s, 3),
            "date": self.date,
            "version": __version__,
            "git_commit": commit,
            "git_dirty": dirty,
            "python": platform.python_version(),
            "torch": torch.__version__,
        }


#: MIME type of the run record that :func:`run_experiment` displays inside IPython.  The
#: book's status page reads it from the executed notebooks; renderers that do not know it
#: (the HTML book, JupyterLab) show nothing.
RUN_MIME = "application/vnd.logloss.run+json"


def run_record(result: Result) -> dict[str, Any]:
    """The structured record of one run: experiment, scale, seed, wall time and machine,
    its ``measured``, ``theory`` and ``reference`` values and its tables (read by the book's
    status and reproduction-report pages, so that they never run an experiment twice; the
    report's standards take their degrees of freedom from the tables)."""
    return {"experiment": result.name, "scale": result.scale, "seed": result.seed,
            "wall_time_s": round(result.wall_time_s, 3), "device": result.device,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(), "python": platform.python_version(),
            "date": result.date,
            "measured": {k: v.as_dict() for k, v in result.measured.items()},
            "theory": {k: json_float(v) for k, v in result.theory.items()},
            "reference": {k: json_float(v) for k, v in result.reference.items()},
            "tables": jsonable(result.tables)}


def display_run_record(result: Result) -> None:
    """Display :func:`run_record` as a :data:`RUN_MIME` bundle when running in a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book only
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from IPython.display import display

    display({RUN_MIME: run_record(result)}, raw=True)


def where(device: str) -> str:
    """Where the run happened, as precisely as this process knows it.

    The experiment says where it computed (``Outcome.device``); a GPU is named, the CPU is
    described by its architecture, its core
    count and the threads torch and numba used.
    """
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device != "cpu":
        return device
    import numba

    return (f"cpu ({platform.machine()}, {os.cpu_count()} cores; torch {torch.get_num_threads()} "
            f"threads, numba {numba.get_num_threads()} threads)")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python numbers and lists, tuples as lists,
    keys as strings and non-finite floats as None (:func:`~logloss.core.measured.json_float`):
    what ``json.dumps(..., allow_nan=False)`` accepts."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_float(obj)
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    return obj


def package_git_state() -> tuple[str | None, bool | None]:
    """The commit of the package's own source checkout and whether it has uncommitted
    changes, read from its git files (:func:`logloss.core.gitstate.git_state`): git is
    never run, so no repository configuration is ever acted on."""
    return git_state(Path(__file__).resolve().parents[1])
