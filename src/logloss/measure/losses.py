"""Per-sample losses ℓ_μ and the decoupling weights w_μ (conventions used everywhere).

The per-sample loss is ℓ_μ = ½‖f(θ, x_μ) − y_μ‖² for the mean-square loss, and the
training loss is the mean L = (1/N) Σ_μ ℓ_μ, so ∇L = (1/N) Σ_μ ∇ℓ_μ.  The cross-entropy
loss is ℓ_μ = −Σ_k y_μk log softmax(f_μ)_k for K ≥ 2 outputs (y one-hot, probabilities,
or integer class labels of shape (N,)).  For one output f_μ (a logit) it is the binary
cross-entropy with logits, torch's ``binary_cross_entropy_with_logits``:
ℓ_μ = −q_μ log σ(f_μ) − (1 − q_μ) log σ(−f_μ), with labels q_μ ∈ {0, 1} (or probabilities
in [0, 1]); labels y_μ = ±1 are read as q = (1 + y)/2, which is the logistic loss
log(1 + exp(−y_μ f_μ)).  Targets that mix −1 with values in [0, 1), or hold other values,
are refused (:func:`check_binary_targets`): they fit neither convention.

Targets are never broadcast: ``y.shape`` must equal the output's shape up to one trailing
axis of length 1 (y of shape (N,) for an (N, 1) output, say), except integer class labels
for the cross-entropy.  Anything else raises :class:`~logloss.core.errors.InvalidInput`,
because broadcasting would silently pair every output with every target.  The checks use
shapes only, so the losses stay usable under ``torch.func.vmap``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.errors import InvalidInput

__all__ = ["mse_per_sample", "cross_entropy_per_sample", "LOSSES", "get_loss", "resolve_loss",
           "loss_weights", "scalar_output", "check_target_shape", "check_binary_targets"]


def _same_up_to_trailing_one(a: tuple, b: tuple) -> bool:
    return a == b or a + (1,) == b or a == b + (1,)


def check_target_shape(output: torch.Tensor, target: torch.Tensor, *, loss_name: str = "mse") -> None:
    """Raise :class:`InvalidInput` unless ``target`` has the shape of ``output`` (up to a trailing 1)."""
    out_shape, y_shape = tuple(output.shape), tuple(target.shape)
    if _same_up_to_trailing_one(y_shape, out_shape):
        return
    per_sample = output[0].numel() if output.shape[0] else 0
    if not target.is_floating_point() and not target.is_complex() and per_sample > 1 \
            and y_shape in (out_shape[:1], out_shape[:1] + (1,)):
        raise InvalidInput(
            f"targets y are integer class labels of shape {y_shape}, but the mean-square loss "
            f"needs targets shaped like the output {out_shape}: one-hot encode them "
            f"(torch.nn.functional.one_hot(y, {per_sample}).to(torch.get_default_dtype())) "
            "or use the cross-entropy loss (loss='ce')")
    raise InvalidInput(
        f"targets y have shape {y_shape} but the model's output has shape {out_shape} "
        f"({loss_name} loss): y must have the output's shape, up to one trailing axis of "
        "length 1; broadcasting would silently pair every output with every target")


def check_binary_targets(target: torch.Tensor) -> None:
    """Refuse targets of a one-output cross-entropy that fit neither {0, 1} (probabilities in
    [0, 1]) nor ±1: values outside {−1} ∪ [0, 1], or −1 together with values below 1."""
    t = target.detach()
    if not bool(torch.isfinite(t.double()).all()):
        raise InvalidInput("targets of the one-output cross-entropy must be finite")
    minus = t == -1
    bad = ~minus & ((t < 0) | (t > 1))
    if bool(bad.any()):
        v = float(t[bad].reshape(-1)[0])
        raise InvalidInput(f"the one-output cross-entropy needs labels in {{0, 1}} (binary cross-entropy, "
                           f"or probabilities in [0, 1]) or in {{-1, +1}} (logistic); got the value {v:g}")
    if bool(minus.any()) and bool(((t >= 0) & (t < 1)).any()):
        raise InvalidInput("the one-output cross-entropy got labels that mix -1 with 0 (or with "
                           "probabilities below 1): it cannot tell the {0, 1} convention from the "
                           "{-1, +1} one; use one of them for all samples")


def mse_per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ℓ_μ = ½‖f_μ − y_μ‖² for each sample (the last axis of a vector output is summed)."""
    check_target_shape(output, target, loss_name="mean-square")
    diff = output.reshape(output.shape[0], -1) - target.reshape(target.shape[0], -1)
    return 0.5 * (diff**2).sum(dim=1)


def cross_entropy_per_sample(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy ℓ_μ for each sample.

    For K ≥ 2 outputs, ℓ_μ = −Σ_k y_μk log softmax(f_μ)_k with one-hot (or probability)
    targets of shape (batch, K), or with integer class labels of shape (batch,) (or
    (batch, 1)) in 0..K−1.  For one output, the binary cross-entropy with logits
    ℓ_μ = q_μ softplus(−f_μ) + (1 − q_μ) softplus(f_μ), with labels q_μ ∈ {0, 1} (or
    probabilities in [0, 1]) or y_μ = ±1 read as q_μ = (1 + y_μ)/2, of shape (batch,) or
    (batch, 1).  Outside ``torch.func`` transforms the one-output labels are checked
    (:func:`check_binary_targets`).
    """
    out = output.reshape(output.shape[0], -1)
    K = out.shape[1]
    labels = not (target.is_floating_point() or target.is_complex())
    if K == 1:
        check_target_shape(out, target, loss_name="binary cross-entropy")
        if target.device.type != "meta" and not torch._C._functorch.is_functorch_wrapped_tensor(target):
            check_binary_targets(target)
        # −1 → 0 and {0, 1} or [0, 1] unchanged; each term is a softplus, accurate at any f
        q = target.reshape(-1).to(out.dtype).clamp(min=0)
        f = out[:, 0]
        return q * F.softplus(-f) + (1 - q) * F.softplus(f)
    if labels and tuple(target.shape) in (out.shape[:1], out.shape[:1] + (1,)):
        logp = F.log_softmax(out, dim=1)
        return -logp.gather(1, target.reshape(-1, 1).long())[:, 0]
    if not labels and tuple(target.shape) in (out.shape[:1], out.shape[:1] + (1,)):
        raise InvalidInput(
            f"cross-entropy on K={K} outputs needs integer class labels of shape "
            f"{tuple(out.shape[:1])} (dtype long) or one-hot/probability targets of shape "
            f"{tuple(out.shape)}; got floating-point targets of shape {tuple(target.shape)} "
            "(convert class labels with y.long())")
    check_target_shape(out, target, loss_name="cross-entropy")
    return -(target.reshape(out.shape) * F.log_softmax(out, dim=1)).sum(dim=1)


#: Per-sample losses by name, for ``--set loss=mse|ce``.
LOSSES = {"mse": mse_per_sample, "ce": cross_entropy_per_sample}


def get_loss(name: str):
    """The per-sample loss function called ``name`` (``"mse"`` or ``"ce"``)."""
    if name not in LOSSES:
        raise InvalidInput(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
    return LOSSES[name]


def resolve_loss(loss):
    """A per-sample loss from a name (``"mse"``, ``"ce"``) or a callable, else InvalidInput."""
    if isinstance(loss, str):
        return get_loss(loss)
    if not callable(loss):
        raise InvalidInput(f"loss must be 'mse', 'ce' or a callable loss(output, target) -> (batch,), "
                           f"got {loss!r}")
    return loss


def scalar_output(out: torch.Tensor) -> torch.Tensor:
    if out.dim() > 2 or (out.dim() == 2 and out.shape[1] != 1):
        raise InvalidInput(f"the decoupling spectra need a scalar output f, got shape {tuple(out.shape)}")
    return out.reshape(-1)


def loss_weights(output: torch.Tensor, target: torch.Tensor, *, loss=mse_per_sample) -> torch.Tensor:
    """w_μ = ½ (∂ℓ_μ/∂f_μ)² for a scalar output (w_μ = ℓ_μ for the mean-square loss)."""
    loss = resolve_loss(loss)
    f = scalar_output(output).detach().double().requires_grad_(True)
    if tuple(target.shape) not in ((f.shape[0],), (f.shape[0], 1)):
        raise InvalidInput(f"targets y must have shape ({f.shape[0]},) or ({f.shape[0]}, 1) for a "
                           f"scalar output, got {tuple(target.shape)}")
    ell = loss(f.reshape(-1, 1), target.double().reshape(-1, 1)).sum()
    (df,) = torch.autograd.grad(ell, f)
    return 0.5 * df.pow(2)
