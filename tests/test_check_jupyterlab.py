"""A chapter opened in JupyterLab as the README says renders its MyST (equations, theorems),
in headless Chromium (scripts/check_jupyterlab.py).  Needs requirements-dev.txt, which CI
does not install: skipped without JupyterLab, jupyterlab-myst, Playwright or chromium."""

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("jupyterlab", "jupyterlab_myst", "jupytext", "playwright"))
    or shutil.which("chromium") is None,
    reason="needs requirements-dev.txt (JupyterLab, jupyterlab-myst), Playwright and chromium")


def test_escape_chapter_renders_equations_and_theorems_in_jupyterlab(tmp_path):
    import check_jupyterlab

    problems, seen = check_jupyterlab.check("chapters/escape_kramers.md", tmp_path)
    assert problems == [], (problems, seen)
    assert seen["math"] > 10 and seen["theorems"] >= 1
