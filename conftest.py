"""Collect the MyST-markdown chapters as notebooks for nbval.

nbval only collects ``.ipynb`` files.  Chapters are jupytext ``md:myst`` files, so this
hook hands every ``chapters/*.md`` whose header says ``format_name: myst`` to nbval's
notebook collector, reading it with :func:`jupytext.read` instead of ``nbformat.read``.
Nothing is converted on disk.  Relies on nbval 0.11 internals (pinned).
"""

from __future__ import annotations

import contextlib

import jupytext
from nbval import plugin


@contextlib.contextmanager
def _read_with_jupytext():
    original = plugin.nbformat.read
    plugin.nbformat.read = lambda path, as_version=4: jupytext.read(path)  # noqa: ARG005 (nbformat.read signature)
    try:
        yield
    finally:
        plugin.nbformat.read = original


class MystNotebook(plugin.IPyNbFile):
    """An nbval notebook collector for a MyST-markdown file."""

    def collect(self):
        with _read_with_jupytext():
            yield from super().collect()


def is_myst_notebook(path) -> bool:
    if path.suffix != ".md":
        return False
    with open(path, encoding="utf-8") as fh:
        head = fh.read(600)
    return "format_name: myst" in head


def pytest_collect_file(file_path, parent):
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and is_myst_notebook(file_path):
        return MystNotebook.from_parent(parent, path=file_path)
    return None
