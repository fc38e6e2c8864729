"""Finished units of work of one run, one file each, so that a killed run resumes.

A long run is cut by its experiment into *units* whose results do not depend on the order
in which they run: a point (η, B) of a sweep, one dimension d of a first-passage scan, a
block of pretraining steps.  Each finished unit is stored at once in its own file of a
:class:`UnitStore` (written atomically, checksummed, read without unpickling, like the
cache entries of :mod:`logloss.core.cache`); when the run is started again on the same
store, the stored units are read back instead of recomputed.  Whether a store belongs to
the same experiment, parameters, seed and code is checked by whoever opens it (the run
folder's manifest, :mod:`logloss.runs`; the cache key, for pretraining), who gives the
store a ``scope`` (a digest of that identity): every unit records ``scope/key``, and a
unit file copied from another run, or renamed to another unit, is refused (reported,
deleted and recomputed), as is a unit whose value does not have the structure the caller
expects (``spec``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .cache import MISSING, load_entry, write_entry
from .errors import InvalidInput

__all__ = ["UnitStore"]

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]*$")


class UnitStore:
    """A folder of finished units, ``<key>.pt`` each; ``UnitStore(None)`` stores nothing.

    Parameters
    ----------
    folder : path or None
        Where the units live (created on the first write).  ``None`` gives a store that
        keeps nothing, so that code written for resuming also runs without a folder.
    scope : str
        What the units belong to (a digest of the run's identity); recorded in each unit
        with its key and checked when it is read.
    """

    def __init__(self, folder: str | Path | None, scope: str = ""):
        self.folder = None if folder is None else Path(folder)
        self.scope = str(scope)

    def __repr__(self) -> str:
        return f"UnitStore({str(self.folder) if self.folder else None!r})"

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise InvalidInput(f"unit key {key!r}: use letters, digits and _.=+- only")
        return self.folder / f"{key}.pt"

    def _full_key(self, key: str) -> str:
        return f"{self.scope}/{key}"

    def get(self, key: str, spec: Any = None) -> Any | None:
        """The stored value of unit ``key``, or ``None`` if it is not done (or unusable:
        damaged, stored for another unit or run, or not of the structure ``spec``, see
        :func:`~logloss.core.cache.conforms`; reported with a warning, the file deleted)."""
        if self.folder is None:
            return None
        value = load_entry(self._path(key), "stored unit", self._full_key(key), spec)
        return None if value is MISSING else value

    def put(self, key: str, value: Any) -> Any:
        """Store ``value`` as unit ``key`` (atomically) and return it."""
        if self.folder is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_entry(path, value, self._full_key(key))
        return value

    def unit(self, key: str, make: Callable[[], Any], spec: Any = None) -> Any:
        """The value of unit ``key``: read back if stored (and of the structure ``spec``),
        else ``make()``, stored at once."""
        value = self.get(key, spec)
        return self.put(key, make()) if value is None else value

    def discard(self, key: str) -> None:
        """Forget unit ``key`` (a checkpoint superseded by the final result)."""
        if self.folder is not None:
            self._path(key).unlink(missing_ok=True)

    def keys(self) -> list[str]:
        """The keys of the stored units, sorted."""
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.pt"))
