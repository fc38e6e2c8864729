"""Helpers shared by the first-passage and Hessian experiments (private)."""

from __future__ import annotations

import numpy as np

from ..data import mnist_even_odd
from ..dynamics.pretrain import pretrain
from ..measure.hessian import hessian_outliers
from ..stats.first_passage import mean_first_passage

# What the paper reports (App. E, Sec. 5.3.2): measurements on its own nets, not theory.
PAPER = {"lambda_max": 95.6, "participation_ratio": 12.7, "n_fit": 9.0, "pretrained_loss": 0.035}


def declared_window(c_lo: float, decades: float, slope_theory: float) -> tuple[float, float]:
    """The slope-fit window [c_lo, c_lo·10^(decades/s)], fixed by theory before any data.

    It spans ``decades`` decades of t_p if t_p ∝ c^s with the theory slope s.
    """
    s = max(slope_theory, 0.5)
    return c_lo, c_lo * 10 ** (decades / s)


def _fp_rows(c, fp, budget, fit, **extra):
    est = mean_first_passage(fp, budget)
    rows = []
    for cj, e, used in zip(c, est, fit.used):
        rows.append(dict(**extra, c=float(cj), t_p=e.mean, t_p_stderr=e.stderr,
                         censored=e.censored, replicas=e.replicas, estimator=e.method,
                         in_window=bool(used)))
    return rows


def pretrained_spectrum(*, n: int, pre_steps: int, pre_seeds, index: int, k: int) -> dict:
    """Gauss–Newton spectrum of pretrained net ``index`` (cached; shared by two experiments)."""
    from ..core.cache import cached

    def make():
        pre = pretrain(n=n, steps=pre_steps, seeds=pre_seeds)
        spec = hessian_outliers(pre["params"].model(index), mnist_even_odd(n).x, k=k, seed=0)
        return dict(eigenvalues=spec.eigenvalues, trace=spec.trace, trace_sq=spec.trace_sq,
                    participation_ratio=spec.participation_ratio,
                    participation_ratio_stderr=spec.participation_ratio_stderr,
                    lambda_max=spec.lambda_max, method=spec.method, P=spec.P, N=spec.N,
                    loss=float(pre["loss"][index]),
                    eigenvectors=np.asarray(spec.eigenvectors, dtype=np.float32))

    key = dict(n=n, pre_steps=pre_steps, pre_seeds=list(pre_seeds), index=index, k=k)
    return cached("gn-spectrum", key, make, code=[pretrain, hessian_outliers])
