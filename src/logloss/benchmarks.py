"""Benchmarks of the fast kernels against naive loops, timed in the same run.

Every benchmark is defined here and registered with :func:`benchmark`; ``python -m
logloss bench`` runs each and prints the kernel's rate (replica-steps/s or samples/s),
the naive loop's rate (from :mod:`logloss.reference`) and their ratio.  No module is
imported for its side effects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numba
import numpy as np
import torch

from .core.threads import torch_threads
from .data import fashion_mnist, mnist_even_odd
from .dynamics.linreg_sgd import sgd_linreg
from .dynamics.mlp_sgd import draw_minibatches, replicate, sgd_mlp
from .measure.noise import noise_strength
from .models.linreg import make_linear_regression
from .models.nets import mlp
from .reference import naive_linreg_replica, naive_mlp_first_passage, naive_sgd_mlp, per_sample_sq_norms_loop

__all__ = ["BenchResult", "benchmark", "run_benchmarks"]


@dataclass(frozen=True)
class BenchResult:
    """One benchmark's outcome.

    Attributes
    ----------
    name : str
        Kernel name.
    unit : str
        What ``rate`` counts per second, for example ``"replica-steps/s"``.
    rate : float
        The kernel's throughput.
    naive_rate : float
        The naive loop's throughput on the same work.
    config : str
        The work measured (sizes, threads).
    """

    name: str
    unit: str
    rate: float
    naive_rate: float
    config: str

    @property
    def ratio(self) -> float:
        return self.rate / self.naive_rate


_BENCHMARKS: dict[str, Callable[[bool], BenchResult]] = {}


def benchmark(name: str) -> Callable:
    """Register ``fn(quick: bool) -> BenchResult`` under ``name``."""

    def register(fn: Callable[[bool], BenchResult]) -> Callable[[bool], BenchResult]:
        _BENCHMARKS[name] = fn
        return fn

    return register


def run_benchmarks(quick: bool = False) -> list[dict]:
    """Run every registered benchmark, print a table and return JSON-able rows."""
    rows = []
    for name in sorted(_BENCHMARKS):
        res = _BENCHMARKS[name](quick)
        print(f"{res.name:28s} {res.rate:12.4g} {res.unit:18s} naive {res.naive_rate:10.4g}"
              f"  ratio {res.ratio:8.1f}x  [{res.config}]")
        rows.append(asdict(res) | {"ratio": res.ratio})
    if not rows:
        print("no benchmarks registered")
    return rows


# ----------------------------------------------------------------- linear-regression SGD

_BENCH_N, _BENCH_REPLICAS, _BENCH_ETA = 10_000, 100, 0.1
#: First-passage levels c = L/L*: all are tested at every step, the last is never reached
#: (so no replica stops early and kernel and loop do the same number of steps).
_BENCH_LEVELS = np.concatenate([np.geomspace(1.05, 20.0, 19), [1e12]])


def _linreg_row(name: str, quick: bool, **mode) -> BenchResult:
    """d = 1, B = 1, 100 replicas of :func:`sgd_linreg` in ``mode`` against the naive loop
    :func:`logloss.reference.naive_linreg_replica` (one replica, one numpy step per
    iteration, drawing its minibatch with ``rng.choice`` or its online sample with
    ``rng.standard_normal``) on the same work, timed in the same process."""
    rng = np.random.default_rng(0)
    prob = make_linear_regression(_BENCH_N, 1, rng)
    if "thresholds" in mode:
        mode = mode | {"thresholds": mode["thresholds"] * prob.L_star}
    kw = dict(eta=_BENCH_ETA, B=1, replicas=_BENCH_REPLICAS) | mode
    steps = 20_000 if quick else 1_000_000
    sgd_linreg(prob, steps=10, seed=0, **kw)  # compile
    t0 = time.perf_counter()
    sgd_linreg(prob, steps=steps, seed=1, **kw)
    rate = _BENCH_REPLICAS * steps / (time.perf_counter() - t0)
    n_naive = 2_000 if quick else 20_000
    t0 = time.perf_counter()
    naive_linreg_replica(prob, eta=_BENCH_ETA, B=1, steps=n_naive, rng=rng,
                         thresholds=mode.get("thresholds", ()), online=mode.get("online", False))
    naive = n_naive / (time.perf_counter() - t0)
    what = ", ".join(f"{k}={len(v) if k == 'thresholds' else v}" for k, v in mode.items())
    return BenchResult(name, "replica-steps/s", rate, naive,
                       f"d=1 B=1 N={_BENCH_N} replicas={_BENCH_REPLICAS} {what} "
                       f"numba threads={numba.get_num_threads()}; naive: per-step numpy loop "
                       "of one replica (reference.naive_linreg_replica)")


@benchmark("sgd-linreg")
def _bench_linreg(quick: bool) -> BenchResult:
    """d = 1, B = 1: minibatch SGD on a data set of N = 10⁴, nothing recorded."""
    return _linreg_row("sgd-linreg", quick)


@benchmark("sgd-linreg-first-passage")
def _bench_linreg_fp(quick: bool) -> BenchResult:
    """d = 1, B = 1: the first passage of 20 loss levels, all tested at every step."""
    return _linreg_row("sgd-linreg-first-passage", quick, thresholds=_BENCH_LEVELS)


@benchmark("sgd-linreg-online")
def _bench_linreg_online(quick: bool) -> BenchResult:
    """d = 1, B = 1, N = ∞: a fresh Gaussian sample (x, y) every step."""
    return _linreg_row("sgd-linreg-online", quick, online=True)


# ----------------------------------------------------------------- 784-10-1 MLP replicas

def _bench_setup(N: int = 10_000):
    data = mnist_even_odd(N)
    net = mlp([784, 10, 1], seed=0)
    return data.x, data.y, net


@benchmark("sgd-mlp-784-10-1")
def _bench_mlp(quick: bool) -> BenchResult:
    """100 replicas of the 784-10-1 net, B = 10: the CPU kernel against per-replica autograd.

    The kernel (numba on the CPU: nonzero inputs only, minibatches drawn inline) is timed
    with one thread and with all; the faster is reported (one thread wins when other
    processes share the cores).  The naive loop runs with one torch thread, its fastest
    setting for such small matrices.
    """
    R, B, eta = 100, 10, 0.01
    x, y, net = _bench_setup()
    rng = np.random.default_rng(0)
    steps = 200 if quick else 2000
    rates = {}
    for threads in (1, None):
        sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=20, rng=rng, threads=threads)
        t0 = time.perf_counter()
        sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=steps, rng=rng, threads=threads)
        rates[threads or torch.get_num_threads()] = R * steps / (time.perf_counter() - t0)
    best = max(rates, key=rates.get)
    n_naive = 300 if quick else 3000
    idx = draw_minibatches(rng, n_naive, 1, x.shape[0], B)[:, 0]
    with torch_threads(1):
        t0 = time.perf_counter()
        naive_sgd_mlp(net, x, y, eta=eta, indices=idx)
        naive = n_naive / (time.perf_counter() - t0)
    detail = ", ".join(f"{k} thr {v:.3g}/s" for k, v in rates.items())
    return BenchResult("sgd-mlp-784-10-1", "replica-steps/s", rates[best], naive,
                       f"R={R} B={B} N={x.shape[0]}, kernel threads={best} ({detail}); "
                       "naive: per-replica torch.nn loop with autograd, 1 thread")


@benchmark("sgd-mlp-784-10-1-first-passage")
def _bench_monitored(quick: bool) -> BenchResult:
    """Same, with the full loss over N = 10⁴ tracked at every step (first-passage mode)."""
    R, B, eta = 100, 10, 0.01
    x, y, net = _bench_setup()
    rng = np.random.default_rng(0)
    K = x @ x.T
    steps = 50 if quick else 800
    never = [float("inf")]
    sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=5, rng=rng, thresholds=never, gram=K)
    t0 = time.perf_counter()
    sgd_mlp(replicate(net, R), x, y, eta=eta, B=B, steps=steps, rng=rng, thresholds=never, gram=K)
    rate = R * steps / (time.perf_counter() - t0)
    n_naive = 10 if quick else 40
    idx = draw_minibatches(rng, n_naive, 1, x.shape[0], B)[:, 0]
    naive_mlp_first_passage(net, x, y, eta=eta, indices=idx[:2], thresholds=never)  # warm-up
    t0 = time.perf_counter()  # torch's default threads: the full forward pass is a big matmul
    naive_mlp_first_passage(net, x, y, eta=eta, indices=idx, thresholds=never)
    naive = n_naive / (time.perf_counter() - t0)
    return BenchResult("sgd-mlp-784-10-1-first-passage", "replica-steps/s", rate, naive,
                       f"R={R} B={B} N={x.shape[0]}, full loss every step, numba threads="
                       f"{numba.get_num_threads()}; "
                       "naive: autograd step + full forward pass per replica-step")


# ----------------------------------------------------------------- noise strength 𝒩

@benchmark("noise-strength-mlp2000")
def _bench_noise_strength(quick: bool):
    """𝒩 of the paper's 784-2000-2000-2000-10 MLP: fast path against a backward() loop."""
    n, n_loop = (1000, 10) if quick else (10_000, 100)
    data = fashion_mnist(n)
    net = mlp([784, 2000, 2000, 2000, 10], seed=0)
    start = time.perf_counter()
    ns = noise_strength(net, data.x, data.y, method="fast")
    fast = time.perf_counter() - start
    per_sample_sq_norms_loop(net, data.x[:2], data.y[:2])  # warm-up
    start = time.perf_counter()
    per_sample_sq_norms_loop(net, data.x[:n_loop], data.y[:n_loop])
    loop = (time.perf_counter() - start) * n / n_loop  # extrapolated to all n samples
    assert np.isfinite(ns.noise)
    return BenchResult(
        name="noise-strength-mlp2000", unit="samples/s", rate=n / fast, naive_rate=n / loop,
        config=f"784-2000-2000-2000-10, N={n}, fast {fast:.1f} s, loop {n_loop} samples "
               f"extrapolated to {loop:.0f} s, {torch.get_num_threads()} threads")


# ----------------------------------------------------------------- rare first passage

_RARE: dict[bool, dict] = {}


def _rare_rows(quick: bool) -> dict:
    """Splitting on 1-d linear regression (N = 10⁴, η = 0.1, B = 1) at the thresholds where
    the exact chain puts t_p at 10⁹ and 10¹², against brute force at the same relative error.

    Brute force with exponential first-passage times needs 1/ε² crossings, each costing t_p
    replica-steps, for a relative standard error ε of the mean: t_p/ε² replica-steps.  The
    splitting estimator's ε is its delta-method error over repetitions, and its cost the
    replica-steps it spent until the threshold's estimate was final (brute-force burn-in and
    pilot included)."""
    if quick in _RARE:
        return _RARE[quick]
    from .dynamics.excursions import LinregSystem
    from .stats.splitting import rare_first_passage
    from .theory import discrete_mfpt_1d

    prob = make_linear_regression(_BENCH_N, 1, np.random.default_rng(0))
    x = prob.X[:, 0]
    a, b = 1 - _BENCH_ETA * x**2, _BENCH_ETA * x * (prob.y - x * prob.theta_star[0])
    grid = np.linspace(2.0, 4.0, 41)
    logT = np.log10(discrete_mfpt_1d(a, b, u_c=np.sqrt(2 * (grid - 1) * prob.L_star / prob.h_star)))
    cs = np.interp([9.0, 12.0], logT, grid)  # where the exact t_p is 10⁹ and 10¹²
    reps, n = (4, 100) if quick else (8, 300)
    est = rare_first_passage(LinregSystem(prob, eta=_BENCH_ETA, B=1), cs, seed=0,
                             repetitions=reps, replicas=n)
    rel = est.t_p_stderr / est.t_p
    _RARE[quick] = dict(cs=cs, t_p=est.t_p, rel=rel, cost=est.cost_to,
                        brute=est.t_p / rel**2, reps=reps, n=n)
    return _RARE[quick]


def _rare_row(quick: bool, j: int, label: str) -> BenchResult:
    r = _rare_rows(quick)
    return BenchResult(f"rare-first-passage-{label}", "brute replica-steps", float(r["brute"][j]),
                       float(r["cost"][j]),
                       f"d=1 B=1 N={_BENCH_N} eta={_BENCH_ETA}, c={r['cs'][j]:.3f} (exact chain: "
                       f"t_p = {label}), splitting t_p = {r['t_p'][j]:.3g} ± {100 * r['rel'][j]:.0f} %, "
                       f"{r['reps']} repetitions x {r['n']} replicas; 'naive' here is the "
                       "splitting cost, so the ratio is the replica-steps saved against brute "
                       "force at the same relative error")


@benchmark("rare-first-passage-1e9")
def _bench_rare_9(quick: bool) -> BenchResult:
    """Splitting against brute force at t_p = 10⁹ (replica-steps saved)."""
    return _rare_row(quick, 0, "1e9")


@benchmark("rare-first-passage-1e12")
def _bench_rare_12(quick: bool) -> BenchResult:
    """Splitting against brute force at t_p = 10¹² (replica-steps saved)."""
    return _rare_row(quick, 1, "1e12")
