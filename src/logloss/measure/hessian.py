"""Hessian outliers of any PyTorch model through the Gauss–Newton matrix (App. E).

Near a minimum the Hessian of the mean-square loss L = (1/N) Σ_μ ½‖f(θ, x_μ) − y_μ‖² is
approximated by the Gauss–Newton matrix (Eq. 44)

    H ≈ (1/N) Σ_μ J_μᵀ J_μ = JᵀJ / N,     J_μ = ∂f(θ, x_μ)/∂θ  (K × P for K outputs),

which needs only first derivatives and does not involve the targets.  Its nonzero
spectrum equals that of the (NK) × (NK) Gram matrix JJᵀ/N, so the smaller of the two is
diagonalised when it is small enough (``method="dense"``: every eigenvalue, exact
traces).  Otherwise the top-k eigenvalues come from Lanczos (``scipy.sparse.linalg.eigsh``)
on a ``LinearOperator`` v ↦ Jᵀ(Jv)/N; tr H = ‖J‖²_F/N is exact, and tr H² is the sum
of the squared top-k eigenvalues plus a Hutchinson estimate on the deflated remainder
(with its standard error).  The effective dimension is the participation ratio
n = (Σ p_i²)⁻¹ with p_i = h_i/Σ_j h_j (Eq. 45), that is n = (tr H)²/tr H².

References: Mori et al. (2022), Eqs. (44)–(45) and App. E.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn

from .gradients import jacobian

__all__ = [
    "HessianSpectrum",
    "gauss_newton",
    "hessian_outliers",
    "participation_ratio",
    "spectral_density",
]


def participation_ratio(eigenvalues) -> float:
    """n = (Σ_i p_i²)⁻¹ with p_i = h_i / Σ_j h_j (Eq. 45); equals (Σh)²/Σh².

    Parameters
    ----------
    eigenvalues : array_like
        The Hessian eigenvalues h_i (all of them, or all that are not negligible).
    """
    h = np.asarray(eigenvalues, dtype=float)
    if h.size == 0 or not np.all(np.isfinite(h)):
        raise ValueError("eigenvalues h_i must be a non-empty array of finite numbers")
    s2 = float(np.sum(h**2))
    if s2 == 0:
        raise ValueError("all eigenvalues h_i are zero: the participation ratio is undefined")
    return float(np.sum(h) ** 2 / s2)


def gauss_newton(model: nn.Module, x: torch.Tensor, *, chunk_size: int = 512) -> np.ndarray:
    """The dense P × P Gauss–Newton matrix JᵀJ/N (float64), for small models."""
    J = jacobian(model, x, chunk_size=chunk_size).double()
    return (J.T @ J / x.shape[0]).numpy()


@dataclass
class HessianSpectrum:
    """The Gauss–Newton spectrum at θ (Eq. 44).

    Attributes
    ----------
    eigenvalues : ndarray
        The top eigenvalues h_1 ≥ h_2 ≥ ... (all P of them when ``exact``).
    trace, trace_sq : float
        tr H and tr H².
    trace_sq_stderr : float
        Standard error of tr H² (0 when exact).
    participation_ratio, participation_ratio_stderr : float
        n = (tr H)²/tr H² (Eq. 45) and its standard error.
    P, N : int
        Parameters and samples.
    method : str
        ``"dense"`` or ``"lanczos"``.
    eigenvectors : ndarray, shape (P, k)
        Eigenvectors of the top-k eigenvalues.
    """

    eigenvalues: np.ndarray
    trace: float
    trace_sq: float
    trace_sq_stderr: float
    participation_ratio: float
    participation_ratio_stderr: float
    P: int
    N: int
    method: str
    eigenvectors: np.ndarray = field(repr=False, default=None)

    @property
    def exact(self) -> bool:
        return self.method == "dense"

    @property
    def lambda_max(self) -> float:
        """The largest eigenvalue λ₁ = h₁ (identified with h* in Eq. 15)."""
        return float(self.eigenvalues[0])

    def top(self, k: int = 30) -> np.ndarray:
        return self.eigenvalues[:k]


def _operator(J: torch.Tensor, N: int) -> LinearOperator:
    P = J.shape[1]

    def matmat(V):
        V = torch.as_tensor(np.asarray(V).reshape(P, -1), dtype=J.dtype)
        return (J.T @ (J @ V) / N).double().numpy()

    return LinearOperator((P, P), matvec=lambda v: matmat(v).ravel(), matmat=matmat,
                          dtype=np.float64)


def hessian_outliers(
    model: nn.Module,
    x: torch.Tensor,
    *,
    k: int = 30,
    method: str = "auto",
    dense_limit: int = 3000,
    probes: int = 64,
    seed: int = 0,
    chunk_size: int = 512,
    J: torch.Tensor | None = None,
) -> HessianSpectrum:
    """Top-k eigenvalues, traces and participation ratio of the Gauss–Newton matrix.

    Parameters
    ----------
    model : nn.Module
        Any model (scalar or vector output); evaluated at its current parameters.
    x : Tensor, shape (N, ...)
        The training inputs (the targets do not enter Eq. 44).
    k : int
        Number of top eigenvalues h_1 ≥ ... ≥ h_k.
    method : {"auto", "dense", "lanczos"}
        ``"dense"`` diagonalises the smaller of JᵀJ/N and JJᵀ/N (all eigenvalues);
        ``"lanczos"`` runs ``eigsh`` on v ↦ Jᵀ(Jv)/N; ``"auto"`` picks dense when
        min(N·K, P) ≤ ``dense_limit``.
    probes : int
        Rademacher probes of the deflated Hutchinson estimate of tr H² (Lanczos only).
    seed : int
        Seed of the Lanczos start vector and the probes.
    chunk_size : int
        Samples per Jacobian chunk.
    J : Tensor, optional
        A Jacobian already computed by :func:`jacobian` for this model and ``x``.

    Notes
    -----
    J (N·K × P floats) is held in memory: 315 MB in float32 for the paper's 784-10-1 net
    on 10⁴ images.  For bigger problems pass a subset of the data.
    """
    if method not in ("auto", "dense", "lanczos"):
        raise ValueError(f"method must be auto, dense or lanczos, got {method!r}")
    N = int(x.shape[0])
    if J is None:
        J = jacobian(model, x, chunk_size=chunk_size)
    J = J.detach()
    M, P = J.shape
    k = int(min(k, P))
    if method == "auto":
        method = "dense" if min(M, P) <= dense_limit else "lanczos"
    trace = float((J.double() ** 2).sum() / N)
    if method == "dense":
        Jd = J.double()
        if M <= P:
            w, U = torch.linalg.eigh(Jd @ Jd.T / N)
            w = w.clamp_min(0).flip(0)
            U = U.flip(1)[:, :k]
            # eigenvectors of JᵀJ/N from those of JJᵀ/N: v = Jᵀu/√(N h)
            V = (Jd.T @ U) / torch.sqrt(N * w[:k].clamp_min(1e-300))
            h = np.concatenate([w.numpy(), np.zeros(P - M)])
        else:
            w, V = torch.linalg.eigh(Jd.T @ Jd / N)
            h = w.clamp_min(0).flip(0).numpy()
            V = V.flip(1)[:, :k]
        trsq = float(np.sum(h**2))
        pr = trace**2 / trsq
        return HessianSpectrum(h, trace, trsq, 0.0, pr, 0.0, P, N, "dense", V.numpy())
    rng = np.random.default_rng(seed)
    op = _operator(J, N)
    w, V = eigsh(op, k=k, which="LA", v0=rng.standard_normal(P), tol=1e-6)
    order = np.argsort(w)[::-1]
    w, V = np.clip(w[order], 0, None), V[:, order]
    # Deflated Hutchinson: tr H² = Σ_{i≤k} h_i² + E‖P⊥ H P⊥ z‖², P⊥ = I − VVᵀ.
    Z = rng.choice([-1.0, 1.0], size=(P, probes))
    Z -= V @ (V.T @ Z)
    Y = op.matmat(Z)
    Y -= V @ (V.T @ Y)
    s = (Y**2).sum(axis=0)
    tail, tail_se = float(s.mean()), float(s.std(ddof=1) / np.sqrt(probes))
    trsq = float(np.sum(w**2)) + tail
    pr = trace**2 / trsq
    return HessianSpectrum(w, trace, trsq, tail_se, pr, pr * tail_se / trsq, P, N, "lanczos", V)


def spectral_density(
    J: torch.Tensor,
    N: int,
    *,
    steps: int = 80,
    probes: int = 4,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalue counts of JᵀJ/N by stochastic Lanczos quadrature.

    For each Rademacher probe z, ``steps`` Lanczos iterations (full reorthogonalisation)
    give Ritz values θ_j and weights τ_j = (first component of the j-th Ritz vector)²;
    P·τ_j is the number of eigenvalues that the node θ_j stands for.  Averaged over
    probes this is an unbiased estimate of the spectral measure tested against
    polynomials of degree < 2·steps (Ubaru, Chen & Saad 2017).

    Parameters
    ----------
    J : Tensor, shape (N·K, P)
        The Jacobian from :func:`jacobian`.
    N : int
        Number of samples (H = JᵀJ/N).

    Returns
    -------
    nodes, counts : ndarray, shape (probes · steps,)
        Ritz values and the number of eigenvalues each stands for (they sum to P).
    """
    P = J.shape[1]
    op = _operator(J, N)
    rng = np.random.default_rng(seed)
    nodes, counts = [], []
    m = min(steps, P)
    for _ in range(probes):
        q = rng.choice([-1.0, 1.0], size=P) / np.sqrt(P)
        Q = np.zeros((P, m))
        alpha, beta = np.zeros(m), np.zeros(m)
        for j in range(m):
            Q[:, j] = q
            w = op.matvec(q)
            alpha[j] = q @ w
            w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
            w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
            if j + 1 < m:
                beta[j] = np.linalg.norm(w)
                if beta[j] < 1e-12:
                    m = j + 1
                    break
                q = w / beta[j]
        T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
        theta, S = np.linalg.eigh(T)
        nodes.append(theta)
        counts.append(P * S[0] ** 2 / probes)
    return np.concatenate(nodes), np.concatenate(counts)
