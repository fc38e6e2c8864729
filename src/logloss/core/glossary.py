"""The paper's symbols and the names the code gives them, in one place.

Each :class:`Symbol` gives the name used in code (a parameter, a table field, a summary
key), the paper's symbol, one line of meaning, the unit (``"1"`` for a pure number or a
count) and the paper's equation that defines it.  Experiment parameters whose names are
here take their meaning, unit, symbol and rule from here
(:mod:`logloss.experiments.params`); an experiment declares only the names that are its
own, and a test enforces that every parameter, table field and array of every experiment
is either here or declared by its experiment.

Names that once meant two things are split: ``n`` is the paper's effective dimension
(Eq. 15) and ``N`` the number of training samples (images too); ``n_c`` is the critical
dimension (Eq. 16) and ``thresholds`` the number of thresholds c on a grid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["Symbol", "GLOSSARY", "RENAMED", "SUFFIXES", "PREFIXES", "describe"]


@dataclasses.dataclass(frozen=True)
class Symbol:
    """One name of the glossary.

    Attributes
    ----------
    name : str
        The name in code.
    symbol : str
        The paper's symbol (Unicode), ``""`` where the paper has none.
    meaning : str
        One line.
    unit : str
        ``"1"``: a pure number or a count; else a unit (``"steps"``, ``"loss"``, ...).
    equation : str
        The paper's equation or figure that defines it, ``""`` where none does.
    rule : str, tuple or None
        The rule a parameter of this name obeys (:func:`logloss.experiments.params.check_param`);
        None: the default rule of its type.
    """

    name: str
    symbol: str
    meaning: str
    unit: str = "1"
    equation: str = ""
    rule: Any = None


_SYMBOLS = (
    # the paper's symbols
    Symbol("eta", "η", "learning rate", equation="Eq. (2)"),
    Symbol("B", "B", "minibatch size (sampled without replacement)", equation="Eq. (2)"),
    Symbol("N", "N", "number of training samples (images for the networks)", equation="Eq. (1)"),
    Symbol("d", "d", "number of parameters of the linear model (its dimension)", equation="Fig. 3b"),
    Symbol("n", "n", "effective dimension: directions with a positive curvature at θ*",
           equation="Eq. (15)"),
    Symbol("n_c", "n_c", "critical effective dimension 2(B/(ηh*) + 1) above which a minimum "
           "stops trapping SGD", equation="Eq. (16)"),
    Symbol("h", "h", "curvature (Hessian eigenvalue) of a quadratic valley", "1/loss"),
    Symbol("h_star", "h*", "curvature at the minimum along the escape direction (tr H/d for "
           "linear regression)", equation="Eq. (15)"),
    Symbol("c", "c", "threshold ratio L(θˢ)/L(θ*) of a first passage", equation="Fig. 3b"),
    Symbol("phi", "φ", "exponent of the stationary law P_s ∝ L^(−φ), 1 + B/(ηh*)",
           equation="Eq. (17)"),
    Symbol("beta", "β", "B/(ηh*): the noise exponent of the escape rate", equation="Eq. (15)"),
    Symbol("L_star", "L*", "loss at the minimum, L(θ*)", "loss", "Eq. (15)"),
    Symbol("t_p", "t_p", "mean first-passage time to L ≥ c·L*", "steps", "Fig. 3b"),
    Symbol("kappa", "κ", "escape rate", "1/steps", "Eq. (15)"),
    Symbol("T", "T", "mean escape time 1/κ", "steps", "Eq. (15)"),
    Symbol("sigma2", "σ²", "label-noise variance", "loss"),
    Symbol("noise", "𝒩", "noise strength (1/N)Σ‖∇ℓ_μ‖² − ‖∇L‖²", equation="Fig. 2"),
    Symbol("lambda_max", "λ₁", "largest Hessian eigenvalue", "1/loss", "App. E, Fig. 6"),
    Symbol("participation_ratio", "n_PR", "participation ratio (Σ p_i²)⁻¹, p_i = h_i/Σh_j",
           equation="App. E"),
    # what several experiments report
    Symbol("L", "L", "training loss (1/N)Σℓ_μ", "loss", "Eq. (1)"),
    Symbol("slope", "", "log–log slope of the escape (first-passage) time against c"),
    Symbol("slope_eq15", "", "the paper's slope B/(ηh*) + 1 − n/2 of t_p against c",
           equation="Eq. (15)"),
    Symbol("slope_exact_noise", "", "the slope of Eq. (15) with the exact minibatch noise "
           "of linear regression instead of the paper's"),
    Symbol("slope_kesten", "", "half the Kesten–Goldie index of SGD's kicks: the slope where "
           "escape is rare"),
    Symbol("kesten_alpha", "α", "Kesten–Goldie tail index of the stationary law (closed form "
           "at d = 1 only, else nan)"),
    Symbol("phi_discrete", "φ_d", "exact discrete-time φ from the stationary second moment at "
           "finite η (theory/stationary.py)"),
    Symbol("label", "", "words that name a row in the figure and tables"),
    Symbol("law", "", "which law or process a row belongs to"),
    Symbol("z", "z", "(measured − predicted)/standard error"),
    Symbol("i", "i", "rank of an eigenvalue (1: the largest)"),
    Symbol("epoch", "", "training epoch at which the row is recorded", "epochs"),
    Symbol("seed", "", "seed of one training run (drawn from the run's generator)", rule="seed"),
    Symbol("max_eta_x2", "", "largest ηx² over the samples (above 2: single-sample steps expand)"),
    Symbol("grad_sq", "‖∇L‖²", "squared norm of the full-batch gradient"),
    Symbol("censored", "", "replicas (or thresholds) still below the threshold when the budget ran out"),
    Symbol("estimator", "", "how t_p was estimated: the plain mean, or a censoring-aware estimate"),
    Symbol("sgd", "", "mean exit time of discrete SGD, simulated (censoring-aware)", "steps"),
    Symbol("chain", "", "exact mean exit time of the discrete chain of SGD", "steps"),
    Symbol("chain_grid_error", "", "change of the chain's value when its grid has half the points", "steps"),
    Symbol("sde_em", "", "mean exit time of the SDE with the exact noise, by Euler–Maruyama", "steps"),
    Symbol("sde_quadrature", "", "mean exit time of the same SDE by quadrature (exact)", "steps"),
    Symbol("eq15", "", "the weak-noise escape time of paper Eq. (15)", "steps", "Eq. (15)"),
    Symbol("arrhenius_min", "", "Arrhenius law with the noise frozen at θ*", "steps"),
    Symbol("arrhenius_const", "", "Arrhenius law with a loss-independent noise", "steps"),
    Symbol("kramers_exact", "", "Kramers' law with the exact noise Σ(θ)", "steps"),
    Symbol("discreteness_ratio", "", "SGD over the SDE (Euler–Maruyama) at the largest c: the cost of discreteness"),
    Symbol("em_ratio", "", "Euler–Maruyama over quadrature: the integration error"),
    Symbol("asymptotic_ratio", "", "the exact SDE over its weak-noise limit"),
    Symbol("dL_over_L", "", "barrier height ΔL over L*, mean of the two saddles"),
    # sizes and budgets shared by several experiments
    Symbol("replicas", "", "independent SGD chains run side by side"),
    Symbol("seeds", "", "independent seeds (training runs) averaged over"),
    Symbol("repetitions", "", "independent repetitions of a splitting estimate"),
    Symbol("tilt", "ε", "share of online samples drawn from a wider law near the bulk, with "
           "likelihood-ratio weights (importance sampling of SGD's rare expanding kicks; 0: none)"),
    Symbol("tilt_far", "ε_far", "the same share far from the bulk (beyond twice its edge)"),
    Symbol("importance", "", "auto: importance-sample the rare expanding kicks of online SGD "
           "where logloss.kick_tilt's rule says they make the escape; off: never"),
    Symbol("split_replicas", "", "replicas of one adaptive multilevel splitting run"),
    Symbol("steps", "", "SGD steps", "steps"),
    Symbol("epochs", "", "passes over the training set", "epochs"),
    Symbol("points", "", "records along a training run"),
    Symbol("samples", "", "recorded θ samples per replica"),
    Symbol("thin", "", "SGD steps between two recorded samples", "steps"),
    Symbol("draws", "", "Monte-Carlo draws of minibatch gradients"),
    Symbol("grid", "", "points of a quadrature grid"),
    Symbol("substeps", "", "substeps per SGD step of an SDE integration"),
    Symbol("thresholds", "", "number of thresholds c on a geometric grid"),
    Symbol("c_max", "", "largest threshold ratio c of the grid", rule=">1"),
    Symbol("cs", "c", "threshold ratios c", rule=">1 increasing"),
    Symbol("decades", "", "decades of t_p a splitting run follows"),
    Symbol("top_k", "k", "number of top eigenvalues computed"),
    Symbol("brute_replicas", "", "replicas of the brute-force SGD runs that check the splitting"),
    Symbol("brute_steps", "", "steps of each brute-force SGD run", "steps"),
    Symbol("chain_resolution", "", "points of the exact discrete chain per noise step η√Σ*"),
    Symbol("data_seed", "", "seed of the training data set", rule="seed"),
    Symbol("pre_seeds", "", "seeds of the pretrained networks", rule="seed distinct"),
    Symbol("pre_steps", "", "SGD steps of the pretraining", "steps"),
    Symbol("widths", "", "hidden-layer widths of the MLP"),
    Symbol("convs_per_stack", "", "convolutions in each of the CNN's three stacks"),
    Symbol("dataset", "", "data set: auto (the vendored one at smoke and book scale)",
           rule=("auto", "fashion-mnist", "cifar10")),
    Symbol("model", "", "the model: mlp or cnn (networks), linreg (linear regression)",
           rule=("mlp", "cnn")),
    Symbol("loss", "", "loss: mse or ce (cross-entropy)", rule=("mse", "ce")),
    Symbol("kernel", "", "also measure the factors of 𝒩 (the kernel's trace)"),
    Symbol("fit_from", "", "fraction of the run after which the late-training slope is fitted",
           rule="[0,1)"),
    Symbol("mid_window", "", "fractions of the run bounding the intermediate window",
           rule="[0,1]"),
    Symbol("ratio_at", "", "fractions of the run at which ratios are printed"),
    Symbol("minibatches", "", "independent draws or epoch-wise reshuffles",
           rule=("independent", "epoch")),
    Symbol("plateau_from", "", "fraction of the run where the plateau begins", rule="[0,1)"),
    Symbol("plateau_records", "", "records averaged on the plateau"),
    Symbol("B_small", "B", "the smaller minibatch size"),
    Symbol("B_big", "B", "the larger minibatch size"),
    Symbol("ns", "n", "effective dimensions n", rule=">0 distinct"),
    Symbol("ds", "d", "dimensions d"),
    Symbol("sigma2s", "σ²", "label-noise variances", rule=">=0 distinct"),
    Symbol("A", "A", "model radius of the barrier landscape (models/barrier.py)"),
    Symbol("k", "k", "number of top Hessian (Gauss–Newton) eigenvalues computed by Lanczos"),
    Symbol("a", "a", "label weight on x of the barrier landscape", rule="any"),
    Symbol("b", "b", "label weight on z₁ of the barrier landscape"),
    Symbol("xss_s", "s", "path parameter s of Xie et al.'s escape-time formula"),
)

#: The glossary, by the name used in code.
GLOSSARY: dict[str, Symbol] = {s.name: s for s in _SYMBOLS}

#: Parameter names that were renamed because they meant two things: old → new.
RENAMED: dict[str, str] = {"n_c": "thresholds", "n": "N"}

#: Suffixes of derived names: ``phi_stderr`` is the standard error of φ.
SUFFIXES: dict[str, str] = {
    "_stderr": "standard error of {}",
    "_se": "standard error of {}",
    "_theory": "{}: the paper's prediction",
    # the checks of a censored mean exit time (experiments/_barrier.py: estimate)
    "_censored": "replicas not yet escaped when the budget ran out ({})",
    "_estimator": "estimator of the mean ({}): plain, or censoring-aware",
    "_km_exp_distance": "sup-distance of the Kaplan–Meier curve from the exponential law ({})",
    "_km_band": "95 % band of that distance ({})",
    "_weibull_k": "Weibull shape k of the exit times, 1 if memoryless ({})",
    "_left": "replicas that escaped over the lower saddle ({})",
    "_right": "replicas that escaped over the upper saddle ({})",
}


#: Prefixes of derived names: ``tau_eq15`` is the escape time predicted by ``eq15``.
PREFIXES: dict[str, str] = {
    "tau_": "predicted mean escape time (steps): {}",
    "curve_": "{}, on a dense grid of σ² (row i: η = etas[i])",
}


def describe(name: str, own: Mapping[str, str] | None = None) -> str | None:
    """One line of meaning of ``name``: from ``own`` (an experiment's own names), else from
    the glossary, following :data:`SUFFIXES` (``phi_stderr``: the standard error of φ);
    None if neither knows it."""
    own = own or {}
    if name in own:
        return own[name]
    if name in GLOSSARY:
        return GLOSSARY[name].meaning
    for suffix, text in SUFFIXES.items():
        if name.endswith(suffix):
            base = describe(name[: -len(suffix)], own)
            return None if base is None else text.format(base)
    for prefix, text in PREFIXES.items():
        if name.startswith(prefix):
            base = describe(name[len(prefix):], own)
            return None if base is None else text.format(base)
    return None
