"""A measured value with its standard error: the one way logloss reports an estimate."""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InvalidInput

__all__ = ["Measured", "json_float", "standard_error"]


def json_float(x) -> float | None:
    """``float(x)``, or None where it is not finite (JSON has no NaN)."""
    x = float(x)
    return None if not np.isfinite(x) else x


def _samples(x) -> np.ndarray:
    """``x`` as an array in its own floating dtype (float32 stays float32); else float64."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else np.asarray(x, dtype=float)


def standard_error(x, axis: int | None = None):
    """Standard error of the sample mean, s/√n, with s the sample standard deviation (ddof=1).

    The samples are taken as independent draws (seeds, replicas, groups or blocks of them);
    for correlated samples pass their independent group or block means instead.

    Parameters
    ----------
    x : array_like
        The samples; NaN propagates (no NaN-aware mean).
    axis : int, optional
        The axis of the samples; None (default) takes all of ``x`` as one sample.

    Returns
    -------
    float or ndarray
        s/√n over ``axis`` (the other axes kept); NaN where n < 2, where no spread exists.
    """
    x = _samples(x)
    n = x.size if axis is None else x.shape[axis]
    if n < 2:
        shape = () if axis is None else np.delete(x.shape, axis)
        return np.full(shape, np.nan)[()]
    return x.std(axis=axis, ddof=1) / np.sqrt(n)


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

    @classmethod
    def from_samples(cls, x) -> Measured:
        """The sample mean of ``x`` with its standard error s/√n (:func:`standard_error`).

        All of ``x`` is one sample of independent draws.  Fewer than two samples give a NaN
        standard error, none gives NaN ± NaN; a NaN sample gives a NaN mean.
        """
        x = _samples(x)
        if x.size == 0:
            return cls(float("nan"))
        return cls(float(x.mean()), float(standard_error(x)))

    @classmethod
    def weighted_mean(cls, values, stderrs) -> Measured:
        """Inverse-variance weighted mean of independent estimates, with its standard error.

        x̄ = Σ w_i x_i / Σ w_i with w_i = 1/s_i², and s.e.(x̄) = (Σ w_i)^(−1/2): the
        standard errors are taken as known (no rescaling by the scatter of the x_i about x̄).

        Parameters
        ----------
        values, stderrs : array_like, shape (K,)
            The estimates x_i and their standard errors s_i.  An infinite s_i carries no
            information (weight 0); a NaN in either propagates to a NaN mean.

        Raises
        ------
        InvalidInput
            Where there is no estimate, the shapes differ, an s_i is zero or negative (no
            inverse-variance weight) or every s_i is infinite.
        """
        x, s = np.asarray(values, dtype=float), np.asarray(stderrs, dtype=float)
        if x.ndim != 1 or x.shape != s.shape or x.size == 0:
            raise InvalidInput(f"a weighted mean needs one standard error per estimate and at least one "
                               f"estimate, got shapes {x.shape} and {s.shape}")
        if np.any(s <= 0):
            raise InvalidInput(f"a weighted mean needs standard errors > 0, got {s[s <= 0][0]!r}")
        if np.all(np.isinf(s)):
            raise InvalidInput("a weighted mean needs a finite standard error, got only infinite ones")
        w = 1.0 / s**2
        return cls(float(np.sum(w * x) / np.sum(w)), float(np.sum(w) ** -0.5))

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
