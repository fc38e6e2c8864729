"""Sphinx extension: what a reader of the HTML book needs beyond the theme's defaults.

* **Executed notebooks to download.**  sphinx-book-theme offers a chapter's ``.ipynb``
  only when a launch service (Binder, JupyterHub, ...) is configured, which an offline
  book has not.  This copies myst-nb's executed notebook next to the page's source in
  ``_sources`` and lets the theme's download button offer it beside the ``.md``.
* **No unused widget state.**  A chapter that builds an ipywidgets explorer in a removed
  cell still carries the widgets' state in its notebook metadata; myst-nb would embed
  it (and a CDN script to read it) in the page.  The static HTML has no kernel, so the
  state is dropped.
* **plotly.js, once, offline.**  Pages with an interactive explorer
  (:mod:`logloss.display.explore.html`, marked by the class ``logloss-explorer``) get the
  plotly.js that ships inside the ``plotly`` wheel, copied once into
  ``_static/vendor/`` (not under the book's own ``_static/``, whose files go on every
  page).
* **Citation labels that match the text.**  Citations in the text read "Mori et al.,
  2022" (``bibtex_reference_style: author_year``); the pybtex style ``logloss``
  (``bibtex_default_style``) labels the references page the same way, instead of
  "[MZLU22]".
* **No thebe.**  jupyter-book always loads ``sphinx_thebe``, which puts on every page a
  script declaring ``THEBE_JS_URL`` (declared twice, a console error), that URL on a
  remote server, and a thebe configuration naming a remote repository.  The book has no
  live kernel (the explorers are precomputed), so the extension's handlers are
  disconnected and none of it reaches a page.
* **A list of theorems.**  The directive ``{logloss-theorems}`` lists every numbered
  theorem-like block of the book by chapter, each as a link with its number and title.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from docutils import nodes
from logloss_status import pages_marked, placeholder_directive
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx.addnodes import pending_xref
from sphinx.transforms.post_transforms import SphinxPostTransform

PLOTLY_MARKER = 'class="logloss-explorer"'
PLOTLY_STATIC = "vendor/plotly.min.js"
THEOREMS_KEY = "logloss_theorem_list"


# --- executed notebooks -------------------------------------------------------------


def offer_notebook(app, pagename, _templatename, context, doctree) -> None:
    """Copy the executed notebook of ``pagename`` into ``_sources`` and tell the theme."""
    if doctree is None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file() or not context.get("sourcename", "").endswith((".md", ".md.txt")):
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


# --- widget state --------------------------------------------------------------------


def drop_widget_state(app, _doctree) -> None:
    data = NbMetadataCollector.get_doc_data(app.env).get(app.env.docname, {})
    js_files = data.get("js_files", {})
    for key in [k for k in js_files if k.startswith("ipywidgets")]:
        del js_files[key]


# --- plotly.js -----------------------------------------------------------------------


def add_plotly(app, _pagename, _templatename, context, _doctree) -> None:
    if PLOTLY_MARKER in context.get("body", ""):
        app.add_js_file(PLOTLY_STATIC)


def copy_plotly(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    from plotly.offline import get_plotlyjs

    target = Path(app.outdir) / "_static" / PLOTLY_STATIC
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(get_plotlyjs(), encoding="utf8")


# --- thebe ---------------------------------------------------------------------------


def drop_thebe(app, _config) -> None:
    """Disconnect every handler of ``sphinx_thebe`` (its scripts, static files and the
    per-page configuration), which jupyter-book loads whatever ``_config.yml`` says."""
    for listeners in app.events.listeners.values():
        for listener in list(listeners):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)
    # and its stylesheet, whose file is no longer copied
    app.registry.css_files[:] = [(name, attrs) for name, attrs in app.registry.css_files
                                 if name != "sphinx-thebe.css"]


# --- citation labels -------------------------------------------------------------


def _register_bib_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.plain import Style as PlainStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """ "Mori et al., 2022", "Hill, 1975", "Li and Tai, 2017", as the text cites them."""

        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [Text.from_latex(" ".join(p.last_names)).render_as("text") for p in people]
                if not names:
                    who = entry.fields.get("key", entry.key)
                elif len(names) == 1:
                    who = names[0]
                elif len(names) == 2:
                    who = f"{names[0]} and {names[1]}"
                else:
                    who = f"{names[0]} et al."
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class Style(PlainStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    register_plugin("pybtex.style.formatting", "logloss", Style)


# --- list of theorems ----------------------------------------------------------------


class TheoremsNode(nodes.General, nodes.Element):
    """Placeholder for the list of theorems, filled once every page has been read."""


class TheoremsTransform(SphinxPostTransform):
    default_priority = 8  # before reference resolution

    def run(self, **_kwargs) -> None:
        for node in list(self.document.findall(TheoremsNode)):
            node.replace_self(self._list())

    def _list(self) -> list[nodes.Node]:
        proofs = getattr(self.env, "proof_list", {})
        numbers = self.env.toc_secnumbers
        chapters: dict[str, list[tuple[str, dict]]] = {}
        for label, info in proofs.items():
            if info.get("realtype") == "proof" or info.get("nonumber"):
                continue
            chapters.setdefault(info["docname"], []).append((label, info))
        out: list[nodes.Node] = []
        if not chapters:
            out.append(nodes.paragraph(text="The book has no numbered theorem yet."))
            return out
        order = sorted(chapters, key=lambda d: (numbers.get(d, {}).get("", (999,)), d))
        for docname in order:
            number = numbers.get(docname, {}).get("", ())
            prefix = ".".join(map(str, number)) + ". " if number else ""
            para = nodes.paragraph()
            para += nodes.strong(text=prefix + self.env.titles[docname].astext())
            out.append(para)
            items = nodes.bullet_list()
            for label, _info in chapters[docname]:
                ref = pending_xref(refdoc=self.env.docname, reftarget=label, reftype="ref",
                                   refdomain="prf", refexplicit=False, refwarn=True)
                ref += nodes.literal(text=label)
                item_para = nodes.paragraph()
                item_para += ref
                title = _title(self.env, docname, label, self.env.docname)
                if title:
                    item_para += nodes.Text(": ")
                    item_para.extend(title)
                item = nodes.list_item()
                item += item_para
                items += item
            out.append(items)
        return out


def _title(env, docname: str, label: str, here: str) -> list[nodes.Node]:
    """A copy of the title given to a theorem-like block (its citations included), read
    from its page's doctree; sphinx-proof stores it as " (Title)".  Its cross-references
    are resolved from ``here``, the page that shows the copy, so that a citation copied
    from ``chapters/escape`` links to ``references.html``, not ``../references.html``."""
    doctree = env.get_doctree(docname)
    for node in doctree.findall(nodes.Element):
        if label in node.get("ids", []):
            title = node.next_node(nodes.title)
            if title is None or not title.children:
                return []
            parts = [child.deepcopy() for child in title.children]
            for part in parts:
                for sub in part.findall(nodes.Element) if isinstance(part, nodes.Element) else ():
                    sub["ids"] = []
                    if isinstance(sub, pending_xref):
                        sub["refdoc"] = here
            first = parts[0]
            if isinstance(first, nodes.Text):
                parts[0] = nodes.Text(str(first).lstrip().removeprefix("("))
            last = parts[-1]
            if isinstance(last, nodes.Text):
                parts[-1] = nodes.Text(str(last).rstrip().removesuffix(")"))
            return parts
    return []


def setup(app):
    _register_bib_style()
    app.connect("config-inited", drop_thebe)
    app.connect("html-page-context", offer_notebook, priority=500)
    app.connect("html-page-context", add_plotly)
    app.connect("doctree-read", drop_widget_state, priority=900)
    app.connect("build-finished", copy_plotly)
    app.add_node(TheoremsNode)
    app.add_directive("logloss-theorems", placeholder_directive(TheoremsNode, THEOREMS_KEY))
    app.connect("env-updated", pages_marked(THEOREMS_KEY))
    app.add_post_transform(TheoremsTransform)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
