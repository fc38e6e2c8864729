"""Explorers that work in the static HTML book: precomputed curves, plotly sliders, no kernel.

The ipywidgets explorers need a running kernel.  Here the same curves
(:func:`~logloss.display.explore.escape.escape_data`) are computed in Python over a grid
of slider values and embedded in the page as JSON; plotly.js draws them, and a few lines
of JavaScript swap the curves when a slider moves.  Nothing is fetched from the network:
in the book, plotly.js is the copy bundled in the ``plotly`` wheel, added once to the
book's static files by ``_ext/logloss_book.py``; :meth:`InteractiveFigure.standalone`
inlines it into a single self-contained page.
"""

from __future__ import annotations

import html as _html
import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..plotting import OKABE_ITO
from .escape import escape_data

__all__ = ["InteractiveFigure", "escape_interactive"]

#: Class of the container, which tells the book's extension to add plotly.js to the page.
CSS_CLASS = "logloss-plotly"

_LAWS = (
    ("power", "solid", "power law, Eq. (15) of the paper"),
    ("arrhenius_min", "dash", "Arrhenius, D at θ*"),
    ("arrhenius_saddle", "dot", "Arrhenius, D at θˢ"),
)
# Okabe–Ito colours, distinct in colour and in dash pattern
_COLORS = {"power": OKABE_ITO[0], "arrhenius_min": OKABE_ITO[1], "arrhenius_saddle": OKABE_ITO[2]}


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
                f"<title>{_html.escape(self.title)}</title>"
                f"<script type='text/javascript'>{get_plotlyjs()}</script></head>"
                f"<body>{self.html}</body></html>")


def _log10(values) -> list[float | None]:
    """log10 of positive finite values rounded to 4 digits, None (a gap) otherwise."""
    out = []
    for v in np.asarray(values, dtype=float):
        out.append(round(math.log10(v), 4) if np.isfinite(v) and v > 0 else None)
    return out


def _finite(values, pick) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return float(pick(v)) if v.size else 1.0


def escape_interactive(*, etas: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.5),
                       Bs: Sequence[int] = (1, 2, 4, 8, 16),
                       ns: Sequence[float] = (0, 1, 2, 5, 10, 20, 40),
                       c_maxes: Sequence[float] = (10, 30, 100),
                       h: float = 1.0, points: int = 40,
                       initial: dict | None = None,
                       div_id: str = "logloss-escape-explorer") -> InteractiveFigure:
    """The escape chapter's explorer for the HTML book: sliders for η, B, n and the largest c.

    Left: the mean escape time t_p against c under the power law and the two Arrhenius
    laws; right: the power law's exponent B/(ηh*) + 1 − n/2 against n, with n_c and the
    chosen n marked.  Every curve is :func:`escape_data` at the grid point chosen with the
    sliders (``h`` fixed).  ``initial`` (keys ``eta``, ``B``, ``n``, ``c_max``) picks the
    starting point, by default η = 0.1, B = 1, n = 1, c up to 30 where on the grid.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    grid = {"eta": [float(v) for v in etas], "B": [int(v) for v in Bs],
            "n": [float(v) for v in ns], "c_max": [float(v) for v in c_maxes]}
    start = {"eta": 0.1, "B": 1, "n": 1.0, "c_max": 30.0, **(initial or {})}
    active = {k: int(np.argmin([abs(math.log(v + 1e-9) - math.log(start[k] + 1e-9))
                                for v in vals])) for k, vals in grid.items()}

    curves: dict[str, dict] = {}  # key "ie,ib,in,ic": the power law and the axes' ranges
    arrhenius: dict[str, list] = {}  # key "ie,ib,ic": both Arrhenius laws (independent of n)
    for ie, ib, i_n, ic in itertools.product(*(range(len(v)) for v in grid.values())):
        with np.errstate(over="ignore"):  # e^(ΔL/D) overflows: a gap far above the axis
            d = escape_data(eta=grid["eta"][ie], B=grid["B"][ib], h=h, n=grid["n"][i_n],
                            c_max=grid["c_max"][ic], points=points)
        # the y range of draw_escape: from the lowest curve to 20x the saddle law, over
        # the finite values (the Arrhenius laws overflow double precision at large B/η)
        lo = min(_finite(d["t_power"], min), _finite(d["t_arrhenius_saddle"], min)) / 2
        hi = min(max(_finite(d["t_power"], max), _finite(d["t_arrhenius_saddle"], max)) * 20, 1e300)
        curves[f"{ie},{ib},{i_n},{ic}"] = {
            "p": _log10(d["t_power"]),
            "y": [round(math.log10(lo), 3), round(math.log10(hi), 3)],
            "exp": round(float(d["exponent"]), 4), "nc": round(float(d["n_c"]), 4),
            "inv_T": round(float(d["inv_T"]), 4),
        }
        arrhenius.setdefault(f"{ie},{ib},{ic}", [_log10(d["t_arrhenius_min"]),
                                                  _log10(d["t_arrhenius_saddle"])])
    cs = {str(ic): _log10(np.geomspace(1.0, c_max, points)) for ic, c_max in enumerate(grid["c_max"])}
    n_top = max(grid["n"]) * 1.05

    key0 = ",".join(str(active[k]) for k in grid)
    c0 = [10 ** v for v in cs[str(active["c_max"])]]
    cur = curves[key0]
    arr0 = arrhenius[f"{active['eta']},{active['B']},{active['c_max']}"]
    cur["t"] = [cur["p"], *arr0]
    fig = make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], horizontal_spacing=0.12)
    for (key, dash, label), t in zip(_LAWS, cur["t"]):
        fig.add_trace(go.Scatter(x=c0, y=[None if v is None else 10 ** v for v in t], name=label,
                                 mode="lines", line={"color": _COLORS[key], "dash": dash, "width": 2},
                                 legendgroup="laws"), row=1, col=1)
    n_line = [0.0, n_top]
    fig.add_trace(go.Scatter(x=n_line, y=[cur["inv_T"] + 1 - n / 2 for n in n_line], mode="lines",
                             name="exponent of c in t_p", line={"color": "black", "width": 2}),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=[grid["n"][active["n"]]], y=[cur["exp"]], mode="markers",
                             name="chosen n", marker={"color": OKABE_ITO[4], "size": 10,
                                                      "symbol": "circle"}), row=1, col=2)
    fig.add_trace(go.Scatter(x=[cur["nc"], cur["nc"]], y=[None, None], mode="lines",
                             name="n_c (exponent 0)", line={"color": "black", "dash": "dot", "width": 1}),
                  row=1, col=2)
    ticks = [1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000]
    fig.update_xaxes(type="log", title_text="loss ratio c = L(θˢ)/L(θ*)", tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks], row=1, col=1)
    fig.update_yaxes(type="log", title_text="mean escape time t_p (t = ηk)", range=cur["y"],
                     exponentformat="power", row=1, col=1)
    fig.update_xaxes(title_text="effective dimension n", range=[0, n_top], row=1, col=2)
    fig.update_yaxes(title_text="exponent B/(ηh*) + 1 − n/2", zeroline=True, zerolinecolor="#999",
                     row=1, col=2)

    labels = {"eta": "η = ", "B": "B = ", "n": "n = ", "c_max": "largest c = "}
    sliders = []
    for i, (name, values) in enumerate(grid.items()):
        sliders.append({
            "name": name, "active": active[name], "currentvalue": {"prefix": labels[name]},
            "len": 0.46, "x": 0.0 if i % 2 == 0 else 0.54, "y": -0.2 - 0.28 * (i // 2),
            "pad": {"t": 30, "b": 10},
            "steps": [{"label": f"{v:g}", "method": "skip", "args": [None]} for v in values],
        })
    fig.update_layout(sliders=sliders, height=620, margin={"l": 70, "r": 20, "t": 50, "b": 40},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
                      template="simple_white", font={"size": 12})
    del cur["t"]
    payload = {"grid": grid, "active": active, "c": cs, "curves": curves, "arrhenius": arrhenius,
               "h": h}
    post = _SCRIPT.replace("__DATA_ID__", f"{div_id}-data")
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       post_script=post, config={"displaylogo": False, "responsive": True})
    data = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    missing = ("The interactive figure needs plotly.js, which the HTML book bundles; "
               "in JupyterLab use the ipywidgets explorer instead.")
    html = (f'<div class="{CSS_CLASS}" data-explorer="escape">'
            f'<script type="application/json" id="{div_id}-data">{data}</script>'
            f'<noscript>{missing}</noscript>'
            f'<script>if (typeof Plotly === "undefined") {{ document.currentScript.insertAdjacentHTML('
            f'"afterend", {json.dumps("<p><em>" + missing + "</em></p>")}); }}</script>'
            f"{body}</div>")
    return InteractiveFigure(html=html, div_id=div_id, title="escape laws: power law against Arrhenius")


# Run by plotly after the figure is drawn, with {plot_id} replaced by the div's id.
_SCRIPT = r"""
(function () {
  var gd = document.getElementById('{plot_id}');
  var data = JSON.parse(document.getElementById('__DATA_ID__').textContent);
  var names = Object.keys(data.grid);
  var state = names.map(function (k) { return data.active[k]; });
  function pow10(a) { return a.map(function (v) { return v === null ? null : Math.pow(10, v); }); }
  function redraw() {
    var cur = data.curves[state.join(',')];
    var arr = data.arrhenius[[state[0], state[1], state[3]].join(',')];
    var c = pow10(data.c[String(state[names.indexOf('c_max')])]);
    var n = data.grid.n[state[names.indexOf('n')]];
    var nTop = gd.layout.xaxis2.range[1];
    var lineY = [cur.inv_T + 1, cur.inv_T + 1 - nTop / 2];
    var yr = [Math.min(lineY[1], cur.exp, 0), Math.max(lineY[0], 0)];
    var pad = 0.08 * (yr[1] - yr[0] || 1);
    Plotly.update(gd, {
      x: [c, c, c, [0, nTop], [n], [cur.nc, cur.nc]],
      y: [pow10(cur.p), pow10(arr[0]), pow10(arr[1]), lineY, [cur.exp],
          [yr[0] - pad, yr[1] + pad]]
    }, {'yaxis.range': cur.y, 'xaxis.autorange': true,
        'yaxis2.range': [yr[0] - pad, yr[1] + pad]}, [0, 1, 2, 3, 4, 5]);
    gd.setAttribute('data-state', state.join(','));
  }
  gd.on('plotly_sliderchange', function (e) {
    var idx = e.step._index;
    if (idx === undefined) { idx = e.slider.steps.indexOf(e.step); }
    state[names.indexOf(e.slider.name)] = idx;
    redraw();
  });
  redraw();
})();
"""
