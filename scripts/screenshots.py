"""Look at the built book in headless Chromium: overflow audit and screenshots.

Usage::

    python scripts/screenshots.py [_build/html] [--out /tmp/shots] [--widths 1280 412]
                                  [--at chapters/escape.html#equation-eq-escape-rate ...]

For every page and width, a copy of the page with a small script added is opened in
``chromium --headless``.  The script waits for MathJax, then lists every display
equation, table, output block, figure and interactive explorer whose content is wider
than the space it has and that neither scrolls nor wraps (``clipped``), or that runs
past the screen's right edge (``off-screen``).  Those lines are printed, and the run
fails (exit 1) if there is any.  A screenshot of the top of each page is written to
``--out``, and one for each ``--at`` target (a page and an element id, scrolled into
view).  The copies are removed afterwards.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

AUDIT = r"""
<script>
window.addEventListener('load', function () {
  function run() {
    var vw = document.documentElement.clientWidth, out = [];
    var sel = 'mjx-container[display="true"], div.math, table, div.cell_output pre, ' +
              'div.highlight pre, figure img, div.cell_output img, .logloss-plotly, ' +
              'div.cell_output';
    function desc(el) {
      var id = el.id || (el.closest('[id]') || {}).id || '';
      var t = (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 50);
      return el.tagName.toLowerCase() + (id ? '#' + id : '') + ' "' + t + '"';
    }
    document.querySelectorAll(sel).forEach(function (el) {
      if (!el.offsetParent && el.tagName !== 'MJX-CONTAINER') return;
      var need = el.scrollWidth, ok = false, clipped = false;
      for (var a = el; a && a !== document.body; a = a.parentElement) {
        var ox = getComputedStyle(a).overflowX;
        if (ox === 'auto' || ox === 'scroll') { ok = true; break; }  // the reader can scroll it
        if ((ox === 'hidden' || ox === 'clip') && a.clientWidth + 1 < need) { clipped = true; break; }
      }
      var r = el.getBoundingClientRect();
      if (r.right > vw + 1) ok = false;  // a scroll box that itself runs off the screen
      if (clipped) out.push('clipped ' + desc(el) + ' needs ' + need + ' px');
      else if (!ok && r.right > vw + 1) out.push('off-screen ' + desc(el) + ' right=' + Math.round(r.right));
    });
    var doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth + 1)
      out.push('page scrolls sideways: ' + doc.scrollWidth + ' px in ' + doc.clientWidth);
    var pre = document.createElement('pre');
    pre.id = 'logloss-audit';
    pre.textContent = 'AUDIT-BEGIN\n' + out.join('\n') + '\nAUDIT-END';
    document.body.appendChild(pre);
    pre.style.display = 'none';
    if (window.parent !== window) window.parent.postMessage(pre.textContent, '*');
    var target = location.hash ? document.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    if (target) target.scrollIntoView({block: 'start'});
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(function () { setTimeout(run, 300); });
  } else { setTimeout(run, 1500); }
});
</script>
"""


# Chromium's headless window is never narrower than about 500 px, so a phone width is
# emulated by an iframe of that width in a wider page.
FRAME = """<!DOCTYPE html><html><body style="margin:0;background:#888;overflow:hidden">
<iframe src="{src}" style="width:{width}px;height:{height}px;border:0;background:white;display:block"></iframe>
<pre id="audit"></pre>
<script>window.addEventListener('message', function (e) {{
  document.getElementById('audit').textContent = e.data; }});</script>
</body></html>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("screenshots: no chromium found (apt-get install chromium)")


def _tiles(shot: Path, width: int, tile: int) -> None:
    """Cut a tall screenshot into tiles (the page's column only), dropping blank ones."""
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    im = Image.open(shot).convert("RGB").crop((0, 0, width, Image.open(shot).size[1]))
    a = np.asarray(im)
    for i, y in enumerate(range(0, im.size[1], tile)):
        part = a[y:y + tile]
        # blank: every row repeats the first (a page's end, or only a sidebar's edge)
        if (part != part[:1]).any(axis=2).mean() > 0.002:
            Image.fromarray(part).save(shot.with_name(f"{shot.stem}_{i:02d}.png"))
    shot.unlink()


def _run(args: list[str]) -> str:
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return res.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build", nargs="?", default="_build/html", type=Path)
    p.add_argument("--out", default=Path("/tmp/shots"), type=Path)
    p.add_argument("--widths", nargs="+", type=int, default=[1280, 412])
    p.add_argument("--height", type=int, default=2000)
    p.add_argument("--at", nargs="*", default=[], help="PAGE#ID to scroll to and shoot")
    p.add_argument("--tall", type=int, default=0,
                   help="shoot this many pixels of each page and cut them into tiles")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    pages = sorted(q for q in args.build.rglob("*.html")
                   if not q.relative_to(args.build).parts[0].startswith("_")
                   and ".__shot" not in q.name and ".__frame" not in q.name and ".__explorer" not in q.name
                   and 'http-equiv="Refresh"' not in q.read_text(encoding="utf8")[:2000])
    targets = [(page, "") for page in pages]
    for at in args.at:
        rel, _, ident = at.partition("#")
        targets.append((args.build / rel, ident))
    problems = 0
    for page, ident in targets:
        copy = page.with_name(page.stem + ".__shot.html")
        frame = page.with_name(page.stem + ".__frame.html")
        copy.write_text(page.read_text(encoding="utf8").replace("</body>", AUDIT + "</body>"),
                        encoding="utf8")
        rel = str(page.relative_to(args.build))
        try:
            for width in args.widths:
                height = args.tall if args.tall else args.height if width > 600 else 900
                src = copy.name + (f"#{ident}" if ident else "")
                frame.write_text(FRAME.format(src=src, width=width, height=height), encoding="utf8")
                common = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                          f"--window-size={max(width, 600)},{height}", "--virtual-time-budget=10000"]
                name = re.sub(r"[^\w]+", "_", rel.removesuffix(".html") + (f"_{ident}" if ident else ""))
                shot = args.out / f"{name}_{width}.png"
                _run([*common, f"--screenshot={shot}", frame.resolve().as_uri()])
                if args.tall:
                    _tiles(shot, width, 1400 if width < 600 else 1800)
                if ident:
                    continue
                dom = _run([*common, "--dump-dom", frame.resolve().as_uri()])
                m = re.search(r"AUDIT-BEGIN\n(.*?)AUDIT-END", dom, re.S)
                if m is None:
                    print(f"{rel} @{width}: audit did not run", flush=True)
                    problems += 1
                    continue
                lines = [x for x in m.group(1).splitlines() if x.strip()]
                problems += len(lines)
                for x in lines:
                    print(f"{rel} @{width}: {x}", flush=True)
        finally:
            copy.unlink(missing_ok=True)
            frame.unlink(missing_ok=True)
    print(f"screenshots: {problems} problem(s); screenshots in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
