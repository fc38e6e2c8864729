"""A file cache for expensive shared state (pretrained networks, long runs).

Entries are keyed by the sha256 of (name, parameters, the source code of the functions
that made them, the package version), so a change of parameters or code makes a new
entry instead of serving a stale one.  The folder is ``$LOGLOSS_CACHE``, else
``~/.cache/logloss``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = ["cache_dir", "cache_key", "cached"]


def cache_dir() -> Path:
    """The cache folder (created on demand)."""
    path = Path(os.environ.get("LOGLOSS_CACHE", Path.home() / ".cache" / "logloss")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(name: str, params: Mapping[str, Any], code: Iterable[Callable]) -> str:
    """sha256 of the name, the JSON of ``params`` and the source of every function in ``code``."""
    from .version import __version__

    h = hashlib.sha256()
    h.update(name.encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for fn in code:
        h.update(inspect.getsource(fn).encode())
    h.update(__version__.encode())
    return h.hexdigest()[:20]


def cached(name: str, params: Mapping[str, Any], make: Callable[[], Any],
           code: Iterable[Callable] = ()) -> Any:
    """Return ``make()``'s value, computing it once per key and storing it with ``torch.save``.

    Parameters
    ----------
    name : str
        Readable prefix of the file name.
    params : mapping
        Everything the value depends on (sizes, η, B, seed, ...).
    make : callable
        Computes the value; it must return something ``torch.save`` can store
        (tensors, arrays, dicts of them, state dicts).
    code : iterable of callables
        Functions whose source code the value depends on (``make`` is always included).
    """
    key = cache_key(name, params, [make, *code])
    path = cache_dir() / f"{name}-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    value = make()
    # Write atomically so an interrupted run never leaves a half-written entry.
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
        torch.save(value, fh)
    os.replace(fh.name, path)
    return value
