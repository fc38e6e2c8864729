"""Small tables for the chapters, rendered as Markdown in the book and in JupyterLab."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Table", "markdown_table"]

#: Inline math ``$...$`` (not ``\$``), whose bars are written as LaTeX commands.
_MATH = re.compile(r"(?<!\\)\$(?:[^$\\]|\\.)+\$")


def _escape(text: str) -> str:
    """One table cell's Markdown, with no character that ends the cell.

    A bar ``|`` ends a cell in every Markdown renderer's table, and the renderers
    disagree on escapes: markdown-it (the book) drops one backslash before any ``|``,
    math included, while JupyterLab's renderer takes the math out before it splits the
    row.  So a bar in math becomes ``\\vert`` (``\\|`` becomes ``\\Vert``), which every
    renderer passes through and MathJax draws as the same bar, and a bar in text becomes
    ``\\|``, which both read as a literal bar.  Line breaks become spaces.
    """
    text = " ".join(str(text).splitlines())
    out, last = [], 0
    for m in _MATH.finditer(text):
        out.append(text[last:m.start()].replace("|", r"\|"))
        math = m.group(0).replace(r"\|", r"\Vert ").replace("|", r"\vert ")
        out.append(math)
        last = m.end()
    out.append(text[last:].replace("|", r"\|"))
    return "".join(out)


class Table:
    """A table that displays itself as Markdown (``text/markdown``): a real table in the
    HTML book and in JupyterLab, with its math rendered; as aligned text elsewhere.

    Returned by :func:`markdown_table`; it shows only where it is displayed (the last
    expression of a cell, or passed to ``IPython.display.display``).
    """

    def __init__(self, header: Sequence[str], body: Sequence[Sequence[str]]):
        self.header = [str(h) for h in header]
        self.body = [[str(c) for c in row] for row in body]

    @property
    def markdown(self) -> str:
        """The table as GitHub/MyST Markdown, every cell escaped."""
        lines = ["| " + " | ".join(_escape(h) for h in self.header) + " |",
                 "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in self.body]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        rows = [self.header, *self.body]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.header))]
        fmt = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        return "\n".join([fmt[0], "  ".join("-" * w for w in widths), *fmt[1:]])

    def __len__(self) -> int:
        return len(self.body)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str],
                   formats: Mapping[str, str] | None = None) -> Table:
    """A table of ``rows``, displayed as Markdown (:class:`Table`).

    Headers and cells may hold inline math (``"$|x|$"``) and bars: each cell is escaped
    so that it stays one cell in every renderer.  The table is shown only where it is
    displayed: make it the last expression of its cell, or pass it to ``display``.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row (for example ``result.tables["..."]``).
    columns : mapping of str to str
        Row key → column header, in display order.
    formats : mapping of str to str, optional
        Row key → format spec, for example ``{"z": "+.2f"}``; default ``.4g`` for floats.
    """
    formats = dict(formats or {})

    def cell(key: str, value: Any) -> str:
        if isinstance(value, float):
            return format(value, formats.get(key, ".4g"))
        return str(value)

    return Table(list(columns.values()), [[cell(k, row[k]) for k in columns] for row in rows])
