"""logloss: how SGD escapes local minima (Mori, Ziyin, Liu & Ueda, ICML 2022).

Public API, re-exported here:

* experiments (shared by the chapters and the CLI): :func:`run_experiment`,
  :func:`list_experiments`, :class:`Result`, :class:`Measured`;
* closed forms: :mod:`logloss.theory` (φ, T, escape exponent and rate, n_c);
* minibatch noise of any PyTorch model: :func:`per_sample_grads`,
  :func:`minibatch_noise_covariance` (Eq. 8), :func:`noise_strength` (𝒩),
  :func:`ntk_gram`, :func:`decoupling_spectra` (Eq. 7), :func:`train_sgd`;
* Hessian outliers: :func:`hessian_outliers` (Eq. 44), :func:`participation_ratio` (Eq. 45);
* SGD replica kernels: :func:`sgd_linreg` (linear regression), :func:`sgd_mlp` (784-h-1 MLP);
* statistics: :func:`phi_mle`, :func:`phi_moment`, :func:`hill_tail_index`,
  :func:`mean_first_passage` (censoring-aware), :func:`fit_slope`;
* data: :mod:`logloss.data`; interactive explorers: :mod:`logloss.explore`.
"""

__version__ = "0.1.0"

from . import theory
from .covariance import minibatch_noise_covariance
from .experiment import Measured, Result, list_experiments, run_experiment
from .first_passage import fit_slope, mean_first_passage
from .fitting import hill_tail_index, phi_mle, phi_moment
from .hessian import hessian_outliers, participation_ratio
from .nn_kernel import sgd_mlp
from .noise import decoupling_spectra, noise_strength, ntk_gram
from .persample import per_sample_grads
from .sgd_linreg import SGDRun, sgd_linreg
from .training import train_sgd

__all__ = [
    "__version__",
    "theory",
    "Measured",
    "Result",
    "list_experiments",
    "run_experiment",
    "minibatch_noise_covariance",
    "per_sample_grads",
    "noise_strength",
    "ntk_gram",
    "decoupling_spectra",
    "train_sgd",
    "hessian_outliers",
    "participation_ratio",
    "SGDRun",
    "sgd_linreg",
    "sgd_mlp",
    "phi_mle",
    "phi_moment",
    "hill_tail_index",
    "mean_first_passage",
    "fit_slope",
]
