"""ONNX and Keras samples: external-data traversal everywhere a tensor can hide, Keras configs
that run code. Built by code: ONNX by hand-encoding protobuf (the ``onnx`` package is not
needed), ``.keras`` archives with :mod:`zipfile`, legacy ``.h5`` files by hand.

The hand-built ``.h5`` files are *not* complete HDF5 files: they carry the HDF5 signature and
an attribute region with Keras' attribute names and JSON values laid out as HDF5 stores a
fixed-length string attribute. The scanner's detection is attribute-based, so that is what it
reads; ``tests/engines/formats/test_keras.py`` checks the same on real files written by h5py
when h5py is installed.

No victim loaders: onnx, keras and tensorflow are not dependencies of this project.
"""

from __future__ import annotations

import base64
import codecs
import io
import json
import marshal
import os
import pickle
import shlex
import struct
import types
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.corpus import Sample

# --- protobuf encoding ------------------------------------------------------------------------


def varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def pb_int(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def pb_bytes(number: int, data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return varint(number << 3 | 2) + varint(len(raw)) + raw


# --- ONNX messages ----------------------------------------------------------------------------

FLOAT = 1
INT64 = 7


def onnx_tensor(
    name: str,
    *,
    dims: Sequence[int] = (1,),
    raw: bytes = b"\x00\x00\x80\x3f",
    data_type: int = FLOAT,
    location: str | None = None,
    offset: int | str | None = None,
    length: int | str | None = None,
    declare_external: bool = True,
) -> bytes:
    parts = [pb_int(1, d) for d in dims] + [pb_int(2, data_type), pb_bytes(8, name)]
    if location is None:
        parts.append(pb_bytes(9, raw))
        return b"".join(parts)
    entries = [("location", location)]
    if offset is not None:
        entries.append(("offset", str(offset)))
    if length is not None:
        entries.append(("length", str(length)))
    for key, value in entries:
        parts.append(pb_bytes(13, pb_bytes(1, key) + pb_bytes(2, value)))
    if declare_external:
        parts.append(pb_int(14, 1))
    return b"".join(parts)


def onnx_sparse(values: bytes, indices: bytes, dims: Sequence[int]) -> bytes:
    return pb_bytes(1, values) + pb_bytes(2, indices) + b"".join(pb_int(3, d) for d in dims)


def attr_tensor(name: str, tensor: bytes) -> bytes:
    return pb_bytes(1, name) + pb_bytes(5, tensor) + pb_int(20, 4)


def attr_sparse(name: str, sparse: bytes) -> bytes:
    return pb_bytes(1, name) + pb_bytes(22, sparse) + pb_int(20, 11)


def attr_graph(name: str, graph: bytes) -> bytes:
    return pb_bytes(1, name) + pb_bytes(6, graph) + pb_int(20, 5)


def onnx_node(
    op_type: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    *,
    domain: str = "",
    name: str = "",
    attrs: Iterable[bytes] = (),
) -> bytes:
    parts = [pb_bytes(1, i) for i in inputs] + [pb_bytes(2, o) for o in outputs]
    if name:
        parts.append(pb_bytes(3, name))
    parts.append(pb_bytes(4, op_type))
    parts += [pb_bytes(5, a) for a in attrs]
    if domain:
        parts.append(pb_bytes(7, domain))
    return b"".join(parts)


def value_info(name: str, dims: Sequence[int] = (1,), elem_type: int = FLOAT) -> bytes:
    shape = b"".join(pb_bytes(1, pb_int(1, d)) for d in dims)
    tensor_type = pb_int(1, elem_type) + pb_bytes(2, shape)
    return pb_bytes(1, name) + pb_bytes(2, pb_bytes(1, tensor_type))


def onnx_graph(
    nodes: Iterable[bytes],
    *,
    name: str = "main",
    initializers: Iterable[bytes] = (),
    sparse: Iterable[bytes] = (),
    inputs: Iterable[bytes] = (),
    outputs: Iterable[bytes] = (),
) -> bytes:
    parts = [pb_bytes(1, n) for n in nodes] + [pb_bytes(2, name)]
    parts += [pb_bytes(5, t) for t in initializers]
    parts += [pb_bytes(11, i) for i in inputs] + [pb_bytes(12, o) for o in outputs]
    parts += [pb_bytes(15, s) for s in sparse]
    return b"".join(parts)


def onnx_opset(domain: str, version: int) -> bytes:
    return (pb_bytes(1, domain) if domain else b"") + pb_int(2, version)


def onnx_function(
    name: str,
    domain: str,
    nodes: Iterable[bytes],
    inputs: Sequence[str],
    outputs: Sequence[str],
    opsets: Iterable[tuple[str, int]] = (("", 17),),
) -> bytes:
    parts = [pb_bytes(1, name)]
    parts += [pb_bytes(4, i) for i in inputs] + [pb_bytes(5, o) for o in outputs]
    parts += [pb_bytes(7, n) for n in nodes]
    parts += [pb_bytes(9, onnx_opset(d, v)) for d, v in opsets]
    parts.append(pb_bytes(10, domain))
    return b"".join(parts)


def onnx_model(
    graph: bytes,
    *,
    opsets: Iterable[tuple[str, int]] = (("", 17),),
    functions: Iterable[bytes] = (),
    metadata: Iterable[tuple[str, bytes | str]] = (),
    training_graphs: Iterable[bytes] = (),
) -> bytes:
    parts = [pb_int(1, 8), pb_bytes(2, "mlsupply-tests"), pb_bytes(3, "1.0"), pb_bytes(7, graph)]
    parts += [pb_bytes(8, onnx_opset(d, v)) for d, v in opsets]
    parts += [pb_bytes(14, pb_bytes(1, k) + pb_bytes(2, v)) for k, v in metadata]
    parts += [pb_bytes(20, pb_bytes(1, g)) for g in training_graphs]
    parts += [pb_bytes(25, f) for f in functions]
    return b"".join(parts)


def add_graph(initializers: Iterable[bytes] = (), extra_nodes: Iterable[bytes] = ()) -> bytes:
    """``y = x + w``: the smallest useful graph, with ``w`` an initializer."""
    return onnx_graph(
        [*extra_nodes, onnx_node("Add", ["x", "w"], ["y"], name="add")],
        initializers=initializers,
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )


def _write(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path


def _onnx_external(location: str, **kw: Any) -> Any:
    def build(directory: Path, canary: Path) -> Path:
        weights = onnx_tensor("w", location=location, **kw)
        return _write(directory, "model.onnx", onnx_model(add_graph([weights])))

    return build


def _onnx_symlink_escape(directory: Path, canary: Path) -> Path:
    model_dir = directory / "model"
    secret = _write(directory / "private", "id_rsa", b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    model_dir.mkdir(parents=True)
    os.symlink(os.path.relpath(secret, model_dir), model_dir / "weights.bin")
    weights = onnx_tensor("w", location="weights.bin", offset=0, length=4)
    _write(model_dir, "model.onnx", onnx_model(add_graph([weights])))
    return model_dir


def _onnx_if_subgraph(directory: Path, canary: Path) -> Path:
    leak = onnx_tensor("leak", location="../../../../../../etc/passwd")
    then_branch = onnx_graph(
        [onnx_node("Identity", ["leak"], ["out"])],
        name="then",
        initializers=[leak],
        outputs=[value_info("out")],
    )
    else_branch = onnx_graph(
        [onnx_node("Identity", ["x"], ["out"])], name="else", outputs=[value_info("out")]
    )
    node = onnx_node(
        "If",
        ["cond"],
        ["y"],
        name="branch",
        attrs=[attr_graph("then_branch", then_branch), attr_graph("else_branch", else_branch)],
    )
    graph = onnx_graph(
        [node], inputs=[value_info("cond", elem_type=9), value_info("x")], outputs=[value_info("y")]
    )
    return _write(directory, "model.onnx", onnx_model(graph))


def _onnx_loop_in_if(directory: Path, canary: Path) -> Path:
    # Two levels down: a Loop body inside an If branch, the tensor a Constant in the body.
    leak = onnx_tensor("leak", location="/root/.ssh/id_rsa")
    body = onnx_graph(
        [onnx_node("Constant", [], ["c"], attrs=[attr_tensor("value", leak)])], name="body"
    )
    loop = onnx_node("Loop", ["n", "cond"], ["v"], attrs=[attr_graph("body", body)])
    then_branch = onnx_graph([loop], name="then", outputs=[value_info("v")])
    node = onnx_node("If", ["cond"], ["y"], attrs=[attr_graph("then_branch", then_branch)])
    return _write(directory, "model.onnx", onnx_model(onnx_graph([node])))


def _onnx_constant(directory: Path, canary: Path) -> Path:
    leak = onnx_tensor("w", location="../../../home/user/.aws/credentials")
    constant = onnx_node("Constant", [], ["w"], name="const", attrs=[attr_tensor("value", leak)])
    graph = onnx_graph(
        [constant, onnx_node("Add", ["x", "w"], ["y"])],
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )
    return _write(directory, "model.onnx", onnx_model(graph))


def _onnx_sparse_initializer(directory: Path, canary: Path) -> Path:
    values = onnx_tensor("w_values", location="../../etc/shadow")
    indices = onnx_tensor("w_indices", raw=struct.pack("<q", 0), data_type=INT64)
    graph = onnx_graph(
        [onnx_node("Add", ["x", "w"], ["y"])],
        sparse=[onnx_sparse(values, indices, [1])],
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )
    return _write(directory, "model.onnx", onnx_model(graph))


def _onnx_sparse_attribute(directory: Path, canary: Path) -> Path:
    values = onnx_tensor("v", location="..\\..\\Windows\\win.ini")
    indices = onnx_tensor("i", raw=struct.pack("<q", 0), data_type=INT64)
    constant = onnx_node(
        "Constant",
        [],
        ["w"],
        attrs=[attr_sparse("sparse_value", onnx_sparse(values, indices, [1]))],
    )
    return _write(directory, "model.onnx", onnx_model(add_graph(extra_nodes=[constant])))


def _onnx_function_body(directory: Path, canary: Path) -> Path:
    leak = onnx_tensor("bias", location="weights/../../../../etc/passwd")
    function = onnx_function(
        "AddBias",
        "local.functions",
        [
            onnx_node("Constant", [], ["b"], attrs=[attr_tensor("value", leak)]),
            onnx_node("Add", ["X", "b"], ["Y"]),
        ],
        ["X"],
        ["Y"],
    )
    graph = onnx_graph(
        [onnx_node("AddBias", ["x"], ["y"], domain="local.functions")],
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )
    model = onnx_model(graph, opsets=[("", 17), ("local.functions", 1)], functions=[function])
    return _write(directory, "model.onnx", model)


def _onnx_training_info(directory: Path, canary: Path) -> Path:
    leak = onnx_tensor("momentum", location="/proc/self/environ")
    init = onnx_graph([], name="initialization", initializers=[leak])
    model = onnx_model(add_graph([onnx_tensor("w")]), training_graphs=[init])
    return _write(directory, "model.onnx", model)


class _Touch:
    """Pickles to ``os.system("touch CANARY")``: the harmless payload of pickle samples."""

    def __init__(self, canary: Path) -> None:
        self.command = f"touch {shlex.quote(str(canary))}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (self.command,))


def touch_pickle(canary: Path) -> bytes:
    return pickle.dumps(_Touch(canary), protocol=2)


def _onnx_metadata_pickle(directory: Path, canary: Path) -> Path:
    payload = base64.b64encode(touch_pickle(canary)).decode()
    model = onnx_model(add_graph([onnx_tensor("w")]), metadata=[("preprocessor", payload)])
    return _write(directory, "model.onnx", model)


def _onnx_plain(directory: Path, canary: Path) -> Path:
    model = onnx_model(add_graph([onnx_tensor("w")]), metadata=[("author", "mlsupply tests")])
    return _write(directory, "model.onnx", model)


def _onnx_valid_external(directory: Path, canary: Path) -> Path:
    model_dir = directory / "model"
    data = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    _write(model_dir, "model.onnx_data", data)
    tensors = [
        onnx_tensor("w", dims=(1,), location="model.onnx_data", offset=0, length=4),
        onnx_tensor("w2", dims=(3,), location="./model.onnx_data", offset=4, length=12),
    ]
    _write(model_dir, "model.onnx", onnx_model(add_graph(tensors)))
    return model_dir


def _onnx_com_microsoft(directory: Path, canary: Path) -> Path:
    gelu = onnx_node("FastGelu", ["x"], ["h"], domain="com.microsoft")
    graph = onnx_graph(
        [gelu, onnx_node("Add", ["h", "w"], ["y"])],
        initializers=[onnx_tensor("w")],
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )
    model = onnx_model(graph, opsets=[("", 17), ("com.microsoft", 1), ("ai.onnx.ml", 3)])
    return _write(directory, "model.onnx", model)


def _onnx_if_inline(directory: Path, canary: Path) -> Path:
    branch = onnx_graph(
        [onnx_node("Identity", ["k"], ["out"])],
        name="then",
        initializers=[onnx_tensor("k")],
        outputs=[value_info("out")],
    )
    node = onnx_node(
        "If",
        ["cond"],
        ["y"],
        attrs=[attr_graph("then_branch", branch), attr_graph("else_branch", branch)],
    )
    model = onnx_model(onnx_graph([node], inputs=[value_info("cond", elem_type=9)]))
    return _write(directory, "model.onnx", model)


def _onnx_local_function(directory: Path, canary: Path) -> Path:
    function = onnx_function(
        "Double", "org.example.fn", [onnx_node("Add", ["X", "X"], ["Y"])], ["X"], ["Y"]
    )
    graph = onnx_graph(
        [onnx_node("Double", ["x"], ["y"], domain="org.example.fn")],
        inputs=[value_info("x")],
        outputs=[value_info("y")],
    )
    model = onnx_model(graph, opsets=[("", 17), ("org.example.fn", 1)], functions=[function])
    return _write(directory, "model.onnx", model)


# --- Keras ------------------------------------------------------------------------------------

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def lambda_bytecode(canary: Path) -> str:
    """base64 of marshalled lambda code that touches the canary, as Keras' func_dump writes it."""
    source = f"lambda x: (__import__('pathlib').Path({str(canary)!r}).touch(), x)[1]"
    module = compile(source, "<lambda>", "eval")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    return codecs.encode(marshal.dumps(code), "base64").decode("ascii")


def keras_object(
    class_name: str, config: Any, module: str | None = "keras.layers", **extra: Any
) -> dict[str, Any]:
    obj: dict[str, Any] = {"module": module, "class_name": class_name, "config": config}
    obj["registered_name"] = extra.pop("registered_name", None)
    obj.update(extra)
    return obj


def _dtype() -> dict[str, Any]:
    return keras_object("DTypePolicy", {"name": "float32"}, module="keras")


def _initializer(name: str) -> dict[str, Any]:
    return keras_object(name, {"seed": None}, module="keras.initializers")


def input_layer(shape: Sequence[int | None], name: str = "input_layer") -> dict[str, Any]:
    config = {"batch_shape": [None, *shape], "dtype": "float32", "sparse": False, "name": name}
    return keras_object("InputLayer", config)


def dense(units: int, name: str = "dense", activation: Any = "relu") -> dict[str, Any]:
    config = {
        "name": name,
        "trainable": True,
        "dtype": _dtype(),
        "units": units,
        "activation": activation,
        "use_bias": True,
        "kernel_initializer": _initializer("GlorotUniform"),
        "bias_initializer": keras_object("Zeros", {}, module="keras.initializers"),
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    return keras_object("Dense", config, build_config={"input_shape": [None, 8]})


def conv2d(filters: int, name: str = "conv2d") -> dict[str, Any]:
    config = {
        "name": name,
        "trainable": True,
        "dtype": _dtype(),
        "filters": filters,
        "kernel_size": [3, 3],
        "strides": [1, 1],
        "padding": "valid",
        "data_format": "channels_last",
        "dilation_rate": [1, 1],
        "groups": 1,
        "activation": "relu",
        "use_bias": True,
        "kernel_initializer": _initializer("GlorotUniform"),
        "bias_initializer": keras_object("Zeros", {}, module="keras.initializers"),
    }
    return keras_object("Conv2D", config, build_config={"input_shape": [None, 28, 28, 1]})


def embedding(name: str = "embedding") -> dict[str, Any]:
    config = {
        "name": name,
        "trainable": True,
        "dtype": _dtype(),
        "input_dim": 1000,
        "output_dim": 16,
        "embeddings_initializer": keras_object(
            "RandomUniform",
            {"minval": -0.05, "maxval": 0.05, "seed": None},
            module="keras.initializers",
        ),
        "mask_zero": False,
    }
    return keras_object("Embedding", config)


def keras3_lambda(canary: Path, name: str = "lambda") -> dict[str, Any]:
    function = {
        "class_name": "__lambda__",
        "config": {"code": lambda_bytecode(canary), "defaults": None, "closure": None},
    }
    config = {
        "name": name,
        "trainable": True,
        "dtype": _dtype(),
        "function": function,
        "arguments": {},
    }
    return keras_object("Lambda", config)


def sequential(layers: list[dict[str, Any]], name: str = "sequential") -> dict[str, Any]:
    config = {"name": name, "trainable": True, "dtype": _dtype(), "layers": layers}
    compile_config = {
        "optimizer": keras_object(
            "Adam", {"name": "adam", "learning_rate": 0.001}, module="keras.optimizers"
        ),
        "loss": "sparse_categorical_crossentropy",
        "metrics": ["accuracy"],
        "loss_weights": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }
    return keras_object(
        "Sequential",
        config,
        module="keras",
        build_config={"input_shape": [None, 8]},
        compile_config=compile_config,
    )


def _history(layer: str) -> dict[str, Any]:
    return {
        "args": [
            {
                "class_name": "__keras_tensor__",
                "config": {"shape": [None, 8], "dtype": "float32", "keras_history": [layer, 0, 0]},
            }
        ],
        "kwargs": {},
    }


def functional(layers: list[dict[str, Any]], name: str = "functional") -> dict[str, Any]:
    """A chain: each layer takes the previous one's output."""
    chained = []
    previous = None
    for layer in layers:
        entry = dict(layer)
        entry["name"] = layer["config"].get("name", "layer")
        entry["inbound_nodes"] = [] if previous is None else [_history(previous)]
        previous = entry["name"]
        chained.append(entry)
    config = {
        "name": name,
        "trainable": True,
        "layers": chained,
        "input_layers": [[chained[0]["name"], 0, 0]],
        "output_layers": [[chained[-1]["name"], 0, 0]],
    }
    return keras_object("Functional", config, module="keras")


def keras_archive(
    directory: Path, config: dict[str, Any], extra: dict[str, bytes] | None = None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.keras"
    metadata = {"keras_version": "3.6.0", "date_saved": "2024-11-02@10:11:12"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(metadata))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights_h5())
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def weights_h5() -> bytes:
    """A stand-in for a Keras 3 weights file: HDF5 signature, groups, no model config."""
    return HDF5_SIGNATURE + b"\x00" * 56 + b"layers\x00\x00vars\x00\x00\x00\x00" + b"\x00" * 64


def h5_attribute(name: str, value: bytes) -> bytes:
    """An HDF5 v1 attribute message as h5py writes a fixed-length string attribute: the
    NUL-terminated, 8-aligned name, a string datatype message, a scalar dataspace, the value."""
    raw_name = name.encode() + b"\x00"
    datatype = bytes([0x13, 0, 0, 0]) + struct.pack("<I", len(value))
    dataspace = bytes([1, 0, 0, 0, 0, 0, 0, 0])
    header = struct.pack("<BBHHH", 1, 0, len(raw_name), len(datatype), len(dataspace))
    padded_name = raw_name + b"\x00" * (-len(raw_name) % 8)
    return header + padded_name + datatype + dataspace + value


def legacy_h5(attributes: dict[str, bytes]) -> bytes:
    body = b"".join(h5_attribute(k, v) for k, v in attributes.items())
    return HDF5_SIGNATURE + b"\x00" * 88 + body + b"\x00" * 256


def keras2_lambda(canary: Path) -> dict[str, Any]:
    return {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "trainable": True,
            "dtype": "float32",
            "function": [lambda_bytecode(canary), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "output_shape_type": "raw",
            "output_shape_module": None,
            "arguments": {},
        },
    }


def keras2_dense(units: int, name: str) -> dict[str, Any]:
    return {
        "class_name": "Dense",
        "config": {
            "name": name,
            "trainable": True,
            "dtype": "float32",
            "units": units,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
        },
    }


def keras2_model(layers: list[dict[str, Any]]) -> bytes:
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}
    return json.dumps(config).encode()


def keras2_h5(layers: list[dict[str, Any]]) -> bytes:
    training = {
        "loss": "mse",
        "metrics": ["mae"],
        "optimizer_config": {"class_name": "Adam", "config": {"learning_rate": 0.001}},
    }
    return legacy_h5(
        {
            "backend": b"tensorflow",
            "keras_version": b"2.12.0",
            "model_config": keras2_model(layers),
            "training_config": json.dumps(training).encode(),
        }
    )


def _keras(config_of: Any, extra_of: Any = None) -> Any:
    def build(directory: Path, canary: Path) -> Path:
        extra = extra_of(canary) if extra_of is not None else None
        return keras_archive(directory, config_of(canary), extra)

    return build


def _lambda_top(canary: Path) -> dict[str, Any]:
    return sequential([input_layer([8]), keras3_lambda(canary), dense(4)])


def _lambda_nested(canary: Path) -> dict[str, Any]:
    # Sequential > Functional > Functional > Sequential > Lambda: three models deep.
    innermost = sequential([input_layer([8]), keras3_lambda(canary, "deep_lambda")], "inner_seq")
    middle = functional([input_layer([8], "mid_in"), innermost, dense(8, "mid_dense")], "middle")
    outer = functional([input_layer([8], "outer_in"), middle], "outer")
    return sequential([input_layer([8]), outer, dense(2)])


def _lambda_in_wrapper(canary: Path) -> dict[str, Any]:
    wrapped = keras_object(
        "TimeDistributed", {"name": "time_distributed", "layer": keras3_lambda(canary)}
    )
    bidirectional = keras_object(
        "Bidirectional",
        {"name": "bidi", "layer": dense(4, "forward"), "backward_layer": wrapped},
    )
    return sequential([input_layer([5, 8]), bidirectional])


def _lambda_in_compile(canary: Path) -> dict[str, Any]:
    model = sequential([input_layer([8]), dense(4)])
    model["compile_config"]["loss"] = {
        "class_name": "__lambda__",
        "config": {"value": [lambda_bytecode(canary), None, None]},
    }
    return model


def _module_outside(canary: Path) -> dict[str, Any]:
    activation = {
        "module": "os",
        "class_name": "function",
        "config": "system",
        "registered_name": "function",
    }
    return sequential([input_layer([8]), dense(4, activation=activation)])


def _torch_zip(canary: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("module/data.pkl", touch_pickle(canary))
        archive.writestr("module/version", b"3\n")
        archive.writestr("module/byteorder", b"little")
    return buffer.getvalue()


def _torch_wrapper(canary: Path) -> dict[str, Any]:
    wrapper = keras_object(
        "TorchModuleWrapper",
        {"name": "torch_module_wrapper", "module": base64.b64encode(_torch_zip(canary)).decode()},
    )
    return sequential([input_layer([8]), wrapper])


def _tfsm_layer(canary: Path) -> dict[str, Any]:
    layer = keras_object(
        "TFSMLayer",
        {
            "name": "tfsm",
            "filepath": "/tmp/shared/exported_savedmodel",
            "call_endpoint": "serve",
        },
    )
    return sequential([input_layer([8]), layer])


def _get_file(canary: Path) -> dict[str, Any]:
    fetch = {
        "module": "keras.utils",
        "class_name": "function",
        "config": "get_file",
        "registered_name": "function",
    }
    layer = dense(4)
    layer["config"]["kernel_initializer"] = fetch
    return sequential([input_layer([8]), layer])


def _url(canary: Path) -> dict[str, Any]:
    layer = keras_object(
        "StringLookup",
        {"name": "lookup", "vocabulary": "https://example.invalid/vocab.txt", "num_oov_indices": 1},
    )
    return sequential([input_layer([1]), layer])


def _safe_mode_false(canary: Path) -> dict[str, Any]:
    loader = keras_object(
        "function", "load_model", module="keras.saving", registered_name="function"
    )
    wrapper = keras_object(
        "Pipeline", {"name": "pipe", "loader": loader, "safe_mode": False}, module="keras.layers"
    )
    return sequential([input_layer([8]), wrapper])


def _unsafe_switch(canary: Path) -> dict[str, Any]:
    switch = keras_object(
        "function",
        "enable_unsafe_deserialization",
        module="keras.config",
        registered_name="function",
    )
    layer = dense(4)
    layer["config"]["bias_initializer"] = switch
    return sequential([input_layer([8]), layer, keras3_lambda(canary)])


def _pickle_asset(canary: Path) -> dict[str, bytes]:
    return {"assets/tokenizer/state.pkl": touch_pickle(canary)}


def _keras_benign_sequential(canary: Path) -> dict[str, Any]:
    return sequential([input_layer([28, 28, 1]), conv2d(8), dense(10, "head")])


def _keras_benign_functional(canary: Path) -> dict[str, Any]:
    return functional([input_layer([8]), embedding(), dense(16, "hidden"), dense(2, "out")])


def _keras_hub(canary: Path) -> dict[str, Any]:
    backbone = keras_object(
        "BertBackbone",
        {"name": "bert_backbone", "vocabulary_size": 30522, "num_layers": 2, "hidden_dim": 64},
        module="keras_hub.src.models.bert.bert_backbone",
        registered_name="keras_hub>BertBackbone",
    )
    return functional([input_layer([8]), backbone])


def _h5(layers_of: Any) -> Any:
    def build(directory: Path, canary: Path) -> Path:
        return _write(directory, "model.h5", keras2_h5(layers_of(canary)))

    return build


def _h5_weights_only(directory: Path, canary: Path) -> Path:
    data = legacy_h5(
        {"backend": b"tensorflow", "keras_version": b"2.12.0", "layer_names": b"dense"}
    )
    return _write(directory, "weights.h5", data)


_LAMBDA = ("MLS-KERAS-001",)
_TRAVERSAL = ("MLS-ONNX-001",)

SAMPLES: list[Sample] = [
    # --- ONNX: external data that leaves the model directory, wherever the tensor sits
    Sample(
        "onnx-external-data-dotdot-passwd",
        _onnx_external("../../../../etc/passwd"),
        True,
        _TRAVERSAL,
        "ONNX initializer whose external_data location climbs out with '..'",
    ),
    Sample(
        "onnx-external-data-absolute-path",
        _onnx_external("/etc/passwd", offset=0, length=64),
        True,
        _TRAVERSAL,
        "ONNX initializer whose external_data location is absolute",
    ),
    Sample(
        "onnx-external-data-nested-dotdot",
        _onnx_external("weights/shard/../../../../../etc/hostname"),
        True,
        _TRAVERSAL,
        "ONNX external_data location 'a/b/../../../x': '..' after real components",
    ),
    Sample(
        "onnx-external-data-backslash-traversal",
        _onnx_external("..\\..\\..\\Users\\Public\\secret.txt"),
        True,
        ("MLS-ONNX-001", "MLS-ONNX-002"),
        "ONNX external_data location with Windows separators and '..'",
    ),
    Sample(
        "onnx-external-data-url-scheme",
        _onnx_external("file:///etc/passwd"),
        True,
        ("MLS-ONNX-002",),
        "ONNX external_data location given as a file:// URL",
    ),
    Sample(
        "onnx-external-data-without-data-location-flag",
        _onnx_external("/etc/passwd", declare_external=False),
        True,
        _TRAVERSAL,
        "external_data entries on a tensor whose data_location field is absent",
    ),
    Sample(
        "onnx-external-data-symlink-escape",
        _onnx_symlink_escape,
        True,
        ("MLS-ONNX-003",),
        "model directory whose external data file is a symlink to a file outside it",
    ),
    Sample(
        "onnx-external-data-in-if-subgraph",
        _onnx_if_subgraph,
        True,
        _TRAVERSAL,
        "traversal in an initializer of an If node's then_branch subgraph",
    ),
    Sample(
        "onnx-external-data-in-loop-inside-if",
        _onnx_loop_in_if,
        True,
        _TRAVERSAL,
        "absolute location in a Constant inside a Loop body inside an If branch",
    ),
    Sample(
        "onnx-external-data-in-constant-node",
        _onnx_constant,
        True,
        _TRAVERSAL,
        "traversal in a Constant node's tensor attribute",
    ),
    Sample(
        "onnx-external-data-in-sparse-initializer",
        _onnx_sparse_initializer,
        True,
        _TRAVERSAL,
        "traversal in the values tensor of a sparse initializer",
    ),
    Sample(
        "onnx-external-data-in-sparse-attribute",
        _onnx_sparse_attribute,
        True,
        _TRAVERSAL,
        "Windows traversal in a Constant node's sparse_value attribute",
    ),
    Sample(
        "onnx-external-data-in-function-body",
        _onnx_function_body,
        True,
        _TRAVERSAL,
        "traversal in a Constant inside a model-local FunctionProto",
    ),
    Sample(
        "onnx-external-data-in-training-info",
        _onnx_training_info,
        True,
        _TRAVERSAL,
        "absolute location in a TrainingInfoProto initialization graph",
    ),
    Sample(
        "onnx-metadata-base64-pickle",
        _onnx_metadata_pickle,
        True,
        ("MLS-PKL-001", "MLS-PKL-002"),
        "metadata_props value holding a base64 pickle that calls os.system",
    ),
    # --- Keras
    Sample(
        "keras-lambda-top-level",
        _keras(_lambda_top),
        True,
        _LAMBDA,
        ".keras Sequential with a Lambda layer carrying marshalled bytecode",
    ),
    Sample(
        "keras-lambda-nested-three-models-deep",
        _keras(_lambda_nested),
        True,
        _LAMBDA,
        "Lambda inside Sequential inside Functional inside Functional inside Sequential",
    ),
    Sample(
        "keras-lambda-in-wrapper-layers",
        _keras(_lambda_in_wrapper),
        True,
        _LAMBDA,
        "Lambda as the backward layer's TimeDistributed content of a Bidirectional wrapper",
    ),
    Sample(
        "keras-lambda-as-loss-in-compile-config",
        _keras(_lambda_in_compile),
        True,
        _LAMBDA,
        "__lambda__ object as the compiled loss",
    ),
    Sample(
        "keras-module-outside-keras",
        _keras(_module_outside),
        True,
        ("MLS-KERAS-003",),
        "activation serialized as module 'os', function 'system'",
    ),
    Sample(
        "keras-torch-module-wrapper",
        _keras(_torch_wrapper),
        True,
        ("MLS-KERAS-004",),
        "TorchModuleWrapper whose torch.save bytes hold an os.system pickle",
    ),
    Sample(
        "keras-tfsm-layer",
        _keras(_tfsm_layer),
        True,
        ("MLS-KERAS-005",),
        "TFSMLayer loading a SavedModel from an outside path",
    ),
    Sample(
        "keras-get-file-reference",
        _keras(_get_file),
        True,
        ("MLS-KERAS-006",),
        "initializer serialized as keras.utils.get_file",
    ),
    Sample(
        "keras-url-in-config",
        _keras(_url),
        True,
        ("MLS-KERAS-006",),
        "StringLookup vocabulary fetched from a URL",
    ),
    Sample(
        "keras-safe-mode-false",
        _keras(_safe_mode_false),
        True,
        ("MLS-KERAS-007", "MLS-KERAS-009"),
        "nested load_model reference with safe_mode false",
    ),
    Sample(
        "keras-enable-unsafe-deserialization",
        _keras(_unsafe_switch),
        True,
        ("MLS-KERAS-007",),
        "config calls keras.config.enable_unsafe_deserialization before a Lambda",
    ),
    Sample(
        "keras-pickle-in-assets",
        _keras(_keras_benign_sequential, _pickle_asset),
        True,
        ("MLS-PKL-001", "MLS-PKL-002"),
        "clean config, but an assets/ member is an os.system pickle",
    ),
    Sample(
        "keras-h5-legacy-lambda",
        _h5(lambda canary: [keras2_dense(8, "dense"), keras2_lambda(canary)]),
        True,
        _LAMBDA,
        "legacy .h5 (hand-built attribute region) whose model_config has a Keras 2 Lambda",
    ),
    # --- benign
    Sample("onnx-plain-inline-initializers", _onnx_plain, False),
    Sample("onnx-valid-relative-external-data", _onnx_valid_external, False),
    Sample("onnx-com-microsoft-contrib-op", _onnx_com_microsoft, False),
    Sample("onnx-if-subgraph-inline-tensors", _onnx_if_inline, False),
    Sample("onnx-model-local-function-domain", _onnx_local_function, False),
    Sample("keras-sequential-conv-dense", _keras(_keras_benign_sequential), False),
    Sample("keras-functional-embedding-dense", _keras(_keras_benign_functional), False),
    Sample("keras-hub-registered-backbone", _keras(_keras_hub), False),
    Sample(
        "keras-h5-legacy-sequential",
        _h5(lambda canary: [keras2_dense(8, "a"), keras2_dense(2, "b")]),
        False,
    ),
    Sample("keras-h5-weights-only", _h5_weights_only, False),
]
