"""The checker over the built HTML (scripts/check_html.py) on small synthetic pages."""

import importlib.util
from pathlib import Path

import check_html
import pytest

ROOT = Path(__file__).resolve().parents[1]


def page(body: str) -> str:
    return f"<html><head><title>t</title></head><body><main>{body}</main></body></html>"


GOOD_FIGURE = ('<figure id="fig-a"><img src="../_images/a.png"/><figcaption><p>'
               '<span class="caption-number">Fig. 1.1 </span>'
               '<span class="caption-text">A caption.</span></p></figcaption></figure>')


def kinds(body: str, **kw) -> list[str]:
    return [f.kind for f in check_html.check_page(page(body), "p.html", **kw)]


def test_clean_page_passes():
    body = ("<p>As <a class='reference internal' href='#eq-a'>Eq. (1.2)</a> shows, "
            "see <a href='#fig-a'>Fig. 1.1</a> and Theorem 1.</p>" + GOOD_FIGURE
            + "<div class='cell_input'><pre>x = {'fig-a': 1}  # {eq}</pre></div>"
            + "<script>var s = '```{prf:theorem}';</script>")
    assert kinds(body) == []


@pytest.mark.parametrize("text, kind", [
    ("<pre>````{prf:theorem} Power law\n:label: thm-escape\n</pre>", "raw directive fence"),
    ("<p>:label: thm-escape</p>", "raw directive option"),
    ("<p>by {prf:ref}`thm-x`</p>", "raw role"),
    ("<p>as in {eq}`eq-loss`</p>", "raw role"),
    ("<p>see {cite}`mori2022power`</p>", "raw role"),
    ("<p>see <span class='std std-numref'>fig-decoupling</span></p>", "label shown as text"),
    ("<p>Eq. (eq-phi-discrete) gives</p>", "label shown as text"),
    ("<p>R3, Eq. <a href='#x'>Eq. (2.1)</a> itself</p>", "doubled reference prefix"),
    ("<p>Equation <a href='#x'>Eq. (4.1)</a> is</p>", "doubled reference prefix"),
    ("<div class='cell_output'><pre>&lt;Figure size 640x480 with 1 Axes&gt;</pre></div>",
     "figure shown as text, no image"),
    ("<figure id='fig-b'><figcaption><p><span class='caption-number'>Fig. 2 </span>"
     "</p></figcaption></figure>", "figure without an image"),
    ("<figure id='fig-c'><img src='x.png'/><figcaption><p>no number</p></figcaption></figure>",
     "figure without a number"),
    ("<script src='https://cdn.plot.ly/plotly-2.min.js'></script>", "script from the network"),
])
def test_each_defect_is_found(text, kind):
    assert kind in kinds(text)


def test_missing_image_file_and_missing_images_folder(tmp_path):
    build = tmp_path / "html"
    (build / "chapters").mkdir(parents=True)
    (build / "chapters" / "a.html").write_text(page(GOOD_FIGURE))
    found = [f.kind for f in check_html.check_book(build)]
    assert "missing _images" in found
    assert "image file missing" in found
    (build / "_images").mkdir()
    (build / "_images" / "a.png").write_bytes(b"\x89PNG")
    assert check_html.check_book(build) == []
    assert check_html.main([str(build)]) == 0


def test_sources_lint_gives_file_and_line(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: intro\nchapters:\n  - file: ch\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "ch.md").write_text(
        "# Ch\n\nEquation {eq}`eq-a` says.\n"
        "````{prf:theorem} Title (of {cite}`x`)\n:label: thm-a\nbody\n````\n"
        "$$ x $$ (eq-b)\n"
        "see Eq. (eq-b)\n"
        "```{code-cell} ipython3\nprint('Eq. {eq}`x`')\n```\n")
    found = check_html.check_sources(tmp_path)
    assert [f.where for f in found] == ["ch.md:3", "ch.md:4", "ch.md:9"]


def test_sources_lint_reads_figure_captions_not_code(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: ch\n")
    (tmp_path / "ch.md").write_text(
        "# Ch\n```{code-cell} ipython3\n---\nmystnb:\n  figure:\n"
        "    caption: From Eq. (eq-phi-discrete).\n---\nx = '(eq-a)'\n```\n")
    assert [f.where for f in check_html.check_sources(tmp_path)] == ["ch.md:6"]


def test_paper_numbers_without_paper_are_notes(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: ch\n")
    (tmp_path / "ch.md").write_text("# Ch\nas in Eq. (15), the\nas in paper Eq. (15)\n"
                                    "Eq. 16 of {cite}`mori2022power`\n\nsee Fig. 3b.\n")
    notes = []
    assert check_html.check_sources(tmp_path, notes) == []
    assert [(n.where, n.text) for n in notes] == [("ch.md:2", "Eq. (15)"), ("ch.md:6", "Fig. 3b")]


def test_citation_labels_must_match_references_page(tmp_path):
    build = tmp_path / "html"
    (build / "_images").mkdir(parents=True)
    (build / "_images" / "a.png").write_bytes(b"x")
    (build / "references.html").write_text(page(
        '<div class="citation"><span class="label"><span class="fn-bracket">[</span>'
        'MZLU22<span class="fn-bracket">]</span></span><p>Mori</p></div>'))
    (build / "ch.html").write_text(page(
        '<p><span class="bibtex-citation">[<a href="references.html#x">Mori <em>et al.</em>, 2022</a>]'
        "</span></p>"))
    assert [f.kind for f in check_html.check_book(build)] == ["citation label not on the references page"]
    (build / "references.html").write_text(page(
        '<div class="citation"><span class="label">[Mori et al., 2022]</span></div>'))
    assert check_html.check_book(build) == []


def test_paper_mark_on_the_previous_line_counts(tmp_path):
    (tmp_path / "_toc.yml").write_text("root: ch\n")
    (tmp_path / "ch.md").write_text("# Ch\nwhere B_k is drawn. The paper's\nEq. (2) writes\n")
    notes = []
    check_html.check_sources(tmp_path, notes)
    assert notes == []


def test_paper_numbers_in_tables_code_and_figure_modules(tmp_path):
    (tmp_path / "ch.md").write_text(
        "# Ch\n"
        "| id | paper | verdict |\n|---|---|---|\n"
        "| R1 | Eq. (8) | holds, unlike Eq. (15) |\n"  # the 'paper' column says whose number
        "\n"
        "```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    caption: from Fig. 2\n---\n"
        "ax.plot(x, y, label='Eq. (17)')  # Eq. (3) in a comment is not shown\n"
        "assert ok, 'paper Eq. (8)'\n%timeit f()\n```\n"
        "as in App. C.\n")
    notes = check_html.paper_number_notes(tmp_path / "ch.md", tmp_path)
    assert [(n.where, n.text) for n in notes] == [
        ("ch.md:4", "Eq. (15)"), ("ch.md:10", "Fig. 2"), ("ch.md:12", "Eq. (17)"), ("ch.md:16", "App. C")]
    (tmp_path / "fig.py").write_text(
        '"""Figure of x (Fig. 1)."""\n\ndef plot(ax):\n    """Eq. (2) in a docstring."""\n'
        '    ax.plot([], [], label=r"$1+B/(\\eta h^*)$, Eq. (17)")\n'
        '    ax.plot([], [], label="Paper Eq. (12)")\n')
    assert [(n.where, n.text) for n in check_html.paper_number_notes(tmp_path / "fig.py", tmp_path)] == [
        ("fig.py:5", "Eq. (17)")]


#: Sources in which every number of the paper is written "paper ..." (legends, table
#: headers and captions included): the whole book, its figure modules and the report's
#: claims.  They must stay so (``scripts/check_html.py --sources .`` prints them as notes).
CLEAN = sorted(
    ["intro.md", "theorems.md", "status.md", "references.md", "report.md", "src/logloss/report.py",
     *(str(p.relative_to(ROOT)) for p in (ROOT / "chapters").glob("*.md")),
     *(str(p.relative_to(ROOT)) for p in (ROOT / "src/logloss/display/figures").glob("[!_]*.py"))])


@pytest.mark.parametrize("name", CLEAN)
def test_clean_sources_write_paper_numbers_as_such(name):
    notes = check_html.paper_number_notes(ROOT / name, ROOT)
    assert notes == [], "\n".join(map(str, notes))


# --- what issue 23 added: raw tables, thebe, links, checks out of the reading path ------


@pytest.mark.parametrize("text, kind", [
    ("<p>| $|x|$ | b |\n|---|---|\n| 1 | 2 |</p>", "table shown as raw text"),
    ('<script type="text/x-thebe-config">{binderOptions: {repo: "a/b"}}</script>',
     "thebe configuration in the page"),
    ('<script>const THEBE_JS_URL = "https://unpkg.com/thebe@0.8.2/lib/index.js"</script>',
     "thebe configuration in the page"),
    ('<script>var u = "https://cdn.example.org/lib.js";</script>', "remote URL in an inline script"),
    ("<div class='cell'><div class='cell_input'><pre>assert x == 2</pre></div></div>",
     "assert in the reading path (tag its cell hide-cell, in the section Checks)"),
    ("<details open><div class='cell'><div class='cell_input'><pre>assert x</pre></div></div></details>",
     "assert in the reading path (tag its cell hide-cell, in the section Checks)"),
])
def test_each_new_defect_is_found(text, kind):
    assert kind in kinds(text)


def test_collapsed_checks_and_allowed_pages_pass():
    cell = "<div class='cell'><div class='cell_input'><pre>  assert x == 2</pre></div></div>"
    assert kinds(f"<details class='hide above-input'><summary>Show</summary>{cell}</details>") == []
    allowed = sorted(check_html.CHECKS_IN_READING_PATH)
    if allowed:
        found = check_html.check_page(page(cell), allowed[0] + ".html")
        assert [f.kind for f in found] == []


def test_links_outside_the_book_or_to_missing_pages(tmp_path):
    build = tmp_path / "html"
    (build / "_images").mkdir(parents=True)
    (build / "_images" / "a.png").write_bytes(b"x")
    (build / "references.html").write_text(page("<p>refs</p>"))
    (build / "theorems.html").write_text(page(
        '<p><a href="../references.html#id2">Mori</a> <a href="references.html#id2">ok</a> '
        '<a href="gone.html">x</a> <a href="https://example.org/x.html">web</a></p>'))
    found = [(f.kind, f.text) for f in check_html.check_book(build)]
    assert found == [("link outside the book", "../references.html#id2"), ("broken link", "gone.html")]


CELL_HEAD = "---\njupytext:\n  text_representation:\n    format_name: myst\n---\n# Ch\n"


def _source_kinds(tmp_path, body, name="ch"):
    (tmp_path / "_toc.yml").write_text(f"root: {name}\n")
    (tmp_path / f"{name}.md").write_text(CELL_HEAD + body)
    return [(f.where.split(":")[1], f.kind.split(":")[0]) for f in check_html.check_sources(tmp_path)]


def test_undisplayed_tables_are_found(tmp_path):
    body = ("```{code-cell} ipython3\nt = markdown_table(rows, cols)\nx = 1\n```\n"          # 8: never shown
            "```{code-cell} ipython3\nmarkdown_table(rows, cols)\nprint('after')\n```\n"    # 12: not last
            "```{code-cell} ipython3\nmarkdown_table(rows, cols);\n```\n"                   # 16: ';'
            "```{code-cell} ipython3\n:tags: [remove-output]\n\nmarkdown_table(rows, cols)\n```\n"  # 21
            "```{code-cell} ipython3\nmarkdown_table(rows, cols)\n```\n"                    # shown
            "```{code-cell} ipython3\ndisplay(logloss.markdown_table(rows, cols))\nx = 2\n```\n"
            "```{code-cell} ipython3\nu = markdown_table(rows, cols)\n```\n"
            "```{code-cell} ipython3\ndisplay(u)\n```\n"
            "```{code-cell} ipython3\ndef f():\n    return markdown_table(rows, cols)\n```\n")
    found = _source_kinds(tmp_path, body)
    assert found == [("8", "markdown_table not displayed"), ("12", "markdown_table not displayed"),
                     ("16", "markdown_table not displayed"),
                     ("21", "markdown_table its cell's output is removed (remove-output)")]


def test_checks_must_be_collapsed_in_the_last_section(tmp_path):
    body = ("## Derivation\n\n```{code-cell} ipython3\nassert 1 == 1\n```\n"            # 9: not hidden
            "```{code-cell} ipython3\n:tags: [hide-cell]\n\nassert 2 == 2\n```\n"        # 12: not in Checks
            "## Checks\n\nWhat the checks establish.\n\n"
            "```{code-cell} ipython3\n:tags: [hide-cell]\n\n# tolerance: criterion: exact\nassert 3 == 3\n```\n"
            "```{code-cell} ipython3\n---\ntags: [hide-cell]\n---\nassert 4 == 4\n```\n")
    assert _source_kinds(tmp_path, body) == [
        ("9", "assert in the reading path"), ("12", "check outside the last section, '## Checks'")]
    allowed = sorted(check_html.CHECKS_IN_READING_PATH)
    if allowed:  # pages being rewritten are not held to the rule yet
        (tmp_path / "chapters").mkdir()
        assert _source_kinds(tmp_path, body, allowed[0]) == []


def test_broken_inline_math_colour_and_ampersand_are_found(tmp_path):
    body = ("obeys $a = b\n+ c$ (the sum)\n\n"
            "- a list item with $x$ is fine\n+ so is this one\n\n"
            "```{math}\n\\text{Xie, Sato \\& Sugiyama:}\\quad x\n```\n"
            "the red line and the orange-red outline\n")
    assert _source_kinds(tmp_path, body) == [
        ("8", "line starts with a list marker inside inline math (Markdown ends the math there)"),
        ("14", "'\\&' inside \\text{} is shown literally"),
        ("16", "colour 'red' is not in the book's palette (Okabe-Ito")]


def test_the_book_sources_break_none_of_the_source_rules():
    assert check_html.check_sources(ROOT) == []


# --- in headless Chromium -------------------------------------------------------------

CHROMIUM = check_html.chromium() is not None and importlib.util.find_spec("playwright") is not None
browser = pytest.mark.skipif(not CHROMIUM, reason="needs Playwright and the system's chromium")

COLUMN = ("<!DOCTYPE html><html><head><title>t</title><style>body{{margin:0}} article{{width:600px}}"
          ".scroll{{overflow-x:auto}} .clip{{overflow:hidden}} img{{max-width:100%}}</style></head>"
          "<body><main><article class='bd-article'>{}</article></main></body></html>")
WIDE = "<span style='display:inline-block;width:900px'>a b c</span>"


@browser
def test_browser_audit_finds_each_problem_in_a_crafted_page(tmp_path):
    pages = {
        "clean.html": ("<div class='math scroll'>" + WIDE + "</div>"
                       "<table><tr><td>short</td></tr></table>"
                       "<figure><img src='a.png' width='300'></figure>"),
        "clipped.html": "<div class='clip'><div class='math'>" + WIDE + "</div></div>",
        "wide.html": "<table><tr><td>" + WIDE + "</td></tr></table>",
        "console.html": "<p>x</p><script>null.f();</script>",
        "remote.html": "<script src='https://cdn.example.org/x.js'></script>",
        "figure.html": "<figure><img src='a.png' width='900'></figure>",
        "sideways.html": "<div style='width:2000px;position:absolute'>x</div>",
    }
    from PIL import Image

    Image.new("RGB", (600, 300), "white").save(tmp_path / "a.png")
    for name, body in pages.items():
        (tmp_path / name).write_text(COLUMN.format(body))
    found = check_html.browser_audit(tmp_path, [1280], pages=list(pages))
    by_page = {}
    for f in found:
        by_page.setdefault(f.where.split()[0], []).append(f.kind)
    assert "clean.html" not in by_page, by_page
    assert "clipped" in by_page["clipped.html"]
    assert "wider than the column" in by_page["wide.html"]
    assert "console error" in by_page["console.html"]
    assert "request to the network (refused)" in by_page["remote.html"]
    assert "figure drawn wider than the column (shrunk)" in by_page["figure.html"]
    assert "page scrolls sideways" in by_page["sideways.html"]
