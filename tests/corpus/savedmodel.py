"""TensorFlow SavedModel and Keras ``keras_metadata.pb`` samples, hand-encoded protobuf.

TensorFlow is not a dependency (no victim loader runs here), and the corpus builds without
``google.protobuf``: messages are encoded with the ONNX samples' wire helpers, using
TensorFlow's field numbers. ``tests/engines/formats/test_savedmodel.py`` builds the same
messages with the real protobuf runtime and checks the reader agrees.
"""

from __future__ import annotations

import base64
import json
import marshal
import struct
from collections.abc import Sequence
from pathlib import Path

from tests.corpus import Sample, file_sample
from tests.corpus.onnx_keras import pb_bytes, pb_int

DT_FLOAT, DT_STRING = 1, 7


def attr(key: str, value: bytes) -> bytes:
    """A ``map<string, AttrValue>`` entry of a NodeDef (field 5)."""
    return pb_bytes(5, pb_bytes(1, key) + pb_bytes(2, value))


def attr_s(key: str, text: str) -> bytes:
    return attr(key, pb_bytes(2, text))


def node(name: str, op: str, *inputs: str, attrs: Sequence[bytes] = ()) -> bytes:
    return (
        pb_bytes(1, name)
        + pb_bytes(2, op)
        + b"".join(pb_bytes(3, i) for i in inputs)
        + b"".join(attrs)
    )


def const_string(name: str, value: str) -> bytes:
    tensor = pb_int(1, DT_STRING) + pb_bytes(8, value)
    return node(
        name,
        "Const",
        attrs=[attr("dtype", pb_int(6, DT_STRING)), attr("value", pb_bytes(8, tensor))],
    )


def function(name: str, nodes: Sequence[bytes]) -> bytes:
    return pb_bytes(1, pb_bytes(1, name)) + b"".join(pb_bytes(3, n) for n in nodes)


def saved_model(
    nodes: Sequence[bytes],
    functions: Sequence[bytes] = (),
    *,
    assets: Sequence[str] = (),
    user_objects: Sequence[tuple[str, str]] = (),
) -> bytes:
    graph = b"".join(pb_bytes(1, n) for n in nodes)
    graph += pb_bytes(2, b"".join(pb_bytes(1, f) for f in functions))
    graph += pb_bytes(4, pb_int(1, 1645))
    info = pb_bytes(4, "serve") + pb_bytes(5, "2.15.0")
    meta = pb_bytes(1, info) + pb_bytes(2, graph)
    meta += b"".join(pb_bytes(6, pb_bytes(2, name)) for name in assets)
    if user_objects:
        objects = b"".join(
            pb_bytes(1, pb_bytes(4, pb_bytes(1, ident) + pb_bytes(3, metadata)))
            for ident, metadata in user_objects
        )
        meta += pb_bytes(7, objects)
    return pb_int(1, 1) + pb_bytes(2, meta)


def graph_def(nodes: Sequence[bytes]) -> bytes:
    """A bare GraphDef, as a frozen graph is written."""
    return b"".join(pb_bytes(1, n) for n in nodes) + pb_bytes(4, pb_int(1, 1645))


def frozen_graph() -> bytes:
    return graph_def(
        [node("image_tensor", "Placeholder"), const_string("w", "weights"),
         node("MatMul", "MatMul", "image_tensor", "w"), node("Relu", "Relu", "MatMul")]
    )  # fmt: skip


def keras_metadata(objects: Sequence[tuple[str, str, str]]) -> bytes:
    return b"".join(
        pb_bytes(1, pb_int(2, index) + pb_bytes(3, path) + pb_bytes(4, ident) + pb_bytes(5, meta))
        for index, (path, ident, meta) in enumerate(objects)
    )


def dense_graph() -> tuple[list[bytes], list[bytes]]:
    """What a Keras ``Dense`` model exports: variables, serving call, save and restore."""
    layer = function(
        "__inference_dense_layer_call_fn_91",
        [
            node("MatMul/ReadVariableOp", "ReadVariableOp", "matmul_readvariableop_resource"),
            node("MatMul", "MatMul", "inputs", "MatMul/ReadVariableOp:value:0"),
            node("BiasAdd/ReadVariableOp", "ReadVariableOp", "biasadd_readvariableop_resource"),
            node("BiasAdd", "BiasAdd", "MatMul:product:0", "BiasAdd/ReadVariableOp:value:0"),
            node("Relu", "Relu", "BiasAdd:output:0"),
            node("Identity", "Identity", "Relu:activations:0"),
        ],
    )
    save = function(
        "__inference__traced_save_150",
        [
            const_string("Const_1", "_temp/part"),
            node("StringJoin", "StringJoin", "file_prefix", "Const_1:output:0"),
            node("ShardedFilename", "ShardedFilename", "StringJoin:output:0", "n", "s"),
            const_string("SaveV2/tensor_names", "variables/0/.ATTRIBUTES/VARIABLE_VALUE"),
            node("SaveV2", "SaveV2", "ShardedFilename:filename:0", "SaveV2/tensor_names:output:0"),
            node("MergeV2Checkpoints", "MergeV2Checkpoints", "prefixes", "file_prefix"),
        ],
    )
    restore = function(
        "__inference__traced_restore_180",
        [
            node("RestoreV2", "RestoreV2", "file_prefix", "names", "slices"),
            node("AssignVariableOp", "AssignVariableOp", "resource", "RestoreV2:tensors:0"),
        ],
    )
    graph = [
        node("dense/kernel", "VarHandleOp", attrs=[attr_s("shared_name", "dense/kernel")]),
        node("serving_default_inputs", "Placeholder"),
        node("StatefulPartitionedCall", "StatefulPartitionedCall", "serving_default_inputs"),
        node("saver_filename", "Placeholder"),
        node("StatefulPartitionedCall_1", "StatefulPartitionedCall", "saver_filename"),
    ]
    return graph, [layer, save, restore]


def with_dense(*extra: bytes, functions: Sequence[bytes] = (), **kw: object) -> bytes:
    graph, library = dense_graph()
    return saved_model([*graph, *extra], [*library, *functions], **kw)  # type: ignore[arg-type]


def lambda_metadata() -> str:
    code = base64.b64encode(marshal.dumps(compile("open('x','w')", "<lambda>", "eval"))).decode()
    config = {"name": "lambda", "function": [code, None, None], "function_type": "lambda"}
    return json.dumps({"class_name": "Lambda", "config": config})


def _pyfunc(canary: Path) -> bytes:
    return with_dense(node("callback", "PyFunc", "x", attrs=[attr_s("token", "pyfunc_0")]))


def _pyfunc_in_function(canary: Path) -> bytes:
    body = function("__inference_hook_7", [node("hook", "EagerPyFunc", "x")])
    return with_dense(functions=[body])


def _read_secret(canary: Path) -> bytes:
    return with_dense(const_string("p", "/home/user/.ssh/id_rsa"), node("r", "ReadFile", "p"))


def _write_file(canary: Path) -> bytes:
    body = function(
        "__inference_call_3",
        [const_string("p", str(canary)), node("w", "WriteFile", "p:output:0", "contents")],
    )
    return with_dense(functions=[body])


def _restore_outside(canary: Path) -> bytes:
    return with_dense(const_string("p", "../../../../etc/passwd"), node("r", "RestoreV2", "p"))


def _asset_outside(canary: Path) -> bytes:
    return with_dense(assets=["../../../.aws/credentials"])


def _remote_call(canary: Path) -> bytes:
    return with_dense(node("rc", "RemoteCall", "target", "args"))


def _object_graph_lambda(canary: Path) -> bytes:
    return with_dense(user_objects=[("_tf_keras_layer", lambda_metadata())])


def _metadata_lambda(canary: Path) -> bytes:
    return keras_metadata(
        [("root", "_tf_keras_sequential", json.dumps({"class_name": "Sequential"})),
         ("root.layer-0", "_tf_keras_layer", lambda_metadata())]
    )  # fmt: skip


def _metadata_module(canary: Path) -> bytes:
    config = {"class_name": "function", "module": "os", "config": "system"}
    return keras_metadata([("root", "_tf_keras_layer", json.dumps(config))])


def _frozen_pyfunc(canary: Path) -> bytes:
    return graph_def([node("image_tensor", "Placeholder"), node("hook", "PyFunc", "image_tensor")])


PBTXT = (
    "saved_model_schema_version: 1\nmeta_graphs {\n  graph_def {\n"
    '    node { name: "x" op: "Placeholder" }\n    node { name: "y" op: "OP" input: "x" }\n'
    "  }\n}\n"
)


def _pbtxt_pyfunc(canary: Path) -> bytes:
    return PBTXT.replace("OP", "EagerPyFunc").encode()


def keras_directory(directory: Path, canary: Path) -> Path:
    """A Keras 2 SavedModel directory as ``model.save("dir")`` writes it: the graph, the Keras
    metadata, a fingerprint, and the variables checkpoint (random float bytes here)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "saved_model.pb").write_bytes(with_dense())
    (directory / "keras_metadata.pb").write_bytes(benign_metadata(canary))
    fingerprint = pb_int(1, 0xD2A4_9E1F_0000_1234) + pb_int(2, 77) + pb_bytes(6, pb_int(1, 1))
    (directory / "fingerprint.pb").write_bytes(fingerprint)
    variables = directory / "variables"
    variables.mkdir(exist_ok=True)
    (variables / "variables.index").write_bytes(b"\x00\x00" + bytes(range(64)) * 4)
    floats = struct.pack("<64f", *(i / 64 for i in range(64)))
    (variables / "variables.data-00000-of-00001").write_bytes(floats)
    (directory / "assets").mkdir(exist_ok=True)
    return directory


def benign_metadata(canary: Path) -> bytes:
    dense = {"class_name": "Dense", "config": {"name": "dense", "units": 4, "activation": "relu"}}
    return keras_metadata(
        [("root", "_tf_keras_sequential", json.dumps({"class_name": "Sequential", "config": {}})),
         ("root.layer-0", "_tf_keras_layer", json.dumps(dense))]
    )  # fmt: skip


def _sample(
    name: str, build: object, technique: str, rules: tuple[str, ...], filename: str
) -> Sample:
    return file_sample(name, build, technique, None, filename=filename, rules=rules)  # type: ignore[arg-type]


SAMPLES = [
    _sample("savedmodel-pyfunc", _pyfunc, "a PyFunc node calls back into Python",
            ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-eagerpyfunc-in-function", _pyfunc_in_function,
            "an EagerPyFunc hidden in a library function", ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-readfile-ssh-key", _read_secret, "ReadFile of a constant secret path",
            ("MLS-TF-002",), "saved_model.pb"),
    _sample("savedmodel-writefile-in-function", _write_file, "WriteFile inside a function",
            ("MLS-TF-002",), "saved_model.pb"),
    _sample("savedmodel-restore-traversal", _restore_outside,
            "RestoreV2 fed a constant '..' path", ("MLS-TF-004",), "saved_model.pb"),
    _sample("savedmodel-asset-traversal", _asset_outside, "an asset filename with '..'",
            ("MLS-TF-005",), "saved_model.pb"),
    _sample("savedmodel-remote-call", _remote_call, "RemoteCall to another task",
            ("MLS-TF-003",), "saved_model.pb"),
    _sample("savedmodel-renamed-pyfunc", _pyfunc, "a SavedModel renamed to weights.bin",
            ("MLS-TF-001",), "weights.bin"),
    _sample("savedmodel-object-graph-lambda", _object_graph_lambda,
            "Keras Lambda bytecode in the object graph metadata", ("MLS-KERAS-001",),
            "saved_model.pb"),
    _sample("keras-metadata-lambda", _metadata_lambda, "Lambda bytecode in keras_metadata.pb",
            ("MLS-KERAS-001",), "keras_metadata.pb"),
    _sample("keras-metadata-os-module", _metadata_module,
            "keras_metadata.pb names os.system", ("MLS-KERAS-003",), "keras_metadata.pb"),
    _sample("frozen-graph-pyfunc", _frozen_pyfunc, "a PyFunc in a frozen GraphDef",
            ("MLS-TF-001",), "frozen_inference_graph.pb"),
    _sample("savedmodel-text-format-eagerpyfunc", _pbtxt_pyfunc,
            "EagerPyFunc in saved_model.pbtxt (read when saved_model.pb is absent)",
            ("MLS-TF-001",), "saved_model.pbtxt"),
    file_sample("savedmodel-text-format-relu", lambda c: PBTXT.replace("OP", "Relu").encode(),
                "a small text-format SavedModel", None, filename="saved_model.pbtxt",
                malicious=False),
    Sample("savedmodel-keras-directory", keras_directory, False,
           technique="a Keras 2 SavedModel directory with fingerprint and variables"),
    file_sample("frozen-graph-matmul", lambda c: frozen_graph(), "a small frozen graph", None,
                filename="frozen_inference_graph.pb", malicious=False),
    file_sample("savedmodel-keras-dense", lambda c: with_dense(assets=["vocab.txt"]),
                "a Keras Dense model's graph, checkpoint functions and an asset", None,
                filename="saved_model.pb", malicious=False),
    file_sample("keras-metadata-dense", benign_metadata, "Keras metadata of a Dense model",
                None, filename="keras_metadata.pb", malicious=False),
]  # fmt: skip


# --- review: the SavedModel engine's own reading against TensorFlow's parser ------------------
#
# TensorFlow's protobuf parser skips any field it does not define and any defined field sent with
# another wire type (both become unknown fields); nothing checks saved_model_schema_version; a
# singular message field sent twice is merged. No TensorFlow runs here: each sample's comment
# says why the loader reads it the way the scanner now does.

_PYFUNC = node("callback", "PyFunc", "x", attrs=[attr_s("token", "pyfunc_0")])


def _meta_graph(*front: bytes) -> bytes:
    """The Dense model's meta graph with a PyFunc node, ``front`` fields first."""
    graph, library = dense_graph()
    body = b"".join(pb_bytes(1, n) for n in [*graph, _PYFUNC])
    body += pb_bytes(2, b"".join(pb_bytes(1, f) for f in library))
    return pb_bytes(2, b"".join(front) + pb_bytes(1, pb_bytes(4, "serve")) + pb_bytes(2, body))


def _schema_version_17(canary: Path) -> bytes:
    # reader.cc / loader_impl.parse_saved_model read the proto; no one compares the version.
    return pb_int(1, 17) + _meta_graph()


def _wrong_wire_meta_field(canary: Path) -> bytes:
    # saver_def (field 3) sent as a varint: the parser keeps it as an unknown field.
    return pb_int(1, 1) + _meta_graph(pb_int(3, 1))


def _schema_version_as_message(canary: Path) -> bytes:
    # saved_model_schema_version (field 1, an int64) sent length-delimited: an unknown field.
    return pb_bytes(1, b"") + pb_int(1, 1) + _meta_graph()


def _graph_def_polyglot(canary: Path) -> bytes:
    # A harmless GraphDef node first: read as a GraphDef (tf.import_graph_def) the file is one
    # Placeholder; read as saved_model.pb its field 1 is an unknown field and its meta graph runs.
    return pb_bytes(1, node("input", "Placeholder")) + _meta_graph()


def _restore_through_identity(canary: Path) -> bytes:
    return with_dense(
        const_string("p", "/etc/passwd"),
        node("i", "Identity", "p"),
        node("table", "HashTableV2"),
        node("init", "InitializeTableFromTextFileV2", "table", "i:0"),
    )


def _split_graph_def(canary: Path) -> bytes:
    # graph_def is a singular field: the parser merges both occurrences into one GraphDef.
    first = pb_bytes(1, const_string("p", "../../../../etc/passwd"))
    second = pb_bytes(1, node("r", "RestoreV2", "p", "names", "slices"))
    meta = pb_bytes(1, pb_bytes(4, "serve")) + pb_bytes(2, first) + pb_bytes(2, second)
    return pb_int(1, 1) + pb_bytes(2, meta)


def _dataset_from_graph(canary: Path) -> bytes:
    hidden = graph_def([const_string("p", "/etc/passwd"), node("r", "ReadFile", "p")])
    return with_dense(
        const_string("g", hidden.decode("latin-1")), node("d", "DatasetFromGraph", "g")
    )


def _packed_string_constant(canary: Path) -> bytes:
    # Tensor::FromProto reads a non-empty tensor_content first; for a string tensor it holds
    # the varint lengths then the bytes (port::DecodeStringList). string_val is a decoy.
    packed = bytes([len("/etc/passwd")]) + b"/etc/passwd"
    tensor = pb_int(1, DT_STRING) + pb_bytes(4, packed) + pb_bytes(8, "variables/variables")
    constant = node(
        "p",
        "Const",
        attrs=[attr("dtype", pb_int(6, DT_STRING)), attr("value", pb_bytes(8, tensor))],
    )
    return with_dense(
        constant,
        node("table", "HashTableV2"),
        node("init", "InitializeTableFromTextFileV2", "table", "p"),
    )


def _table_from_working_directory(canary: Path) -> bytes:
    # InitializeTableFromTextFileV2 opens its filename as given: relative to the process's
    # working directory (a notebook's is often the home directory), not to the model.
    return with_dense(
        const_string("p", ".ssh/id_rsa"),
        node("table", "HashTableV2"),
        node("init", "InitializeTableFromTextFileV2", "table", "p"),
    )


def _frozen_unknown_node_field(canary: Path) -> bytes:
    # NodeDef field 100 does not exist: tf.compat.v1.GraphDef's parser skips it.
    first = node("image_tensor", "Placeholder") + pb_int(100, 1)
    return graph_def([first, node("hook", "PyFunc", "image_tensor")])


def _frozen_versions_first(canary: Path) -> bytes:
    # GraphDef.versions written before the nodes: field order is free on the wire.
    nodes = [node("image_tensor", "Placeholder"), node("hook", "PyFunc", "image_tensor")]
    return pb_bytes(4, pb_int(1, 1645)) + graph_def(nodes)


#: An unknown field larger than the 64 KiB head identification reads.
_FILLER = pb_bytes(100, b"\x00" * (256 << 10))


def _saved_model_behind_filler(canary: Path) -> bytes:
    # The parser skips field 100 by its length, then reads the meta graph.
    return _FILLER + pb_int(1, 1) + _meta_graph()


def _meta_graph_behind_filler(canary: Path) -> bytes:
    return pb_int(1, 1) + _meta_graph(_FILLER)


def _frozen_behind_filler(canary: Path) -> bytes:
    return _FILLER + _frozen_versions_first(canary)


def _metadata_behind_filler(canary: Path) -> bytes:
    return _FILLER + keras_metadata([("root", "_tf_keras_layer", lambda_metadata())])


def _metadata_saved_model_polyglot(canary: Path) -> bytes:
    # Field 2 is no SavedMetadata field (Keras' parser skips it) but reads as a meta graph.
    lam = keras_metadata([("root", "_tf_keras_layer", lambda_metadata())])
    return lam + pb_bytes(2, pb_bytes(1, pb_bytes(4, "serve")))


def _save_into_working_directory(canary: Path) -> bytes:
    # The V1 Save op writes exactly the file it names (TensorSliceWriter), its tensor names in
    # clear: run from a home directory, .ssh/authorized_keys gets the attacker's key line.
    key = "\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPwned attacker\n"
    return with_dense(
        const_string("p", ".ssh/authorized_keys"),
        const_string("names", key),
        node("s", "Save", "p", "names", "dense/kernel"),
    )


def _function_with_arguments(name: str, arguments: Sequence[str], nodes: Sequence[bytes]) -> bytes:
    """A FunctionDef whose signature (OpDef) declares its input arguments (ArgDef names)."""
    signature = pb_bytes(1, name) + b"".join(pb_bytes(2, pb_bytes(1, a)) for a in arguments)
    return pb_bytes(1, signature) + b"".join(pb_bytes(3, n) for n in nodes)


def _table_path_through_a_call(canary: Path) -> bytes:
    # The graph passes a constant to a function call; the body initialises a table from its
    # argument (TF Serving runs a graph-level init op such as this call when it loads).
    init = _function_with_arguments(
        "__inference_initializer_5",
        ["path", "table"],
        [node("init", "InitializeTableFromTextFileV2", "table", "path")],
    )
    call = node(
        "call",
        "StatefulPartitionedCall",
        "p",
        "table",
        attrs=[attr("f", pb_bytes(10, pb_bytes(1, "__inference_initializer_5")))],
    )
    return with_dense(
        const_string("p", "/etc/passwd"), node("table", "HashTableV2"), call, functions=[init]
    )


def _metadata_unknown_field(canary: Path) -> bytes:
    # Field 7 is not SavedObject's: Keras' parser skips it and rebuilds the Lambda layer.
    return b"".join(
        pb_bytes(1, pb_int(7, 1) + pb_int(2, i) + pb_bytes(3, p) + pb_bytes(4, d) + pb_bytes(5, m))
        for i, (p, d, m) in enumerate([("root", "_tf_keras_layer", lambda_metadata())])
    )


def _metadata_empty_first_node(canary: Path) -> bytes:
    return pb_bytes(1, b"") + keras_metadata([("root", "_tf_keras_layer", lambda_metadata())])


def _pbtxt_unicode_escape(canary: Path) -> bytes:
    # protobuf's text tokenizer (C++ and Python text_format) decodes \u and \U escapes.
    return PBTXT.replace('"OP"', '"\\u0050yFunc"').encode()


def _pbtxt_comment_before_brace(canary: Path) -> bytes:
    # No schema version line (it is optional): the text opens with meta_graphs, a comment, '{'.
    text = PBTXT.split("\n", 1)[1].replace("OP", "EagerPyFunc")
    return text.replace("meta_graphs {", "meta_graphs # x\n{").encode()


def _graph_pbtxt_spaced_op(canary: Path) -> bytes:
    return b'node <\n  name: "y"\n  op  : "EagerPyFunc"\n>\n'


def _pbtxt_op_inside_a_string(canary: Path) -> bytes:
    # An input whose text is 'op:' made the field search read '" op: "' as the node's op and
    # step over the real one.
    node_text = 'node { name: "y" input: "op:" op: "PyFunc" }'
    return (
        PBTXT.split("\n", 1)[1]
        .replace('node { name: "y" op: "OP" input: "x" }', node_text)
        .encode()
    )


def _graph_pbtxt_versions_first(canary: Path) -> bytes:
    return b'versions {\n  producer: 1645\n}\nnode {\n  name: "y"\n  op: "EagerPyFunc"\n}\n'


SAMPLES += [
    _sample("savedmodel-schema-version-17-pyfunc", _schema_version_17,
            "a PyFunc in a SavedModel whose schema version no loader checks is 17",
            ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-meta-field-wrong-wire-pyfunc", _wrong_wire_meta_field,
            "a PyFunc in a meta graph whose saver_def is sent as a varint (an unknown field)",
            ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-schema-version-as-message-pyfunc", _schema_version_as_message,
            "a PyFunc in a SavedModel that opens with field 1 length-delimited",
            ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-graphdef-polyglot-pyfunc", _graph_def_polyglot,
            "a file that is a harmless GraphDef and a SavedModel with a PyFunc",
            ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-table-from-identity-of-absolute-path", _restore_through_identity,
            "a table initialised from /etc/passwd through an Identity node",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("savedmodel-split-graph-def-restore-traversal", _split_graph_def,
            "a '..' constant in one graph_def field, the RestoreV2 it feeds in another",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("savedmodel-dataset-from-graph", _dataset_from_graph,
            "a ReadFile hidden in a serialized GraphDef that DatasetFromGraph runs",
            ("MLS-TF-008",), "saved_model.pb"),
    _sample("savedmodel-table-from-packed-string-constant", _packed_string_constant,
            "a table initialised from /etc/passwd held in a string tensor's tensor_content",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("savedmodel-table-from-working-directory-file", _table_from_working_directory,
            "a table initialised from the relative path .ssh/id_rsa (the working directory)",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("frozen-graph-unknown-node-field-pyfunc", _frozen_unknown_node_field,
            "a PyFunc in a frozen graph whose first node carries an unknown field",
            ("MLS-TF-001",), "frozen_inference_graph.pb"),
    _sample("frozen-graph-versions-first-pyfunc", _frozen_versions_first,
            "a PyFunc in a frozen graph that writes its versions before its nodes",
            ("MLS-TF-001",), "frozen_inference_graph.pb"),
    _sample("savedmodel-behind-large-unknown-field-pyfunc", _saved_model_behind_filler,
            "a SavedModel behind a 256 KiB unknown field", ("MLS-TF-001",), "saved_model.pb"),
    _sample("savedmodel-meta-graph-behind-large-unknown-field-pyfunc", _meta_graph_behind_filler,
            "a meta graph whose graph follows a 256 KiB unknown field", ("MLS-TF-001",),
            "saved_model.pb"),
    _sample("frozen-graph-behind-large-unknown-field-pyfunc", _frozen_behind_filler,
            "a frozen graph behind a 256 KiB unknown field", ("MLS-TF-001",),
            "frozen_inference_graph.pb"),
    _sample("keras-metadata-behind-large-unknown-field-lambda", _metadata_behind_filler,
            "Keras metadata behind a 256 KiB unknown field", ("MLS-KERAS-001",),
            "keras_metadata.pb"),
    _sample("keras-metadata-saved-model-polyglot-lambda", _metadata_saved_model_polyglot,
            "Lambda bytecode in keras_metadata.pb that also reads as a SavedModel",
            ("MLS-KERAS-001",), "keras_metadata.pb"),
    _sample("savedmodel-save-into-working-directory", _save_into_working_directory,
            "a V1 Save op writing .ssh/authorized_keys relative to the working directory",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("savedmodel-table-path-through-a-function-call", _table_path_through_a_call,
            "/etc/passwd passed to a StatefulPartitionedCall whose body initialises a table",
            ("MLS-TF-004",), "saved_model.pb"),
    _sample("keras-metadata-unknown-field-lambda", _metadata_unknown_field,
            "Lambda bytecode in keras_metadata.pb whose node carries an unknown field",
            ("MLS-KERAS-001",), "keras_metadata.pb"),
    _sample("keras-metadata-empty-first-node-lambda", _metadata_empty_first_node,
            "Lambda bytecode in keras_metadata.pb behind an empty first node",
            ("MLS-KERAS-001",), "keras_metadata.pb"),
    _sample("savedmodel-text-format-unicode-escape-pyfunc", _pbtxt_unicode_escape,
            "op \"\\u0050yFunc\" in saved_model.pbtxt", ("MLS-TF-001",), "saved_model.pbtxt"),
    _sample("savedmodel-text-format-comment-before-brace", _pbtxt_comment_before_brace,
            "a comment between meta_graphs and its brace in saved_model.pbtxt",
            ("MLS-TF-001",), "saved_model.pbtxt"),
    _sample("savedmodel-text-format-op-inside-a-string", _pbtxt_op_inside_a_string,
            "an input named 'op:' in front of op: \"PyFunc\" in saved_model.pbtxt",
            ("MLS-TF-001",), "saved_model.pbtxt"),
    _sample("graph-text-format-versions-first-eagerpyfunc", _graph_pbtxt_versions_first,
            "a text GraphDef that opens with its versions", ("MLS-TF-001",), "graph.pbtxt"),
    _sample("graph-text-format-angle-brackets-spaced-op", _graph_pbtxt_spaced_op,
            "a text GraphDef with node < ... > and 'op  :'", ("MLS-TF-001",), "graph.pbtxt"),
]  # fmt: skip
