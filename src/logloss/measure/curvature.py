"""Matrix-free curvature of any PyTorch model: products with the generalised Gauss–Newton
matrix and with the Hessian, over chunks of the data, never forming the Jacobian (App. E).

For a per-sample loss ℓ(f_μ, y_μ) of the K outputs f_μ = f(θ, x_μ) and the mean
L = (1/N) Σ_μ ℓ_μ,

    G = (1/N) Σ_μ J_μᵀ Λ_μ J_μ,   Λ_μ = ∂²ℓ_μ/∂f_μ²         (generalised Gauss–Newton, Eq. 44)
    H = ∇²L = G + (1/N) Σ_μ Σ_a (∂ℓ_μ/∂f_μa) ∇²f_μa            (the Hessian)

with J_μ = ∂f_μ/∂θ.  For the mean-square loss ℓ = ½‖f − y‖², Λ = I and G is the paper's
JᵀJ/N; for the cross-entropy Λ = diag(p) − ppᵀ with p = softmax(f) (σ(f)σ(−f) for one
output).

How a product is formed (the route, stated in the results): each chunk of the data is
evaluated once, with θ replaced by leaf tensors, and the graph is kept when it fits the
memory budget (else rebuilt for every product, chunk by chunk).  For the GGN the chunk's
backward pass g(u) = J_cᵀu is built once with ``create_graph=True`` at u = 0; then
J_c v is one backward pass through g (g is linear in u, so its derivative in u along v
is J_c v), Λ is applied in output space, and J_cᵀ(ΛJ_c v) is one backward pass through the
forward graph.  For the Hessian the chunk's gradient is built with ``create_graph=True``
and Hv is one backward pass through it.  A product thus costs about two backward passes
of the chunk, with no forward pass and no per-sample Jacobian; memory is the parameters,
the kept graphs and one chunk's intermediates.  Models whose operations have no double
backward fall back to forward-mode products (``torch.func.jvp`` then ``vjp``), with the
forward pass recomputed for every product, as curvlinops does.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ..core.errors import InvalidInput
from ._guard import (
    available_memory,
    check,
    check_batch,
    check_chunk_size,
    substituted,
    torch_errors,
    unchanged,
)
from .losses import cross_entropy_per_sample, mse_per_sample, resolve_loss

__all__ = ["CurvatureOperator"]

#: Samples per chunk when nothing else is known.
DEFAULT_CHUNK = 2048
#: Largest graph (bytes) one chunk may keep when the chunk size is chosen automatically.
CHUNK_BYTES = 256 * 1024**2


def _split_batch(batch):
    """(x, y) from a DataLoader batch: a tensor, or a tuple/list (x,) or (x, y, ...)."""
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
        y = batch[1] if len(batch) > 1 and isinstance(batch[1], torch.Tensor) else None
        return batch[0], y
    raise InvalidInput("a DataLoader must yield tensors x, or tuples (x,) or (x, y) of tensors; got a "
                       f"batch of type {type(batch).__name__}")


class _Source:
    """The data in chunks: slices of tensors, or the batches of a DataLoader."""

    def __init__(self, x, y, chunk: int | None):
        self.loader = x if isinstance(x, DataLoader) else None
        if self.loader is not None:
            if y is not None:
                raise InvalidInput("pass the targets inside the DataLoader's batches (x, y), not as y=")
            first = next(iter(self.loader), None)
            if first is None:
                raise InvalidInput("the DataLoader yields no batches")
            self.first = _split_batch(first)
            try:
                self.N = len(self.loader.dataset)
            except TypeError:
                self.N = None  # counted on the first pass
            self.chunk = int(self.first[0].shape[0])
            return
        if not isinstance(x, torch.Tensor):
            raise InvalidInput(f"inputs x must be a torch.Tensor or a DataLoader, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[0] == 0:
            raise InvalidInput(f"inputs x must have at least one sample along the first axis, got shape "
                               f"{tuple(x.shape)}")
        self.x, self.y = x, y
        self.N = int(x.shape[0])
        self.chunk = min(self.N, DEFAULT_CHUNK if chunk is None else chunk)
        self.first = (x[:self.chunk], None if y is None else y[:self.chunk])

    def batches(self):
        """(x, y) chunks in order; a DataLoader must give the same samples on every pass."""
        if self.loader is not None:
            for batch in self.loader:
                yield _split_batch(batch)
            return
        for s in range(0, self.N, self.chunk):
            yield self.x[s:s + self.chunk], None if self.y is None else self.y[s:s + self.chunk]


def _graph_bytes(fn, exclude):
    """``fn()`` and the bytes of the distinct storages its autograd graph saves, except the
    storages in ``exclude`` (data and parameters, which exist anyway)."""
    seen: dict[int, int] = {}

    def pack(t):
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in exclude:
                seen[ptr] = st.nbytes()
        except (RuntimeError, NotImplementedError):  # wrapped or meta tensors: count the view
            seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(seen.values())


class CurvatureOperator:
    """v ↦ C v for C the generalised Gauss–Newton matrix or the Hessian of L at θ, matrix-free.

    Parameters
    ----------
    model : nn.Module
        The network at θ (its trainable parameters); checked as in
        :func:`~logloss.measure.gradients.per_sample_grads` and never changed.
    x : Tensor or DataLoader
        Inputs (N, ...), or a DataLoader yielding x or (x, y) batches (which must give the
        same samples on every pass).
    y : Tensor, optional
        Targets; needed for the Hessian and for a GGN of a loss given as a callable (the
        GGN of ``"mse"`` and ``"ce"`` does not depend on them).
    loss : {"mse", "ce"} or callable
        Per-sample loss (conventions of :mod:`logloss.measure.losses`).
    curvature : {"ggn", "hessian"}
        Which matrix.
    dtype : torch.dtype, optional
        Arithmetic of the products: the parameters' dtype by default, or torch.float64 on
        request (a float64 copy of θ, the buffers and each chunk).
    chunk_size : int, optional
        Samples per chunk (default: 2048, fewer if one chunk's graph would exceed 256 MB;
        a DataLoader's own batches).  The products do not depend on it.
    cache : bool, optional
        Keep every chunk's graph between products (default: when they fit in half the free
        memory).

    Attributes
    ----------
    P, N : int
        Trainable parameters and samples.
    products : int
        Vectors multiplied so far.
    route : str
        How the products are formed (see the module docstring).
    """

    def __init__(self, model: nn.Module, x, y=None, *, loss="mse", curvature: str = "ggn", dtype=None,
                 chunk_size: int | None = None, cache: bool | None = None):
        if curvature not in ("ggn", "hessian"):
            raise InvalidInput(f"curvature must be 'ggn' or 'hessian', got {curvature!r}")
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            raise InvalidInput(f"dtype must be None (the model's), torch.float32 or torch.float64, got {dtype!r}")
        if cache not in (None, True, False):
            raise InvalidInput(f"cache must be True, False or None (automatic), got {cache!r}")
        self.model, self.curvature = model, curvature
        self.loss = resolve_loss(loss)
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "callable")
        needs_y = curvature == "hessian" or self.loss not in (mse_per_sample, cross_entropy_per_sample)
        src = _Source(x, y, check_chunk_size(chunk_size))
        x0, y0 = src.first
        if needs_y and y0 is None:
            what = "the Hessian" if curvature == "hessian" else "the GGN of a callable loss"
            raise InvalidInput(f"{what} depends on the targets: pass y (or (x, y) batches)")
        with unchanged(model):
            c = check(model, x0, y0 if needs_y else None, self.loss if needs_y else None, batch=src.chunk,
                      defer=True)
        self.names = list(c.params)
        self.dtype = c.dtype if dtype is None else dtype
        if not self.dtype.is_floating_point or self.dtype not in (torch.float32, torch.float64):
            if dtype is None:  # half precision: products in float32
                self.dtype = torch.float32
        self.theta = [p.detach().to(self.dtype).requires_grad_(True) for p in c.params.values()]
        self.tensors = dict(zip(self.names, self.theta))
        if self.dtype != c.dtype:  # frozen parameters and buffers in the same dtype
            self.tensors.update({n: q.detach().to(self.dtype) for n, q in model.named_parameters()
                                 if n not in self.tensors and q.is_floating_point()})
            self.tensors.update({n: b.to(self.dtype) for n, b in model.named_buffers() if b.is_floating_point()})
        self.shapes = [t.shape for t in self.theta]
        self.sizes = [t.numel() for t in self.theta]
        self.P, self.frozen = c.P, c.frozen
        self.K = math.prod(c.out_shape[1:])
        self.src = src
        self.products = 0
        self.forward_mode = False
        self._out = None
        self.needs_y = needs_y
        # the first chunk: its graph's size decides the chunk size and the caching
        exclude = {t.untyped_storage().data_ptr() for t in self.theta}
        exclude |= {b.untyped_storage().data_ptr() for b in model.buffers()}
        exclude.add(self._cast(x0).untyped_storage().data_ptr())
        first, nbytes = _graph_bytes(lambda: self._build(x0, y0), exclude)
        with unchanged(model), substituted(model, self.tensors):  # the samples of a chunk are independent
            x0c = self._cast(x0)
            check_batch(model, x0c, self._out if self._out is not None else self._forward(x0).detach())
        if not self._verified(first, x0, y0):
            first = (first[0], "jvp", (x0, y0))
        per_sample = nbytes / max(1, int(x0.shape[0]))
        if src.loader is None and chunk_size is None and nbytes > CHUNK_BYTES and src.chunk > 1:
            src.chunk = max(1, int(CHUNK_BYTES // max(per_sample, 1.0)))
            first = None
        N = src.N if src.N is not None else self._count()
        self.N = N
        self.graph_bytes = int(per_sample * N)
        budget = available_memory(x0.device) // 2
        self.cache = (self.graph_bytes <= budget) if cache is None else cache
        self._chunks = None
        if self.cache:
            self._chunks = [first] if first is not None and src.loader is None else []
            start = len(self._chunks)
            for i, (xb, yb) in enumerate(src.batches()):
                if i >= start:
                    self._chunks.append(self._build(xb, yb))
            n = sum(ch[0] for ch in self._chunks)
            if n != N:
                raise InvalidInput(f"the data gave {n} samples, expected {N}")
        kind = "GGN" if curvature == "ggn" else "Hessian"
        how = ("forward-mode products, forward pass recomputed (no double backward)" if self.forward_mode
               else f"graphs {'kept' if self.cache else 'rebuilt per product'}")
        self.route = (f"matrix-free {kind} ({self.loss_name}), {str(self.dtype).replace('torch.', '')}, "
                      f"chunks of {src.chunk}, {how}")

    # ------------------------------------------------------------------ chunks
    def _cast(self, xb):
        return xb.to(self.dtype) if xb.is_floating_point() and xb.dtype != self.dtype else xb

    def _prepare(self, out, yb):
        """The batch's targets as the loss takes them (class labels one-hot encoded)."""
        from ._guard import _prepare_targets

        if not self.needs_y:
            return yb
        if yb is None:
            raise InvalidInput("a batch of the DataLoader has no targets y")
        return _prepare_targets(out, yb, self.loss, int(out.shape[0]))

    def _count(self) -> int:
        return sum(int(xb.shape[0]) for xb, _ in self.src.batches())

    def _forward(self, xb):
        with substituted(self.model, self.tensors), torch.enable_grad(), torch_errors():
            out = self.model(self._cast(xb))
        self._out = out.detach()
        return out

    def _build(self, xb, yb):
        """(n, kind, data) for one chunk: the linearisation that products reuse."""
        n = int(xb.shape[0])
        if self.forward_mode:
            return (n, "jvp", (xb, yb))
        out = self._forward(xb)
        yb = self._prepare(out, yb)
        try:
            with torch_errors():
                if self.curvature == "hessian":
                    ell = self.loss(out, yb).sum()
                    g = torch.autograd.grad(ell, self.theta, create_graph=True, allow_unused=True)
                    used = [i for i, t in enumerate(g) if t is not None and t.requires_grad]
                    return (n, "hessian", ([g[i] for i in used], used))
                flat = out.reshape(n, -1)
                u0 = torch.zeros_like(flat, requires_grad=True)
                g = torch.autograd.grad(flat, self.theta, u0, create_graph=True, allow_unused=True)
                used = [i for i, t in enumerate(g) if t is not None]
                return (n, "ggn", (flat, u0, [g[i] for i in used], used, self._lambda(flat.detach(), out, yb)))
        except InvalidInput as err:
            if "double backward" not in str(err) and "not implemented" not in str(err).lower():
                raise
            self.forward_mode = True  # no double backward: products by forward mode
            return (n, "jvp", (xb, yb))

    def _verified(self, chunk, xb, yb) -> bool:
        """Whether the reverse-over-reverse products of the chunk agree with forward mode.

        An operation whose backward is not differentiable can cut the double-backward graph
        without an error (``@once_differentiable`` functions do), so one random product of
        the first chunk is compared with the forward-mode one.  On a mismatch the operator
        switches to forward mode; where forward mode is not available either, the adjoint
        identity uᵀ(J v) = (Jᵀu)ᵀv (GGN) or the symmetry uᵀHv = vᵀHu (Hessian) is checked
        instead, and a failure is an error.
        """
        if chunk[1] == "jvp":
            return True
        g = torch.Generator(device="cpu").manual_seed(0)
        v = [torch.randn(s, generator=g, dtype=self.dtype).to(self.theta[0].device) for s in self.shapes]
        mine = [torch.zeros(s, dtype=self.dtype, device=v[0].device) for s in self.shapes]
        for i, r in self._apply(chunk, v):
            if r is not None:
                mine[i] += r
        tol = 1e-4 if self.dtype == torch.float32 else 1e-9
        try:
            ref = [r for _, r in sorted(self._apply_forward_mode((xb, yb), v), key=lambda t: t[0])]
        except InvalidInput:
            ref = None
        if ref is not None:
            err = max(float((a - b).abs().max()) for a, b in zip(mine, ref))
            scale = max(float(b.abs().max()) for b in ref)
            if err <= tol * max(scale, 1e-30):
                return True
            self.forward_mode = True
            return False
        u = [torch.randn(s, generator=g, dtype=self.dtype).to(v[0].device) for s in self.shapes]
        other = [torch.zeros_like(t) for t in u]
        for i, r in self._apply(chunk, u):
            if r is not None:
                other[i] += r
        a = sum(float((x * y).sum()) for x, y in zip(u, mine))
        b = sum(float((x * y).sum()) for x, y in zip(v, other))
        if abs(a - b) > tol * max(abs(a), abs(b), 1e-30):
            raise InvalidInput("the model's backward pass cannot be differentiated (a custom autograd "
                               "Function with @once_differentiable?) and it has no forward-mode "
                               "derivative: curvature products cannot be formed")
        return True

    def _lambda(self, f, out, yb):
        """r ↦ Λ r for the chunk's outputs f (n, K), Λ the Hessian of ℓ in the outputs."""
        if self.loss is mse_per_sample:
            return lambda r: r
        if self.loss is cross_entropy_per_sample:
            if f.shape[1] == 1:
                s = torch.sigmoid(f)
                w = s * (1 - s)
                return lambda r: w * r
            p = torch.softmax(f, dim=1)
            return lambda r: p * r - p * (p * r).sum(dim=-1, keepdim=True)
        leaf = out.detach().requires_grad_(True)
        with torch.enable_grad(), torch_errors("the loss"):
            gl = torch.autograd.grad(self.loss(leaf, yb).sum(), leaf, create_graph=True)[0]
        if not gl.requires_grad:  # a loss linear in the outputs
            return torch.zeros_like

        def apply(r):
            return torch.autograd.grad(gl, leaf, r.reshape(leaf.shape), retain_graph=True)[0].reshape(r.shape)

        return apply

    # ------------------------------------------------------------------ products
    def _apply(self, chunk, V: list) -> list:
        """[(parameter index, its part of C_c v)] for one chunk c and one vector v (in parts)."""
        n, kind, data = chunk
        if kind == "hessian":
            g, used = data
            res = torch.autograd.grad(g, [self.theta[i] for i in used], [V[i] for i in used],
                                      retain_graph=True, allow_unused=True)
            return list(zip(used, res))
        if kind == "ggn":
            flat, u0, g, used, lam = data
            jv = torch.autograd.grad(g, u0, [V[i] for i in used], retain_graph=True)[0]
            res = torch.autograd.grad(flat, [self.theta[i] for i in used], lam(jv), retain_graph=True,
                                      allow_unused=True)
            return list(zip(used, res))
        return self._apply_forward_mode(data, V)

    def _apply_forward_mode(self, data, V):
        """Products without double backward: J v by forward mode, Jᵀ by reverse mode (GGN),
        or forward-over-reverse (Hessian); the chunk's forward pass is recomputed."""
        from torch.func import grad, jvp, vjp

        xb, yb = data
        xb = self._cast(xb)
        others = {k: v for k, v in self.tensors.items() if k not in self.names}

        def f(*theta):
            with substituted(self.model, dict(zip(self.names, theta)) | others):
                return self.model(xb)

        theta = tuple(t.detach() for t in self.theta)
        with torch.no_grad():
            out0 = f(*theta)
        yb = self._prepare(out0, yb)
        with torch_errors():
            if self.curvature == "hessian":
                loss = grad(lambda *th: self.loss(f(*th), yb).sum(), argnums=tuple(range(len(theta))))
                return list(enumerate(jvp(loss, theta, tuple(V))[1]))
            lam = self._lambda(out0.reshape(out0.shape[0], -1), out0, yb)
            out, jv = jvp(f, theta, tuple(V))
            _, back = vjp(f, *theta)
            return list(enumerate(back(lam(jv.reshape(jv.shape[0], -1)).reshape(out.shape))))

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """C V for V of shape (P,) or (P, m), in the operator's dtype.

        The columns are multiplied one after the other, chunk by chunk (a chunk whose graph is
        not kept is rebuilt once for all of them)."""
        single = V.dim() == 1
        V = V.reshape(self.P, -1).to(self.dtype)
        m = V.shape[1]
        cols = [[p.reshape(s) for p, s in zip(torch.split(V[:, j], self.sizes), self.shapes)] for j in range(m)]
        acc = torch.zeros(m, self.P, dtype=self.dtype, device=V.device)
        offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        chunks = self._chunks if self.cache else (self._build(xb, yb) for xb, yb in self.src.batches())
        n = 0
        with torch_errors():
            for chunk in chunks:
                n += chunk[0]
                for j in range(m):
                    for i, r in self._apply(chunk, cols[j]):
                        if r is not None:
                            acc[j, offsets[i]:offsets[i + 1]] += r.reshape(-1)
        if n != self.N:
            raise InvalidInput(f"the data gave {n} samples on this pass, {self.N} before: a DataLoader "
                               "must give the same samples on every pass (no drop_last with shuffling)")
        self.products += m
        out = acc.T / self.N
        return out.reshape(-1) if single else out

    def scipy(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (float64 in and out)."""
        from scipy.sparse.linalg import LinearOperator

        dev = self.theta[0].device

        def mm(V):
            V = torch.as_tensor(np.asarray(V, dtype=np.float64).reshape(self.P, -1), device=dev)
            return self.matmat(V).double().cpu().numpy()

        return LinearOperator((self.P, self.P), matvec=lambda v: mm(v).ravel(), matmat=mm,
                              dtype=np.float64)
