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


# ================================================================= logloss against its peers
#
# ``logloss bench --peers``: each row runs logloss and a peer library on the same inputs,
# in one process, with one thread each (torch, and BLAS through the environment that the
# command sets), interleaved (ours, peer, peer, ours, ...), and reports the medians and
# their ratio (logloss time / peer time; below 1 logloss is faster).  Before timing, the
# two sides' values are compared with each other and with a float64 reference.  Extra
# memory is the peak resident memory of one call above the memory before it, measured in
# a fresh process per side (glibc set to return freed blocks, so that the baseline is
# honest).  The peers are an optional extra: pip install -c constraints.txt -r
# requirements-peers.txt.

PEER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass
class PeerRow:
    """One row of the peer table: what is measured, both sides' medians, their ratio."""

    name: str
    task: str
    sizes: str
    peer: str
    ours_s: float
    peer_s: float
    ratio: float
    check: str
    ours_mb: float | None = None
    peer_mb: float | None = None
    note: str = ""


def _mnist10(n: int):
    """The first n Fashion-MNIST images (784 features) with integer class labels."""
    data = fashion_mnist(n)
    return data.x.reshape(n, -1), data.y.argmax(dim=1)


def _ggn_case(widths, N, loss):
    """(model, x, labels-or-targets) of a GGN eigenvalue row; MNIST for one output, else
    Fashion-MNIST's ten classes."""
    net = mlp(widths, seed=0)
    if widths[-1] == 1:
        x = mnist_even_odd(N).x
        y = torch.zeros(N, 1)
    else:
        x, labels = _mnist10(N)
        y = labels if loss == "ce" else torch.zeros(N, widths[-1])
    return net, x, y


def _ggn_sides(widths, N, k, loss, dtype=torch.float32, tol=1e-6):
    """(ours, peer) callables returning the top-k GGN eigenvalues in the same convention
    (ours: (1/N) Σ JᵀΛJ with ℓ = ½‖f − y‖² or the cross-entropy)."""
    import curvlinops
    from scipy.sparse.linalg import eigsh

    from .measure.hessian import hessian_outliers

    net, x, y = _ggn_case(widths, N, loss)
    net, x = net.to(dtype), x.to(dtype)
    y = y.to(dtype) if y.is_floating_point() else y
    K = widths[-1]
    params = [p for p in net.parameters()]
    P = sum(p.numel() for p in params)
    # torch's MSELoss(mean) averages over N·K entries of (f − y)², whose Hessian is 2I:
    # its GGN is (2/K) times ours
    scale = K / 2 if loss == "mse" else 1.0
    lf = torch.nn.MSELoss(reduction="mean") if loss == "mse" else torch.nn.CrossEntropyLoss(reduction="mean")

    def ours():
        return hessian_outliers(net, x, loss=loss, k=k, tol=tol, trace=None, seed=0).eigenvalues[:k]

    def peer():
        op = curvlinops.GGNLinearOperator(net, lf, params, [(x, y)], check_deterministic=False)
        v0 = np.random.default_rng(0).standard_normal(P)
        w = eigsh(op.to_scipy(), k=k, which="LA", v0=v0, tol=tol)[0]
        return np.sort(w)[::-1] * scale

    return ours, peer, (net, x, y)


def _dense_reference(net, x, loss, k):
    """Top-k eigenvalues of the GGN in float64 from J̃ and the smaller Gram matrix."""
    from .measure.hessian import _dense_factor, _dense_spectrum

    J, _ = _dense_factor(net, x, loss, None)
    return _dense_spectrum(J, x.shape[0], 1)[0][:k]


def _compare(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.abs(b).max()))


def _ggn_row(widths, N, k, loss, dense: bool):
    ours, peer, (net, x, _) = _ggn_sides(widths, N, k, loss)
    o, p = ours(), peer()
    if dense:
        ref = _dense_reference(net, x, loss, k)
        how = "dense float64"
    else:  # too big for a dense oracle: the two sides in float64, tol 1e-10
        o64, p64 = (f() for f in _ggn_sides(widths, N, k, loss, torch.float64, 1e-10)[:2])
        ref, how = p64, f"curvlinops float64 (logloss float64 differs by {_compare(o64, p64):.1e})"
    check = (f"top {k} vs {how}: logloss {_compare(o, ref):.1e}, peer {_compare(p, ref):.1e} "
             "(relative to λ₁; float32 runs)")
    return ours, peer, check


def _interleaved(ours, peer, reps: int) -> tuple[float, float]:
    """Median seconds of each side over ``reps`` interleaved runs (order alternating)."""
    t = {"ours": [], "peer": []}
    for r in range(reps):
        for side in (("ours", "peer") if r % 2 == 0 else ("peer", "ours")):
            fn = ours if side == "ours" else peer
            start = time.perf_counter()
            fn()
            t[side].append(time.perf_counter() - start)
    return float(np.median(t["ours"])), float(np.median(t["peer"]))


def _norms_sides(kind: str, N: int):
    """Per-sample ‖∇ℓ_μ‖² (and ∇L) of an MLP or a CNN with the cross-entropy: ours and the
    peers, each returning the squared norms."""
    import copy

    from .measure.gradients import per_sample_grad_stats
    from .models.nets import cnn

    x, labels = _mnist10(N)
    if kind == "cnn":
        net = cnn((16, 32), seed=0, convs_per_stack=1, in_channels=1, image_size=28)
        x = x.reshape(N, 1, 28, 28)
    else:
        net = mlp([784, 256, 256, 10], seed=0)
    ce = torch.nn.functional.cross_entropy

    def ours():
        return per_sample_grad_stats(net, x, labels, loss="ce").sq_norms

    peers = {}
    if kind == "mlp":
        from backpack import backpack, extend
        from backpack.extensions import BatchL2Grad
        from opacus.grad_sample import GradSampleModuleFastGradientClipping

        bnet = extend(copy.deepcopy(net))
        bloss = extend(torch.nn.CrossEntropyLoss(reduction="sum"))

        def backpack_norms():
            bnet.zero_grad()
            with backpack(BatchL2Grad()):
                bloss(bnet(x), labels).backward()
            return sum(p.batch_l2 for p in bnet.parameters()).double()

        gsm = GradSampleModuleFastGradientClipping(copy.deepcopy(net), loss_reduction="sum",
                                                   use_ghost_clipping=True)

        def opacus_norms():
            gsm.zero_grad()
            ce(gsm(x), labels, reduction="sum").backward()
            return gsm.get_norm_sample().double() ** 2

        peers = {"BackPACK BatchL2Grad": backpack_norms, "Opacus ghost clipping": opacus_norms}
    else:
        from torch.func import functional_call, grad, vmap

        fnet = copy.deepcopy(net)
        params = {k: v.detach() for k, v in fnet.named_parameters()}

        def one(p, xi, yi):
            return ce(functional_call(fnet, p, (xi[None],)), yi[None], reduction="sum")

        per = vmap(grad(one), in_dims=(None, 0, 0))

        def vmap_norms(chunk=1000):
            out, total = [], None
            for s in range(0, N, chunk):
                g = per(params, x[s:s + chunk], labels[s:s + chunk])
                out.append(sum(t.reshape(t.shape[0], -1).double().pow(2).sum(1) for t in g.values()))
                gs = [t.sum(0) for t in g.values()]
                total = gs if total is None else [a + b for a, b in zip(total, gs)]
            return torch.cat(out)

        peers = {"torch.func vmap(grad), chunks of 1000": vmap_norms}
    return ours, peers


def _noise_scale_row(quick: bool):
    """Relative RMSE of the two-batch estimates 𝒮 (of tr Σ₁ = 𝒩) and 𝒢 (of |G|²) at equal
    compute: nested blocks (logloss) against the two-batch estimator with one small batch
    nested in the big one, on the same big batches.

    Near a minimum |G|² is small against 𝒩/B_big, so 𝒢's mean over the draws straddles 0
    and the ratio B_simple = 𝒮/𝒢 has no finite variance: its RMSE over repetitions measures
    the luck of the largest outlier, not the estimator.  The row therefore compares 𝒢 (the
    harder of the two, which sets B_simple's error where 𝒢 is resolved) and reports 𝒮 and
    the median relative error of B_simple beside it."""
    from .dynamics.training import train_sgd
    from .measure.losses import mse_per_sample
    from .measure.noise import noise_strength
    from .measure.noise_scale import gradient_noise_scale

    N = 2000 if quick else 10_000
    data = mnist_even_odd(N)
    x, y = data.x, data.y
    net = mlp([784, 10, 1], seed=0)
    train_sgd(net, x, y, eta=0.01, B=100, epochs=3 if quick else 20, seed=0, measure_noise=False,
              record_at=[], desc="training the 784-10-1 net")
    ns = noise_strength(net, x, y)
    exact = {"S": ns.noise, "G": ns.grad_sq_norm, "B": ns.noise / ns.grad_sq_norm}
    Bs, Bb, draws = 10, 100, 20 if quick else 50
    R = 8 if quick else 60
    params = [p for p in net.parameters()]

    def sq(xb, yb):
        g = torch.autograd.grad(mse_per_sample(net(xb), yb).sum(), params)
        return torch.cat([t.reshape(-1) for t in g]).double()

    def peer(seed):
        rng = np.random.default_rng(seed)
        c = [(N - B) / (B * (N - 1)) for B in (Bs, Bb)]
        S, G = [], []
        for _ in range(draws):
            idx = torch.as_tensor(rng.choice(N, Bb, replace=False))
            gs, rest = sq(x[idx[:Bs]], y[idx[:Bs]]), sq(x[idx[Bs:]], y[idx[Bs:]])
            small, big = float((gs / Bs).pow(2).sum()), float(((gs + rest) / Bb).pow(2).sum())
            S.append((small - big) / (c[0] - c[1]))
            G.append((c[0] * big - c[1] * small) / (c[0] - c[1]))
        return np.mean(S), np.mean(G)

    def ours(seed, b_small=Bs):
        r = gradient_noise_scale(net, x, y, B_small=b_small, B_big=Bb, draws=draws, rng=seed,
                                 exact=False)
        return r.trace_estimate.value, r.grad_sq_estimate.value

    est = {"ours": [], "ours1": [], "peer": []}
    tim = {"ours": [], "ours1": [], "peer": []}
    fns = {"ours": ours, "ours1": lambda s: ours(s, 1), "peer": peer}
    for r in range(R):
        for side in (("ours", "peer", "ours1") if r % 2 == 0 else ("ours1", "peer", "ours")):
            start = time.perf_counter()
            est[side].append(fns[side](1000 + r))
            tim[side].append(time.perf_counter() - start)
    t = {k: float(np.median(v)) for k, v in tim.items()}
    rmse, median_b = {}, {}
    for k, v in est.items():
        S, G = np.array(v).T
        rmse[k] = {q: float(np.sqrt(np.mean((a - exact[q]) ** 2)) / exact[q])
                   for q, a in (("S", S), ("G", G))}
        median_b[k] = float(np.median(np.abs(S / G - exact["B"])) / exact["B"])
    eff = {k: rmse[k]["G"] * np.sqrt(t[k]) for k in rmse}
    return rmse, median_b, t, eff, exact, R, draws


def _memory_child(row: str, side: str) -> None:
    """In a fresh process: peak resident memory of one call above the memory before it."""
    import gc
    import json as _json
    import re

    torch.set_num_threads(1)
    fns = _memory_cases()[row]()
    fn = fns[0] if side == "ours" else fns[1]
    fn()  # warm-up: lazy initialisations are not the call's memory
    gc.collect()

    def status(key):
        return int(re.search(rf"{key}:\s+(\d+)", open("/proc/self/status").read()).group(1)) * 1024

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident memory
    base = status("VmRSS")
    fn()
    print(_json.dumps({"extra_bytes": status("VmHWM") - base}))


def _memory_cases():
    return {
        "ggn-784-10-1-N10000-top6": lambda: _ggn_sides([784, 10, 1], 10_000, 6, "mse")[:2],
        "ggn-784-100-10-N10000-top6": lambda: _ggn_sides([784, 100, 10], 10_000, 6, "mse")[:2],
        "ggn-ce-784-64-10-N3000-top8": lambda: _ggn_sides([784, 64, 10], 3000, 8, "ce")[:2],
        "norms-mlp": lambda: (lambda o, p: (o, next(iter(p.values()))))(*_norms_sides("mlp", 10_000)),
        "norms-cnn": lambda: (lambda o, p: (o, next(iter(p.values()))))(*_norms_sides("cnn", 10_000)),
    }


def _extra_mb(row: str, side: str) -> float | None:
    """Extra peak memory (MB) of one call, from a fresh process (None where /proc is absent)."""
    import json as _json
    import os
    import subprocess
    import sys

    if not os.path.exists("/proc/self/clear_refs"):
        return None
    env = dict(os.environ, **PEER_ENV, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    code = f"from logloss.benchmarks import _memory_child; _memory_child({row!r}, {side!r})"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return _json.loads(out.stdout.strip().splitlines()[-1])["extra_bytes"] / 1e6


def run_peer_benchmarks(quick: bool = False, reps: int = 5, only: str | None = None) -> list[dict]:
    """The peer table of issue 25 (see the comment above); prints each row as it is done."""
    torch.set_num_threads(1)
    rows: list[PeerRow] = []
    small, big = (300, 1000) if quick else (2000, 10_000)
    ggn = [
        ("gn-top6-784-10-1", "Gauss–Newton top-6, MSE", [784, 10, 1], small, 6, "mse", True),
        ("gn-top20-784-10-1", "GGN top-20, MSE", [784, 10, 1], small, 20, "mse", True),
        ("gn-top6-784-10-1-big", "GGN top-6, MSE", [784, 10, 1], big, 6, "mse", False),
        ("gn-top20-784-10-1-big", "GGN top-20, MSE", [784, 10, 1], big, 20, "mse", False),
        ("ggn-ce-top6-784-10-10", "GGN top-6, cross-entropy", [784, 10, 10], small, 6, "ce", not quick),
        ("ggn-ce-top20-784-10-10", "GGN top-20, cross-entropy", [784, 10, 10], small, 20, "ce", not quick),
        ("gn-top6-784-100-10-N500", "GGN top-6, MSE", [784, 100, 10], 100 if quick else 500, 6, "mse", True),
        ("gn-top6-784-100-10-big", "GGN top-6, MSE", [784, 100, 10], big, 6, "mse", False),
        ("ggn-ce-top8-784-64-10", "Gauss–Newton top-8, cross-entropy (one call)", [784, 64, 10],
         600 if quick else 3000, 8, "ce", quick),
    ]
    memory_rows = {"gn-top6-784-10-1-big": "ggn-784-10-1-N10000-top6",
                   "gn-top6-784-100-10-big": "ggn-784-100-10-N10000-top6",
                   "ggn-ce-top8-784-64-10": "ggn-ce-784-64-10-N3000-top8"}

    def done(row: PeerRow):
        rows.append(row)
        mem = "" if row.ours_mb is None else f"  extra memory {row.ours_mb:.0f} / {row.peer_mb:.0f} MB"
        print(f"{row.name:28s} {row.sizes:22s} logloss {row.ours_s:8.3f} s  {row.peer:34s} {row.peer_s:8.3f} s"
              f"  ratio {row.ratio:5.2f}{mem}\n{'':29s}{row.check}{(' ' + row.note) if row.note else ''}",
              flush=True)

    for name, task, widths, N, k, loss, dense in ggn:
        if only and only not in name:
            continue
        ours, peer, check = _ggn_row(widths, N, k, loss, dense)
        o, p = _interleaved(ours, peer, reps)
        mo = mp = None
        if name in memory_rows and not quick:
            mo, mp = _extra_mb(memory_rows[name], "ours"), _extra_mb(memory_rows[name], "peer")
        done(PeerRow(name, task, f"{'-'.join(map(str, widths))}, N={N}", "curvlinops GGN + eigsh",
                     o, p, o / p, check, mo, mp))
    for kind, N in (("mlp", 1000 if quick else 10_000), ("cnn", 300 if quick else 10_000)):
        if only and only not in f"norms-{kind}":
            continue
        ours, peers = _norms_sides(kind, N)
        ref = ours()
        for pname, peer in peers.items():
            check = f"squared norms agree to {_compare(peer(), ref):.1e} (relative to the largest)"
            o, p = _interleaved(ours, peer, reps)
            mo = mp = None
            if not quick and pname == next(iter(peers)):
                mo, mp = _extra_mb(f"norms-{kind}", "ours"), _extra_mb(f"norms-{kind}", "peer")
            sizes = ("784-256-256-10" if kind == "mlp" else "CNN conv16-conv32-fc10") + f", N={N}"
            done(PeerRow(f"norms-{kind}", "per-sample ‖∇ℓ‖² and ∇L, cross-entropy", sizes, pname, o, p,
                         o / p, check, mo, mp))
    if not only or only in "noise-scale":
        rmse, median_b, t, eff, exact, R, draws = _noise_scale_row(quick)

        def side(k):
            return (f"𝒢 {rmse[k]['G']:.2f}, 𝒮 {rmse[k]['S']:.3f}, B_simple median "
                    f"{median_b[k]:.2f} ({t[k]:.2f} s)")

        check = (f"exact 𝒩 {exact['S']:.3g}, |G|² {exact['G']:.3g}, B_simple {exact['B']:.4g}; "
                 f"relative RMSE over {R} repetitions of {draws} draws: logloss {side('ours')}; "
                 f"peer {side('peer')}; logloss with B_small = 1: {side('ours1')}, "
                 f"ratio at equal compute {eff['ours1'] / eff['peer']:.2f}")
        done(PeerRow("noise-scale", "|G|² of B_simple, relative RMSE × √time",
                     "784-10-1 trained, B 10/100", "two-batch, one small batch nested",
                     eff["ours"], eff["peer"], eff["ours"] / eff["peer"], check,
                     note="(ratio of RMSE·√seconds: equal compute)"))
    return [asdict(r) for r in rows]
