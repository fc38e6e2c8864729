"""Log–log slopes of a product split into the slopes of its factors.

If y = Π_j y_j at every point, log y = Σ_j log y_j, and least-squares slopes are linear in
the ordinates: the slope of log y against log x fitted by least squares over some points is
exactly the sum of the slopes of the log y_j fitted over the same points.  A measured
exponent can so be attributed to the factors that make it up (used for the noise strength,
𝒩 = L^p · M_p · s · κ · a · w · g, :mod:`logloss.measure.kernel`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..core.errors import InvalidInput
from .lines import fit_power_law

__all__ = ["slope_decomposition"]


def slope_decomposition(x, factors: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The least-squares slope of log y_j against log x for each factor y_j.

    Parameters
    ----------
    x : array_like, shape (n,)
        The abscissa (for example the loss L), > 0, n ≥ 3.
    factors : mapping of str to array_like, shape (n,)
        The factors y_j > 0 whose product is the quantity of interest.

    Returns
    -------
    dict of str to float
        One slope per factor, and ``"total"``: their sum, which is the slope of the product.
    """
    if not factors:
        raise InvalidInput("slope_decomposition needs at least one factor")
    x = np.asarray(x, dtype=float)
    out = {}
    for name, y in factors.items():
        y = np.asarray(y, dtype=float)
        if y.shape != x.shape:
            raise InvalidInput(f"factor {name!r} has shape {y.shape}, the abscissa {x.shape}")
        if np.any(y <= 0) or not np.all(np.isfinite(y)):
            raise InvalidInput(f"factor {name!r} must be finite and > 0 at every point for a log–log slope")
        out[name] = fit_power_law(x, y).slope
    out["total"] = float(sum(out.values()))
    return out
