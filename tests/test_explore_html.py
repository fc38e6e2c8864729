"""The HTML explorer (logloss.display.explore.html): self-contained, with slider steps."""

import json
import re

import numpy as np
import pytest

pytest.importorskip("plotly")

from logloss.display.explore import escape_data  # noqa: E402
from logloss.display.explore.html import CSS_CLASS, escape_interactive  # noqa: E402

URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


@pytest.fixture(scope="module")
def small():
    return escape_interactive(etas=(0.05, 0.1), Bs=(1, 2), ns=(1, 10), c_maxes=(10, 30), points=12)


def _payload(fig):
    m = re.search(r'<script type="application/json" id="[^"]+-data">(.*?)</script>', fig.html, re.S)
    return json.loads(m.group(1))


def test_fragment_has_marker_sliders_and_no_network(small):
    assert f'class="{CSS_CLASS}"' in small.html
    assert "cdn.plot.ly" not in small.html and not URL.search(small.html)
    assert "plotly_sliderchange" in small.html
    at = small.html.index('"sliders":') + len('"sliders":')
    sliders, _ = json.JSONDecoder().raw_decode(small.html[at:])
    assert [s["name"] for s in sliders] == ["eta", "B", "n", "c_max"]
    assert [len(s["steps"]) for s in sliders] == [2, 2, 2, 2]
    assert all(step["method"] == "skip" for s in sliders for step in s["steps"])


def test_precomputed_curves_are_escape_data(small):
    data = _payload(small)
    assert len(data["curves"]) == 16 and len(data["arrhenius"]) == 8
    ref = escape_data(eta=0.1, B=2, h=1.0, n=10, c_max=30, points=12)
    cur = data["curves"]["1,1,1,1"]
    np.testing.assert_allclose(cur["p"], np.log10(ref["t_power"]), atol=1e-4)
    assert cur["nc"] == pytest.approx(ref["n_c"], abs=1e-4)
    saddle = data["arrhenius"]["1,1,1"][1]
    np.testing.assert_allclose(saddle, np.log10(ref["t_arrhenius_saddle"]), atol=1e-4)


def test_standalone_page_inlines_plotly(small):
    page = small.standalone()
    assert page.startswith("<!DOCTYPE html>")
    assert len(page) > 1_000_000  # plotly.js itself, inlined
    assert "<script src" not in page.lower().replace("'", '"')
    assert small.html in page


def test_overflowing_arrhenius_becomes_a_gap():
    fig = escape_interactive(etas=(0.01,), Bs=(64,), ns=(1,), c_maxes=(100,), points=8)
    arr = _payload(fig)["arrhenius"]["0,0,0"][0]
    assert arr[0] is not None and arr[-1] is None  # e^(ΔL/D) beyond float range


def test_payload_is_strict_json():
    fig = escape_interactive(etas=(0.02,), Bs=(16,), ns=(1,), c_maxes=(100,), points=8)
    text = re.search(r'id="[^"]+-data">(.*?)</script>', fig.html, re.S).group(1)
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert "Infinity" not in fig.html and "NaN" not in fig.html
