"""Sphinx extension: the book's status page.

The directive ``{logloss-status}`` becomes a table with one row per executed chapter:
its execution time (from myst-nb's execution data), the scale(s) it ran at (read from
the ``[logloss] NAME: scale=S`` lines that :func:`logloss.run_experiment` prints into the
chapter's outputs) and whether it succeeded, followed by the total execution time.
"""

from __future__ import annotations

import re

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

SCALE_RE = re.compile(r"\[logloss\] [\w-]+: scale=(\w+)")
KEY = "logloss_status_table"


class StatusNode(nodes.General, nodes.Element):
    """Placeholder replaced by the status table once every chapter has been executed."""


class StatusDirective(SphinxDirective):
    def run(self):
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, KEY, True)
        return [StatusNode()]


def _docs_with_table(app, env):
    data = NbMetadataCollector.get_doc_data(env)
    return [doc for doc, meta in data.items() if meta.get(KEY)]


def _scales(env, docname: str) -> str:
    text = env.get_doctree(docname).astext()
    found = sorted(set(SCALE_RE.findall(text)))
    return ", ".join(found) if found else "no experiment"


def _row(*cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph(text=str(cell))
        row += entry
    return row


class StatusPostTransform(SphinxPostTransform):
    default_priority = 8  # before reference resolution, so the document links resolve

    def run(self, **kwargs) -> None:
        for node in list(self.document.findall(StatusNode)):
            node.replace_self(self._table())

    def _table(self) -> nodes.table:
        table = nodes.table(classes=["colwidths-auto"])
        tgroup = nodes.tgroup(cols=4)
        table += tgroup
        for _ in range(4):
            tgroup += nodes.colspec(colwidth=25)
        thead = nodes.thead()
        tgroup += thead
        thead += _row("Chapter", "Scale", "Execution time (s)", "Status")
        tbody = nodes.tbody()
        tgroup += tbody
        total = 0.0
        metadata = NbMetadataCollector.get_doc_data(self.env)
        # In the book's order: by chapter number, then name.
        numbers = {doc: self.env.toc_secnumbers.get(doc, {}).get("", (999,)) for doc in metadata}
        order = sorted(metadata, key=lambda doc: (numbers[doc], doc))
        for docname in order:
            exec_data = metadata[docname].get("exec_data")
            if not exec_data or not docname.startswith("chapters/"):
                continue
            link = pending_xref(refdoc=self.env.docname, reftarget="/" + docname, reftype="doc",
                                refdomain="std", refexplicit=True, refwarn=True)
            number = numbers[docname]
            prefix = "" if number == (999,) else ".".join(map(str, number)) + ". "
            link += nodes.inline(text=prefix + self.env.titles[docname].astext())
            para = nodes.paragraph()
            para += link
            runtime = exec_data.get("runtime") or 0.0
            total += runtime
            status = "ok" if exec_data.get("succeeded") else "failed"
            tbody += _row(para, _scales(self.env, docname), f"{runtime:.1f}", status)
        tbody += _row(nodes.paragraph(text="Total"), "", f"{total:.1f}", "")
        return table


def setup(app):
    app.add_node(StatusNode)
    app.add_directive("logloss-status", StatusDirective)
    app.connect("env-updated", _docs_with_table)
    app.add_post_transform(StatusPostTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
