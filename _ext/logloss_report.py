"""Sphinx extension: the reproduction report.

The directive ``{logloss-report}`` becomes a table with one row per result R1–R13
(:data:`logloss.report.CLAIMS`): the paper's statement, the value compared with, this
build's number with its error (read from the run records that the chapters' runs left in
their executed notebooks, so nothing runs twice), the stored paper-scale number from
``results/`` with its device, date and commit (or, where the store lacks it, the one
command that makes it, its estimated cost and the data the user must supply), the
independent check, and the computed verdicts.  A list follows of every claim the book does not reproduce, one sentence each,
linked to its chapter.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from logloss_status import _row, doc_link, new_table, pages_marked, placeholder_directive, run_records
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.transforms.post_transforms import SphinxPostTransform

from logloss.report import load_store, report_rows

KEY = "logloss_report_table"


class ReportNode(nodes.General, nodes.Element):
    """Placeholder replaced by the report once every chapter has been executed."""


def _run_cell(cell: dict) -> str:
    if cell["verdict"][0] == "derivation":
        return "—"
    if "scale" not in cell:  # the paper-scale cell says what makes the run; a book cell has none
        text = cell.get("to_make", "not yet run")
    else:
        where = ", ".join(x for x in (cell["device"].split(" (")[0], cell["date"][:10],
                                      cell["commit"] and f"commit {cell['commit']}") if x)
        text = f"{cell['value']} ({cell['scale']}; {where})"
    return " ".join([text, *(f"Also {line}" for line in cell.get("also", ()))])


def _with_code(text: str) -> nodes.paragraph:
    """A paragraph in which the `quoted` parts (the commands) are set as code."""
    para = nodes.paragraph()
    for i, part in enumerate(text.split("`")):
        if part:
            para += nodes.literal(text=part) if i % 2 else nodes.Text(part)
    return para


def _verdict(cell: dict) -> str:
    word, stat = cell["verdict"]
    return f"{word} ({stat})" if stat else word


class ReportPostTransform(SphinxPostTransform):
    default_priority = 8  # before reference resolution, so the chapter links resolve

    def run(self, **_kwargs) -> None:
        for node in list(self.document.findall(ReportNode)):
            node.replace_self(self._content())

    def _link(self, docname: str, text: str) -> nodes.paragraph:
        return doc_link(self.env.docname, docname, text)

    def _content(self) -> list[nodes.Node]:
        outdir = Path(self.app.outdir).parent / "jupyter_execute"
        book: dict[str, dict] = {}
        for docname in sorted(NbMetadataCollector.get_doc_data(self.env)):
            for record in run_records(outdir / f"{docname}.ipynb"):
                if "measured" in record:
                    book.setdefault(record["experiment"], record)
        rows = report_rows(book, load_store(Path(self.app.srcdir) / "results"))
        table, tbody = new_table(("Result", "The paper", "This build", "Paper scale (results/)",
                                  "Independent check", "Verdict"), "logloss-report")
        disagreements = nodes.bullet_list()
        for row in rows:
            claim = row["claim"]
            verdicts = f"build: {_verdict(row['book'])}; paper scale: {_verdict(row['paper_scale'])}"
            if claim.experiment is None:
                verdicts = _verdict(row["book"])
            paper = claim.paper if row["target"] == "—" else f"{claim.paper}; compared with {row['target']}"
            tbody += _row(self._link(claim.chapter, f"{claim.result}: {claim.title}"), paper,
                          _run_cell(row["book"]), _with_code(_run_cell(row["paper_scale"])), claim.check,
                          verdicts)
            if row["reason"]:
                item = nodes.list_item()
                para = self._link(claim.chapter, f"{claim.result} ({claim.title})")
                para += nodes.Text(f": {row['reason']}.")
                item += para
                disagreements += item
        out = [table]
        if len(disagreements):
            out += [nodes.paragraph(text="Where the book departs from the paper, or cannot yet "
                                         "test it, and why (each links to its chapter):"),
                    disagreements]
        return out


def setup(app):
    app.add_node(ReportNode)
    app.add_directive("logloss-report", placeholder_directive(ReportNode, KEY))
    app.connect("env-updated", pages_marked(KEY))
    app.add_post_transform(ReportPostTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
