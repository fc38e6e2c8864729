"""logloss: how SGD escapes local minima (Mori, Ziyin, Liu & Ueda, ICML 2022).

Public API, re-exported here:

* experiments: :func:`run_experiment`, :func:`list_experiments`, :class:`Result`;
* theory: :mod:`logloss.theory` (φ, T, escape exponent and rate, n_c);
* minibatch noise: :func:`minibatch_noise_covariance` (Eq. 8), :func:`per_sample_grads`;
* data: :mod:`logloss.data`.
"""

__version__ = "0.1.0"

from . import theory
from .covariance import minibatch_noise_covariance
from .experiment import Measured, Result, list_experiments, run_experiment
from .persample import per_sample_grads

__all__ = [
    "__version__",
    "theory",
    "Measured",
    "Result",
    "list_experiments",
    "run_experiment",
    "minibatch_noise_covariance",
    "per_sample_grads",
]

# SGD replica kernel for linear regression and the fits of P ∝ L^(−φ) (chapter "stationary")
from .fitting import hill_tail_index, phi_mle, phi_moment  # noqa: E402
from .sgd_linreg import SGDRun, sgd_linreg  # noqa: E402

__all__ += ["SGDRun", "sgd_linreg", "phi_mle", "phi_moment", "hill_tail_index"]

# Noise strength 𝒩, decoupling spectra and SGD training loop (chapter "noise_and_loss")
from .noise import decoupling_spectra, noise_strength, ntk_gram  # noqa: E402
from .training import train_sgd  # noqa: E402

__all__ += ["noise_strength", "ntk_gram", "decoupling_spectra", "train_sgd"]

# Escape: first-passage estimators, Gauss-Newton outliers, MLP replica kernel (chapter "escape")
from .first_passage import fit_slope, mean_first_passage  # noqa: E402
from .hessian import hessian_outliers, participation_ratio  # noqa: E402
from .nn_kernel import sgd_mlp  # noqa: E402

__all__ += ["mean_first_passage", "fit_slope", "hessian_outliers", "participation_ratio", "sgd_mlp"]
