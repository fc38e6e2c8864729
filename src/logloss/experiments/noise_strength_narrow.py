"""Experiments ``noise-strength-narrow`` and ``noise-strength-narrow-long``: R4 at width 64.

The late-training slope of log 𝒩 against log L comes out slightly above 1 at book scale.
These variants move one thing at a time: the width (256 → 64, same 400 epochs) and then
the training length at width 64 (400 → 1200 epochs), so the chapter can show how the
excess moves with width and with training length.
"""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from ._registry import variant

variant(
    "noise-strength", "noise-strength-narrow",
    description="R4 (𝒩 against L) with hidden widths 64 instead of 256",
    changes={
        "smoke": dict(widths=[32, 32, 32]),
        "book": dict(widths=[64, 64, 64], seeds=6, points=80),
        "paper": dict(widths=[500, 500, 500]),
    },
)

variant(
    "noise-strength", "noise-strength-narrow-long",
    description="R4 (𝒩 against L) with hidden widths 64, trained three times longer",
    changes={
        "smoke": dict(widths=[32, 32, 32], epochs=1200),
        "book": dict(widths=[64, 64, 64], seeds=4, points=80, epochs=1200),
        "paper": dict(widths=[500, 500, 500], epochs=3000),
    },
)
