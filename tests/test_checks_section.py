"""The checks convention: a chapter's last section, ``## Checks``, holds its assert cells
tagged ``hide-cell``.  The built HTML shows them collapsed behind a toggle, the book
build executes them (their output is in the page), and nbval executes them too (a false
assert there fails pytest); scripts/check_html.py accepts the page."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import check_html
import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = shutil.which("jupyter-book") or str(Path(sys.executable).with_name("jupyter-book"))


CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
x = 2
print("x is", x)
```

## Checks

The checks establish that x is two.

```{code-cell} ipython3
:tags: [hide-cell]

# tolerance: criterion: exact arithmetic
assert x == __VALUE__
print("check ran: x == __VALUE__")
```
"""


@pytest.mark.skipif(not Path(JB).exists(), reason="jupyter-book is not installed")
def test_checks_are_collapsed_and_executed_in_the_book(tmp_path):
    (tmp_path / "_config.yml").write_text(
        "title: t\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: force\n"
        "sphinx:\n  local_extensions:\n    logloss_book: " + str(ROOT / "_ext") + "\n"
        "  config:\n    nb_execution_raise_on_error: true\n")
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: ch\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "ch.md").write_text(CHAPTER.replace("__VALUE__", "2"))
    env = os.environ | {"PYTHONPATH": str(ROOT / "src"), "LOGLOSS_PROGRESS": "0"}
    res = subprocess.run([JB, "build", str(tmp_path), "--all"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:]
    html = (tmp_path / "_build" / "html" / "ch.html").read_text()
    toggle = re.search(r"<details[^>]*>(.*?)</details>", html, re.S)
    assert toggle is not None and "open" not in html[toggle.start():toggle.start() + 60]
    assert "assert" in toggle.group(1) and "check ran: x == 2" in toggle.group(1)  # executed, collapsed
    assert "x is 2" in html and "x is 2" not in toggle.group(1)  # the reading path stays open
    assert check_html.check_page(html, "ch.html") == []
    assert "assert in the reading path" in [
        f.kind.split(" (")[0] for f in check_html.check_page(html.replace("<details", "<div"), "ch.html")]


def test_a_false_check_in_the_collapsed_section_fails_nbval(tmp_path):
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "chapter.md").write_text(CHAPTER.replace("__VALUE__", "3"))
    env = os.environ | {"LOGLOSS_SCALE": "smoke", "LOGLOSS_PROGRESS": "0"}
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", "--rootdir", str(tmp_path), "chapter.md"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 1 and "AssertionError" in res.stdout, res.stdout[-2000:]
