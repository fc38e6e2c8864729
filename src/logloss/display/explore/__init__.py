"""Interactive explorers of the core chapters, and their static small-multiples twins.

One module per chapter: :mod:`.stationary`, :mod:`.escape`, :mod:`.noise`, :mod:`.barrier`.  Each has a
pure data function (``*_data``), a draw function (``draw_*``), a static grid for the
HTML book (``*_grid``) and an ipywidgets builder for JupyterLab (``*_explorer``).
:mod:`.html` builds kernel-free explorers for the HTML book, one function per chapter
(:func:`noise_html`, :func:`stationary_html`, :func:`escape_html`, :func:`barrier_html`):
precomputed, drawn by the bundled plotly.js, with keyboard- and phone-friendly sliders.
"""

from ._widgets import time_update
from .barrier import barrier_data, barrier_explorer, barrier_grid, draw_barrier
from .escape import draw_escape, escape_data, escape_explorer, escape_grid
from .html import barrier_html, escape_html, noise_html, stationary_html
from .noise import draw_noise, noise_data, noise_explorer, noise_grid
from .stationary import (
    draw_stationary,
    stationary_data,
    stationary_explorer,
    stationary_grid,
)

__all__ = [
    "stationary_data", "draw_stationary", "stationary_grid", "stationary_explorer", "stationary_html",
    "escape_data", "draw_escape", "escape_grid", "escape_explorer", "escape_html",
    "noise_data", "draw_noise", "noise_grid", "noise_explorer", "noise_html",
    "barrier_data", "draw_barrier", "barrier_grid", "barrier_explorer", "barrier_html",
    "time_update",
]
