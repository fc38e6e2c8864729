"""Experiment ``noise-strength-cnn-ce``: 𝒩 against L for the CNN with cross-entropy (R5, Fig. 5b, 5d).

The same code as ``noise-strength`` with ``model="cnn"``, ``loss="ce"`` and the paper's
η = 0.05 for the CNN (App. D).  On CIFAR-10 when ``$LOGLOSS_DATA`` holds it, otherwise on
the same labelled Fashion-MNIST substitute as ``noise-strength-cnn``; each row of the
``seeds`` table names the dataset that ran.
"""

from . import noise_strength  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "noise-strength", "noise-strength-cnn-ce",
    description="Noise strength 𝒩 against L for the CNN with cross-entropy, η=0.05 (R5 Fig. 5b, 5d)",
    changes={
        "smoke": dict(model="cnn", loss="ce", eta=0.05, N=200, epochs=300, points=30, kernel=False),
        "book": dict(model="cnn", loss="ce", eta=0.05, N=200, epochs=300, points=40, seeds=2, kernel=False),
        "paper": dict(model="cnn", loss="ce", eta=0.05, N=50_000, epochs=1000, points=60, seeds=1),
    },
)
