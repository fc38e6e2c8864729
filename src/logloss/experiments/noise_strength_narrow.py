"""Experiment ``noise-strength-narrow``: R4 at hidden width 64 instead of 256.

The late-training slope of log 𝒩 against log L comes out slightly above 1 at book scale.
This variant changes one thing, the width (256 → 64, same 400 epochs);
``noise-strength-narrow-long`` then changes the training length at width 64, so the
chapter can show how the excess moves with width and with training length.
"""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "noise-strength", "noise-strength-narrow",
    description="R4 (𝒩 against L) with hidden widths 64 instead of 256",
    changes={
        "smoke": dict(widths=[32, 32, 32]),
        "book": dict(widths=[64, 64, 64], seeds=6, points=80),
        "paper": dict(widths=[500, 500, 500]),
    },
)
