"""Command line: ``python -m logloss list | run NAME | sweep NAME | reproduce | bench``.

Failures print one line ``error: ...`` on stderr and exit with status 2, no traceback:
usage errors, bad parameters (checked before any work, with the run's estimated memory
and time), unusable ``--out`` folders, files and divergence.  Warnings raised during a
command are printed as one line ``warning: ...`` each when it succeeds, and dropped when
it fails (the error says what matters).  Ctrl-C exits with status 130 and leaves no
complete-looking folder; ``run`` with the same ``--out`` resumes from the last finished
unit of work.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import shutil
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

from .core.cache import cache_dir
from .core.device import resolve_device
from .core.errors import DatasetMissingError, InvalidInput, LoglossError
from .core.resources import Cost
from .core.scales import SCALES, resolve_scale
from .core.validation import check_seed
from .data import USER_DATASETS
from .experiments.params import Params
from .experiments.result import Result
from .experiments.run import run_experiment
from .experiments.spec import get_experiment, list_experiments
from .report import Z_AGREE, paper_runs, stored_runs
from .runs import COMPLETE, ROUNDING, compare_summaries, open_run, run_manifest, save_run
from .sweeps import sweep, worker_count


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
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--set expects key=value, got {pair!r}")
        if key in out:
            raise InvalidInput(f"--set {key} is given twice ({key}={out[key]} and {key}="
                               f"{value.strip()}); give each parameter once")
        out[key] = value.strip()
    return out


def _cmd_list(_args: argparse.Namespace) -> None:
    for exp in list_experiments():
        print(f"{exp.name:24s} {exp.description}")


def _run_into(out: Path, name: str, scale: str, seed: int, params: Params, device: str, *,
              overwrite: bool, log) -> Result:
    """Run ``name`` into the folder ``out``: a new folder, or the unfinished run of the same
    settings, which resumes (``overwrite``: any previous run there is discarded first).
    ``params`` are the parameters checked once (:meth:`Experiment.params`), which
    :func:`run_experiment` takes as they are; ``log`` (a file, or None) gets the resume note and the run's own lines."""
    new = not out.exists()
    store = open_run(out, run_manifest(name, scale, seed, params), overwrite=overwrite)
    done = store.keys()
    if done and log is not None:
        print(f"[logloss] resuming {out}: {len(done)} finished unit(s) of work found", file=log)
    try:
        result = run_experiment(name, scale, seed=seed, verbose=log is sys.stdout, device=device,
                                store=store, params=params)
    except BaseException:
        if new and not store.keys():  # nothing worth keeping: leave no folder behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    save_run(result, out)
    return result


def _cmd_run(args: argparse.Namespace) -> None:
    sets = _parse_sets(args.set)
    # Everything that can be checked is checked before the run: the name, the scale, the
    # parameters and the output folder.
    exp = get_experiment(args.name)
    scale = resolve_scale(args.scale)
    params = exp.params(scale, sets)
    check_seed(args.seed)
    device = resolve_device(args.device)
    cache_dir()  # a $LOGLOSS_CACHE that cannot be used fails now, not after an hour
    out = Path(args.out) if args.out else default_out(args.name, scale, args.seed, sets)
    result = _run_into(out, args.name, scale, args.seed, params, device,
                       overwrite=args.force, log=None if args.json else sys.stdout)
    summary = result.summary()
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        for key, value in result.measured.items():
            theory = result.theory.get(key)
            extra = f"   (theory {theory:.4g})" if theory is not None else ""
            print(f"  {key:24s} {value}{extra}")
        print(f"wrote {out}/summary.json, arrays.npz, figure.png")


def _parse_grid(pairs: Sequence[str]) -> dict[str, list[str]]:
    """``key=v1,v2`` → ``{key: [v1, v2]}``; with a ``;`` the values are split on ``;``
    instead, so that a list parameter can take list values (``B=1,2;5,10``)."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"--grid expects key=v1,v2,..., got {pair!r}")
        if key in grid:
            raise InvalidInput(f"--grid {key} is given twice; list all its values in one --grid")
        items = [v.strip() for v in values.split(";" if ";" in values else ",")]
        if not values.strip() or any(not v for v in items):
            raise InvalidInput(f"--grid {pair!r} has an empty value; give key=v1,v2,...")
        grid[key] = items
    if not grid:
        raise InvalidInput("sweep needs at least one --grid key=v1,v2,...")
    return grid


def _points(grid: dict[str, list[str]]) -> int:
    """The number of grid points (every combination of the values)."""
    count = 1
    for values in grid.values():
        count *= len(values)
    return count


def _cmd_sweep(args: argparse.Namespace) -> None:
    grid = _parse_grid(args.grid)
    exp = get_experiment(args.name)
    scale = resolve_scale(args.scale)
    for key, values in grid.items():  # every value of every key, before any work
        for value in values:
            exp.params(scale, {key: value})
    check_seed(args.seed)
    device = resolve_device(args.device)
    cache_dir()
    tasks = args.seeds * _points(grid)
    jobs = worker_count(args.jobs, tasks)
    if jobs < args.jobs and not args.scheduler:
        print(f"note: --jobs {args.jobs} lowered to {jobs} (at most one worker per CPU core "
              f"and per task)", file=sys.stderr)
    results = sweep(args.name, grid, seeds=args.seeds, seed=args.seed, scale=scale,
                    jobs=jobs, scheduler=args.scheduler, out=args.out, device=device)
    if args.json:
        print(json.dumps({"experiment": args.name, "scale": scale, "seed": args.seed,
                          "grid": grid, "seeds": args.seeds,
                          "tasks": [r.summary() for r in results]}, allow_nan=False))
        return
    for r in results:
        point = ", ".join(f"{k}={r.params[k]}" for k in grid)
        values = ", ".join(f"{k} {v}" for k, v in r.measured.items())
        print(f"  {point} seed={r.seed}: {values}")
    if args.out:
        print(f"stored {len(results)} task(s) in {args.out}/tasks")


def _stored_cost(folder) -> str:
    """The recorded cost of a stored run, from its summary (CPU seconds, commit)."""
    summary = json.loads((folder / "summary.json").read_text())
    return f"{summary.get('cpu_time_s', 0):.0f} s CPU, commit {(summary.get('git_commit') or '?')[:7]}"


def _dry_run(args: argparse.Namespace) -> None:
    runs = [r for r in paper_runs(args.store) if args.only in (None, r["experiment"])]
    if args.only and not runs:
        raise InvalidInput(f"--only {args.only}: no claim of the report names this experiment; "
                           "see python -m logloss reproduce --dry-run")
    if args.json:
        print(json.dumps({"store": str(args.store), "runs": [
            {**r, "cost": {"memory": r["cost"].memory, "seconds": r["cost"].seconds},
             "needs": list(r["needs"]), "stored": r["stored"] and str(r["stored"])} for r in runs]},
            allow_nan=False))
        return
    print(f"paper-scale runs of the reproduction report (store: {args.store}):")
    for r in runs:
        where = f"stored in {r['stored']} ({_stored_cost(r['stored'])})" if r["stored"] else \
            f"not in {args.store}"
        print(f"{', '.join(r['results']):4s} {r['experiment']}: {where}")
        print(f"     estimated cost: {r['cost'].describe()}")
        needs = "; ".join(f"{d} in $LOGLOSS_DATA ({USER_DATASETS[d]})" for d in r["needs"])
        print(f"     needs: {needs or 'nothing beyond the vendored data'}")
        for why in r["missing"]:
            print(f"     missing now: {why}")
        print(f"     command: {r['command']}")
    left = [r["cost"] for r in runs if not r["stored"]]
    print(f"{len(runs) - len(left)} of {len(runs)} runs stored; the {len(left)} missing, one after "
          f"another, would take {functools.reduce(Cost.then, left, Cost()).describe()} (estimated)")


def _agrees(row: dict, bounds: Mapping[str, float]) -> bool:
    """A re-made value agrees with the store: identical, within 3 combined standard errors,
    or, with no standard error, within rounding (:data:`~logloss.runs.ROUNDING`); a
    diagnostic the experiment judges against a bound (``Experiment.bounds``) agrees when
    both values are within it."""
    if row["key"] in bounds and row["stored"] is not None and row["new"] is not None:
        values = [math.nan if row[k]["value"] is None else row[k]["value"] for k in ("stored", "new")]
        return all(abs(v) <= bounds[row["key"]] for v in values)
    if row["z"] is not None:
        return abs(row["z"]) <= Z_AGREE
    return row["relative"] is not None and row["relative"] <= ROUNDING


def _describe_differences(rows: list[dict], bounds: Mapping[str, float]) -> list[str]:
    lines = []
    for row in rows:
        if row["identical"]:
            continue
        old, now = (_fmt_measured(row[k]) for k in ("stored", "new"))
        if row["stored"] is None or row["new"] is None:
            gap = "only in one of the two runs"
        elif row["key"] in bounds:
            gap = (f"a diagnostic judged against its bound {bounds[row['key']]:g}: "
                   + ("both within it" if _agrees(row, bounds) else "not both within it"))
        else:
            gap = "" if row["relative"] is None else f"relative difference {row['relative']:.1e}, "
            z = row["z"]
            if z is None:
                gap += f"no standard error (rounding: a relative {ROUNDING:g} at most)"
            else:
                gap += f"z = {z:+.2f}" if z == 0 or abs(z) >= 0.01 else f"z = {z:+.1e}"
                gap += " (combined s.e.)"
        lines.append(f"  {row['key']}: {old} stored, {now} now: {gap}")
    return lines


def _fmt_measured(m: dict | None) -> str:
    if m is None:
        return "absent"
    value, err = m["value"], m["stderr"]
    text = "—" if value is None else f"{value:.6g}"
    return text if err is None else f"{text} ± {err:.2g}"


def _cmd_reproduce(args: argparse.Namespace) -> int:
    """Exit status 1 when a re-made value differs from the store beyond 3 combined standard
    errors (or, with none, beyond rounding), or a run fails; blocked runs are listed."""
    if args.dry_run:
        _dry_run(args)
        return 0
    stored = stored_runs(args.store)
    if args.only and args.only not in stored:
        raise InvalidInput(f"--only {args.only}: {args.store} holds no paper-scale run of it "
                           f"(it holds: {', '.join(sorted(stored)) or 'none'})")
    names = [args.only] if args.only else sorted(stored)
    device = resolve_device(args.device)
    cache_dir()
    out_root = Path(args.out)
    counts = {"identical": 0, "within": 0, "beyond": 0, "blocked": 0, "failed": 0}
    records = []
    for i, name in enumerate(names, 1):
        folder, summary = stored[name]
        exp = get_experiment(name)
        out = out_root / folder.name
        try:
            if not (isinstance(summary.get("params"), dict) and isinstance(summary.get("seed"), int)):
                raise InvalidInput(f"{folder}/summary.json lacks the run's params or seed, so the "
                                   "run cannot be re-made; make it again with python -m logloss run")
            params = exp.params(summary["scale"], summary["params"])
            print(f"[reproduce] {i}/{len(names)} {name}: re-making {folder} into {out} "
                  f"(estimated {exp.estimate(params).describe()})", file=sys.stderr)
            start = time.perf_counter()
            # from scratch: a complete earlier reproduction is replaced, an unfinished one resumes
            result = _run_into(out, name, summary["scale"], summary["seed"], params, device,
                               overwrite=(out / COMPLETE).exists(), log=sys.stderr)
        except DatasetMissingError as exc:
            counts["blocked"] += 1
            print(f"{name}: blocked: {_one_line(exc)}")
            records.append({"experiment": name, "status": "blocked", "reason": _one_line(exc)})
            continue
        except (LoglossError, ValueError) as exc:
            counts["failed"] += 1
            print(f"{name}: failed: {_one_line(exc)}")
            records.append({"experiment": name, "status": "failed", "reason": _one_line(exc)})
            continue
        print(f"[reproduce] {name}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        rows = compare_summaries(summary, result.summary())
        if all(r["identical"] for r in rows):
            status = "identical"
            print(f"{name}: identical (its {len(rows)} measured values bitwise equal to {folder})")
        else:
            beyond = [r["key"] for r in rows if not _agrees(r, exp.bounds)]
            status = "beyond" if beyond else "within"
            differ = sum(not r["identical"] for r in rows)
            verdict = f"beyond {Z_AGREE:g} combined s.e. or rounding: {', '.join(beyond)}" if beyond \
                else f"all within {Z_AGREE:g} combined s.e. or rounding"
            print(f"{name}: {differ} of {len(rows)} measured values differ from {folder} ({verdict})")
            print("\n".join(_describe_differences(rows, exp.bounds)))
        counts[status] += 1
        records.append({"experiment": name, "status": status, "out": str(out), "values": rows})
    summary_line = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    print(f"[reproduce] {len(names)} run(s): {summary_line or 'none stored'}", file=sys.stderr)
    if args.json:
        print(json.dumps({"store": str(args.store), "out": str(out_root), "runs": records},
                         allow_nan=False))
    return 1 if counts["beyond"] or counts["failed"] else 0


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``sweep`` share."""
    p.add_argument("name")
    p.add_argument("--scale", choices=SCALES, default=None,
                   help="smoke | book | paper (default: $LOGLOSS_SCALE or book)")
    p.add_argument("--seed", type=_seed, default=0, help="integer in [0, 2**63)")
    p.add_argument("--device", default="auto",
                   help="auto | cpu | cuda[:K] for the torch experiments (default auto: a GPU "
                        "if torch sees one); the summary records the device used")
    p.add_argument("--json", action="store_true", help="print the JSON summary as the last line")


def _cmd_bench(args: argparse.Namespace) -> None:
    if args.peers:
        import os
        import subprocess

        from .benchmarks import PEER_ENV, run_peer_benchmarks

        if any(os.environ.get(k) != v for k, v in PEER_ENV.items()):
            # one BLAS thread must be set before numpy starts: run the table in a child
            cmd = [sys.executable, "-m", "logloss", "bench", "--peers", "--reps", str(args.reps)]
            cmd += (["--quick"] if args.quick else []) + (["--json"] if args.json else [])
            cmd += ["--only", args.only] if args.only else []
            raise SystemExit(subprocess.run(cmd, env=dict(os.environ, **PEER_ENV)).returncode)
        try:
            rows = run_peer_benchmarks(quick=args.quick, reps=args.reps, only=args.only)
        except ImportError as err:
            raise InvalidInput(f"bench --peers needs the peers ({err.name} is missing): "
                               "pip install -c constraints.txt -r requirements-peers.txt") from err
        if args.json:
            print(json.dumps({"peers": rows}, allow_nan=False))
        return
    from .benchmarks import run_benchmarks

    rows = run_benchmarks(quick=args.quick)
    if args.json:
        print(json.dumps({"benchmarks": rows}, allow_nan=False))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m logloss", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the experiments").set_defaults(func=_cmd_list)
    run = sub.add_parser("run", help="run one experiment (resumes an unfinished --out)")
    _common(run)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a parameter (repeatable; lists as a,b,c)")
    run.add_argument("--out", default=None,
                     help="output folder (default runs/NAME-SCALE-seedN[-HASH of the --set "
                          "values]); an unfinished run of the same settings there resumes")
    run.add_argument("--force", action="store_true",
                     help="discard an existing run in the output folder and start afresh")
    run.set_defaults(func=_cmd_run)
    sw = sub.add_parser("sweep", help="run an experiment over a grid of parameters and seeds")
    _common(sw)
    sw.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                    help="values of one parameter (repeatable; every combination is a point; "
                         "separate list values with ';')")
    sw.add_argument("--seeds", type=_count, default=1, help="seeds per grid point (default 1)")
    sw.add_argument("--jobs", type=_count, default=1, help="parallel joblib workers (default 1)")
    sw.add_argument("--scheduler", default=None, metavar="ADDRESS",
                    help="dask.distributed scheduler address (tcp://host:8786)")
    sw.add_argument("--out", default=None,
                    help="folder of per-task results; tasks already there are not run again")
    sw.set_defaults(func=_cmd_sweep)
    rep = sub.add_parser("reproduce", help="re-make the stored paper-scale runs from scratch and "
                                           "compare them with the store (--dry-run: list them)")
    rep.add_argument("--dry-run", action="store_true",
                     help="list every paper-scale run the reproduction report needs, with its "
                          "estimated cost, whether the store holds it and what it needs")
    rep.add_argument("--only", default=None, metavar="NAME", help="one experiment only")
    rep.add_argument("--store", default="results", help="the results store (default results)")
    rep.add_argument("--out", default=str(Path("_build") / "reproduce"),
                     help="where the re-made runs go (default _build/reproduce)")
    rep.add_argument("--device", default="cpu",
                     help="cpu | cuda[:K] for the torch experiments (default cpu, where the "
                          "stored runs were made; elsewhere expect differences within the "
                          "statistics, not bitwise equality)")
    rep.add_argument("--json", action="store_true", help="print a JSON record as the last line")
    rep.set_defaults(func=_cmd_reproduce)
    bench = sub.add_parser("bench", help="time the fast kernels against naive loops")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--quick", action="store_true", help="short timings (for tests)")
    bench.add_argument("--peers", action="store_true",
                       help="logloss against curvlinops, BackPACK, Opacus and torch.func (issue 25's table)")
    bench.add_argument("--reps", type=int, default=5, help="interleaved repetitions per row (--peers)")
    bench.add_argument("--only", default=None, help="rows whose name contains this (--peers)")
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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # each distinct warning once
        try:
            status = args.func(args) or 0
        except (LoglossError, ValueError, OSError) as exc:  # diagnosed problems, SGDDiverged included
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return 2
        except MemoryError:  # beyond what the estimate before the run foresaw
            print("error: out of memory: the run needed more memory than this machine has "
                  "free; lower its sizes", file=sys.stderr)
            return 2
        except ArithmeticError as exc:  # float64 overflow or a zero denominator
            print(f"error: the computation failed ({type(exc).__name__}: {_one_line(exc)}); a "
                  "parameter is probably too extreme for float64 arithmetic", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
    for w in caught:
        print(f"warning: {_one_line(w.message)}", file=sys.stderr)
    return status
