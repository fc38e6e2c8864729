"""Peak memory of 𝒩 (logloss.noise_strength) on a large model, for the README's claim.

    python scripts/measure_memory.py [--N 50000] [--widths 784,1000,200,10] [--method auto]

Prints N, P, the method used, the wall time and the peak resident memory of the process
(``resource.getrusage``), which includes the inputs themselves.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch
from torch import nn

import logloss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--N", type=int, default=50_000)
    ap.add_argument("--widths", default="784,1000,200,10")
    ap.add_argument("--method", default="auto")
    args = ap.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    P = sum(p.numel() for p in model.parameters())
    x = torch.randn(args.N, widths[0])
    y = torch.randn(args.N, widths[-1])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    ns = logloss.noise_strength(model, x, y, method=args.method)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"N = {args.N}, P = {P}, method = {ns.method}: 𝒩 = {ns.noise:.4g}, L = {ns.loss:.4g}; "
          f"{wall:.1f} s; peak RSS {peak:.2f} GB (before the call {base:.2f} GB)")


if __name__ == "__main__":
    main()
