"""The book's executor extension: channel polls in 1-s slices up to the same deadline."""

import asyncio
import time
from pathlib import Path
from queue import Empty

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ext():
    import logloss_executor

    return logloss_executor


class Channel:
    """A channel whose message is 'there' after ``ready_after`` s but whose wake-up is lost:
    a poll only sees it when its own timeout expires (as zmq's missed edge does)."""

    def __init__(self, ready_after):
        self.t0, self.ready_after, self.timeouts, self.starts = time.monotonic(), ready_after, [], []

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        self.starts.append(time.monotonic())
        await asyncio.sleep(timeout)
        if time.monotonic() - self.t0 >= self.ready_after:
            return {"msg": "reply"}
        raise Empty


def test_a_missed_wakeup_costs_one_slice_not_the_timeout(ext, monkeypatch):
    monkeypatch.setattr(ext, "SLICE_S", 0.05)
    ch = Channel(ready_after=0.12)
    get = ext.sliced(Channel.get_msg)
    assert asyncio.run(get(ch, timeout=30)) == {"msg": "reply"}
    # the reply is taken by the first poll after it is ready (not after the 30-s timeout):
    # every poll but the last started before it was ready, whatever the machine's load
    assert all(s - ch.t0 < 0.12 for s in ch.starts[:-1])
    assert max(ch.timeouts) <= 0.05


def test_empty_is_raised_at_the_same_deadline(ext, monkeypatch):
    monkeypatch.setattr(ext, "SLICE_S", 0.05)
    ch = Channel(ready_after=1e9)
    t = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(ext.sliced(Channel.get_msg)(ch, timeout=0.2))
    assert time.monotonic() - t >= 0.2
    # no poll starts after the deadline, and the slices asked for never pass it: load-proof
    assert all(s < t + 0.2 for s in ch.starts)
    assert all(s + w <= t + 0.2 + 1e-3 for s, w in zip(ch.starts, ch.timeouts))
