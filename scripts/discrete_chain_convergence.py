"""Convergence study of the exact 1-d SGD chain (theory.discrete_mfpt_1d, discrete_mfpt_online_1d).

The exact references of issue 22 (rare-event first passage, validated against the exact
discrete chain of 1-d linear regression up to t_p >= 1e12) must be accurate over 20-30
decades of t_p.  For 1-d linear regression with B = 1 (x, y ~ N(0, 1); a data set of N
samples, or a fresh sample every step) and thresholds c spanning t_p ~ 1e2 ... 1e30+, this
prints, in log10 T:

* the error of the raw solution on grids of 2K + 1 nodes, and of the three-grid
  extrapolation (the default of discrete_mfpt_1d) at 401 ... 3201 nodes, against the
  extrapolation at the finest grid (whose own error is the last column's change);
* for the online chain, the change with the quadrature of the Gaussian kicks;
* the seconds of one call (all thresholds at once) at 801 and 1601 nodes.

Usage: python scripts/discrete_chain_convergence.py [--out DIR] [--quick]
(about 20 minutes on 2 cores; --quick stops at 1601 nodes and skips N = 1e5).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from logloss import theory
from logloss.theory import discrete_sgd as ds

#: (name, eta, N or 0 for online, thresholds c)
CASES = [
    ("N=1e4, eta=0.1", 0.1, 10_000, [1.5, 2, 3, 4, 5, 5.5, 6.5, 7.5]),
    ("N=1e4, eta=0.02", 0.02, 10_000, [1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4]),
    ("online, eta=0.1", 0.1, 0, [2, 5, 10, 100, 1e3, 1e4]),
    ("online, eta=0.02", 0.02, 0, [1.2, 1.5, 2, 2.5, 3]),
    ("N=1e5, eta=0.1", 0.1, 100_000, [2, 3, 5, 6, 8, 10, 12]),
    ("N=1e5, eta=0.02", 0.02, 100_000, [1.2, 1.5, 1.8, 2, 2.3, 2.6]),
]


def kicks(eta, N, seed=1):
    """(a, b, p) of 1-d linear regression: a data set of N Gaussian samples, or online."""
    if N == 0:
        return theory.online_kicks_1d(eta=eta)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    e = y - x * (x @ y) / (x @ x)  # residual at the least-squares minimum θ*
    return 1 - eta * x**2, eta * x * e, None


def u_c(c, N, seed=1):
    """|θ − θ*| at L = cL*: √(2L*(c − 1)/h*)."""
    if N == 0:
        return np.sqrt(np.asarray(c) - 1.0)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(N), rng.standard_normal(N)
    t = (x @ y) / (x @ x)
    L_star, h = 0.5 * np.mean((y - x * t) ** 2), np.mean(x**2)
    return np.sqrt(2 * L_star * (np.asarray(c) - 1.0) / h)


def study(eta, N, cs, Ks):
    a, b, p = ds._kicks(*kicks(eta, N))
    uc = u_c(cs, N)
    w = ds._grid_scale(a, b, p, uc.max())
    raw = {}
    for K in Ks:
        t = time.perf_counter()
        raw[K] = ds._log_mfpt_on_grid(a, b, p, uc, 0.0, w, uc.max(), K, 1)[0] / np.log(10)
        print(f"  {2 * K + 1:5d} nodes: {time.perf_counter() - t:6.1f} s", flush=True)
    return raw


def extrapolated(raw, K):
    return (64 * raw[K] - 20 * raw[K // 2] + raw[K // 4]) / 45


def table(name, cs, raw, Ks):
    ref = extrapolated(raw, Ks[-1])
    lines = [f"\n### {name}\n", "| | " + " | ".join(f"c = {c:g}" for c in cs) + " |",
             "|---|" + "---|" * len(cs),
             "| log10 T (reference) | " + " | ".join(f"{v:.4f}" for v in ref) + " |"]
    for K in Ks[2:]:
        lines.append(f"| raw, {2 * K + 1} nodes | " + " | ".join(f"{v:+.4f}" for v in raw[K] - ref) + " |")
    for K in Ks[2:-1]:
        lines.append(f"| extrapolated, {2 * K + 1} nodes | "
                     + " | ".join(f"{v:+.4f}" for v in extrapolated(raw, K) - ref) + " |")
    if len(Ks) >= 4:
        prev = extrapolated(raw, Ks[-2])
        lines.append("| reference − extrapolated at half the nodes | "
                     + " | ".join(f"{v:+.4f}" for v in ref - prev) + " |")
    return "\n".join(lines)


def timing(eta, N, cs):
    a, b, p = kicks(eta, N)
    uc = u_c(cs, N)
    out = {}
    for points in (801, 1601):
        t, c = time.perf_counter(), time.process_time()
        theory.discrete_mfpt_1d(a, b, u_c=uc, points=points, weights=p)
        out[points] = (time.perf_counter() - t, time.process_time() - c)
    return out


def quadrature(eta, cs, points):
    res = {}
    for nodes, panel in ((4, 1.0), (6, 1.0), (8, 1.0), (8, 0.5)):
        res[(nodes, panel)] = np.log10(theory.discrete_mfpt_online_1d(
            cs, eta=eta, points=points, nodes=nodes, panel=panel))
    ref = res[(8, 0.5)]
    lines = [f"\n### online, eta={eta}: quadrature of the kicks ({points} nodes, extrapolated)\n",
             "| nodes, panel | " + " | ".join(f"c = {c:g}" for c in cs) + " |", "|---|" + "---|" * len(cs)]
    for key, v in res.items():
        lines.append(f"| {key[0]}, {key[1]:g} | " + " | ".join(
            f"{x:.4f}" if key == (8, 0.5) else f"{x - r:+.5f}" for x, r in zip(v, ref)) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("_build/discrete_chain_convergence"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    Ks = [50, 100, 200, 400, 800] + ([] if args.quick else [1600])
    report, dump = ["# Convergence of the exact 1-d SGD chain"], {}
    for name, eta, N, cs in CASES:
        if args.quick and N > 10_000:
            continue
        print(name, flush=True)
        raw = study(eta, N, cs, Ks)
        report.append(table(name, cs, raw, Ks))
        tm = timing(eta, N, cs)
        report.append("\nseconds per call (all thresholds), wall / CPU: "
                      + ", ".join(f"{k} nodes {w:.1f} / {c:.1f}" for k, (w, c) in tm.items()))
        dump[name] = dict(cs=cs, raw={str(K): v.tolist() for K, v in raw.items()},
                          seconds={str(k): v for k, v in tm.items()})
        if N == 0:
            report.append(quadrature(eta, cs, 1601 if not args.quick else 801))
        (args.out / "convergence.md").write_text("\n".join(report) + "\n")
        (args.out / "convergence.json").write_text(json.dumps(dump, indent=1))
    print("\n".join(report))


if __name__ == "__main__":
    main()
