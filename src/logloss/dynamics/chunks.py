"""Running a replica kernel in short calls, so that Ctrl-C and progress bars work.

A numba kernel cannot be interrupted: Python sees Ctrl-C only when the call returns.  The
replica kernels therefore run their replicas in groups and their steps in chunks, one
kernel call per (group, chunk), each call continuing the replicas' trajectories where the
previous one left them (θ, generator state, permutation, first passages: everything a
replica carries lives in arrays, not in the kernel's locals).  Since a replica depends only
on its own stream, the results are bitwise those of one call over all replicas and steps.

The chunk length adapts so that a call lasts about :data:`CALL_SECONDS` of wall time
whatever ``steps`` is, and on a loaded machine too (the time is measured), so that Ctrl-C
stops a run within about that time, plus the start of the first chunk, which is sized
from the work per step before any is measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numba

from ..core.progress import progress
from ..core.resources import NUMBA_RATE

__all__ = ["CALL_SECONDS", "run_in_chunks", "group_size"]

#: Wall time one kernel call aims at (seconds).
CALL_SECONDS = 0.5
#: Bytes of per-replica scratch (permutations of range(N)) a group may hold.
GROUP_BYTES = 64e6


def group_size(replicas: int, per_replica_bytes: float) -> int:
    """Replicas per group: all of them if their scratch fits :data:`GROUP_BYTES`, else as
    many as fit, and never fewer than the threads (a wave of replicas runs in parallel)."""
    threads = max(1, numba.get_num_threads())
    fit = int(GROUP_BYTES // max(per_replica_bytes, 1.0))
    return max(1, min(replicas, max(threads, fit)))


def run_in_chunks(call: Callable[[int, int, int, int], bool], *, replicas: int, steps: int,
                  work: float, group: int, desc: str) -> None:
    """Run ``call(lo, hi, k0, k1)`` over groups [lo, hi) of ``group`` replicas and chunks
    of steps k0 + 1, …, k1 until ``steps``; ``call`` returns True when every replica of
    the group has stopped (the group's remaining steps are then skipped).

    ``work`` is the kernel's inner-loop operations per replica and step, which sizes the
    first chunk (:data:`~logloss.core.resources.NUMBA_RATE`); later chunks are sized from
    the measured wall time of the previous call.  A progress bar counts replica-steps.
    """
    threads = max(1, numba.get_num_threads())
    bar = progress(total=replicas * steps, desc=desc, unit="step")  # a tqdm bar
    rate = NUMBA_RATE * threads * CALL_SECONDS / 10  # the first call: a tenth of the target
    try:
        for lo in range(0, replicas, group):
            hi = min(replicas, lo + group)
            waves = -(-(hi - lo) // threads)
            chunk = max(1, int(rate / (waves * max(work, 1.0))))
            k = 0
            while k < steps:
                k1 = min(steps, k + chunk)
                start = time.perf_counter()
                finished = call(lo, hi, k, k1)
                elapsed = time.perf_counter() - start
                bar.update((hi - lo) * ((steps if finished else k1) - k))
                if finished:
                    break
                k = k1
                # about CALL_SECONDS per call; at most 4× longer than the last, so that a
                # call that ended early (replicas that stopped) does not make the next too long
                grow = CALL_SECONDS / elapsed if elapsed > 0 else 4.0
                chunk = max(1, int(chunk * min(4.0, grow)))
    finally:  # Ctrl-C included: the bar is erased, so that the error has a line of its own
        bar.close()
