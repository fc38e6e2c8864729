"""Helpers shared by the first-passage and Hessian experiments (private)."""

from __future__ import annotations

import numpy as np

from ..core.errors import InvalidInput
from ..core.resources import FLOP_RATE, NUMBA_RATE, Cost
from ..data import mnist_even_odd
from ..dynamics.pretrain import pretrain
from ..measure.hessian import hessian_outliers
from ._cost import F4, F8, jacobian_matrix

# What the paper reports (App. E, Sec. 5.3.2): measurements on its own nets, not theory.
PAPER = {"lambda_max": 95.6, "participation_ratio": 12.7, "n_fit": 9.0, "pretrained_loss": 0.035}


#: Parameters P of the paper's 784-10-1 net.
NET_PARAMS = 7861
#: Minibatch size B of the pretraining (:func:`logloss.dynamics.pretrain.pretrain`).
PRETRAIN_B = 100
#: Images in the vendored MNIST and Fashion-MNIST subsets.
VENDORED = 10_000


def check_mnist_n(n: int, name: str) -> None:
    """Refuse more samples than the vendored MNIST subset holds (``name``: the parameter)."""
    if n > VENDORED:
        raise InvalidInput(f"{name}={n} exceeds the {VENDORED} images of the vendored MNIST "
                           f"subset; use {name} <= {VENDORED}")


def check_pretraining(p: dict) -> None:
    """The pretraining's sizes: N MNIST images (at least its minibatch of 100)."""
    check_mnist_n(p["N"], "N")
    if p["N"] < PRETRAIN_B:
        raise InvalidInput(f"N={p['N']}: the nets are pretrained with minibatches of "
                           f"B = {PRETRAIN_B} images, so N must be >= {PRETRAIN_B}")


def pretrain_cost(p: dict) -> Cost:
    """:func:`~logloss.dynamics.pretrain.pretrain` of ``len(pre_seeds)`` nets for
    ``pre_steps`` steps (the sparse kernel touches ~150 of 784 pixels), with the full loss
    every 2000 steps."""
    n, R, steps = float(p["N"]), float(len(p["pre_seeds"])), float(p["pre_steps"])
    return Cost(memory=3 * n * 784 * F4 + R * NET_PARAMS * F8,
                seconds=R * steps * PRETRAIN_B * 150 * 10 * 4 / NUMBA_RATE
                + R * steps / 2000 * 2 * n * NET_PARAMS / FLOP_RATE)


def spectrum_cost(n, k) -> Cost:
    """:func:`~logloss.measure.hessian.hessian_outliers` of the 784-10-1 net on n images:
    the Jacobian J (n × P, float32), its float64 copy and square (for tr H), and the
    n × n (or P × P) eigenproblem when the smaller is at most 3000 (else k Lanczos
    vectors)."""
    n, P = float(n), float(NET_PARAMS)
    J = jacobian_matrix(N=n, params=P)
    small = min(n, P)
    solve = 3 * small * small * F8 if small <= 3000 else 3 * float(k) * P * F8
    return Cost(5 * J.memory + solve, J.seconds * 40 + 10 * small ** 3 / FLOP_RATE)


def declared_window(c_lo: float, decades: float, slope_theory: float) -> tuple[float, float]:
    """The slope-fit window [c_lo, c_lo·10^(decades/s)], fixed by theory before any data.

    It spans ``decades`` decades of t_p if t_p ∝ c^s with the theory slope s.
    """
    s = max(slope_theory, 0.5)
    with np.errstate(over="ignore"):  # beyond float64: the window is open above
        return c_lo, float(c_lo * np.power(10.0, decades / s))


def check_thresholds(p: dict) -> None:
    """The threshold grid c_min < c_max (both > 1) with ``thresholds`` points, and c_lo (if any) inside it."""
    if not p["c_min"] < p["c_max"]:
        raise InvalidInput(f"c_min={p['c_min']} must be below c_max={p['c_max']}")
    if "c_lo" in p and not p["c_min"] <= p["c_lo"] < p["c_max"]:
        raise InvalidInput(f"c_lo={p['c_lo']} must lie in [c_min, c_max) = "
                           f"[{p['c_min']}, {p['c_max']})")
    if p["thresholds"] < 3:
        raise InvalidInput(f"thresholds={p['thresholds']}: the slope fit needs >= 3 thresholds")


def check_not_degenerate(c: np.ndarray, first_passage: np.ndarray, window, what: str) -> None:
    """Refuse a first-passage fit whose times carry no slope.

    When every replica jumps over all thresholds of the fit window in one step (typically
    all at step 1, because η is far too large), t_p does not depend on c and the fitted
    slope would be a meaningless 0 ± 0.
    """
    inside = (c >= window[0]) & (c <= window[1])
    fp = np.asarray(first_passage)[:, inside]
    if fp.size and np.all(fp > 0) and np.all(fp == fp[:, :1]):
        when = (f"at step {int(fp.flat[0])}" if np.all(fp == fp.flat[0]) else
                "in a single step")
        raise InvalidInput(f"degenerate first passage at {what}: every replica crossed all "
                           f"thresholds of the fit window {when}, so t_p carries no slope; "
                           "the escape is immediate (raise beta / lower eta)")


def pretrained_spectrum(*, n: int, pre_steps: int, pre_seeds, index: int, k: int,
                        device: str = "cpu") -> dict:
    """Gauss–Newton spectrum of pretrained net ``index`` (cached; shared by two experiments).

    The nets are pretrained on ``device``; the spectrum is computed on the CPU."""
    from ..core.cache import NUMBER, cached, shaped

    def make():
        pre = pretrain(n=n, steps=pre_steps, seeds=pre_seeds, device=device)
        spec = hessian_outliers(pre["params"].model(index).cpu(), mnist_even_odd(n).x, k=k, seed=0)
        return dict(eigenvalues=np.asarray(spec.eigenvalues), trace=float(spec.trace),
                    trace_sq=float(spec.trace_sq),
                    participation_ratio=float(spec.participation_ratio),
                    participation_ratio_stderr=float(spec.participation_ratio_stderr),
                    lambda_max=float(spec.lambda_max), method=str(spec.method), P=int(spec.P),
                    N=int(spec.N), loss=float(pre["loss"][index]),
                    eigenvectors=np.asarray(spec.eigenvectors, dtype=np.float32))

    key = dict(n=n, pre_steps=pre_steps, pre_seeds=list(pre_seeds), index=index, k=k,
               device=str(device))
    spec = {"eigenvalues": lambda a: shaped(np.ndarray, None)(a) and a.size >= k,
            "eigenvectors": shaped(np.ndarray, NET_PARAMS, None),
            "method": str, **{key: NUMBER for key in (
                "trace", "trace_sq", "participation_ratio", "participation_ratio_stderr",
                "lambda_max", "P", "N", "loss")}}
    return cached("gn-spectrum", key, make, spec=spec)
