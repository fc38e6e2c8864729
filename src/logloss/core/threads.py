"""Context managers for torch's intra-op and numba's parallel thread counts."""

from __future__ import annotations

from contextlib import contextmanager

import numba
import torch

__all__ = ["numba_threads", "torch_threads"]


@contextmanager
def torch_threads(n: int | None):
    """Run a block with ``torch.set_num_threads(n)`` (``None``: leave it), then restore.

    Minibatches of B ≈ 100 are too small to gain from intra-op threads, and when other
    processes compete for the cores, OpenMP spin-waiting can make two threads ten times
    slower than one (measured here); the training loop therefore defaults to one thread.
    """
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def numba_threads(n: int | None):
    """Run a block with ``numba.set_num_threads(n)`` (``None``: leave it), then restore."""
    old = numba.get_num_threads()
    if n is not None:
        numba.set_num_threads(min(int(n), numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)
