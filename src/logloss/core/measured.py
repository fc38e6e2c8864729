"""A measured value with its standard error: the one way logloss reports an estimate."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Measured", "json_float"]


def json_float(x) -> float | None:
    """``float(x)``, or None where it is not finite (JSON has no NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else x


@dataclasses.dataclass(frozen=True)
class Measured:
    """A measured value with its standard error (``nan`` where none applies).

    Attributes
    ----------
    value : float
        The estimate.
    stderr : float
        Its standard error; ``nan`` for an exact count or a value with no error model.
    """

    value: float
    stderr: float = float("nan")

    def __iter__(self):
        """``value, stderr = m`` unpacks a Measured."""
        yield self.value
        yield self.stderr

    def as_dict(self) -> dict[str, float | None]:
        return {"value": json_float(self.value), "stderr": json_float(self.stderr)}

    def __format__(self, spec: str) -> str:
        spec = spec or ".4g"
        if np.isnan(self.stderr):
            return format(self.value, spec)
        return f"{format(self.value, spec)} ± {format(self.stderr, spec)}"
