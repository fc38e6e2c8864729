"""What a run will cost, estimated from its parameters before any work, and whether it fits.

Every experiment declares a cost function (``cost=`` of
:func:`logloss.experiments.experiment`) that returns a :class:`Cost`: the peak memory of
the arrays it holds at once and its compute time, both estimated from its parameters
alone.  :func:`check_fits` refuses, in one line, a run whose memory exceeds what this
machine has free, or whose time exceeds ``$LOGLOSS_MAX_HOURS`` (default a year), so that
``--set N=1e10`` or ``--set dt=1e-300`` is an error at once instead of an allocator
traceback or a run that never ends.  The estimates are orders of magnitude, not budgets:
the memory counts the largest arrays (data, recorded samples, Gram matrices, Jacobians)
and the time counts their arithmetic at the rates below, measured on 2 CPU cores, with
every first-passage replica running its whole step budget (an upper bound: most stop
early).  On a GPU the torch experiments run much faster than this estimate; raise
``$LOGLOSS_MAX_HOURS`` there for the longest paper-scale runs.
"""

from __future__ import annotations

import dataclasses
import math
import os

from .errors import InvalidInput

__all__ = ["Cost", "check_fits", "free_memory", "max_seconds", "usable_cpus",
           "NUMBA_RATE", "NORMAL_DRAW", "FLOP_RATE", "MAX_HOURS_ENV"]

#: Inner-loop operations per second of the numba replica kernels (one multiply-add of a
#: minibatch sample, or one random draw), measured at 1e8 on 2 cores; half of it here.
NUMBA_RATE = 5e7
#: Inner-loop operations of one N(0, 1) draw of the replica kernels (the ziggurat).
NORMAL_DRAW = 4.0
#: Floating-point operations per second of torch and LAPACK on the CPU (2 cores, float32
#: and float64 mixed), a conservative figure.
FLOP_RATE = 2e9
#: Bytes a run takes beyond its arrays: torch's and numba's working memory, compiled code.
OVERHEAD = 0.3e9
#: Environment variable: the longest estimated run accepted, in hours.
MAX_HOURS_ENV = "LOGLOSS_MAX_HOURS"
_DEFAULT_HOURS = 8766.0  # a year


@dataclasses.dataclass(frozen=True)
class Cost:
    """Estimated peak memory and compute time of a run.

    Attributes
    ----------
    memory : float
        Bytes of the largest arrays held at once.
    seconds : float
        Compute time on this machine's CPU cores (an order of magnitude).
    sizes : str
        The parameters the estimate grows with, named in the refusal
        (for example ``"N, replicas, samples"``).
    """

    memory: float = 0.0
    seconds: float = 0.0
    sizes: str = ""

    def then(self, other: Cost) -> Cost:
        """This phase followed by ``other``: the larger memory, the sum of the times."""
        sizes = ", ".join(dict.fromkeys(s for s in (self.sizes, other.sizes) if s))
        return Cost(max(self.memory, other.memory), self.seconds + other.seconds, sizes)

    def describe(self) -> str:
        """The estimate in words: ``"about 2.3 hours on 2 CPU cores, 4.1 GB of memory"`` (the
        memory includes the run's fixed overhead)."""
        time = "an unbounded time" if not math.isfinite(self.seconds) else \
            f"about {_duration(self.seconds)} on 2 CPU cores"
        memory = "unbounded memory" if not math.isfinite(self.memory) else \
            f"{_size(self.memory + OVERHEAD)} of memory"
        return f"{time}, {memory}"


def free_memory() -> int:
    """Bytes of memory this process can still use (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def usable_cpus() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def max_seconds() -> float:
    """The longest estimated run accepted: ``$LOGLOSS_MAX_HOURS`` hours (default 8766, a year)."""
    raw = os.environ.get(MAX_HOURS_ENV, "").strip()
    if not raw:
        return _DEFAULT_HOURS * 3600
    try:
        hours = float(raw)
    except ValueError:
        hours = float("nan")
    if not (math.isfinite(hours) and hours > 0):
        raise InvalidInput(f"${MAX_HOURS_ENV}={raw!r} must be a number of hours > 0")
    return hours * 3600


def _size(nbytes: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes / 1e3:.3g} kB"


def _duration(seconds: float) -> str:
    for unit, scale in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds:.3g} s"


def check_fits(cost: Cost, what: str, *, copies: int = 1) -> None:
    """Refuse, in one line, a run that cannot fit this machine's memory or time limit.

    Parameters
    ----------
    cost : Cost
        The run's estimate.
    what : str
        The run, as the message names it (``"stationary at these parameters"``).
    copies : int
        Runs held in memory at once (parallel sweep workers).
    """
    lower = f"; lower {cost.sizes}" if cost.sizes else ""
    memory = (cost.memory + OVERHEAD) * copies
    if not memory <= 1e30:  # nan, inf or absurd: no machine holds it
        memory = math.inf
    free = free_memory()
    if memory > free:
        each = f" ({copies} at once)" if copies > 1 else ""
        need = "more memory than any machine has" if math.isinf(memory) else \
            f"about {_size(memory)} of memory{each}, more than the {_size(free)} free here"
        raise InvalidInput(f"{what} would need {need} (estimated from its parameters, before "
                           f"any work){lower}")
    limit = max_seconds()
    if not cost.seconds <= limit:
        need = "forever" if not math.isfinite(cost.seconds) or cost.seconds > 1e15 else \
            f"about {_duration(cost.seconds)}"
        raise InvalidInput(f"{what} would take {need} on this machine, more than the "
                           f"{_duration(limit)} allowed by ${MAX_HOURS_ENV} (estimated from "
                           f"its parameters, before any work){lower}")
