"""Explorer of the noise chapter: the noise strength 𝒩 against the loss L (Sec. 5.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...stats.lines import fit_line
from .. import plotting
from ._widgets import HIGHLIGHT_COLOR, MEASURED_COLOR, SECOND_COLOR, explorer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["noise_data", "draw_noise", "noise_grid", "noise_explorer"]


_KEYS = {
    "epoch": ("epoch", "epochs"),
    "loss": ("loss", "L"),
    "noise": ("noise", "N", "𝒩"),
}


def _get(record: Any, field: str) -> np.ndarray:
    if hasattr(record, "arrays") and isinstance(record.arrays, Mapping):
        record = record.arrays  # a logloss Result
    for key in _KEYS[field]:
        if isinstance(record, Mapping):
            if key in record:
                return np.asarray(record[key], dtype=float)
        elif hasattr(record, key):
            return np.asarray(getattr(record, key), dtype=float)
    raise ValueError(f"training history lacks {field!r} (tried keys {_KEYS[field]})")


def _is_record(obj: Any) -> bool:
    if hasattr(obj, "arrays") and isinstance(obj.arrays, Mapping):
        obj = obj.arrays
    if isinstance(obj, Mapping):
        return any(k in obj for k in _KEYS["loss"])
    return hasattr(obj, "loss")


def _order(names) -> list[str]:
    """Loss types with the mean-square loss first (the paper's main case)."""
    return sorted(names, key=lambda k: (k != "mse", k))


def _records(history: Any, run: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Normalise a history to {loss type: {"epoch", "loss", "noise"}}.

    Accepts a mapping of loss type to record, or a single record (taken as ``"mse"``).
    A record is a mapping or an object (for example :class:`logloss.dynamics.training.TrainingRecord`)
    with epoch(s), loss/L and noise/N arrays, or a :class:`logloss.Result` whose ``arrays``
    hold them.  Loss and noise of shape (runs, epochs) (several seeds) give run ``run``.
    """
    items = {"mse": history} if _is_record(history) else dict(history)
    if not items:
        raise ValueError("training history is empty")
    out = {}
    for name, rec in items.items():
        e, L, N = _get(rec, "epoch"), _get(rec, "loss"), _get(rec, "noise")
        if L.ndim == 2 and N.ndim == 2:
            L, N = L[run], N[run]
        if not (e.shape == L.shape == N.shape) or e.ndim != 1:
            raise ValueError(
                f"history[{name!r}]: epoch, loss and noise must be 1-d of equal length")
        out[str(name)] = {"epoch": e, "loss": L, "noise": N}
    return out


def noise_data(history: Any, loss: str = "mse", index: int = -1) -> dict[str, Any]:
    """𝒩 against L for one loss type, with guides and one highlighted point in training.

    Parameters
    ----------
    history : mapping or record
        ``{"mse": rec, "ce": rec, ...}`` with ``rec`` a mapping (keys ``epoch``/``epochs``,
        ``loss``/``L``, ``noise``/``N``), an object with those attributes such as
        :class:`logloss.dynamics.training.TrainingRecord`, or a :class:`logloss.Result` of the
        ``noise-strength`` experiment (its ``arrays``; the first seed); or a single record.
    loss : str
        Which loss type to show (a key of ``history``; ``"ce"`` adds a slope-2 guide).
    index : int
        The recorded point to highlight (Python indexing over the recorded epochs).

    Returns
    -------
    dict
        ``loss_types``, ``loss``; ``epoch``, ``L``, ``N`` (recorded points with L, 𝒩 > 0
        and finite); ``index`` (into those), ``point`` (epoch, L, 𝒩);
        ``guide_L``, ``guide_1`` (𝒩 ∝ L, Eq. 6 and Fig. 2) and ``guide_2`` (𝒩 ∝ L², the
        cross-entropy law at small loss, App. D; None for other losses), both through the
        smallest-loss point; ``local_slope`` (d log 𝒩/d log L at the point, from its
        neighbours; NaN at the ends); ``late_slope`` (least-squares slope over the
        lowest-loss third of the points).
    """
    recs = _records(history)
    if loss not in recs:
        raise ValueError(f"loss type {loss!r} not in the history (has {_order(recs)})")
    r = recs[loss]
    ok = np.isfinite(r["loss"]) & np.isfinite(r["noise"]) & (r["loss"] > 0) & (r["noise"] > 0)
    e, L, N = r["epoch"][ok], r["loss"][ok], r["noise"][ok]
    if L.size == 0:
        raise ValueError(f"history[{loss!r}] has no point with L > 0 and 𝒩 > 0")
    m = L.size
    i = int(index)
    if not -m <= i < m:
        raise ValueError(f"epoch index must be in [{-m}, {m}), got {index!r}")
    i %= m
    anchor = int(np.argmin(L))
    guide_L = np.geomspace(L.min(), L.max(), 50)
    lL, lN = np.log(L), np.log(N)
    local = float("nan")
    if 0 < i < m - 1 and lL[i + 1] != lL[i - 1]:
        local = float((lN[i + 1] - lN[i - 1]) / (lL[i + 1] - lL[i - 1]))
    late = float("nan")
    sel = np.argsort(L)[: max(m // 3, 3)]
    if sel.size >= 3 and np.ptp(lL[sel]) > 0:
        late = fit_line(lL[sel], lN[sel]).slope
    return {
        "loss_types": _order(recs), "loss": loss,
        "epoch": e, "L": L, "N": N, "index": i, "point": (float(e[i]), float(L[i]), float(N[i])),
        "guide_L": guide_L, "guide_1": N[anchor] * (guide_L / L[anchor]),
        "guide_2": N[anchor] * (guide_L / L[anchor]) ** 2 if loss in {"ce", "cross-entropy",
                                                                        "cross_entropy"} else None,
        "local_slope": local, "late_slope": late,
    }


def draw_noise(data: Mapping[str, Any], axes: Sequence[Axes], *, legend: bool = True) -> None:
    """Draw :func:`noise_data`: ``axes[0]`` 𝒩 against L (log–log) with guides and the
    highlighted point; ``axes[1]`` (if given) L and 𝒩 against epoch with the point marked."""
    ax = axes[0]
    e, L, N = data["epoch"], data["L"], data["N"]
    ep, Lp, Np = data["point"]
    ax.plot(L, N, "o-", ms=3, lw=1, color=MEASURED_COLOR, label=f"{data['loss']}: training")
    ax.plot(data["guide_L"], data["guide_1"], color=plotting.THEORY_COLOR, ls="--",
            label=r"$\mathcal{N}\propto L$")
    if data["guide_2"] is not None:
        ax.plot(data["guide_L"], data["guide_2"], color=plotting.THEORY_COLOR, ls=":",
                label=r"$\mathcal{N}\propto L^2$")
    ax.plot([Lp], [Np], "o", ms=8, mfc="none", mew=2, color=HIGHLIGHT_COLOR,
            label=f"epoch {ep:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training loss $L$")
    ax.set_ylabel(r"noise strength $\mathcal{N}$")
    s = data["local_slope"]
    ax.text(0.02, 0.98, f"local slope {s:.2f}" if np.isfinite(s) else "local slope: (end point)",
            transform=ax.transAxes, va="top", fontsize=7.5)
    if legend:
        ax.legend(loc="lower right")
    if len(axes) > 1:
        ax = axes[1]
        x = np.where(e > 0, e, np.nan) if np.any(e > 0) else e
        ax.plot(x, L, "o-", ms=3, lw=1, color=MEASURED_COLOR, label="$L$")
        ax.plot(x, N, "s-", ms=3, lw=1, color=SECOND_COLOR, label=r"$\mathcal{N}$")
        ax.axvline(ep if ep > 0 else np.nanmin(x), color=HIGHLIGHT_COLOR, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch (log scale; epoch 0 not shown)")
        ax.set_ylabel(r"$L$, $\mathcal{N}$")
        if legend:
            ax.legend(loc="lower left")


def noise_grid(history: Any, *, label: str | None = None) -> Figure:
    """The static explorer: one column per loss type, 𝒩 against L coloured by epoch
    (top) and L, 𝒩 against epoch (bottom).  ``label`` (for example the experiment, scale
    and seed that produced the history) is written in the corner."""
    recs = _records(history)
    names = _order(recs)
    fig, axes = plotting.grid(2, len(names), height=2.6)
    for j, name in enumerate(names):
        data = noise_data(history, name, -1)
        top, bottom = axes[0][j], axes[1][j]
        draw_noise(data, [top, bottom], legend=(j == 0))
        for line in top.lines[-1:]:  # drop the highlighted point: the colours carry the epoch
            line.remove()
        sc = top.scatter(data["L"], data["N"], c=np.log10(np.maximum(data["epoch"], 0.5)), s=14,
                         cmap="viridis", zorder=3)
        top.texts[-1].set_text(f"{name}; late slope {data['late_slope']:.2f}")
        if j == len(names) - 1:
            fig.colorbar(sc, ax=top, label="log₁₀ epoch")
        if top.get_legend() is not None:
            top.legend(loc="lower right")
    return plotting.corner_text(fig, label or "logloss · explorer grid · noise strength")



def noise_explorer(history: Any, *, loss: str | None = None, index: int = -1):
    """A dropdown for the loss type and a slider over the recorded epochs: 𝒩 against L
    with the slope guides and the chosen point (:func:`noise_data`).

    ``history`` as in :func:`noise_data`.  Returns an ipywidgets ``VBox``.
    """
    import ipywidgets as w

    recs = _records(history)
    names = _order(recs)
    loss = loss or names[0]
    m = max(len(r["loss"]) for r in recs.values())
    style = {"description_width": "initial"}
    controls = {
        "loss": w.Dropdown(options=names, value=loss, description="loss", style=style),
        "index": w.IntSlider(value=index % m, min=0, max=m - 1,
                             description="recorded point", style=style),
    }

    def compute(loss, index):
        n_here = len(noise_data(history, loss)["L"])
        return noise_data(history, loss, min(index, n_here - 1))

    return explorer(controls, compute, draw_noise)
