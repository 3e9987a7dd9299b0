"""Artifacts that name a module nobody has: ``zz_canary_mod_<random>``, in every place a model
file can name one (pickle opcodes of every protocol, nested pickles, torch, joblib, numpy,
Keras, ONNX custom domains, skops schemas, templates, tokenizer and model configs, YAML tags,
MLflow, custom code, bytecode, archives). A scanner that imported a name taken from an artifact
would look this one up.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import io
import json
import marshal
import secrets
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.corpus.archives import RawMember, raw_zip, seven_zip, tar_bytes
from tests.corpus.gadgets import _legacy_blob, _npy_object
from tests.corpus.onnx_keras import add_graph, keras_object, onnx_model, onnx_node
from tests.corpus.skops_files import call_node, skops_file


def new_token() -> str:
    """A module name that exists nowhere: the import system can only be asked for it."""
    return f"zz_canary_mod_{secrets.token_hex(6)}"


def _short(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)])


def _str4(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def global_reduce(token: str, protocol: int) -> bytes:
    """``token.run('x')`` by GLOBAL then REDUCE, in ``protocol`` (0 and 1 have no PROTO)."""
    if protocol < 2:
        return f"c{token}\nrun\n(S'x'\ntR.".encode()
    return bytes([0x80, protocol]) + f"c{token}\nrun\n".encode() + _str4("x") + b"\x85R."


def stack_global(token: str) -> bytes:
    """Protocol 4's STACK_GLOBAL: module and name pushed as strings first."""
    module, name = token.encode(), b"run"
    return (
        b"\x80\x04\x8c"
        + bytes([len(module)])
        + module
        + b"\x8c"
        + bytes([len(name)])
        + name
        + b"\x93)R."
    )


def inst(token: str) -> bytes:
    """Protocol 0's INST: the class is imported and called with the marked arguments."""
    return f"(S'x'\ni{token}\nEvil\n.".encode()


def obj(token: str) -> bytes:
    """Protocol 1's OBJ: the class is a GLOBAL on the marked stack."""
    return f"(c{token}\nEvil\nS'x'\no.".encode()


def nested(token: str) -> bytes:
    """``pickle.loads(<a pickle naming token>)``: an inner pickle the engine reads as one."""
    inner = global_reduce(token, 2)
    return b"\x80\x02cpickle\nloads\nB" + struct.pack("<I", len(inner)) + inner + b"\x85R."


def pyc(token: str) -> bytes:
    """A 3.11 ``.pyc`` whose code imports ``token``: bytes for the scanner, never run here."""
    code = compile(f"import {token}\n{token}.run()\n", "planted.py", "exec")
    return importlib.util.MAGIC_NUMBER + b"\x00" * 12 + marshal.dumps(code)


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _keras(token: str) -> bytes:
    layer = keras_object("Evil", {"name": "evil"}, module=token, registered_name=f"{token}>Evil")
    model = keras_object("Sequential", {"name": "m", "layers": [layer]}, module=f"{token}.models")
    return _zip(
        {
            "metadata.json": json.dumps({"keras_version": "3.5.0"}).encode(),
            "config.json": json.dumps(model).encode(),
        }
    )


def planted_files(token: str) -> dict[str, Callable[[], bytes]]:
    """Relative path -> the bytes of an artifact that names ``token`` as a module."""
    p2 = global_reduce(token, 2)
    code = (
        f"import {token}\nfrom {token} import run\nimport importlib\n"
        f"importlib.import_module({token!r})\n__import__({token!r})\n"
        f"exec('import {token}')\nrun()\n"
    )
    template = (
        f"{{% import '{token}' as m %}}{{{{ m.run() }}}}{{{{ cycler.__init__.__globals__.os }}}}"
    )
    files: dict[str, Callable[[], bytes]] = {
        **{f"pickles/p{n}.pkl": functools.partial(global_reduce, token, n) for n in range(6)},
        "pickles/stack_global.pkl": lambda: stack_global(token),
        "pickles/inst.pkl": lambda: inst(token),
        "pickles/obj.pkl": lambda: obj(token),
        "pickles/nested.pkl": lambda: nested(token),
        "torch/model.pt": lambda: raw_zip(
            [
                RawMember("archive/data.pkl", p2),
                RawMember("archive/version", b"3\n"),
                RawMember("archive/byteorder", b"little"),
            ]
        ),
        "torch/legacy.bin": lambda: _legacy_blob(p2),
        "joblib/model.joblib": lambda: gzip.compress(p2),
        "numpy/array.npy": lambda: _npy_object(p2),
        "numpy/arrays.npz": lambda: _zip({"w.npy": _npy_object(p2)}),
        "keras/model.keras": lambda: _keras(token),
        "keras/config.json": lambda: json.dumps(
            keras_object("Evil", {"name": "evil"}, module=token)
        ).encode(),
        "onnx/model.onnx": lambda: onnx_model(
            add_graph(extra_nodes=[onnx_node("Evil", ["x"], ["h"], domain=token)]),
            opsets=[("", 17), (token, 1)],
        ),
        "skops/model.skops": lambda: skops_file(call_node(token, "run", "x")),
        "hf/config.json": lambda: json.dumps(
            {"architectures": ["Evil"], "auto_map": {"AutoModel": f"{token}.Model"}}
        ).encode(),
        "hf/tokenizer_config.json": lambda: json.dumps(
            {
                "auto_map": {"AutoTokenizer": [f"{token}.Tok", None]},
                "tokenizer_class": f"{token}.Tok",
                "chat_template": template,
            }
        ).encode(),
        "hf/chat_template.jinja": lambda: template.encode(),
        "hf/modeling_planted.py": lambda: code.encode(),
        "hf/__pycache__/planted.cpython-311.pyc": lambda: pyc(token),
        "yaml/hparams.yaml": lambda: f"model: !!python/object/apply:{token}.run ['x']\n".encode(),
        "mlflow/MLmodel": lambda: (
            f"flavors:\n  python_function:\n    loader_module: {token}\n    code: code\n"
        ).encode(),
        "archives/bundle.zip": lambda: _zip(
            {"inner/model.pkl": p2, "inner/code.py": code.encode()}
        ),
        "archives/bundle.tar.gz": lambda: tar_bytes([("inner/model.pkl", p2)], mode="w:gz"),
        "archives/bundle.7z": lambda: seven_zip([("inner/model.pkl", p2)]),
    }
    return files


def write_planted(root: Path, token: str) -> list[Path]:
    paths = []
    for relpath, make in planted_files(token).items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
        paths.append(path)
    return paths
