"""Sphinx extension: the book's status page.

The directive ``{logloss-status}`` becomes a sentence on the machine, the scale and the
total execution time against the budget, then a table with one row per executed chapter:
its scale(s), experiments, execution time (from myst-nb's execution data) next to its
budget, and whether it failed, stayed within the budget or went over it (in bold).  It is
a report, not a timed test: a chapter over its budget does not fail the build, and the
words say so when the build ran at a scale or on a core count the budgets are not set for
(:func:`summary`, :attr:`ChapterRun.verdict`).

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
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

RUN_MIME = "application/vnd.logloss.run+json"
KEY = "logloss_status_table"
DEFAULT_BUDGETS = {"chapters/escape_network": 240.0, "chapters/noise_strength": 180.0, "*": 150.0}
DEFAULT_TOTAL_BUDGET = 600.0


class StatusNode(nodes.General, nodes.Element):
    """Placeholder replaced by the status table once every chapter has been executed."""


def placeholder_directive(node_class: type, key: str) -> type:
    """A directive that leaves a ``node_class`` placeholder and marks its page with ``key``
    (a post-transform fills the placeholder once every chapter has been executed)."""

    class PlaceholderDirective(SphinxDirective):
        def run(self):
            NbMetadataCollector.set_doc_data(self.env, self.env.docname, key, True)
            return [node_class()]

    return PlaceholderDirective


def pages_marked(key: str):
    """An ``env-updated`` handler that re-reads the pages marked with ``key`` whenever the
    environment changes, so that what they report is current."""

    def reread(_app, env):
        data = NbMetadataCollector.get_doc_data(env)
        return [doc for doc, meta in data.items() if meta.get(key)]

    return reread


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


def duration(seconds: float) -> str:
    """A time in minutes and seconds, so that a chapter's time and its budget read alike:
    ``95`` -> ``"1 min 35 s"``, ``150`` -> ``"2 min 30 s"``, ``3.2`` -> ``"3 s"``."""
    whole = round(seconds)
    m, sec = divmod(whole, 60)
    return " ".join(part for part in (f"{m} min" if m else "", f"{sec} s" if sec or not m else "")
                    if part)


@dataclass(frozen=True)
class ChapterRun:
    """What the status page knows of one executed chapter."""

    title: str
    scales: tuple[str, ...]  # of its experiments' run records; empty if it ran none
    experiments: int
    runtime: float  # seconds, from myst-nb's execution data
    budget: float  # seconds, at the book scale on 2 CPU cores
    succeeded: bool

    @property
    def over(self) -> bool:
        return self.succeeded and self.runtime > self.budget

    @property
    def verdict(self) -> str:
        """The status cell: a report of time against budget, at whatever scale it ran."""
        if not self.succeeded:
            return "failed"
        text = (f"over budget by {self.runtime - self.budget:.0f} s" if self.over
                else f"within budget ({self.runtime / self.budget:.0%} of it)")
        if self.scales and set(self.scales) != {"book"}:
            text += "; the budget is for the book scale"
        return text


def summary(runs: list[ChapterRun], total_budget: float, *, cores: str, machine: str) -> str:
    """The sentence above the table: machine, scale, total time against the budget, and
    which chapters went over their own budget or failed.  True for any numbers: it says
    "within" or "over" from the numbers, and says when the scale or the core count is not
    the one the budgets are set for."""
    if not runs:
        return f"No chapter was executed in this build of the book, on {machine}."
    total = sum(r.runtime for r in runs)
    scales = sorted({s for r in runs for s in r.scales})
    text = (f"This copy was built on {machine}, with {cores} CPU cores, and its experiments ran "
            f"at the {' and '.join(scales) or 'no'} scale. The chapters executed in "
            f"{duration(total)} in total, ")
    if total > total_budget:
        text += f"over the budget of {minutes(total_budget)} by {total - total_budget:.0f} s."
    else:
        text += f"within the budget of {minutes(total_budget)}."
    other = [w for w, differs in (("at another scale", scales != ["book"]),
                                  ("on another number of cores", cores != "2")) if differs]
    if other:
        text += (" The budgets are set for the book scale on 2 CPU cores; this build ran "
                 + " and ".join(other) + ", so its times do not test them.")
    over = [r.title for r in runs if r.over]
    failed = [r.title for r in runs if not r.succeeded]
    text += (" Over their own budget: " + "; ".join(over) + "." if over
             else " No chapter went over its own budget." if not failed else "")
    if failed:
        text += " Failed: " + "; ".join(failed) + "."
    return text


def cpu_model() -> str:
    """The CPU's model name (from ``/proc/cpuinfo`` on Linux), or its architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine() or "an unknown CPU"


def doc_link(refdoc: str, docname: str, text: str | None = None) -> nodes.paragraph:
    """A paragraph holding a link from page ``refdoc`` to page ``docname``: with ``text``,
    or with the page's title when ``text`` is None."""
    ref = pending_xref(refdoc=refdoc, reftarget="/" + docname, reftype="doc", refdomain="std",
                       refexplicit=text is not None, refwarn=True)
    ref += nodes.inline(text=text or docname)
    para = nodes.paragraph()
    para += ref
    return para


def _row(*cells) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph(text=str(cell))
        row += entry
    return row


def _verdict_cell(run_or_text) -> nodes.paragraph:
    """The status cell, in bold where a chapter failed or went over its budget."""
    text = run_or_text if isinstance(run_or_text, str) else run_or_text.verdict
    para = nodes.paragraph()
    para += nodes.strong(text=text) if text.startswith(("over", "failed")) else nodes.Text(text)
    return para


def new_table(headers: tuple[str, ...], css_class: str) -> tuple[nodes.table, nodes.tbody]:
    """A table with a header row of ``headers``, and its empty body to append rows to."""
    table = nodes.table(classes=["colwidths-auto", css_class])
    tgroup = nodes.tgroup(cols=len(headers))
    table += tgroup
    for _ in headers:
        tgroup += nodes.colspec(colwidth=1)
    thead = nodes.thead()
    tgroup += thead
    thead += _row(*headers)
    tbody = nodes.tbody()
    tgroup += tbody
    return table, tbody


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
        table, tbody = new_table(("Chapter", "Scale", "Experiments", "Execution time",
                                  "Budget (book scale)", "Status"), "logloss-status")
        runs: list[ChapterRun] = []
        cpus: set[int] = set()
        devices: set[str] = set()
        metadata = NbMetadataCollector.get_doc_data(self.env)
        numbers = {doc: self.env.toc_secnumbers.get(doc, {}).get("", (999,)) for doc in metadata}
        order = sorted(metadata, key=lambda doc: (numbers[doc], doc))
        for docname in order:
            exec_data = metadata[docname].get("exec_data")
            if not exec_data or not docname.startswith("chapters/"):
                continue
            number = numbers[docname]
            prefix = "" if number == (999,) else ".".join(map(str, number)) + ". "
            title = prefix + self.env.titles[docname].astext()
            para = doc_link(self.env.docname, docname, title)
            records = run_records(self._notebook(docname))
            cpus.update(int(r["cpu_count"]) for r in records if r.get("cpu_count"))
            devices.update(str(r["device"]) for r in records if r.get("device"))
            run = ChapterRun(title=title, scales=tuple(sorted({r.get("scale", "?") for r in records})),
                             experiments=len(records), runtime=float(exec_data.get("runtime") or 0.0),
                             budget=float(budgets.get(docname, budgets["*"])),
                             succeeded=bool(exec_data.get("succeeded")))
            runs.append(run)
            tbody += _row(para, ", ".join(run.scales) or "no experiment", str(run.experiments),
                          duration(run.runtime), duration(run.budget), _verdict_cell(run))
        total = sum(r.runtime for r in runs)
        total_status = (f"over budget by {total - total_budget:.0f} s" if total > total_budget
                        else f"within budget ({total / total_budget:.0%} of it)")
        tbody += _row(nodes.paragraph(text="Total"), ", ".join(sorted({s for r in runs for s in r.scales})),
                      str(sum(r.experiments for r in runs)), duration(total), duration(total_budget),
                      _verdict_cell(total_status))
        cores = ", ".join(map(str, sorted(cpus))) if cpus else str(os.cpu_count())
        machine = cpu_model()
        gpu = sorted(d for d in devices if not d.startswith("cpu"))
        if gpu:
            machine += " and " + ", ".join(gpu)
        text = summary(runs, total_budget, cores=cores, machine=machine)
        text += f" Python {platform.python_version()}."
        return [nodes.paragraph(text=text, classes=["logloss-status-summary"]), table]


def setup(app):
    app.add_config_value("logloss_budgets", None, "env")
    app.add_config_value("logloss_total_budget", None, "env")
    app.add_node(StatusNode)
    app.add_directive("logloss-status", placeholder_directive(StatusNode, KEY))
    app.connect("env-updated", pages_marked(KEY))
    app.add_post_transform(StatusPostTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
