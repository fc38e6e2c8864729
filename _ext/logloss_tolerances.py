"""Sphinx extension and parser: which kind of tolerance each chapter's checks use.

Every ``assert`` in a chapter's code cells is directly preceded by a comment line

    # tolerance: statistical: <the statistic, e.g. 4 s.e. of the replica means>
    # tolerance: criterion: <the declared criterion and its reason>

:func:`inventory` lists the asserts of one chapter with their kinds (``tests/test_logloss_tolerances.py``
fails on an assert with neither).  The directive ``{logloss-tolerances}`` becomes a table,
one row per chapter of the table of contents: how many checks it has, how many are
statistical, how many are declared criteria (with each criterion's words below the table),
and how many state no tolerance.  It is computed from the chapters' sources at every build.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import yaml
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

TOLERANCE = re.compile(r"^\s*#\s*tolerance:\s*(statistical|criterion):\s*(\S.*)$")


@dataclass(frozen=True)
class Assert:
    """One assert statement of a chapter and the tolerance comment above it."""

    cell: int  # index among the chapter's code cells, from 0
    line: int  # line of the assert within its cell, from 1
    kind: str | None  # "statistical", "criterion", or None when the comment is missing
    reason: str
    source: str


def _python(source: str) -> str:
    """Cell source with IPython magics and shell escapes blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in source.splitlines())


def inventory(path: Path) -> list[Assert]:
    """Every assert statement in the code cells of the MyST chapter at ``path``, in order."""
    out = []
    cells = [c for c in jupytext.read(path, fmt="md:myst").cells if c.cell_type == "code"]
    for i, cell in enumerate(cells):
        lines = cell.source.splitlines()
        for node in ast.walk(ast.parse(_python(cell.source))):
            if not isinstance(node, ast.Assert):
                continue
            above = lines[node.lineno - 2] if node.lineno >= 2 else ""
            m = TOLERANCE.match(above)
            out.append(Assert(i, node.lineno, m and m.group(1), m.group(2).strip() if m else "",
                              lines[node.lineno - 1].strip()))
    return sorted(out, key=lambda a: (a.cell, a.line))


def toc_chapters(root: Path) -> list[str]:
    """Docnames under ``chapters/`` in the order of ``_toc.yml`` (sections included)."""
    def walk(entries):
        for e in entries or ():
            if "file" in e:
                yield e["file"]
            yield from walk(e.get("sections"))
            yield from walk(e.get("chapters"))

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf8"))
    return [d for d in walk(toc.get("parts", [])) if d.startswith("chapters/")]


class TolerancesDirective(SphinxDirective):
    def run(self):
        from logloss_status import _row, doc_link, new_table

        root = Path(self.env.srcdir)
        table, tbody = new_table(("Chapter", "Checks", "Statistical", "Declared criteria",
                                  "No stated tolerance"), "logloss-tolerances")
        criteria = nodes.bullet_list()
        for doc in toc_chapters(root):
            path = root / f"{doc}.md"
            self.env.note_dependency(str(path))
            found = inventory(path)
            count = {k: sum(a.kind == k for a in found) for k in ("statistical", "criterion", None)}
            tbody += _row(doc_link(self.env.docname, doc), len(found), count["statistical"],
                          count["criterion"], count[None])
            for reason in dict.fromkeys(a.reason for a in found if a.kind == "criterion"):
                item = nodes.list_item()
                para = doc_link(self.env.docname, doc)
                para += nodes.Text(f": {reason}")
                item += para
                criteria += item
        out = [table]
        if len(criteria):
            out += [nodes.paragraph(text="The declared criteria, each with its reason:"), criteria]
        return out


def setup(app):
    app.add_directive("logloss-tolerances", TolerancesDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
