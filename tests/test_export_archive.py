"""Crafted torch.export archives: each one runs code through plain ``torch.export.load``
(checked here, so that the attack is real) and is refused by logloss's loader without running
anything; genuine archives of several model kinds still load and compute the same outputs."""

import builtins
import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from logloss.core.errors import CorruptFile, InvalidInput
from logloss.models.user_files import load_user_model

BATCH = torch.export.Dim("batch", min=1)


def _archive(model: nn.Module, x: torch.Tensor) -> bytes:
    buf = io.BytesIO()
    torch.export.save(torch.export.export(model, (x[:2],), dynamic_shapes=({0: BATCH},)), buf)
    return buf.getvalue()


def _members(data: bytes) -> tuple[str, dict[str, bytes]]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    root = zf.namelist()[0].split("/", 1)[0]
    return root, {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _zip(root: str, members: dict[str, bytes], extra: list[tuple[str, bytes]] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
        for rel, b in members.items():
            w.writestr(f"{root}/{rel}", b)
        for name, b in extra:
            with pytest.warns(UserWarning):  # zipfile warns about a duplicate name
                w.writestr(name, b)
    return out.getvalue()


class _Evil:
    """Unpickling this writes the marker file (the stand-in for any command)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)), torch.randn(6, 3)


def _edit_json(members, rel, fn):
    obj = json.loads(members[rel])
    fn(obj)
    members[rel] = json.dumps(obj).encode()


def _pickled_weight(members, marker):
    members["data/weights/weight_0"] = pickle.dumps(_Evil(marker))
    _edit_json(members, "data/weights/model_weights_config.json",
               lambda c: c["config"]["0.weight"].update(use_pickle=True))


def _pickled_constant(members, marker):
    members["data/constants/tensor_0"] = pickle.dumps(_Evil(marker))
    _edit_json(members, "data/constants/model_constants_config.json",
               lambda c: c["config"].update({"c0": {"path_name": "tensor_0", "is_param": False,
                                                     "use_pickle": True, "tensor_meta": None}}))


def _opaque_constant(members, marker):
    members["data/constants/opaque_obj_0"] = pickle.dumps(_Evil(marker))
    _edit_json(members, "data/constants/model_constants_config.json",
               lambda c: c["config"].update({"c0": {"path_name": "opaque_obj_0",
                                                     "is_param": False, "use_pickle": True,
                                                     "tensor_meta": None}}))


def _sample_inputs(members, marker):
    members["data/sample_inputs/model.pt"] = pickle.dumps(_Evil(marker))


def _legacy_weights(members, marker):
    members["data/weights/model.pt"] = pickle.dumps(_Evil(marker))


def _guards(members, marker):
    _edit_json(members, "models/model.json", lambda p: p.update(
        guards_code=[f"open({str(marker)!r}, 'w').write('pwned') is None"]))


def _sym_expr(members, marker):
    text = members["models/model.json"].decode()
    old = "Symbol('s"
    i = text.index(old)
    j = text.index('"', i)
    evil = f"(open({str(marker)!r}, 'w').write('pwned') and {text[i:j]})"
    members["models/model.json"] = (text[:i] + evil + text[j:]).encode()


LIVE_ATTACKS = {"pickled weight": _pickled_weight, "pickled constant": _pickled_constant,
                "opaque constant": _opaque_constant, "sample inputs": _sample_inputs,
                "legacy weights file": _legacy_weights, "guard code": _guards,
                "symbolic expression": _sym_expr}


def _torch_loads(data: bytes) -> None:
    """Load with plain torch and call the model once (guard code runs at the call)."""
    try:
        torch.export.load(io.BytesIO(data)).module()(torch.randn(2, 3))
    except Exception:  # noqa: BLE001 - the code has already run, or the load simply failed
        pass


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("attack", sorted(LIVE_ATTACKS))
def test_a_crafted_archive_runs_code_in_torch_and_is_refused_by_logloss(attack, tmp_path):
    root, members = _members(_archive(*_mlp()))
    marker = tmp_path / "ran"
    LIVE_ATTACKS[attack](members, marker)
    data = _zip(root, members)
    _torch_loads(data)  # the attack is real: plain torch runs it
    assert marker.exists(), f"{attack}: the crafted archive did not run code in torch"
    marker.unlink()
    path = tmp_path / "model.pt2"
    path.write_bytes(data)
    with pytest.raises(InvalidInput) as err:
        load_user_model(path)
    assert not marker.exists(), f"{attack}: logloss's loader ran the archive's code"
    msg = str(err.value)
    assert "\n" not in msg and "trust_model=true" in msg and str(path) in msg


def test_a_genuine_pickled_weight_that_also_returns_the_parameter_is_refused(tmp_path):
    """The variant of the review: the pickle runs a command and returns the real weight."""
    model, x = _mlp()
    root, members = _members(_archive(model, x))
    marker = tmp_path / "ran"
    w = model[0].weight.detach().clone()

    class Both:
        def __reduce__(self):
            return (builtins.eval, (f"(open({str(marker)!r}, 'w').write('x'), w)[1]",
                                    {"w": nn.Parameter(w)}))

    members["data/weights/weight_0"] = pickle.dumps(Both())
    _edit_json(members, "data/weights/model_weights_config.json",
               lambda c: c["config"]["0.weight"].update(use_pickle=True))
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip(root, members))
    with pytest.raises(InvalidInput, match="pickled weight"):
        load_user_model(path)
    assert not marker.exists()


def _node_target(members, target):
    _edit_json(members, "models/model.json",
               lambda p: p["graph_module"]["graph"]["nodes"][1].update(target=target))


def _defaultdict_spec(members):
    def edit(p):
        sig = p["graph_module"]["module_call_graph"][0]["signature"]
        spec = json.loads(sig["in_spec"])
        spec[1]["children_spec"][1]["type"] = "collections.defaultdict"
        spec[1]["children_spec"][1]["context"] = json.dumps(
            {"default_factory_module": "antigravity", "default_factory_name": "geohash",
             "dict_context": []})
        sig["in_spec"] = json.dumps(spec)
    _edit_json(members, "models/model.json", edit)


STATIC_ATTACKS = {
    "torch.os.system target": lambda m: _node_target(m, "torch.os.system"),
    "builtins target": lambda m: _node_target(m, "_operator.attrgetter"),
    "higher-order op": lambda m: _node_target(m, "torch.ops.higher_order.cond"),
    "extension operator": lambda m: _node_target(m, "#evil:op"),
    "defaultdict spec importing a module": _defaultdict_spec,
    "custom object": lambda m: m.update({"data/constants/custom_obj_0": b"x"}),
    "AOTInductor payload": lambda m: m.update({"data/aotinductor/model/x.so": b"x"}),
    "second model": lambda m: m.update({"models/other.json": m["models/model.json"]}),
    "named tuples": lambda m: _edit_json(m, "models/model.json", lambda p: p["graph_module"].update(
        treespec_namedtuple_fields={"x": {"field_names": ["a"]}})),
    "range constraint name": lambda m: _edit_json(m, "models/model.json", lambda p: p.update(
        range_constraints={"__import__('os')": {"min_val": 1, "max_val": None}})),
}


@pytest.mark.parametrize("attack", sorted(STATIC_ATTACKS))
def test_archives_outside_the_allow_list_are_refused_in_one_line(attack, tmp_path):
    root, members = _members(_archive(*_mlp()))
    STATIC_ATTACKS[attack](members)
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip(root, members))
    with pytest.raises(InvalidInput) as err:
        load_user_model(path)
    assert "\n" not in str(err.value)


def test_duplicate_member_names_are_refused(tmp_path):
    root, members = _members(_archive(*_mlp()))
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip(root, members, extra=[(f"{root}/models/model.json", b"{}")]))
    with pytest.raises(InvalidInput, match="two members of the same name"):
        load_user_model(path)


def test_a_damaged_archive_is_a_corrupt_file(tmp_path):
    root, members = _members(_archive(*_mlp()))
    members["models/model.json"] = b"{not json"
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip(root, members))
    with pytest.raises(CorruptFile):
        load_user_model(path)


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 3, 3)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 2)
        self.register_buffer("scale", torch.tensor(2.0))

    def forward(self, x):
        h = torch.relu(self.bn(self.c(x)))
        return self.fc(h.view(h.shape[0], -1)) * self.scale + x.mean()


GENUINE = {
    "mlp": lambda: _mlp(),
    "cnn with batchnorm, a buffer and a view": lambda: (_Scaled().eval(), torch.randn(5, 1, 6, 6)),
    "flatten, gelu, layernorm, dropout": lambda: (
        nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.GELU(), nn.LayerNorm(5),
                      nn.Dropout(0.1), nn.Linear(5, 1)).eval(), torch.randn(4, 3, 4)),
    "float64": lambda: (nn.Sequential(nn.Linear(3, 2)).double(), torch.randn(4, 3).double()),
}


@pytest.mark.parametrize("kind", sorted(GENUINE))
def test_genuine_archives_load_and_compute_the_same_outputs(kind, tmp_path):
    model, x = GENUINE[kind]()
    path = tmp_path / "model.pt2"
    path.write_bytes(_archive(model, x))
    loaded = load_user_model(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    assert any(p.requires_grad for p in loaded.parameters())


def test_trust_model_loads_an_archive_outside_the_allow_list(tmp_path):
    """trust=True hands the file to torch unchanged (the README's warning applies)."""
    model, x = _mlp()
    root, members = _members(_archive(model, x))
    _edit_json(members, "models/model.json", lambda p: p["graph_module"].update(
        treespec_namedtuple_fields={}))
    members["extra/note.txt"] = b"hello"
    path = tmp_path / "model.pt2"
    path.write_bytes(_zip(root, members))
    loaded = load_user_model(path, trust=True)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
