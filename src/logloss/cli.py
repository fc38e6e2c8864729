"""Command line: ``python -m logloss list | run NAME | bench``.

Failures print one line ``error: ...`` on stderr and exit with status 2, no traceback:
usage errors, bad parameters (checked before any work), unusable ``--out`` folders,
files and divergence.  Ctrl-C exits with status 130 and leaves no complete-looking folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .core.cache import cache_dir
from .core.errors import LoglossError
from .core.scales import SCALES, resolve_scale
from .core.validation import check_seed
from .experiments._registry import get_experiment, list_experiments, run_experiment
from .runs import prepare_out, save_run


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line ``error: ...`` and exit status 2."""

    def error(self, message: str):
        print(f"error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer, got {text!r}") from None


def default_out(name: str, scale: str, seed: int, sets: dict[str, str]) -> Path:
    """``runs/NAME-SCALE-seedN``, plus a short hash of the ``--set`` overrides if any."""
    base = f"{name}-{scale}-seed{seed}"
    if sets:
        digest = hashlib.sha256(json.dumps(sets, sort_keys=True).encode()).hexdigest()[:8]
        base += f"-{digest}"
    return Path("runs") / base


def _parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise LoglossError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _cmd_list(_args: argparse.Namespace) -> None:
    for exp in list_experiments():
        print(f"{exp.name:24s} {exp.description}")


def _cmd_run(args: argparse.Namespace) -> None:
    sets = _parse_sets(args.set)
    # Everything that can be checked is checked before the run: the name, the scale, the
    # parameters and the output folder.
    exp = get_experiment(args.name)
    scale = resolve_scale(args.scale)
    exp.params(scale, sets)
    check_seed(args.seed)
    cache_dir()  # a $LOGLOSS_CACHE that cannot be used fails now, not after an hour
    out = Path(args.out) if args.out else default_out(args.name, scale, args.seed, sets)
    prepare_out(out, overwrite=args.force)
    result = run_experiment(args.name, scale, seed=args.seed, verbose=not args.json, **sets)
    save_run(result, out, overwrite=args.force)
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
    parser = _Parser(prog="python -m logloss", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name")
    run.add_argument("--scale", choices=SCALES, default=None,
                     help="smoke | book | paper (default: $LOGLOSS_SCALE or book)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (repeatable; lists as a,b,c)")
    run.add_argument("--seed", type=_seed, default=0, help="integer in [0, 2**63)")
    run.add_argument("--out", default=None,
                     help="output folder (default runs/NAME-SCALE-seedN[-HASH of the --set values])")
    run.add_argument("--force", action="store_true",
                     help="replace an existing complete run in the output folder")
    run.add_argument("--json", action="store_true", help="print the JSON summary as the last line")
    run.set_defaults(func=_cmd_run)
    bench = sub.add_parser("bench", help="time the fast kernels against naive loops")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="short timings (for tests)")
    bench.set_defaults(func=_cmd_bench)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed on one line
        return int(exc.code or 0)
    try:
        args.func(args)
    except (LoglossError, ValueError, OSError) as exc:  # diagnosed problems, SGDDiverged included
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0
