"""Experiments: one code path for the chapters and the command line.

An experiment is a function ``fn(params, rng) -> Outcome`` registered with
:func:`experiment`, together with its parameter presets at each scale and the keys of
its summary.  An experiment that computes with torch, or that can resume, declares a
third parameter ``ctx`` and receives a :class:`RunContext`: ``ctx.device``, the torch
device to put its tensors on (resolved once from ``device="auto"|"cpu"|"cuda"``), and
``ctx.store``, a :class:`~logloss.core.checkpoint.UnitStore` in which it keeps each
finished unit of work (a sweep point, a dimension) so that a killed run resumes.  Such
an experiment reports the device it really used in ``Outcome.device``.  :func:`run_experiment` resolves the scale, validates parameter overrides,
seeds the random generators, times the run, checks that the outcome has exactly the
declared keys and returns a :class:`Result` whose :meth:`Result.summary` is the stable
JSON record written by the CLI.  Figures live one layer up, in
:mod:`logloss.display.figures`.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import inspect
import math
import pkgutil
import platform
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.checkpoint import UnitStore
from ..core.device import resolve_device
from ..core.errors import InvalidInput
from ..core.gitstate import git_state
from ..core.measured import Measured, json_float
from ..core.resources import Cost, check_fits
from ..core.scales import SCALES, resolve_scale
from ..core.validation import check_seed

__all__ = [
    "Measured",
    "Outcome",
    "Result",
    "RunContext",
    "Experiment",
    "experiment",
    "variant",
    "get_experiment",
    "list_experiments",
    "run_experiment",
    "check_param",
]


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

        commit, dirty = _git_state()
        return {
            "experiment": self.name,
            "scale": self.scale,
            "seed": self.seed,
            "params": self.params,
            "measured": {k: v.as_dict() for k, v in self.measured.items()},
            "theory": {k: json_float(v) for k, v in self.theory.items()},
            "reference": {k: json_float(v) for k, v in self.reference.items()},
            "tables": _jsonable(self.tables),
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


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    Attributes
    ----------
    name : str
        CLI name, for example ``"minibatch-covariance"``.
    description : str
        One line for ``python -m logloss list``.
    presets : mapping of str to dict
        Parameters at each scale in :data:`~logloss.scales.SCALES`; every scale has
        the same keys.
    fn : callable
        ``fn(params, rng) -> Outcome``; ``rng`` is a seeded :class:`numpy.random.Generator`.
    keys : mapping of str to tuple of str
        The summary's keys: ``measured``, ``theory``, ``reference`` and ``tables``.  They
        never depend on parameter values; per-point values go in tables.
    checks : mapping of str to rule
        Constraints that differ from the default rule of the preset's type (see
        :func:`check_param`).
    cost : callable
        ``cost(params) -> Cost``: the run's peak memory and compute time, estimated from
        its parameters (:mod:`logloss.core.resources`).
    validate : callable or None
        ``validate(params)`` raises :class:`~logloss.core.errors.InvalidInput` for rules
        that involve several parameters (B ≤ N, c_min < c_max, files that must load).
    data : callable or None
        ``data(params) -> tuple of str``: the datasets the run reads from the user's data
        directory (``$LOGLOSS_DATA``) at these parameters, by their names in
        :data:`logloss.data.USER_DATASETS`; None: the run needs none (vendored data only).
    """

    name: str
    description: str
    presets: Mapping[str, Mapping[str, Any]]
    fn: Callable[[dict[str, Any], np.random.Generator], Outcome]
    keys: Mapping[str, tuple[str, ...]]
    cost: Callable[[dict[str, Any]], Cost]
    checks: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    validate: Callable[[dict[str, Any]], None] | None = None
    data: Callable[[dict[str, Any]], tuple[str, ...]] | None = None

    def params(self, scale: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Preset parameters at ``scale`` with ``overrides`` applied and checked before any
        work: each value against its type and rule, then the rules that involve several
        parameters (``validate``, which builds nothing large: the sizes are not checked
        yet), then the run's estimated memory and time against this machine
        (:meth:`estimate`, :func:`~logloss.core.resources.check_fits`)."""
        params = dict(self.presets[scale])
        for key, value in (overrides or {}).items():
            if key not in params:
                raise InvalidInput(
                    f"unknown parameter {key!r} for experiment {self.name!r}; "
                    f"known: {', '.join(sorted(params))}"
                )
            params[key] = _coerce(key, value, params[key])
            check_param(key, params[key], self.presets[scale][key], self.checks.get(key))
        if self.validate is not None:
            self.validate(params)
        check_fits(self.estimate(params), f"{self.name} at these parameters")
        return params

    def estimate(self, params: Mapping[str, Any]) -> Cost:
        """The run's estimated peak memory and compute time at ``params`` (checked values);
        sizes too large for a float are an infinite cost."""
        try:
            return self.cost(dict(params))
        except (OverflowError, ZeroDivisionError):
            return Cost(math.inf, math.inf)


_REGISTRY: dict[str, Experiment] = {}


_KEY_KINDS = ("measured", "theory", "reference", "tables")


def experiment(
    name: str,
    *,
    description: str,
    presets: Mapping[str, Mapping[str, Any]],
    measured: tuple[str, ...] = (),
    theory: tuple[str, ...] = (),
    reference: tuple[str, ...] = (),
    tables: tuple[str, ...] = (),
    checks: Mapping[str, Any] | None = None,
    cost: Callable[[dict[str, Any]], Cost],
    validate: Callable[[dict[str, Any]], None] | None = None,
    data: Callable[[dict[str, Any]], tuple[str, ...]] | None = None,
) -> Callable:
    """Register ``fn(params, rng) -> Outcome`` (or ``fn(params, rng, ctx)``, see
    :class:`RunContext`) as the experiment ``name``.

    ``measured``, ``theory``, ``reference`` and ``tables`` name the summary's keys; a run
    whose outcome has other keys is an error, and the keys are appended to ``fn``'s
    docstring.  ``checks`` gives the rule of each parameter whose rule is not the default
    of its type (see :func:`check_param`); ``validate(params)`` checks the rules that
    involve several parameters, and ``cost(params)`` estimates the run's memory and time
    (a :class:`~logloss.core.resources.Cost`).  All three run in :meth:`Experiment.params`,
    before any work (and before ``--force`` discards anything).  ``data(params)`` names
    the datasets the run needs from the user's ``$LOGLOSS_DATA`` (see :class:`Experiment`).
    """
    missing = set(SCALES) - set(presets)
    if missing:
        raise ValueError(f"experiment {name!r} lacks presets for scales {sorted(missing)}")
    keys = {scale: set(p) for scale, p in presets.items()}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ValueError(f"experiment {name!r}: presets must have the same keys at every scale")

    keys = dict(measured=tuple(measured), theory=tuple(theory), reference=tuple(reference),
                tables=tuple(tables))
    checks = dict(checks or {})
    unknown = set(checks) - set(presets[SCALES[0]])
    if unknown:
        raise ValueError(f"experiment {name!r}: checks for unknown parameters {sorted(unknown)}")
    for scale, preset in presets.items():  # the presets themselves obey the rules
        for key, value in preset.items():
            check_param(key, value, value, checks.get(key), where=f"{name} preset {scale}")

    def register(fn: Callable) -> Callable:
        lines = [f"    {kind}: {', '.join(keys[kind]) or '(none)'}" for kind in _KEY_KINDS]
        fn.__doc__ = (fn.__doc__ or description).rstrip() + "\n\n    Summary keys\n    ------------\n" \
            + "\n".join(lines) + "\n"
        _REGISTRY[name] = Experiment(name, description, presets, fn, keys, cost, checks, validate,
                                     data)
        return fn

    return register


def variant(base: str, name: str, *, description: str,
            changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Register ``name``: the experiment ``base`` with its presets changed at each scale.

    A variant shares the base's code and summary keys; only its presets differ, so that
    chapters never pass ad-hoc overrides.
    """
    exp = _REGISTRY[base]
    if set(changes) != set(SCALES):
        raise ValueError(f"variant {name!r} must give its changes at every scale {SCALES}")
    presets = {}
    for scale in SCALES:
        unknown = set(changes[scale]) - set(exp.presets[scale])
        if unknown:
            raise ValueError(f"variant {name!r} changes unknown parameters {sorted(unknown)}")
        presets[scale] = {**exp.presets[scale], **changes[scale]}
    _REGISTRY[name] = dataclasses.replace(exp, name=name, description=description, presets=presets)


def _load_all() -> None:
    package = importlib.import_module(__package__)
    for mod in pkgutil.iter_modules(package.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__package__}.{mod.name}")


def list_experiments() -> list[Experiment]:
    """All registered experiments, sorted by name."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_experiment(name: str) -> Experiment:
    """The experiment registered as ``name``; ``ValueError`` if there is none."""
    _load_all()
    if name not in _REGISTRY:
        raise InvalidInput(
            f"unknown experiment {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[name]


def run_experiment(
    name: str,
    scale: str | None = None,
    *,
    seed: int = 0,
    verbose: bool = True,
    device: str = "auto",
    store: UnitStore | None = None,
    **overrides: Any,
) -> Result:
    """Run one experiment and return its :class:`Result`.

    Parameters
    ----------
    name : str
        A registered experiment (see :func:`list_experiments`).
    scale : {"smoke", "book", "paper"} or None
        ``None`` reads ``$LOGLOSS_SCALE`` and defaults to ``"book"``.
    seed : int
        Seeds numpy's generator passed to the experiment and torch's global generator.
    verbose : bool
        Print one line saying which experiment ran at which scale.
    device : {"auto", "cpu", "cuda", "cuda:K"}
        Where the torch experiments compute (:func:`logloss.core.device.resolve_device`;
        ``"auto"`` is a GPU when torch sees one).  Experiments built on the numba kernels
        always run on the CPU; ``Result.device`` says where the run really computed.
    store : UnitStore, optional
        Finished units of this run (see :mod:`logloss.core.checkpoint`): experiments that
        resume read their done units from it and add each new one.  The caller makes sure
        it belongs to the same experiment, parameters, seed and code
        (:func:`logloss.runs.open_run` does).
    **overrides
        Parameters that replace the preset values; unknown names raise ``ValueError``.
    """
    exp = get_experiment(name)
    scale = resolve_scale(scale)
    seed = check_seed(seed)
    params = exp.params(scale, overrides)
    device = resolve_device(device)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start, cpu_start = time.perf_counter(), time.process_time()
    if takes_context(exp.fn):
        outcome = exp.fn(params, rng, ctx=RunContext(device, store or UnitStore(None)))
    else:
        outcome = exp.fn(params, rng)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    _check_keys(exp, outcome)
    if outcome.device != device:
        outcome.notes.append(f"device {device} was asked for; this experiment computed on "
                             f"{outcome.device}")
    fields = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(Outcome)}
    fields["device"] = _where(outcome.device)
    result = Result(**fields, name=name, scale=scale, seed=seed, params=params, wall_time_s=wall,
                    cpu_time_s=cpu, date=date)
    if verbose:
        print(f"[logloss] {name}: scale={scale}, seed={seed}, {wall:.1f} s")
        for note in outcome.notes:
            print(f"[logloss] note: {note}")
    _display_run_record(result)
    return result


#: MIME type of the run record that :func:`run_experiment` displays inside IPython.  The
#: book's status page reads it from the executed notebooks; renderers that do not know it
#: (the HTML book, JupyterLab) show nothing.
RUN_MIME = "application/vnd.logloss.run+json"


def run_record(result: Result) -> dict[str, Any]:
    """The structured record of one run: experiment, scale, seed, wall time and machine,
    its ``measured``, ``theory`` and ``reference`` values and its tables (read by the book's
    status and reproduction-report pages, so that they never run an experiment twice; the
    report's standards take their degrees of freedom from the tables)."""
    import os

    return {"experiment": result.name, "scale": result.scale, "seed": result.seed,
            "wall_time_s": round(result.wall_time_s, 3), "device": result.device,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(), "python": platform.python_version(),
            "date": result.date,
            "measured": {k: v.as_dict() for k, v in result.measured.items()},
            "theory": {k: json_float(v) for k, v in result.theory.items()},
            "reference": {k: json_float(v) for k, v in result.reference.items()},
            "tables": _jsonable(result.tables)}


def _display_run_record(result: Result) -> None:
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


def _where(device: str) -> str:
    """Where the run happened, as precisely as this process knows it.

    The experiment says where it computed (``Outcome.device``); a GPU is named, the CPU is
    described by its architecture, its core
    count and the threads torch and numba used.
    """
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    if device != "cpu":
        return device
    import os

    import numba

    return (f"cpu ({platform.machine()}, {os.cpu_count()} cores; torch {torch.get_num_threads()} "
            f"threads, numba {numba.get_num_threads()} threads)")


def _check_keys(exp: Experiment, outcome: Outcome) -> None:
    for kind in _KEY_KINDS:
        got, want = set(getattr(outcome, kind)), set(exp.keys[kind])
        # the paper's numbers exist only where a run reproduces one of its settings
        if got != want and not (kind == "reference" and got <= want):
            raise RuntimeError(f"experiment {exp.name!r}: {kind} keys {sorted(got)} differ from the "
                               f"declared {sorted(want)}")


def _scalar(text: str, kind: type) -> Any:
    """One CLI value as ``kind``: ints accept ``1e3``-style integers, as scalars do."""
    text = text.strip()
    if kind is bool:
        if text.lower() not in {"true", "false", "1", "0"}:
            raise ValueError
        return text.lower() in {"true", "1"}
    if kind is int:
        try:
            return int(text)
        except ValueError:
            f = float(text)
            if not (math.isfinite(f) and f.is_integer()):
                raise
            return int(f)
    return kind(text)


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Convert a CLI string to the type of the preset value."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    name = "true or false" if isinstance(default, bool) else f"a valid {type(default).__name__}"
    try:
        if isinstance(default, (list, tuple)):
            kind = type(default[0]) if default else float
            items = value.split(",")
            if not value.strip():
                raise InvalidInput(f"parameter {key}= is empty; give a comma-separated list "
                                   f"of {kind.__name__}s, e.g. {key}={','.join(map(str, default))}")
            if any(not v.strip() for v in items):
                raise InvalidInput(f"parameter {key}={value!r} has an empty entry; give a "
                                   f"comma-separated list of {kind.__name__}s without gaps")
            return type(default)(_scalar(v, kind) for v in items)
        if isinstance(default, (bool, int, float)):
            return _scalar(value, type(default))
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        what = (f"a comma-separated list of {type(default[0]).__name__}s"
                if isinstance(default, (list, tuple)) and default else name)
        raise InvalidInput(f"parameter {key}={value!r} is not {what}") from None
    return value


_RULE_TEXT = {">0": "> 0", ">=0": ">= 0", ">=1": ">= 1", ">1": "> 1", "any": "finite"}
#: Words a list's rule may add to the rule of its entries.
_LIST_WORDS = ("distinct", "increasing")


def check_param(key: str, value: Any, default: Any, rule: Any = None, *, where: str = "") -> None:
    """Check one parameter against its rule; raise a one-line ``InvalidInput`` naming it.

    Default rules, from the type of the preset value: an int is a count (>= 1), a float
    is finite and > 0, a list is non-empty and each entry follows the rule of its type,
    a string is non-empty; a float is never subnormal (below 2.2·10⁻³⁰⁸ in size, where 1/x
    overflows and digits are lost).  A ``rule`` overrides the default: ``">=0"``, ``">0"``,
    ``">=1"``, ``">1"``, ``"any"`` (any finite number, or any string), an interval string
    such as ``"(0,1)"`` or ``"[0,1)"``, ``"seed"`` (an integer in [0, 2⁶³)), or a tuple of
    allowed strings.  For a list the rule applies to each entry, and may add the words
    ``distinct`` (no entry twice) or ``increasing`` (strictly), as in ``">0 distinct"``
    or ``"increasing"`` (the entries' default rule).
    """
    label = f"{where}: " if where else ""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise InvalidInput(f"{label}parameter {key} must be true or false, got {value!r}")
        return
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) == 0:
            raise InvalidInput(f"{label}parameter {key} must be a non-empty list, got {value!r}")
        words = rule.split() if isinstance(rule, str) else []
        entry_rule = " ".join(w for w in words if w not in _LIST_WORDS) or \
            (None if isinstance(rule, str) else rule)
        for v in value:
            _check_scalar(key, v, default[0] if default else v, entry_rule, label, entry=True)
        shown = ",".join(map(str, value))
        if "distinct" in words and len(set(value)) < len(value):
            raise InvalidInput(f"{label}parameter {key}={shown} repeats an entry; give each value "
                               "once")
        if "increasing" in words and any(a >= b for a, b in zip(value[:-1], value[1:])):
            raise InvalidInput(f"{label}parameter {key}={shown} must be strictly increasing")
        return
    _check_scalar(key, value, default, rule, label)


def _check_scalar(key, value, default, rule, label, entry=False) -> None:
    what = f"every entry of {key}" if entry else f"parameter {key}"
    if isinstance(default, str):
        if isinstance(rule, tuple):
            if value not in rule:
                raise InvalidInput(f"{label}{what} must be one of {', '.join(rule)}, got {value!r}")
        elif rule != "any" and not (isinstance(value, str) and value):
            raise InvalidInput(f"{label}{what} must be a non-empty string, got {value!r}")
        return
    is_int = isinstance(default, int) and not isinstance(default, bool)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInput(f"{label}{what} must be a number, got {value!r}")
    if is_int and int(value) != value:
        raise InvalidInput(f"{label}{what} must be an integer, got {value!r}")
    if not (is_int or math.isfinite(value)):
        raise InvalidInput(f"{label}{what} must be a finite number, got {value!r}")
    if not is_int and 0 < abs(value) < sys.float_info.min:  # subnormal: 1/value overflows
        raise InvalidInput(f"{label}{what} must be 0 or at least {sys.float_info.min:.3g} in "
                           f"size (a normal float64), got {value!r}")
    rule = rule if rule is not None else (">=1" if is_int else ">0")
    kind = "an integer" if is_int else "a number"
    if rule == "seed":
        ok, text = 0 <= value < 2**63, "in [0, 2**63) (a seed)"
    elif rule in _RULE_TEXT:
        ok = {">0": value > 0, ">=0": value >= 0, ">=1": value >= 1, ">1": value > 1,
              "any": True}[rule]
        text = _RULE_TEXT[rule]
    else:  # an interval such as "(0,1]"
        lo, hi = (float(t) for t in rule[1:-1].split(","))
        ok = (value > lo if rule[0] == "(" else value >= lo) and \
             (value < hi if rule[-1] == ")" else value <= hi)
        text = f"in {rule}"
    if not ok:
        raise InvalidInput(f"{label}{what} must be {kind} {text}, got {value!r}")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return json_float(obj)
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    return obj


def _git_state() -> tuple[str | None, bool | None]:
    """The commit of the package's own source checkout and whether it has uncommitted
    changes, read from its git files (:func:`logloss.core.gitstate.git_state`): git is
    never run, so no repository configuration is ever acted on."""
    return git_state(Path(__file__).resolve().parents[1])
