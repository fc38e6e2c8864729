"""The exceptions of logloss.

Every error that logloss raises on purpose derives from :class:`LoglossError`, so that a
caller can tell a diagnosed problem from a bug.  Bad input is an :class:`InvalidInput`
(also a :class:`ValueError`); a run whose loss grew without bound is :class:`SGDDiverged`,
which is *not* a ``ValueError``: a caller that catches divergence never mistakes bad
input (B > N, say) for "the loss grew without bound".
"""

from __future__ import annotations

__all__ = ["LoglossError", "InvalidInput", "SGDDiverged", "DatasetMissingError", "CorruptFile"]


class LoglossError(Exception):
    """Base class of the errors logloss raises on purpose."""


class InvalidInput(LoglossError, ValueError):
    """A parameter, array or file that logloss cannot use; the message names it and the fix."""


class SGDDiverged(LoglossError, ArithmeticError):
    """The loss of an SGD run became infinite or NaN (the learning rate η is too large)."""


class DatasetMissingError(LoglossError, FileNotFoundError):
    """A dataset that is not on this machine; the message says what to put where."""


class CorruptFile(InvalidInput):
    """A file that exists but cannot be read as what it should be (truncated, wrong kind)."""
