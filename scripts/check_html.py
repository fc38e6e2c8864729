"""Check the built HTML book the way a reader sees it.

Usage::

    python scripts/check_html.py [_build/html] [--sources .] [--no-browser] [--widths 1280 412]

Fails (exit 1, one line per finding) on

* visible raw MyST markup: a backtick fence with a directive (```` ```{ ````), a
  ``:label:`` option, or a role such as ``{prf:ref}``, ``{eq}``, ``{cite}``, ``{ref}``;
* a Markdown table shown as raw ``|`` text;
* a cross-reference or label shown as text where a number should be (``fig-...``,
  ``eq-...``, ``thm-...`` in the prose or in a link);
* a doubled prefix such as "Eq. Eq." or "Equation Eq." (``math_eqref_format`` already
  writes "Eq.");
* a figure without an ``<img>`` (or any other image element), a figure without a number,
  a matplotlib ``<Figure size ...>`` text repr shown instead of an image, an ``<img>``
  whose file is missing, and a book whose ``_images/`` folder is missing or empty;
* a page that loads a script from a CDN, or names a remote script in an inline one (the
  book must work offline), and a link to a page that is not in the book;
* a code cell with an ``assert`` that is not collapsed behind a toggle (the checks are
  out of the reading path: cells tagged ``hide-cell``), except on the pages of
  :data:`CHECKS_IN_READING_PATH`.

In headless Chromium (Playwright, the system's ``chromium``; the book served on
127.0.0.1, every other request refused), each page at each of ``--widths`` fails on

* an error in the console (a script error, a failed or refused request);
* a display equation, table, output block, figure or explorer wider than the space it
  has that neither scrolls nor wraps (clipped, or running past the column or the
  screen), and a page that scrolls sideways;
* a figure drawn wider than the column, so that it is shrunk (at widths ≥ 1000 px);
* a MathJax error, and math left as raw TeX.

``--no-browser`` skips these (no Chromium at hand); the book's ``make book`` runs them.

With ``--sources DIR`` the MyST sources listed in ``DIR/_toc.yml`` are linted too, so
that a finding comes with a file and line number: "Eq. {eq}`...`" and "Equation
{eq}`...`", a ``{cite}`` or other role inside a backtick fence's title (CommonMark does
not allow backticks there), a raw ``(eq-...)``/``(fig-...)`` label typed into text, a
line of prose that starts with a list marker inside inline math (Markdown ends the math
there), ``\\&`` inside ``\\text{}`` (shown literally), a colour named "red" (no colour of the
book's palette is), a ``markdown_table(...)`` whose result
is not displayed (neither the last expression of its cell nor passed to ``display``), and
an ``assert`` outside a ``hide-cell`` cell of the last section, ``## Checks``.
It also prints, as notes that do not fail the check, every number of the paper written
without the word "paper" ("Eq. (15)" for "paper Eq. (15)"), in the prose, the captions,
the table cells (except in a column headed "paper"), the strings of the code cells
(legends, table headers, printed lines) and the labels of ``src/logloss/display/figures``;
``tests/test_check_html.py`` lists the sources that have none and must keep it so.

Code cells' source (``div.cell_input``), ``<script>`` and ``<style>`` are not read for
markup.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

ROLES = r"prf:[a-z]+|eq|cite(?::[a-z]+)?|ref|doc|numref|math|term|download|glue(?::[a-z]+)?"
RAW_PATTERNS = [
    ("raw directive fence", re.compile(r"(```+|:::+)\{[\w:-]+\}")),
    ("raw directive option", re.compile(r"(?m)(^|\s):(label|name|class|tags|caption):\s")),
    ("raw role", re.compile(r"\{(" + ROLES + r")\}`?")),
    ("table shown as raw text", re.compile(r"\|\s*:?-{3,}:?\s*\|")),
]
LABEL = re.compile(r"(?<![\w/.#-])(fig|eq|thm|tbl|prf|lem|def|sec|ch)-[a-z0-9][\w-]*(?![\w/.-])")
DOUBLED = re.compile(
    r"\b(Eqs?\.|Equations?|Fig\.|Figure|Theorem|Table|Section)\s*\(?\s*"
    r"(Eq\.|Equation|Fig\.|Figure|Theorem|Table|Section)\s*\(?\d"
)
FIGURE_REPR = re.compile(r"<(Figure|matplotlib\.figure\.Figure) size \d")
CDN = re.compile(r"^(https?:)?//", re.I)
#: A URL on another host, in an inline script (a script loaded from it, or data for one).
REMOTE_URL = re.compile(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+(?::\d+)?/", re.I)
ASSERT = re.compile(r"(?m)^\s*assert\b")
SKIP_TAGS = {"script", "style", "noscript", "template"}
SKIP_CLASSES = {"cell_input", "headerlink"}
#: Index pages list labels by design.
INDEX_PAGES = {"genindex.html", "search.html", "prf-prf.html"}

#: Pages whose checks are not yet collapsed into ``## Checks`` (cells tagged
#: ``hide-cell``): an ``assert`` elsewhere on them is not reported.  Being rewritten
#: (issue 23); empty this once they are, so that every page is held to the rule.
CHECKS_IN_READING_PATH: set[str] = set()


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}" + (f": {self.text}" if self.text else "")


def _skipped(tag) -> bool:
    for parent in [tag, *tag.parents]:
        if getattr(parent, "name", None) in SKIP_TAGS:
            return True
        if SKIP_CLASSES & set(parent.get("class", []) if hasattr(parent, "get") else []):
            return True
    return False


def _visible_strings(soup: BeautifulSoup) -> Iterator[tuple[str, object]]:
    main = soup.find("main") or soup.find("article") or soup
    for s in main.find_all(string=True):
        if s.strip() and not _skipped(s.parent):
            yield str(s), s.parent


def _block_text(soup: BeautifulSoup) -> Iterator[str]:
    """Text of each paragraph-like block, so that "Eq." and "Eq. (1)" in sibling
    elements are read together."""
    main = soup.find("main") or soup.find("article") or soup
    for block in main.find_all(["p", "li", "figcaption", "caption", "td", "th", "dt", "dd",
                                "h1", "h2", "h3", "h4", "div"]):
        if block.name == "div" and "math" not in block.get("class", []):
            continue
        if _skipped(block):
            continue
        yield " ".join(block.get_text(" ").split())


def _context(text: str, match: re.Match, width: int = 40) -> str:
    lo, hi = max(0, match.start() - width), min(len(text), match.end() + width)
    return " ".join(text[lo:hi].split())


def check_page(html: str, where: str, *, page_dir: Path | None = None) -> list[Finding]:
    """Every finding on one page.  ``page_dir`` (the page's folder in the built book)
    lets the checker test that each ``<img>`` file exists."""
    soup = BeautifulSoup(html, "html.parser")
    found: list[Finding] = []
    for text, _parent in _visible_strings(soup):
        for kind, pattern in RAW_PATTERNS:
            for m in pattern.finditer(text):
                found.append(Finding(where, kind, _context(text, m)))
        for m in FIGURE_REPR.finditer(text):
            found.append(Finding(where, "figure shown as text, no image", _context(text, m)))
        for m in LABEL.finditer(text) if Path(where).name not in INDEX_PAGES else ():
            found.append(Finding(where, "label shown as text", _context(text, m)))
    for block in _block_text(soup):
        for m in DOUBLED.finditer(block):
            found.append(Finding(where, "doubled reference prefix", _context(block, m)))
    main = soup.find("main") or soup
    for fig in main.find_all("figure"):
        ident = fig.get("id") or (fig.find(id=True) or {}).get("id", "?")
        if not fig.find(["img", "svg", "object", "embed", "iframe", "canvas", "video"]):
            found.append(Finding(where, "figure without an image", f"#{ident}"))
        cap = fig.find("figcaption")
        if cap is not None and not cap.find(class_="caption-number"):
            found.append(Finding(where, "figure without a number", f"#{ident}"))
    for img in main.find_all("img"):
        src = img.get("src", "")
        if not src or src.startswith("data:"):
            continue
        if CDN.match(src):
            found.append(Finding(where, "image from the network", src))
        elif page_dir is not None and not (page_dir / src.split("#")[0]).resolve().is_file():
            found.append(Finding(where, "image file missing", src))
    for script in soup.find_all("script"):
        if script.get("src"):
            if CDN.match(script["src"]):
                found.append(Finding(where, "script from the network", script["src"]))
        elif script.get("type") == "text/x-thebe-config" or "THEBE_JS_URL" in script.get_text():
            found.append(Finding(where, "thebe configuration in the page", "the book has no live kernel"))
        else:
            for m in REMOTE_URL.finditer(script.get_text()):
                found.append(Finding(where, "remote URL in an inline script", m.group(0)))
    if str(Path(where).with_suffix("")) not in CHECKS_IN_READING_PATH:
        for cell in main.find_all("div", class_="cell"):
            code = cell.find("div", class_="cell_input")
            if code is None or not ASSERT.search(code.get_text()):
                continue
            toggle = code.find_parent("details")
            if toggle is None or toggle.has_attr("open"):
                first = next(line for line in code.get_text().splitlines() if ASSERT.match(line))
                found.append(Finding(where, "assert in the reading path (tag its cell hide-cell, "
                                     "in the section Checks)", first.strip()[:80]))
    return list(dict.fromkeys(found))  # once each, in page order


def check_book(build: Path) -> list[Finding]:
    """Every finding in a built HTML book (``_build/html``)."""
    found: list[Finding] = []
    pages = _pages(build)
    if not pages:
        return [Finding(str(build), "no HTML pages", "build the book first")]
    images = build / "_images"
    if not images.is_dir() or not any(images.iterdir()):
        found.append(Finding(str(images), "missing _images", "the book has no figure images"))
    labels: set[str] = set()
    cited: list[tuple[str, str]] = []
    for page in pages:
        rel = str(page.relative_to(build))
        html = page.read_text(encoding="utf8")
        found += check_page(html, rel, page_dir=page.parent)
        soup = BeautifulSoup(html, "html.parser")
        found += _broken_links(soup, page, build, rel)
        for label in soup.select("div.citation span.label"):
            labels.add(_norm(label.get_text()))
        for a in soup.select("span.bibtex-citation a"):
            cited.append((rel, _norm(a.get_text())))
    if labels:
        for rel, text in dict.fromkeys(cited):
            if text not in labels:
                found.append(Finding(rel, "citation label not on the references page", text))
    return found


def _pages(build: Path) -> list[Path]:
    """The book's pages (not its static files, nor scripts/screenshots.py's copies)."""
    return sorted(p for p in build.rglob("*.html")
                  if not p.relative_to(build).parts[0].startswith("_")
                  and ".__shot" not in p.name and ".__frame" not in p.name)


def _broken_links(soup: BeautifulSoup, page: Path, build: Path, rel: str) -> list[Finding]:
    """Links of ``page`` to a file that is not in the build, or outside it."""
    found = []
    root = build.resolve()
    for a in soup.find_all("a", href=True):
        href = a["href"].split("#")[0].split("?")[0]
        if not href or re.match(r"^([a-z][\w+.-]*:|//)", href, re.I):
            continue  # same page, or another site, mail, ...
        target = (page.parent / href).resolve()
        if root not in target.parents and target != root:
            found.append(Finding(rel, "link outside the book", a["href"]))
        elif not target.exists():
            found.append(Finding(rel, "broken link", a["href"]))
    return found


def _norm(text: str) -> str:
    return " ".join(text.replace("[", " ").replace("]", " ").split())


SOURCE_PATTERNS = [
    ("'Eq.' before {eq} (the role already writes 'Eq.'): write just {eq}`label`",
     re.compile(r"\b(Eqs?\.|Equations?)\s*(\(\s*)?\{eq\}")),
    ("role inside a backtick fence title (not allowed by CommonMark): use a ':::' fence",
     re.compile(r"^\s*```+\{[\w:-]+\}[^\n`]*`")),
    ("raw label typed as text: use {eq}`label` / {numref}`label`",
     re.compile(r"(?<![`\w:-])\((eq|fig|thm|tbl)-[a-z0-9][\w-]*\)")),
    ("'\\&' inside \\text{} is shown literally: write 'and'",
     re.compile(r"\\text\{[^}]*\\&")),
    ("colour 'red' is not in the book's palette (Okabe-Ito: blue, vermilion, bluish green, orange, "
     "reddish purple, sky blue, yellow, black)", re.compile(r"(?i)(?<![-\w])red(?![-\w])")),
]
LIST_MARKER = re.compile(r"^\s{0,3}([-+*]|\d{1,9}[.)])(\s|$)")
DOLLAR = re.compile(r"(?<!\\)\$")


@dataclass(frozen=True)
class CodeCell:
    line: int  # of the fence
    first: int  # line of the code's first line
    tags: tuple[str, ...]
    code: str


def code_cells(text: str) -> list[CodeCell]:
    """The code cells of a MyST notebook, with their tags (``:tags: [...]`` or the YAML
    header's ``tags:``) and the line numbers of their fence and code."""
    import yaml

    cells, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^(`{3,})\{code-cell\}", lines[i])
        if not m:
            i += 1
            continue
        fence, start, i = m.group(1), i + 1, i + 1
        options: dict = {}
        if i < len(lines) and lines[i].strip() == "---":
            close = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "---"), i)
            options = yaml.safe_load("\n".join(lines[i + 1:close])) or {}
            i = close + 1
        while i < len(lines) and re.match(r"^:[\w-]+:", lines[i]):
            key, _, value = lines[i][1:].partition(":")
            options[key] = yaml.safe_load(value.strip() or "null")
            i += 1
        first = i
        while i < len(lines) and not lines[i].startswith(fence):
            i += 1
        tags = options.get("tags") or []
        cells.append(CodeCell(start, first + 1, tuple(tags), "\n".join(lines[first:i])))
        i += 1
    return cells


def _called(node, name: str) -> bool:
    import ast

    f = node.func if isinstance(node, ast.Call) else None
    return (isinstance(f, ast.Name) and f.id == name) or (isinstance(f, ast.Attribute) and f.attr == name)


def undisplayed_tables(cells: list[CodeCell]) -> list[tuple[int, str]]:
    """``(line, why)`` of each ``markdown_table(...)`` call whose table is not shown.

    A table is shown when the call, or a name it was assigned to, is the last expression
    of its cell (not ended by ``;``) or an argument of ``display(...)`` (anywhere in the
    chapter, for a name), in a cell whose output is not removed.  A call returned by a
    function defined in the chapter is left to that function's caller."""
    import ast

    trees = []
    for cell in cells:
        code = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in cell.code.splitlines())
        try:
            trees.append((cell, ast.parse(code)))
        except SyntaxError:
            continue
    shown_names: set[str] = set()
    for cell, tree in trees:
        for node in ast.walk(tree):
            if _called(node, "display"):
                shown_names |= {a.id for a in node.args if isinstance(a, ast.Name)}
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr) and isinstance(last.value, ast.Name) \
                and not cell.code.rstrip().endswith(";"):
            shown_names.add(last.value.id)
    out = []
    for cell, tree in trees:
        removed = {"remove-output", "remove-cell"} & set(cell.tags)
        shown, returned, named = set(), set(), {}
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr) and not cell.code.rstrip().endswith(";"):
            shown.add(id(last.value))
        for node in ast.walk(tree):
            if _called(node, "display"):
                shown |= {id(a) for a in node.args}
            elif isinstance(node, ast.Return) and node.value is not None:
                returned |= {id(n) for n in ast.walk(node.value)}
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 \
                    and isinstance(node.targets[0], ast.Name):
                named[id(node.value)] = node.targets[0].id
        for node in ast.walk(tree):
            if not _called(node, "markdown_table") or id(node) in returned:
                continue
            line = cell.first + node.lineno - 1
            if removed:
                out.append((line, f"its cell's output is removed ({', '.join(sorted(removed))})"))
            elif id(node) not in shown and named.get(id(node)) not in shown_names:
                out.append((line, "not displayed: make it the last expression of its cell, "
                                  "or pass it to display()"))
    return out


def misplaced_checks(text: str, cells: list[CodeCell]) -> list[tuple[int, str]]:
    """``(line, why)`` of each code cell with an ``assert`` that is not a collapsed check:
    tagged ``hide-cell`` and placed in the last section, ``## Checks``."""
    lines = text.splitlines()
    heads = [(n, ln) for n, ln in enumerate(lines, 1) if re.match(r"^## ", ln)]
    checks = heads[-1][0] if heads and heads[-1][1].strip() == "## Checks" else None
    out = []
    for cell in cells:
        if not ASSERT.search(cell.code):
            continue
        if "hide-cell" not in cell.tags:
            out.append((cell.line, "assert in the reading path: tag the cell hide-cell"))
        elif checks is None or cell.line < checks:
            out.append((cell.line, "check outside the last section, '## Checks'"))
    return out


def _math_broken_by_list_marker(lines: list[str]) -> Iterator[int]:
    """Line numbers where a line of prose starts with a list marker ("+ ", "- ", "1. ")
    while inline math is open: Markdown starts a list there and the math is lost."""
    dollars, fence = 0, None
    for number, line in enumerate(lines, 1):
        m = re.match(r"^\s*(`{3,}|:{3,})", line)
        if fence is None and m:
            fence, dollars = m.group(1), 0
            continue
        if fence is not None:
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                fence = None
            continue
        if not line.strip() or line.lstrip().startswith(("#", "$$")):
            dollars = 0
            continue
        if dollars % 2 == 1 and LIST_MARKER.match(line):
            yield number
        dollars += len(DOLLAR.findall(line.replace("$$", "")))


#: A number that is the paper's, not the book's, written without saying so.  Reported
#: as a note (it does not fail the check): the book's own numbers come from {eq}, {numref}
#: and {prf:ref}, so a typed "Eq. (15)" is the paper's and should read "paper Eq. (15)".
PAPER_NUMBER = re.compile(r"\b(Eqs?\.|Figs?\.|App\.|Sec\.|Theorem)\s*"
                          r"(\(\d+[a-z]?(\.\d+)?\)|\d+[a-z]?(\.\d+)?)"
                          r"|\bApp\.\s*[A-H]\b")  # the book has no appendices
PAPER_MARK = re.compile(r"paper|\{cite\}|mori2022", re.I)


def _paper_numbers(line: str, previous: str = "") -> Iterator[str]:
    text = previous[-30:] + " " + line  # "the paper's" may end the line before
    shift = len(text) - len(line)
    for m in PAPER_NUMBER.finditer(line):
        start = m.start() + shift
        before, after = text[max(0, start - 30):start], line[m.end():m.end() + 40]
        if not PAPER_MARK.search(before) and not PAPER_MARK.search(after):
            yield m.group(0)


def _toc_files(root: Path) -> Iterable[Path]:
    toc = root / "_toc.yml"
    names = re.findall(r"(?m)^\s*(?:-\s*)?(?:file|root):\s*(\S+)", toc.read_text())
    for name in names:
        for suffix in ("", ".md", ".ipynb", ".rst"):
            path = root / f"{name}{suffix}"
            if path.is_file():
                yield path
                break


#: The figure modules, whose legends and labels are read for the paper's numbers too.
FIGURES = Path("src/logloss/display/figures")


def _table_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _code_strings(code: str, first_line: int) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of each string literal of ``code`` that a reader can see (a
    legend, a table header, a printed line, an assert message), docstrings left out.
    Code that does not parse (IPython magics) is read line by line instead."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        for i, line in enumerate(code.splitlines()):
            yield first_line + i, line
        return
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            for i, line in enumerate(node.value.splitlines() or [""]):
                yield first_line + node.lineno - 1 + i, line


def paper_number_notes(path: Path, root: Path | None = None) -> list[Finding]:
    """The paper's numbers written without "paper" in one source file.

    A MyST notebook (``.md``) is read as the reader sees it: its prose, figure captions,
    the cells of its tables except in a column whose header says "paper", and the string
    literals of its code cells (legends, table headers, printed lines).  A Python module
    (``.py``, a figure of ``display/figures``) is read by its string literals."""
    name = str(path.relative_to(root)) if root is not None else str(path)
    kind = "note: the paper's number? write 'paper ...'"
    text = path.read_text(encoding="utf8")
    notes: list[Finding] = []

    def scan(number: int, line: str, previous: str = "") -> None:
        notes.extend(Finding(f"{name}:{number}", kind, t) for t in _paper_numbers(line, previous))

    if path.suffix == ".py":
        for number, line in _code_strings(text, 1):
            scan(number, line)
        return notes
    lines = text.splitlines()
    in_code, code_start, header, previous = False, 0, None, ""
    for number, line in enumerate(lines, 1):
        if line.startswith("```{code-cell}"):
            in_code, code_start = True, number + 1
            continue
        if in_code:
            if line.startswith("```"):
                in_code = False
                body = lines[code_start - 1:number - 1]
                offset = 0
                if body and body[0].strip() == "---":  # the YAML header: captions, prose
                    close = next((i for i in range(1, len(body)) if body[i].strip() == "---"), 0)
                    for i in range(1, close):
                        scan(code_start + i, body[i], body[i - 1])
                    offset = close + 1
                code = "\n".join(ln if not ln.lstrip().startswith(("%", "!")) else ""
                                 for ln in body[offset:])
                for n, s in _code_strings(code, code_start + offset):
                    scan(n, s)
            continue
        if line.lstrip().startswith("$$"):
            continue
        if line.lstrip().startswith("|"):
            cells = _table_cells(line)
            if header is None:
                header = [c.lower() for c in cells]
            elif not set("".join(cells)) <= set("-: "):
                for i, cell in enumerate(cells):
                    if i >= len(header) or "paper" not in header[i]:
                        scan(number, cell)
        else:
            header = None
            scan(number, line, previous)
        previous = line
    return notes


def check_sources(root: Path, notes: list[Finding] | None = None) -> list[Finding]:
    """Lint the MyST sources of the book for the patterns that render badly.

    ``notes``, if given, receives the paper's numbers written without "paper"
    (:func:`paper_number_notes`)."""
    found: list[Finding] = []
    for path in _toc_files(root):
        rel = str(path.relative_to(root))
        text = path.read_text(encoding="utf8")
        cells = code_cells(text)
        for number in _math_broken_by_list_marker(text.splitlines()):
            found.append(Finding(f"{rel}:{number}", "line starts with a list marker inside inline "
                                 "math (Markdown ends the math there): move it up a line", ""))
        for number, why in undisplayed_tables(cells):
            found.append(Finding(f"{rel}:{number}", "markdown_table " + why, ""))
        if str(Path(rel).with_suffix("")) not in CHECKS_IN_READING_PATH:
            for number, why in misplaced_checks(text, cells):
                found.append(Finding(f"{rel}:{number}", why, ""))
        in_code = in_header = False
        for number, line in enumerate(path.read_text(encoding="utf8").splitlines(), 1):
            if line.startswith("```{code-cell}"):
                in_code, in_header, start = True, False, number
                continue
            if in_code and line.startswith("```"):
                in_code = False
                continue
            if in_code and line.strip() == "---":
                # the cell's YAML header (figure captions) is prose; its code is not
                in_header = number == start + 1  # opens on the line after the fence, closes once
                continue
            if in_code and not in_header or line.lstrip().startswith("$$"):
                continue  # code, or "$$ ... $$ (label)", dollarmath's label syntax
            where = f"{path.relative_to(root)}:{number}"
            for kind, pattern in SOURCE_PATTERNS:
                for m in pattern.finditer(line):
                    found.append(Finding(where, kind, m.group(0).strip()))
        if notes is not None:
            notes.extend(paper_number_notes(path, root))
    if notes is not None:  # the figures' legends and labels
        for path in sorted((root / FIGURES).glob("*.py")):
            notes.extend(paper_number_notes(path, root))
    return found


# --- in headless Chromium ---------------------------------------------------------------

#: Run in each page once it has loaded: waits for MathJax, the fonts and the images, then
#: returns one line per problem.  An element is measured against the space it has: the
#: nearest scroll box around it (which must itself fit), else the article's column, the
#: nearest box that clips it and the screen.  Elements inside a closed toggle are skipped.
AUDIT_JS = r"""
async () => {
  const settle = (async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    if (document.fonts && document.fonts.ready) await document.fonts.ready;
    await Promise.all(Array.from(document.images).filter(im => !im.complete).map(
      im => new Promise(r => { im.addEventListener('load', r); im.addEventListener('error', r); })));
    await new Promise(r => setTimeout(r, 300));
    return true;
  })();
  const ready = await Promise.race([settle, new Promise(r => setTimeout(() => r(false), 30000))]);
  const out = ready ? [] : ['the page did not settle in 30 s (MathJax, fonts or images)'];
  const doc = document.documentElement, vw = doc.clientWidth;
  const column = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  const colRight = column.getBoundingClientRect().right;
  const shown = el => { const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && !el.closest('details:not([open])'); };
  const desc = el => {
    const id = el.id || (el.closest('[id]') || {}).id || '';
    const t = (el.textContent || el.getAttribute('alt') || '').replace(/\s+/g, ' ').trim().slice(0, 50);
    return el.tagName.toLowerCase() + (id ? '#' + id : '') + ' "' + t + '"';
  };
  const sel = 'div.math, mjx-container[display="true"], table, div.cell_output pre, div.output pre, ' +
              'figure img, div.cell_output img, .logloss-explorer, .logloss-explorer input';
  document.querySelectorAll(sel).forEach(el => {
    if (!shown(el)) return;
    const r = el.getBoundingClientRect();
    const need = Math.max(el.scrollWidth || 0, r.width), right = r.left + need;
    let limit = Math.min(colRight, vw), why = 'wider than the column', scroller = null;
    for (let a = el; a && a !== doc; a = a.parentElement) {
      const ox = getComputedStyle(a).overflowX;
      if ((ox === 'auto' || ox === 'scroll') && a !== el) { scroller = a; break; }
      if ((ox === 'auto' || ox === 'scroll') && a === el) { scroller = a; break; }
      if (ox === 'hidden' || ox === 'clip') {
        const edge = a.getBoundingClientRect().left + a.clientWidth;
        if (edge <= limit + 0.5) { limit = Math.min(limit, edge); why = 'clipped'; }
      }
    }
    if (scroller) {
      const sr = scroller.getBoundingClientRect().right;
      if (sr > Math.min(colRight, vw) + 1)
        out.push('scroll box wider than the column: ' + desc(el) + ' ends at ' + Math.round(sr) +
                 ' px, the column at ' + Math.round(Math.min(colRight, vw)));
      return;
    }
    if (right > limit + 1)
      out.push(why + ': ' + desc(el) + ' needs ' + Math.round(need) + ' px, has ' +
               Math.round(limit - r.left));
  });
  if (vw >= 1000) document.querySelectorAll('figure img, div.cell_output img').forEach(im => {
    if (!shown(im)) return;
    const want = parseFloat(im.getAttribute('width')) || parseFloat(im.style.width) || im.naturalWidth;
    const got = im.getBoundingClientRect().width;
    if (want > got + 2)
      out.push('figure drawn wider than the column (shrunk): ' + desc(im) + ' is ' + Math.round(want) +
               ' px, shown at ' + Math.round(got));
  });
  document.querySelectorAll('mjx-merror, .MathJax_Error').forEach(el =>
    out.push('math error: ' + (el.getAttribute('data-mjx-error') || el.textContent).slice(0, 80)));
  const walker = document.createTreeWalker(column, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest('pre, code, script, style, mjx-container, textarea, .cell_input, details:not([open])')) continue;
    const m = n.textContent.match(/\\\(|\\\[|\$\$|\\begin\{/);
    if (m) out.push('math not rendered: "' + n.textContent.trim().slice(0, 60) + '"');
  }
  const page = document.scrollingElement || doc;
  if (page.scrollWidth > vw + 1) out.push('page scrolls sideways: ' + page.scrollWidth + ' px in ' + vw);
  return out;
}
"""


def chromium() -> str | None:
    """The system's Chromium (Debian's ``chromium``), or None."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


class _Server:
    """The book served on 127.0.0.1 (a free port) in a thread, for as long as the ``with``."""

    def __init__(self, root: Path):
        import functools
        import http.server

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

        handler = functools.partial(Quiet, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def __enter__(self):
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _refuse_remote(local: str, refused: list[str]):
    """A Playwright route handler: requests under ``local`` go on, others are refused and noted."""

    def route(r, request) -> None:
        if request.url.startswith((local, "data:", "blob:")):
            r.continue_()
        else:
            refused.append(request.url)
            r.abort()

    return route


def browser_audit(build: Path, widths: Iterable[int] = (1280, 412), *, pages: Iterable[str] | None = None,
                  shots: Path | None = None, on_page=None) -> list[Finding]:
    """Open every page of ``build`` (or ``pages``, paths relative to it, each optionally
    with ``#id``) in headless Chromium at each width and report what :data:`AUDIT_JS`
    finds, every console error and every request that would leave 127.0.0.1 (refused).

    ``shots``: write a full-page screenshot of each page at each width there
    (``<page>_<width>.png``, or ``<page>_<id>_<width>.png`` scrolled to ``#id``).
    ``on_page(page, width, pw_page)`` is called after each audit (the screenshot tool's
    hook)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [Finding("browser", "no Playwright", "pip install -r requirements.txt, or pass --no-browser")]
    exe = chromium()
    if exe is None:
        return [Finding("browser", "no headless Chromium", "apt-get install chromium, or pass --no-browser")]
    names = list(pages) if pages is not None else [str(p.relative_to(build)) for p in _pages(build)
                                                   if 'http-equiv="Refresh"' not in p.read_text(encoding="utf8")[:2000]]
    found: list[Finding] = []
    with _Server(build) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in widths:
                ctx = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
                remote: list[str] = []
                ctx.route("**/*", _refuse_remote(server.url, remote))
                for name in names:
                    rel, _, ident = name.partition("#")
                    errors: list[str] = []
                    page = ctx.new_page()
                    page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
                    page.on("pageerror", lambda e, errors=errors: errors.append(f"{e}"))
                    page.on("response", lambda r, errors=errors: r.status >= 400
                            and errors.append(f"HTTP {r.status}: {r.url.removeprefix(server.url)}"))
                    del remote[:]
                    where = f"{rel} @{width}"
                    try:
                        page.goto(server.url + rel, wait_until="load", timeout=60000)
                        lines = page.evaluate(AUDIT_JS)
                    except Exception as err:  # noqa: BLE001 - a page that cannot be opened is a finding
                        lines = [f"could not be audited: {str(err).splitlines()[0]}"]
                    for line in lines:
                        kind, _, text = line.partition(": ")
                        found.append(Finding(where, kind, text))
                    for url in dict.fromkeys(remote):
                        found.append(Finding(where, "request to the network (refused)", url))
                    for err in dict.fromkeys(errors):
                        found.append(Finding(where, "console error", err[:200]))
                    if ident:
                        page.evaluate("id => { const el = document.getElementById(id); "
                                      "if (el) el.scrollIntoView({block: 'start'}); }", ident)
                    if shots is not None:
                        stem = re.sub(r"[^\w]+", "_", rel.removesuffix(".html") + (f"_{ident}" if ident else ""))
                        page.screenshot(path=str(shots / f"{stem}_{width}.png"), full_page=not ident)
                    if on_page is not None:
                        on_page(rel, width, page)
                    page.close()
                ctx.close()
        finally:
            browser.close()
    return list(dict.fromkeys(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--sources", type=Path, default=None,
                        help="book root whose MyST sources are linted too")
    parser.add_argument("--no-browser", action="store_true",
                        help="skip the checks in headless Chromium (clipping, console errors)")
    parser.add_argument("--widths", nargs="+", type=int, default=[1280, 412],
                        help="screen widths of the checks in Chromium (px)")
    args = parser.parse_args(argv)
    found = check_book(args.build)
    if not args.no_browser and not any(f.kind == "no HTML pages" for f in found):
        found += browser_audit(args.build, args.widths)
    notes: list[Finding] = []
    if args.sources is not None:
        found += check_sources(args.sources, notes)
    for f in [*found, *notes]:
        print(f)
    print(f"check_html: {len(found)} finding(s), {len(notes)} note(s) in {len(_pages(args.build))} page(s) "
          f"of {args.build}" + (f" and the sources in {args.sources}" if args.sources else "")
          + ("" if args.no_browser else f"; in Chromium at {', '.join(map(str, args.widths))} px"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
