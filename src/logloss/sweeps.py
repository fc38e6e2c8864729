"""Parameter sweeps: many independent, seeded runs of one experiment, in parallel.

A sweep is the product of a grid of parameter values with a number of seeds.  Each point
is one task: :func:`logloss.run_experiment` with its overrides and its own seed.  The
seeds are spawned from one :class:`numpy.random.SeedSequence` (the sweep's ``seed``), one
child per task in grid order, so a task's result does not depend on the order or the
place in which it runs.  Tasks run through joblib on one machine (``jobs``), or on a
Dask cluster through joblib's ``dask`` backend (``scheduler``: the address of a running
``dask.distributed`` scheduler).  No job system is written here.

With ``out``, each finished task is stored in ``out/tasks/<key>/`` (its summary, arrays
and ``task.json``, which records the key), where the key hashes the experiment, scale,
parameters, seed and the package's code; tasks already stored are loaded instead of run,
so an interrupted sweep resumes where it stopped and a finished one is never recomputed.
A stored task that cannot be used (a truncated or altered file, or a folder that records
another key or another task) is reported in a one-line warning naming the file, and run
again.

Every point of the grid is checked before any work (its parameters, their cross rules and
its estimated memory and time, :meth:`~logloss.experiments.Experiment.params`); with
``jobs`` workers, that many runs must fit in memory at once.  ``jobs`` is capped at the
CPU cores this process may use and at the number of tasks.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .core.cache import cache_key
from .core.device import resolve_device
from .core.errors import InvalidInput
from .core.measured import Measured
from .core.resources import check_fits, usable_cpus
from .core.scales import resolve_scale
from .core.validation import check_seed
from .experiments.result import Result, display_run_record, jsonable
from .experiments.run import announce, run_experiment
from .experiments.spec import get_experiment

__all__ = ["run_experiments", "sweep_tasks", "sweep", "worker_count"]


def sweep_tasks(name: str, grid: Mapping[str, Sequence[Any]], *, seeds: int = 1, seed: int = 0,
                scale: str | None = None) -> list[dict[str, Any]]:
    """The tasks of a sweep, in grid order: ``{"name", "scale", "seed", "overrides"}``.

    Parameters
    ----------
    name : str
        A registered experiment.
    grid : mapping of str to sequence
        Parameter values to cross (every combination is a point).
    seeds : int
        Independent seeds per grid point.
    seed : int
        The sweep's master seed; task i gets the i-th child of ``SeedSequence(seed)``.
    scale : str, optional
        The experiment scale (default ``$LOGLOSS_SCALE`` or ``book``).
    """
    exp = get_experiment(name)
    scale = resolve_scale(scale)
    if int(seeds) != seeds or seeds < 1:
        raise InvalidInput(f"seeds per point must be an integer >= 1, got {seeds!r}")
    keys = list(grid)
    for k in keys:
        if not isinstance(grid[k], (list, tuple)) or not grid[k]:
            raise InvalidInput(f"sweep grid entry {k!r} must be a non-empty list of values")
    points = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    for point in points:  # every point's parameters and cross rules, before any work
        exp.params(scale, point)
    children = np.random.SeedSequence(int(seed)).spawn(len(points) * int(seeds))
    tasks = []
    for i, (point, rep) in enumerate(itertools.product(points, range(int(seeds)))):
        task_seed = int(children[i].generate_state(1, dtype=np.uint32)[0])
        tasks.append(dict(name=name, scale=scale, seed=task_seed, overrides=point, replicate=rep))
    return tasks


def _task_key(task: Mapping[str, Any]) -> str:
    exp = get_experiment(task["name"])
    params = exp.params(task["scale"], task["overrides"])
    return cache_key(f"sweep-{task['name']}", dict(scale=task["scale"], seed=task["seed"],
                                                   params=params))


def _store(result: Result, folder: Path) -> None:
    """Write the task's summary, arrays and key atomically (a folder renamed into place)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    np.savez_compressed(tmp / "arrays.npz", **result.arrays)
    (tmp / "summary.json").write_text(json.dumps(result.summary(), allow_nan=False))
    (tmp / "task.json").write_text(json.dumps({"key": folder.name}))
    shutil.rmtree(folder, ignore_errors=True)  # an unusable stored task, replaced
    os.replace(tmp, folder)


def _result(s: Mapping[str, Any], task: Mapping[str, Any]) -> Result:
    """The :class:`Result` of a stored summary (without its arrays); ``ValueError`` if it
    is the summary of another task."""
    exp = get_experiment(task["name"])
    params = jsonable(exp.params(task["scale"], task["overrides"]))
    if (s["experiment"], s["scale"], s["seed"], s["params"]) != \
            (task["name"], task["scale"], task["seed"], params):
        raise ValueError("it is the summary of another task")

    def num(v):
        return float("nan") if v is None else float(v)

    return Result(
        measured={k: Measured(num(v["value"]), num(v["stderr"])) for k, v in s["measured"].items()},
        theory={k: num(v) for k, v in s["theory"].items()},
        reference={k: num(v) for k, v in s["reference"].items()},
        tables=dict(s["tables"]), notes=list(s["notes"]), device=str(s["device"]),
        name=s["experiment"], scale=s["scale"], seed=s["seed"], params=s["params"],
        wall_time_s=float(s["wall_time_s"]), cpu_time_s=float(s.get("cpu_time_s", 0.0)),
        date=str(s.get("date", "")))


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:  # closed on failure too
        return {k: z[k] for k in z.files}


def _load(folder: Path, task: Mapping[str, Any]) -> Result:
    """The stored result of ``task`` in ``folder``; ``ValueError`` naming the file that
    cannot be used and why (truncated, altered, or the record of another task)."""
    def read(name, parse):
        try:
            return parse(folder / name)
        except (OSError, ValueError, KeyError, TypeError, AttributeError,
                zipfile.BadZipFile) as exc:
            why = " ".join(str(exc).split())
            why = why if why.startswith("it ") else f"{type(exc).__name__}: {why}"
            raise ValueError(f"stored sweep task {folder / name} is unusable ({why})") from None

    def key(path):
        recorded = json.loads(path.read_text())["key"]
        if recorded != folder.name:
            raise ValueError(f"it records the key {recorded!r}, not its folder's")

    read("task.json", key)
    result = read("summary.json", lambda path: _result(json.loads(path.read_text()), task))
    result.arrays = read("arrays.npz", _arrays)
    return result


def _run_task(task: Mapping[str, Any], out: str | None, device: str = "cpu") -> Result:
    folder = Path(out) / "tasks" / _task_key(task) if out else None
    if folder is not None and folder.exists():
        try:
            return _load(folder, task)
        except ValueError as exc:
            warnings.warn(f"{exc}; running the task again (its result replaces the folder)",
                          RuntimeWarning, stacklevel=2)
    result = run_experiment(task["name"], task["scale"], seed=task["seed"], verbose=False,
                            device=device, **task["overrides"])
    if folder is not None:
        _store(result, folder)
    return result


def worker_count(jobs: int, tasks: int) -> int:
    """The parallel workers a sweep of ``tasks`` tasks uses when ``jobs`` are asked for:
    at most the CPU cores this process may use, and at most one per task."""
    if isinstance(jobs, bool) or int(jobs) != jobs or jobs < 1:
        raise InvalidInput(f"jobs must be an integer >= 1, got {jobs!r}")
    return max(1, min(int(jobs), usable_cpus(), int(tasks)))


def sweep(name: str, grid: Mapping[str, Sequence[Any]], *, seeds: int = 1, seed: int = 0,
          scale: str | None = None, jobs: int = 1, scheduler: str | None = None,
          out: str | Path | None = None, device: str = "auto") -> list[Result]:
    """Run every task of :func:`sweep_tasks` and return their results in grid order.

    Parameters
    ----------
    name, grid, seeds, seed, scale
        As in :func:`sweep_tasks`.
    jobs : int
        Parallel workers on this machine (joblib, ``loky`` processes); 1 runs serially.
        Capped at :func:`worker_count` (the CPU cores, and the number of tasks).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler (``tcp://host:8786``): the tasks run
        on that cluster through joblib's ``dask`` backend (``jobs`` is then ignored).
    out : path, optional
        Folder for per-task results; finished tasks found there are not run again.
    device : {"auto", "cpu", "cuda", "cuda:K"}
        Where the torch experiments compute, resolved here (on a cluster, every worker
        must have that device).

    Notes
    -----
    The result of a task depends only on its experiment, scale, parameters and seed, so
    a sweep gives the same results serially, with ``jobs > 1`` or on a cluster.
    """
    import joblib

    worker_count(jobs, 1)  # a bad jobs value fails before anything else
    tasks = sweep_tasks(name, grid, seeds=seeds, seed=seed, scale=scale)
    jobs = worker_count(jobs, len(tasks))
    exp = get_experiment(name)
    if jobs > 1 and not scheduler:  # that many runs share this machine's memory
        for task in tasks:
            check_fits(exp.estimate(exp.params(task["scale"], task["overrides"])),
                       f"{name} with {jobs} parallel workers", copies=jobs)
    device = resolve_device(device)
    out_s = None
    if out is not None:
        out_p = Path(out)
        if out_p.exists() and not out_p.is_dir():
            raise InvalidInput(f"sweep output {out_p} exists and is not a folder")
        out_p.mkdir(parents=True, exist_ok=True)
        out_s = str(out_p)
    calls = (joblib.delayed(_run_task)(t, out_s, device) for t in tasks)
    if scheduler:
        from dask.distributed import Client

        with Client(scheduler), joblib.parallel_backend("dask"):
            return list(joblib.Parallel()(calls))
    if jobs == 1:
        return [_run_task(t, out_s, device) for t in tasks]
    return list(joblib.Parallel(n_jobs=int(jobs), backend="loky")(calls))


def run_experiments(names: Sequence[str], *, scale: str | None = None, seed: int = 0,
                    jobs: int | None = None, device: str = "auto",
                    verbose: bool = True) -> dict[str, Result]:
    """Run several experiments, each at its preset, side by side on this machine's cores.

    Each result is that of ``run_experiment(name, scale, seed=seed, device=device)``: the
    runs share nothing, so their order and place do not matter.  A page that needs several
    experiments makes them in one call, in about the time of the longest when the others
    fit beside it.

    Parameters
    ----------
    names : sequence of str
        Registered experiments, each once.
    scale : str, optional
        The scale of every run (default ``$LOGLOSS_SCALE`` or ``book``).
    seed : int
        The seed of every run, as in :func:`~logloss.experiments.run.run_experiment`.
    jobs : int, optional
        Parallel workers (joblib, ``loky`` processes); default one per CPU core this
        process may use, and never more than the runs.  1 runs them here, one after another.
    device : {"auto", "cpu", "cuda", "cuda:K"}
        Where the torch experiments compute.
    verbose : bool
        Print each run's line and notes, as :func:`run_experiment` does, in the order of
        ``names``.

    Returns
    -------
    dict of str to Result
        The results, keyed and ordered by ``names``.

    Notes
    -----
    A worker runs torch on ``cores // jobs`` threads (joblib's limit for its workers, so
    that the workers do not oversubscribe the cores); the sums inside a torch operation
    may then be added in another order than in this process, which can change the last
    bits of a torch experiment's values.  The numba experiments are bitwise the same.
    """
    import joblib

    if isinstance(names, str):
        raise InvalidInput(f"names must be a list of experiment names, got the string {names!r}")
    names = list(names)
    if not names or len(set(names)) != len(names):
        raise InvalidInput(f"names must list each experiment once, got {names!r}")
    scale, seed = resolve_scale(scale), check_seed(seed)
    jobs = worker_count(usable_cpus() if jobs is None else jobs, len(names))
    tasks = []
    for name in names:  # every run's parameters (and memory, beside the others) first
        exp = get_experiment(name)
        params = exp.params(scale, {})
        if jobs > 1:
            check_fits(exp.estimate(params), f"{name} beside {jobs - 1} other run(s)",
                       copies=jobs)
        tasks.append(dict(name=name, scale=scale, seed=seed, overrides={}))
    device = resolve_device(device)
    if jobs == 1:
        results = [_run_task(t, None, device) for t in tasks]
    else:
        results = joblib.Parallel(n_jobs=jobs, backend="loky")(
            joblib.delayed(_run_task)(t, None, device) for t in tasks)
    for result in results:
        if verbose:
            announce(result)
        if jobs > 1:  # a run in this process has displayed its record already
            display_run_record(result)
    return dict(zip(names, results))
