"""Parameter sweeps: many independent, seeded runs of one experiment, in parallel.

A sweep is the product of a grid of parameter values with a number of seeds.  Each point
is one task: :func:`logloss.run_experiment` with its overrides and its own seed.  The
seeds are spawned from one :class:`numpy.random.SeedSequence` (the sweep's ``seed``), one
child per task in grid order, so a task's result does not depend on the order or the
place in which it runs.  Tasks run through joblib on one machine (``jobs``), or on a
Dask cluster through joblib's ``dask`` backend (``scheduler``: the address of a running
``dask.distributed`` scheduler).  No job system is written here.

With ``out``, each finished task is stored in ``out/tasks/<key>/`` (its summary and
arrays), where the key hashes the experiment, scale, parameters, seed and the package's
code; tasks already stored are loaded instead of run, so an interrupted sweep resumes
where it stopped and a finished one is never recomputed.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .core.cache import cache_key
from .core.device import resolve_device
from .core.errors import InvalidInput
from .core.measured import Measured
from .core.scales import resolve_scale
from .experiments._registry import Result, get_experiment, run_experiment

__all__ = ["sweep_tasks", "sweep"]


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
    exp.params(scale, points[0])  # unknown parameters fail here, before any work
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
    """Write the task's summary and arrays atomically (a folder renamed into place)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    np.savez_compressed(tmp / "arrays.npz", **result.arrays)
    (tmp / "summary.json").write_text(json.dumps(result.summary(), allow_nan=False))
    os.replace(tmp, folder)


def _load(folder: Path) -> Result:
    s = json.loads((folder / "summary.json").read_text())
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    nan = float("nan")

    def num(v):
        return nan if v is None else float(v)

    return Result(
        measured={k: Measured(num(v["value"]), num(v["stderr"])) for k, v in s["measured"].items()},
        theory={k: num(v) for k, v in s["theory"].items()},
        reference={k: num(v) for k, v in s["reference"].items()},
        arrays=arrays, tables=s["tables"], notes=s["notes"], device=s["device"],
        name=s["experiment"], scale=s["scale"], seed=s["seed"], params=s["params"],
        wall_time_s=s["wall_time_s"], cpu_time_s=s.get("cpu_time_s", 0.0), date=s.get("date", ""))


def _run_task(task: Mapping[str, Any], out: str | None, device: str = "cpu") -> Result:
    folder = Path(out) / "tasks" / _task_key(task) if out else None
    if folder is not None and (folder / "summary.json").is_file():
        return _load(folder)
    result = run_experiment(task["name"], task["scale"], seed=task["seed"], verbose=False,
                            device=device, **task["overrides"])
    if folder is not None:
        _store(result, folder)
    return result


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

    if int(jobs) != jobs or jobs < 1:
        raise InvalidInput(f"jobs must be an integer >= 1, got {jobs!r}")
    tasks = sweep_tasks(name, grid, seeds=seeds, seed=seed, scale=scale)
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
