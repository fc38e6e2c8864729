"""Move the sliders of the HTML explorer in headless Chromium, offline, and check the plot follows.

Usage::

    python scripts/check_explorer.py [_build/html/chapters/escape.html] [--out /tmp/shots]

A copy of the built page (next to it, so that its relative links to ``_static`` resolve;
nothing is loaded from the network) gets a small script that, once plotly has drawn the
explorer, dispatches ``mousedown``/``mouseup`` events on the rails of the η and n sliders
(the DOM elements a reader clicks), waits, and writes what changed into the page: the
explorer's state before and after, the current-value labels, the last point of the power
law and the position of n_c.  ``chromium --dump-dom`` reads that back; screenshots of the
explorer before and after the move go to ``--out``.  Fails (exit 1) if plotly.js did not
load, the sliders are missing, or the state or the curves did not change.
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

DRIVE = r"""
<script>
window.addEventListener('load', function () {
  var MOVE = __MOVE__;
  setTimeout(function () {
    var out = {plotly: typeof Plotly !== 'undefined'};
    var gd = document.querySelector('.logloss-plotly .plotly-graph-div');
    if (!gd) { report(out); return; }
    out.before = gd.getAttribute('data-state');
    out.y_before = gd.data[0].y[gd.data[0].y.length - 1];
    out.nc_before = gd.data[5].x[0];
    var rails = gd.querySelectorAll('.slider-container .slider-rail-touch-rect');
    out.rails = rails.length;
    function clickAt(el, frac) {
      var r = el.getBoundingClientRect();
      var x = r.left + frac * r.width, y = r.top + r.height / 2;
      el.dispatchEvent(new MouseEvent('mousedown', {bubbles: true, clientX: x, clientY: y, view: window}));
      el.dispatchEvent(new MouseEvent('mouseup', {bubbles: true, clientX: x, clientY: y, view: window}));
      document.dispatchEvent(new MouseEvent('mouseup', {bubbles: true, clientX: x, clientY: y}));
    }
    if (MOVE && rails.length >= 3) { clickAt(rails[0], 0.98); clickAt(rails[2], 0.98); }
    setTimeout(function () {
      out.after = gd.getAttribute('data-state');
      out.y_after = gd.data[0].y[gd.data[0].y.length - 1];
      out.nc_after = gd.data[5].x[0];
      out.labels = Array.from(gd.querySelectorAll('.slider-group text')).map(function (t) {
        return t.textContent; }).filter(function (t) { return /=/.test(t); });
      // show the explorer alone at the top for the screenshot (headless Chromium
      // paints nothing after a scroll), keeping the plot as drawn
      var host = gd.closest('.logloss-plotly');
      document.body.prepend(host);
      Array.from(document.body.children).forEach(function (c) {
        if (c !== host && c.tagName !== 'SCRIPT') c.style.display = 'none'; });
      host.style.margin = '20px';
      report(out);
    }, 1000);
  }, 1500);
  function report(out) {
    var pre = document.createElement('pre');
    pre.id = 'explorer-check';
    pre.style.display = 'none';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
});
</script>
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("check_explorer: no chromium found (apt-get install chromium)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("page", nargs="?", default="_build/html/chapters/escape.html", type=Path)
    p.add_argument("--out", default=Path("/tmp/shots"), type=Path)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    browser = chromium()
    html = args.page.read_text(encoding="utf8")
    results = {}
    for label, move in (("before", False), ("after", True)):
        copy = args.page.with_name(f"{args.page.stem}.__explorer_{label}.html")
        copy.write_text(html.replace("</body>", DRIVE.replace("__MOVE__", json.dumps(move))
                                     + "</body>"), encoding="utf8")
        try:
            common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                      "--window-size=1280,1100", "--virtual-time-budget=12000"]
            url = copy.resolve().as_uri()
            subprocess.run([*common, f"--screenshot={args.out / f'explorer_{label}.png'}", url],
                           capture_output=True, timeout=180)
            dom = subprocess.run([*common, "--dump-dom", url], capture_output=True, text=True,
                                 timeout=180).stdout
        finally:
            copy.unlink(missing_ok=True)
        m = re.search(r'<pre id="explorer-check"[^>]*>(.*?)</pre>', dom, re.S)
        results[label] = json.loads(html_lib.unescape(m.group(1))) if m else {}
    res = results["after"]
    print("check_explorer:", json.dumps(res))
    ok = (res.get("plotly") and res.get("rails", 0) >= 4 and res.get("before") != res.get("after")
          and res.get("y_before") != res.get("y_after") and res.get("nc_before") != res.get("nc_after"))
    print(f"check_explorer: {'ok' if ok else 'FAILED'}; screenshots {args.out}/explorer_before.png, "
          f"{args.out}/explorer_after.png")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
