"""One context manager for torch's intra-op thread count."""

from __future__ import annotations

from contextlib import contextmanager

import torch

__all__ = ["torch_threads"]


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
