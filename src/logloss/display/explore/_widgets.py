"""The widget harness shared by the explorers, and their common colours and labels.

Each explorer has a pure data function (deterministic from an explicit seed), a draw
function that renders its dict into given axes, a static grid for the HTML book and an
ipywidgets builder for JupyterLab wired by :func:`explorer`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import plotting

__all__ = ["MEASURED_COLOR", "HIGHLIGHT_COLOR", "SECOND_COLOR", "time_update", "explorer"]

MEASURED_COLOR = plotting.OKABE_ITO[0]  # blue, as measured points in the book's figures
HIGHLIGHT_COLOR = plotting.OKABE_ITO[1]  # vermilion: the reader's chosen setting
SECOND_COLOR = plotting.OKABE_ITO[2]  # bluish green: a second measured series


def time_update(fn, *args, repeat: int = 5, **kwargs) -> float:
    """Median wall time (seconds) of ``fn(*args, **kwargs)`` after one warm-up call."""
    fn(*args, **kwargs)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def explorer(controls: dict, compute, draw, ncols: int = 2):
    """Wire ``controls`` to an ``Output``: on every change, compute data and redraw."""
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    out = w.Output()
    timing = w.HTML()
    state: dict[str, Any] = {"data": None, "seconds": None, "updates": 0}

    def update(_change=None):
        values = {k: c.value for k, c in controls.items()}
        t0 = time.perf_counter()
        try:
            data = compute(**values)
        except ValueError as err:  # bad combination of inputs: say so, keep the widget alive
            timing.value = f"<span style='color:{HIGHLIGHT_COLOR}'>{err}</span>"
            return
        t1 = time.perf_counter()
        state.update(data=data, seconds=t1 - t0, updates=state["updates"] + 1)
        fig, axes = plotting.figure(ncols)
        draw(data, axes)
        with out:
            out.clear_output(wait=True)
            display(fig)
        plt.close(fig)
        t2 = time.perf_counter()
        timing.value = (f"<small>update: data {1e3 * (t1 - t0):.0f} ms, "
                        f"drawing {1e3 * (t2 - t1):.0f} ms</small>")

    for c in controls.values():
        c.observe(update, names="value")
    update()
    box = w.VBox([w.HBox(list(controls.values()), layout=w.Layout(flex_flow="row wrap")),
                  out, timing])
    box.explorer_state = state
    box.explorer_update = update
    box.explorer_controls = controls
    return box


