"""The run record's commit is read from the checkout's files: git is never run, so a
repository configuration written by someone else runs nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from logloss.core.gitstate import git_state
from logloss.experiments import result as result_module

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="building the test repositories needs git")

#: git with no user or system configuration, for building the test repositories.
ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "t",
       "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                         env=os.environ | ENV, check=True)
    return out.stdout.strip()


def _checkout(root: Path) -> Path:
    """A git checkout with logloss's layout: pyproject.toml and src/logloss/."""
    package = root / "src" / "logloss"
    (package / "experiments").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "logloss"\n')
    (package / "__init__.py").write_text("x = 1\n")
    (package / "experiments" / "result.py").write_text("")
    (root / "notes.txt").write_text("hello\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    return package


def _hostile(root: Path, marker: Path) -> None:
    """A repository configuration that runs a command whenever git looks at the tree."""
    with open(root / ".git" / "config", "a") as fh:
        fh.write(f"[core]\n\tfsmonitor = touch {marker}\n")


def test_a_hostile_repository_config_runs_nothing(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    package = _checkout(root)
    marker = tmp_path / "ran"
    _hostile(root, marker)
    # the package as loaded from that checkout: Result.summary() reads its commit there
    monkeypatch.setattr(result_module, "__file__", str(package / "experiments" / "result.py"))
    commit, dirty = result_module.package_git_state()
    assert not marker.exists()
    assert commit == _git(root, "-c", "core.fsmonitor=", "rev-parse", "HEAD") and dirty is False


def test_the_package_installed_inside_another_repository_reads_nothing(tmp_path, monkeypatch):
    root = tmp_path / "theirs"
    root.mkdir()
    _git(root, "init", "-q")
    marker = tmp_path / "ran"
    _hostile(root, marker)
    package = root / "venv" / "lib" / "site-packages" / "logloss"
    (package / "experiments").mkdir(parents=True)
    monkeypatch.setattr(result_module, "__file__", str(package / "experiments" / "result.py"))
    assert result_module.package_git_state() == (None, None)
    assert not marker.exists()


def _status(root: Path) -> bool:
    return bool(_git(root, "status", "--porcelain", "--untracked-files=no"))


def test_commit_and_dirty_match_git(tmp_path):
    root = tmp_path / "repo"
    package = _checkout(root)
    head = _git(root, "rev-parse", "HEAD")
    assert git_state(package) == (head, False)
    init = package / "__init__.py"
    init.write_text("x = 2\n")  # same size, new content
    assert git_state(package) == (head, True) and _status(root)
    init.write_text("x = 1\n")
    assert git_state(package) == (head, False) and not _status(root)
    (root / "notes.txt").unlink()
    assert git_state(package) == (head, True)
    _git(root, "checkout", "-q", "--", "notes.txt")
    (root / "untracked.txt").write_text("not tracked\n")
    assert git_state(package) == (head, False)
    _git(root, "pack-refs", "--all")  # the branch now lives in packed-refs
    assert not (root / ".git" / "refs" / "heads" / "main").exists()
    assert git_state(package) == (head, False)
    _git(root, "update-index", "--index-version", "4")  # compressed paths
    assert git_state(package) == (head, False)
    _git(root, "checkout", "-q", "--detach")
    assert git_state(package) == (head, False)


def test_a_worktree_reads_its_own_head(tmp_path):
    root = tmp_path / "repo"
    _checkout(root)
    (root / "notes.txt").write_text("second\n")
    _git(root, "commit", "-q", "-am", "two")
    other = tmp_path / "wt"
    _git(root, "worktree", "add", "-q", "-b", "side", str(other), "HEAD~1")
    assert git_state(other / "src" / "logloss") == (_git(other, "rev-parse", "HEAD"), False)
    assert git_state(other / "src" / "logloss")[0] != _git(root, "rev-parse", "HEAD")
