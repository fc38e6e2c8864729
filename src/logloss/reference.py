"""Naive reference implementations: the oracles the tests and benchmarks compare against.

Each is the textbook loop, one sample or one step at a time, with no tricks, so that a
fast kernel that agrees with it is right and a benchmark against it is honest.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .measure.losses import mse_per_sample
from .models.linreg import LinearRegression

__all__ = ["naive_sgd_linreg", "naive_linreg_replica", "naive_sgd_mlp", "naive_mlp_first_passage",
           "per_sample_sq_norms_loop"]


def naive_sgd_linreg(problem: LinearRegression, *, eta: float, B: int, steps: int,
                     theta0: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Reference loop: one replica, one numpy step per iteration, given minibatch indices.

    Returns the trajectory θ_1, ..., θ_steps, shape (steps, d).
    """
    theta = np.array(theta0, dtype=float)
    out = np.empty((steps, problem.d))
    for k in range(steps):
        idx = indices[k]
        xb = problem.X[idx]
        theta = theta - eta / B * xb.T @ (xb @ theta - problem.y[idx])
        out[k] = theta
    return out


def naive_linreg_replica(problem: LinearRegression, *, eta: float, B: int, steps: int,
                         rng: np.random.Generator, thresholds=(), online: bool = False):
    """Reference loop of one replica of :func:`logloss.sgd_linreg` that draws its own noise.

    Per step: a minibatch of B distinct indices by ``rng.choice(N, B, replace=False)``
    (online: B fresh samples x ~ N(0, I_d), y ~ N(0, 1)), one numpy update
    θ ← θ − (η/B) X_Bᵀ(X_Bθ − y_B) from θ_0 = θ*, and, when ``thresholds`` are given, the
    loss L* + ½uᵀHu compared with every threshold to record its first passage.

    Returns
    -------
    theta : ndarray, shape (d,)
    first_passage : ndarray of int64, shape (n_thresholds,), −1 where not crossed
    """
    thr = np.asarray(thresholds, dtype=float)
    d = problem.d
    if online:
        theta_star, H, L_star = np.zeros(d), np.eye(d), 0.5
    else:
        theta_star, H, L_star = problem.theta_star, problem.hessian, problem.L_star
    theta = theta_star.copy()
    fp = np.full(thr.size, -1, dtype=np.int64)
    for k in range(1, steps + 1):
        if online:
            xb, yb = rng.standard_normal((B, d)), rng.standard_normal(B)
        else:
            idx = rng.choice(problem.N, size=B, replace=False)
            xb, yb = problem.X[idx], problem.y[idx]
        theta = theta - eta / B * xb.T @ (xb @ theta - yb)
        if thr.size:
            u = theta - theta_star
            fp[(L_star + 0.5 * u @ H @ u >= thr) & (fp < 0)] = k
    return theta, fp


def naive_sgd_mlp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eta: float,
                  indices: np.ndarray) -> nn.Module:
    """Reference: one ``torch.nn`` model, ``loss.backward()`` and a plain update per step.

    ``indices`` has shape (steps, B); the loss is L_B = (1/B) Σ_{μ∈B} ½(f_μ − y_μ)².
    """
    params = [p for p in model.parameters()]
    for idx in indices:
        idx = torch.as_tensor(idx)
        out = model(x[idx])[:, 0]
        loss = 0.5 * ((out - y[idx]) ** 2).mean()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(g, alpha=eta)
    return model


def naive_mlp_first_passage(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eta: float,
                            indices: np.ndarray, thresholds) -> np.ndarray:
    """Reference: :func:`naive_sgd_mlp` one step at a time, with the full training loss
    L(θ_k) = (1/2N) Σ_μ (f(θ_k, x_μ) − y_μ)² after every step (one forward pass over the
    N samples) compared with every threshold.

    Returns the first-passage step of each threshold (−1 where not crossed), int64.
    """
    thr = torch.as_tensor(np.asarray(thresholds, dtype=float))
    fp = torch.full((thr.numel(),), -1, dtype=torch.int64)
    for k in range(len(indices)):
        naive_sgd_mlp(model, x, y, eta=eta, indices=indices[k:k + 1])
        with torch.no_grad():
            loss = 0.5 * ((model(x)[:, 0] - y).double() ** 2).mean()
        fp[(loss >= thr) & (fp < 0)] = k + 1
    return fp.numpy()


def per_sample_sq_norms_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                             loss=mse_per_sample) -> torch.Tensor:
    """‖∇ℓ_μ‖² by brute force, one ``loss.backward()`` per sample (the oracle), float64."""
    params = [p for p in model.parameters() if p.requires_grad]
    out = torch.zeros(x.shape[0], dtype=torch.float64)
    for mu in range(x.shape[0]):
        model.zero_grad(set_to_none=True)
        loss(model(x[mu:mu + 1]), y[mu:mu + 1]).sum().backward()
        out[mu] = sum(p.grad.double().pow(2).sum() for p in params)
    model.zero_grad(set_to_none=True)
    return out
