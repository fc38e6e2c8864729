"""Saving a run: ``summary.json``, ``arrays.npz`` and ``figure.png`` in one folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .display.figures import plot
from .experiments._registry import Result

__all__ = ["save_run"]


def save_run(result: Result, out: str | Path, *, dpi: int = 200) -> Path:
    """Write ``result``'s summary, arrays and figure into the folder ``out``."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
    np.savez_compressed(out / "arrays.npz", **result.arrays)
    fig = plot(result)
    fig.savefig(out / "figure.png", dpi=dpi)
    plt.close(fig)
    return out
