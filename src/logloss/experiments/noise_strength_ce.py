"""Experiment ``noise-strength-ce``: 𝒩 against L with the cross-entropy loss (R5, Fig. 5a).

The same code as ``noise-strength`` with ``loss="ce"`` (the MLP, η = 0.1, B = 100):
𝒩 ∝ L at intermediate times and 𝒩 ∝ L² at small loss (App. D).
"""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "noise-strength", "noise-strength-ce",
    description="Noise strength 𝒩 against L with cross-entropy: ∝ L, then ∝ L² (R5 Fig. 5a)",
    changes={"smoke": dict(loss="ce"), "book": dict(loss="ce", seeds=3),
             "paper": dict(loss="ce")},
)
