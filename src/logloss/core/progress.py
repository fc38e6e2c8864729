"""Progress bars on stderr for long runs (tqdm), silenced by ``LOGLOSS_PROGRESS=0``."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             unit: str = "it") -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar written to stderr (``None``: a bar moved by
    ``update``; ``unit`` names what it counts, shown with SI prefixes for large totals).

    The bar is shown unless ``$LOGLOSS_PROGRESS`` is ``0``; it appears only for
    loops that last more than a couple of seconds (``delay=2``).
    """
    disable = os.environ.get("LOGLOSS_PROGRESS", "1") == "0"
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, disable=disable, delay=2.0,
                leave=False, unit=unit, unit_scale=unit != "it")
