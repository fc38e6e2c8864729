"""Pretraining of the paper's 784-10-1 network (Sec. 5.3.2), several seeds at once, cached.

Glorot initialisation, then SGD with η = 0.01 and B = 100 on the first 10⁴ MNIST images
with even/odd labels; the paper runs 10⁵ iterations and reaches L ≈ 0.035.  Each seed is
one replica of :func:`logloss.dynamics.mlp_sgd.sgd_mlp` (its own initialisation and minibatch
sequence), so a few seeds cost little more than one.  The result is stored with
:func:`logloss.core.cache.cached`, keyed by every parameter and the package's source code.

A pretraining that is killed resumes: every ``log_every`` steps the parameters, the loss
curve and the state of the minibatch generator are stored as a checkpoint (a
:class:`~logloss.core.checkpoint.UnitStore` in ``$LOGLOSS_CACHE/partial``, under the same
key), and the next call continues from the last one, with the minibatches an
uninterrupted run would have drawn.  The checkpoint is deleted once the result is cached.
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from ..core.cache import NUMBER, cache_dir, cache_key, cached, shaped
from ..core.checkpoint import UnitStore
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


def _spec(R: int, hidden: int, D: int, checkpoint: bool) -> dict:
    """The structure of a stored pretraining (``checkpoint``: a partial one): the
    parameters of R replicas of a D-hidden-1 MLP, the loss curve and the time taken."""
    T = torch.Tensor
    spec = {"params": {"W1": shaped(T, R, hidden, D), "b1": shaped(T, R, hidden),
                       "w2": shaped(T, R, hidden), "b2": shaped(T, R)},
            "curve_steps": shaped(np.ndarray, None), "curve": shaped(np.ndarray, None, R),
            "seconds": NUMBER}
    return {**spec, "rng": str} if checkpoint else {**spec, "loss": shaped(np.ndarray, R)}


def pretrain(*, hidden: int = 10, n: int = 10_000, eta: float = 0.01, B: int = 100,
             steps: int = 100_000, seeds=(0,), log_every: int = 2000,
             device: str = "cpu") -> dict:
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
        Steps between full-loss evaluations in the recorded curve, and checkpoints.
    device : str
        The torch device to train on (``"cpu"``, ``"cuda:0"``); the parameters returned
        live there.

    Returns
    -------
    dict
        ``params`` (:class:`MLPReplicas`, one replica per seed), ``loss`` (float64 array
        (len(seeds),), final L), ``curve_steps`` and ``curve`` (shape (n_log, seeds)), and
        ``seconds``, the wall time the pretraining took when it was computed, summed over
        the runs that an interrupted pretraining was resumed in (a cached entry keeps the
        time of its first computation).
    """
    key = dict(hidden=hidden, n=n, eta=eta, B=B, steps=steps, seeds=list(seeds), log_every=log_every,
               device=str(device))
    unit = f"pretrain-mlp-{cache_key('pretrain-mlp', key)}"

    def make():
        start = time.perf_counter()
        data = mnist_even_odd(n)
        x, y = data.x.to(device), data.y.to(device)
        store = UnitStore(cache_dir() / "partial")
        ck = store.get(unit, spec=_spec(len(seeds), hidden, x.shape[1], checkpoint=True))
        if ck is None:
            params = stack([mlp([784, hidden, 1], seed=int(s)) for s in seeds]).to(device)
            rng = np.random.default_rng(list(seeds))
            marks, curve = [0], [replica_losses(params, x, y).cpu().numpy()]
            before = 0.0  # seconds spent in earlier, interrupted runs
        else:  # resume from the last checkpoint
            params = MLPReplicas(*(ck["params"][f] for f in _FIELDS)).to(device)
            rng = np.random.default_rng()
            rng.bit_generator.state = json.loads(ck["rng"])
            marks, curve = list(ck["curve_steps"]), list(ck["curve"])
            before = float(ck["seconds"])
        for _ in progress(range(int(marks[-1]), steps, log_every), desc="pretraining"):
            k = min(log_every, steps - int(marks[-1]))
            sgd_mlp(params, x, y, eta=eta, B=B, steps=k, rng=rng, threads=1)
            marks.append(int(marks[-1]) + k)
            curve.append(replica_losses(params, x, y).cpu().numpy())
            store.put(unit, {"params": _plain(params), "rng": json.dumps(rng.bit_generator.state),
                             "curve_steps": np.array(marks), "curve": np.array(curve),
                             "seconds": before + time.perf_counter() - start})
        # plain tensors and arrays only: cache entries are loaded with weights_only=True
        return {"params": _plain(params), "loss": curve[-1],
                "curve_steps": np.array(marks), "curve": np.array(curve),
                "seconds": before + time.perf_counter() - start}

    out = dict(cached("pretrain-mlp", key, make, spec=_spec(len(seeds), hidden, 784, False)))
    UnitStore(cache_dir() / "partial").discard(unit)
    out["params"] = MLPReplicas(*(out["params"][f] for f in _FIELDS)).to(device)
    return out


def _plain(params: MLPReplicas) -> dict:
    """The parameters as a dict of CPU tensors (what a cache entry holds)."""
    return {f: getattr(params, f).detach().cpu().clone() for f in _FIELDS}
