"""Loading the reader's own model and data files safely.

Data files are never unpickled: ``.npz`` files are read with ``allow_pickle=False`` and
every other file with ``torch.load(weights_only=True)``, which accepts tensors, arrays and
dicts of them and refuses anything that would run code.

Model files, in order of preference:

* a ``torch.export`` archive (``torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: torch.export.Dim('batch', min=1)},)),
  "model.pt2")``): a graph of ATen operators and its weights as raw tensors. torch's own
  loader would run code from a crafted archive (pickled weights, constants or sample inputs,
  guard code, symbolic expressions, node targets); :mod:`logloss.models.export_archive`
  checks the archive against an allow-list first and hands torch only the checked members.
  An archive outside the allow-list is refused unless ``trust=True``;
* a pickled ``nn.Module`` (``torch.save(model, "model.pt")``) only with ``trust=True``
  (``--set trust_model=true``): unpickling **runs code from the file**, so only for
  files you made yourself.

A ``state_dict``, a TorchScript archive (which ``torch.func`` cannot differentiate per
sample) and anything else get a one-line :class:`~logloss.core.errors.InvalidInput`
saying what to save instead.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.errors import CorruptFile, InvalidInput
from .export_archive import check_exported_program, checked_export_archive

__all__ = ["load_user_model", "load_user_inputs", "SAVE_MODEL_HINT"]

SAVE_MODEL_HINT = ("save it with torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: torch.export.Dim('batch', min=1)},)), "
                   "'model.pt2'), or, for a file you trust, torch.save(model, 'model.pt') "
                   "and --set trust_model=true")


def _existing_file(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        raise InvalidInput(f"{what} {p} is a directory, not a file")
    if not p.exists():
        raise InvalidInput(f"{what} {p} not found")
    if p.stat().st_size == 0:
        raise CorruptFile(f"{what} {p} is empty")
    return p


def _kind(p: Path) -> str:
    """'export', 'torchscript', 'zip' (torch.save), 'legacy' (old torch.save) or 'other'."""
    if zipfile.is_zipfile(p):
        try:
            names = zipfile.ZipFile(p).namelist()
        except (zipfile.BadZipFile, OSError):
            return "zip"
        if any(n.endswith("/models/model.json") or n.endswith("archive_format") for n in names):
            return "export"
        if any("/code/" in n or n.endswith("constants.pkl") for n in names):
            return "torchscript"
        return "zip"
    with p.open("rb") as fh:
        head = fh.read(2)
    return "legacy" if head[:1] == b"\x80" else "other"


def _safe_load(p: Path, what: str):
    """``torch.load(weights_only=True)`` with every failure as one line."""
    try:
        return torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise InvalidInput(f"{what} {p} holds Python objects that only unpickling could build "
                           f"({str(exc).splitlines()[0][:120]})") from None
    except Exception as exc:  # a damaged file fails in many ways (IndexError, EOFError, ...)
        raise CorruptFile(f"{what} {p} cannot be read as a torch file: it is truncated, "
                          f"corrupt or not a torch file ({type(exc).__name__})") from None


def load_user_model(path: str | Path, *, trust: bool = False) -> nn.Module:
    """The reader's model from ``path`` (see the module docstring for the formats)."""
    p = _existing_file(path, "model file")
    kind = _kind(p)
    if kind == "export":
        model = _load_export(p, trust)
    elif kind == "torchscript":
        raise InvalidInput(f"model file {p} is TorchScript, which torch.func cannot "
                           f"differentiate per sample; {SAVE_MODEL_HINT}")
    elif kind == "other":
        raise CorruptFile(f"model file {p} is not a torch file (text or another format?); "
                          f"{SAVE_MODEL_HINT}")
    else:
        model = _load_module(p, trust)
    if not isinstance(model, nn.Module):
        raise InvalidInput(f"model file {p} holds a {type(model).__name__}, not a torch.nn.Module; "
                           f"{SAVE_MODEL_HINT}")
    if not any(q.requires_grad for q in model.parameters()):
        raise InvalidInput(f"model {p} has no trainable parameters")
    return model


def _load_export(p: Path, trust: bool) -> nn.Module:
    """The archive's bytes are read once; unless trusted, torch sees only the checked members."""
    data = p.read_bytes()
    if not trust:
        data = checked_export_archive(data, str(p))
    try:
        ep = torch.export.load(io.BytesIO(data))
    except Exception as exc:  # torch.export raises many kinds
        raise CorruptFile(f"model file {p} is a torch.export archive that cannot be loaded "
                          f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    if not trust:
        check_exported_program(ep, str(p))
    try:
        return ep.module()
    except Exception as exc:  # noqa: BLE001 - a malformed graph fails in many ways
        raise CorruptFile(f"model file {p} is a torch.export archive whose graph cannot be "
                          f"built ({type(exc).__name__})") from None


def _load_module(p: Path, trust: bool):
    try:
        obj = torch.load(p, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        obj = None  # holds objects beyond tensors: a pickled module, or something else
    except Exception as exc:  # a damaged file fails in many ways (IndexError, EOFError, ...)
        raise CorruptFile(f"model file {p} cannot be read: it is truncated, corrupt or not a "
                          f"torch file ({type(exc).__name__})") from None
    if obj is not None:
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise InvalidInput(f"model file {p} holds a state_dict (weights without the network); "
                               f"load it into your model and {SAVE_MODEL_HINT}")
        return obj
    if not trust:
        raise InvalidInput(f"model file {p} is a pickled object: loading it would run code from "
                           f"the file; {SAVE_MODEL_HINT}")
    try:
        return torch.load(p, weights_only=False, map_location="cpu")
    except AttributeError as exc:  # "Can't get attribute 'Net' on <module '__main__'>"
        raise InvalidInput(f"model file {p} needs a class that is not importable here "
                           f"({str(exc).splitlines()[0][:100]}); a class defined in your own "
                           "script cannot be unpickled elsewhere: save a torch.export archive "
                           "instead (torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: torch.export.Dim('batch', min=1)},)), "
                           "'model.pt2'))") from None
    except ModuleNotFoundError as exc:
        raise InvalidInput(f"model file {p} needs the module {exc.name!r}, which is not "
                           "installed; save a torch.export archive instead") from None
    except Exception as exc:  # unpickling can fail in any way
        raise CorruptFile(f"model file {p} cannot be unpickled ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None


def load_user_inputs(path: str | Path, model: nn.Module | None = None) -> torch.Tensor:
    """The inputs x (shape (N, ...)) from a ``.npz`` (array ``x``) or a torch file (a tensor,
    or a dict with ``"x"``); never unpickled.  With ``model``, x is cast to its dtype and
    one sample is passed through it to check the shape."""
    p = _existing_file(path, "data file")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                if "x" not in z.files:
                    raise InvalidInput(f"data file {p} has no array 'x' (it has "
                                       f"{', '.join(z.files) or 'none'}); save np.savez(path, x=x)")
                x = z["x"]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            if isinstance(exc, InvalidInput):
                raise
            raise CorruptFile(f"data file {p} cannot be read as an .npz of numeric arrays "
                              f"(truncated, or it holds objects, which are never unpickled: "
                              f"{type(exc).__name__})") from None
    else:
        obj = _safe_load(p, "data file")
        if isinstance(obj, dict):
            if "x" not in obj:
                raise InvalidInput(f"data file {p} holds a dict without 'x' (keys: "
                                   f"{', '.join(map(str, obj)) or 'none'}); save {{'x': x}}")
            x = obj["x"]
        else:
            x = obj
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number):
            raise InvalidInput(f"data file {p}: x must be numeric, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise InvalidInput(f"data file {p} holds a {type(x).__name__}; save a tensor of inputs "
                           "x with shape (N, ...)")
    if x.ndim < 2 or x.shape[0] < 1:
        raise InvalidInput(f"data file {p}: x must have shape (N, features...) with N >= 1, "
                           f"got shape {tuple(x.shape)}")
    if model is not None:
        dtype = next(q for q in model.parameters()).dtype
        x = x.to(dtype)
        if not torch.isfinite(x).all():
            raise InvalidInput(f"data file {p}: x has NaN or infinite entries")
        try:
            with torch.no_grad():
                model(x[:1])
        except Exception as exc:  # any failure of the user's forward
            msg = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise InvalidInput(f"the model cannot take the inputs of {p} (x of shape "
                               f"{tuple(x.shape)}, one sample {tuple(x[:1].shape)}): {msg}") from None
    return x
