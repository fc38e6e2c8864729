"""The HTML explorers (logloss.display.explore.html): self-contained, precomputed from the
chapters' data functions, and usable in Chromium from the keyboard at a desktop's and a
phone's width (scripts/check_explorer.py drives them)."""

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("plotly")

from logloss import explore  # noqa: E402
from logloss.display.explore import escape_data, noise_data  # noqa: E402
from logloss.display.explore.html import CSS_CLASS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|https?://""", re.I)

LANDSCAPE = dict(L_star=0.6, sigma2=0.0, dL_lo=0.4, dL_hi=0.5, h_star=1.0, h_saddle_lo=-0.8,
                 h_saddle_hi=-0.9, h_noise=1.1)


def _history():
    e = np.arange(0.0, 30.0)
    L = np.geomspace(1.0, 1e-3, 30)
    return {"mse": {"epoch": e, "loss": L, "noise": 3 * L ** 1.1},
            "ce": {"epoch": e[:20], "loss": L[:20], "noise": 2 * L[:20] ** 1.5}}


@pytest.fixture(scope="module")
def figures():
    measured = {"dL_over_L": [0.5, 1.0], "t": [100.0, 300.0], "stderr": [5.0, 9.0], "eta": 0.03, "B": 1}
    return {
        "escape": explore.escape_html(etas=(0.05, 0.1), Bs=(1, 2), ns=(1, 10), c_maxes=(10, 30), points=12),
        "noise": explore.noise_html(_history()),
        "stationary": explore.stationary_html(etas=(0.05, 0.5), Bs=(1, 4), ds=(1, 2), replicas=64, records=4),
        "barrier": explore.barrier_html(LANDSCAPE, measured, sigma2s=(0.0, 4.0), etas=(0.01, 0.02), Bs=(1, 2)),
    }


def _payload(fig):
    m = re.search(r'<script type="application/json" id="[^"]+-data">(.*?)</script>', fig.html, re.S)
    return json.loads(m.group(1), parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


def _frame(fig, key):
    data = _payload(fig)
    f = data["frames"][key]
    return [None if xy is None else (data["arrays"][xy[0]], data["arrays"][xy[1]]) for xy in f["s"]], f


@pytest.mark.parametrize("name, sliders", [("escape", 4), ("noise", 2), ("stationary", 3), ("barrier", 3)])
def test_fragment_is_offline_with_range_sliders(figures, name, sliders):
    fig = figures[name]
    assert f'class="{CSS_CLASS}"' in fig.html and f'data-explorer="{name}"' in fig.html
    assert not URL.search(fig.html), URL.search(fig.html)
    assert len(re.findall(r'<input type="range"', fig.html)) == sliders
    assert len(re.findall(r'<label for=', fig.html)) == sliders  # each slider has its label
    data = _payload(fig)
    n = 1
    for m in re.finditer(r'max="(\d+)"', fig.html):
        n *= int(m.group(1)) + 1
    assert len(data["frames"]) == n  # every combination precomputed


def test_escape_curves_are_escape_data(figures):
    xy, f = _frame(figures["escape"], "1,1,1,1")
    ref = escape_data(eta=0.1, B=2, h=1.0, n=10, c_max=30, points=12)
    np.testing.assert_allclose(xy[0][1], ref["t_power"], rtol=1e-3)
    np.testing.assert_allclose(xy[2][1], ref["t_arrhenius_saddle"], rtol=1e-3)
    assert f"n_c = {ref['n_c']:.3g}" in f["n"]


def test_overflowing_arrhenius_becomes_a_gap():
    fig = explore.escape_html(etas=(0.01,), Bs=(64,), ns=(1,), c_maxes=(100,), points=8)
    xy, _ = _frame(fig, "0,0,0,0")
    assert xy[1][1][0] is not None and xy[1][1][-1] is None  # e^(ΔL/D) beyond float range
    assert "Infinity" not in fig.html and "NaN" not in fig.html


def test_noise_point_follows_the_slider_and_is_clamped_per_loss(figures):
    xy, f = _frame(figures["noise"], "0,29")  # mse (first), its last point
    ref = noise_data(_history(), "mse", 29)
    assert xy[3] == ([pytest.approx(ref["point"][1], rel=1e-3)], [pytest.approx(ref["point"][2], rel=1e-3)])
    xy, f = _frame(figures["noise"], "1,29")  # ce has 20 points: the slider spans them too
    assert "ce, epoch 19" in f["n"] and xy[2] is not None  # and its L² guide
    _, f = _frame(figures["noise"], "1,28")
    assert "ce, epoch 18" in f["n"]


def test_barrier_measurement_only_at_its_eta_and_B(figures):
    data = _payload(figures["barrier"])
    assert "0.03" in figures["barrier"].html  # the measurement's η was added to the slider
    shown = [k for k, f in data["frames"].items() if f["s"][-1] is not None]
    assert shown and all(k.split(",")[1:] == ["2", "0"] for k in shown)  # η = 0.03 (last of 3), B = 1


def test_standalone_page_inlines_plotly(figures):
    page = figures["escape"].standalone()
    assert page.startswith("<!DOCTYPE html>") and len(page) > 1_000_000
    assert "<script src" not in page.lower().replace("'", '"')


def _check_explorer():
    import check_explorer

    return check_explorer


def _chromium():
    import shutil

    return importlib.util.find_spec("playwright") is not None and shutil.which("chromium") is not None


@pytest.mark.skipif(not _chromium(), reason="needs Playwright and the system's chromium")
def test_sliders_move_the_plots_in_chromium_from_the_keyboard_on_a_phone(figures, tmp_path):
    ce = _check_explorer()
    for name, fig in figures.items():
        (tmp_path / f"{name}.html").write_text(fig.standalone())
    pages = [f"{name}.html" for name in figures]
    assert ce.check(tmp_path, pages, widths=(380,)) == []
    # the check can fail: a page whose sliders redraw nothing, one too wide for a phone
    broken = figures["escape"].standalone().replace("el.addEventListener('input', draw)", "0")
    (tmp_path / "broken.html").write_text(broken)
    wide = figures["barrier"].standalone().replace("<body>", "<body><div style='width:900px'>") \
        .replace("</body>", "</div></body>")
    (tmp_path / "wide.html").write_text(wide)
    problems = ce.check(tmp_path, ["broken.html", "wide.html"], widths=(380,))
    assert any("broken.html" in p and "did not change" in p for p in problems), problems
    assert any("wide.html" in p and ("off-screen" in p or "past the column" in p) for p in problems), problems
