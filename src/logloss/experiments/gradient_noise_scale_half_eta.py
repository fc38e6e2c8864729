"""Experiment ``gradient-noise-scale-half-eta``: ``gradient-noise-scale`` at half the learning
rate, the control of B_simple's plateau B* = 2B tr H/(η c tr H²): halving η must double it,
if the plateau is set by SGD's own fluctuations (beyond the paper)."""

from . import gradient_noise_scale  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "gradient-noise-scale", "gradient-noise-scale-half-eta",
    description="B_simple along SGD at half the learning rate: the plateau 2B tr H/(η c tr H²) doubles",
    # the two-batch estimator is the base run's business: two checkpoints suffice here
    changes={s: dict(eta=0.005, checkpoints=2) for s in ("smoke", "book", "paper")},
)
