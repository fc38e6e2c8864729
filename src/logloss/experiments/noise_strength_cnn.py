"""Experiment ``noise-strength-cnn``: 𝒩 against L for the paper's CNN (R4, Fig. 2b–c).

The same code as ``noise-strength`` with ``model="cnn"``.  At ``paper`` scale it is the
paper's network (3×[64,3,3,1], 3×[128,3,3,1], 3×[256,3,3,1], MaxPool(2) after each stack)
on 5·10⁴ CIFAR-10 images from ``$LOGLOSS_DATA``; without CIFAR-10 it runs on the vendored
Fashion-MNIST and says so in its notes.  Smaller scales shrink N, widths and epochs.
"""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "noise-strength", "noise-strength-cnn",
    description="Noise strength 𝒩 against L for the CNN (R4 Fig. 2b-c); CIFAR-10 from $LOGLOSS_DATA",
    changes={
        "smoke": dict(model="cnn", N=200, epochs=300, points=30, kernel=False),
        "book": dict(model="cnn", N=200, epochs=300, points=30, seeds=3, kernel=False),
        "paper": dict(model="cnn", N=50_000, epochs=1000, points=60, seeds=1),
    },
)
