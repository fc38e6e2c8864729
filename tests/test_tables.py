"""logloss.markdown_table: every cell stays one cell in the book's Markdown parser
(markdown-it with dollarmath, as MyST) and in JupyterLab's rule (math taken out first,
then the row split at bars not escaped by an odd number of backslashes), and the table
displays itself as Markdown."""

import re

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

import logloss

ROWS = [{"x": 1.5, "t": "a|b", "g": "$\\|G\\|_2$"}, {"x": 2.0, "t": "$|t|$ and |t|", "g": "$|x|^2$"}]
COLUMNS = {"x": "$|x|$", "t": "$\\|t\\|$ (text|bar)", "g": "$|G|$"}


def _myst_cells(markdown: str) -> list[list[str]]:
    """Rows of cells as the book's parser reads them: the inline children of each cell,
    math as ``$...$`` and text as it is shown."""
    md = MarkdownIt("commonmark").enable("table").use(dollarmath_plugin)
    tokens = md.parse(markdown)
    rows, row = [], None
    for tok in tokens:
        if tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            parts = []
            for child in tok.children or []:
                if child.type == "math_inline":
                    parts.append(f"${child.content}$")
                elif child.type == "text":
                    parts.append(child.content)
            row.append("".join(parts))
        elif tok.type == "tr_close":
            rows.append(row)
            row = None
    return rows


def _jupyterlab_cells(markdown: str) -> list[list[str]]:
    """JupyterLab's order: math out (placeholders), then marked's cell split, where a bar
    is escaped by an odd number of backslashes; math back in."""
    maths = []

    def hide(m):
        maths.append(m.group(0))
        return f"@@{len(maths) - 1}@@"

    text = re.sub(r"(?<!\\)\$(?:[^$\\]|\\.)+\$", hide, markdown)
    rows = []
    for line in text.splitlines():
        if set(line) <= set("|-: "):
            continue
        cells, cur, i = [], "", 0
        body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
        while i < len(body):
            ch = body[i]
            if ch == "|":
                slashes = len(cur) - len(cur.rstrip("\\"))
                if slashes % 2 == 0:
                    cells.append(cur)
                    cur = ""
                    i += 1
                    continue
                cur = cur[:-1]
            cur += ch
            i += 1
        cells.append(cur)
        rows.append([re.sub(r"@@(\d+)@@", lambda m: maths[int(m.group(1))], c.strip()) for c in cells])
    return rows


@pytest.fixture
def table():
    return logloss.markdown_table(ROWS, COLUMNS, {"x": ".2f"})


@pytest.mark.parametrize("parse", [_myst_cells, _jupyterlab_cells])
def test_every_row_keeps_its_cells(table, parse):
    rows = parse(table.markdown)
    assert [len(r) for r in rows] == [3, 3, 3]
    header, first, second = rows
    # bars in math are LaTeX's \vert / \Vert, which MathJax draws as the same bars
    assert header[0] == "$\\vert x\\vert $"
    assert header[1] == "$\\Vert t\\Vert $ (text|bar)"
    assert first[:2] == ["1.50", "a|b"]
    assert first[2] == "$\\Vert G\\Vert _2$"
    assert second[1] == "$\\vert t\\vert $ and |t|"


def test_unescaped_bars_would_break_the_row():
    """The oracles see the old failure: bare bars in a header make it no table at all
    (raw text in the book), and in JupyterLab's split they add cells."""
    raw = "| $|x|$ | b |\n|---|---|\n| 1 | 2 |"
    assert _myst_cells(raw) == []
    raw = "| a | b |\n|---|---|\n| x|y | 2 |"
    assert [len(r) for r in _myst_cells(raw)] == [2, 2] and _myst_cells(raw)[1] == ["x", "y"]


def test_table_displays_as_markdown_and_text(table):
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(table)
    assert data["text/markdown"] == table.markdown
    assert "1.50" in data["text/plain"] and "|" not in data["text/plain"].splitlines()[1]
    assert len(table) == 2


def test_newline_in_a_cell_stays_in_its_row():
    t = logloss.markdown_table([{"a": "two\nlines"}], {"a": "a"})
    assert _myst_cells(t.markdown) == [["a"], ["two lines"]]
