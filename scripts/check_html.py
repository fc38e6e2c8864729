"""Check the built HTML book the way a reader sees it.

Usage::

    python scripts/check_html.py [_build/html] [--sources .]

Fails (exit 1, one line per finding) on

* visible raw MyST markup: a backtick fence with a directive (```` ```{ ````), a
  ``:label:`` option, or a role such as ``{prf:ref}``, ``{eq}``, ``{cite}``, ``{ref}``;
* a cross-reference or label shown as text where a number should be (``fig-...``,
  ``eq-...``, ``thm-...`` in the prose or in a link);
* a doubled prefix such as "Eq. Eq." or "Equation Eq." (``math_eqref_format`` already
  writes "Eq.");
* a figure without an ``<img>`` (or any other image element), a figure without a number,
  a matplotlib ``<Figure size ...>`` text repr shown instead of an image, an ``<img>``
  whose file is missing, and a book whose ``_images/`` folder is missing or empty;
* a page that loads a script from a CDN (the book must work offline).

With ``--sources DIR`` the MyST sources listed in ``DIR/_toc.yml`` are linted too, so
that a finding comes with a file and line number: "Eq. {eq}`...`" and "Equation
{eq}`...`", a ``{cite}`` or other role inside a backtick fence's title (CommonMark does
not allow backticks there), and a raw ``(eq-...)``/``(fig-...)`` label typed into text.
It also prints, as notes that do not fail the check, every number of the paper written
without the word "paper" ("Eq. (15)" for "paper Eq. (15)"), in the prose, the captions,
the table cells (except in a column headed "paper"), the strings of the code cells
(legends, table headers, printed lines) and the labels of ``src/logloss/display/figures``;
``tests/test_check_html.py`` lists the sources that have none and must keep it so.

Code cells' source (``div.cell_input``), ``<script>`` and ``<style>`` are not read.
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
]
LABEL = re.compile(r"(?<![\w/.#-])(fig|eq|thm|tbl|prf|lem|def|sec|ch)-[a-z0-9][\w-]*(?![\w/.-])")
DOUBLED = re.compile(
    r"\b(Eqs?\.|Equations?|Fig\.|Figure|Theorem|Table|Section)\s*\(?\s*"
    r"(Eq\.|Equation|Fig\.|Figure|Theorem|Table|Section)\s*\(?\d"
)
FIGURE_REPR = re.compile(r"<(Figure|matplotlib\.figure\.Figure) size \d")
CDN = re.compile(r"^(https?:)?//", re.I)
SKIP_TAGS = {"script", "style", "noscript", "template"}
SKIP_CLASSES = {"cell_input", "headerlink"}
#: Index pages list labels by design.
INDEX_PAGES = {"genindex.html", "search.html", "prf-prf.html"}


@dataclass(frozen=True)
class Finding:
    where: str
    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.text}"


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
    for script in soup.find_all("script", src=True):
        if CDN.match(script["src"]):
            found.append(Finding(where, "script from the network", script["src"]))
    return list(dict.fromkeys(found))  # once each, in page order


def check_book(build: Path) -> list[Finding]:
    """Every finding in a built HTML book (``_build/html``)."""
    found: list[Finding] = []
    pages = sorted(p for p in build.rglob("*.html")
                   if not p.relative_to(build).parts[0].startswith("_")
                   and ".__shot" not in p.name and ".__frame" not in p.name)  # scripts/screenshots.py's temporary copies
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
        for label in soup.select("div.citation span.label"):
            labels.add(_norm(label.get_text()))
        for a in soup.select("span.bibtex-citation a"):
            cited.append((rel, _norm(a.get_text())))
    if labels:
        for rel, text in dict.fromkeys(cited):
            if text not in labels:
                found.append(Finding(rel, "citation label not on the references page", text))
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
]


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", nargs="?", default="_build/html", type=Path)
    parser.add_argument("--sources", type=Path, default=None,
                        help="book root whose MyST sources are linted too")
    args = parser.parse_args(argv)
    found = check_book(args.build)
    notes: list[Finding] = []
    if args.sources is not None:
        found += check_sources(args.sources, notes)
    for f in [*found, *notes]:
        print(f)
    pages = len([p for p in args.build.rglob("*.html")
                 if not p.relative_to(args.build).parts[0].startswith("_") and ".__shot" not in p.name and ".__frame" not in p.name])
    print(f"check_html: {len(found)} finding(s), {len(notes)} note(s) in {pages} page(s) of {args.build}"
          + (f" and the sources in {args.sources}" if args.sources else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
