"""The escape exponent predicted for a trained model at the reader's η and B (Eqs. 15–16)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from .. import theory
from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_batch_size, check_learning_rate
from .hessian import HessianSpectrum, hessian_outliers

__all__ = ["EscapePrediction", "predict_escape"]

#: ηλ₁ above this is close to the stability edge ηλ₁ = 2 of gradient descent.
STABILITY_MARGIN = 1.0


@dataclass(frozen=True, kw_only=True)
class EscapePrediction:
    """What Eqs. (15)–(16) predict for a minimum, with the warnings that limit them.

    Attributes
    ----------
    eta, B : float
        The learning rate η and minibatch size B asked about.
    h_star : float
        h* = λ₁, the top eigenvalue of the (generalised) Gauss–Newton matrix (Eq. 44).
    n : Measured
        The effective dimension, the participation ratio (Eq. 45), with its standard error.
    exponent : Measured
        B/(ηh*) + 1 − n/2: t_p ∝ c^exponent (Eq. 15).
    n_c : float
        The critical dimension 2(B/(ηh*) + 1) (Eq. 16).
    eta_lambda : float
        ηλ₁; the weak-noise theory needs it well below the stability edge 2.
    warnings : tuple of str
        Why the prediction may not apply here (empty when none applies).
    spectrum : HessianSpectrum
        The spectrum it came from.
    """

    eta: float
    B: float
    h_star: float
    n: Measured
    exponent: Measured
    n_c: float
    eta_lambda: float
    warnings: tuple[str, ...]
    spectrum: HessianSpectrum


def predict_escape(model: nn.Module, x, y=None, *, eta: float, B: int, loss: str = "mse",
                   k: int = 30, seed: int = 0, tol: float = 1e-6, trace: str | None = "auto",
                   dtype=None, chunk_size: int | None = None) -> EscapePrediction:
    """Predict the escape exponent of the minimum the model sits in, at learning rate η and
    minibatch size B.

    Parameters
    ----------
    model : nn.Module
        A trained model, evaluated at its current parameters θ* (assumed a minimum).
    x : Tensor or DataLoader
        The training inputs (N, ...) (the GGN of these losses does not depend on the
        targets), or a DataLoader of x or (x, y) batches.
    y : Tensor, optional
        Targets (not needed; accepted so that (x, y) can be passed as for the other tools).
    eta : float
        Learning rate η.
    B : int
        Minibatch size B (1 ≤ B ≤ N).
    loss : {"mse", "ce"}
        The loss the model is trained with; it sets the GGN's output-space weights.
    k : int
        Number of top eigenvalues computed.
    seed : int
        Seed of the Lanczos start vector and probes.
    tol, trace, dtype, chunk_size
        As in :func:`~logloss.measure.hessian.hessian_outliers` (``trace`` must not be None:
        n needs the traces).

    Notes
    -----
    Eq. (15) is a weak-noise (η/B → 0) asymptotic around a quadratic minimum in which the
    noise is proportional to the loss.  A warning is issued (and recorded) when n ≥ n_c
    (SGD is not trapped at all, Eq. 16) and when ηλ₁ > 1 (near the edge of stability 2,
    where discrete-time effects dominate).  The spectrum is the matrix-free GGN of
    :func:`~logloss.measure.hessian.hessian_outliers`.
    """
    eta = check_learning_rate(eta)
    if not isinstance(x, torch.Tensor) and not isinstance(x, torch.utils.data.DataLoader):
        raise InvalidInput(f"inputs x must be a torch.Tensor or a DataLoader, got {type(x).__name__}")
    N = int(x.shape[0]) if isinstance(x, torch.Tensor) else len(x.dataset)
    B = check_batch_size(B, N)
    if loss not in {"mse", "ce"}:
        raise InvalidInput(f"loss must be 'mse' or 'ce', got {loss!r}")
    if trace is None:
        raise InvalidInput("predict_escape needs the traces for n: trace must not be None")
    spec = hessian_outliers(model, x, y, loss=loss, k=k, seed=seed,
                            tol=tol, trace=trace, dtype=dtype, chunk_size=chunk_size)
    h = spec.lambda_max
    n = Measured(spec.participation_ratio, spec.participation_ratio_stderr)
    exponent = theory.escape_exponent(eta=eta, B=B, h=h, n=n.value)
    n_c = theory.critical_dimension(eta=eta, B=B, h=h)
    notes = []
    if n.value >= n_c:
        notes.append(f"n = {n.value:.3g} >= n_c = {n_c:.3g}: this minimum does not trap SGD at "
                     f"eta={eta:g}, B={B} (paper Eq. (16)); the escape law does not apply")
    if eta * h > STABILITY_MARGIN:
        notes.append(f"eta*lambda_1 = {eta * h:.3g} is close to the stability edge 2: the "
                     "weak-noise escape formula (paper Eq. (15)) does not apply")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return EscapePrediction(eta=eta, B=B, h_star=h, n=n, exponent=Measured(exponent, 0.5 * n.stderr),
                            n_c=n_c, eta_lambda=eta * h, warnings=tuple(notes), spectrum=spec)
