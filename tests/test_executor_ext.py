"""The book's executor extension: channel polls in 1-s slices up to the same deadline."""

import asyncio
import importlib.util
import time
from pathlib import Path
from queue import Empty

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ext():
    spec = importlib.util.spec_from_file_location("logloss_executor", ROOT / "_ext" / "logloss_executor.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Channel:
    """A channel whose message is 'there' after ``ready_after`` s but whose wake-up is lost:
    a poll only sees it when its own timeout expires (as zmq's missed edge does)."""

    def __init__(self, ready_after):
        self.t0, self.ready_after, self.timeouts = time.monotonic(), ready_after, []

    async def get_msg(self, timeout=None):
        self.timeouts.append(timeout)
        await asyncio.sleep(timeout)
        if time.monotonic() - self.t0 >= self.ready_after:
            return {"msg": "reply"}
        raise Empty


def test_a_missed_wakeup_costs_one_slice_not_the_timeout(ext, monkeypatch):
    monkeypatch.setattr(ext, "SLICE_S", 0.05)
    ch = Channel(ready_after=0.12)
    get = ext.sliced(Channel.get_msg)
    t = time.monotonic()
    assert asyncio.run(get(ch, timeout=30)) == {"msg": "reply"}
    assert time.monotonic() - t < 1.0  # not the 30-s timeout
    assert max(ch.timeouts) <= 0.05


def test_empty_is_raised_at_the_same_deadline(ext, monkeypatch):
    monkeypatch.setattr(ext, "SLICE_S", 0.05)
    ch = Channel(ready_after=1e9)
    t = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(ext.sliced(Channel.get_msg)(ch, timeout=0.2))
    assert 0.2 <= time.monotonic() - t < 0.5
