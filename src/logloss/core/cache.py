"""A file cache for expensive shared state (pretrained networks, long runs).

Entries are keyed by the sha256 of (name, parameters, the package version, and every
``.py`` file of the installed ``logloss`` package), so a change of parameters or of *any*
code -- however deeply it is called -- makes a new entry instead of serving a stale one.
The folder is ``$LOGLOSS_CACHE``, else ``~/.cache/logloss``.

Entries are never unpickled: a value is stored with ``torch.save`` (tensors, numpy arrays,
dicts, lists and tuples of them and of plain numbers and strings) and read back with
``torch.load(weights_only=True)``.  Each file starts with a header holding the sha256 of
its payload, and the payload records the key the entry was stored under, so that a file
copied or linked under another name never stands in for another entry.  A caller may also
give the structure the value must have (``spec``, see :func:`conforms`).  An entry that is
empty, truncated, altered, unloadable, stored for another key or of another structure is
reported with a warning naming the file, deleted and rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import InvalidInput

__all__ = ["cache_dir", "cache_key", "cached", "source_digest", "read_entry", "load_entry",
           "write_entry", "conforms", "shaped", "MISSING", "NUMBER"]

ENV_VAR = "LOGLOSS_CACHE"
_MAGIC = b"logloss-cache-v3\n"
#: ``spec`` of a plain number (bools are ints).
NUMBER = (int, float)
_ARRAY_TAG = "__logloss_ndarray__"
_TUPLE_TAG = "__logloss_tuple__"
_PACKAGE = Path(__file__).resolve().parents[1]
_SOURCE_DIGEST: str | None = None


def cache_dir() -> Path:
    """The cache folder (created on demand); a one-line error if it cannot be used."""
    raw = os.environ.get(ENV_VAR)
    path = Path(raw).expanduser() if raw else Path.home() / ".cache" / "logloss"
    where = f"${ENV_VAR}={raw}" if raw else f"the default cache folder {path}"
    if path.exists() and not path.is_dir():
        raise InvalidInput(f"{where} is a file, not a folder; set {ENV_VAR} to a writable folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {where} ({exc.strerror}); set {ENV_VAR} to a writable "
                           "folder") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInput(f"{where} is not writable; set {ENV_VAR} to a writable folder")
    return path


def source_digest() -> str:
    """sha256 of every ``.py`` file of the logloss package (path and bytes), read once."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(_PACKAGE.rglob("*.py")):
            h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0")
            h.update(path.read_bytes() + b"\0")
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def cache_key(name: str, params: Mapping[str, Any]) -> str:
    """sha256 of the name, the JSON of ``params``, the version and the package's sources."""
    from .version import __version__

    h = hashlib.sha256()
    h.update(name.encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    h.update(__version__.encode())
    h.update(source_digest().encode())
    return h.hexdigest()[:20]


def _encode(value: Any) -> Any:
    """Turn ``value`` into what ``torch.load(weights_only=True)`` reads back."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("the cache cannot store object arrays")
        return {_ARRAY_TAG: torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return value
    raise TypeError(f"the cache stores tensors, arrays, numbers, strings, lists and dicts, "
                    f"not {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY_TAG}:
            return value[_ARRAY_TAG].numpy()
        if set(value) == {_TUPLE_TAG}:
            return tuple(_decode(v) for v in value[_TUPLE_TAG])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def conforms(value: Any, spec: Any) -> bool:
    """Whether ``value`` has the structure ``spec``.

    ``spec`` is a type or a tuple of types (``isinstance``), a dict (``value`` is a dict
    with at least these keys, each value conforming to its spec), a one-element list
    (``value`` is a list whose items all conform to the element), or a callable predicate.
    """
    if isinstance(spec, dict):
        return isinstance(value, dict) and all(k in value and conforms(value[k], v)
                                               for k, v in spec.items())
    if isinstance(spec, list):
        return isinstance(value, list) and all(conforms(v, spec[0]) for v in value)
    if isinstance(spec, (type, tuple)):
        return isinstance(value, spec)
    return bool(spec(value))


def shaped(kind: type, *shape: int | None) -> Callable[[Any], bool]:
    """A ``spec`` for :func:`conforms`: an instance of ``kind`` (``np.ndarray``,
    ``torch.Tensor``) of this shape; ``None`` accepts any length along its axis."""
    def check(value: Any) -> bool:
        return isinstance(value, kind) and len(value.shape) == len(shape) and all(
            s is None or int(n) == s for n, s in zip(value.shape, shape))
    return check


def read_entry(path: Path, key: str | None = None, spec: Any = None) -> Any:
    """The value in the entry ``path``; ``ValueError`` saying what is wrong with it.

    ``key``: the key it must have been stored under; ``spec``: the structure its value
    must have (:func:`conforms`).
    """
    raw = path.read_bytes()
    if not raw:
        raise ValueError("it is empty")
    if not raw.startswith(_MAGIC):
        raise ValueError("it is not a logloss cache entry of this version")
    digest, sep, payload = raw[len(_MAGIC):].partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
        raise ValueError("its checksum does not match (truncated or altered)")
    try:
        entry = torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # any failure to load means a bad entry
        raise ValueError(f"it cannot be loaded ({type(exc).__name__})") from None
    if not (isinstance(entry, dict) and set(entry) == {"key", "value"}
            and isinstance(entry["key"], str)):
        raise ValueError("it does not record its key")
    if key is not None and entry["key"] != key:
        raise ValueError(f"it was stored for another key ({entry['key'][:60]!r}), not {key!r}")
    value = _decode(entry["value"])
    if spec is not None and not conforms(value, spec):
        raise ValueError("its value does not have the structure this code stores there")
    return value


def cached(name: str, params: Mapping[str, Any], make: Callable[[], Any], *,
           spec: Any = None) -> Any:
    """Return ``make()``'s value, computing it once per key and storing it on disk.

    Parameters
    ----------
    name : str
        Readable prefix of the file name.
    params : mapping
        Everything the value depends on (sizes, η, B, seed, ...).  The code it depends on
        is covered by the hash of the package's sources.
    make : callable
        Computes the value: tensors, numpy arrays, numbers, strings, and lists, tuples
        and dicts of them (no other objects: entries are loaded with
        ``weights_only=True``).
    spec : optional
        The structure of ``make()``'s value (:func:`conforms`); a stored entry that does
        not have it is rebuilt.
    """
    key = f"{name}-{cache_key(name, params)}"
    path = cache_dir() / f"{key}.pt"
    value = load_entry(path, "cache entry", key, spec)
    if value is not MISSING:
        return value
    value = make()
    write_entry(path, value, key)
    return value


#: What :func:`load_entry` returns for an absent or unusable entry.
MISSING = object()


def load_entry(path: Path, what: str, key: str, spec: Any = None) -> Any:
    """The value stored in ``path`` under ``key``, or :data:`MISSING` if there is none; an
    unusable file (``what`` names it in the warning: damaged, stored for another key, or
    not of the structure ``spec``) is reported, deleted and treated as absent."""
    if not path.is_file():
        return MISSING
    try:
        return read_entry(path, key, spec)
    except ValueError as exc:
        warnings.warn(f"{what} {path} is unusable ({exc}); deleting and rebuilding it",
                      RuntimeWarning, stacklevel=3)
        path.unlink(missing_ok=True)
        return MISSING


def write_entry(path: Path, value: Any, key: str) -> None:
    """Store ``value`` under ``key`` in the file ``path`` (checksummed), atomically: a
    temporary file in the same folder renamed into place, so an interrupted write never
    leaves half an entry."""
    buf = io.BytesIO()
    torch.save({"key": key, "value": _encode(value)}, buf)
    payload = buf.getvalue()
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as fh:
        try:
            fh.write(_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
            fh.flush()
            os.fsync(fh.fileno())
        except BaseException:
            fh.close()
            os.unlink(fh.name)
            raise
    os.replace(fh.name, path)
