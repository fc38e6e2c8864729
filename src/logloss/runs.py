"""Run folders: ``run.json``, ``units/``, then ``summary.json``, ``arrays.npz``,
``figure.png`` and, last, ``complete.json``.

A run folder is opened with :func:`open_run` before any work: it writes the folder's
manifest ``run.json`` (experiment, scale, seed, every parameter, and the digest of the
package's code) and returns the :class:`~logloss.core.checkpoint.UnitStore` ``units/``
in which the experiment keeps each finished unit of work.  Opening a folder that already
holds the manifest of the same run *resumes* it: the stored units are read back, not
recomputed.  A manifest that differs (another experiment, scale, seed, parameter or
code) is a one-line :class:`~logloss.core.errors.InvalidInput` naming the difference.

:func:`save_run` writes the results, each file atomically (a temporary file renamed into
place), ``complete.json`` last: a folder that has ``complete.json`` is a whole run.  A
complete run is never replaced silently: only with ``overwrite=True`` (``--force``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .core.cache import source_digest
from .core.checkpoint import UnitStore
from .core.errors import InvalidInput
from .core.version import __version__
from .display.figures import plot
from .experiments.result import Result, jsonable

__all__ = ["save_run", "prepare_out", "open_run", "run_manifest", "run_scope", "compare_summaries",
           "COMPLETE", "MANIFEST", "UNITS", "ROUNDING"]

#: The completion marker, written last.
COMPLETE = "complete.json"
#: What the folder is a run of, written first.
MANIFEST = "run.json"
#: The folder of finished units of work.
UNITS = "units"
#: A declared criterion, not a statistic: two values of a re-made run with no standard error
#: to judge them by count as the same number when they differ by at most this relative
#: amount, rounding (the torch experiments compute in float32, whose resolution is 1.2e-7,
#: and threaded sums are reordered from run to run).
ROUNDING = 1e-6


def run_manifest(name: str, scale: str, seed: int, params: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a run: experiment, scale, seed, parameters and the code's digest."""
    return {"experiment": name, "scale": scale, "seed": int(seed), "params": jsonable(dict(params)),
            "version": __version__, "code": source_digest()}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    diffs = []
    for key in new:
        if key == "params":
            for p in sorted(set(old.get("params", {})) | set(new["params"])):
                a, b = old.get("params", {}).get(p), new["params"].get(p)
                if a != b:
                    diffs.append(f"{p}={a!r} there, {b!r} now")
        elif old.get(key) != new[key]:
            what = "the code (sources of logloss) changed" if key == "code" else \
                f"{key} {old.get(key)!r} there, {new[key]!r} now"
            diffs.append(what)
    return diffs


def prepare_out(out: str | Path, *, overwrite: bool = False,
                manifest: Mapping[str, Any] | None = None) -> Path:
    """Check, before any work, that a run can be written in the folder ``out``.

    The folder's parent is created; ``out`` itself may be absent, empty, an unfinished
    run with the same ``manifest`` (it resumes), or (with ``overwrite``) any previous run.
    Anything else is a one-line :class:`~logloss.core.errors.InvalidInput`.
    """
    out = Path(out).expanduser()
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"is under the file {parent}"
            raise InvalidInput(f"--out {out} {where}; give a folder path")
    if out.is_dir() and any(out.iterdir()):
        if (out / COMPLETE).exists():
            if not overwrite:
                raise InvalidInput(f"--out {out} already holds a complete run; pass --force to "
                                   "replace it, or choose another --out")
        elif not (out / MANIFEST).is_file():
            raise InvalidInput(f"--out {out} is a non-empty folder that is not a logloss run; "
                               "choose an empty or new folder")
        elif manifest is not None and not overwrite:
            old = _read_manifest(out)
            if old is None:
                raise InvalidInput(f"--out {out}: its {MANIFEST} cannot be read; choose another "
                                   "--out or pass --force to start afresh")
            diffs = _differences(old, manifest)
            if diffs:
                raise InvalidInput(f"--out {out} holds an unfinished run of something else "
                                   f"({'; '.join(diffs)}); resume it with the same settings, "
                                   "choose another --out, or pass --force to start afresh")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.check-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot write in {out.parent} ({exc.strerror}); "
                           "choose a writable folder") from None
    return out


#: What a manifest holds, and the JSON type of each entry.
_MANIFEST_KEYS = {"experiment": str, "scale": str, "seed": int, "params": dict, "version": str,
                  "code": str}


def _read_manifest(out: Path) -> dict[str, Any] | None:
    """The folder's manifest, or ``None`` if it cannot be read as one (not JSON, or not an
    object with the keys and types :func:`run_manifest` writes)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not (isinstance(manifest, dict) and set(manifest) == set(_MANIFEST_KEYS)
            and all(isinstance(manifest[k], t) for k, t in _MANIFEST_KEYS.items())):
        return None
    return manifest


def run_scope(manifest: Mapping[str, Any]) -> str:
    """A digest of the run's identity (its manifest), recorded in each of its units."""
    return hashlib.sha256(json.dumps(dict(manifest), sort_keys=True).encode()).hexdigest()[:20]


def _write_atomic(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file next to ``path``, then rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_json(path: Path, value: Any) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2) + "\n"))


def open_run(out: str | Path, manifest: Mapping[str, Any], *, overwrite: bool = False) -> UnitStore:
    """Open the run folder ``out`` for the run ``manifest`` (:func:`run_manifest`).

    A new or empty folder gets the manifest; an unfinished run with the same manifest is
    resumed (its stored units are returned); with ``overwrite`` a previous run's units
    and completion marker are removed first, so the run starts afresh.

    Returns
    -------
    UnitStore
        ``out/units``, handed to :func:`logloss.run_experiment` as ``store``.
    """
    out = prepare_out(out, overwrite=overwrite, manifest=manifest)
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (out / COMPLETE).unlink(missing_ok=True)
        shutil.rmtree(out / UNITS, ignore_errors=True)
    if overwrite or not (out / MANIFEST).is_file():
        _write_json(out / MANIFEST, dict(manifest))
    return UnitStore(out / UNITS, scope=run_scope(manifest))


def save_run(result: Result, out: str | Path, *, dpi: int = 200, overwrite: bool = False) -> Path:
    """Write ``result``'s summary, arrays and figure into the folder ``out``, atomically.

    ``out`` may be new, or the folder :func:`open_run` opened for this same run.  Raises
    :class:`~logloss.core.errors.InvalidInput` if ``out`` holds a complete run and
    ``overwrite`` is false, holds an unfinished run of something else, or cannot be
    written.
    """
    import matplotlib.pyplot as plt

    manifest = run_manifest(result.name, result.scale, result.seed, result.params)
    out = prepare_out(out, overwrite=overwrite, manifest=manifest)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        summary = result.summary()
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        np.savez_compressed(tmp / "arrays.npz", **result.arrays)
        fig = plot(result)
        try:
            fig.savefig(tmp / "figure.png", dpi=dpi)
        finally:
            plt.close(fig)
        files = ["summary.json", "arrays.npz", "figure.png"]
        if out.is_dir():  # an opened (or, with overwrite, a finished) run: file by file
            (out / COMPLETE).unlink(missing_ok=True)
            if overwrite and _read_manifest(out) != manifest:  # another run's units
                shutil.rmtree(out / UNITS, ignore_errors=True)
            for name in files:
                os.replace(tmp / name, out / name)
            _write_json(out / MANIFEST, manifest)
        else:
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            os.replace(tmp, out)
        _write_json(out / COMPLETE, {"experiment": summary["experiment"], "files": files})
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _number(x: Any) -> float:
    return math.nan if x is None else float(x)


def compare_summaries(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each measured value of two run summaries side by side, and how far apart they are.

    Parameters
    ----------
    stored, new : mapping
        Run summaries (:meth:`logloss.Result.summary`, or ``summary.json`` read back); each
        ``measured`` entry has ``value`` and ``stderr`` (None where not finite).

    Returns
    -------
    list of dict
        One per measured key of either summary: ``key``, ``stored`` and ``new`` (the
        ``{"value", "stderr"}`` entries, None where a summary lacks the key),
        ``identical`` (value and standard error bitwise equal, as JSON stores them) and
        ``z`` = (new − stored) / √(s.e.² + s.e.²), the difference in combined standard
        errors: 0 when identical, None when the values differ and there is no finite,
        positive combined standard error to measure it with (or a summary lacks the key);
        and ``relative`` = |new − stored| / max(|new|, |stored|), None where it is not
        finite (compare it with :data:`ROUNDING` where there is no standard error).
    """
    # as JSON stores them: a summary made now and one read back compare alike
    a, b = (json.loads(json.dumps(dict(x["measured"]))) for x in (stored, new))
    rows = []
    for key in dict.fromkeys([*a, *b]):
        old, now = a.get(key), b.get(key)
        identical = old is not None and old == now
        z = relative = 0.0 if identical else None
        if not identical and old is not None and now is not None:
            combined = math.hypot(_number(old["stderr"]), _number(now["stderr"]))
            diff = _number(now["value"]) - _number(old["value"])
            size = max(abs(_number(now["value"])), abs(_number(old["value"])))
            if old["value"] == now["value"]:
                z = relative = 0.0  # the same value, a different standard error
            elif math.isfinite(diff):
                relative = abs(diff) / size
                if math.isfinite(combined) and combined > 0:
                    z = diff / combined
        rows.append({"key": key, "stored": old, "new": now, "identical": identical, "z": z,
                     "relative": relative})
    return rows
