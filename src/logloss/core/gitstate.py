"""The commit of logloss's own checkout, read from its files: git itself is never run.

Running ``git`` in the folder the package was loaded from is unsafe: when the package is
installed inside someone else's repository, git reads that repository's configuration,
and keys such as ``core.fsmonitor`` run commands.  So the run record's ``git_commit`` and
``git_dirty`` are read here from the files of a git checkout, and only of the package's
own source checkout (``<root>/src/logloss`` with a ``pyproject.toml`` naming logloss at
``<root>``): ``HEAD`` and the refs (loose or packed, worktrees included) give the commit,
and the index gives the tracked files, each compared with the working tree by size and
modification time, and by content (the blob's hash) when those do not settle it.  What
cannot be read this way (another layout, a split index) is ``None``, as when git is absent.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from pathlib import Path

__all__ = ["git_state"]

_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git_state(package: Path) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout holding the package folder ``package``; ``(None,
    None)`` if it is not logloss's own source checkout or its git files cannot be read."""
    try:
        root = _checkout_root(Path(package).resolve())
        if root is None:
            return None, None
        gitdir, common = _git_dirs(root)
        commit = _head(gitdir, common)
        if commit is None:
            return None, None
        return commit, _dirty(root, gitdir / "index", len(commit) // 2)
    except (OSError, ValueError, UnicodeDecodeError, struct.error):
        return None, None


def _checkout_root(package: Path) -> Path | None:
    root = package.parents[1] if len(package.parents) > 1 else None
    if root is None or package != root / "src" / "logloss":
        return None
    project = root / "pyproject.toml"
    if not project.is_file() or not re.search(r'(?m)^name\s*=\s*"logloss"', project.read_text()):
        return None
    return root if (root / ".git").exists() else None


def _git_dirs(root: Path) -> tuple[Path, Path]:
    """The checkout's git folder and the common folder of its refs (they differ in a
    worktree made by ``git worktree add``)."""
    dot = root / ".git"
    if dot.is_file():  # "gitdir: <path>"
        text = dot.read_text().strip()
        if not text.startswith("gitdir:"):
            raise ValueError("not a git file")
        gitdir = (root / text[len("gitdir:"):].strip()).resolve()
    else:
        gitdir = dot
    common = gitdir
    if (gitdir / "commondir").is_file():
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    return gitdir, common


def _head(gitdir: Path, common: Path) -> str | None:
    head = (gitdir / "HEAD").read_text().strip()
    for _ in range(5):  # symbolic refs, followed a few levels deep
        if _HEX.match(head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[len("ref:"):].strip()
        if ".." in Path(ref).parts:
            return None
        for folder in (gitdir, common):
            if (folder / ref).is_file():
                head = (folder / ref).read_text().strip()
                break
        else:
            head = _packed(common, ref)
            if head is None:
                return None
    return None


def _packed(common: Path, ref: str) -> str | None:
    path = common / "packed-refs"
    if not path.is_file():
        return None
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == ref and _HEX.match(parts[0]):
            return parts[0]
    return None


def _dirty(root: Path, index: Path, hash_len: int) -> bool | None:
    """Whether a tracked file differs from the index (as ``git status --untracked-files=no``
    reports a change in the working tree); ``None`` if the index cannot be read."""
    parsed = _parse_index(index.read_bytes(), hash_len)
    if parsed is None:
        return None
    stamp = os.stat(index).st_mtime_ns
    for path, mode, mtime_ns, size, blob, skip in parsed:
        kind = mode >> 12
        if skip or kind == 0o16:  # assume-valid or skip-worktree; a submodule
            continue
        file = root / path
        try:
            st = os.lstat(file)
        except FileNotFoundError:
            return True
        if kind == 0o12:  # a symbolic link: its target is the blob
            content = os.readlink(file).encode()
        else:
            if size and st.st_size != size:  # size 0: git smudged a racy entry, compare
                return True
            if st.st_size == size and st.st_mtime_ns == mtime_ns < stamp:
                continue  # unchanged since indexed (and not racily so)
            content = file.read_bytes()
        digest = (hashlib.sha1 if hash_len == 20 else hashlib.sha256)(
            b"blob %d\0" % len(content) + content).digest()
        if digest != blob:
            return True
    return False


def _parse_index(data: bytes, hash_len: int) -> list[tuple] | None:
    """``(path, mode, mtime_ns, size, blob hash, skip)`` of each entry of a git index
    (format versions 2 to 4; 4 compresses each path against the previous one), or
    ``None`` for an index this reader does not handle (another format, a split index)."""
    if data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        return None
    entries, pos, previous = [], 12, b""
    for _ in range(count):
        start = pos
        fields = struct.unpack(">10I", data[pos:pos + 40])
        mtime_ns, mode, size = fields[2] * 10**9 + fields[3], fields[6], fields[9]
        blob = data[pos + 40:pos + 40 + hash_len]
        pos += 40 + hash_len
        (flags,) = struct.unpack(">H", data[pos:pos + 2])
        pos += 2
        skip = bool(flags & 0x8000)  # assume-valid
        if flags & 0x4000:  # extended flags (version 3 and up)
            (extended,) = struct.unpack(">H", data[pos:pos + 2])
            skip = skip or bool(extended & 0x4000)  # skip-worktree
            pos += 2
        if version == 4:
            strip, pos = _varint(data, pos)
            end = data.index(b"\0", pos)
            name = previous[:len(previous) - strip] + data[pos:end]
            pos = end + 1
        else:
            end = data.index(b"\0", pos)
            name = data[pos:end]
            pos = start + ((end - start + 8) // 8) * 8  # NUL-padded to a multiple of 8
        previous = name
        entries.append((name.decode(), mode, mtime_ns, size, blob, skip))
    while pos + 8 <= len(data) - hash_len:  # extensions, then the index's own checksum
        if data[pos:pos + 4] == b"link":  # a split index: the entries are elsewhere
            return None
        pos += 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
    return entries


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """git's offset encoding of version 4 (big-endian base 128, each continuation adding 1)."""
    byte = data[pos]
    value = byte & 0x7F
    pos += 1
    while byte & 0x80:
        byte = data[pos]
        value = ((value + 1) << 7) | (byte & 0x7F)
        pos += 1
    return value, pos
