"""Use the book's HTML explorers in headless Chromium, offline, from the keyboard, at a
desktop's and a phone's width, and check that the plots follow the sliders.

Usage::

    python scripts/check_explorer.py [_build/html] [--pages chapters/escape_kramers.html ...]
                                     [--widths 1280 412] [--out /tmp/shots]

Every page with an explorer (:mod:`logloss.display.explore.html`, class
``logloss-explorer``) is opened (the book served on 127.0.0.1, every other request
refused) at each width.  For each explorer, each slider is given the keyboard focus (the
first one by Tab from the page above it, the next ones by Tab from the previous one) and
moved one step with an arrow key; the check fails (exit 1) if a slider cannot be reached
or does not move, if the explorer's state, the slider's shown value or the plotted data do
not change, if a slider or the explorer runs past the column or the screen, if plotly.js
is missing, or on a console error.  A screenshot of each explorer after the moves goes to
``--out``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts/check_html.py: Chromium, the server, the pages
import check_html

#: The explorers' state on the page: which sliders, their values, the plotted data.
STATE_JS = r"""
root => {
  const inputs = Array.from(root.querySelectorAll('input[type=range]'));
  const panels = Array.from(root.querySelectorAll('.logloss-explorer-panel'));
  const col = (document.querySelector('article.bd-article') || document.body).getBoundingClientRect();
  const vw = document.documentElement.clientWidth, r = root.getBoundingClientRect();
  return {
    plotly: typeof Plotly !== 'undefined',
    state: root.getAttribute('data-state'),
    inputs: inputs.map(el => { const b = el.getBoundingClientRect();
      return {id: el.id, value: el.value, max: el.max, left: b.left, right: b.right, width: b.width,
              shown: document.getElementById(el.id + '-value').textContent}; }),
    data: JSON.stringify(panels.map(p => (p.data || []).map(t => [t.x, t.y]))),
    drawn: panels.every(p => p.querySelector('.main-svg') !== null),
    right: r.right, left: r.left, column: Math.min(col.right, vw), vw: vw,
  };
}
"""


def check_page(page, where: str, shots: Path | None = None) -> list[str]:
    """Problems of the explorers on an open Playwright ``page`` (``where`` names it)."""
    problems = []
    roots = page.query_selector_all(".logloss-explorer")
    if not roots:
        return [f"{where}: no explorer on the page"]
    page.wait_for_timeout(300)
    for n, root in enumerate(roots):
        name = root.get_attribute("data-explorer") or str(n)
        s = root.evaluate(STATE_JS)
        if not s["plotly"] or not s["drawn"]:
            problems.append(f"{where} {name}: plotly.js missing or the plots not drawn")
            continue
        if s["right"] > s["column"] + 1 or s["left"] < -1:
            problems.append(f"{where} {name}: the explorer runs past the column ({s['left']:.0f}–"
                            f"{s['right']:.0f} px, the column ends at {s['column']:.0f})")
        for inp in s["inputs"]:
            if inp["left"] < -1 or inp["right"] > s["vw"] + 1 or inp["right"] > s["right"] + 1 or inp["width"] < 40:
                problems.append(f"{where} {name}: slider {inp['id']} off-screen or too narrow "
                                f"({inp['left']:.0f}–{inp['right']:.0f} px in {s['vw']})")
        for k, inp in enumerate(s["inputs"]):
            if k == 0:
                root.evaluate("r => { const b = document.createElement('button'); b.id = 'logloss-before';"
                              " b.textContent = 'before'; r.parentNode.insertBefore(b, r); }")
                page.focus("#logloss-before")
            page.keyboard.press("Tab")
            focused = page.evaluate("() => document.activeElement && document.activeElement.id")
            if focused != inp["id"]:
                problems.append(f"{where} {name}: Tab reaches {focused!r}, not slider {inp['id']}")
                page.focus(f"#{inp['id']}")
            key = "ArrowLeft" if inp["value"] == inp["max"] else "ArrowRight"
            page.keyboard.press(key)
            page.wait_for_timeout(150)
            after = root.evaluate(STATE_JS)
            new = after["inputs"][k]
            if new["value"] == inp["value"]:
                problems.append(f"{where} {name}: {key} does not move slider {inp['id']}")
            elif after["state"] == s["state"] or new["shown"] == inp["shown"] or after["data"] == s["data"]:
                problems.append(f"{where} {name}: slider {inp['id']} moved but the state, its shown value "
                                "or the plots did not change")
            s = after
        if shots is not None:
            stem = re.sub(r"[^\w]+", "_", where)
            root.screenshot(path=str(shots / f"explorer_{stem}_{name}.png"))
    return problems


def check(build: Path, pages: list[str] | None = None, widths=(1280, 412),
          shots: Path | None = None) -> list[str]:
    """Every problem of the explorers in the built book ``build`` (see the module doc)."""
    from playwright.sync_api import sync_playwright

    exe = check_html.chromium()
    if exe is None:
        return ["no chromium (apt-get install chromium)"]
    if pages is None:
        pages = [str(p.relative_to(build)) for p in check_html._pages(build)
                 if 'class="logloss-explorer"' in p.read_text(encoding="utf8")]
    if not pages:
        return [f"no page of {build} has an explorer"]
    problems: list[str] = []
    with check_html._Server(build) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        try:
            for width in widths:
                ctx = browser.new_context(viewport={"width": width, "height": 900})
                refused: list[str] = []
                ctx.route("**/*", check_html._refuse_remote(server.url, refused))
                for rel in pages:
                    errors: list[str] = []
                    page = ctx.new_page()
                    page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                    page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
                    page.goto(server.url + rel, wait_until="load", timeout=60000)
                    problems += check_page(page, f"{rel} @{width}", shots)
                    problems += [f"{rel} @{width}: console error: {e[:160]}" for e in dict.fromkeys(errors)]
                    page.close()
                problems += [f"@{width}: request to the network (refused): {u}" for u in dict.fromkeys(refused)]
                ctx.close()
        finally:
            browser.close()
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build", nargs="?", default="_build/html", type=Path)
    p.add_argument("--pages", nargs="*", default=None, help="pages (relative to the build) to check")
    p.add_argument("--widths", nargs="+", type=int, default=[1280, 412])
    p.add_argument("--out", default=Path("/tmp/shots"), type=Path)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    problems = check(args.build, args.pages, args.widths, args.out)
    for line in problems:
        print(line)
    print(f"check_explorer: {len(problems)} problem(s); screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
