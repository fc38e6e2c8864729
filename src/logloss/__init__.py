"""logloss: how SGD escapes local minima (Mori, Ziyin, Liu & Ueda, ICML 2022).

The package is layered; each layer imports only from the layers before it:

1. :mod:`logloss.core` — errors, input checks, :class:`Measured`, progress, cache;
2. :mod:`logloss.theory` — closed forms (numpy and scipy only);
3. :mod:`logloss.data`, :mod:`logloss.models` — datasets, networks, linear regression;
4. :mod:`logloss.measure` — quantities of any ``nn.Module`` at one θ;
5. :mod:`logloss.dynamics` — whatever moves θ (replica kernels, SDEs, training);
6. :mod:`logloss.stats` — estimators (φ fits, tails, first passage, line fits);
7. :mod:`logloss.experiments` — one file per registered experiment;
8. :mod:`logloss.display` — figures, tables and the explorers;
9. :mod:`logloss.runs`, :mod:`logloss.sweeps` (joblib / Dask), :mod:`logloss.cli`, :mod:`logloss.benchmarks`,
   :mod:`logloss.reference` (naive oracles).

Everything public is re-exported here.
"""

from . import theory
from .core.errors import CorruptFile, DatasetMissingError, InvalidInput, LoglossError, SGDDiverged
from .core.measured import Measured
from .core.version import __version__
from .display import explore
from .display.figures import plot, show
from .display.tables import markdown_table
from .dynamics.barrier_excursions import BarrierSystem
from .dynamics.excursions import LinregSystem, kick_tilt
from .dynamics.linreg_sgd import SGDRun, sgd_linreg
from .dynamics.mlp_excursions import MLPSystem
from .dynamics.mlp_sgd import replicate, sgd_mlp
from .dynamics.noise_model import NoiseModelSystem, lumped_spectrum
from .dynamics.training import train_sgd
from .experiments.result import Result
from .experiments.run import run_experiment
from .experiments.spec import list_experiments
from .measure.covariance import minibatch_noise_covariance
from .measure.curvature import CurvatureOperator
from .measure.ggn import ggn_jacobian
from .measure.gradients import per_sample_grads
from .measure.gram import decoupling_spectra, ntk_gram
from .measure.hessian import SolverCheck, hessian_outliers, lanczos_dense_check, participation_ratio
from .measure.monitor import NoiseMonitor
from .measure.noise import noise_strength
from .measure.noise_scale import BatchNoise, GradientNoiseScale, batch_noise_scale, gradient_noise_scale
from .measure.predict import EscapePrediction, predict_escape
from .models.barrier import make_barrier_regression
from .models.linreg import make_linear_regression
from .report import load_store, paper_runs, report_rows
from .runs import compare_summaries, save_run
from .stats.first_passage import fit_slope, mean_first_passage
from .stats.lines import fit_line, fit_power_law, local_slopes, rolling_slopes
from .stats.phi_fits import hill_plot, hill_tail_index, phi_mle, phi_moment
from .stats.splitting import RareFirstPassage, rare_first_passage
from .stats.survival import kaplan_meier, weibull_shape
from .sweeps import run_experiments, sweep

__all__ = [
    "__version__",
    "theory",
    "explore",
    "LoglossError",
    "InvalidInput",
    "SGDDiverged",
    "DatasetMissingError",
    "CorruptFile",
    "Measured",
    "Result",
    "list_experiments",
    "run_experiment",
    "plot",
    "show",
    "save_run",
    "run_experiments",
    "sweep",
    "report_rows",
    "paper_runs",
    "compare_summaries",
    "load_store",
    "markdown_table",
    "minibatch_noise_covariance",
    "per_sample_grads",
    "noise_strength",
    "gradient_noise_scale",
    "GradientNoiseScale",
    "batch_noise_scale",
    "BatchNoise",
    "CurvatureOperator",
    "ntk_gram",
    "decoupling_spectra",
    "hessian_outliers",
    "participation_ratio",
    "lanczos_dense_check",
    "SolverCheck",
    "ggn_jacobian",
    "predict_escape",
    "rare_first_passage",
    "RareFirstPassage",
    "LinregSystem",
    "kick_tilt",
    "MLPSystem",
    "NoiseModelSystem",
    "lumped_spectrum",
    "EscapePrediction",
    "NoiseMonitor",
    "SGDRun",
    "make_linear_regression",
    "make_barrier_regression",
    "sgd_linreg",
    "BarrierSystem",
    "replicate",
    "sgd_mlp",
    "train_sgd",
    "phi_mle",
    "phi_moment",
    "hill_tail_index",
    "hill_plot",
    "mean_first_passage",
    "fit_slope",
    "fit_line",
    "fit_power_law",
    "kaplan_meier",
    "weibull_shape",
    "local_slopes",
    "rolling_slopes",
]
