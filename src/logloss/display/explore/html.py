"""Explorers that work in the static HTML book: precomputed curves, sliders, no kernel.

The ipywidgets explorers need a running kernel.  Here the same data functions
(``*_data`` of each chapter's module) are evaluated in Python over a grid of slider
values and embedded in the page as JSON; plotly.js draws them, and a few lines of
JavaScript swap the curves when a slider moves.  The sliders are the browser's own
``<input type="range">``: they take the keyboard focus (Tab) and move with the arrow,
Home and End keys, and they wrap onto as many rows as a phone's column needs; the panels
stand side by side where there is room (the 672-px column) and one above the other on a
phone.  Nothing is fetched from the network: in the book, plotly.js is the copy bundled
in the ``plotly`` wheel, added once to the book's static files by
``_ext/logloss_book.py`` (to each page whose body has the class :data:`CSS_CLASS`);
:meth:`InteractiveFigure.standalone` inlines it into one self-contained page.

:func:`interactive` builds an explorer from sliders, panels, series and a function that
gives each series' points at one setting; one function per chapter uses it:
:func:`noise_html`, :func:`stationary_html`, :func:`escape_html`, :func:`barrier_html`.
"""

from __future__ import annotations

import html as _html
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..plotting import OKABE_ITO, THEORY_COLOR
from .barrier import _LAWS as _BARRIER_LAWS
from .barrier import barrier_data
from .escape import escape_data
from .noise import _order, _records, noise_data
from .stationary import stationary_data

__all__ = ["InteractiveFigure", "Slider", "Panel", "Series", "interactive",
           "noise_html", "stationary_html", "escape_html", "barrier_html"]

#: Class of the container, which tells the book's extension to add plotly.js to the page.
CSS_CLASS = "logloss-explorer"

MEASURED, CHOSEN, SECOND = OKABE_ITO[0], OKABE_ITO[1], OKABE_ITO[2]


@dataclass(frozen=True)
class InteractiveFigure:
    """An interactive figure as an HTML fragment (``html``) that needs plotly.js loaded.

    Displayed in a notebook it renders as that fragment (``text/html``), with a
    ``text/plain`` fallback; :meth:`standalone` gives a whole page with plotly.js inlined.
    """

    html: str
    div_id: str
    title: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"<interactive figure {self.title!r}: open the HTML book to use its sliders>"

    def standalone(self) -> str:
        """A complete HTML page with plotly.js inlined: works offline, from ``file://``."""
        from plotly.offline import get_plotlyjs

        return ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                f"<title>{_html.escape(self.title)}</title>"
                f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
                f"<body>{self.html}</body></html>")


@dataclass(frozen=True)
class Slider:
    """One control: ``values`` in order (numbers or names), shown as ``label = value``."""

    name: str
    label: str
    values: Sequence[Any]
    initial: Any = None
    fmt: str = "{:g}"

    def text(self, value: Any) -> str:
        return self.fmt.format(value) if not isinstance(value, str) else value

    def start(self) -> int:
        if self.initial is None:
            return 0
        if isinstance(self.initial, str) or any(isinstance(v, str) for v in self.values):
            return list(self.values).index(self.initial)
        logs = [abs(math.log(abs(v) + 1e-12) - math.log(abs(self.initial) + 1e-12)) for v in self.values]
        return int(np.argmin(logs))


@dataclass(frozen=True)
class Panel:
    xlabel: str
    ylabel: str
    xlog: bool = False
    ylog: bool = False


@dataclass(frozen=True)
class Series:
    """A curve or a set of points in panel ``panel``; its points come from the frame."""

    label: str
    panel: int = 0
    color: str = THEORY_COLOR
    dash: str = "solid"
    mode: str = "lines"
    width: float = 2.0
    symbol: str = "circle"
    size: float = 7.0
    legend: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def trace(self) -> dict[str, Any]:
        t: dict[str, Any] = {"type": "scatter", "mode": self.mode, "name": self.label,
                             "showlegend": self.legend, "x": [], "y": [],
                             "line": {"color": self.color, "dash": self.dash, "width": self.width},
                             "marker": {"color": self.color, "symbol": self.symbol, "size": self.size},
                             "hovertemplate": "%{x:.3g}, %{y:.3g}<extra>" + _html.escape(self.label)
                                              + "</extra>"}
        t.update(self.extra)
        return t


def _number(v: float) -> float | None:
    """A finite number rounded to 4 significant digits; None (a gap) otherwise."""
    v = float(v)
    return float(f"{v:.4g}") if math.isfinite(v) else None


def _points(values, log: bool) -> list[float | None]:
    a = np.asarray(values, dtype=float).ravel()
    return [None if log and not (v > 0) else _number(v) for v in a]


def _range(lo: float, hi: float, log: bool) -> list[float] | None:
    if not (math.isfinite(lo) and math.isfinite(hi)) or (log and not (lo > 0 and hi > 0)) or hi <= lo:
        return None
    return [round(math.log10(lo), 4), round(math.log10(hi), 4)] if log else [_number(lo), _number(hi)]


def interactive(*, title: str, sliders: Sequence[Slider], panels: Sequence[Panel],
                series: Sequence[Series], frame: Callable[..., Mapping[str, Any]],
                div_id: str, name: str, height: int = 330) -> InteractiveFigure:
    """An explorer for the HTML book: one range input per slider, one plot per panel.

    ``frame(**values)`` (one value per slider, by name) returns ``"xy"``: one ``(x, y)``
    per series (None hides it), and optionally ``"ranges"``: per panel
    ``{"x": (lo, hi), "y": (lo, hi)}`` in data units (None: automatic), and ``"note"``:
    a line of text shown under the plots.  It is called once for every combination of
    slider values; arrays that repeat (a shared x grid, a curve that does not depend on
    one slider) are stored once.
    """
    pool: dict[str, int] = {}
    arrays: list[list] = []

    def ref(values: list) -> int:
        key = json.dumps(values, separators=(",", ":"))
        if key not in pool:
            pool[key] = len(arrays)
            arrays.append(values)
        return pool[key]

    frames = {}
    with np.errstate(all="ignore"):  # overflowing laws become gaps
        for idx in itertools.product(*(range(len(s.values)) for s in sliders)):
            f = frame(**{s.name: s.values[i] for s, i in zip(sliders, idx)})
            xy = []
            for s, pts in zip(series, f["xy"]):
                p = panels[s.panel]
                xy.append(None if pts is None else [ref(_points(pts[0], p.xlog)), ref(_points(pts[1], p.ylog))])
            ranges = []
            for k, p in enumerate(panels):
                r = (f.get("ranges") or [None] * len(panels))[k] or {}
                ranges.append([_range(*r["x"], p.xlog) if r.get("x") else None,
                               _range(*r["y"], p.ylog) if r.get("y") else None])
            frames[",".join(map(str, idx))] = {"s": xy, "r": ranges, "n": f.get("note", "")}
    payload = {"arrays": arrays, "frames": frames,
               "series": [[s.panel, s.trace()] for s in series],
               "panels": [{"xlabel": p.xlabel, "ylabel": p.ylabel, "xlog": p.xlog, "ylog": p.ylog}
                          for p in panels],
               "height": height}
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    controls = []
    for k, s in enumerate(sliders):
        i = s.start()
        ident = f"{div_id}-s{k}"
        labels = json.dumps([s.text(v) for v in s.values]).replace('"', "&quot;")
        controls.append(
            f'<label for="{ident}"><span>{_html.escape(s.label)} = '
            f'<output id="{ident}-value">{_html.escape(s.text(s.values[i]))}</output></span>'
            f'<input type="range" id="{ident}" data-name="{s.name}" min="0" max="{len(s.values) - 1}" '
            f'step="1" value="{i}" aria-valuetext="{_html.escape(s.text(s.values[i]))}" '
            f'data-labels="{labels}"></label>')
    plots = "".join(f'<div class="{CSS_CLASS}-panel" id="{div_id}-p{k}"></div>' for k in range(len(panels)))
    missing = ("The interactive figure needs plotly.js, which the HTML book bundles; "
               "in JupyterLab use the chapter's ipywidgets explorer instead.")
    html = (f'<div class="{CSS_CLASS}" id="{div_id}" data-explorer="{name}" role="group" '
            f'aria-label="{_html.escape(title)}"><style>{_CSS}</style>'
            f'<script type="application/json" id="{div_id}-data">{data}</script>'
            f'<div class="{CSS_CLASS}-controls">{"".join(controls)}</div>'
            f'<div class="{CSS_CLASS}-panels">{plots}</div>'
            f'<p class="{CSS_CLASS}-note" id="{div_id}-note" aria-live="polite"></p>'
            f"<noscript>{missing}</noscript>"
            f"<script>{_SCRIPT.replace('__ID__', div_id).replace('__MISSING__', json.dumps(missing))}</script>"
            "</div>")
    return InteractiveFigure(html=html, div_id=div_id, title=title)


# The explorer's behaviour, run where the fragment is (plotly.js may load after it).
_SCRIPT = r"""
(function () {
  var root = document.getElementById('__ID__');
  function start() {
    if (typeof Plotly === 'undefined') {
      root.insertAdjacentHTML('beforeend', '<p><em>' + __MISSING__ + '</em></p>'); return; }
    var data = JSON.parse(document.getElementById('__ID__-data').textContent);
    var inputs = Array.prototype.slice.call(root.querySelectorAll('input[type=range]'));
    var divs = data.panels.map(function (p, k) { return document.getElementById('__ID__-p' + k); });
    function arr(i) { return data.arrays[i]; }
    function draw() {
      var key = inputs.map(function (el) { return el.value; }).join(',');
      var f = data.frames[key];
      root.setAttribute('data-state', key);
      inputs.forEach(function (el) {
        var text = JSON.parse(el.getAttribute('data-labels'))[+el.value];
        document.getElementById(el.id + '-value').textContent = text;
        el.setAttribute('aria-valuetext', text);
      });
      data.panels.forEach(function (p, k) {
        var traces = [];
        data.series.forEach(function (s, j) {
          if (s[0] !== k) return;
          var t = JSON.parse(JSON.stringify(s[1])), xy = f.s[j];
          t.x = xy ? arr(xy[0]) : []; t.y = xy ? arr(xy[1]) : [];
          traces.push(t);
        });
        var r = f.r[k];
        var axis = function (title, log, range) {
          var a = {title: {text: title, standoff: 4}, type: log ? 'log' : 'linear', automargin: true,
                   exponentformat: 'power', zeroline: false, showline: true, ticks: 'outside'};
          if (range) { a.range = range; a.autorange = false; } else { a.autorange = true; }
          return a; };
        var layout = {height: data.height, margin: {l: 8, r: 8, t: 8, b: 8},
                      xaxis: axis(p.xlabel, p.xlog, r[0]), yaxis: axis(p.ylabel, p.ylog, r[1]),
                      legend: {orientation: 'h', x: 0, y: -0.22, yanchor: 'top'},
                      font: {size: 12}, template: 'simple_white', paper_bgcolor: 'white'};
        Plotly.react(divs[k], traces, layout, {responsive: true, displaylogo: false,
                                               displayModeBar: false});
      });
      document.getElementById('__ID__-note').textContent = f.n;
    }
    inputs.forEach(function (el) { el.addEventListener('input', draw); });
    draw();
  }
  if (typeof Plotly === 'undefined' && document.readyState !== 'complete') {
    window.addEventListener('load', start);
  } else { start(); }
})();
"""

#: The explorer's layout, carried by each fragment: controls in as many columns as fit
#: (two on a phone), panels side by side where there is room, else one above the other.
_CSS = """
.logloss-explorer { max-width: 100%; }
.logloss-explorer-controls { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr));
  gap: 0.25rem 1rem; margin-bottom: 0.5rem; }
.logloss-explorer-controls label { display: flex; flex-direction: column; min-width: 0; }
.logloss-explorer-controls input[type=range] { width: 100%; margin: 0.4rem 0; }
.logloss-explorer-panels { display: flex; flex-wrap: wrap; gap: 0 0.5rem; }
.logloss-explorer-panel { flex: 1 1 18rem; min-width: 0; }
.logloss-explorer-note { font-size: 0.9em; }
"""


# --- one explorer per chapter --------------------------------------------------------


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def escape_html(*, etas: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.5),
                Bs: Sequence[int] = (1, 2, 4, 8, 16),
                ns: Sequence[float] = (0, 1, 2, 5, 10, 20, 40),
                c_maxes: Sequence[float] = (10, 30, 100),
                h: float = 1.0, points: int = 40, initial: Mapping[str, Any] | None = None,
                div_id: str = "logloss-escape-explorer") -> InteractiveFigure:
    """The escape chapter's explorer for the HTML book: sliders for η, B, n and the largest c.

    Left: the mean escape time t_p against c under the power law (paper Eq. 15) and the
    two Arrhenius laws; right: the power law's exponent B/(ηh*) + 1 − n/2 against n, with
    n_c (paper Eq. 16) and the chosen n marked.  Every curve is :func:`escape_data` at the
    grid point chosen with the sliders (``h`` fixed).  ``initial`` (keys ``eta``, ``B``,
    ``n``, ``c_max``) picks the starting point, by default η = 0.1, B = 1, n = 1, c up to
    30 where on the grid.
    """
    start = {"eta": 0.1, "B": 1, "n": 1.0, "c_max": 30.0, **(initial or {})}
    n_top = max(ns) * 1.05
    laws = (("power", "solid", "power law, paper Eq. (15)", MEASURED),
            ("arrhenius_min", "dash", "Arrhenius, D at θ*", CHOSEN),
            ("arrhenius_saddle", "dot", "Arrhenius, D at θˢ", SECOND))

    def frame(eta, B, n, c_max):
        d = escape_data(eta=eta, B=B, h=h, n=n, c_max=c_max, points=points)
        finite = [v[np.isfinite(v) & (v > 0)] for v in (d["t_power"], d["t_arrhenius_saddle"])]
        lo = min(float(v.min()) for v in finite if v.size) / 2
        hi = min(max(float(v.max()) for v in finite if v.size) * 20, 1e300)
        line = [d["inv_T"] + 1, d["inv_T"] + 1 - n_top / 2]
        y0, y1 = min(line[1], d["exponent"], 0.0), max(line[0], 0.0)
        pad = 0.08 * ((y1 - y0) or 1)
        return {"xy": [*((d["c"], d[f"t_{k}"]) for k, *_ in laws),
                       ([0, n_top], line), ([n], [d["exponent"]]),
                       ([d["n_c"], d["n_c"]], [y0 - pad, y1 + pad])],
                "ranges": [{"y": (lo, hi)}, {"x": (0, n_top), "y": (y0 - pad, y1 + pad)}],
                "note": f"exponent of c: B/(ηh*) + 1 − n/2 = {_fmt(d['exponent'])}; "
                        f"n_c = {_fmt(d['n_c'])} (h* = {h:g})"}

    return interactive(
        title="escape laws: power law against Arrhenius", name="escape", div_id=div_id,
        sliders=[Slider("eta", "η", [float(v) for v in etas], start["eta"]),
                 Slider("B", "B", [int(v) for v in Bs], start["B"]),
                 Slider("n", "n", [float(v) for v in ns], start["n"]),
                 Slider("c_max", "largest c", [float(v) for v in c_maxes], start["c_max"])],
        panels=[Panel("loss ratio c = L(θˢ)/L(θ*)", "mean escape time t_p (t = ηk)", xlog=True, ylog=True),
                Panel("effective dimension n", "exponent B/(ηh*) + 1 − n/2")],
        series=[*(Series(label, 0, color, dash) for _, dash, label, color in laws),
                Series("exponent of c in t_p", 1),
                Series("chosen n", 1, OKABE_ITO[4], mode="markers", size=10),
                Series("n_c (exponent 0)", 1, dash="dot", width=1)],
        frame=frame)


def noise_html(history: Any, *, div_id: str = "logloss-noise-explorer",
               label: str = "") -> InteractiveFigure:
    """The noise chapter's explorer for the HTML book: the loss type and a recorded epoch.

    Left: 𝒩 against L along training (log–log) with 𝒩 ∝ L (and 𝒩 ∝ L² for cross-entropy)
    through the lowest-loss point, the chosen epoch circled; right: L and 𝒩 against epoch
    with the chosen epoch marked (:func:`noise_data`).  The second slider runs through
    training, over each loss type's own recorded points.  ``history`` as for
    :func:`noise_data`; ``label`` (the run that produced it) is added to the note.
    """
    names = _order(_records(history))
    m = max(len(noise_data(history, n)["L"]) for n in names)

    def frame(loss, index):  # the slider spans each loss's recorded points, however many
        n = len(noise_data(history, loss)["L"])
        d = noise_data(history, loss, round(index * (n - 1) / max(m - 1, 1)))
        ep, Lp, Np = d["point"]
        e = np.where(d["epoch"] > 0, d["epoch"], np.nan)
        lo = float(min(np.min(d["L"]), np.min(d["N"])))
        hi = float(max(np.max(d["L"]), np.max(d["N"])))
        s = d["local_slope"]
        return {"xy": [(d["L"], d["N"]), (d["guide_L"], d["guide_1"]),
                       None if d["guide_2"] is None else (d["guide_L"], d["guide_2"]), ([Lp], [Np]),
                       (e, d["L"]), (e, d["N"]), ([max(ep, 1e-12)] * 2, [lo / 2, hi * 2])],
                "ranges": [None, {"y": (lo / 2, hi * 2)}],
                "note": f"{loss}, epoch {ep:g}: L = {_fmt(Lp)}, 𝒩 = {_fmt(Np)}; local slope "
                        + (f"d log 𝒩/d log L = {s:.2f}" if np.isfinite(s) else "(end point)")
                        + f"; late slope {d['late_slope']:.2f}" + (f". {label}" if label else "")}

    return interactive(
        title="noise strength against the loss", name="noise", div_id=div_id,
        sliders=[Slider("loss", "loss", names, names[0]),
                 Slider("index", "point in training", list(range(m)), m - 1, fmt="{:d}/" + str(m - 1))],
        panels=[Panel("training loss L", "noise strength 𝒩", xlog=True, ylog=True),
                Panel("epoch (epoch 0 not shown)", "L, 𝒩", xlog=True, ylog=True)],
        series=[Series("training", 0, MEASURED, mode="lines+markers", width=1, size=5),
                Series("𝒩 ∝ L", 0, dash="dash"), Series("𝒩 ∝ L²", 0, dash="dot"),
                Series("chosen epoch", 0, CHOSEN, mode="markers", size=12,
                       extra={"marker": {"color": "rgba(0,0,0,0)", "size": 12,
                                         "line": {"color": CHOSEN, "width": 2.5}}}),
                Series("L", 1, MEASURED, mode="lines+markers", width=1, size=5),
                Series("𝒩", 1, SECOND, mode="lines+markers", width=1, size=5, symbol="square"),
                Series("chosen epoch", 1, CHOSEN, width=1.5, legend=False)],
        frame=frame)


def _steps(edges, density):
    """x, y of a histogram drawn as steps (zero-height bins as gaps)."""
    x = np.repeat(np.asarray(edges, float), 2)[1:-1]
    y = np.repeat(np.where(np.asarray(density) > 0, density, np.nan), 2)
    return x, y


def stationary_html(*, etas: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.5), Bs: Sequence[int] = (1, 4, 16),
                    ds: Sequence[int] = (1, 2, 4), seed: int = 0, initial: Mapping[str, Any] | None = None,
                    div_id: str = "logloss-stationary-explorer", **kwargs) -> InteractiveFigure:
    """The stationary chapter's explorer for the HTML book: sliders for B, η and d.

    One small SGD simulation per setting (:func:`stationary_data`, seed ``seed``), run
    here: left, the density of u₁ (the projection on the stiffest direction) on a log
    scale; right, the density of L/L* − 1 on log–log axes; both against P ∝ L^(−φ) with
    the continuous φ = 1 + B/(ηh*) (paper Eq. 17) and the finite-η φ_d.  ``kwargs`` go to
    :func:`stationary_data`.
    """
    start = {"B": 4, "eta": 0.1, "d": 1, **(initial or {})}

    def frame(B, eta, d):
        data = stationary_data(B=B, eta=eta, d=d, seed=seed, **kwargs)
        if data["diverged"]:
            return {"xy": [None] * 6, "note": f"η = {eta:g}, B = {B}, d = {d}: SGD diverged "
                                              "(lower η or raise B)"}
        u = _steps(data["u_edges"], data["u_density"])
        x = _steps(data["x_edges"], data["x_density"])
        pu, px = data["u_density"][data["u_density"] > 0], data["x_density"][data["x_density"] > 0]
        phi_d = data["phi_discrete"]
        thin = slice(None, None, 3)  # the theory curves at 101 of their 301 points
        return {"xy": [u, (data["u_grid"][thin], data["u_theory"][thin]),
                       None if phi_d is None else (data["u_grid"][thin], data["u_theory_discrete"][thin]),
                       x, (data["x_grid"][thin], data["x_theory"][thin]),
                       None if phi_d is None else (data["x_grid"][thin], data["x_theory_discrete"][thin])],
                "ranges": [{"y": (pu.min() / 3, pu.max() * 3)}, {"y": (px.min() / 3, px.max() * 3)}],
                "note": f"φ = 1 + B/(ηh*) = {_fmt(data['phi'])}"
                        + (f", finite-η φ_d = {_fmt(phi_d)}" if phi_d is not None else
                           ", φ_d: second moment infinite")
                        + f"; h* = {data['h_star']:.3f}, n_c = {_fmt(data['n_c'])}, "
                          f"{data['samples']} samples (seed {seed})"}

    return interactive(
        title="the stationary law of SGD", name="stationary", div_id=div_id,
        sliders=[Slider("B", "B", [int(v) for v in Bs], start["B"], fmt="{:d}"),
                 Slider("eta", "η", [float(v) for v in etas], start["eta"]),
                 Slider("d", "d", [int(v) for v in ds], start["d"], fmt="{:d}")],
        panels=[Panel("u₁ = v₁ᵀ(θ − θ*)", "probability density", ylog=True),
                Panel("excess loss ratio L/L* − 1", "probability density", xlog=True, ylog=True)],
        series=[Series("SGD", 0, MEASURED, width=1.5), Series("L^−φ, continuous φ", 0),
                Series("L^−φ, finite-η φ_d", 0, dash="dash"),
                Series("SGD", 1, MEASURED, width=1.5, legend=False),
                Series("L^−φ, continuous φ", 1, legend=False),
                Series("L^−φ, finite-η φ_d", 1, dash="dash", legend=False)],
        frame=frame)


def barrier_html(landscape: Mapping[str, float], measured: Mapping[str, Any] | None = None, *,
                 sigma2s: Sequence[float] = (0.0, 0.25, 1.0, 4.0, 16.0, 64.0),
                 etas: Sequence[float] = (0.005, 0.01, 0.02, 0.04, 0.08), Bs: Sequence[int] = (1, 2, 4, 8),
                 initial: Mapping[str, Any] | None = None,
                 div_id: str = "logloss-barrier-explorer") -> InteractiveFigure:
    """The barrier chapter's explorer for the HTML book: sliders for σ², η and B.

    The escape time against ΔL/L(θ*) under the five laws of
    :func:`logloss.theory.barrier_escape_laws` (:func:`barrier_data`), the chosen σ²
    marked on each, and ``measured`` (as for :func:`barrier_data`) where η and B are the
    measurement's.
    """
    start = {"sigma2": 4.0, "eta": 0.02, "B": 1, **(initial or {})}
    if measured is not None:  # the measurement's η and B are on the sliders
        etas = sorted({*map(float, etas), float(measured["eta"])})
        Bs = sorted({*map(int, Bs), int(measured["B"])})
    colours = {"eq15": MEASURED, "eq15_hessian": SECOND, "arrhenius_min": CHOSEN,
               "arrhenius_const": OKABE_ITO[4], "xss": "#777777", "affine": OKABE_ITO[3]}
    dashes = {"eq15": "solid", "eq15_hessian": "dashdot", "arrhenius_min": "dash",
              "arrhenius_const": "dot", "xss": "dot", "affine": "longdash"}

    def frame(sigma2, eta, B):
        d = barrier_data(landscape, eta=eta, B=B, sigma2=sigma2, measured=measured, points=60)
        # the curves on the grid without σ² inserted, the same for every σ² (stored once)
        c = barrier_data(landscape, eta=eta, B=B, sigma2=0.0, points=60)
        lo = min(float(np.min(c["t_eq15"])), float(np.min(c["t_affine"])))
        hi = max(float(np.max(c["t_eq15"])), 1e3 * lo)
        xy = [(c["x"], c[f"t_{k}"]) for k, *_ in _BARRIER_LAWS]
        xy.append(([d["x_here"]] * len(d["here"]), list(d["here"].values())))
        xy.append((d["measured_x"], d["measured_t"]) if "measured_x" in d else None)
        return {"xy": xy, "ranges": [{"y": (lo / 3, hi * 100)}],
                "note": f"η = {eta:g}, B = {B}, σ² = {sigma2:g}: ΔL/L(θ*) = {_fmt(d['x_here'])}; "
                        f"paper Eq. (15) exponent of c: {_fmt(d['exponent'])}"}

    return interactive(
        title="five escape laws for one barrier", name="barrier", div_id=div_id,
        sliders=[Slider("sigma2", "σ²", [float(v) for v in sigma2s], start["sigma2"]),
                 Slider("eta", "η", [float(v) for v in etas], start["eta"]),
                 Slider("B", "B", [int(v) for v in Bs], start["B"], fmt="{:d}")],
        panels=[Panel("ΔL/L(θ*)", "escape time (steps)", xlog=True, ylog=True)],
        series=[*(Series(label, 0, colours[k], dashes[k], width=1.5) for k, _, label in _BARRIER_LAWS),
                Series("chosen σ²", 0, CHOSEN, mode="markers", size=8),
                Series("measured SGD", 0, MEASURED, mode="markers", symbol="square", size=7)],
        frame=frame)
