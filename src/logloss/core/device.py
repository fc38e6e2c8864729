"""Where torch computes: ``--device auto|cpu|cuda`` resolved to a torch device string.

Experiments never pick a device themselves: :func:`logloss.run_experiment` resolves the
user's choice once with :func:`resolve_device` and hands the result to the experiments
that compute with torch (through their ``ctx``, see :class:`logloss.experiments.RunContext`).
Code below that layer is device-agnostic: it creates tensors on the device of its
inputs, so the CUDA path is the code the CPU tests run.
"""

from __future__ import annotations

import torch

from .errors import InvalidInput

__all__ = ["DEVICES", "resolve_device"]

#: What ``--device`` accepts (``cuda:1`` also names one GPU of several).
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(spec: str | None = "auto") -> str:
    """The torch device to compute on: ``"cpu"`` or ``"cuda:K"``.

    Parameters
    ----------
    spec : {"auto", "cpu", "cuda", "cuda:K"} or None
        ``"auto"`` (or ``None``) is the first GPU when torch sees one, else the CPU.

    Raises
    ------
    InvalidInput
        For an unknown spec, or ``cuda`` asked for where torch sees no GPU.
    """
    spec = "auto" if spec is None else str(spec).strip().lower()
    if spec == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec == "cuda" or spec.startswith("cuda:"):
        index = spec.partition(":")[2] or "0"
        if not index.isdigit():
            raise InvalidInput(f"device {spec!r}: give cuda or cuda:K with an integer K")
        if not torch.cuda.is_available():
            raise InvalidInput(f"device {spec!r} was asked for but torch sees no CUDA GPU here "
                               f"(torch {torch.__version__}, CUDA build: "
                               f"{torch.version.cuda or 'none'}); use --device cpu or auto")
        if int(index) >= torch.cuda.device_count():
            raise InvalidInput(f"device {spec!r}: only {torch.cuda.device_count()} CUDA GPU(s) "
                               "are visible")
        return f"cuda:{int(index)}"
    raise InvalidInput(f"device must be one of {', '.join(DEVICES)} (or cuda:K), got {spec!r}")
