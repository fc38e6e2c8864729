"""Every Python snippet of the README runs as written (a new user copies them)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_python_snippets():
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_snippet_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})


def test_readme_lists_the_whole_public_api():
    import logloss

    text = README.read_text()
    section = text[text.index("## The public API"):text.index("## Data")]
    missing = [n for n in logloss.__all__ if not re.search(rf"logloss\.{re.escape(n)}\b", section)]
    assert not missing, f"public names without a README example: {missing}"
