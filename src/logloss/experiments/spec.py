"""The declaration of an experiment: :class:`Experiment`, the :func:`experiment` decorator,
:func:`variant`, and the registry (:func:`get_experiment`, :func:`list_experiments`).

An experiment declares its typed parameters (:class:`~logloss.experiments.params.Param`,
most of them from the glossary :data:`~logloss.core.glossary.GLOSSARY`), its presets at
each scale, the keys of its summary, the fields of each table's rows and its arrays.
:func:`~logloss.experiments.run.run_experiment` checks every outcome against them, and the
tests check every reader (figures, the report, the README) against them.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..core.errors import InvalidInput
from ..core.glossary import RENAMED, describe
from ..core.resources import Cost, check_fits
from ..core.scales import SCALES
from .params import Param, Params, check_param, coerce, declare
from .result import Outcome

__all__ = ["Experiment", "experiment", "variant", "get_experiment", "list_experiments",
           "KEY_KINDS", "optional", "field_names"]

#: The kinds of summary keys an experiment declares.
KEY_KINDS = ("measured", "theory", "reference", "tables")


def optional(name: str) -> bool:
    """Whether a declared row field or array name is optional: it ends with ``?`` (present
    at some parameters only, such as a histogram fit at d = 1) or it is a family ``x_{i}``
    (one per case: ``x_0``, ``x_1``, ...)."""
    return name.endswith("?") or "{i}" in name


def field_names(declared: tuple[str, ...]) -> set[str]:
    """The names of declared row fields or arrays, without the optional marks."""
    return {f.rstrip("?") for f in declared}


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
    cost : callable
        ``cost(params) -> Cost``: the run's peak memory and compute time, estimated from
        its parameters (:mod:`logloss.core.resources`).
    parameters : mapping of str to Param
        Each parameter's declaration (meaning, unit, symbol, rule, type).
    rows : mapping of str to tuple of str
        The fields of each table's rows; a name ending with ``?`` is optional.
    arrays : tuple of str
        The names of the outcome's arrays; a name ending with ``?`` is optional.
    fields : mapping of str to str
        One line of meaning for each row field, array and summary key that is the
        experiment's own (not in the glossary).
    validate : callable or None
        ``validate(params)`` raises :class:`~logloss.core.errors.InvalidInput` for rules
        that involve several parameters (B ≤ N, c_min < c_max, files that must load).
    data : callable or None
        ``data(params) -> tuple of str``: the datasets the run reads from the user's data
        directory (``$LOGLOSS_DATA``) at these parameters, by their names in
        :data:`logloss.data.USER_DATASETS`; None: the run needs none (vendored data only).
    bounds : mapping of str to float
        Measured keys that are diagnostics judged against an upper bound on their size
        rather than estimates (for example a solver check, ≤ 1 when two routes agree within
        their residuals): a re-made run agrees with a stored one when both are within the
        bound (``python -m logloss reproduce``), since such a value has no standard error
        and need not repeat to rounding.
    """

    name: str
    description: str
    presets: Mapping[str, Mapping[str, Any]]
    fn: Callable[[dict[str, Any], np.random.Generator], Outcome]
    keys: Mapping[str, tuple[str, ...]]
    cost: Callable[[dict[str, Any]], Cost]
    parameters: Mapping[str, Param] = dataclasses.field(default_factory=dict)
    rows: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    arrays: tuple[str, ...] = ()
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    validate: Callable[[dict[str, Any]], None] | None = None
    data: Callable[[dict[str, Any]], tuple[str, ...]] | None = None
    bounds: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def params(self, scale: str, overrides: Mapping[str, Any] | None = None) -> Params:
        """Preset parameters at ``scale`` with ``overrides`` applied and checked before any
        work: each value converted once to its declared type (a command-line string) and
        checked against its rule, then the rules that involve several parameters
        (``validate``, which builds nothing large: the sizes are not checked yet), then the
        run's estimated memory and time against this machine (:meth:`estimate`,
        :func:`~logloss.core.resources.check_fits`)."""
        params = dict(self.presets[scale])
        for key, value in (overrides or {}).items():
            if key not in params:
                renamed = (f" ({key} was renamed {RENAMED[key]})"
                           if RENAMED.get(key) in params else "")
                raise InvalidInput(
                    f"unknown parameter {key!r} for experiment {self.name!r}{renamed}; "
                    f"known: {', '.join(sorted(params))}"
                )
            params[key] = coerce(key, value, params[key])
            check_param(key, params[key], self.presets[scale][key], self.parameters[key].rule)
        if self.validate is not None:
            self.validate(params)
        check_fits(self.estimate(params), f"{self.name} at these parameters")
        return Params(params, experiment=self.name, scale=scale)

    def estimate(self, params: Mapping[str, Any]) -> Cost:
        """The run's estimated peak memory and compute time at ``params`` (checked values);
        sizes too large for a float are an infinite cost."""
        try:
            return self.cost(dict(params))
        except (OverflowError, ZeroDivisionError):
            return Cost(math.inf, math.inf)

    def meaning(self, name: str) -> str:
        """One line of meaning of a parameter, row field, array or summary key: the
        experiment's own declaration, else the glossary's; ``KeyError`` if neither has it."""
        if name in self.parameters:
            return self.parameters[name].meaning
        text = describe(name, self.fields)
        if text is None:
            raise KeyError(f"experiment {self.name!r}: {name!r} is neither declared (fields=) "
                           "nor in the glossary")
        return text

    def check(self, outcome: Outcome) -> None:
        """Raise ``RuntimeError`` naming what differs if ``outcome``'s summary keys, table row
        fields or arrays are not those declared."""
        for kind in KEY_KINDS:
            got, want = set(getattr(outcome, kind)), set(self.keys[kind])
            # the paper's numbers exist only where a run reproduces one of its settings
            if got != want and not (kind == "reference" and got <= want):
                raise RuntimeError(f"experiment {self.name!r}: {kind} keys {sorted(got)} differ "
                                   f"from the declared {sorted(want)}")
        for table, rows in outcome.tables.items():
            _check_names(f"experiment {self.name!r}: table {table!r}, row", self.rows[table],
                         [set(r) for r in rows])
        _check_names(f"experiment {self.name!r}:", self.arrays, [set(outcome.arrays)], "array")


def _check_names(where: str, declared: tuple[str, ...], got: list[set[str]],
                 what: str = "field") -> None:
    names = field_names(declared)
    families = [re.compile(re.escape(f).replace(re.escape("{i}"), "[0-9]+")) for f in names
                if "{i}" in f]
    required = {f for f in declared if not optional(f)}
    for i, keys in enumerate(got):
        label = f"{where} {i}" if what == "field" else where
        extra = sorted(k for k in keys - names if not any(f.fullmatch(k) for f in families))
        missing = sorted(required - keys)
        if extra:
            raise RuntimeError(f"{label} has undeclared {what}(s) {extra}")
        if missing:
            raise RuntimeError(f"{label} lacks the declared {what}(s) {missing}")


_REGISTRY: dict[str, Experiment] = {}


def experiment(
    name: str,
    *,
    description: str,
    presets: Mapping[str, Mapping[str, Any]],
    measured: tuple[str, ...] = (),
    theory: tuple[str, ...] = (),
    reference: tuple[str, ...] = (),
    tables: Mapping[str, tuple[str, ...]] | None = None,
    arrays: tuple[str, ...] = (),
    params: Mapping[str, Param] | None = None,
    fields: Mapping[str, str] | None = None,
    checks: Mapping[str, Any] | None = None,
    cost: Callable[[dict[str, Any]], Cost],
    validate: Callable[[dict[str, Any]], None] | None = None,
    data: Callable[[dict[str, Any]], tuple[str, ...]] | None = None,
    bounds: Mapping[str, float] | None = None,
) -> Callable:
    """Register ``fn(params, rng) -> Outcome`` (or ``fn(params, rng, ctx)``, see
    :class:`~logloss.experiments.result.RunContext`) as the experiment ``name``.

    ``measured``, ``theory`` and ``reference`` name the summary's keys, ``tables`` maps each
    table to its row fields and ``arrays`` names the arrays (a field or array name ending
    with ``?`` is optional); a run whose outcome differs is an error, and the declaration is
    appended to ``fn``'s docstring.  ``params`` declares the parameters that are not in the
    glossary (:class:`~logloss.experiments.params.Param`), ``fields`` gives one line of
    meaning for each key, field or array that is not; ``checks`` overrides the rule of a
    parameter (see :func:`~logloss.experiments.params.check_param`).  ``validate(params)``
    checks the rules that involve several parameters, and ``cost(params)`` estimates the
    run's memory and time (a :class:`~logloss.core.resources.Cost`).  All three run in
    :meth:`Experiment.params`, before any work (and before ``--force`` discards anything).
    ``data(params)`` names the datasets the run needs from the user's ``$LOGLOSS_DATA``
    (see :class:`Experiment`), ``bounds`` the measured diagnostics judged against a bound.
    """
    missing = set(SCALES) - set(presets)
    if missing:
        raise ValueError(f"experiment {name!r} lacks presets for scales {sorted(missing)}")
    if len({frozenset(p) for p in presets.values()}) != 1:
        raise ValueError(f"experiment {name!r}: presets must have the same keys at every scale")
    first = presets[SCALES[0]]
    if set(bounds or {}) - set(measured):
        raise ValueError(f"experiment {name!r}: bounds for undeclared measured keys "
                         f"{sorted(set(bounds) - set(measured))}")
    tables = dict(tables or {})
    keys = dict(measured=tuple(measured), theory=tuple(theory), reference=tuple(reference),
                tables=tuple(tables))
    checks, own = dict(checks or {}), dict(params or {})
    unknown = (set(checks) | set(own)) - set(first)
    if unknown:
        raise ValueError(f"experiment {name!r}: checks or params for unknown parameters "
                         f"{sorted(unknown)}")
    try:
        parameters = {k: declare(k, v, own.get(k), checks.get(k)) for k, v in first.items()}
    except ValueError as exc:
        raise ValueError(f"experiment {name!r}: {exc}") from None
    for scale, preset in presets.items():  # the presets themselves obey the rules
        for key, value in preset.items():
            check_param(key, value, value, parameters[key].rule, where=f"{name} preset {scale}")

    def register(fn: Callable) -> Callable:
        lines = [f"    {kind}: {', '.join(keys[kind]) or '(none)'}" for kind in KEY_KINDS]
        lines += [f"    table {t}: {', '.join(f)}" for t, f in tables.items()]
        lines.append(f"    arrays: {', '.join(arrays) or '(none)'}")
        fn.__doc__ = (fn.__doc__ or description).rstrip() + "\n\n    Summary keys\n    ------------\n" \
            + "\n".join(lines) + "\n"
        _REGISTRY[name] = Experiment(name, description, presets, fn, keys, cost, parameters,
                                     tables, tuple(arrays), dict(fields or {}), validate, data,
                                     dict(bounds or {}))
        return fn

    return register


def variant(base: str, name: str, *, description: str,
            changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Register ``name``: the experiment ``base`` with its presets changed at each scale.

    A variant shares the base's code, summary keys, rows and arrays; only its presets
    differ, so that chapters never pass ad-hoc overrides.
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
        for key, value in changes[scale].items():
            check_param(key, value, value, exp.parameters[key].rule, where=f"{name} preset {scale}")
    _REGISTRY[name] = dataclasses.replace(exp, name=name, description=description, presets=presets)


#: Modules of this package that are its public API, not experiments.
API_MODULES = frozenset({"spec", "params", "result", "run"})


def _load_all() -> None:
    package = importlib.import_module(__package__)
    for mod in pkgutil.iter_modules(package.__path__):
        if not mod.name.startswith("_") and mod.name not in API_MODULES:
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
