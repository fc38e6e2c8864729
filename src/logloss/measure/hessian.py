"""Hessian outliers of any PyTorch model through the Gauss–Newton matrix (App. E).

Near a minimum the Hessian of the mean-square loss L = (1/N) Σ_μ ½‖f(θ, x_μ) − y_μ‖² is
approximated by the Gauss–Newton matrix (Eq. 44)

    H ≈ (1/N) Σ_μ J_μᵀ J_μ = JᵀJ / N,     J_μ = ∂f(θ, x_μ)/∂θ  (K × P for K outputs),

which needs only first derivatives and does not involve the targets; for the
cross-entropy the generalised Gauss–Newton matrix (1/N) Σ J_μᵀ Λ_μ J_μ weights the outputs
by the loss's Hessian Λ_μ (:mod:`logloss.measure.curvature`), and the Hessian itself is
available too.  The top-k eigenvalues come from Lanczos with thick restarts
(:func:`top_eigenpairs`) on the matrix-free products of :class:`~logloss.measure.curvature.CurvatureOperator`,
which never form J.  The traces: tr H exactly from per-sample norms (the GGN of the
mean-square and cross-entropy losses: tr G = (1/N) Σ_μ ‖A_μᵀJ_μ‖²_F with A_μA_μᵀ = Λ_μ),
or estimated; tr H² as Σ_{i≤k} h_i² plus a Hutchinson estimate on the remainder
deflated by the Lanczos eigenvectors (the Hutch++ idea with a Krylov sketch), each with
its standard error.  The effective dimension is the participation ratio
n = (Σ p_i²)⁻¹ with p_i = h_i/Σ_j h_j (Eq. 45), that is n = (tr H)²/tr H².  A dense
route (every eigenvalue, exact traces) is taken when asked, when all eigenvalues are
asked for, or for problems so small that it is faster; the result says which.

References: Mori et al. (2022), Eqs. (44)–(45) and App. E; Meyer, Musco, Musco &
Woodruff (2021), Hutch++.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator
from torch import nn

from ..core.errors import InvalidInput
from ..core.measured import Measured
from ..core.validation import check_positive_int
from ._guard import (
    available_memory,
    check,
    check_chunk_size,
    check_fits,
    substituted,
    torch_errors,
    unchanged,
)
from .curvature import CurvatureOperator
from .ggn import loss_hessian_factor
from .gradients import FAST_CHUNK, _grad_stats, _jacobian
from .losses import cross_entropy_per_sample, mse_per_sample, resolve_loss

__all__ = [
    "HessianSpectrum",
    "gauss_newton",
    "hessian_outliers",
    "participation_ratio",
    "spectral_density",
    "hessian_top_eigenvalues",
    "SolverCheck",
    "lanczos_dense_check",
    "top_eigenpairs",
]

#: ``method="auto"`` diagonalises densely when min(N·K, P) is at most this.  Measured on
#: tanh MLPs with one thread (top 5 with traces): dense 44 ms against Lanczos 108 ms at
#: min = 300, 120 against 86 ms at 400, 576 against 156 ms at 800.
DENSE_LIMIT = 300
#: Probe vectors passed to the operator at once by the deflated Hutchinson estimate.
PROBE_BLOCK = 8


def participation_ratio(eigenvalues, x=None, y=None, **kwargs):
    """n = (Σ_i p_i²)⁻¹ with p_i = h_i / Σ_j h_j (Eq. 45); equals (Σh)²/Σh².

    Parameters
    ----------
    eigenvalues : array_like or nn.Module
        The Hessian eigenvalues h_i (all of them, or all that are not negligible); or a
        model, with its data ``x`` (and ``y``) and the keyword arguments of
        :func:`hessian_outliers`, whose matrix-free traces give n.

    Returns
    -------
    float, or Measured
        n from eigenvalues; from a model, n with its standard error (:class:`Measured`).
    """
    if isinstance(eigenvalues, nn.Module):
        spec = hessian_outliers(eigenvalues, x, y, **kwargs)
        return Measured(spec.participation_ratio, spec.participation_ratio_stderr)
    if x is not None or y is not None or kwargs:
        raise InvalidInput("participation_ratio takes eigenvalues alone, or a model with its data")
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
    """The top of the (generalised) Gauss–Newton or Hessian spectrum at θ (Eq. 44).

    Attributes
    ----------
    eigenvalues : ndarray
        The top eigenvalues h_1 ≥ h_2 ≥ ... (all P of them when ``exact``).
    trace, trace_sq : float
        tr H and tr H² (NaN when ``trace=None`` skipped them).
    trace_sq_stderr : float
        Standard error of tr H² (0 when exact).
    participation_ratio, participation_ratio_stderr : float
        n = (tr H)²/tr H² (Eq. 45) and its standard error.
    P, N : int
        Trainable parameters and samples.
    method : str
        ``"dense"`` (every eigenvalue, exact traces) or ``"lanczos"`` (matrix-free).
    eigenvectors : ndarray, shape (P, k)
        Eigenvectors of the top-k eigenvalues.
    frozen : int
        Parameter entries with ``requires_grad=False``, excluded from θ (0 when J is given).
    trace_stderr : float
        Standard error of tr H (0 when exact).
    curvature, loss : str
        ``"ggn"`` or ``"hessian"``, and the loss.
    route : str
        How the matrix was applied or formed, and why (dense or matrix-free, dtype, chunks).
    products : int
        Matrix-vector products used (0 on the dense route).
    peak_bytes : int
        The memory the call was estimated to need, and checked against the free memory.
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
    trace_stderr: float = 0.0
    curvature: str = "ggn"
    loss: str = "mse"
    route: str = ""
    products: int = 0
    peak_bytes: int = 0

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


def top_eigenpairs(matmat, P: int, k: int, *, tol: float = 1e-6, v0=None, ncv: int | None = None,
                   maxiter: int | None = None, device=None) -> tuple[np.ndarray, np.ndarray, int]:
    """The k largest (algebraic) eigenvalues of a symmetric operator and their eigenvectors,
    by Lanczos with full reorthogonalisation and Krylov–Schur (thick) restarts.

    The basis is kept in float64 (ncv × P) and each new vector is orthogonalised against all
    of it (classical Gram–Schmidt); the projected matrix VᵀCV is
    formed from the products, so that after a restart that keeps the best Ritz vectors the
    relation C V = V T + β v eᵀ holds with a full (arrow) T.  A Ritz pair (θ, y) has
    residual ‖Cy − θy‖ = β |s_last|, and the k largest are accepted when every residual is
    at most ``tol``·|θ| (ARPACK's criterion).  Unlike ``scipy.sparse.linalg.eigsh`` the
    basis arithmetic is in torch, under torch's thread setting.  The second
    orthogonalisation pass is made when the first removed more than half of the vector's
    norm (Kahan–Parlett's "twice is enough" test).

    Parameters
    ----------
    matmat : callable
        V (P, m) float64 tensor ↦ C V (P, m) (any floating dtype).
    P, k : int
        Size and number of eigenpairs (1 ≤ k < P).
    tol : float
        Relative residual of the accepted Ritz pairs.
    v0 : array_like, optional
        Start vector (default: ones).
    ncv : int, optional
        Largest basis, default max(2k + 1, 20) (at most P).
    maxiter : int, optional
        Products allowed (default 100·ncv + P, as many as ARPACK's default restarts).

    Returns
    -------
    eigenvalues (k,) descending, eigenvectors (P, k), products used
    """
    m = min(P, max(2 * k + 1, 20) if ncv is None else int(ncv))
    maxiter = 100 * m + P if maxiter is None else int(maxiter)
    f64 = torch.float64
    V = torch.zeros(m + 1, P, dtype=f64, device=device)   # rows: the basis vectors
    T = torch.zeros(m, m, dtype=f64, device=device)
    q = torch.ones(P, dtype=f64, device=device) if v0 is None else torch.as_tensor(
        np.asarray(v0, dtype=np.float64), device=device).reshape(P)
    V[0] = q / q.norm()
    gen = torch.Generator(device="cpu").manual_seed(P)
    start, used, beta = 0, 0, 0.0
    def ritz(j):
        theta, S = torch.linalg.eigh(T[:j + 1, :j + 1])
        theta, S = theta.flip(0), S.flip(1)
        resid = beta * S[j].abs()
        return theta, S, bool((resid[:k] <= tol * theta[:k].abs().clamp_min(1e-300)).all())

    while True:
        for j in range(start, m):
            w = matmat(V[j].reshape(P, 1)).reshape(P).to(f64)
            used += 1
            B = V[:j + 1]
            before = float(w.norm())
            h = B @ w
            w -= h @ B
            if float(w.norm()) < 0.7 * before:  # cancellation: a second pass ("twice is enough")
                h2 = B @ w
                w -= h2 @ B
                h += h2
            T[:j + 1, j] = h
            T[j, :j + 1] = h
            beta = float(w.norm())
            scale = float(T[:j + 1, :j + 1].abs().max()) or 1.0
            if beta > 1e-12 * scale:
                V[j + 1] = w / beta
            else:
                beta = 0.0  # an invariant subspace: go on with a random direction orthogonal to it
                w = torch.randn(P, generator=gen, dtype=f64).to(V.device)
                for _ in range(2):
                    w -= (B @ w) @ B
                V[j + 1] = w / w.norm()
            # the residuals of the Ritz pairs are known at every step: stop as soon as the top
            # k have converged (the small eigenproblem costs nothing next to a product)
            if j + 1 >= k + 1:
                theta, S, done = ritz(j)
                if done:
                    Y = S[:, :k].T @ V[:j + 1]
                    return theta[:k].cpu().numpy(), Y.T.cpu().numpy(), used
        if used >= maxiter:
            raise InvalidInput(f"Lanczos did not converge to tol={tol:g} within {used} products; "
                               "raise tol or k")
        # Krylov–Schur restart: keep the p best Ritz vectors and the residual direction v_m;
        # the next cycle's first product gives the column of v_m (whose first p entries are
        # β s_last, since C Y = Y Θ + β v_m s_lastᵀ)
        p = min(m - 1, k + (m - k) // 2)
        V[:p] = S[:, :p].T @ V[:m]
        V[p] = V[m]
        V[p + 1:] = 0
        T.zero_()
        T[:p, :p] = torch.diag(theta[:p])
        start = p


def _traces_from_probes(mm, V, w, P, probes, rng, exact_trace):
    """tr C and tr C² from the top-k pairs (w, V) and ``probes`` Rademacher vectors on the
    remainder (I − VVᵀ)C(I − VVᵀ), with their standard errors and covariance."""
    Z = rng.choice([-1.0, 1.0], size=(P, probes))
    t, s = np.empty(probes), np.empty(probes)
    for j in range(0, probes, PROBE_BLOCK):
        Zb = Z[:, j:j + PROBE_BLOCK]
        Zb -= V @ (V.T @ Zb)
        Y = mm(Zb)
        t[j:j + PROBE_BLOCK] = (Zb * Y).sum(axis=0)
        Y -= V @ (V.T @ Y)
        s[j:j + PROBE_BLOCK] = (Y**2).sum(axis=0)
    cov = np.cov(np.stack([t, s]), ddof=1) / probes
    trsq = float(np.sum(w**2) + s.mean())
    if exact_trace is not None:
        return exact_trace, 0.0, trsq, float(np.sqrt(cov[1, 1])), 0.0
    return float(np.sum(w) + t.mean()), float(np.sqrt(cov[0, 0])), trsq, float(np.sqrt(cov[1, 1])), float(cov[0, 1])


def _pr(trace, trace_se, trsq, trsq_se, cov):
    """n = (tr)²/tr² and its delta-method standard error."""
    pr = trace**2 / trsq
    var = pr**2 * (4 * trace_se**2 / trace**2 + trsq_se**2 / trsq**2 - 4 * cov / (trace * trsq))
    return pr, float(np.sqrt(max(var, 0.0)))


def _exact_ggn_trace(op: CurvatureOperator, model: nn.Module) -> float:
    """tr G = (1/N) Σ_μ Σ_b ‖∇(A_μ[:, b]ᵀ f_μ)‖² from per-sample squared norms, K passes.

    For the mean-square loss A = I (so tr G = ‖J‖²_F/N); for the cross-entropy A_μ is the
    factor of :func:`~logloss.measure.ggn.loss_hessian_factor`.  Computed with the
    operator's θ (and dtype) on the fast per-sample path where it applies."""
    name = "ce" if op.loss is cross_entropy_per_sample else "mse"

    def linear(out, a):
        return (out.reshape(out.shape[0], -1) * a).sum(dim=1)

    total = 0.0
    with unchanged(model), substituted(model, op.tensors):
        for xb, _ in op.src.batches():
            xs = op._cast(xb)
            c = check(model, xs, batch=FAST_CHUNK)
            with torch.no_grad(), torch_errors():
                A = torch.cat([loss_hessian_factor(model(xs[s:s + FAST_CHUNK]), name)
                               for s in range(0, xs.shape[0], FAST_CHUNK)]).to(op.dtype)  # (n, K, K)
            for b in range(A.shape[2]):
                cb = dataclasses.replace(c, y=A[:, :, b], loss=linear)
                total += float(_grad_stats(model, xs, cb, None, "auto").sq_norms.sum())
    return total / op.N


def _dense_factor(model: nn.Module, x: torch.Tensor, loss: str, chunk) -> tuple[torch.Tensor, int]:
    """J̃ (N·K × P, float64) with J̃ᵀJ̃/N the GGN of ``loss`` ("mse" or "ce")."""
    with unchanged(model):
        c = check(model, x)
        K = math.prod(c.out_shape[1:])
        M, m = int(x.shape[0]) * K, min(int(x.shape[0]) * K, c.P)
        need = M * c.P * 8 * (2 if loss == "ce" else 1) + 3 * m * m * 8
        free = available_memory(x.device)
        if need > free:
            raise InvalidInput(f"the dense route would need about {need / 1e9:.1f} GB (the N·K × P = {M} × "
                               f"{c.P} Jacobian in float64 and the {m} × {m} eigenproblem), more than the "
                               f"{free / 1e9:.1f} GB free; use method='lanczos' (matrix-free)")
        buffers = {n: b.double() for n, b in model.named_buffers() if b.is_floating_point()}
        cd = dataclasses.replace(c, params={n: p.double() for n, p in c.params.items()})
        xd = x.double() if x.is_floating_point() else x
        with substituted(model, buffers):
            J = _jacobian(model, xd, cd, chunk)
            if loss == "ce":
                with torch.no_grad(), torch_errors(), substituted(model, cd.params):
                    out = torch.cat([model(xd[s:s + FAST_CHUNK]) for s in range(0, xd.shape[0], FAST_CHUNK)])
                A = loss_hessian_factor(out, "ce")
                J = torch.einsum("nab,nap->nbp", A, J.reshape(A.shape[0], K, -1)).reshape(M, -1)
    return J, c.frozen


def _dense_spectrum(J: torch.Tensor, N: int, k: int):
    """All eigenvalues of JᵀJ/N (float64), the top-k eigenvectors, from the smaller Gram matrix."""
    M, P = J.shape
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
    return h, V.cpu().numpy()


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInput(f"number of eigenvalues k must be an integer >= 1, got {k!r}")
    return int(k)


def hessian_outliers(
    model: nn.Module,
    x,
    y: torch.Tensor | None = None,
    *,
    loss="mse",
    curvature: str = "ggn",
    k: int = 30,
    tol: float = 1e-6,
    trace: str | None = "auto",
    probes: int = 64,
    seed: int = 0,
    method: str = "auto",
    dtype: torch.dtype | None = None,
    chunk_size: int | None = None,
    cache: bool | None = None,
    dense_limit: int = DENSE_LIMIT,
    J: torch.Tensor | None = None,
) -> HessianSpectrum:
    """Top-k eigenvalues, traces and participation ratio of the (generalised) Gauss–Newton
    matrix or of the Hessian, matrix-free.

    Parameters
    ----------
    model : nn.Module
        A model (any output shape) as in :func:`~logloss.measure.gradients.per_sample_grads`
        (BatchNorm and dropout only in eval mode); evaluated at its current parameters and
        left exactly as it was.
    x : Tensor or DataLoader
        The training inputs (N, ...), or a DataLoader of x or (x, y) batches.
    y : Tensor, optional
        Targets: needed for ``curvature="hessian"`` and for a loss given as a callable
        (the GGN of ``"mse"`` and ``"ce"`` does not depend on them).
    loss : {"mse", "ce"} or callable
        ``"mse"``: the paper's Gauss–Newton matrix JᵀJ/N (Eq. 44); ``"ce"``: the
        cross-entropy's generalised Gauss–Newton matrix; a callable per-sample loss.
    curvature : {"ggn", "hessian"}
        The generalised Gauss–Newton matrix, or the Hessian ∇²L (with the residual term).
    k : int
        Number of top eigenvalues h_1 ≥ ... ≥ h_k (the dense route returns all P
        eigenvalues and keeps min(k, P) eigenvectors).
    tol : float
        Relative residual ‖Cy − θy‖/|θ| of the accepted Ritz pairs (``eigsh``'s ``tol``).
    trace : {"auto", "exact", "hutch++", None}
        How tr H is obtained: ``"exact"`` from per-sample norms (GGN of ``"mse"`` or
        ``"ce"``; K passes over the data); ``"hutch++"`` estimated with tr H² from the same
        deflated Hutchinson probes; ``None`` skips the traces and the probes (eigenvalues
        only; the traces and n are NaN); ``"auto"``: exact where available.
    probes : int
        Rademacher probes of the deflated Hutchinson estimates (≥ 2).
    seed : int
        Seed of the Lanczos start vector and the probes.
    method : {"auto", "lanczos", "dense"}
        ``"lanczos"``: matrix-free (never forms J); ``"dense"``: forms J̃ (or the Hessian)
        in float64 and diagonalises the smaller of J̃ᵀJ̃/N and J̃J̃ᵀ/N (all eigenvalues,
        exact traces); ``"auto"``: dense when k ≥ P or min(N·K, P) ≤ ``dense_limit``.
    dtype : torch.dtype, optional
        Arithmetic of the matrix-free products: the model's dtype by default (float32 for
        float32 models), or torch.float64 on request.
    chunk_size : int, optional
        Samples per chunk (see :class:`~logloss.measure.curvature.CurvatureOperator`).
    cache : bool, optional
        Keep the chunks' graphs between products (default: when they fit half the free
        memory).
    dense_limit : int
        ``method="auto"`` goes dense when min(N·K, P) is at most this (default
        ``DENSE_LIMIT`` = 300, where the dense route was measured to be faster).
    J : Tensor, optional
        A Jacobian (or GGN factor J̃) already computed for this model and ``x``; the
        matrix is then J̃ᵀJ̃/N.

    Returns
    -------
    HessianSpectrum
        With ``route`` saying how the matrix was applied and ``peak_bytes`` the memory
        checked against the free memory before the work.
    """
    if method not in ("auto", "dense", "lanczos"):
        raise InvalidInput(f"method must be auto, dense or lanczos, got {method!r}")
    if trace not in ("auto", "exact", "hutch++", None):
        raise InvalidInput(f"trace must be 'auto', 'exact', 'hutch++' or None, got {trace!r}")
    k = _check_k(k)
    if not (isinstance(tol, (int, float)) and 0 <= tol < 1):
        raise InvalidInput(f"tol must be a number in [0, 1), got {tol!r}")
    if trace is not None:
        probes = check_positive_int(probes, "probes")
        if probes < 2:
            raise InvalidInput("probes must be an integer >= 2 for the standard errors of the traces")
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")
    if J is not None:
        return _from_jacobian(J, x, k=k, tol=tol, trace=trace, probes=probes, seed=seed, method=method,
                              dense_limit=dense_limit)
    loss_fn = resolve_loss(loss)
    builtin = loss_fn in (mse_per_sample, cross_entropy_per_sample)
    if trace == "exact" and not (curvature == "ggn" and builtin):
        raise InvalidInput("trace='exact' is available for the GGN of 'mse' and 'ce'; use trace='hutch++'")
    if trace == "auto":
        trace = "exact" if curvature == "ggn" and builtin else "hutch++"
    op = CurvatureOperator(model, x, y, loss=loss, curvature=curvature, dtype=dtype,
                           chunk_size=chunk_size, cache=cache)
    P, N = op.P, op.N
    why = "asked"
    if method == "auto":
        method = "dense" if k >= P or min(N * op.K, P) <= dense_limit else "lanczos"
        why = (f"all {P} eigenvalues asked for" if k >= P else
               f"min(N·K, P) = {min(N * op.K, P)} <= dense_limit = {dense_limit}, where it is faster")
    if method == "dense":
        return _dense(model, x, op, k, name, curvature, chunk_size, why)
    if k >= P:
        raise InvalidInput(f"method='lanczos' needs k < P, got k={k} for P={P} parameters; "
                           "use method='dense' (all eigenvalues) or a smaller k")
    itemsize = torch.empty((), dtype=op.dtype).element_size()
    ncv = min(P, max(2 * k + 1, 20))
    chunk_graph = op.graph_bytes * op.src.chunk // max(N, 1)
    product = 2 * chunk_graph + P * (8 + 2 * itemsize)           # one product's intermediates
    peak = ((op.graph_bytes if op.cache else chunk_graph) + product
            + (ncv + 1 + 2 * k) * P * 8                             # Lanczos basis and Ritz vectors
            + ((probes + 4 * PROBE_BLOCK) * P * 8 + PROBE_BLOCK * P * 2 * itemsize if trace else 0))
    free = available_memory(op.theta[0].device)
    if peak > free:
        raise InvalidInput(f"hessian_outliers would need about {peak / 1e9:.2f} GB (Lanczos basis of {ncv} "
                           f"vectors of P = {P}, {'probes, ' if trace else ''}the chunks' graphs), more than "
                           f"the {free / 1e9:.2f} GB free; use fewer probes, trace=None, cache=False or "
                           "a smaller chunk_size")
    rng = np.random.default_rng(seed)
    scipy_op = op.scipy()
    with torch_errors():
        w, V, _ = top_eigenpairs(op.matmat, P, k, tol=tol, v0=rng.standard_normal(P), ncv=ncv,
                                 device=op.theta[0].device)
    if curvature == "ggn":
        w = np.clip(w, 0, None)
    nan = float("nan")
    tr = tr_se = trsq = trsq_se = pr = pr_se = nan
    if trace is not None:
        exact = _exact_ggn_trace(op, model) if trace == "exact" else None
        tr, tr_se, trsq, trsq_se, cov = _traces_from_probes(scipy_op.matmat, V, w, P, probes, rng, exact)
        pr, pr_se = _pr(tr, tr_se, trsq, trsq_se, cov)
    route = op.route + (f"; tr H {'exact (per-sample norms)' if trace == 'exact' else 'deflated Hutchinson'}, "
                        f"tr H² deflated Hutchinson, {probes} probes" if trace else "; traces skipped")
    return HessianSpectrum(w, tr, trsq, trsq_se, pr, pr_se, P, N, "lanczos", V, op.frozen, tr_se,
                           curvature, name, route, op.products, int(peak))


def _dense(model, x, op: CurvatureOperator, k: int, name: str, curvature: str, chunk_size,
           why: str) -> HessianSpectrum:
    """Every eigenvalue: J̃ in float64 (the GGN of "mse"/"ce") or the Hessian from P products."""
    P, N = op.P, op.N
    if curvature == "ggn" and name in ("mse", "ce") and isinstance(x, torch.Tensor):
        J, frozen = _dense_factor(model, x, name, check_chunk_size(chunk_size))
        h, V = _dense_spectrum(J, N, min(k, P))
        route = f"dense: J̃ ({J.shape[0]} × {P}) in float64, eigh of the smaller Gram matrix"
        peak = J.numel() * 8 + 3 * min(J.shape) ** 2 * 8
    else:
        need = 3 * P * P * 8
        free = available_memory(op.theta[0].device)
        if need > free:
            raise InvalidInput(f"the dense route would need {need / 1e9:.1f} GB for the {P} × {P} matrix, "
                               f"more than the {free / 1e9:.1f} GB free; use method='lanczos'")
        C = torch.cat([op.matmat(torch.eye(P, dtype=op.dtype)[:, j:j + PROBE_BLOCK])
                       for j in range(0, P, PROBE_BLOCK)], dim=1).double()
        w, U = torch.linalg.eigh((C + C.T) / 2)
        h, V = w.flip(0).cpu().numpy(), U.flip(1)[:, :min(k, P)].cpu().numpy()
        if curvature == "ggn":
            h = np.clip(h, 0, None)
        frozen, peak = op.frozen, need
        route = f"dense: the {P} × {P} matrix from {P} matrix-free products, eigh"
    trace, trsq = float(np.sum(h)), float(np.sum(h**2))
    pr = trace**2 / trsq if trsq > 0 else float("nan")
    return HessianSpectrum(h, trace, trsq, 0.0, pr, 0.0, P, N, "dense", V, frozen, 0.0, curvature, name,
                           f"{route} ({why})", op.products, int(peak))


def _from_jacobian(J, x, *, k, tol, trace, probes, seed, method, dense_limit) -> HessianSpectrum:
    """The spectrum of J̃ᵀJ̃/N for a given J̃ (rows N·K, K outputs per sample)."""
    N = int(x.shape[0]) if isinstance(x, torch.Tensor) and x.dim() else 0
    if N == 0:
        raise InvalidInput("inputs x must be a tensor with at least one sample")
    J = J.detach()
    if J.dim() != 2 or J.shape[0] % N:
        raise InvalidInput(f"J must be the (N·K × P) Jacobian of the N = {N} inputs, got shape "
                           f"{tuple(J.shape)}")
    M, P = J.shape
    if method == "auto":
        method = "dense" if min(M, P) <= dense_limit or k >= P else "lanczos"
    if method == "dense":
        h, V = _dense_spectrum(J, N, min(k, P))
        tr, trsq = float(np.sum(h)), float(np.sum(h**2))
        return HessianSpectrum(h, tr, trsq, 0.0, tr**2 / trsq, 0.0, P, N, "dense", V, 0, 0.0, "ggn", "",
                               "dense: the given J, eigh of the smaller Gram matrix", 0, J.numel() * 8)
    if k >= P:
        raise InvalidInput(f"method='lanczos' needs k < P, got k={k} for P={P} parameters; "
                           "use method='dense' (all eigenvalues) or a smaller k")
    rng = np.random.default_rng(seed)
    op = _operator(J, N)
    w, V, used = top_eigenpairs(lambda X: torch.as_tensor(op.matmat(X.cpu().numpy())), P, k, tol=tol,
                                v0=rng.standard_normal(P))
    w = np.clip(w, 0, None)
    nan = float("nan")
    tr = tr_se = trsq = trsq_se = pr = pr_se = nan
    if trace is not None:
        exact = None
        if trace in ("auto", "exact"):
            exact = float(torch.linalg.vector_norm(J, dtype=torch.float64) ** 2 / N)
        tr, tr_se, trsq, trsq_se, cov = _traces_from_probes(op.matmat, V, w, P, probes, rng, exact)
        pr, pr_se = _pr(tr, tr_se, trsq, trsq_se, cov)
    return HessianSpectrum(w, tr, trsq, trsq_se, pr, pr_se, P, N, "lanczos", V, 0, tr_se, "ggn", "",
                           "Lanczos on v -> J^T(Jv)/N with the given J", used, J.numel() * J.element_size())


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

    The Lanczos route of :func:`hessian_outliers` (:func:`top_eigenpairs` on v ↦ Jᵀ(Jv)/N
    in the model's dtype) is compared with ``torch.linalg.eigh`` of the N × N Gram matrix JJᵀ/N
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
    tested against.  The products are those of
    :class:`~logloss.measure.curvature.CurvatureOperator` in float64; the model is not
    changed.

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
    op = CurvatureOperator(model, x, y, loss=loss, curvature="hessian", dtype=torch.float64)
    P = op.P
    if isinstance(k, bool) or int(k) != k or not 1 <= k < P:
        raise InvalidInput(f"k must be an integer in [1, P) = [1, {P}), got {k!r}")
    with torch_errors():
        return top_eigenpairs(op.matmat, P, int(k), tol=tol, v0=np.ones(P), device=op.theta[0].device)[0]
