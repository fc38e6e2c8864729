"""One figure per registered experiment: ``display/figures/<experiment>.py`` draws it.

:func:`plot` draws a :class:`~logloss.Result` with the figure registered for its
experiment (by :func:`draws`); every figure is stamped with the experiment, scale and
seed that produced it (:func:`logloss.display.plotting.stamp`).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from ...core.errors import InvalidInput

__all__ = ["draws", "plot", "show"]

_FIGURES: dict[str, Callable[[Any], Any]] = {}


def draws(*experiments: str) -> Callable:
    """Register ``fn(result) -> Figure`` as the figure of each experiment named."""

    def register(fn: Callable) -> Callable:
        for name in experiments:
            _FIGURES[name] = fn
        return fn

    return register


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


def plot(result) -> Any:
    """The matplotlib figure of ``result`` (a :class:`~logloss.Result`), stamped with its
    experiment, scale and seed."""
    _load_all()
    if result.name not in _FIGURES:
        raise InvalidInput(f"no figure is registered for experiment {result.name!r}")
    return _FIGURES[result.name](result)


def show(obj, *, dpi: int = 200) -> None:
    """Display a figure in the notebook as a PNG, whatever matplotlib's backend.

    ``obj`` is a :class:`~logloss.Result` (drawn with :func:`plot`) or a matplotlib
    ``Figure``.  The figure is rendered to PNG at ``dpi`` and shown with IPython's
    ``display``, then closed, so that a book built with ``MPLBACKEND=Agg`` (where no
    figure is picked up automatically) still has every image, and none is shown twice.
    The image is declared :data:`~logloss.display.plotting.SCREEN_DPI` CSS pixels wide per
    inch of figure (its design size: 6.72 in fill the book's 672-px column), so that its
    text is shown at the size it was drawn for, sharp on high-density screens.
    A figure passed in is :func:`~logloss.display.plotting.tidy`-ed first (those drawn
    by :func:`plot` already are); one that still breaks the book's figure rules
    (:func:`~logloss.display.plotting.check_figure`: at most two panels a row, text large
    enough, legends off the data, no titles) is an error that says what.
    """
    import io

    import matplotlib.pyplot as plt
    from IPython.display import Image, display

    from ..plotting import SCREEN_DPI, check_figure, tidy

    fig = tidy(obj) if hasattr(obj, "savefig") else plot(obj)
    problems = check_figure(fig)
    if problems:
        plt.close(fig)
        raise ValueError("the figure breaks the book's figure rules (logloss.display.plotting): "
                         + "; ".join(problems))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png", width=round(fig.get_figwidth() * SCREEN_DPI)))
