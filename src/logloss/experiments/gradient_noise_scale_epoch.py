"""Experiment ``gradient-noise-scale-epoch``: ``gradient-noise-scale-half-eta`` (η = 0.005) with
epoch shuffles (each epoch a permutation cut into disjoint minibatches, as networks are usually
trained) instead of independent minibatches: the ablation of the stationary-gradient
prediction, which assumes minibatch noise independent from step to step (beyond the paper).
The half learning rate is where the ablation shows most: the stiff directions then relax over
more steps than an epoch has, and feel that the noise of one epoch sums to zero."""

from . import gradient_noise_scale  # noqa: F401  (registers the base experiment)
from .spec import variant

variant(
    "gradient-noise-scale", "gradient-noise-scale-epoch",
    description="B_simple along SGD at η = 0.005 with epoch shuffles: the ablation of the "
                "stationary-gradient prediction",
    changes={s: dict(eta=0.005, minibatches="epoch", checkpoints=2) for s in ("smoke", "book", "paper")},
)
