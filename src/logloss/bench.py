"""Benchmarks of the fast kernels against naive loops, timed in the same run.

A kernel module registers a benchmark with :func:`benchmark`; ``python -m logloss
bench`` imports every module of the package, runs each benchmark and prints, for each,
the kernel's rate (replica-steps/s or samples/s), the naive loop's rate and their ratio.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import asdict, dataclass

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
    import logloss

    for mod in pkgutil.walk_packages(logloss.__path__, "logloss."):
        if not mod.name.endswith(("__main__", "cli")):
            importlib.import_module(mod.name)
    rows = []
    for name in sorted(_BENCHMARKS):
        res = _BENCHMARKS[name](quick)
        print(f"{res.name:28s} {res.rate:12.4g} {res.unit:18s} naive {res.naive_rate:10.4g}"
              f"  ratio {res.ratio:8.1f}x  [{res.config}]")
        rows.append(asdict(res) | {"ratio": res.ratio})
    if not rows:
        print("no benchmarks registered")
    return rows
