"""Shared fixtures of the unit tests."""

import numba
import pytest


@pytest.fixture
def at_one_thread():
    """``at_one_thread(fn)``: fn() with numba on one thread (the kernels' thread-count checks)."""

    def run(fn):
        old = numba.get_num_threads()
        try:
            numba.set_num_threads(1)
            return fn()
        finally:
            numba.set_num_threads(old)

    return run
