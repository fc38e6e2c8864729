"""Figure of ``error-budget`` (X2): every layer's escape time relative to discrete SGD."""

from __future__ import annotations

from ...experiments.error_budget import LAYERS
from ...experiments.result import Result
from . import draws
from ._budget import budget_figure

_LABELS = {"sgd": "discrete SGD (simulated)", "chain": "discrete chain (exact)",
           "sde_em": "SDE (Euler–Maruyama)", "sde_quadrature": "SDE (quadrature, exact)",
           "kramers_exact": "Kramers, exact Σ(θ)", "eq15": "paper Eq. (15)",
           "arrhenius_min": "Arrhenius, noise at θ*",
           "arrhenius_const": "Arrhenius, loss-independent noise"}


@draws("error-budget")
def plot(result: Result):
    return budget_figure(result, LAYERS, _LABELS, lambda r: fr"$\sigma^2$ = {r['sigma2']:g} "
                         fr"($\Delta L/L^*$ = {r['dL_over_L']:.2g})")
