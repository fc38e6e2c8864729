"""Figure of ``error-budget-linreg`` (X2): every layer's first-passage time in 1-d linear
regression relative to discrete SGD."""

from __future__ import annotations

from ...experiments.error_budget_linreg import LAYERS
from ...experiments.result import Result
from . import draws
from ._budget import budget_figure

_LABELS = {"sgd": "discrete SGD (simulated)", "chain": "discrete chain (exact)",
           "sde_em": "SDE, exact Σ (Euler–Maruyama)", "sde_quadrature": "SDE, exact Σ (quadrature)",
           "sde_paper": "SDE, decoupled Σ (quadrature)", "eq15": "paper Eq. (15), weak noise",
           "arrhenius_min": "Arrhenius, noise at θ*"}


@draws("error-budget-linreg")
def plot(result: Result):
    return budget_figure(result, LAYERS, _LABELS,
                         lambda r: fr"$c = L/L^*$ = {r['c']:g} ($\Delta L/L^*$ = {r['c'] - 1:.2g})")
