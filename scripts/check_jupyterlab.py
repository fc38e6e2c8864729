"""Open a chapter in JupyterLab as the README says, in headless Chromium, and check that
its MyST is rendered: equations typeset, theorem boxes drawn, no raw directive or role.

Usage::

    python scripts/check_jupyterlab.py [--chapter chapters/escape_kramers.md] [--out /tmp/shots]

Needs ``requirements-dev.txt`` (JupyterLab, jupytext, jupyterlab-myst) in the running
Python's environment, Playwright and the system's ``chromium``.  The README's steps are
followed in a scratch settings folder (``JUPYTERLAB_SETTINGS_DIR``, so that your own
settings are untouched): ``jupytext-config set-default-viewer``, then ``jupyter lab`` on
the repository (on 127.0.0.1, a free port, a random token).  The chapter is opened by its
URL, as a double click in the file browser opens it (the ``.md`` file as a notebook), and
scrolled through from top to bottom; the rendered Markdown cells are read on the way.
Fails (exit 1) if the chapter does not open as a notebook, if no equation is typeset or
no theorem is drawn, or if MyST source (a ``{prf:...}`` or ``{math}`` directive, an
``{eq}``/``{cite}`` role, ``$$``) shows in a rendered cell.  A screenshot of the first
theorem goes to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))  # the sibling scripts/check_html.py: its Chromium finder
import check_html

#: Read in the page: what the rendered Markdown cells hold so far.
READ_JS = r"""
() => {
  const cells = Array.from(document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst'));
  const text = cells.map(c => c.innerText).join('\n');
  const raw = (text.match(/\{prf:[a-z]+\}|```\{math\}|\{eq\}`|\{cite[a-z:]*\}`|\$\$/g) || []);
  return {
    notebook: document.querySelector('.jp-NotebookPanel .jp-Notebook') !== null,
    cells: document.querySelectorAll('.jp-Cell').length,
    rendered: cells.length,
    math: document.querySelectorAll('.jp-MarkdownCell .katex, .jp-MarkdownCell mjx-container, .jp-MarkdownCell .MathJax').length,
    theorems: Array.from(document.querySelectorAll('.jp-MarkdownCell aside, .jp-MarkdownCell .proof, .jp-MarkdownCell [class*="theorem"], .jp-MarkdownCell [class*="admonition"]'))
      .filter(el => /Theorem/.test(el.innerText)).length,
    raw: raw.slice(0, 5),
  };
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(chapter: str, out: Path | None = None, timeout: float = 120) -> tuple[list[str], dict]:
    """Problems found with ``chapter`` (a path relative to the repository) opened in
    JupyterLab, and what was counted."""
    from playwright.sync_api import sync_playwright

    for tool in ("jupyter-lab", "jupytext-config"):
        if not (BIN / tool).exists():
            return [f"{tool} is not installed: pip install -r requirements-dev.txt"], {}
    exe = check_html.chromium()
    if exe is None:
        return ["no chromium (apt-get install chromium)"], {}
    problems: list[str] = []
    seen: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        env = os.environ | {"JUPYTERLAB_SETTINGS_DIR": str(Path(scratch) / "settings"),
                            "JUPYTERLAB_WORKSPACES_DIR": str(Path(scratch) / "workspaces"),
                            "JUPYTER_RUNTIME_DIR": str(Path(scratch) / "runtime"),
                            "LOGLOSS_SCALE": "smoke"}
        subprocess.run([str(BIN / "jupytext-config"), "set-default-viewer"], env=env, check=True,
                       capture_output=True, timeout=60)
        port, token = _free_port(), secrets.token_hex(16)
        lab = subprocess.Popen(
            [str(BIN / "jupyter-lab"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                    break
                except OSError:
                    if time.monotonic() > deadline or lab.poll() is not None:
                        return ["JupyterLab did not start"], {}
                    time.sleep(1)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(f"{base}/lab/tree/{chapter}?token={token}", wait_until="load", timeout=120000)
                try:
                    page.wait_for_selector(".jp-NotebookPanel .jp-MarkdownCell", timeout=120000)
                except Exception:  # noqa: BLE001 - reported below
                    problems.append(f"{chapter} did not open as a notebook")
                page.wait_for_timeout(3000)
                shot = False
                for _ in range(400):  # scroll from top to bottom, reading what is rendered
                    now = page.evaluate(READ_JS)
                    for key in ("cells", "rendered", "math", "theorems"):
                        seen[key] = max(seen.get(key, 0), now[key])
                    seen["notebook"] = seen.get("notebook", False) or now["notebook"]
                    seen.setdefault("raw", [])
                    seen["raw"] += [r for r in now["raw"] if r not in seen["raw"]]
                    if out is not None and not shot and now["theorems"]:
                        page.locator(".jp-MarkdownCell", has_text="Theorem").first.screenshot(
                            path=str(out / "jupyterlab_theorem.png"))
                        shot = True
                    at_end = page.evaluate(
                        "() => { const s = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');"
                        " if (!s) return true; const end = s.scrollTop + s.clientHeight >= s.scrollHeight - 2;"
                        " s.scrollTop += 700; return end; }")
                    page.wait_for_timeout(250)
                    if at_end:
                        break
                if out is not None:
                    page.screenshot(path=str(out / "jupyterlab_end.png"))
                browser.close()
        finally:
            lab.terminate()
            try:
                lab.wait(timeout=30)
            except subprocess.TimeoutExpired:
                lab.kill()
    if not seen.get("notebook"):
        problems.append(f"{chapter} did not open as a notebook")
    if not seen.get("math"):
        problems.append("no typeset equation in the rendered Markdown cells")
    if not seen.get("theorems"):
        problems.append("no theorem box in the rendered Markdown cells")
    if seen.get("raw"):
        problems.append(f"MyST source in rendered cells: {seen['raw']}")
    return problems, seen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chapter", default="chapters/escape_kramers.md")
    p.add_argument("--out", default=Path("/tmp/shots"), type=Path)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems, seen = check(args.chapter, args.out)
    print("check_jupyterlab:", json.dumps(seen))
    for line in problems:
        print(line)
    print(f"check_jupyterlab: {len(problems)} problem(s) with {args.chapter}; screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
