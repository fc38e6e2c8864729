"""Small tables for the chapters, rendered as Markdown in the book and in JupyterLab."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str],
                   formats: Mapping[str, str] | None = None):
    """A Markdown table of ``rows``.

    Parameters
    ----------
    rows : sequence of mappings
        One mapping per row (for example ``result.tables["..."]``).
    columns : mapping of str to str
        Row key → column header, in display order.
    formats : mapping of str to str, optional
        Row key → format spec, for example ``{"z": "+.2f"}``; default ``.4g`` for floats.
    """
    from IPython.display import Markdown

    formats = dict(formats or {})

    def cell(key: str, value: Any) -> str:
        if isinstance(value, float):
            return format(value, formats.get(key, ".4g"))
        return str(value)

    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(k, row[k]) for k in columns) + " |" for row in rows]
    return Markdown("\n".join(lines))
