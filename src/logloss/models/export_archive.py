"""What a ``torch.export`` archive may hold before torch is allowed to read it.

``torch.export.load`` (torch 2.13) runs code from the file in several places: it unpickles
(``weights_only=False``) every weight or constant that the archive's own config marks
``use_pickle``, custom and opaque objects among the constants, a legacy weights file and
sample inputs that ``weights_only`` refuses; it ``exec``s the archive's ``guards_code``; it
hands every symbolic-shape expression to ``sympy.sympify`` (an ``eval``); it resolves node
targets by attribute path under ``torch``, ``operator`` and ``math`` (``torch.os.system`` is
such a path); and its pytree specs may import a module named in the file. The loader of
:mod:`logloss.models.user_files` therefore reads the archive's bytes once, checks them
against the allow-list below, and gives torch a new archive made of the checked members
only, so that what torch reads is exactly what was checked:

* the structure of an archive written by ``torch.export.save``: one model (``model``), raw
  tensor payloads (``weight_N``, ``tensor_N``) described by configs with no pickled entry and
  no custom or opaque object; sample inputs that ``torch.load(weights_only=True)`` reads;
* a graph whose node targets are ATen operators (``torch.ops.aten.*``) or a few symbolic-size
  helpers of ``operator``, ``math`` and ``torch.sym_*``; no ``guards_code``; symbolic
  expressions made only of sympy's arithmetic and torch's size functions; pytree specs of
  tuples, lists and dicts.

After loading, the graph is checked once more (every called target an ATen operator or an
allowed helper) before ``ExportedProgram.module()`` builds the module.
"""

from __future__ import annotations

import io
import json
import operator
import re
import tokenize
import zipfile
from typing import Any

import torch

from ..core.errors import CorruptFile, InvalidInput

__all__ = ["checked_export_archive", "check_exported_program"]

# members relative to the archive's top folder
_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version",
          ".data/serialization_id", "models/model.json",
          "data/weights/model_weights_config.json",
          "data/constants/model_constants_config.json", "data/sample_inputs/model.pt"}
_WEIGHT = re.compile(r"weight_\d+")
_TENSOR = re.compile(r"tensor_\d+")
_EXTRA = re.compile(r"extra/[A-Za-z0-9_.\-]+")
_MAX_JSON = 256 * 2**20  # a graph description larger than this is not a model we can measure

_OPERATOR_HELPERS = {"getitem", "add", "sub", "mul", "floordiv", "truediv", "mod", "pow", "neg",
                     "pos", "abs", "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "not_"}
_TORCH_HELPERS = {"sym_max", "sym_min", "sym_not", "sym_float", "sym_int", "sym_sqrt", "sym_ite",
                  "sym_sum"}
_MATH_HELPERS = {"ceil", "floor", "trunc", "sqrt"}
_ATEN_TARGET = re.compile(r"torch\.ops\.aten\.[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")

# names a symbolic-shape expression may use: sympy's arithmetic and relations, torch's size
# functions, the keyword arguments of Symbol, and symbol names such as s77 or u0
_SYM_NAMES = ({"Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs",
               "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "oo", "zoo", "nan",
               "True", "False", "true", "false", "positive", "negative", "nonnegative",
               "nonpositive", "integer", "real", "finite", "infinite", "commutative", "zero",
               "nonzero", "even", "odd", "rational"}
              # torch.utils._sympy.functions.__all__ of torch 2.13 (sympy Function classes)
              | {"FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv",
                 "CeilToInt", "FloorToInt", "CeilDiv", "IntTrueDiv", "FloatTrueDiv", "LShift",
                 "RShift", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
                 "RoundToInt", "RoundDecimal", "ToFloat", "FloatPow", "PowByNatural",
                 "Identity"})
_SYMBOL_NAME = re.compile(r"[a-z]{1,4}\d+")
_SYM_OPS = {"+", "-", "*", "/", "//", "%", "**", "(", ")", ",", "=", "<", ">", "<=", ">=", "==",
            "!=", "&", "|", "~"}
_SPEC_TYPES = {None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict",
               "torch.fx.immutable_collections.immutable_list",
               "torch.fx.immutable_collections.immutable_dict"}


def _refuse(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"model file {name} is a torch.export archive that holds {why}, which "
                        "loading could run as code; it is loaded only with trust_model=true "
                        "(for a file you made yourself)")


def _json(zf: zipfile.ZipFile, member: str, name: str) -> Any:
    if zf.getinfo(member).file_size > _MAX_JSON:
        raise CorruptFile(f"model file {name}: {member} is larger than {_MAX_JSON >> 20} MB")
    try:
        return json.loads(zf.read(member).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CorruptFile(f"model file {name}: {member} is not valid JSON") from None


def _check_payload_config(cfg: Any, pattern: re.Pattern, present: set[str], what: str,
                          name: str) -> None:
    if not (isinstance(cfg, dict) and isinstance(cfg.get("config"), dict)):
        raise CorruptFile(f"model file {name}: its {what} config is not a torch.export config")
    for fqn, meta in cfg["config"].items():
        if not isinstance(meta, dict):
            raise CorruptFile(f"model file {name}: {what} {fqn!r} has no description")
        if meta.get("use_pickle") is not False:
            raise _refuse(name, f"a pickled {what} ({fqn!r})")
        path = meta.get("path_name")
        if not (isinstance(path, str) and pattern.fullmatch(path)):
            raise _refuse(name, f"a {what} ({fqn!r}) stored as {path!r}, not as a raw tensor")
        if path not in present:
            raise CorruptFile(f"model file {name}: {what} {fqn!r} names {path}, which is missing")
        if not isinstance(meta.get("tensor_meta"), dict):
            raise CorruptFile(f"model file {name}: {what} {fqn!r} has no tensor description")


def _check_sym_expr(expr: Any, name: str) -> None:
    """An expression for ``sympy.sympify`` (an eval): only allowed names and operators."""
    if not isinstance(expr, str) or len(expr) > 10_000:
        raise CorruptFile(f"model file {name}: a symbolic-shape expression is not a short string")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(expr).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        raise _refuse(name, "a symbolic-shape expression that is not an expression") from None
    for tok in tokens:
        if tok.type in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER, tokenize.NUMBER):
            continue
        if tok.type == tokenize.NAME and (tok.string in _SYM_NAMES
                                          or _SYMBOL_NAME.fullmatch(tok.string)):
            continue
        if tok.type == tokenize.STRING and re.fullmatch(r"'[a-z]{1,4}\d+'|\"[a-z]{1,4}\d+\"",
                                                        tok.string):
            continue
        if tok.type == tokenize.OP and tok.string in _SYM_OPS:
            continue
        raise _refuse(name, f"a symbolic-shape expression with {tok.string!r}")


def _check_target(target: Any, name: str) -> None:
    if not isinstance(target, str):
        raise CorruptFile(f"model file {name}: a graph node has no operator name")
    module, _, rest = target.partition(".")
    if _ATEN_TARGET.fullmatch(target):
        return
    if (module == "_operator" and rest in _OPERATOR_HELPERS) \
            or (module == "torch" and rest in _TORCH_HELPERS) \
            or (module == "math" and rest in _MATH_HELPERS):
        return
    raise _refuse(name, f"a call of {target[:80]!r}, which is not an ATen operator")


def _check_spec(spec: Any, name: str) -> None:
    """A pytree spec (a JSON string ``[protocol, tree]``) of tuples, lists and dicts only."""
    if spec is None:
        return
    if not isinstance(spec, str) or "__enum__" in spec:
        raise _refuse(name, "an input or output structure that is not plain data")
    try:
        tree = json.loads(spec)
    except ValueError:
        raise CorruptFile(f"model file {name}: an input or output structure is not JSON") from None
    stack = [tree[1] if isinstance(tree, list) and len(tree) == 2 else None]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict) or node.get("type") not in _SPEC_TYPES:
            kind = node.get("type") if isinstance(node, dict) else node
            raise _refuse(name, f"inputs or outputs of type {str(kind)[:60]!r}")
        children = node.get("children_spec", [])
        if not isinstance(children, list):
            raise CorruptFile(f"model file {name}: an input or output structure is malformed")
        stack.extend(children)


def _walk(obj: Any, name: str) -> None:
    """Every graph node's target, every symbolic expression and every pytree spec."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if isinstance(o, dict):
            if "target" in o:  # a graph node (a nested graph's too)
                _check_target(o["target"], name)
            for key, value in o.items():
                if key == "target":
                    continue
                if key == "expr_str":
                    _check_sym_expr(value, name)
                elif key in ("in_spec", "out_spec"):
                    _check_spec(value, name)
                elif key in ("as_custom_obj", "as_custom_objs", "custom_obj_values") and value:
                    raise _refuse(name, "a custom object")
                else:
                    stack.append(value)
        elif isinstance(o, list):
            stack.extend(o)


def checked_export_archive(data: bytes, name: str) -> bytes:
    """The archive rebuilt from its allowed members, or :class:`InvalidInput` naming the first
    member that is not allowed (see the module docstring)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise CorruptFile(f"model file {name} is not a readable zip archive") from None
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _refuse(name, "two members of the same name")
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or any("/" not in n for n in names):
        raise CorruptFile(f"model file {name} is not a torch.export archive (one top folder)")
    root = roots.pop()
    rel = {n.split("/", 1)[1]: n for n in names}
    weights = {r.rsplit("/", 1)[1] for r in rel if r.startswith("data/weights/weight_")}
    tensors = {r.rsplit("/", 1)[1] for r in rel if r.startswith("data/constants/tensor_")}
    for r in rel:
        if r in _FIXED or _EXTRA.fullmatch(r):
            continue
        folder, _, base = r.rpartition("/")
        if (folder == "data/weights" and _WEIGHT.fullmatch(base)) \
                or (folder == "data/constants" and _TENSOR.fullmatch(base)):
            continue
        raise _refuse(name, f"the member {r!r}, which torch.export.save does not write for "
                            "a plain model")
    for need in ("archive_format", "models/model.json", "data/weights/model_weights_config.json",
                 "data/constants/model_constants_config.json", "data/sample_inputs/model.pt"):
        if need not in rel:
            raise CorruptFile(f"model file {name} is an incomplete torch.export archive "
                              f"(no {need})")
    if zf.read(rel["archive_format"]).strip() != b"pt2":
        raise CorruptFile(f"model file {name} is not a pt2 archive")
    _check_payload_config(_json(zf, rel["data/weights/model_weights_config.json"], name),
                          _WEIGHT, weights, "weight", name)
    _check_payload_config(_json(zf, rel["data/constants/model_constants_config.json"], name),
                          _TENSOR, tensors, "constant", name)
    try:  # torch tries weights_only=True first; where that works it never unpickles
        torch.load(io.BytesIO(zf.read(rel["data/sample_inputs/model.pt"])), weights_only=True,
                   map_location="cpu")
    except Exception:  # noqa: BLE001 - any failure means torch would fall back to unpickling
        raise _refuse(name, "sample inputs that are not plain tensors") from None
    program = _json(zf, rel["models/model.json"], name)
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise CorruptFile(f"model file {name}: models/model.json is not an exported program")
    if program.get("guards_code"):
        raise _refuse(name, "guard code (Python that torch executes)")
    if program["graph_module"].get("treespec_namedtuple_fields"):
        raise _refuse(name, "named-tuple inputs or outputs")
    ranges = program.get("range_constraints", {})
    if not isinstance(ranges, dict):
        raise CorruptFile(f"model file {name}: its range constraints are malformed")
    for symbol in ranges:
        _check_sym_expr(symbol, name)
    _walk(program, name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
        for r, full in rel.items():
            w.writestr(f"{root}/{r}", zf.read(full))
    return out.getvalue()


_ALLOWED_CALLABLES = ({getattr(operator, h) for h in _OPERATOR_HELPERS}
                      | {getattr(torch, h) for h in _TORCH_HELPERS if hasattr(torch, h)})


def check_exported_program(ep: Any, name: str) -> None:
    """Every node of the loaded graph calls an ATen operator or an allowed size helper."""
    import math

    allowed = _ALLOWED_CALLABLES | {getattr(math, h) for h in _MATH_HELPERS}
    for node in ep.graph.nodes:
        if node.op in ("placeholder", "output", "get_attr"):
            continue
        target = node.target
        if node.op == "call_function" and (
                (isinstance(target, torch._ops.OpOverload) and target.namespace == "aten")
                or any(target is a for a in allowed)):
            continue
        raise _refuse(name, f"a graph node that calls {str(target)[:80]!r}")
