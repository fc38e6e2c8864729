"""Parameters of an experiment: their declaration (:class:`Param`), the conversion of a
command-line string to the declared type (:func:`coerce`) and the check of a value against
its rule (:func:`check_param`).

A parameter's unit, paper symbol, rule and meaning come from the glossary
(:data:`logloss.core.glossary.GLOSSARY`) when its name is there (η, B, N, d, ...); an
experiment declares only the parameters that are its own (:class:`Param`).  Its type is
the type of its preset value.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import numpy as np

from ..core.errors import InvalidInput
from ..core.glossary import GLOSSARY

__all__ = ["Param", "Params", "declare", "coerce", "check_param"]


@dataclasses.dataclass(frozen=True)
class Param:
    """The declaration of one parameter.

    Attributes
    ----------
    meaning : str
        One line: what the parameter sets.
    unit : str
        Its unit, ``"1"`` for a pure number or a count.
    symbol : str
        The paper's symbol, or ``""`` where the paper has none.
    rule : str, tuple of str or None
        Its rule (see :func:`check_param`); None: the default rule of its type.
    kind : type or None
        ``int``, ``float``, ``bool``, ``str``, ``list`` or ``tuple``: the type of its
        preset value (set by :func:`declare`).
    """

    meaning: str
    unit: str = "1"
    symbol: str = ""
    rule: Any = None
    kind: type | None = None


class Params(dict):
    """The parameters of one run, converted to their declared types and checked
    (:meth:`logloss.experiments.spec.Experiment.params` makes them): a ``dict`` that also
    says which experiment and scale it was checked for, so that
    :func:`~logloss.experiments.run.run_experiment` takes it as it is instead of parsing and
    checking the values a second time."""

    def __init__(self, values: dict[str, Any], *, experiment: str, scale: str):
        super().__init__(values)
        self.experiment = experiment
        self.scale = scale


def declare(name: str, preset: Any, own: Param | None = None, rule: Any = None) -> Param:
    """The full declaration of parameter ``name`` whose preset value is ``preset``: the
    experiment's own :class:`Param` if it gives one, else the glossary's entry; ``rule``
    (an experiment's ``checks``) overrides the rule.  A name in neither place is an error:
    every parameter says what it means."""
    if own is None:
        entry = GLOSSARY.get(name)
        if entry is None:
            raise ValueError(f"parameter {name!r} is neither in the glossary "
                             "(logloss.core.glossary) nor declared by its experiment (params=)")
        own = Param(entry.meaning, entry.unit, entry.symbol, entry.rule)
    return dataclasses.replace(own, rule=rule if rule is not None else own.rule, kind=type(preset))


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


def coerce(key: str, value: Any, default: Any) -> Any:
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


