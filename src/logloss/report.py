"""The reproduction report: one row per result R1–R13 of the paper, with a verdict.

Each :class:`Claim` names the experiment and the summary keys that test one result, the
paper's own statement, the independent computation it is checked against, and the one
sentence that says why we disagree where we do.  :func:`report_rows` turns summaries
(``Result.summary()`` dictionaries, or the run records the chapters leave in their
executed notebooks) into rows; :func:`load_store` reads the paper-scale results kept in
``results/``.  The verdict is computed, never typed, and with the chapter's own statistic:
each claim carries a :class:`Standard` (which spread, which distribution, which critical
value, one- or two-sided) that the verdict states next to its number.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from scipy import stats

from .core.cache import conforms
from .core.errors import CorruptFile
from .data import USER_DATASETS, dataset_missing
from .experiments.spec import get_experiment

__all__ = ["Claim", "CLAIMS", "Standard", "Z_AGREE", "verdict", "report_rows", "load_store",
           "stored_runs", "paper_runs", "how_to_make", "store_folder"]

#: The default standard: a value agrees with its target within this many standard errors.
Z_AGREE = 3.0


def rows_minus_one(table: str) -> Callable[[Mapping[str, Any]], int]:
    """Degrees of freedom: the number of rows of a run's table (one per seed) less one."""
    return lambda summary: len(summary["tables"][table]) - 1


def field_minus_one(table: str, field: str) -> Callable[[Mapping[str, Any]], int]:
    """Degrees of freedom: a count stored in the first row of a run's table, less one."""
    return lambda summary: int(summary["tables"][table][0][field]) - 1


@dataclasses.dataclass(frozen=True)
class Standard:
    """The statistic and critical value with which a chapter judges one number.

    Attributes
    ----------
    test : {"two-sided", "closer", "bound"}
        ``"two-sided"``: agreement when |value − target| ≤ critical · spread.
        ``"closer"``: a choice between two laws; agreement when the value lies on the
        target's side of the midpoint between target and ``alternative`` by more than
        critical · spread (one-sided).  ``"bound"``: |value − target| ≤ critical, for a
        value with no standard error (a grid step, a largest |z| over several tests).
    critical : float
        The critical value when ``level`` is None (normal multiples, or the bound).
    level : float or None
        Confidence level: the critical value is the Student-t quantile with ``dof``
        degrees of freedom (two-sided for ``"two-sided"``, one-sided for ``"closer"``).
    dof : callable or None
        Summary → degrees of freedom (for example seeds − 1); None with ``level``: normal.
    spread : str or None
        Measured key of the spread to use instead of the value's standard error: the
        seed-to-seed s.d. when one published value is compared with our seeds.
    alternative : float or None
        The other law's value, for ``"closer"``.
    """

    test: str = "two-sided"
    critical: float = Z_AGREE
    level: float | None = None
    dof: Callable[[Mapping[str, Any]], int] | None = None
    spread: str | None = None
    alternative: float | None = None

    def __post_init__(self):
        if self.test not in ("two-sided", "closer", "bound"):
            raise ValueError(f"unknown test {self.test!r}")
        if (self.test == "closer") != (self.alternative is not None):
            raise ValueError("an alternative value is needed by, and only by, test='closer'")

    def critical_value(self, summary: Mapping[str, Any]) -> tuple[float, str]:
        """The critical value for one run, and the words that state it (with its standard)."""
        unit = "seed s.d." if self.spread else "s.e."
        if self.test == "bound":
            return self.critical, f"{self.critical:g}"
        if self.level is None:
            return self.critical, f"{self.critical:g} {unit}"
        q = self.level if self.test == "closer" else (1 + self.level) / 2
        side = "one-sided" if self.test == "closer" else "two-sided"
        if self.dof is None:
            crit, dist = float(stats.norm.ppf(q)), "normal"
        else:
            k = self.dof(summary)
            if k < 1:
                return math.inf, f"∞ (Student t with {k} dof: no test)"
            crit, dist = float(stats.t.ppf(q, k)), f"Student t, {k} dof"
        return crit, f"{crit:.2f} {unit} ({dist}, {self.level:.0%} {side})"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One result of the paper and how the book tests it.

    Attributes
    ----------
    result : str
        ``"R1"`` … ``"R13"`` (PAPER-MAP).
    title : str
        What the result says, in a few words.
    chapter : str
        Docname of the chapter that derives and tests it.
    experiment : str or None
        The registered experiment that measures it; None for a derivation.
    key : str or None
        Its ``measured`` key.
    target : tuple of (str, str), float or None
        ``("theory", key)`` or ``("reference", key)``: what the measured value is compared
        with; a number where the paper states the value itself (a slope of 2); None: 0.
    paper : str
        What the paper states or reports.
    check : str
        The independent computation the chapter compares with (oracle, closed form, quadrature).
    disagreement : str
        Why the book does not reproduce the claim, shown only when the verdict says so.
    standard : Standard
        How the chapter judges the number (default: within 3 standard errors).
    also : tuple of str
        Further paper-scale runs of the same result on the paper's other networks (Fig. 2's
        CIFAR-10 CNN): listed by ``python -m logloss reproduce`` and named in the row while
        they are missing; the verdict tests ``experiment`` only.
    """

    result: str
    title: str
    chapter: str
    experiment: str | None
    key: str | None
    target: tuple[str, str] | float | None
    paper: str
    check: str
    disagreement: str
    standard: Standard = Standard()
    also: tuple[str, ...] = ()


CLAIMS: tuple[Claim, ...] = (
    Claim("R1", "exact minibatch-noise covariance", "chapters/sgd_noise", "minibatch-covariance",
          "mean_z", ("theory", "mean_z"), "paper Eq. (8), derived, not measured",
          "Monte-Carlo minibatch gradients against paper Eq. (8), mean z-score over entries",
          "the Monte-Carlo covariance differs from paper Eq. (8) beyond its sampling error",
          Standard(critical=4.0)),
    Claim("R2", "decoupling approximation", "chapters/noise_hessian", "decoupling",
          "max_abs_z_top1", None, "paper Fig. 1: the two spectra agree",
          "largest |z| of the exact against the decoupled top eigenvalue over the training stages",
          "the decoupled top eigenvalue differs from the exact one beyond its seed spread",
          Standard(test="bound", critical=Z_AGREE)),
    Claim("R3", "Σ ≈ (2L/B)H near a minimum", "chapters/noise_hessian", "noise-hessian",
          "mlp_top1_ratio", ("theory", "mlp_top1_ratio"), "paper Eqs. (6), (9), derived",
          "top eigenvalue of the exact noise covariance over that of c(2L/B)·Hessian, c = (N−B)/(N−1) "
          "(true Hessian by Lanczos)",
          "on the network the noise's top eigenvalue is not c(2L/B) times the Hessian's",
          Standard(level=0.99, dof=field_minus_one("mlp", "seeds"))),
    Claim("R4", "noise strength 𝒩 ∝ L", "chapters/noise_strength", "noise-strength",
          "slope", ("theory", "slope"), "paper Fig. 2: 𝒩 tracks L on log–log axes",
          "log–log slope of 𝒩 against L over seeds, against 1",
          "the late-training slope of 𝒩 against L is above 1: the residuals' coupling to the "
          "kernel drifts (the chapter splits the slope into measured factors)",
          Standard(level=0.99, dof=rows_minus_one("seeds")), also=("noise-strength-cnn",)),
    Claim("R5", "cross-entropy: 𝒩 ∝ L, then L²", "chapters/noise_strength", "noise-strength-ce",
          "slope", ("theory", "slope"), "paper Fig. 5: slope 1 at intermediate loss, 2 at small loss",
          "late-training log–log slope of 𝒩 against L over seeds, against 2 (the small-loss claim)",
          "the late slope is below 2: the kernel grows as the loss falls (the chapter splits the "
          "slope into measured factors; without the kernel's term it is consistent with 2)",
          Standard(level=0.99, dof=rows_minus_one("seeds")), also=("noise-strength-cnn-ce",)),
    Claim("R6", "random time change to log L", "chapters/stationary", "time-change",
          "phi_difference", ("theory", "phi_difference"), "paper Eqs. (12)–(14), derived",
          "both SDEs simulated; φ of the two time-changed laws differs by exactly 1",
          "the two SDEs do not agree in law after the time change",
          Standard(critical=4.0)),
    Claim("R7", "power-law stationary law, φ = 1 + B/(ηh*)", "chapters/stationary", "stationary",
          "phi", ("theory", "phi_theory"), "paper Fig. 3a: fitted φ on the line 1 + B/(ηh*)",
          "maximum-likelihood φ against paper Eq. (17), first (η, B) point; the discrete-time φ "
          "in the chapter",
          "finite η shifts φ away from 1 + B/(ηh*) (the chapter separates discreteness and "
          "curvature variance)",
          Standard(critical=4.0)),
    Claim("R8", "power-law escape rate", "chapters/escape_kramers", None, None, None,
          "paper Eq. (15), Kramers–Laplace derivation (paper App. B)",
          "the theorem restates it with every assumption where it is used; the exact quadrature "
          "of the paper's SDE (experiment escape-sde) reaches it only many decades of t_p out",
          "the derivation needs hᵢˢ = hᵢ* in the transverse directions, which paper App. B does not state"),
    Claim("R9", "first passage, linear regression: the slope where escape is rare",
          "chapters/escape_linreg", "first-passage-linreg", "slope_rare", ("theory", "slope_eq15"),
          "paper Fig. 3b: slopes B/(ηh*) + 1 − d/2, N = 10⁴, several d",
          "SGD's t_p by splitting on log L over 20+ decades, the exact discrete chain, both SDE "
          "quadratures and the Kesten index of the kicks; the slope of log t_p against log c over "
          "every threshold with t_p ≥ 100 relaxation times (bootstrap s.e. over repetitions), at "
          "the largest d, where the excursions sample every route out",
          "where escape is rare SGD's slope follows the Kesten index of its own kicks (for "
          "a data set with no expanding sample it keeps growing), not paper Eq. (15)",
          Standard(level=0.99, dof=field_minus_one("cases", "repetitions"))),
    Claim("R10", "first passage, network", "chapters/escape_network", "first-passage-nn",
          "n_fit", ("reference", "n_fit"), "paper Fig. 3c: slopes fitted with n = 9",
          "splitting on log L from the quasi-stationary state, on the thresholds with t_p >= 100 "
          "relaxation times that the repetitions resolve, against brute force and Kaplan–Meier "
          "where it reaches; n = 2(β + 1 − slope) beside the same inversion on the paper's "
          "noise model fed the net's measured spectrum",
          "the paper's protocol measures a relaxation, not escape; the inversion of paper Eq. (15) "
          "assumes equal curvatures, and the noise model on the net's unequal ones shows how far "
          "that alone moves the fitted n"),
    Claim("R11", "Hessian outliers: λ₁", "chapters/escape_network", "hessian-outliers",
          "lambda_max", ("reference", "lambda_max"), "paper Fig. 6: λ₁ = 95.6",
          "Lanczos against the spectrum of the same Gauss–Newton matrix",
          "our pretrained nets' λ₁ differs from the paper's single net beyond the seed spread",
          Standard(critical=2.0, spread="lambda_max_seed_sd")),
    Claim("R11", "Hessian outliers: participation ratio", "chapters/escape_network", "hessian-outliers",
          "participation_ratio", ("reference", "participation_ratio"),
          "paper App. E: participation ratio 12.7",
          "Lanczos against the spectrum of the same Gauss–Newton matrix",
          "our pretrained nets' participation ratio differs from the paper's beyond the seed spread",
          Standard(critical=2.0, spread="participation_ratio_seed_sd")),
    Claim("R12", "critical effective dimension", "chapters/escape_network", "critical-dimension",
          "crossover_dimension", ("theory", "n_c"), "paper Eq. (16): n_c = 2(B/(ηh*) + 1)",
          "the Lyapunov exponent of discrete SGD (tolerance: the grid step of d near the "
          "crossover, 1)",
          "discrete SGD stops trapping at the Lyapunov critical dimension, below paper Eq. (16)'s n_c",
          Standard(test="bound", critical=1.0)),
    Claim("R13", "log barrier, not linear barrier", "chapters/barrier", "barrier",
          "log_tau_slope", ("theory", "log_tau_slope_eq15"), "none: beyond the paper",
          "the exact discrete chain and the SDE quadrature on the same landscape",
          "the escape time's slope against log L(θ*) differs from paper Eq. (15)'s"),
)


def _number(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _fmt(value: float, stderr: float = float("nan")) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if not math.isfinite(stderr) else f"{value:.4g} ± {stderr:.2g}"


def _target(claim: Claim, summary: Mapping[str, Any]) -> float:
    if claim.target is None:
        return 0.0
    if isinstance(claim.target, tuple):
        return _number(summary[claim.target[0]][claim.target[1]])
    return float(claim.target)


def verdict(claim: Claim, summary: Mapping[str, Any] | None) -> tuple[str, str]:
    """The verdict on ``claim`` from one run's summary, and the statistic behind it.

    Returns ``("not yet run", "")`` without a summary, ``("derivation", ...)`` for a claim
    with no experiment, else ``("reproduced" | "not reproduced", text)``, where the text
    gives the statistic, its critical value and the standard (:class:`Standard`) that the
    chapter uses.  A summary whose keys do not hold the claim's value raises
    :class:`KeyError`: the report must follow the experiments' keys, not hide a renamed one.
    """
    if claim.experiment is None:
        return "derivation", "proved in the chapter, assumptions stated"
    if summary is None:
        return "not yet run", ""
    std = claim.standard
    m = summary["measured"][claim.key]
    value, target = _number(m["value"]), _target(claim, summary)
    if not (math.isfinite(value) and math.isfinite(target)):
        return "not reproduced", "no finite value (see the chapter)"
    crit, words = std.critical_value(summary)
    if std.test == "bound":
        gap = abs(value - target)
        return ("reproduced" if gap <= crit else "not reproduced"), \
            f"|Δ| = {gap:.3g}; agreement at |Δ| ≤ {words}"
    spread = _number(summary["measured"][std.spread]["value"] if std.spread else m["stderr"])
    if not (math.isfinite(spread) and spread > 0):
        return "not reproduced", "no standard error to test with"
    letter = "t" if std.dof else "z"
    if std.test == "closer":
        # distance beyond the midpoint, towards the target, in units of the spread
        z = (value - (target + std.alternative) / 2) / spread * math.copysign(1, target - std.alternative)
        return ("reproduced" if z > crit else "not reproduced"), \
            (f"{letter} = {z:+.1f} from the midpoint of {target:g} and {std.alternative:g} "
             f"towards {target:g}; agreement at {letter} > {words}")
    z = (value - target) / spread
    return ("reproduced" if abs(z) <= crit else "not reproduced"), \
        f"{letter} = {z:+.1f}; agreement at |{letter}| ≤ {words}"


def _cell(claim: Claim, summary: Mapping[str, Any] | None) -> dict[str, Any]:
    if summary is None or claim.key is None:
        return {"value": "—", "verdict": verdict(claim, summary)}
    m = summary["measured"][claim.key]
    return {"value": _fmt(_number(m["value"]), _number(m["stderr"])), "verdict": verdict(claim, summary),
            "scale": summary.get("scale", ""), "device": summary.get("device", ""),
            "date": summary.get("date", ""), "commit": (summary.get("git_commit") or "")[:7]}


def report_rows(book: Mapping[str, Mapping[str, Any]],
                store: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: the paper, this build's number, the stored paper-scale number.

    Parameters
    ----------
    book : mapping of experiment name to summary
        The runs of this build (any scale; each cell says which).
    store : mapping of experiment name to summary
        Paper-scale runs from the results store (:func:`load_store`).

    Returns
    -------
    list of dict
        ``claim``, ``target`` (the compared value, formatted), ``book`` and ``paper_scale``
        (each ``value``, ``verdict`` = (word, statistic), and for a run ``scale``,
        ``device``, ``date``, ``commit``), and ``reason``: the claim's disagreement
        sentence when a run does not reproduce it, else "".  A claim's ``paper_scale``
        cell also has ``to_make`` when the store lacks its run (:func:`how_to_make`), and
        ``also``: one line for each of the claim's further runs (its number, or how to
        make it).
    """
    rows = []
    for claim in CLAIMS:
        run_book = book.get(claim.experiment) if claim.experiment else None
        run_paper = store.get(claim.experiment) if claim.experiment else None
        source = run_book or run_paper
        if claim.experiment is None:
            target = "—"
        elif claim.target is None:
            target = "no difference (0)" if claim.standard.test != "bound" else \
                f"|z| ≤ {claim.standard.critical:g}"
        elif source is None and isinstance(claim.target, tuple):
            target = "—"
        else:
            target = _fmt(_target(claim, source))
        cells = {"book": _cell(claim, run_book), "paper_scale": _cell(claim, run_paper)}
        if claim.experiment is not None:
            if run_paper is None:
                cells["paper_scale"]["to_make"] = how_to_make(claim.experiment)
            cells["paper_scale"]["also"] = [_also(claim, name, store.get(name)) for name in claim.also]
        disagree = any(c["verdict"][0] == "not reproduced" for c in cells.values()) or \
            claim.experiment is None
        rows.append({"claim": claim, "target": target, **cells,
                     "reason": claim.disagreement if disagree else ""})
    return rows


def _values(measured: Any) -> bool:
    number = (int, float, type(None))
    return isinstance(measured, dict) and all(conforms(m, {"value": number, "stderr": number})
                                              for m in measured.values())


#: The part of a run summary (:meth:`logloss.Result.summary`) the report reads.
_SUMMARY = {"experiment": str, "scale": str, "measured": _values, "theory": dict,
            "reference": dict}


def stored_runs(root: str | Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The complete paper-scale runs under ``root``: experiment → (folder, summary)."""
    root = Path(root)
    out: dict[str, tuple[Path, dict[str, Any]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else ():
        if not (folder / "complete.json").is_file():
            continue
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise CorruptFile(f"results store: {folder}/summary.json is unreadable ({exc})") from None
        if not conforms(summary, _SUMMARY):
            raise CorruptFile(f"results store: {folder}/summary.json is not a run summary (it lacks "
                              "experiment, scale or measured values of the summary's form); "
                              "run the experiment again into that folder")
        name = summary["experiment"]
        if summary.get("scale") != "paper":
            raise CorruptFile(f"results store: {folder} holds a {summary.get('scale')!r} run, "
                              "not a paper-scale one")
        if name in out:
            raise CorruptFile(f"results store: two runs of {name!r} ({folder})")
        out[name] = (folder, summary)
    return out


def load_store(root: str | Path = "results") -> dict[str, dict[str, Any]]:
    """The paper-scale summaries in the results store, by experiment name.

    The store holds complete run folders (``<root>/<name>/summary.json`` with
    ``complete.json``), as written by ``python -m logloss run NAME --scale paper --out``.
    Folders without ``complete.json`` are unfinished and ignored; a run that is not at the
    paper scale, or two runs of one experiment, are errors.
    """
    return {name: summary for name, (_, summary) in stored_runs(root).items()}


#: The seed of the paper-scale runs kept in the store.
STORE_SEED = 0


def store_folder(name: str, root: str | Path = "results") -> Path:
    """Where the store keeps the paper-scale run of the experiment ``name``."""
    return Path(root) / f"{name}-paper-seed{STORE_SEED}"


def _paper_plan(name: str) -> tuple[str, Any, tuple[str, ...]]:
    """(command, estimated :class:`~logloss.core.resources.Cost`, the user's datasets) of
    the paper-scale run of ``name`` at its preset."""
    exp = get_experiment(name)
    params = dict(exp.presets["paper"])
    command = f"python -m logloss run {name} --scale paper --seed {STORE_SEED} --out {store_folder(name)}"
    return command, exp.estimate(params), tuple(exp.data(params)) if exp.data else ()


def how_to_make(name: str) -> str:
    """One sentence: the command that makes the paper-scale run of the experiment ``name``,
    its estimated cost (the experiment's ``cost``) and what the user must supply."""
    command, cost, needs = _paper_plan(name)
    supply = "; it needs " + " and ".join(f"the user's copy of {d} in $LOGLOSS_DATA "
                                          f"({USER_DATASETS[d]})" for d in needs) if needs else \
        "; it needs no data beyond the vendored subsets"
    return f"not yet run: `{command}` makes it ({cost.describe()}, estimated){supply}."


def _also(claim: Claim, name: str, summary: Mapping[str, Any] | None) -> str:
    """One line on a claim's further run ``name``: its stored number, or how to make it."""
    if summary is None:
        return f"{name}: {how_to_make(name)}"
    cell = _cell(claim, summary)
    word, stat = cell["verdict"]
    return f"{name}: {cell['value']} ({cell['scale']}; {word}; {stat})."


def paper_runs(root: str | Path = "results") -> list[dict[str, Any]]:
    """Every paper-scale run the reproduction report needs, in the order of its claims.

    One entry per experiment that a claim names (its ``experiment`` or in ``also``).

    Returns
    -------
    list of dict
        ``experiment``; ``results``, the claims it serves (``"R4"``, ...); ``command``,
        the one command that makes it; ``cost``, its estimate at the paper preset
        (:class:`~logloss.core.resources.Cost`); ``needs``, the datasets the user must
        supply in ``$LOGLOSS_DATA``; ``missing``, one line for each of those that cannot be
        read there now; ``stored``, the folder of its run in the store ``root``, or None.
    """
    stored = stored_runs(root)
    runs: dict[str, dict[str, Any]] = {}
    for claim in CLAIMS:
        for name in (claim.experiment, *claim.also) if claim.experiment else ():
            if name in runs:
                runs[name]["results"] = list(dict.fromkeys([*runs[name]["results"], claim.result]))
                continue
            command, cost, needs = _paper_plan(name)
            missing = [why for why in map(dataset_missing, needs) if why]
            runs[name] = {"experiment": name, "results": [claim.result], "command": command,
                          "cost": cost, "needs": needs, "missing": missing,
                          "stored": stored[name][0] if name in stored else None}
    return list(runs.values())
