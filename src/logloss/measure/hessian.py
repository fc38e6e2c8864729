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

from ..core.errors import InvalidInput
from ..core.validation import check_positive_int
from ._guard import check, check_chunk_size, check_fits, unchanged
from .gradients import _jacobian

__all__ = [
    "HessianSpectrum",
    "gauss_newton",
    "hessian_outliers",
    "participation_ratio",
    "spectral_density",
    "hessian_top_eigenvalues",
    "SolverCheck",
    "lanczos_dense_check",
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
        raise InvalidInput("eigenvalues h_i must be a non-empty array of finite numbers")
    s2 = float(np.sum(h**2))
    if s2 == 0:
        raise InvalidInput("all eigenvalues h_i are zero: the participation ratio is undefined")
    return float(np.sum(h) ** 2 / s2)


def _model_jacobian(model: nn.Module, x: torch.Tensor, chunk_size) -> tuple[torch.Tensor, int]:
    """J of a checked model (see :func:`~logloss.measure.gradients.jacobian`) and its frozen count."""
    chunk = check_chunk_size(chunk_size)
    with unchanged(model):
        c = check(model, x)
        rows = int(x.shape[0]) * int(np.prod(c.out_shape[1:], dtype=np.int64))
        check_fits(rows, c.P, torch.empty((), dtype=c.dtype).element_size(), x.device,
                   "the Jacobian J (N·K × P)")
        return _jacobian(model, x, c, chunk), c.frozen


def gauss_newton(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None) -> np.ndarray:
    """The dense P × P Gauss–Newton matrix JᵀJ/N (float64), for small models."""
    J = _model_jacobian(model, x, chunk_size)[0].double()
    return (J.T @ J / x.shape[0]).cpu().numpy()


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
        Trainable parameters and samples.
    method : str
        ``"dense"`` or ``"lanczos"``.
    eigenvectors : ndarray, shape (P, k)
        Eigenvectors of the top-k eigenvalues.
    frozen : int
        Parameter entries with ``requires_grad=False``, excluded from θ (0 when J is given).
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
    frozen: int = 0

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
        V = torch.as_tensor(np.asarray(V).reshape(P, -1), dtype=J.dtype, device=J.device)
        return (J.T @ (J @ V) / N).double().cpu().numpy()

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
    chunk_size: int | None = None,
    J: torch.Tensor | None = None,
) -> HessianSpectrum:
    """Top-k eigenvalues, traces and participation ratio of the Gauss–Newton matrix.

    Parameters
    ----------
    model : nn.Module
        A model (scalar or vector output) as in
        :func:`~logloss.measure.gradients.jacobian` (BatchNorm and dropout only in eval
        mode); evaluated at its current parameters and left exactly as it was.
    x : Tensor, shape (N, ...)
        The training inputs (the targets do not enter Eq. 44).
    k : int
        Number of top eigenvalues h_1 ≥ ... ≥ h_k (an integer ≥ 1; the dense route returns
        all P eigenvalues and keeps min(k, P) eigenvectors).
    method : {"auto", "dense", "lanczos"}
        ``"dense"`` diagonalises the smaller of JᵀJ/N and JJᵀ/N (all eigenvalues);
        ``"lanczos"`` runs ``eigsh`` on v ↦ Jᵀ(Jv)/N and needs k < P; ``"auto"`` picks
        dense when min(N·K, P) ≤ ``dense_limit`` or k ≥ P.
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
        raise InvalidInput(f"method must be auto, dense or lanczos, got {method!r}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInput(f"number of eigenvalues k must be an integer >= 1, got {k!r}")
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[0] == 0:
        raise InvalidInput("inputs x must be a tensor with at least one sample")
    N = int(x.shape[0])
    frozen = 0
    if J is None:
        J, frozen = _model_jacobian(model, x, chunk_size)
    J = J.detach()
    if J.dim() != 2 or J.shape[0] % N:
        raise InvalidInput(f"J must be the (N·K × P) Jacobian of the N = {N} inputs, got shape "
                           f"{tuple(J.shape)}")
    M, P = J.shape
    if method == "lanczos":
        probes = check_positive_int(probes, "probes")
        if k >= P:
            raise InvalidInput(f"method='lanczos' needs k < P, got k={k} for P={P} parameters; "
                               "use method='dense' (all eigenvalues) or a smaller k")
        if probes < 2:
            raise InvalidInput("method='lanczos' needs probes >= 2 for the standard error of tr H²")
    k = int(min(k, P))
    if method == "auto":
        method = "dense" if min(M, P) <= dense_limit or k >= P else "lanczos"
        if method == "lanczos" and probes < 2:
            raise InvalidInput(f"probes must be an integer >= 2, got {probes!r}")
    trace = float((J.double() ** 2).sum() / N)
    if method == "dense":
        Jd = J.double()
        if M <= P:
            w, U = torch.linalg.eigh(Jd @ Jd.T / N)
            w = w.clamp_min(0).flip(0)
            U = U.flip(1)[:, :k]
            # eigenvectors of JᵀJ/N from those of JJᵀ/N: v = Jᵀu/√(N h)
            V = (Jd.T @ U) / torch.sqrt(N * w[:k].clamp_min(1e-300))
            h = np.concatenate([w.cpu().numpy(), np.zeros(P - M)])
        else:
            w, V = torch.linalg.eigh(Jd.T @ Jd / N)
            h = w.clamp_min(0).flip(0).cpu().numpy()
            V = V.flip(1)[:, :k]
        trsq = float(np.sum(h**2))
        pr = trace**2 / trsq
        return HessianSpectrum(h, trace, trsq, 0.0, pr, 0.0, P, N, "dense", V.cpu().numpy(), frozen)
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
    return HessianSpectrum(w, trace, trsq, tail_se, pr, pr * tail_se / trsq, P, N, "lanczos", V, frozen)


@dataclass
class SolverCheck:
    """Lanczos top-k eigenvalues of JᵀJ/N against a dense eigensolver on JJᵀ/N.

    Attributes
    ----------
    lanczos, dense : ndarray, shape (k,)
        Top-k eigenvalues h_1 ≥ ... ≥ h_k from each route.
    lanczos_residual, dense_residual : ndarray, shape (k,)
        ‖H v_i − h_i v_i‖ of each unit eigenvector, in float64 (for Lanczos, H = JᵀJ/N;
        for the dense route, the Gram matrix JJᵀ/N).
    bound : float
        ‖R_L‖₂ + ‖R_D‖₂, the spectral norms of the two residual blocks.  For orthonormal
        approximate eigenvectors V of a symmetric matrix with residual block R, there are k
        eigenvalues, one within ‖R‖₂ of each approximate one (Kahan's theorem, in Parlett,
        *The Symmetric Eigenvalue Problem*, ch. 11), so two routes that both found the
        top k differ by at most ``bound`` index by index.
    """

    lanczos: np.ndarray
    dense: np.ndarray
    lanczos_residual: np.ndarray
    dense_residual: np.ndarray
    bound: float

    @property
    def worst(self) -> float:
        """max_i |h_i^Lanczos − h_i^dense| / bound (≤ 1 when the routes agree)."""
        return float(np.max(np.abs(self.lanczos - self.dense)) / self.bound)


def lanczos_dense_check(model: nn.Module, x: torch.Tensor, *, k: int = 10, seed: int = 0,
                        chunk_size: int | None = None) -> SolverCheck:
    """Check the Lanczos top-k eigenvalues of the Gauss–Newton matrix (Eq. 44) densely.

    The Lanczos route of :func:`hessian_outliers` (ARPACK on v ↦ Jᵀ(Jv)/N in the
    model's dtype) is compared with ``torch.linalg.eigh`` of the N × N Gram matrix JJᵀ/N
    in float64, whose nonzero eigenvalues are those of JᵀJ/N; the tolerance is the sum of
    the two routes' float64 residual norms (see :class:`SolverCheck`), not a fixed slack.

    Parameters
    ----------
    model : nn.Module
        As in :func:`hessian_outliers`.
    x : Tensor, shape (N, ...)
        Inputs; N·K must be small enough for a dense eigensolver (a few thousand).
    k : int
        Number of top eigenvalues (k < P and k ≤ N·K).
    seed : int
        Seed of the Lanczos start vector.
    """
    J, _ = _model_jacobian(model, x, chunk_size)
    N = int(x.shape[0])
    M, P = J.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < min(M + 1, P):
        raise InvalidInput(f"k must be an integer in [1, min(N·K, P − 1)] = [1, {min(M, P - 1)}], "
                           f"got {k!r}")
    spec = hessian_outliers(model, x, k=int(k), method="lanczos", seed=seed, J=J)
    Jd = J.double()
    V = torch.from_numpy(np.ascontiguousarray(spec.eigenvectors[:, :k], dtype=np.float64))
    hl = torch.from_numpy(np.asarray(spec.eigenvalues[:k], dtype=np.float64))
    V = V / V.norm(dim=0)
    R_L = Jd.T @ (Jd @ V) / N - V * hl
    w, U = torch.linalg.eigh(Jd @ Jd.T / N)
    w, U = w.flip(0)[:k], U.flip(1)[:, :k]
    R_D = Jd @ (Jd.T @ U) / N - U * w
    return SolverCheck(hl.numpy(), w.numpy(), R_L.norm(dim=0).numpy(), R_D.norm(dim=0).numpy(),
                       float(torch.linalg.matrix_norm(R_L, ord=2) + torch.linalg.matrix_norm(R_D, ord=2)))


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
    nodes, counts : ndarray, shape (≤ probes · steps,)
        Ritz values and the number of eigenvalues each stands for (they sum to P).  A
        probe whose Krylov space breaks down after m < steps iterations contributes m
        nodes; the other probes still run ``steps`` iterations.
    """
    if not isinstance(J, torch.Tensor) or J.dim() != 2:
        raise InvalidInput("J must be a 2-d tensor, the (N·K × P) Jacobian")
    N = check_positive_int(N, "number of samples N")
    steps = check_positive_int(steps, "Lanczos steps")
    probes = check_positive_int(probes, "probes")
    P = J.shape[1]
    op = _operator(J, N)
    rng = np.random.default_rng(seed)
    nodes, counts = [], []
    for _ in range(probes):
        q = rng.choice([-1.0, 1.0], size=P) / np.sqrt(P)
        theta, tau = _lanczos_quadrature(op, q, min(steps, P))
        nodes.append(theta)
        counts.append(P * tau / probes)
    return np.concatenate(nodes), np.concatenate(counts)


def _lanczos_quadrature(op: LinearOperator, q: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values and weights of ≤ ``steps`` Lanczos iterations from the unit vector q.

    A Krylov breakdown (β_j ≈ 0: the Krylov space of q is invariant) ends *this* probe
    early, with fewer nodes whose weights still sum to one; it never shortens other probes.
    """
    P = q.shape[0]
    Q = np.zeros((P, steps))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    m = steps
    for j in range(steps):
        Q[:, j] = q
        w = op.matvec(q)
        alpha[j] = q @ w
        w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
        w -= Q[:, : j + 1] @ (Q[:, : j + 1].T @ w)
        if j + 1 < steps:
            beta[j] = np.linalg.norm(w)
            if beta[j] < 1e-12 * max(1.0, abs(alpha[: j + 1]).max()):
                m = j + 1
                break
            q = w / beta[j]
    T = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    theta, S = np.linalg.eigh(T)
    return theta, S[0] ** 2


def hessian_top_eigenvalues(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, k: int = 10,
                            loss="mse", tol: float = 1e-8) -> np.ndarray:
    """Top-k eigenvalues of the true Hessian ∇²L of L = (1/N) Σ ℓ_μ, by Lanczos on
    Hessian–vector products (float64), descending.

    Unlike :func:`hessian_outliers` (the Gauss–Newton matrix, Eq. 44) this includes the
    residual term Σ_μ ℓ'_μ ∇²f_μ, so it is the matrix the Gauss–Newton approximation is
    tested against.  The model is not changed: a float64 copy is differentiated.

    Parameters
    ----------
    model : nn.Module
        The network, at its current parameters θ.
    x, y : Tensor
        Inputs and targets.
    k : int
        Number of eigenvalues (1 ≤ k < P).
    loss : str or callable
        ``"mse"``, ``"ce"`` or a per-sample loss ``loss(output, target) -> (batch,)``.
    """
    import copy

    from torch.func import functional_call, grad, jvp

    from .losses import get_loss

    loss_fn = get_loss(loss) if isinstance(loss, str) else loss
    net = copy.deepcopy(model).double()
    names = [n for n, q in net.named_parameters() if q.requires_grad]
    params = [q for q in net.parameters() if q.requires_grad]
    shapes, sizes = [q.shape for q in params], [q.numel() for q in params]
    P = sum(sizes)
    if int(k) != k or not 1 <= k < P:
        raise InvalidInput(f"k must be an integer in [1, P) = [1, {P}), got {k!r}")
    theta0 = torch.cat([q.detach().reshape(-1) for q in params])
    xd, yd = x.double(), y.double() if torch.is_floating_point(y) else y

    def unflat(v):
        return {n: t.reshape(s) for n, t, s in zip(names, torch.split(v, sizes), shapes)}

    def L(v):
        return loss_fn(functional_call(net, unflat(v), (xd,)), yd).mean()

    gL = grad(L)

    def hvp(v):
        v = torch.from_numpy(np.asarray(v)).reshape(-1).to(theta0.device)
        return jvp(gL, (theta0,), (v,))[1].cpu().numpy()

    op = LinearOperator((P, P), matvec=hvp, dtype=np.float64)
    vals = eigsh(op, k=int(k), which="LA", tol=tol, v0=np.ones(P) / np.sqrt(P))[0]
    return np.sort(vals)[::-1]

