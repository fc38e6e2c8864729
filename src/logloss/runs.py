"""Saving a run: ``summary.json``, ``arrays.npz``, ``figure.png`` and ``complete.json`` in one folder.

A run is written into a hidden temporary sibling of its folder and renamed into place
at the end, with ``complete.json`` written last: a folder that has ``complete.json`` is a
whole run, and an interrupted or failed save leaves no folder that looks complete.  An
existing complete run is replaced only with ``overwrite=True`` (``--force``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .core.errors import InvalidInput
from .display.figures import plot
from .experiments._registry import Result

__all__ = ["save_run", "prepare_out", "COMPLETE"]

#: The completion marker, written last.
COMPLETE = "complete.json"


def prepare_out(out: str | Path, *, overwrite: bool = False) -> Path:
    """Check, before any work, that a run can be saved in the folder ``out``.

    The folder's parent is created; ``out`` itself may be absent, empty, or (with
    ``overwrite``) a previous run.  Anything else is a one-line
    :class:`~logloss.core.errors.InvalidInput`.
    """
    out = Path(out).expanduser()
    for parent in [out, *out.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == out else f"is under the file {parent}"
            raise InvalidInput(f"--out {out} {where}; give a folder path")
    if out.is_dir() and any(out.iterdir()):
        if not (out / COMPLETE).exists():
            raise InvalidInput(f"--out {out} is a non-empty folder that is not a logloss run; "
                               "choose an empty or new folder")
        if not overwrite:
            raise InvalidInput(f"--out {out} already holds a complete run; pass --force to "
                               "replace it, or choose another --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.check-"):
            pass
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot write in {out.parent} ({exc.strerror}); "
                           "choose a writable folder") from None
    return out


def save_run(result: Result, out: str | Path, *, dpi: int = 200, overwrite: bool = False) -> Path:
    """Write ``result``'s summary, arrays and figure into the folder ``out``, atomically.

    Raises :class:`~logloss.core.errors.InvalidInput` if ``out`` holds a complete run and
    ``overwrite`` is false, or if it cannot be written.
    """
    import matplotlib.pyplot as plt

    out = prepare_out(out, overwrite=overwrite)
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
        (tmp / COMPLETE).write_text(json.dumps(
            {"experiment": summary["experiment"], "files": ["summary.json", "arrays.npz",
                                                            "figure.png"]}) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "run")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
