"""Every reader of an experiment's outcome reads only what the experiment declares.

An experiment declares its parameters, summary keys, table row fields and arrays
(:mod:`logloss.experiments.spec`), and :func:`logloss.run_experiment` checks each outcome
against them.  Here the readers are checked against the declarations, statically: the
figure modules (every string key they read), the report's claims (keys, targets, spreads
and the tables and fields their degrees of freedom come from), and the two maps of the
results R1–R13 (README.md and intro.md).  So renaming a row field in an experiment without
updating its figure fails here, not in a book build.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from logloss.core.glossary import GLOSSARY, describe
from logloss.experiments import get_experiment, list_experiments
from logloss.experiments.spec import field_names
from logloss.report import CLAIMS

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "src" / "logloss" / "display" / "figures"

#: String subscripts of figure modules that are not read from a result: a figure's own
#: dictionaries (line styles, labels) and matplotlib's.  Keep it short: a name here is
#: not checked against any declaration.
LOCAL_KEYS = {
    "critical_dimension.py": {"viridis"},  # matplotlib.colormaps["viridis"]
}


def _declared(exp) -> set[str]:
    """Every name an experiment's outcome can be read by."""
    names = set(exp.presets["smoke"])  # result.params
    for kind in ("measured", "theory", "reference", "tables"):
        names |= set(exp.keys[kind])
    for fields in exp.rows.values():
        names |= field_names(fields)
    return names | field_names(exp.arrays)


def _drawn(tree: ast.Module) -> list[str]:
    """The experiments a figure module registers its figure for (``@draws(...)``)."""
    return [a.value for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "draws" for a in node.args
            if isinstance(a, ast.Constant)]


def _read_keys(tree: ast.Module) -> set[str]:
    """String keys the module reads: ``x["key"]`` and ``x.get("key")``."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and isinstance(node.slice.value, str):
            keys.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            keys.add(node.args[0].value)
    return keys


def _figure_modules() -> dict[str, tuple[set[str], set[str]]]:
    """For each figure module: the keys it reads and the experiments whose outcome it may
    be reading (those it draws; for a shared ``_helper.py``, those of the modules that
    import it)."""
    trees = {p.name: ast.parse(p.read_text()) for p in sorted(FIGURES.glob("*.py"))
             if p.name != "__init__.py"}
    drawn = {name: set(_drawn(tree)) for name, tree in trees.items()}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 1:
                helper = f"{node.module}.py"
                if helper in drawn and helper.startswith("_"):
                    drawn[helper] |= drawn[name]
            if isinstance(node, ast.ImportFrom) and node.module is None and node.level == 1:
                for alias in node.names:
                    helper = f"{alias.name}.py"
                    if helper in drawn and helper.startswith("_"):
                        drawn[helper] |= drawn[name]
    return {name: (_read_keys(tree), drawn[name]) for name, tree in trees.items()}


FIGURE_MODULES = _figure_modules()


def test_every_figure_module_is_checked():
    assert all(exps for _, exps in FIGURE_MODULES.values()), \
        [m for m, (_, exps) in FIGURE_MODULES.items() if not exps]


@pytest.mark.parametrize("module", sorted(FIGURE_MODULES))
def test_figures_read_only_declared_names(module):
    keys, exps = FIGURE_MODULES[module]
    declared = set().union(*(_declared(get_experiment(e)) for e in exps))
    unknown = sorted(keys - declared - LOCAL_KEYS.get(module, set()))
    assert not unknown, (f"figures/{module} reads {unknown}, which none of the experiments it "
                         f"draws ({', '.join(sorted(exps))}) declares")


def _dof_reads(dof) -> tuple[str, list[str]]:
    """The table (and field) a degrees-of-freedom rule of the report reads
    (:func:`logloss.report.rows_minus_one`, :func:`logloss.report.field_minus_one`)."""
    names = inspect.getclosurevars(dof).nonlocals
    return names["table"], [names["field"]] if "field" in names else []


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.experiment],
                         ids=lambda c: f"{c.result}-{c.key}")
def test_report_claims_read_only_declared_keys(claim):
    exp = get_experiment(claim.experiment)
    assert claim.key in exp.keys["measured"]
    if isinstance(claim.target, tuple):
        kind, key = claim.target
        assert key in exp.keys[kind], f"{claim.result}: {kind} key {key!r} is not declared"
    if claim.standard.spread:
        assert claim.standard.spread in exp.keys["measured"]
    if claim.standard.dof is not None:
        table, field = _dof_reads(claim.standard.dof)
        assert table in exp.rows, f"{claim.result}: table {table!r} is not declared"
        assert set(field) <= field_names(exp.rows[table]), \
            f"{claim.result}: field {field} of table {table!r} is not declared"
    for other in claim.also:
        assert get_experiment(other).keys["measured"] == exp.keys["measured"]


def test_every_name_is_in_the_glossary_or_declared_by_its_experiment():
    """Each parameter, row field and array says what it means, once: in the glossary, or
    in its experiment's declaration."""
    missing = {}
    for exp in list_experiments():
        names = set(exp.parameters) | set().union(*map(field_names, exp.rows.values())) \
            | field_names(exp.arrays)
        lost = sorted(n for n in names if n not in exp.parameters
                      and describe(n, exp.fields) is None)
        if lost:
            missing[exp.name] = lost
    assert not missing, f"names without a meaning (add to the glossary or fields=): {missing}"


#: Names an experiment gives another meaning than the glossary's, to be renamed: escape-sde's
#: row field ``noise`` is the noise model (paper or exact), elsewhere ``noise`` is 𝒩;
#: stationary-tail's ``n`` is a sample count, elsewhere the effective dimension;
#: hessian-outliers' ``seed`` is the index of a net and its ``loss`` a loss value, elsewhere
#: a seed and the loss function (mse or ce); first-passage-linreg's ``dataset`` is the index
#: of a data set, elsewhere its name; barrier's ``points`` counts rare points, elsewhere records;
#: barrier-dimension's ``slope`` and ``slope_eq15`` are slopes against n, elsewhere against c.
TWO_MEANINGS = {("escape-sde", "noise"), ("stationary-tail", "n"), ("hessian-outliers", "seed"),
                ("hessian-outliers", "loss"), ("first-passage-linreg", "dataset"),
                ("rare-first-passage-linreg", "dataset"), ("barrier", "points"),
                ("barrier-dimension", "points"), ("barrier-dimension", "slope"),
                ("barrier-dimension", "slope_eq15")}


def test_own_declarations_do_not_repeat_the_glossary():
    """An experiment declares only what is its own: a name of the glossary is not declared
    again (with another meaning it would mean two things).  The names listed as meaning two
    things are declared by their experiment, so that the glossary's meaning is not read."""
    for name, field in TWO_MEANINGS:
        assert field in get_experiment(name).fields, (name, field)
    for exp in list_experiments():
        again = sorted(n for n in set(exp.fields) & set(GLOSSARY)
                       if (exp.name, n) not in TWO_MEANINGS)
        assert not again, f"{exp.name} declares glossary names {again} again"


def test_declared_meanings_are_one_line():
    for exp in list_experiments():
        for name in [*exp.parameters, *exp.fields]:
            text = exp.meaning(name)
            assert text and "\n" not in text, (exp.name, name)


MAP_ROW = re.compile(r"^\| (R\d+(?:, R\d+)*)\b(.*)$", re.M)


#: Where each document's map of the results starts.
MAPS = {"README.md": "## Where each result lives", "intro.md": "| id | result |"}


def _map_rows(doc: str) -> dict[str, list[str]]:
    """The rows of a document's map of the results, by result id (a row may serve several)."""
    lines = (ROOT / doc).read_text().split(MAPS[doc], 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    rows = {}
    for ids, rest in MAP_ROW.findall("\n".join(lines[start:end])):
        for rid in ids.split(", "):
            rows.setdefault(rid, []).append(rest)
    return rows


@pytest.mark.parametrize("doc", ["README.md", "intro.md"])
def test_maps_cover_every_result(doc):
    rows = _map_rows(doc)
    assert set(rows) == {f"R{i}" for i in range(1, 14)}


def test_readme_map_points_at_declared_experiments_existing_code_and_tests():
    """The README's map: for each result, its equation, experiment (registered, and the
    one the report tests it with), its declaration, library modules and tests (existing)."""
    rows = _map_rows("README.md")
    known = {e.name for e in list_experiments()}
    for rid, texts in rows.items():
        for text in texts:
            _title, paper, _chapter, exps, code, tests = text.strip(" |").split(" | ")
            assert re.search(r"Eq|Fig|beyond", paper), f"README {rid} gives no equation"
            for name in re.findall(r"`([a-z0-9-]+)`", exps):
                assert name in known, f"README {rid} names the unknown experiment {name!r}"
            for path in re.findall(r"`([a-z_/]+\.py)`", exps + code):
                assert (ROOT / "src" / "logloss" / path).exists(), \
                    f"README {rid} names {path}, which does not exist"
            for path in re.findall(r"`(test_[a-z_]+\.py)`", tests):
                assert (ROOT / "tests" / path).exists(), f"README {rid} names {path}, which does not exist"
        for claim in CLAIMS:
            if claim.result == rid and claim.experiment:
                assert any(f"`{claim.experiment}`" in t for t in texts), \
                    f"README {rid} does not name {claim.experiment}, the experiment the report tests"
                module = get_experiment(claim.experiment).fn.__module__.rsplit(".", 1)[1]
                assert any(f"`experiments/{module}.py`" in t for t in texts), \
                    f"README {rid} does not name experiments/{module}.py, which declares {claim.experiment}"
