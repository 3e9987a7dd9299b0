"""TensorFlow's SavedModel messages, declared in code for the real protobuf runtime.

TensorFlow is not installed (too heavy); these descriptors carry the field numbers and types
of ``saved_model.proto``, ``meta_graph.proto``, ``graph.proto``, ``node_def.proto``,
``function.proto``, ``attr_value.proto``, ``tensor.proto``, ``saved_object_graph.proto`` and
Keras' ``saved_metadata.proto`` (the subset a Keras export fills in), so that
``google.protobuf`` encodes the test models and cross-checks the scanner's own wire reader.
Imported only by tests marked ``needs("google.protobuf")``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
_TYPES = {
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "bool": _F.TYPE_BOOL,
    "float": _F.TYPE_FLOAT,
}

# message name -> [(field name, number, type or message name, repeated)]
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "SavedModel": [("saved_model_schema_version", 1, "int64", False),
                   ("meta_graphs", 2, "MetaGraphDef", True)],
    "MetaGraphDef": [("meta_info_def", 1, "MetaInfoDef", False),
                     ("graph_def", 2, "GraphDef", False),
                     ("asset_file_def", 6, "AssetFileDef", True),
                     ("object_graph_def", 7, "SavedObjectGraph", False)],
    "MetaInfoDef": [("meta_graph_version", 1, "string", False), ("tags", 4, "string", True),
                    ("tensorflow_version", 5, "string", False),
                    ("tensorflow_git_version", 6, "string", False)],
    "GraphDef": [("node", 1, "NodeDef", True), ("library", 2, "FunctionDefLibrary", False),
                 ("versions", 4, "VersionDef", False)],
    "VersionDef": [("producer", 1, "int32", False), ("min_consumer", 2, "int32", False)],
    "NodeDef": [("name", 1, "string", False), ("op", 2, "string", False),
                ("input", 3, "string", True), ("device", 4, "string", False),
                ("attr", 5, "NodeDef.AttrEntry", True)],
    "NodeDef.AttrEntry": [("key", 1, "string", False), ("value", 2, "AttrValue", False)],
    "AttrValue": [("list", 1, "ListValue", False), ("s", 2, "bytes", False),
                  ("i", 3, "int64", False), ("f", 4, "float", False), ("b", 5, "bool", False),
                  ("type", 6, "int32", False), ("tensor", 8, "TensorProto", False),
                  ("func", 10, "NameAttrList", False)],
    "ListValue": [("s", 2, "bytes", True), ("i", 3, "int64", True), ("type", 6, "int32", True),
                  ("tensor", 8, "TensorProto", True), ("func", 9, "NameAttrList", True)],
    "NameAttrList": [("name", 1, "string", False)],
    "TensorProto": [("dtype", 1, "int32", False), ("tensor_content", 4, "bytes", False),
                    ("float_val", 5, "float", True), ("string_val", 8, "bytes", True)],
    "FunctionDefLibrary": [("function", 1, "FunctionDef", True)],
    "FunctionDef": [("signature", 1, "OpDef", False), ("node_def", 3, "NodeDef", True)],
    "OpDef": [("name", 1, "string", False)],
    "AssetFileDef": [("filename", 2, "string", False)],
    "SavedObjectGraph": [("nodes", 1, "SavedObject", True)],
    "SavedObject": [("user_object", 4, "SavedUserObject", False)],
    "SavedUserObject": [("identifier", 1, "string", False), ("metadata", 3, "string", False)],
    "SavedMetadata": [("nodes", 1, "KerasObject", True)],
    "KerasObject": [("node_id", 2, "int32", False), ("node_path", 3, "string", False),
                    ("identifier", 4, "string", False), ("metadata", 5, "string", False)],
}  # fmt: skip

DT_FLOAT, DT_STRING, DT_RESOURCE = 1, 7, 20


@cache
def classes() -> dict[str, Any]:
    """Message classes by name, built once from the declarations above."""
    proto = descriptor_pb2.FileDescriptorProto(name="mlsupply_tf.proto", package="mlsupply_tf")
    proto.syntax = "proto3"
    for name, fields in _MESSAGES.items():
        if "." in name:
            continue
        message = proto.message_type.add(name=name)
        _add_fields(message, fields)
        for nested_name, nested in _MESSAGES.items():
            if nested_name.startswith(name + "."):
                entry = message.nested_type.add(name=nested_name.split(".", 1)[1])
                entry.options.map_entry = True
                _add_fields(entry, nested)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"mlsupply_tf.{name}"))
        for name in _MESSAGES
        if "." not in name
    }


def _add_fields(message: Any, fields: list[tuple[str, int, str, bool]]) -> None:
    for field_name, number, kind, repeated in fields:
        f = message.field.add(
            name=field_name, number=number, label=_REPEATED if repeated else _OPTIONAL
        )
        if kind in _TYPES:
            f.type = _TYPES[kind]
        else:
            f.type = _F.TYPE_MESSAGE
            f.type_name = f".mlsupply_tf.{kind}"


def node(name: str, op: str, *inputs: str, **attrs: Any) -> Any:
    """A NodeDef; attribute values: str/bytes (s), list of str (list.s), ("tensor", [str]) for a
    string tensor, ("func", name) for a function reference, int (type)."""
    msg = classes()["NodeDef"](name=name, op=op, input=list(inputs))
    for key, value in attrs.items():
        attr = msg.attr[key]
        if isinstance(value, str | bytes):
            attr.s = value.encode() if isinstance(value, str) else value
        elif isinstance(value, list):
            attr.list.s.extend(v.encode() for v in value)
        elif isinstance(value, tuple) and value[0] == "tensor":
            attr.tensor.dtype = DT_STRING
            attr.tensor.string_val.extend(v.encode() for v in value[1])
        elif isinstance(value, tuple) and value[0] == "func":
            attr.func.name = value[1]
        else:
            attr.type = int(value)
    return msg


def const_string(name: str, *values: str) -> Any:
    return node(name, "Const", dtype=DT_STRING, value=("tensor", list(values)))


def function(name: str, nodes: list[Any]) -> Any:
    fn = classes()["FunctionDef"]()
    fn.signature.name = name
    fn.node_def.extend(nodes)
    return fn


def saved_model(
    nodes: list[Any],
    functions: list[Any] = (),  # type: ignore[assignment]
    *,
    assets: list[str] = (),  # type: ignore[assignment]
    user_objects: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> bytes:
    c = classes()
    model = c["SavedModel"](saved_model_schema_version=1)
    meta = model.meta_graphs.add()
    meta.meta_info_def.tags.append("serve")
    meta.meta_info_def.tensorflow_version = "2.15.0"
    meta.graph_def.node.extend(nodes)
    meta.graph_def.library.function.extend(functions)
    meta.graph_def.versions.producer = 1645
    for filename in assets:
        meta.asset_file_def.add(filename=filename)
    for identifier, metadata in user_objects:
        obj = meta.object_graph_def.nodes.add()
        obj.user_object.identifier = identifier
        obj.user_object.metadata = metadata
    return bytes(model.SerializeToString())


def keras_metadata(objects: list[tuple[str, str, str]]) -> bytes:
    """A SavedMetadata with (node_path, identifier, metadata JSON) objects."""
    message = classes()["SavedMetadata"]()
    for index, (path, identifier, metadata) in enumerate(objects):
        message.nodes.add(node_id=index, node_path=path, identifier=identifier, metadata=metadata)
    return bytes(message.SerializeToString())


def dense_model() -> tuple[list[Any], list[Any]]:
    """The graph and functions a Keras ``Dense(4, activation="relu")`` model exports: variables,
    the serving call, and the save/restore functions for its checkpoint."""
    layer = function(
        "__inference_dense_layer_call_fn_91",
        [
            node(
                "MatMul/ReadVariableOp",
                "ReadVariableOp",
                "matmul_readvariableop_resource",
                dtype=DT_FLOAT,
            ),
            node("MatMul", "MatMul", "inputs", "MatMul/ReadVariableOp:value:0", T=DT_FLOAT),
            node(
                "BiasAdd/ReadVariableOp",
                "ReadVariableOp",
                "biasadd_readvariableop_resource",
                dtype=DT_FLOAT,
            ),
            node(
                "BiasAdd",
                "BiasAdd",
                "MatMul:product:0",
                "BiasAdd/ReadVariableOp:value:0",
                T=DT_FLOAT,
            ),
            node("Relu", "Relu", "BiasAdd:output:0", T=DT_FLOAT),
            node("NoOp", "NoOp", "^BiasAdd/ReadVariableOp", "^MatMul/ReadVariableOp"),
            node("Identity", "Identity", "Relu:activations:0", T=DT_FLOAT),
        ],
    )
    save = function(
        "__inference__traced_save_150",
        [
            node("StaticRegexFullMatch", "StaticRegexFullMatch", "file_prefix", pattern="^s3://.*"),
            const_string("Const", ".part"),
            const_string("Const_1", "_temp/part"),
            node(
                "Select",
                "Select",
                "StaticRegexFullMatch:output:0",
                "Const:output:0",
                "Const_1:output:0",
            ),
            node("StringJoin", "StringJoin", "file_prefix", "Select:output:0"),
            node(
                "ShardedFilename",
                "ShardedFilename",
                "StringJoin:output:0",
                "num_shards:output:0",
                "shard:output:0",
            ),
            const_string(
                "SaveV2/tensor_names",
                "variables/0/.ATTRIBUTES/VARIABLE_VALUE",
                "variables/1/.ATTRIBUTES/VARIABLE_VALUE",
            ),
            const_string("SaveV2/shape_and_slices", "", ""),
            node(
                "SaveV2",
                "SaveV2",
                "ShardedFilename:filename:0",
                "SaveV2/tensor_names:output:0",
                "SaveV2/shape_and_slices:output:0",
                "savev2_dense_kernel_read_readvariableop",
                "savev2_dense_bias_read_readvariableop",
                dtypes=[],
            ),
            node("MergeV2Checkpoints/checkpoint_prefixes", "Pack", "ShardedFilename:filename:0"),
            node(
                "MergeV2Checkpoints",
                "MergeV2Checkpoints",
                "MergeV2Checkpoints/checkpoint_prefixes:output:0",
                "file_prefix",
            ),
            node("DisableCopyOnRead", "DisableCopyOnRead", "read_disablecopyonread_resource"),
        ],
    )
    restore = function(
        "__inference__traced_restore_180",
        [
            const_string("RestoreV2/tensor_names", "variables/0/.ATTRIBUTES/VARIABLE_VALUE"),
            const_string("RestoreV2/shape_and_slices", ""),
            node(
                "RestoreV2",
                "RestoreV2",
                "file_prefix",
                "RestoreV2/tensor_names:output:0",
                "RestoreV2/shape_and_slices:output:0",
            ),
            node(
                "AssignVariableOp",
                "AssignVariableOp",
                "assignvariableop_resource",
                "RestoreV2:tensors:0",
                dtype=DT_FLOAT,
            ),
        ],
    )
    graph = [
        node("dense/kernel", "VarHandleOp", dtype=DT_FLOAT, shared_name="dense/kernel"),
        node("dense/kernel/Read/ReadVariableOp", "ReadVariableOp", "dense/kernel",
             dtype=DT_FLOAT),
        node("dense/bias", "VarHandleOp", dtype=DT_FLOAT, shared_name="dense/bias"),
        node("serving_default_inputs", "Placeholder", dtype=DT_FLOAT),
        node("StatefulPartitionedCall", "StatefulPartitionedCall", "serving_default_inputs",
             "dense/kernel", "dense/bias", f=("func", "__inference_dense_layer_call_fn_91")),
        node("saver_filename", "Placeholder", dtype=DT_STRING),
        node("StatefulPartitionedCall_1", "StatefulPartitionedCall", "saver_filename",
             f=("func", "__inference__traced_save_150")),
        node("StatefulPartitionedCall_2", "StatefulPartitionedCall", "saver_filename",
             f=("func", "__inference__traced_restore_180")),
    ]  # fmt: skip
    return graph, [layer, save, restore]
