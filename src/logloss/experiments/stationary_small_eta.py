"""Experiment ``stationary-small-eta``: the fitted φ at η = 0.01 (R7).

The same code as ``stationary`` at a learning rate small enough that the finite-η gap
η(B + 1)/(2B) is small: the fit must approach φ = 1 + B/(ηh*) (Eq. 17).
"""

from . import stationary  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "stationary", "stationary-small-eta",
    description="Fitted φ at η = 0.01, where Eq. (17) should hold (R7)",
    changes={scale: dict(eta=[0.01], B=[1, 5]) for scale in ("smoke", "book", "paper")},
)
