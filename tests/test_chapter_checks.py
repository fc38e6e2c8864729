"""Chapters are tests: a copy of a chapter with a false assertion must make pytest fail."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "sgd_noise.md"
TRUE_CHECK = 'assert np.all(np.abs(z) < 4), "Monte Carlo disagrees with paper Eq. (8)"'
FALSE_CHECK = 'assert np.all(np.abs(z) < 0), "Monte Carlo disagrees with paper Eq. (8)"'


def _run_copy(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "chapter.md").write_text(text)
    env = os.environ | {"LOGLOSS_SCALE": "smoke", "LOGLOSS_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--rootdir", str(tmp_path), "chapter.md"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600,
    )


def test_chapter_copy_passes_and_false_assertion_fails(tmp_path):
    text = CHAPTER.read_text()
    assert TRUE_CHECK in text
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = _run_copy(tmp_path / "good", text)
    assert good.returncode == 0, good.stdout[-2000:]
    bad = _run_copy(tmp_path / "bad", text.replace(TRUE_CHECK, FALSE_CHECK))
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert "AssertionError" in bad.stdout and "1 failed" in bad.stdout
