"""The layout is the design: each layer imports only from the layers below it, theory
imports no torch, and η and B can never be swapped silently."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import logloss

ROOT = Path(logloss.__file__).parent

#: Layer of each top-level part of the package (lower layers never import higher ones).
LAYERS = {
    "core": 0, "theory": 1, "data": 2, "models": 2, "_datasets": 2, "measure": 3,
    "dynamics": 4, "stats": 5, "experiments": 6, "display": 7,
    "runs": 8, "sweeps": 8, "report": 8, "cli": 9, "__main__": 9, "benchmarks": 9, "reference": 9, "__init__": 10,
}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        yield path, list(rel.parts)


def _imports(path: Path, parts: list[str]):
    """(top-level part of logloss, imported module name) for every import in the file."""
    pkg = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                target = base + (node.module.split(".") if node.module else [])
                if not target:  # from . import x (package root)
                    target = [a.name for a in node.names][:1]
            elif node.module and node.module.split(".")[0] == "logloss":
                target = node.module.split(".")[1:] or [a.name for a in node.names][:1]
            else:
                yield None, node.module or ""
                continue
            yield target[0], ".".join(target)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "logloss":
                    rest = a.name.split(".")[1:]
                    yield (rest[0] if rest else "__init__"), a.name
                else:
                    yield None, a.name


def test_every_module_has_a_layer():
    for _, parts in _modules():
        assert parts[0] in LAYERS or parts == ["__init__"], parts


@pytest.mark.parametrize("path,parts", list(_modules()), ids=lambda v: str(v) if isinstance(v, list) else "")
def test_dependencies_point_down(path, parts):
    mine = LAYERS[parts[0]] if len(parts) > 1 or parts[0] != "__init__" else LAYERS["__init__"]
    for top, name in _imports(path, parts):
        if top is None:
            continue
        theirs = LAYERS[top]
        assert theirs <= mine, f"{'/'.join(parts)}.py (layer {mine}) imports {name} (layer {theirs})"


def test_theory_is_closed_forms_only():
    """theory/ imports numpy, scipy and the core helpers, never torch or a higher layer."""
    allowed = {"numpy", "scipy", "math", "__future__", "collections", "typing", "dataclasses"}
    for path, parts in _modules():
        if parts[0] != "theory":
            continue
        for top, name in _imports(path, parts):
            if top is None:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
            else:
                assert top in {"core", "theory"}, f"{path.name} imports logloss.{name}"
    # and the core helpers theory uses load no torch either
    for path in (ROOT / "core" / "validation.py", ROOT / "core" / "errors.py"):
        assert "torch" not in path.read_text()


def _public_callables():
    seen = set()
    for mod in pkgutil.walk_packages(logloss.__path__, "logloss."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or not callable(obj) or id(obj) in seen:
                continue
            if getattr(obj, "__module__", "").startswith("logloss"):
                seen.add(id(obj))
                yield f"{obj.__module__}.{name}", obj


def test_eta_and_B_are_keyword_only_everywhere():
    checked = 0
    for qual, fn in _public_callables():
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        if "eta" in params and "B" in params:
            checked += 1
            for name in ("eta", "B"):
                assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, f"{qual}: {name}"
    assert checked >= 15


def test_swapped_eta_and_B_cannot_pass_silently():
    # Before: phi(eta, B, h) and escape_exponent(B, eta, h, n) took opposite orders.
    with pytest.raises(TypeError):
        logloss.theory.phi(0.1, 2, 1.0)
    with pytest.raises(TypeError):
        logloss.theory.escape_exponent(2, 0.1, 1.0, 3)
    assert logloss.theory.phi(eta=0.1, B=2, h=1.0) == pytest.approx(21.0)
    assert logloss.theory.escape_exponent(B=2, eta=0.1, h=1.0, n=3) == pytest.approx(19.5)


def test_no_public_function_shadows_a_module():
    """``import logloss.X`` must give a module: no re-exported name equals a submodule."""
    subs = {m.name for m in pkgutil.iter_modules(logloss.__path__)}
    for name in logloss.__all__:
        if name in subs:
            assert inspect.ismodule(getattr(logloss, name)), name
