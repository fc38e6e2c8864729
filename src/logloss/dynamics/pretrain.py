"""Pretraining of the paper's 784-10-1 network (Sec. 5.3.2), several seeds at once, cached.

Glorot initialisation, then SGD with η = 0.01 and B = 100 on the first 10⁴ MNIST images
with even/odd labels; the paper runs 10⁵ iterations and reaches L ≈ 0.035.  Each seed is
one replica of :func:`logloss.dynamics.mlp_sgd.sgd_mlp` (its own initialisation and minibatch
sequence), so a few seeds cost little more than one.  The result is stored with
:func:`logloss.core.cache.cached`, keyed by every parameter and the package's source code.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..core.cache import cached
from ..core.progress import progress
from ..data import mnist_even_odd
from ..models.nets import mlp
from .mlp_sgd import MLPReplicas, replica_losses, replicate, sgd_mlp

__all__ = ["stack", "pretrain"]

_FIELDS = ("W1", "b1", "w2", "b2")


def stack(models) -> MLPReplicas:
    """Replicas with different parameters, one per ``Sequential(Linear, ReLU, Linear)``."""
    reps = [replicate(m, 1) for m in models]
    return MLPReplicas(*(torch.cat([getattr(r, f) for r in reps]) for f in _FIELDS))


def pretrain(*, hidden: int = 10, n: int = 10_000, eta: float = 0.01, B: int = 100,
             steps: int = 100_000, seeds=(0,), log_every: int = 2000) -> dict:
    """Pretrained 784-h-1 networks, one per seed (cached on disk).

    Parameters
    ----------
    hidden : int
        Hidden width h (10 in the paper, P = 7861).
    n : int
        Number of MNIST images (the first n, even/odd labels).
    eta, B : float, int
        Learning rate η and minibatch size B of pretraining.
    steps : int
        SGD iterations (10⁵ in the paper).
    seeds : sequence of int
        Seed s sets the Glorot initialisation and the minibatch sequence.
    log_every : int
        Steps between full-loss evaluations in the recorded curve.

    Returns
    -------
    dict
        ``params`` (:class:`MLPReplicas`, one replica per seed), ``loss`` (float64 array
        (len(seeds),), final L), ``curve_steps`` and ``curve`` (shape (n_log, seeds)), and
        ``seconds``, the wall time the pretraining took when it was computed (a cached
        entry keeps the time of its first computation).
    """
    key = dict(hidden=hidden, n=n, eta=eta, B=B, steps=steps, seeds=list(seeds), log_every=log_every)

    def make():
        start = time.perf_counter()
        data = mnist_even_odd(n)
        params = stack([mlp([784, hidden, 1], seed=int(s)) for s in seeds])
        rng = np.random.default_rng(list(seeds))
        marks, curve = [0], [replica_losses(params, data.x, data.y).numpy()]
        done = 0
        for _ in progress(range(0, steps, log_every), desc="pretraining"):
            k = min(log_every, steps - done)
            sgd_mlp(params, data.x, data.y, eta=eta, B=B, steps=k, rng=rng, threads=1)
            done += k
            marks.append(done)
            curve.append(replica_losses(params, data.x, data.y).numpy())
        # plain tensors and arrays only: cache entries are loaded with weights_only=True
        return {"params": {f: getattr(params, f) for f in _FIELDS}, "loss": curve[-1],
                "curve_steps": np.array(marks), "curve": np.array(curve),
                "seconds": time.perf_counter() - start}

    out = dict(cached("pretrain-mlp", key, make))
    out["params"] = MLPReplicas(*(out["params"][f] for f in _FIELDS))
    return out
