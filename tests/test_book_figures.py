"""A one-chapter book built with MPLBACKEND=Agg: every figure has its image, caption and
number when the cell uses logloss.show, and the HTML checker catches the book without."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import check_html
import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))


CONFIG = """title: t
only_build_toc_files: true
execute:
  execute_notebooks: force
  timeout: 300
sphinx:
  local_extensions:
    logloss_book: __EXT__
  config:
    nb_execution_raise_on_error: true
    numfig: true
"""
TOC = "format: jb-book\nroot: intro\nchapters:\n  - file: ch\n"
CHAPTER = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

As {numref}`fig-line` shows, a line.

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: A line.
    name: fig-line
---
import matplotlib.pyplot as plt
from logloss import show

fig, ax = plt.subplots()
ax.plot([1, 2], [1, 3], label="line")
ax.legend()
__DISPLAY__
```
"""


def _build(tmp_path: Path, display: str) -> Path:
    book = tmp_path / display.strip("();").replace("(", "_") or "none"
    book.mkdir()
    (book / "_config.yml").write_text(CONFIG.replace("__EXT__", str(ROOT / "_ext")))  # the book's: no thebe
    (book / "_toc.yml").write_text(TOC)
    (book / "intro.md").write_text("# Intro\n")
    (book / "ch.md").write_text(CHAPTER.replace("__DISPLAY__", display))
    env = os.environ | {"MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT / "src"),
                        "LOGLOSS_PROGRESS": "0"}
    res = subprocess.run([JB, "build", str(book), "--all"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return book / "_build" / "html"


@pytest.mark.skipif(not Path(JB).exists(), reason="jupyter-book is not installed")
def test_show_gives_every_figure_its_image_under_agg(tmp_path):
    html = _build(tmp_path, "show(fig)")
    assert check_html.check_book(html) == []
    page = (html / "ch.html").read_text()
    assert "Fig. 1" in page and "<img" in page


@pytest.mark.skipif(not Path(JB).exists(), reason="jupyter-book is not installed")
def test_checker_catches_the_agg_book_without_show(tmp_path):
    html = _build(tmp_path, "fig;")
    kinds = {f.kind for f in check_html.check_book(html)}
    assert "missing _images" in kinds
