"""Command line: ``python -m logloss list | run NAME | bench``.

Failures print one line ``error: ...`` on stderr and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .core.scales import SCALES
from .data import DatasetMissingError
from .experiments._registry import list_experiments, run_experiment
from .runs import save_run


def _parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _cmd_list(_args: argparse.Namespace) -> None:
    for exp in list_experiments():
        print(f"{exp.name:24s} {exp.description}")


def _cmd_run(args: argparse.Namespace) -> None:
    result = run_experiment(args.name, args.scale, seed=args.seed, verbose=not args.json,
                            **_parse_sets(args.set))
    out = Path(args.out) if args.out else Path("runs") / f"{args.name}-{result.scale}-seed{args.seed}"
    save_run(result, out)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        for key, value in result.measured.items():
            theory = result.theory.get(key)
            extra = f"   (theory {theory:.4g})" if theory is not None else ""
            print(f"  {key:24s} {value}{extra}")
        print(f"wrote {out}/summary.json, arrays.npz, figure.png")


def _cmd_bench(args: argparse.Namespace) -> None:
    from .benchmarks import run_benchmarks

    rows = run_benchmarks(quick=args.quick)
    if args.json:
        print(json.dumps({"benchmarks": rows}, allow_nan=False))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m logloss", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default=None,
                     help="smoke | book | paper (default: $LOGLOSS_SCALE or book)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (repeatable; lists as a,b,c)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--out", default=None, help="output folder (default runs/NAME-SCALE-seedN)")
    run.add_argument("--json", action="store_true", help="print the JSON summary as the last line")
    run.set_defaults(func=_cmd_run)
    bench = sub.add_parser("bench", help="time the fast kernels against naive loops")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="short timings (for tests)")
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, DatasetMissingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
