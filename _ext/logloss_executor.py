"""Sphinx extension: a lost wake-up in the notebook executor costs one second, not a cell timeout.

A book build here has stalled, about once in ten, for exactly the cell timeout: the kernel
had finished its cell and was idle, and nbclient was idle too, waiting for the reply
(py-spy on both; every socket queue empty). nbclient waits with one
``shell_channel.get_msg(timeout=cell timeout)``, which is an asyncio poll of the zmq
socket. zmq's file descriptor is edge-triggered. If the edge for the reply is missed, the
poll sleeps until its timeout, and then finds the reply that was there all along (the
build went on normally after each stall). This is the same lost wake-up that ipykernel
PR #1529 fixes on the kernel's side.

This extension makes the executor's channels poll in slices of :data:`SLICE_S` seconds up
to the same deadline, so a missed edge is found at the next slice. It changes nothing else:
a message that arrives is returned at once, and ``Empty`` is raised at the same deadline as
before.
"""

from __future__ import annotations

import time
from queue import Empty

from jupyter_client.channels import AsyncZMQSocketChannel

SLICE_S = 1.0


def sliced(get_msg):
    """``get_msg(self, timeout)`` that polls in slices of at most SLICE_S seconds."""

    async def get_msg_sliced(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = SLICE_S if left is None else min(SLICE_S, left)
            try:
                return await get_msg(self, timeout=step)
            except Empty:
                if left is not None and left <= step:
                    raise

    get_msg_sliced.__wrapped__ = get_msg
    return get_msg_sliced


def setup(app):  # noqa: ARG001 (the signature Sphinx calls)
    if not hasattr(AsyncZMQSocketChannel.get_msg, "__wrapped__"):
        AsyncZMQSocketChannel.get_msg = sliced(AsyncZMQSocketChannel.get_msg)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
