"""Experiment ``noise-strength-narrow-long``: R4 at hidden width 64, trained three times
longer (400 → 1200 epochs), against ``noise-strength-narrow``."""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "noise-strength", "noise-strength-narrow-long",
    description="R4 (𝒩 against L) with hidden widths 64, trained three times longer",
    changes={
        "smoke": dict(widths=[32, 32, 32], epochs=1200),
        "book": dict(widths=[64, 64, 64], seeds=4, points=80, epochs=1200),
        "paper": dict(widths=[500, 500, 500], epochs=3000),
    },
)
