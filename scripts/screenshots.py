"""Look at the built book in headless Chromium: the layout audit, with screenshots.

Usage::

    python scripts/screenshots.py [_build/html] [--out /tmp/shots] [--widths 1280 412]
                                  [--at chapters/escape_kramers.html#equation-eq-escape-rate ...]

Every page is opened at each width by :func:`check_html.browser_audit` (Playwright and the
system's ``chromium``, the book served on 127.0.0.1, nothing fetched from the network),
which reports every display equation, table, output block, figure or explorer that is
clipped or runs past the column or the screen, figures drawn wider than the column,
MathJax errors, raw TeX and console errors; the run fails (exit 1) if there is any.  A
full-page screenshot of each page at each width is written to ``--out``, cut into tiles
(``<page>_<width>_NN.png``, blank tiles dropped) that an image viewer shows whole; each
``--at`` target (a page and an element id) is shot once more, scrolled to the element.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling scripts/check_html.py: Chromium, the server, the pages
import check_html


def tiles(shot: Path, tile: int) -> list[Path]:
    """Cut a tall screenshot into tiles of ``tile`` rows, dropping blank ones."""
    import numpy as np
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None
    a = np.asarray(Image.open(shot).convert("RGB"))
    out = []
    for i, y in enumerate(range(0, a.shape[0], tile)):
        part = a[y:y + tile]
        # blank: every row repeats the first (a page's end, or only a sidebar's edge)
        if (part != part[:1]).any(axis=2).mean() > 0.002:
            path = shot.with_name(f"{shot.stem}_{i:02d}.png")
            Image.fromarray(part).save(path)
            out.append(path)
    shot.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("build", nargs="?", default="_build/html", type=Path)
    p.add_argument("--out", default=Path("/tmp/shots"), type=Path)
    p.add_argument("--widths", nargs="+", type=int, default=[1280, 412])
    p.add_argument("--at", nargs="*", default=[], help="PAGE#ID to scroll to and shoot")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    pages = [str(q.relative_to(args.build)) for q in check_html._pages(args.build)
             if 'http-equiv="Refresh"' not in q.read_text(encoding="utf8")[:2000]]
    found = check_html.browser_audit(args.build, args.widths, pages=pages, shots=args.out)
    for shot in sorted(args.out.glob("*.png")):
        last = shot.stem.rsplit("_", 1)[-1]
        if not last.isdigit() or len(last) < 3:
            continue  # a tile (<page>_<width>_NN) of an earlier run
        width = int(last)
        tiles(shot, 1800 if width > 600 else 1400)
    if args.at:
        found += check_html.browser_audit(args.build, args.widths, pages=args.at, shots=args.out)
    for f in found:
        print(f)
    print(f"screenshots: {len(found)} problem(s) in {len(pages)} page(s) at "
          f"{', '.join(map(str, args.widths))} px; screenshots in {args.out}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
