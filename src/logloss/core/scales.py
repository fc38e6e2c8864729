"""The three experiment scales: ``smoke`` (seconds), ``book`` (default) and ``paper``.

The scale of a run is chosen, in order of precedence, by an explicit argument, by the
environment variable ``LOGLOSS_SCALE``, or falls back to ``book``.
"""

from __future__ import annotations

import os

SCALES: tuple[str, ...] = ("smoke", "book", "paper")
DEFAULT_SCALE = "book"
ENV_VAR = "LOGLOSS_SCALE"


def resolve_scale(scale: str | None = None) -> str:
    """Return the scale to run at.

    Parameters
    ----------
    scale : str or None
        An explicit scale.  ``None`` reads ``$LOGLOSS_SCALE`` and defaults to ``"book"``.

    Raises
    ------
    ValueError
        If the scale is not one of :data:`SCALES`.
    """
    chosen = scale if scale is not None else os.environ.get(ENV_VAR, "").strip() or DEFAULT_SCALE
    if chosen not in SCALES:
        source = "scale" if scale is not None else f"${ENV_VAR}"
        raise ValueError(f"unknown {source} {chosen!r}: choose one of {', '.join(SCALES)}")
    return chosen
