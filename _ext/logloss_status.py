"""Sphinx extension: the book's status page.

The directive ``{logloss-status}`` becomes a sentence on the machine and the total
execution time against the budget, then a table with one row per executed chapter: its
scale(s), experiments, execution time (from myst-nb's execution data), its budget and
whether it ran and stayed within it.

The scale of each chapter is read from structured records, not from printed text:
:func:`logloss.run_experiment` displays one ``application/vnd.logloss.run+json`` bundle
per run (experiment, scale, seed, wall time, CPU count), and this extension reads those
bundles from the executed notebooks that myst-nb writes into ``_build/jupyter_execute``.

Budgets (seconds, at the book scale) come from the Sphinx config value
``logloss_budgets`` (a mapping docname -> seconds, with the key ``"*"`` for the default)
and ``logloss_total_budget``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

RUN_MIME = "application/vnd.logloss.run+json"
KEY = "logloss_status_table"
DEFAULT_BUDGETS = {"chapters/escape": 240.0, "chapters/noise_and_loss": 180.0, "*": 150.0}
DEFAULT_TOTAL_BUDGET = 600.0


class StatusNode(nodes.General, nodes.Element):
    """Placeholder replaced by the status table once every chapter has been executed."""


class StatusDirective(SphinxDirective):
    def run(self):
        NbMetadataCollector.set_doc_data(self.env, self.env.docname, KEY, True)
        return [StatusNode()]


def _docs_with_table(_app, env):
    """Re-read the status page whenever the environment changes, so its table is current."""
    data = NbMetadataCollector.get_doc_data(env)
    return [doc for doc, meta in data.items() if meta.get(KEY)]


def run_records(notebook: Path) -> list[dict]:
    """Every run record displayed in an executed notebook (empty if there is none)."""
    try:
        nb = json.loads(notebook.read_text(encoding="utf8"))
    except (OSError, ValueError):
        return []
    records = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RUN_MIME in data:
                record = data[RUN_MIME]
                if isinstance(record, str):  # some writers store JSON as a string
                    record = json.loads(record)
                records.append(record)
    return records


def minutes(seconds: float) -> str:
    """``150`` -> ``"2.5 min"``, ``240`` -> ``"4 min"``."""
    return f"{seconds / 60:.3g} min"


def _row(*cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph(text=str(cell))
        row += entry
    return row


class StatusPostTransform(SphinxPostTransform):
    default_priority = 8  # before reference resolution, so the document links resolve

    def run(self, **_kwargs) -> None:
        for node in list(self.document.findall(StatusNode)):
            node.replace_self(self._content())

    def _notebook(self, docname: str) -> Path:
        return Path(self.app.outdir).parent / "jupyter_execute" / f"{docname}.ipynb"

    def _content(self) -> list[nodes.Node]:
        budgets = {**DEFAULT_BUDGETS, **(self.config.logloss_budgets or {})}
        total_budget = float(self.config.logloss_total_budget or DEFAULT_TOTAL_BUDGET)
        table = nodes.table(classes=["colwidths-auto", "logloss-status"])
        headers = ("Chapter", "Scale", "Experiments", "Execution time (s)", "Budget", "Status")
        tgroup = nodes.tgroup(cols=len(headers))
        table += tgroup
        for _ in headers:
            tgroup += nodes.colspec(colwidth=1)
        thead = nodes.thead()
        tgroup += thead
        thead += _row(*headers)
        tbody = nodes.tbody()
        tgroup += tbody
        total = 0.0
        all_scales: set[str] = set()
        cpus: set[int] = set()
        over: list[str] = []
        failed: list[str] = []
        metadata = NbMetadataCollector.get_doc_data(self.env)
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
            title = prefix + self.env.titles[docname].astext()
            link += nodes.inline(text=title)
            para = nodes.paragraph()
            para += link
            records = run_records(self._notebook(docname))
            scales = sorted({r.get("scale", "?") for r in records})
            all_scales.update(scales)
            cpus.update(int(r["cpu_count"]) for r in records if r.get("cpu_count"))
            runtime = float(exec_data.get("runtime") or 0.0)
            total += runtime
            budget = float(budgets.get(docname, budgets["*"]))
            if not exec_data.get("succeeded"):
                status = "failed"
                failed.append(title)
            elif scales != ["book"]:
                status = "ran (budget not tested)"  # budgets hold at the book scale only
            elif runtime > budget:
                status = f"over budget by {runtime - budget:.0f} s"
                over.append(title)
            else:
                status = "within budget"
            tbody += _row(para, ", ".join(scales) or "no experiment", str(len(records)),
                          f"{runtime:.1f}", minutes(budget), status)
        at_book = all_scales == {"book"}
        if not at_book:
            total_status = "ran (budget not tested)"
        elif total <= total_budget:
            total_status = "within budget"
        else:
            total_status = f"over budget by {total - total_budget:.0f} s"
        tbody += _row(nodes.paragraph(text="Total"), ", ".join(sorted(all_scales)), "",
                      f"{total:.1f}", minutes(total_budget), total_status)
        cores = ", ".join(map(str, sorted(cpus))) if cpus else str(os.cpu_count())
        scale_words = " and ".join(sorted(all_scales)) or "no"
        text = (f"This copy was built on a machine with {cores} CPU cores "
                f"({platform.machine()}, Python {platform.python_version()}), with the "
                f"experiments at the {scale_words} scale. The chapters executed in "
                f"{total:.0f} s in total. ")
        if at_book:
            text += (f"That is {'within' if total <= total_budget else 'over'} the budget of "
                     f"{minutes(total_budget)} for the book scale"
                     + (f", by {total - total_budget:.0f} s." if total > total_budget else ".")
                     + (" The budgets assume 2 CPU cores." if cpus and cpus != {2} else ""))
        else:
            text += (f"The budgets (in total {minutes(total_budget)}) hold at the book scale "
                     "on 2 CPU cores, so this build does not test them.")
        if over:
            text += " Over their own budget: " + "; ".join(over) + "."
        if failed:
            text += " Failed: " + "; ".join(failed) + "."
        summary = nodes.paragraph(text=text, classes=["logloss-status-summary"])
        return [summary, table]


def setup(app):
    app.add_config_value("logloss_budgets", None, "env")
    app.add_config_value("logloss_total_budget", None, "env")
    app.add_node(StatusNode)
    app.add_directive("logloss-status", StatusDirective)
    app.connect("env-updated", _docs_with_table)
    app.add_post_transform(StatusPostTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
