"""Matrix-free curvature (issue 25): the products, the Lanczos solver, hessian_outliers'
routes and traces, against dense float64 oracles built with torch.autograd.functional."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

import logloss
from logloss import InvalidInput
from logloss.measure import _guard
from logloss.measure.curvature import CurvatureOperator
from logloss.measure.hessian import hessian_outliers, participation_ratio, top_eigenpairs
from logloss.measure.losses import cross_entropy_per_sample, mse_per_sample

D = torch.float64


def _net(K=3, d=5, h=7, seed=0, act=nn.Tanh):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), act(), nn.Linear(h, K)).to(D)


def _data(N=60, d=5, K=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, d, generator=g, dtype=D)
    labels = torch.randint(K, (N,), generator=g)
    return x, labels


def _oracle(model, x, y, loss, curvature):
    """The dense GGN or Hessian (float64) from torch.autograd.functional on flat θ."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in model.parameters() if p.requires_grad]
    sizes = [p.numel() for p in model.parameters() if p.requires_grad]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad]).double()

    def f(t):
        return functional_call(model, {n: q.reshape(s) for n, q, s in zip(names, torch.split(t, sizes), shapes)},
                               (x,))

    N = x.shape[0]
    if curvature == "hessian":
        return torch.autograd.functional.hessian(lambda t: loss(f(t), y).mean(), theta)
    J = torch.autograd.functional.jacobian(lambda t: f(t).reshape(-1), theta).reshape(N, -1, theta.numel())
    out = f(theta).detach().reshape(N, -1)
    if loss is mse_per_sample:
        Lam = torch.eye(out.shape[1], dtype=D).expand(N, -1, -1)
    elif out.shape[1] == 1:
        s = torch.sigmoid(out)
        Lam = (s * (1 - s)).reshape(N, 1, 1)
    else:
        p = torch.softmax(out, 1)
        Lam = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return torch.einsum("nap,nab,nbq->pq", J, Lam, J) / N


@pytest.mark.parametrize("curvature", ["ggn", "hessian"])
@pytest.mark.parametrize("loss,K", [(mse_per_sample, 1), (mse_per_sample, 3), (cross_entropy_per_sample, 1),
                                    (cross_entropy_per_sample, 3)])
@pytest.mark.parametrize("cache", [True, False])
def test_products_match_the_dense_oracle(curvature, loss, K, cache):
    net = _net(K)
    x, labels = _data(K=max(K, 2))
    y = (labels % 2).to(D) if K == 1 else (labels if loss is cross_entropy_per_sample else
                                            torch.randn(60, K, dtype=D))
    C = _oracle(net, x, nn.functional.one_hot(labels, K).to(D) if (K > 1 and loss is cross_entropy_per_sample)
                else y, loss, curvature)
    op = CurvatureOperator(net, x, y, loss=loss, curvature=curvature, chunk_size=17, cache=cache)
    V = torch.randn(op.P, 4, generator=torch.Generator().manual_seed(2), dtype=D)
    torch.testing.assert_close(op.matmat(V), C @ V, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(op.matmat(V[:, 0]), C @ V[:, 0], rtol=1e-10, atol=1e-12)


def test_a_dataloader_a_callable_loss_and_float64_on_request_give_the_same_products():
    net = _net(3)
    x, labels = _data()
    onehot = nn.functional.one_hot(labels, 3).to(D)
    C = _oracle(net, x, onehot, cross_entropy_per_sample, "ggn")
    V = torch.randn(sum(p.numel() for p in net.parameters()), 3, dtype=D)
    loader = DataLoader(TensorDataset(x, labels), batch_size=13)
    for op in (CurvatureOperator(net, loader, loss="ce"),
               CurvatureOperator(net, x, labels, loss=lambda o, t: cross_entropy_per_sample(o, t))):
        torch.testing.assert_close(op.matmat(V), C @ V, rtol=1e-10, atol=1e-12)
    net32 = _net(3).float()
    op = CurvatureOperator(net32, x.float(), loss="ce", dtype=torch.float64)
    assert op.dtype == torch.float64 and next(net32.parameters()).dtype == torch.float32
    C32 = _oracle(_net(3), x.float().double(), None, cross_entropy_per_sample, "ggn")
    torch.testing.assert_close(op.matmat(V), C32 @ V, rtol=1e-6, atol=1e-8)  # θ rounded to float32 once


class _Cube(torch.autograd.Function):
    """x³/3 with a backward that cannot be differentiated (and a forward-mode rule)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x**3 / 3

    @staticmethod
    def setup_context(ctx, inputs, output):  # noqa: ARG004 (torch's signature)
        ctx.save_for_backward(inputs[0])
        ctx.x = inputs[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return x * x * g

    @staticmethod
    def jvp(ctx, t):
        return ctx.x * ctx.x * t


class _CubeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(5, 6), nn.Linear(6, 2)

    def forward(self, x):
        return self.b(_Cube.apply(self.a(x)))


def test_a_backward_that_cannot_be_differentiated_is_detected_and_forward_mode_used():
    """The double-backward product of such a model is silently wrong; the operator compares
    one product with forward mode and switches."""
    torch.manual_seed(0)
    net = _CubeNet().to(D)
    x, _ = _data()
    op = CurvatureOperator(net, x)
    assert op.forward_mode and "forward-mode" in op.route
    V = torch.randn(op.P, 2, dtype=D)
    torch.testing.assert_close(op.matmat(V), _oracle(net, x, None, mse_per_sample, "ggn") @ V,
                               rtol=1e-10, atol=1e-12)


def test_top_eigenpairs_against_numpy():
    rng = np.random.default_rng(0)
    for P, k, rank in [(60, 3, 60), (400, 8, 400), (300, 6, 4), (500, 20, 500)]:
        A = rng.standard_normal((P, rank))
        C = A @ A.T / P + np.diag(np.linspace(0, 1, P))
        C[:3, :3] += 5 * np.eye(3)  # a degenerate top
        Ct = torch.tensor(C)
        w, V, used = top_eigenpairs(lambda X, Ct=Ct: Ct @ X, P, k, tol=1e-10, v0=rng.standard_normal(P))
        ref = np.linalg.eigvalsh(C)[::-1][:k]
        # tolerance: criterion: a Ritz value with residual r lies within r of an eigenvalue
        # (Kahan), and r <= 1e-10·|θ| was asked
        np.testing.assert_allclose(w, ref, rtol=0, atol=2e-10 * ref[0])
        np.testing.assert_allclose(np.abs(C @ V - V * w).max(axis=0), 0, atol=1e-9 * ref[0])
        assert used <= 100 * max(2 * k + 1, 20) + P


@pytest.mark.parametrize("loss,K", [("mse", 1), ("mse", 3), ("ce", 3), ("ce", 1)])
def test_matrix_free_outliers_equal_the_dense_float64_oracle(loss, K):
    net = _net(K, d=8, h=30)
    x, labels = _data(N=400, d=8, K=max(K, 2))
    lf = mse_per_sample if loss == "mse" else cross_entropy_per_sample
    H = _oracle(net, x, None, lf, "ggn").numpy()
    h = np.linalg.eigvalsh(H)[::-1]
    spec = hessian_outliers(net, x, loss=loss, k=6, tol=1e-10, method="lanczos", probes=200, seed=3)
    assert spec.method == "lanczos" and spec.route.startswith("matrix-free GGN")
    np.testing.assert_allclose(spec.eigenvalues, h[:6], rtol=0, atol=1e-8 * h[0])
    assert spec.trace == pytest.approx(h.sum(), rel=1e-10)  # exact, from per-sample norms
    trsq = (h**2).sum()
    # tolerance: statistical: 4 s.e. of the deflated Hutchinson estimate (200 probes)
    assert abs(spec.trace_sq - trsq) < 4 * spec.trace_sq_stderr + 1e-12 * trsq
    pr = h.sum() ** 2 / trsq
    assert abs(spec.participation_ratio - pr) < 4 * spec.participation_ratio_stderr + 1e-10 * pr
    hutch = hessian_outliers(net, x, loss=loss, k=6, tol=1e-10, method="lanczos", probes=200, seed=3,
                             trace="hutch++")
    # tolerance: statistical: 4 s.e. of the estimate
    assert abs(hutch.trace - h.sum()) < 4 * hutch.trace_stderr + 1e-12 * h.sum()
    assert hutch.trace_stderr > 0
    n = participation_ratio(net, x, loss=loss, k=6, tol=1e-10, method="lanczos", probes=200, seed=3)
    assert (n.value, n.stderr) == pytest.approx((spec.participation_ratio, spec.participation_ratio_stderr),
                                                rel=1e-9)


def test_the_hessian_route_against_the_autograd_hessian():
    net = _net(3, d=6, h=9, act=nn.Softplus)
    x, labels = _data(N=80, d=6)
    H = _oracle(net, x, nn.functional.one_hot(labels, 3).to(D), cross_entropy_per_sample, "hessian").numpy()
    h = np.linalg.eigvalsh(H)[::-1]
    spec = hessian_outliers(net, x, labels, loss="ce", curvature="hessian", k=4, tol=1e-10, method="lanczos",
                            probes=300)
    np.testing.assert_allclose(spec.eigenvalues, h[:4], rtol=0, atol=1e-8 * abs(h[0]))
    # tolerance: statistical: 4 s.e. of the Hutchinson estimates
    assert abs(spec.trace - h.sum()) < 4 * spec.trace_stderr + 1e-12
    assert abs(spec.trace_sq - (h**2).sum()) < 4 * spec.trace_sq_stderr + 1e-12
    dense = hessian_outliers(net, x, labels, loss="ce", curvature="hessian", k=4, method="dense")
    np.testing.assert_allclose(dense.eigenvalues, h, rtol=0, atol=1e-10 * abs(h[0]))
    np.testing.assert_allclose(logloss.measure.hessian.hessian_top_eigenvalues(net, x, labels, k=3, loss="ce"),
                               h[:3], rtol=0, atol=1e-7 * abs(h[0]))


def test_loss_ce_equals_the_ggn_jacobian_route_and_a_dataloader():
    """The issue's two-step route (ggn_jacobian, then J=) and the one call agree."""
    net = _net(4, d=8, h=40)
    x, labels = _data(N=500, d=8, K=4)
    old = hessian_outliers(net, x, k=5, J=logloss.ggn_jacobian(net, x, loss="ce"), method="lanczos", tol=1e-10)
    new = hessian_outliers(net, x, loss="ce", k=5, method="lanczos", tol=1e-10)
    loader = hessian_outliers(net, DataLoader(TensorDataset(x, labels), batch_size=64), loss="ce", k=5,
                              method="lanczos", tol=1e-10)
    for spec in (new, loader):
        np.testing.assert_allclose(spec.eigenvalues, old.eigenvalues, rtol=1e-8)
        assert spec.trace == pytest.approx(old.trace, rel=1e-10)


def test_auto_takes_the_matrix_free_route_unless_the_problem_is_tiny_and_says_so():
    """method='auto' used to build a dense Gram matrix whenever min(N·K, P) <= 3000."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 40), nn.Tanh(), nn.Linear(40, 1))  # P = 1281
    x = torch.randn(2000, 30)
    spec = hessian_outliers(net, x, k=5, trace=None)
    assert spec.method == "lanczos" and "matrix-free" in spec.route and spec.products > 0
    assert np.isnan(spec.trace) and np.isnan(spec.participation_ratio)
    small = hessian_outliers(net, x[:100], k=5)
    assert small.method == "dense" and "dense_limit" in small.route
    every = hessian_outliers(nn.Sequential(nn.Linear(3, 1)), x[:50, :3], k=9)
    assert every.method == "dense" and "all 4 eigenvalues" in every.route and every.eigenvalues.shape == (4,)


def test_a_jacobian_that_does_not_fit_is_no_longer_needed(monkeypatch):
    """The 784-100-10 net at N = 10⁴ was refused (J is 32 GB); the matrix-free route needs
    only the parameters and the graph.  Here J would be 16 MB against 4 MB 'free'."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(100, 40), nn.Tanh(), nn.Linear(40, 10))  # P = 4450
    x = torch.randn(100, 100)
    ref = hessian_outliers(net, x, k=3, trace=None, method="lanczos", tol=1e-8)
    monkeypatch.setattr(_guard, "available_memory", lambda _d: 4 * 1024**2)
    monkeypatch.setattr(logloss.measure.hessian, "available_memory", lambda _d: 4 * 1024**2)
    monkeypatch.setattr(logloss.measure.curvature, "available_memory", lambda _d: 4 * 1024**2)
    spec = hessian_outliers(net, x, k=3, trace=None, method="lanczos", tol=1e-8)
    np.testing.assert_allclose(spec.eigenvalues, ref.eigenvalues, rtol=1e-6)
    assert spec.peak_bytes <= 4 * 1024**2
    with pytest.raises(InvalidInput, match="would need about .* GB"):
        hessian_outliers(net, x, k=3, probes=500, method="lanczos")
    with pytest.raises(InvalidInput, match="dense route would need"):
        hessian_outliers(net, x, k=3, method="dense")


_PEAK = """
import json, re, sys, torch
torch.set_num_threads(1)
from torch import nn
import logloss
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))
x = torch.rand(4000, 784)
def status(k):
    return int(re.search(k + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1)) * 1024
logloss.hessian_outliers(net, x[:100], k=2, method='lanczos')  # lazy initialisations
open('/proc/self/clear_refs', 'w').write('5')
base = status('VmRSS')
spec = logloss.hessian_outliers(net, x, k=6, probes=32, method='lanczos')
print(json.dumps({"measured": status('VmHWM') - base, "estimate": spec.peak_bytes}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc")
def test_the_memory_estimate_bounds_the_real_peak():
    """The guard compared free memory with J's float32 size only (the peak was 4.8× that);
    now the estimate checked before the work bounds the measured peak of the call."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _PEAK], env=env, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    # tolerance: criterion: the estimate must not be below the peak (it decides whether the
    # call may run), and not above 4× the peak plus 32 MB (else it would refuse calls that fit)
    assert r["measured"] <= r["estimate"] <= 4 * r["measured"] + 32 * 1024**2, r


def test_bad_arguments_are_one_line_errors():
    net = _net(3)
    x, labels = _data()
    for kw, msg in [(dict(trace="exact", curvature="hessian"), "trace='exact' is available"),
                    (dict(trace="sometimes"), "trace must be"), (dict(tol=2.0), "tol must be"),
                    (dict(curvature="fisher"), "curvature must be"), (dict(dtype=torch.int32), "dtype must be"),
                    (dict(curvature="hessian"), "depends on the targets")]:
        with pytest.raises(InvalidInput, match=msg):
            hessian_outliers(net, x, labels if kw.get("trace") == "exact" else None, k=2, **kw)
    with pytest.raises(InvalidInput, match="not as y="):
        hessian_outliers(net, DataLoader(TensorDataset(x, labels), batch_size=8), labels, k=2)
