"""The boundary between a user's ``nn.Module`` and the measurements: checks, hints, no side effects.

Every public function of :mod:`logloss.measure` that takes a model goes through
:func:`checked`, which

* requires trainable parameters (frozen ones are excluded and counted), inputs and
  parameters of one floating dtype and device, and targets with one row per input;
* refuses models whose output for a sample is not a function of that sample and θ alone,
  because per-sample gradients are then undefined and any number would depend on the
  chunking: BatchNorm in train mode (or without running statistics), dropout in train
  mode, InstanceNorm tracking statistics in train mode; then, for any other module, a
  probe checks that two identical calls agree (no randomness) and that a batch as large as
  the largest the measurement will use gives the outputs of its samples in two smaller
  batches, and of a few of them one at a time (no coupling);
* leaves the model exactly as it was: training flags, requires_grad, dtypes, parameters,
  buffers, and the global RNG state;
* re-raises the raw errors of ``torch.func`` (vmap, grad) as
  :class:`~logloss.core.errors.InvalidInput` with a hint.

The decision to refuse rather than to switch to eval mode is deliberate: a silent switch
would measure a different function than the one being trained.  Call ``model.eval()``
before measuring (and ``model.train()`` after, to resume training).
"""

from __future__ import annotations

import contextlib
import numbers
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd
from torch.nn.modules.instancenorm import _InstanceNorm

from ..core.errors import InvalidInput
from .losses import check_binary_targets, cross_entropy_per_sample, mse_per_sample, resolve_loss

#: Memory the generic per-sample path may use for one chunk when nothing better is known.
DEFAULT_BUDGET = 2 * 1024**3
#: Bytes per parameter and per sample of one vmap(grad) chunk, in units of the itemsize
#: (measured: about 20 bytes × P per sample in float32 for an MLP with a LayerNorm).
GENERIC_COST = 6
#: Samples whose outputs are compared one at a time with their outputs in a batch.
SINGLES = 4
#: Largest batch the probe evaluates when the caller does not say what it will use.
DEFAULT_PROBE_BATCH = 1024


@dataclass(frozen=True)
class Checked:
    """What the boundary learned about a call."""

    params: dict            # name -> detached trainable parameter (θ)
    P: int                  # trainable entries
    frozen: int             # entries of parameters with requires_grad=False (excluded)
    y: torch.Tensor | None  # targets, integer class labels one-hot encoded for cross-entropy
    loss: object            # the per-sample loss callable
    out_shape: tuple        # output shape of a probe batch, batch axis first
    dtype: torch.dtype      # floating dtype of the parameters
    batch: int = DEFAULT_PROBE_BATCH  # largest batch whose samples were checked independent
    deferred: bool = False  # the batch check is left to the measurement (check_batch)


def check_chunk_size(chunk_size, name: str = "chunk_size") -> int | None:
    """None (choose automatically) or an integer ≥ 1."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise InvalidInput(f"{name} must be an integer >= 1 or None (automatic), got {chunk_size!r}")
    return int(chunk_size)


def available_memory(device: torch.device) -> int:
    """Free memory on ``device`` in bytes (CUDA: ``mem_get_info``; CPU: psutil if present)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is in the pinned environment
        return 4 * DEFAULT_BUDGET
    return int(psutil.virtual_memory().available)


def generic_chunk(P: int, itemsize: int, device: torch.device, requested: int | None) -> int:
    """Samples per vmap(grad) call: at most ``requested``, and within the memory budget.

    One chunk costs about ``GENERIC_COST × itemsize × P`` bytes per sample (≈ 24 B × P in
    float32); the budget is half the free memory, and at most 2 GiB on the CPU.
    """
    free = available_memory(device)
    budget = free // 2 if device.type == "cuda" else min(free // 2, DEFAULT_BUDGET)
    fit = max(1, int(budget // (GENERIC_COST * itemsize * max(P, 1))))
    return fit if requested is None else min(requested, fit)


def check_fits(rows: int, P: int, itemsize: int, device: torch.device, what: str) -> None:
    """Refuse to allocate a rows × P result that exceeds the free memory."""
    need = rows * P * itemsize
    free = available_memory(device)
    if need > free:
        raise InvalidInput(f"{what} would need {rows} × {P} entries = {need / 1e9:.1f} GB, more than "
                           f"the {free / 1e9:.1f} GB free; pass a subset of the data, or use "
                           "noise_strength / per_sample_grad_stats, which never form it")


def _stateful_problem(model: nn.Module) -> str | None:
    for name, m in model.named_modules():
        label = f"{type(m).__name__} {name!r}" if name else type(m).__name__
        if isinstance(m, _BatchNorm):
            if m.training:
                return (f"model has {label} in train mode: it normalises by the statistics of "
                        "the batch and updates its running statistics, so per-sample gradients "
                        "are undefined (the value would depend on chunk_size); call model.eval() "
                        "first (and model.train() afterwards to resume training)")
            if m.running_mean is None:
                return (f"model has {label} without running statistics (track_running_stats="
                        "False): it normalises by the batch statistics even in eval mode, so "
                        "per-sample gradients are undefined; use a norm layer that acts on one "
                        "sample (LayerNorm, GroupNorm) or track running statistics")
        if isinstance(m, _InstanceNorm) and m.training and m.track_running_stats:
            return (f"model has {label} in train mode with track_running_stats=True: every forward "
                    "pass would update its running statistics; call model.eval() first")
        if m.training and (
                (isinstance(m, _DropoutNd) and m.p > 0)
                or (isinstance(m, nn.MultiheadAttention) and m.dropout > 0)
                or (isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1)):
            return (f"model has {label} in train mode: dropout draws random masks, so every call "
                    "would give a different value; call model.eval() first (and model.train() "
                    "afterwards to resume training)")
    return None


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape:
        return False
    if not a.is_floating_point():
        return torch.equal(a, b)
    finite = a[torch.isfinite(a)]
    scale = float(finite.abs().max()) if finite.numel() else 0.0
    tol = (1e-4 if a.dtype in (torch.float16, torch.bfloat16, torch.float32) else 1e-9) * (1 + scale)
    return bool(torch.isclose(a, b, rtol=0.0, atol=tol, equal_nan=True).all())


def _coupling_error(m: int) -> InvalidInput:
    return InvalidInput(f"the model's output for a sample depends on the other samples in the batch "
                        f"(checked in batches of up to {m}: batch statistics?), so per-sample "
                        "gradients are undefined; call model.eval() first, or use layers that act "
                        "on one sample")


def check_batch(model: nn.Module, xb: torch.Tensor, out: torch.Tensor) -> None:
    """Refuse a model whose outputs ``out`` for the batch ``xb`` (as the measurement computed
    them) differ from those of its first part evaluated alone.

    The part is the first 2·SINGLES + 1 = 9 samples (an odd number), so that its
    composition, its size, and the neighbours of its samples all differ from the batch's: a
    layer that mixes samples (batch statistics, only in large batches, neighbours) shows,
    and one that mixes them in small groups shows in the single-sample check of the probe.
    Costs a forward pass of 9 samples.
    """
    m = int(xb.shape[0])
    if m < 2:
        return
    part = min(m - 1, 2 * SINGLES + 1)
    devices = [xb.device] if xb.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices), torch_errors():
        alone = model(xb[:part])
    if not _close(out.detach()[:part], alone):
        raise _coupling_error(m)


def _probe(model: nn.Module, x: torch.Tensor, batch: int | None) -> torch.Tensor:
    """Outputs of the first few samples, after checking determinism and independence.

    Independence is checked at the size of the largest batch the measurement will pass to
    the model: the outputs of x[:m] in one batch must equal those of a part of them alone
    (:func:`check_batch`), and, for the first few, those of each sample alone.  A layer that
    mixes samples only in large batches is caught at that size, and one that mixes them
    only beyond it cannot affect the measurement.  With ``batch=None`` the batch check is
    left to the measurement, on its own first batch (:func:`check_batch`).
    """
    k = max(1, min(int(x.shape[0]), SINGLES))
    devices = [x.device] if x.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        first = model(x[:k])
        if not isinstance(first, torch.Tensor):
            raise InvalidInput(f"the model must return one tensor of outputs, got {type(first).__name__}")
        if first.dim() == 0 or first.shape[0] != k:
            raise InvalidInput(f"the model's output must have the batch axis first: {k} inputs gave "
                               f"an output of shape {tuple(first.shape)}")
        if not _close(first, model(x[:k])):
            raise InvalidInput("the model gives different outputs for two identical calls: its "
                               "forward pass draws random numbers (dropout?), so per-sample "
                               "gradients are undefined; call model.eval() first")
        if k > 1 and not _close(first, torch.cat([model(x[i:i + 1]) for i in range(k)])):
            raise _coupling_error(k)
        m = 0 if batch is None else max(1, min(int(x.shape[0]), int(batch)))
        if m > k:
            a = model(x[:m])
            if not _close(a[:k], first):
                raise _coupling_error(m)
            check_batch(model, x[:m], a)
    return first


def _prepare_targets(out: torch.Tensor, y: torch.Tensor, loss, N: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor):
        raise InvalidInput(f"targets y must be a torch.Tensor, got {type(y).__name__}")
    if y.dim() == 0 or y.shape[0] != N:
        raise InvalidInput(f"targets y must have one row per input: x has {N} rows, y has shape "
                           f"{tuple(y.shape)}")
    if y.device != out.device:
        raise InvalidInput(f"targets y are on {y.device} but the model's outputs on {out.device}")
    K = out[0].numel()
    if loss is cross_entropy_per_sample and K > 1 and not (y.is_floating_point() or y.is_complex()) \
            and tuple(y.shape) in ((N,), (N, 1)):
        labels = y.reshape(-1).long()
        if labels.min() < 0 or labels.max() >= K:
            raise InvalidInput(f"class labels must lie in 0..{K - 1} for a model with {K} outputs, "
                               f"got labels from {int(labels.min())} to {int(labels.max())}")
        return torch.nn.functional.one_hot(labels, K).to(out.dtype).reshape(N, *out.shape[1:])
    if loss is cross_entropy_per_sample and K == 1:
        check_binary_targets(y)  # all of them, not only the probe's
    if loss in (mse_per_sample, cross_entropy_per_sample):
        # the built-in losses check the target shape; run them on shapes only, at full size,
        # so that the message names the shapes the caller passed
        full = torch.empty((N, *out.shape[1:]), dtype=out.dtype, device="meta")
        loss(full, y.to("meta"))
    k = out.shape[0]
    ell = loss(out, y[:k])
    if not isinstance(ell, torch.Tensor) or tuple(ell.shape) != (k,):
        raise InvalidInput(f"loss(output, target) must return one value per sample, shape ({k},), got "
                           f"{tuple(getattr(ell, 'shape', ()))}")
    return y


def check(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, loss=None, *,
          batch: int | None = None, defer: bool = False) -> Checked:
    """Validate a call on (model, x[, y, loss]); see the module docstring.

    ``batch`` is the largest number of samples the measurement will pass to the model at
    once; the independence of samples is checked at that size (default
    ``DEFAULT_PROBE_BATCH``), here, or with ``defer=True`` by the measurement itself, which
    must then call :func:`check_batch` with the outputs of its first (largest) batch.
    """
    if not isinstance(model, nn.Module):
        raise InvalidInput(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor):
        raise InvalidInput(f"inputs x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 0 or x.shape[0] == 0:
        raise InvalidInput(f"inputs x must have at least one sample along the first axis, got shape "
                           f"{tuple(x.shape)}")
    named = list(model.named_parameters())
    params = {k: v.detach() for k, v in named if v.requires_grad}
    frozen = sum(v.numel() for _, v in named if not v.requires_grad)
    if not named:
        raise InvalidInput("the model has no parameters: there is no θ to differentiate")
    if not params:
        raise InvalidInput(f"all {len(named)} parameters of the model are frozen (requires_grad=False): "
                           "there is no θ to differentiate; unfreeze the ones to measure")
    dtypes = {v.dtype for v in params.values()}
    devices = {v.device for v in params.values()}
    if len(dtypes) > 1 or len(devices) > 1:
        raise InvalidInput(f"the trainable parameters mix dtypes {sorted(map(str, dtypes))} or devices "
                           f"{sorted(map(str, devices))}; use one of each")
    (dtype,), (device,) = dtypes, devices
    if x.device != device:
        raise InvalidInput(f"inputs x are on {x.device} but the model's parameters on {device}; "
                           f"move one of them (x.to({str(device)!r}))")
    if x.is_floating_point() and x.dtype != dtype:
        raise InvalidInput(f"inputs x are {x.dtype} but the model's parameters are {dtype}: convert x "
                           f"(x.to({dtype})) or measure a converted copy of the model "
                           f"(copy.deepcopy(model).to({x.dtype})); mixing them is not upcast silently")
    problem = _stateful_problem(model)
    if problem:
        raise InvalidInput(problem)
    with torch_errors():
        batch = DEFAULT_PROBE_BATCH if batch is None else int(batch)
        out = _probe(model, x, None if defer else batch)
        if y is not None:
            loss = resolve_loss(loss)
            y = _prepare_targets(out, y, loss, int(x.shape[0]))
    return Checked(params, sum(v.numel() for v in params.values()), frozen, y, loss,
                   tuple(out.shape), dtype, batch, defer)


def _slots(model: nn.Module) -> list:
    """(dict, key, tensor) for every parameter and buffer slot of every distinct submodule.

    A submodule registered under two names (``nn.Sequential(lin, act, lin)``) and a
    parameter shared by two modules (tied weights) appear once per distinct (module, name).
    """
    return [(d, k, t) for m in model.modules() for d in (m._parameters, m._buffers)
            for k, t in d.items() if t is not None]


@contextlib.contextmanager
def substituted(model: nn.Module, tensors: dict):
    """Evaluate ``model`` with some parameters or buffers replaced, and put the originals back.

    ``tensors`` maps names of ``model.named_parameters()`` / ``named_buffers()`` to the
    tensors to use instead.  The replacement is made per tensor, in every slot that holds
    it, so a reused layer or tied weight gets one value everywhere; on exit every slot holds
    its original object again, whatever the order of the slots.  (``torch.func.functional_call``
    restores the slots of a submodule registered under two names in an order that leaves
    one of them holding the substitute: the caller's layer loses its ``nn.Parameter``.)
    """
    named = dict(model.named_parameters())
    named.update(model.named_buffers())
    new = {id(named[name]): t for name, t in tensors.items()}
    saved = [(d, k, t) for d, k, t in _slots(model) if id(t) in new]
    try:
        for d, k, t in saved:
            d[k] = new[id(t)]
        yield
    finally:
        for d, k, t in saved:
            d[k] = t


def call(model: nn.Module, tensors: dict, *args):
    """``model(*args)`` with the parameters/buffers named in ``tensors`` replaced (see :func:`substituted`)."""
    with substituted(model, tensors):
        return model(*args)


def _snapshot(model: nn.Module):
    return ([(m, m.training) for m in model.modules()],
            [(p, p.requires_grad, p.dtype, p.grad) for p in model.parameters()],
            [(b, b.clone()) for b in model.buffers()],
            _slots(model))


def _restore(snap) -> None:
    modes, params, buffers, slots = snap
    for d, k, t in slots:  # every slot holds its own object again (identity)
        d[k] = t
    for m, training in modes:
        m.training = training
    for p, requires_grad, _, g in params:
        p.requires_grad_(requires_grad)
        p.grad = g
    with torch.no_grad():
        for b, saved in buffers:
            if b.shape == saved.shape and not torch.equal(b, saved):
                b.copy_(saved)


@contextlib.contextmanager
def unchanged(model: nn.Module):
    """Run a measurement and leave the model's modes, flags, ``.grad``, buffers and the
    objects in its parameter and buffer slots as they were."""
    snap = _snapshot(model)
    try:
        yield
    finally:
        _restore(snap)


_HINTS = (
    ("randomness", "the model draws random numbers in its forward pass (dropout?); per-sample "
                   "gradients are undefined: call model.eval() first"),
    ("mutate a captured tensor", "the model's forward pass updates a tensor in place (train-mode "
                                 "BatchNorm, or a running statistic of a custom layer): call "
                                 "model.eval() first, or make the forward pass free of side effects"),
    ("data-dependent control flow", "the model branches on tensor values (if tensor: ..., .item()), "
                                    "which torch.func.vmap cannot batch"),
    (".item()", "the model calls .item() on a tensor, which torch.func.vmap cannot batch"),
)


@contextlib.contextmanager
def torch_errors(what: str = "the model", *, vmap: bool = False):
    """Re-raise the raw RuntimeErrors of torch and torch.func as InvalidInput with a hint.

    ``vmap=True`` marks a block that runs the model under ``torch.func.vmap``: an error
    with no specific hint is then reported as a limitation of the generic path.
    """
    try:
        yield
    except InvalidInput:
        raise
    except RuntimeError as err:
        text = str(err)
        low = text.lower()
        if "out of memory" in low or "can't allocate" in low or "not enough memory" in low:
            raise InvalidInput(f"evaluating {what} ran out of memory ({text.splitlines()[0][:200]}); "
                               "pass a smaller chunk_size or a subset of the data") from err
        for key, hint in _HINTS:
            if key in low:
                raise InvalidInput(f"{hint} (torch said: {text.splitlines()[0][:200]})") from err
        if vmap or "vmap" in low or "batching rule" in low or "functorch" in low:
            raise InvalidInput(
                f"torch.func.vmap could not evaluate {what} one sample at a time ({text.splitlines()[0][:200]}). "
                "The generic path supports modules whose forward pass is a pure function of "
                "(parameters, buffers, one sample) built from operations vmap can batch; "
                "recurrent layers (nn.LSTM, nn.GRU, nn.RNN) are not supported") from err
        raise InvalidInput(f"evaluating {what} failed: {text.splitlines()[0][:300]}") from err
