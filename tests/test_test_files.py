"""Every test file is named after the module it tests, or after a topic listed here: a newcomer
who opens ``tests/test_<name>.py`` finds the tests of ``<name>``, and a renamed module that
leaves its test file behind fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "logloss"

#: Test files that test the book or the repository as a whole rather than one module.
TOPICS = {
    "book_figures": "a one-chapter book built under Agg: figures shown with logloss.show get their images",
    "chapter_checks": "a chapter with a false assertion makes pytest fail",
    "checks_section": "a chapter's ## Checks section: collapsed in the HTML, still executed",
    "cli_bad_inputs": "every bad input on the command line, generated from the experiment registry",
    "declarations": "every reader of an experiment (figures, report, maps) against its declarations",
    "cli_sweep": "python -m logloss sweep: the same tasks as the API, resumable",
    "experiment_files": "one experiment file and one figure file per registered experiment",
    "layers": "the layered layout: imports point down, theory imports no torch",
    "misuse_api": "the misuse report: the Python API on a user's own model is never silently wrong",
    "noise_experiments": "what the noise chapters' experiments measure besides their headline numbers",
    "readme": "every Python snippet of the README runs as written",
    "reproduce": "python -m logloss reproduce: the dry run and the comparison with the store",
    "smoke_summaries": "the same seeds give the same smoke-scale summaries as the recorded baseline",
    "test_files": "this file: test files named after modules or topics",
}


def _names(path: Path, root: Path) -> set[str]:
    """The names that a test of the module (or package) at ``path`` may carry: its own name,
    and the same qualified by its packages (``explore_html`` for display/explore/html.py)."""
    rel = path.relative_to(root)
    parts = [p.lstrip("_") for p in (rel.parent.parts if path.name == "__init__.py" else rel.with_suffix("").parts)]
    return {"_".join(parts[i:]) for i in range(len(parts))} - {""}


def module_names() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        names |= _names(path, PACKAGE)
    for folder in ("scripts", "_ext"):
        names |= {p.stem for p in (ROOT / folder).glob("*.py")}
    return names


def test_names_qualify_modules_and_packages():
    assert _names(PACKAGE / "display" / "explore" / "html.py", PACKAGE) == {
        "html", "explore_html", "display_explore_html"}
    assert _names(PACKAGE / "experiments" / "__init__.py", PACKAGE) == {"experiments"}
    assert "cost" in _names(PACKAGE / "experiments" / "_cost.py", PACKAGE)


def test_every_test_file_is_named_after_a_module_or_a_topic():
    modules = module_names()
    stray = sorted(name for p in (ROOT / "tests").glob("test_*.py")
                   if (name := p.stem[len("test_"):]) not in modules and name not in TOPICS)
    assert stray == [], (f"tests/test_<name>.py names no module of src/logloss, scripts/ or _ext/ "
                         f"and no topic of TOPICS: {stray}")


def test_topics_name_no_module_and_an_existing_file():
    # a topic that became a module's name is a test file named after that module now
    assert not set(TOPICS) & module_names()
    assert all((ROOT / "tests" / f"test_{t}.py").is_file() for t in TOPICS), \
        [t for t in TOPICS if not (ROOT / "tests" / f"test_{t}.py").is_file()]
