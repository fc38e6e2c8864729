"""Per-sample gradients ∇ℓ_μ and Jacobians ∇f_μ of any PyTorch model, and fast ‖∇ℓ_μ‖².

Conventions in :mod:`logloss.measure.losses`.  Routes to per-sample gradient statistics,
which agree to rounding (tests):

* :func:`per_sample_grads` — generic (``torch.func``: functional_call + vmap + grad),
  materialises the N × P matrix in chunks;
* :func:`per_sample_grad_stats` — the fast path for models whose parameters all sit in
  ``nn.Linear`` and ``nn.Conv2d`` layers: for a Linear layer z = W a + b the per-sample
  gradient is ∇_W ℓ_μ = δ_μ a_μᵀ with δ_μ = ∂ℓ_μ/∂z_μ, so
  ‖∇_W ℓ_μ‖² = ‖a_μ‖²·‖δ_μ‖² and ‖∇_b ℓ_μ‖² = ‖δ_μ‖², and no per-sample gradient is
  ever formed.  A Conv2d layer forms its own per-sample gradient (one layer at a time,
  C_out × C_in k² per sample) from the unfolded input;
* :func:`jacobian` — the (N·K) × P Jacobian of the outputs (Gauss–Newton, Gram matrices);
* the brute-force oracle lives in :mod:`logloss.reference`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import grad, jacrev, vmap

from ..core.errors import InvalidInput
from ._guard import (
    Checked,
    call,
    check,
    check_batch,
    check_chunk_size,
    check_fits,
    generic_chunk,
    torch_errors,
    unchanged,
)
from .losses import mse_per_sample

__all__ = [
    "per_sample_grads",
    "jacobian",
    "flat_params",
    "GradStats",
    "per_sample_grad_stats",
    "supports_fast_path",
]

#: Samples per forward/backward pass of the fast path when chunk_size is None.
FAST_CHUNK = 1000


def flat_params(model: nn.Module) -> torch.Tensor:
    """All trainable parameters θ as one vector of length P."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def _generic_chunks(model: nn.Module, x: torch.Tensor, c: Checked, chunk: int | None):
    """(start, {name: per-sample gradients of the chunk}) for chunks of the data."""
    def sample_loss(p, xi, yi):
        out = call(model, p, xi.unsqueeze(0))
        return c.loss(out, yi.unsqueeze(0)).sum()

    per_sample = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    size = generic_chunk(c.P, x.element_size() if x.is_floating_point() else 4, x.device, chunk)
    for start in range(0, x.shape[0], size):
        with torch_errors(vmap=True):
            g = per_sample(c.params, x[start:start + size], c.y[start:start + size])
        yield start, g


def per_sample_grads(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss=mse_per_sample,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """The matrix of per-sample gradients G with rows ∇ℓ_μ, shape (N, P).

    Parameters
    ----------
    model : nn.Module
        A model whose output for a sample depends on that sample and θ only (see
        *Supported models* below); its trainable parameters define θ (P entries, in
        ``parameters()`` order; frozen parameters are excluded).
    x, y : Tensor
        Inputs (N, ...) and targets with the output's shape (up to a trailing 1), or
        integer class labels (N,) for the cross-entropy.
    loss : callable or {"mse", "ce"}
        ``loss(output, target) -> (batch,)`` per-sample losses ℓ_μ.
    chunk_size : int, optional
        Largest number of samples per vmap call.  One call costs about 6 × itemsize × P
        bytes per sample (≈ 24 B × P in float32); by default, and whenever the request
        exceeds it, the chunk is chosen to fit half the free memory (at most 2 GiB on the
        CPU).  The result does not depend on it.

    Supported models
    ----------------
    Any ``nn.Module`` whose forward pass is a pure function of (parameters, buffers, one
    sample) made of operations that ``torch.func.vmap`` can batch: MLPs, CNNs, LayerNorm,
    GroupNorm, BatchNorm in eval mode, attention, tied or reused layers, inputs of any
    rank.  Refused with :class:`~logloss.core.errors.InvalidInput`: BatchNorm or dropout
    in train mode (call ``model.eval()``), randomness or batch coupling in the forward
    pass, no trainable parameters, inputs whose dtype or device differ from the
    parameters', and operations vmap cannot batch (recurrent layers such as ``nn.LSTM``).
    The model is left exactly as it was.
    """
    with unchanged(model):
        c = check(model, x, y, loss)
        check_fits(int(x.shape[0]), c.P, torch.empty((), dtype=c.dtype).element_size(), x.device,
                   "the per-sample gradient matrix G (N × P)")
        rows = [torch.cat([t.reshape(t.shape[0], -1) for t in g.values()], dim=1)
                for _, g in _generic_chunks(model, x, c, check_chunk_size(chunk_size))]
        return torch.cat(rows)


def _jacobian(model: nn.Module, x: torch.Tensor, c: Checked, chunk: int | None) -> torch.Tensor:
    def f(p, xi):
        return call(model, p, xi.unsqueeze(0)).reshape(-1)

    K = math.prod(c.out_shape[1:])
    jac = vmap(jacrev(f), in_dims=(None, 0))
    size = generic_chunk(c.P * K, x.element_size() if x.is_floating_point() else 4, x.device, chunk)
    rows = []
    for start in range(0, x.shape[0], size):
        with torch_errors(vmap=True):
            g = jac(c.params, x[start:start + size])
        n = next(iter(g.values())).shape[0]
        rows.append(torch.cat([t.reshape(n, t.shape[1], -1) for t in g.values()], dim=2)
                    .reshape(-1, c.P))
    return torch.cat(rows)


def jacobian(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None) -> torch.Tensor:
    """The Jacobian J of the outputs with respect to all trainable parameters.

    Parameters
    ----------
    model : nn.Module
        A model as in :func:`per_sample_grads` (same supported models and refusals); θ is
        its trainable parameters in ``parameters()`` order (P entries).
    x : Tensor, shape (N, ...)
        Inputs x_μ.
    chunk_size : int, optional
        Largest number of samples per ``vmap`` call; lowered to fit memory (about
        6 × itemsize × K·P bytes per sample) as in :func:`per_sample_grads`.

    Returns
    -------
    Tensor, shape (N·K, P)
        Row μ·K + a is ∂f_a(θ, x_μ)/∂θ, for K outputs per sample.
    """
    with unchanged(model):
        c = check(model, x)
        K = math.prod(c.out_shape[1:])
        check_fits(int(x.shape[0]) * K, c.P, torch.empty((), dtype=c.dtype).element_size(), x.device,
                   "the Jacobian J (N·K × P)")
        return _jacobian(model, x, c, check_chunk_size(chunk_size))


@dataclass(frozen=True)
class GradStats:
    """Per-sample gradient statistics at one θ (float64).

    Attributes
    ----------
    sq_norms : Tensor, shape (N,)
        ‖∇ℓ_μ‖² for each sample.
    mean_grad : Tensor, shape (P,)
        ∇L = (1/N) Σ_μ ∇ℓ_μ.
    losses : Tensor, shape (N,)
        ℓ_μ.
    P : int
        Trainable parameter entries (the length of θ).
    frozen : int
        Parameter entries with ``requires_grad=False``, excluded from θ.
    method : str
        ``"fast"`` or ``"generic"``: the route that was taken.
    """

    sq_norms: torch.Tensor
    mean_grad: torch.Tensor
    losses: torch.Tensor
    P: int = 0
    frozen: int = 0
    method: str = ""


#: Layer types whose per-sample gradient norms the fast path forms layer by layer.
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_FAST_KINDS = (nn.Linear, *_CONV)
_CONV_WEIGHT_GRAD = {1: torch.nn.grad.conv1d_weight, 2: torch.nn.grad.conv2d_weight,
                     3: torch.nn.grad.conv3d_weight}
#: Entries of per-sample weight gradients one conv layer may hold at a time (×itemsize bytes).
_MATERIALISE_LIMIT = 1 << 25


def _trainable_own(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters(recurse=False))


def _conv_supported(module: nn.Module) -> bool:
    return module.padding_mode == "zeros" and not isinstance(module.padding, str)


def supports_fast_path(model: nn.Module) -> bool:
    """Whether every trainable parameter sits in an ``nn.Linear`` or ``nn.Conv1d/2d/3d`` layer.

    A necessary condition only: at run time the fast path also needs each such layer to be
    called once per forward pass, with the batch axis first, and each parameter to be used
    by its own layer only (no tied weights).  :func:`per_sample_grad_stats` checks that on
    a few samples and, with ``method="auto"``, falls back to the generic path.
    """
    for module in model.modules():
        if not _trainable_own(module):
            continue
        if isinstance(module, nn.Linear) or (isinstance(module, _CONV) and _conv_supported(module)):
            continue
        return False
    return True


class _Capture:
    """Forward hooks that keep each layer's input a, its output z, and the gradient δ at z."""

    def __init__(self, model: nn.Module, kinds=_FAST_KINDS):
        self.layers = [m for m in model.modules() if isinstance(m, kinds) and _trainable_own(m)]
        self.records: dict[nn.Module, list] = {}
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module, inputs, output):
        # [input a, output z, z's version at the hook, δ]; δ comes from a tensor hook, which
        # fires for this version of z even if a later in-place operation changes it.  The
        # hook writes into its own box, not into the record that holds z: a cycle z → hook →
        # record → z would keep every chunk's tensors alive until the garbage collector runs.
        box = [None]
        self.records.setdefault(module, []).append([inputs[0].detach(), output, output._version, box])

        def keep(g, box=box):
            box[0] = g.detach()

        if output.requires_grad:
            output.register_hook(keep)

    def finish(self) -> None:
        """After the backward pass: δ out of its box into the record, and z dropped."""
        for recs in self.records.values():
            for rec in recs:
                if isinstance(rec[3], list):
                    rec[3] = rec[3][0]
                rec[1] = None

    def backward(self, total: torch.Tensor, params: list) -> None:
        """Back-propagate ``total`` to every captured layer output, filling each δ.

        When no captured output was changed in place, the gradient is asked for those
        outputs only, so that autograd skips the parameter gradients (the per-layer sums
        give them); otherwise it is asked for the parameters, as the tensor hooks need.
        """
        outs = [rec[1] for recs in self.records.values() for rec in recs]
        if outs and all(rec[1]._version == rec[2] for recs in self.records.values() for rec in recs) \
                and all(o.requires_grad for o in outs):
            torch.autograd.grad(total, outs)
        else:
            torch.autograd.grad(total, params, allow_unused=True)
        self.finish()

    def reset(self):
        self.records = {}

    def close(self):
        for h in self.handles:
            h.remove()


def _acc(t: torch.Tensor) -> torch.Tensor:
    """``t`` in a dtype fit to accumulate squares: float32 for half precision, else its own."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _conv_grads(module: nn.Module, a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients of a convolution, (n, *weight.shape), by a batched
    (vmap'd) weight-gradient convolution."""
    wg = _CONV_WEIGHT_GRAD[a.dim() - 2]
    shape = module.weight.shape

    def one(ai, di):
        return wg(ai[None], shape, di[None], stride=module.stride, padding=module.padding,
                  dilation=module.dilation, groups=module.groups)[None]

    return vmap(one)(a, delta)[:, 0]


def _ghost_sq(a: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Σ_{s,t} (a_s·a_t)(d_s·d_t) for each sample: ‖Σ_s d_s a_sᵀ‖²_F without forming it.

    a (n, S, p), d (n, S, q)."""
    return (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(d, d.transpose(1, 2))).sum(dim=(1, 2))


def layer_route(module: nn.Module, a: torch.Tensor, delta: torch.Tensor, group: int = 1) -> str:
    """The route of :func:`_layer_stats` for one layer: ``"outer"``, ``"ghost"`` or ``"materialise"``.

    A Linear layer on (batch, features) inputs: ‖∇_W ℓ_μ‖² = ‖a_μ‖²‖δ_μ‖² (``"outer"``).
    A layer whose per-sample gradient is a sum over S positions (a convolution, or a
    Linear layer on (batch, ..., features) inputs, or the sum over a ``group`` of samples),
    ∇_W = Σ_s δ_s a_sᵀ with a_s of length p (unfolded) and δ_s of length q: ``"ghost"``
    forms Σ_{s,t}(a_s·a_t)(δ_s·δ_t) at a cost of S²(p + q) per sample, ``"materialise"``
    forms the gradient at a cost of S·p·q; the cheaper is taken (the mixed ghost norm
    rule of Bu et al. 2022).  Measured by ``logloss bench --peers``: on the conv16-conv32
    CNN both convolutions materialise, and the batched weight-gradient convolution is
    faster there than the unfold + bmm product.
    """
    if isinstance(module, nn.Linear):
        S, p, q = group * (a[0].numel() // a.shape[-1]), a.shape[-1], delta.shape[-1]
        if S == 1:
            return "outer"
    else:
        S = group * delta[0, 0].numel()
        p = module.weight[0].numel()
        q = module.weight.shape[0]
    return "ghost" if S * (p + q) < p * q else "materialise"


def _unfold(module: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """(n, S, C_in k²) patches of a 2-d convolution's input."""
    return F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding,
                    stride=module.stride).transpose(1, 2)


def _layer_stats(module: nn.Module, a: torch.Tensor, delta: torch.Tensor,
                 group: int = 1) -> tuple[torch.Tensor, dict]:
    """(Σ over the layer's trainable parameters of ‖Σ_{μ∈g} ∂ℓ_μ/∂param‖² for each group g
    of ``group`` consecutive samples (each sample for group = 1), float64;
    {parameter: Σ_μ its per-sample gradient}) from the layer's input a and output gradient δ.

    The number of samples must be a multiple of ``group``.  Squares are accumulated in
    float32 for half-precision layers (float16, bfloat16), and in the layer's own dtype
    otherwise; the per-layer totals in float64.
    """
    n = a.shape[0]
    G = n // group
    w, b = module.weight, module.bias
    use_w, use_b = w.requires_grad, b is not None and b.requires_grad
    sq = torch.zeros(G, dtype=torch.float64, device=a.device)
    sums = {}
    route = layer_route(module, a, delta, group)
    if isinstance(module, nn.Linear):
        a3 = a.reshape(G, -1, a.shape[-1])                      # (groups, positions, p)
        d3 = delta.reshape(G, -1, delta.shape[-1])
        if use_b:
            db = d3.sum(dim=1)
            sq += _acc(db).pow(2).sum(dim=1).double()
            sums[b] = db.sum(dim=0)
        if use_w:
            if route == "outer":
                sq += (torch.linalg.vector_norm(_acc(a), dim=1).double().pow(2)
                       * torch.linalg.vector_norm(_acc(delta), dim=1).double().pow(2))
                sums[w] = delta.T @ a
            elif route == "ghost":
                sq += _ghost_sq(_acc(a3), _acc(d3)).double()
                sums[w] = torch.einsum("nso,nsi->oi", d3, a3)
            else:
                g = torch.bmm(_acc(d3).transpose(1, 2), _acc(a3))
                sq += g.pow(2).sum(dim=(1, 2)).double()
                sums[w] = g.sum(dim=0).to(w.dtype)
        return sq, sums
    d = delta.reshape(n, delta.shape[1], -1)                    # (n, C_out, S)
    if use_b:
        db = d.sum(dim=2)
        sq += _acc(db.reshape(G, group, -1).sum(dim=1)).pow(2).sum(dim=1).double()
        sums[b] = db.sum(dim=0)
    if use_w:
        if route == "ghost" and a.dim() == 4 and module.groups == 1:
            cols = _unfold(module, a)
            sq += _ghost_sq(_acc(cols.reshape(G, -1, cols.shape[-1])),
                            _acc(d.transpose(1, 2).reshape(G, -1, d.shape[1]))).double()
            sums[w] = _CONV_WEIGHT_GRAD[2](a, w.shape, delta, stride=module.stride, padding=module.padding,
                                           dilation=module.dilation, groups=module.groups)
        else:
            total = torch.zeros_like(w, dtype=_acc(w).dtype)
            step = max(1, _MATERIALISE_LIMIT // (w.numel() * group)) * group
            for s in range(0, n, step):
                g = _acc(_conv_grads(module, _acc(a[s:s + step]), _acc(delta[s:s + step])))
                g = g.reshape(g.shape[0] // group, group, -1).sum(dim=1)
                sq[s // group:(s + step) // group] += g.pow(2).sum(dim=1).double()
                total += g.sum(dim=0).reshape(w.shape)
            sums[w] = total.to(w.dtype)
    return sq, sums


def fast_path_problem(model: nn.Module, xb: torch.Tensor, objective, *,
                      kinds=_FAST_KINDS, linear_2d: bool = False) -> str | None:
    """Why the layer-wise fast path would be wrong on this model, or None if it is exact.

    Runs one forward and backward pass on the probe batch ``xb`` with
    ``objective(output) -> (batch,)`` and checks that every captured layer is called once,
    with the batch axis first (and on (batch, features) inputs for Linear layers if
    ``linear_2d``), and that the sum over samples of each layer's per-sample gradients
    equals autograd's gradient of each parameter (which fails for tied weights or a
    parameter used outside its layer).
    """
    if not supports_fast_path(model) or any(
            isinstance(m, _FAST_KINDS) and not isinstance(m, kinds) and _trainable_own(m)
            for m in model.modules()):
        names = ", ".join(m.__name__ for m in kinds)
        return f"every trainable parameter must sit in {names} layers"
    names = {m: n for n, m in model.named_modules()}
    pnames = {p: n for n, p in model.named_parameters(remove_duplicate=False)}
    owner: dict = {}
    cap = _Capture(model, kinds)
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        for m in cap.layers:
            for p in m.parameters(recurse=False):
                if p.requires_grad and p in owner:
                    return (f"parameter {pnames[p]!r} is shared by layers {names[owner[p]]!r} and "
                            f"{names[m]!r} (tied weights)")
                owner[p] = m
        with torch.enable_grad():
            ell = objective(model(xb))
            grads = torch.autograd.grad(ell.sum(), params, allow_unused=True)
        cap.finish()
    finally:
        cap.close()
    total = {p: g for p, g in zip(params, grads)}
    for m in cap.layers:
        recs = cap.records.get(m, [])
        if len(recs) != 1:
            return f"layer {names[m]!r} is called {len(recs)} times per forward pass (a reused layer)"
        a, _, _, delta = recs[0]
        if delta is None:
            return f"the output of layer {names[m]!r} does not reach the loss"
        if isinstance(m, nn.Linear):
            if a.dim() < 2 or (linear_2d and a.dim() != 2) or a.shape[0] != xb.shape[0]:
                return (f"Linear layer {names[m]!r} acts on inputs of shape {tuple(a.shape)}; the fast "
                        f"path needs (batch, {'' if linear_2d else '..., '}features)")
        elif a.dim() != m.weight.dim() or a.shape[0] != xb.shape[0]:
            return (f"{type(m).__name__} layer {names[m]!r} acts on inputs of shape {tuple(a.shape)}; "
                    "the fast path needs a batch axis first")
        for p, g in _layer_stats(m, a, delta)[1].items():
            ref = total[p]
            ref = torch.zeros_like(g) if ref is None else ref
            scale, diff = float(ref.abs().max()), float((g.to(ref.dtype) - ref).abs().max())
            if not (math.isfinite(scale) and math.isfinite(float(g.abs().max()))):
                continue  # a diverged θ: nothing to compare, and every route gives inf or NaN
            tol = (1e-9 if g.dtype == torch.float64 else 1e-4 if g.dtype == torch.float32 else 2e-2) * (1 + scale)
            if not diff <= tol:
                return (f"the gradient of {pnames[p]!r} is not the sum of its layer's per-sample "
                        "terms: the parameter is also used outside its layer (tied or shared weights)")
    return None


def per_sample_grad_stats(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss=mse_per_sample,
    chunk_size: int | None = None,
    method: str = "auto",
) -> GradStats:
    """‖∇ℓ_μ‖² for every sample, ∇L and ℓ_μ, in one pass over the data.

    Parameters
    ----------
    model : nn.Module
        The network f(θ, ·); its trainable parameters are θ (frozen ones are excluded and
        counted in ``GradStats.frozen``).  Supported models and refusals as in
        :func:`per_sample_grads`; the model is left exactly as it was.
    x, y : Tensor
        Inputs (N, ...) and targets with the output's shape (up to a trailing 1), or
        integer class labels (N,) for the cross-entropy.
    loss : callable or {"mse", "ce"}
        Per-sample loss ``loss(output, target) -> (batch,)``.
    chunk_size : int, optional
        Samples per forward/backward pass (fast path; default 1000) or largest number of
        samples per vmap call (generic path, lowered to fit memory; see
        :func:`per_sample_grads`).  The result does not depend on it.
    method : {"auto", "fast", "generic"}
        ``"fast"``: layer by layer from each layer's input a and output gradient δ (no
        per-sample gradients for Linear layers; see :func:`layer_route` for the route of
        each layer); ``"generic"``: vmap(grad), never forming G; ``"auto"``: fast where a
        probe of a few samples shows it exact (every trainable parameter in a Linear or
        Conv1d/2d/3d layer called once with the batch axis first, no tied weights),
        generic otherwise.  ``"fast"`` raises where the probe fails.

    Notes
    -----
    With the mean convention L = (1/N) Σ ℓ_μ, ∇L is the mean of the per-sample
    gradients; the chunk loss Σ_μ ℓ_μ (a sum) is back-propagated so that δ_μ is the
    gradient of ℓ_μ alone.  Half-precision models accumulate their squares in float32
    (float64 for the totals).
    """
    if method not in {"auto", "fast", "generic"}:
        raise InvalidInput(f"method must be auto, fast or generic, got {method!r}")
    chunk = check_chunk_size(chunk_size)
    with unchanged(model):
        c = check(model, x, y, loss, batch=FAST_CHUNK if chunk is None else chunk, defer=True)
        return _grad_stats(model, x, c, chunk, method)


def _grad_stats(model: nn.Module, x: torch.Tensor, c: Checked, chunk: int | None, method: str) -> GradStats:
    y, loss = c.y, c.loss
    N = x.shape[0]
    dev = x.device
    sq = torch.zeros(N, dtype=torch.float64, device=dev)
    losses = torch.zeros(N, dtype=torch.float64, device=dev)
    fast = False
    if method != "generic":
        k = min(N, 8)
        with torch_errors():
            problem = fast_path_problem(model, x[:k], lambda out: loss(out, y[:k]))
        if problem and method == "fast":
            raise InvalidInput(f"fast path: {problem}; use method='generic' or 'auto'")
        fast = problem is None
    if not fast:
        total = torch.zeros(c.P, dtype=torch.float64, device=dev)
        for s, g in _generic_chunks(model, x, c, chunk):
            n = next(iter(g.values())).shape[0]
            flat = [t.reshape(n, -1).double() for t in g.values()]
            sq[s:s + n] = sum(t.pow(2).sum(dim=1) for t in flat)
            total += torch.cat([t.sum(dim=0) for t in flat])
        size = min(c.batch, N)
        for s in range(0, N, size):
            with torch.no_grad(), torch_errors():
                out = model(x[s:s + size])
                if s == 0 and c.deferred:
                    check_batch(model, x[:size], out)
                losses[s:s + size] = loss(out, y[s:s + size]).double()
        return GradStats(sq, total / N, losses, c.P, c.frozen, "generic")
    size = FAST_CHUNK if chunk is None else chunk
    params = [p for p in model.parameters() if p.requires_grad]
    total = {p: torch.zeros_like(p, dtype=torch.float64) for p in params}
    cap = _Capture(model)
    try:
        for s in range(0, N, size):
            xb, yb = x[s:s + size], y[s:s + size]
            cap.reset()
            with torch.enable_grad(), torch_errors():
                out = model(xb)
                ell = loss(out, yb)
                cap.backward(ell.sum(), params)
            losses[s:s + len(xb)] = ell.detach().double()
            for module, recs in cap.records.items():
                a, _, _, delta = recs[0]
                layer_sq, sums = _layer_stats(module, a, delta)
                sq[s:s + len(xb)] += layer_sq
                for p, g in sums.items():
                    total[p] += g.double()
            if s == 0 and c.deferred:
                check_batch(model, xb, out)  # after the records are used: it runs the model again
    finally:
        cap.close()
    mean = torch.cat([total[p].reshape(-1) for p in params]) / N
    return GradStats(sq, mean, losses, c.P, c.frozen, "fast")
