"""The reproduction report: one row per result R1–R13 of the paper, with a verdict.

Each :class:`Claim` names the experiment and the summary keys that test one result, the
paper's own statement, the independent computation it is checked against, and the one
sentence that says why we disagree where we do.  :func:`report_rows` turns summaries
(``Result.summary()`` dictionaries, or the run records the chapters leave in their
executed notebooks) into rows; :func:`load_store` reads the paper-scale results kept in
``results/``.  The verdict is computed, never typed: a measured value agrees with its
target when it lies within three standard errors of it (:data:`Z_AGREE`), or within the
claim's stated absolute tolerance where the value has no standard error.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .core.errors import CorruptFile

__all__ = ["Claim", "CLAIMS", "Z_AGREE", "verdict", "report_rows", "load_store"]

#: A value agrees with its target within this many standard errors.
Z_AGREE = 3.0


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
    target : tuple of (str, str) or None
        ``("theory", key)`` or ``("reference", key)``: what the measured value is compared with.
    paper : str
        What the paper states or reports.
    check : str
        The independent computation the chapter compares with (oracle, closed form, quadrature).
    disagreement : str
        Why the book does not reproduce the claim, shown only when the verdict says so.
    tolerance : float or None
        Absolute tolerance, for a measured value without a standard error (say why in ``check``).
    """

    result: str
    title: str
    chapter: str
    experiment: str | None
    key: str | None
    target: tuple[str, str] | None
    paper: str
    check: str
    disagreement: str
    tolerance: float | None = None


CLAIMS: tuple[Claim, ...] = (
    Claim("R1", "exact minibatch-noise covariance", "chapters/sgd_noise", "minibatch-covariance",
          "mean_z", ("theory", "mean_z"), "paper Eq. (8), derived, not measured",
          "Monte-Carlo minibatch gradients against paper Eq. (8), mean z-score over entries",
          "the Monte-Carlo covariance differs from paper Eq. (8) beyond its sampling error"),
    Claim("R2", "decoupling approximation", "chapters/noise_hessian", "decoupling",
          "max_abs_z_top1", None, "paper Fig. 1: the two spectra agree",
          "largest |z| of the exact against the decoupled top eigenvalue over the training stages",
          "the decoupled top eigenvalue differs from the exact one beyond its seed spread",
          tolerance=Z_AGREE),
    Claim("R3", "Σ ≈ (2L/B)H near a minimum", "chapters/noise_hessian", "noise-hessian",
          "mlp_top1_ratio", ("theory", "mlp_top1_ratio"), "paper Eqs. (6), (9), derived",
          "top eigenvalue of the exact noise covariance over that of c(2L/B)·Hessian, c = (N−B)/(N−1) "
          "(true Hessian by Lanczos)",
          "on the network the noise's top eigenvalue is not c(2L/B) times the Hessian's"),
    Claim("R4", "noise strength 𝒩 ∝ L", "chapters/noise_strength", "noise-strength",
          "slope", ("theory", "slope"), "paper Fig. 2: 𝒩 tracks L on log–log axes",
          "log–log slope of 𝒩 against L over seeds, against 1",
          "the late-training slope of 𝒩 against L is above 1: the residuals' coupling to the "
          "kernel drifts (the chapter splits the slope into measured factors)"),
    Claim("R5", "cross-entropy: 𝒩 ∝ L, then L²", "chapters/noise_strength", "noise-strength-ce",
          "slope", ("theory", "slope"), "paper Fig. 5: slope 1 at intermediate loss, 2 at small loss",
          "late-training log–log slope of 𝒩 against L over seeds, against 2 (the small-loss claim)",
          "the late slope is below 2: the kernel grows as the loss falls (the chapter splits the "
          "slope into measured factors; without the kernel's term it is consistent with 2)"),
    Claim("R6", "random time change to log L", "chapters/stationary", "time-change",
          "phi_difference", ("theory", "phi_difference"), "paper Eqs. (12)–(14), derived",
          "both SDEs simulated; φ of the two time-changed laws differs by exactly 1",
          "the two SDEs do not agree in law after the time change"),
    Claim("R7", "power-law stationary law, φ = 1 + B/(ηh*)", "chapters/stationary", "stationary",
          "phi", ("theory", "phi_theory"), "paper Fig. 3a: fitted φ on the line 1 + B/(ηh*)",
          "maximum-likelihood φ against paper Eq. (17), first (η, B) point; the discrete-time φ "
          "in the chapter",
          "finite η shifts φ away from 1 + B/(ηh*) (the chapter separates discreteness and "
          "curvature variance)"),
    Claim("R8", "power-law escape rate", "chapters/escape", None, None, None,
          "paper Eq. (15), Kramers–Laplace derivation (paper App. B)",
          "the theorem restates it with every assumption where it is used",
          "the derivation needs hᵢˢ = hᵢ* in the transverse directions, which paper App. B does not state"),
    Claim("R9", "first passage, linear regression: paper Fig. 3b", "chapters/escape",
          "first-passage-linreg", "slope", ("theory", "slope"),
          "paper Fig. 3b: slopes B/(ηh*) + 1 − d/2, here d = 1 on the declared window",
          "censoring-aware t_p per threshold and a weighted fit; the local-slope curve below",
          "on this window SGD's slope differs from paper Eq. (15) at this η and N; the local-slope "
          "curve of the next row shows where and why"),
    Claim("R9", "first passage, linear regression: local slope", "chapters/escape", "first-passage-curve",
          "slope_window", ("theory", "slope"), "paper Fig. 3b: slopes B/(ηh*) + 1 − d/2",
          "exact mean first-passage time of the discrete 1-d SGD chain; SDE quadratures",
          "the agreement holds on c ≲ 1.5 only, which is not the asymptotic regime; SGD escapes "
          "by single large kicks no SDE has"),
    Claim("R10", "first passage, network", "chapters/escape", "first-passage-nn",
          "n_fit", ("reference", "n_fit"), "paper Fig. 3c: slopes fitted with n = 9",
          "Kaplan–Meier survival (memoryless escape) and the Hessian's participation ratio",
          "the paper's protocol measures a relaxation, not escape; in the Kramers regime "
          "Assumption 4.6 fails and the fitted n is not the paper's"),
    Claim("R11", "Hessian outliers: λ₁", "chapters/escape", "hessian-outliers",
          "lambda_max", ("reference", "lambda_max"), "paper Fig. 6: λ₁ = 95.6",
          "Lanczos against the spectrum of the same Gauss–Newton matrix",
          "our pretrained nets' λ₁ differs from the paper's single net beyond the seed spread"),
    Claim("R11", "Hessian outliers: participation ratio", "chapters/escape", "hessian-outliers",
          "participation_ratio", ("reference", "participation_ratio"),
          "paper App. E: participation ratio 12.7",
          "Lanczos against the spectrum of the same Gauss–Newton matrix",
          "our pretrained nets' participation ratio differs from the paper's beyond the seed spread"),
    Claim("R12", "critical effective dimension", "chapters/escape", "critical-dimension",
          "crossover_dimension", ("theory", "n_c"), "paper Eq. (16): n_c = 2(B/(ηh*) + 1)",
          "the Lyapunov exponent of discrete SGD (tolerance: the grid step of d near the "
          "crossover, 1)",
          "discrete SGD stops trapping at the Lyapunov critical dimension, below paper Eq. (16)'s n_c",
          tolerance=1.0),
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


def verdict(claim: Claim, summary: Mapping[str, Any] | None) -> tuple[str, str]:
    """The verdict on ``claim`` from one run's summary, and the statistic behind it.

    Returns ``("not yet run", "")`` without a summary, ``("derivation", ...)`` for a claim
    with no experiment, else ``("reproduced" | "not reproduced", "z = …")``.  A summary
    whose keys do not hold the claim's value raises :class:`KeyError`: the report must
    follow the experiments' keys, not hide a renamed one.
    """
    if claim.experiment is None:
        return "derivation", "proved in the chapter, assumptions stated"
    if summary is None:
        return "not yet run", ""
    m = summary["measured"][claim.key]
    value, stderr = _number(m["value"]), _number(m["stderr"])
    target = 0.0 if claim.target is None else _number(summary[claim.target[0]][claim.target[1]])
    if not (math.isfinite(value) and math.isfinite(target)):
        return "not reproduced", "no finite value (see the chapter)"
    if claim.tolerance is not None and not math.isfinite(stderr):
        gap = abs(value - target)
        ok = gap <= claim.tolerance
        return ("reproduced" if ok else "not reproduced"), f"|Δ| = {gap:.3g} (tolerance {claim.tolerance:g})"
    if not (math.isfinite(stderr) and stderr > 0):
        return "not reproduced", "no standard error to test with"
    z = (value - target) / stderr
    return ("reproduced" if abs(z) <= Z_AGREE else "not reproduced"), f"z = {z:+.1f}"


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
        sentence when a run does not reproduce it, else "".
    """
    rows = []
    for claim in CLAIMS:
        run_book = book.get(claim.experiment) if claim.experiment else None
        run_paper = store.get(claim.experiment) if claim.experiment else None
        source = run_book or run_paper
        if claim.experiment is None:
            target = "—"
        elif claim.target is None:
            target = "no difference (0)" if claim.tolerance is None else f"|z| ≤ {claim.tolerance:g}"
        elif source is None:
            target = "—"
        else:
            target = _fmt(_number(source[claim.target[0]][claim.target[1]]))
        cells = {"book": _cell(claim, run_book), "paper_scale": _cell(claim, run_paper)}
        disagree = any(c["verdict"][0] == "not reproduced" for c in cells.values()) or \
            claim.experiment is None
        rows.append({"claim": claim, "target": target, **cells,
                     "reason": claim.disagreement if disagree else ""})
    return rows


def load_store(root: str | Path = "results") -> dict[str, dict[str, Any]]:
    """The paper-scale summaries in the results store, by experiment name.

    The store holds complete run folders (``<root>/<name>/summary.json`` with
    ``complete.json``), as written by ``python -m logloss run NAME --scale paper --out``.
    Folders without ``complete.json`` are unfinished and ignored; a run that is not at the
    paper scale, or two runs of one experiment, are errors.
    """
    root = Path(root)
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else ():
        if not (folder / "complete.json").is_file():
            continue
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError) as exc:
            raise CorruptFile(f"results store: {folder}/summary.json is unreadable ({exc})") from None
        name = summary["experiment"]
        if summary.get("scale") != "paper":
            raise CorruptFile(f"results store: {folder} holds a {summary.get('scale')!r} run, "
                              "not a paper-scale one")
        if name in out:
            raise CorruptFile(f"results store: two runs of {name!r} ({folder})")
        out[name] = summary
    return out

