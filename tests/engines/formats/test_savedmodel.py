"""The SavedModel engine: ops that run Python or touch files, custom ops, checkpoint paths, assets,
and the Keras configs of ``keras_metadata.pb``, on messages the real protobuf encoder writes."""

from __future__ import annotations

import base64
import json
import marshal
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines.scanner import Blob, identify_blob, scan_file
from pytest_mlsupply.results import Finding, Severity

pytestmark = pytest.mark.needs("google.protobuf")


def tf() -> Any:
    from tests.engines.formats import tf_protos

    return tf_protos


def scan(
    tmp_path: Path, data: bytes, name: str = "saved_model.pb"
) -> tuple[list[Finding], list[str]]:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_file(path, name)
    return report.findings, report.errors


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def with_dense(*extra: Any, functions: list[Any] = (), **kw: Any) -> bytes:  # type: ignore[assignment]
    graph, library = tf().dense_model()
    return tf().saved_model([*graph, *extra], [*library, *functions], **kw)


def test_a_keras_dense_export_is_a_saved_model_and_scans_clean(tmp_path: Path) -> None:
    data = with_dense(assets=["vocab.txt", "tokenizer/merges.txt"])
    ident = identify_blob(Blob(subject="x", name="saved_model.pb", data=data))
    assert ident.format == "tf-saved-model", ident
    findings, errors = scan(tmp_path, data)
    assert findings == []
    assert errors == []


def test_a_saved_model_is_identified_by_content_whatever_its_name(tmp_path: Path) -> None:
    data = with_dense(tf().node("p", "PyFunc", token="pyfunc_0"))
    ident = identify_blob(Blob(subject="x", name="weights.bin", data=data))
    assert ident.format == "tf-saved-model"
    findings, _ = scan(tmp_path, data, "weights.bin")
    assert "MLS-TF-001" in rules(findings)


@pytest.mark.parametrize("op", ["PyFunc", "PyFuncStateless", "EagerPyFunc"])
def test_an_op_that_calls_python_is_critical_in_the_graph(tmp_path: Path, op: str) -> None:
    findings, _ = scan(tmp_path, with_dense(tf().node("cb", op, "x", token="pyfunc_7")))
    hit = next(f for f in findings if f.rule == "MLS-TF-001")
    assert hit.severity is Severity.CRITICAL
    assert op in hit.evidence
    assert "pyfunc_7" in hit.evidence
    assert hit.location.key_path is not None
    assert "node[" in hit.location.key_path


def test_an_op_that_calls_python_inside_a_library_function_is_found(tmp_path: Path) -> None:
    body = tf().function("__inference_call_5", [tf().node("EagerPyFunc", "EagerPyFunc", "a")])
    findings, _ = scan(tmp_path, with_dense(functions=[body]))
    hit = next(f for f in findings if f.rule == "MLS-TF-001")
    assert "__inference_call_5" in (hit.location.key_path or "")


@pytest.mark.parametrize(
    "op",
    ["ReadFile", "WriteFile", "MatchingFiles", "TFRecordDataset", "ImmutableConst", "SqlDataset"],
)
def test_an_op_that_touches_files_is_high(tmp_path: Path, op: str) -> None:
    extra = [tf().const_string("path", "/home/user/.ssh/id_rsa"), tf().node("f", op, "path")]
    findings, _ = scan(tmp_path, with_dense(*extra))
    hit = next(f for f in findings if f.rule == "MLS-TF-002")
    assert hit.severity is Severity.HIGH
    assert op in hit.evidence
    assert "/home/user/.ssh/id_rsa" in hit.evidence


def test_a_remote_call_is_high(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, with_dense(tf().node("r", "RemoteCall", "t", f=("func", "g"))))
    assert "MLS-TF-003" in rules(findings)


@pytest.mark.parametrize(
    ("op", "attr", "value", "rule"),
    [
        ("PrintV2", "output_stream", "file:///tmp/leak", "MLS-TF-002"),
        ("DecodeProtoV2", "descriptor_source", "/etc/passwd", "MLS-TF-002"),
        ("DebugIdentity", "debug_urls", ["grpc://attacker:6064"], "MLS-TF-003"),
    ],
)
def test_an_attribute_that_names_a_file_or_address_is_reported(
    tmp_path: Path, op: str, attr: str, value: Any, rule: str
) -> None:
    findings, _ = scan(tmp_path, with_dense(tf().node("n", op, "x", **{attr: value})))
    assert rule in rules(findings)


def test_print_to_stderr_and_local_proto_descriptors_are_not_reported(tmp_path: Path) -> None:
    extra = [
        tf().node("p", "PrintV2", "x", output_stream="stderr"),
        tf().node("d", "DecodeProtoV2", "b", descriptor_source="local://"),
    ]
    findings, _ = scan(tmp_path, with_dense(*extra))
    assert findings == []


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../.aws/credentials", "gs://bucket/ckpt"])
def test_a_checkpoint_op_fed_a_constant_path_outside_the_model_is_high(
    tmp_path: Path, path: str
) -> None:
    extra = [
        tf().const_string("evil_prefix", path),
        tf().node("RestoreV2_9", "RestoreV2", "evil_prefix", "names", "slices"),
    ]
    findings, _ = scan(tmp_path, with_dense(*extra))
    hit = next(f for f in findings if f.rule == "MLS-TF-004")
    assert repr(path) in hit.evidence
    assert hit.severity is Severity.HIGH


def test_a_checkpoint_op_in_a_function_fed_an_absolute_constant_is_high(tmp_path: Path) -> None:
    body = tf().function(
        "__inference_restore_1",
        [
            tf().const_string("c", "/root/.kube/config"),
            tf().node("t", "InitializeTableFromTextFileV2", "table", "c:output:0"),
        ],
    )
    findings, _ = scan(tmp_path, with_dense(functions=[body]))
    assert "MLS-TF-004" in rules(findings)


@pytest.mark.parametrize("filename", ["/etc/shadow", "../../secrets.txt", "a/../../b"])
def test_an_asset_that_leaves_the_assets_directory_is_high(tmp_path: Path, filename: str) -> None:
    findings, _ = scan(tmp_path, with_dense(assets=[filename]))
    assert "MLS-TF-005" in rules(findings)


@pytest.mark.parametrize("op", ["MyCustomOp", "pyfunc", "ReadFile "])
def test_an_op_tensorflow_does_not_define_is_a_custom_op(tmp_path: Path, op: str) -> None:
    findings, _ = scan(tmp_path, with_dense(tf().node("c", op, "x")))
    hit = next(f for f in findings if f.rule == "MLS-TF-006")
    assert hit.severity is Severity.MEDIUM
    assert repr(op) in hit.evidence


def test_a_node_may_call_a_library_function_by_its_name(tmp_path: Path) -> None:
    body = tf().function("my_helper_fn", [tf().node("r", "Relu", "x")])
    findings, _ = scan(
        tmp_path, with_dense(tf().node("call", "my_helper_fn", "x"), functions=[body])
    )
    assert findings == []


def test_repeated_findings_are_grouped_with_a_count(tmp_path: Path) -> None:
    nodes = [tf().node(f"p{i}", "PyFunc", token=f"t{i}") for i in range(5)]
    findings, _ = scan(tmp_path, with_dense(*nodes))
    hits = [f for f in findings if f.rule == "MLS-TF-001"]
    assert len(hits) == 1
    assert "4 more nodes" in hits[0].evidence


def lambda_config() -> str:
    code = base64.b64encode(marshal.dumps((lambda x: x).__code__)).decode()
    return json.dumps(
        {
            "class_name": "Lambda",
            "config": {"name": "lambda", "function": [code, None, None], "function_type": "lambda"},
        }
    )


def test_keras_metadata_lambda_bytecode_is_reported_by_the_keras_walker(tmp_path: Path) -> None:
    data = tf().keras_metadata(
        [("root", "_tf_keras_sequential", json.dumps({"class_name": "Sequential"})),
         ("root.layer-0", "_tf_keras_layer", lambda_config())]
    )  # fmt: skip
    ident = identify_blob(Blob(subject="x", name="keras_metadata.pb", data=data))
    assert ident.format == "keras-metadata"
    findings, _ = scan(tmp_path, data, "keras_metadata.pb")
    hit = next(f for f in findings if f.rule == "MLS-KERAS-001")
    assert hit.severity is Severity.CRITICAL
    assert "root.layer-0" in (hit.location.key_path or "")


def test_keras_metadata_naming_a_foreign_module_is_reported(tmp_path: Path) -> None:
    config = {"class_name": "Evil", "module": "os", "config": {}}
    data = tf().keras_metadata([("root", "_tf_keras_layer", json.dumps(config))])
    findings, _ = scan(tmp_path, data, "keras_metadata.pb")
    assert "MLS-KERAS-003" in rules(findings)


def test_keras_metadata_that_is_not_json_fails_closed(tmp_path: Path) -> None:
    data = tf().keras_metadata([("root", "_tf_keras_layer", "{not json")])
    findings, errors = scan(tmp_path, data, "keras_metadata.pb")
    assert "MLS-KERAS-010" in rules(findings)
    assert errors


def test_keras_metadata_in_the_object_graph_is_walked_too(tmp_path: Path) -> None:
    data = with_dense(user_objects=[("_tf_keras_layer", lambda_config())])
    findings, _ = scan(tmp_path, data)
    assert "MLS-KERAS-001" in rules(findings)


def test_a_pb_file_that_is_not_protobuf_fails_closed(tmp_path: Path) -> None:
    findings, errors = scan(tmp_path, b"\x0f\xff\xff\xff garbage that is not protobuf")
    assert "MLS-TF-007" in rules(findings)
    assert errors


def test_a_truncated_saved_model_fails_closed(tmp_path: Path) -> None:
    data = with_dense(tf().node("p", "Relu", "x"))
    findings, errors = scan(tmp_path, data[: len(data) - 7])
    assert errors
    assert "MLS-TF-007" in rules(findings)


def test_an_onnx_model_is_not_taken_for_a_saved_model(tmp_path: Path) -> None:
    from tests.corpus.onnx_keras import add_graph, onnx_model

    ident = identify_blob(Blob(subject="x", name="model.onnx", data=onnx_model(add_graph([]))))
    assert ident.format == "onnx"


def test_unknown_fields_before_the_meta_graph_do_not_hide_a_saved_model(tmp_path: Path) -> None:
    from tests.corpus.onnx_keras import pb_bytes, pb_int

    data = pb_bytes(3, b"producer") + pb_int(9, 7) + with_dense(tf().node("p", "PyFunc"))
    assert identify_blob(Blob(subject="x", name="m.bin", data=data)).format == "tf-saved-model"
    findings, _ = scan(tmp_path, data, "m.bin")
    assert "MLS-TF-001" in rules(findings)


def test_a_saved_model_that_is_also_an_onnx_model_is_scanned_as_both(tmp_path: Path) -> None:
    from tests.corpus.onnx_keras import onnx_graph, onnx_tensor, pb_bytes, pb_int

    graph = onnx_graph(nodes=[], initializers=[onnx_tensor("w", location="/etc/passwd")])
    polyglot = (
        with_dense(tf().node("p", "PyFunc")) + pb_bytes(7, graph) + pb_bytes(8, pb_int(2, 17))
    )
    findings, _ = scan(tmp_path, polyglot, "model.onnx")
    assert {"MLS-TF-001", "MLS-ONNX-001"} <= rules(findings)


def graph_def(nodes: list[Any], functions: list[Any] = ()) -> bytes:  # type: ignore[assignment]
    graph = tf().classes()["GraphDef"]()
    graph.node.extend(nodes)
    graph.library.function.extend(functions)
    graph.versions.producer = 27
    return bytes(graph.SerializeToString())


def test_a_frozen_graph_is_identified_and_scanned_like_a_saved_model_graph(tmp_path: Path) -> None:
    benign = graph_def([tf().node("x", "Placeholder"), tf().node("y", "Relu", "x")])
    ident = identify_blob(Blob(subject="x", name="graph.bin", data=benign))
    assert ident.format == "tf-graph-def"
    findings, errors = scan(tmp_path, benign, "frozen_inference_graph.pb")
    assert findings == []
    assert errors == []
    body = tf().function("f", [tf().node("w", "WriteFile", "p", "c")])
    evil = graph_def([tf().node("x", "Placeholder"), tf().node("cb", "EagerPyFunc", "x")], [body])
    findings, _ = scan(tmp_path, evil, "frozen_inference_graph.pb")
    assert {"MLS-TF-001", "MLS-TF-002"} <= rules(findings)


def test_a_frozen_graph_starting_with_a_custom_op_is_identified_only_as_a_pb(
    tmp_path: Path,
) -> None:
    data = graph_def([tf().node("x", "MyCustomOp")])
    assert identify_blob(Blob(subject="x", name="g.bin", data=data)).format != "tf-graph-def"
    assert identify_blob(Blob(subject="x", name="g.pb", data=data)).format == "tf-graph-def"


def test_a_decoy_first_node_does_not_hide_keras_metadata(tmp_path: Path) -> None:
    data = tf().keras_metadata([("decoy", "_generic_user_object", "{}"),
                                ("root.layer-0", "_tf_keras_layer", lambda_config())])  # fmt: skip
    for name in ("keras_metadata.pb", "metadata.bin"):
        ident = identify_blob(Blob(subject="x", name=name, data=data))
        assert ident.format == "keras-metadata", name
    findings, _ = scan(tmp_path, data, "keras_metadata.pb")
    assert "MLS-KERAS-001" in rules(findings)


def test_unknown_fields_inside_the_meta_graph_do_not_hide_a_saved_model(tmp_path: Path) -> None:
    from tests.corpus.onnx_keras import pb_bytes, pb_int
    from tests.corpus.savedmodel import node, saved_model

    data = saved_model([node("p", "PyFunc")])
    # Rebuild the meta graph with an unknown varint field first, as TensorFlow would skip it.
    meta = pb_int(20, 1) + pb_bytes(2, pb_bytes(1, node("p", "PyFunc")))
    tricky = pb_int(1, 1) + pb_bytes(2, meta)
    for blob_name in ("saved_model.pb", "weights.bin"):
        ident = identify_blob(Blob(subject="x", name=blob_name, data=tricky))
        assert ident.format == "tf-saved-model", blob_name
    findings, _ = scan(tmp_path, tricky)
    assert "MLS-TF-001" in rules(findings)
    assert identify_blob(Blob(subject="x", name="x.pb", data=data)).format == "tf-saved-model"


PBTXT = """# written by hand, as saved_model.pbtxt
saved_model_schema_version: 1
meta_graphs {
  meta_info_def { tags: "serve" }
  graph_def {
    node { name: "x" op: "Placeholder" }
    node { name: "y" op: "Relu" input: "x" }
    library {
      function {
        signature { name: "helper_fn" }
        node_def { name: "z" op: "helper_fn" }
        node_def { name: "m" op: "MatMul" }
      }
    }
  }
  asset_file_def { filename: "vocab.txt" }
}
"""


def test_a_text_format_saved_model_is_identified_and_a_benign_one_is_clean(tmp_path: Path) -> None:
    ident = identify_blob(Blob(subject="x", name="saved_model.pbtxt", data=PBTXT.encode()))
    assert ident.format == "tf-saved-model"
    assert ident.family == "text"
    findings, errors = scan(tmp_path, PBTXT.encode(), "saved_model.pbtxt")
    assert findings == []
    assert errors == []


@pytest.mark.parametrize(
    ("op", "rule"),
    [
        ('"PyFunc"', "MLS-TF-001"),
        ("# a comment\n \"Py\" 'Func'", "MLS-TF-001"),
        ('"\\x52eadFile"', "MLS-TF-002"),
        ('"MyCustomOp"', "MLS-TF-006"),
    ],
)
def test_a_text_format_saved_model_is_judged_by_its_ops(tmp_path: Path, op: str, rule: str) -> None:
    text = PBTXT.replace('op: "Relu"', f"op: {op}")
    findings, _ = scan(tmp_path, text.encode(), "saved_model.pbtxt")
    assert rule in rules(findings)


def test_a_text_format_asset_outside_the_assets_directory_is_high(tmp_path: Path) -> None:
    text = PBTXT.replace('"vocab.txt"', '"../../../etc/passwd"')
    findings, _ = scan(tmp_path, text.encode(), "saved_model.pbtxt")
    assert "MLS-TF-005" in rules(findings)


def test_a_text_format_graph_def_is_scanned(tmp_path: Path) -> None:
    text = 'node {\n  name: "cb"\n  op: "EagerPyFunc"\n}\n'
    ident = identify_blob(Blob(subject="x", name="graph.pbtxt", data=text.encode()))
    assert ident.format == "tf-graph-def"
    findings, _ = scan(tmp_path, text.encode(), "graph.pbtxt")
    assert "MLS-TF-001" in rules(findings)


def test_a_truncated_saved_model_still_reports_what_was_read_before_the_cut(tmp_path: Path) -> None:
    data = tf().saved_model([tf().node("cb", "PyFunc", "x"), tf().node("y", "Relu", "cb")])
    findings, errors = scan(tmp_path, data[: len(data) - 12], "model.bin")
    assert errors
    assert "MLS-TF-001" in rules(findings)


# --- review: the reader agrees with TensorFlow's protobuf parser ------------------------------


def _ops(graph: Any) -> set[str]:
    ops = {n.op for n in graph.node}
    for function in graph.library.function:
        ops |= {n.op for n in function.node_def}
    return ops


@pytest.mark.parametrize(
    "builder",
    [
        "_schema_version_17",
        "_wrong_wire_meta_field",
        "_schema_version_as_message",
        "_graph_def_polyglot",
    ],
)
def test_a_saved_model_the_real_parser_reads_with_a_pyfunc_is_critical_however_its_fields_bend(
    tmp_path: Path, builder: str
) -> None:
    from tests.corpus import savedmodel

    data = getattr(savedmodel, builder)(tmp_path / "canary")
    parsed = tf().classes()["SavedModel"].FromString(data)
    assert "PyFunc" in _ops(parsed.meta_graphs[0].graph_def)
    findings, _ = scan(tmp_path, data)
    assert "MLS-TF-001" in rules(findings)


def test_two_graph_def_fields_are_one_merged_graph_so_a_constant_in_one_feeds_an_op_in_the_other(
    tmp_path: Path,
) -> None:
    from tests.corpus.savedmodel import _split_graph_def

    data = _split_graph_def(tmp_path / "canary")
    graph = tf().classes()["SavedModel"].FromString(data).meta_graphs[0].graph_def
    assert [n.name for n in graph.node] == ["p", "r"]
    findings, _ = scan(tmp_path, data)
    assert "MLS-TF-004" in rules(findings)


@pytest.mark.parametrize(
    ("middle", "path"),
    [
        ([("i", "Identity", ["p"])], "/etc/passwd"),
        ([("i", "PlaceholderWithDefault", ["p"])], "/etc/passwd"),
        ([("a", "Identity", ["p"]), ("i", "Snapshot", ["a:0"])], "/etc/passwd"),
        ([("i", "StringJoin", ["file_prefix", "p"])], "/../../../../etc/passwd"),
        ([("i", "StringJoin", ["p", "file_prefix"])], "/etc/"),
    ],
)
def test_a_constant_path_passed_through_other_ops_to_a_checkpoint_op_is_high(
    tmp_path: Path, middle: list[tuple[str, str, list[str]]], path: str
) -> None:
    extra = [tf().const_string("p", path)]
    extra += [tf().node(name, op, *inputs) for name, op, inputs in middle]
    extra.append(tf().node("r", "RestoreV2", "i", "names", "slices"))
    findings, _ = scan(tmp_path, with_dense(*extra))
    assert "MLS-TF-004" in rules(findings)


def test_the_save_path_a_keras_export_joins_from_its_argument_is_not_reported(
    tmp_path: Path,
) -> None:
    findings, errors = scan(tmp_path, with_dense())
    assert findings == []
    assert errors == []


def test_dataset_from_graph_which_runs_a_graph_held_in_a_string_is_high(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, with_dense(tf().node("d", "DatasetFromGraph", "g")))
    assert [(f.rule, f.severity) for f in findings] == [("MLS-TF-008", Severity.HIGH)]


@pytest.mark.parametrize(
    "builder",
    ["_metadata_unknown_field", "_metadata_empty_first_node", "_metadata_saved_model_polyglot"],
)
def test_keras_metadata_the_real_parser_reads_is_walked_despite_unknown_fields_and_empty_nodes(
    tmp_path: Path, builder: str
) -> None:
    from tests.corpus import savedmodel

    data = getattr(savedmodel, builder)(tmp_path / "canary")
    parsed = tf().classes()["SavedMetadata"].FromString(data)
    assert any('"Lambda"' in n.metadata for n in parsed.nodes)
    findings, _ = scan(tmp_path, data, "keras_metadata.pb")
    assert "MLS-KERAS-001" in rules(findings)


@pytest.mark.parametrize(
    "builder",
    [
        "_pbtxt_unicode_escape",
        "_pbtxt_comment_before_brace",
        "_graph_pbtxt_spaced_op",
        "_graph_pbtxt_versions_first",
        "_pbtxt_op_inside_a_string",
    ],
)
def test_text_format_the_real_parser_reads_is_judged_by_the_op_it_decodes(
    tmp_path: Path, builder: str
) -> None:
    from google.protobuf import text_format

    from tests.corpus import savedmodel

    data = getattr(savedmodel, builder)(tmp_path / "canary")
    kind = "GraphDef" if builder.startswith("_graph") else "SavedModel"
    parsed = text_format.Parse(data.decode(), tf().classes()[kind]())
    graph = parsed if kind == "GraphDef" else parsed.meta_graphs[0].graph_def
    assert _ops(graph) & {"PyFunc", "EagerPyFunc"}
    name = "graph.pbtxt" if kind == "GraphDef" else "saved_model.pbtxt"
    findings, _ = scan(tmp_path, data, name)
    assert "MLS-TF-001" in rules(findings)


def test_a_benign_graph_def_read_as_keras_metadata_or_a_saved_model_raises_nothing(
    tmp_path: Path,
) -> None:
    data = graph_def([tf().node("x", "Placeholder"), tf().const_string("w", "weights")])
    findings, errors = scan(tmp_path, data, "frozen_inference_graph.pb")
    assert findings == []
    assert errors == []


def test_a_string_constant_packed_in_tensor_content_is_read_for_a_checkpoint_path(
    tmp_path: Path,
) -> None:
    classes = tf().classes()
    packed = bytes([len("/etc/passwd")]) + b"/etc/passwd"
    tensor = classes["TensorProto"](dtype=tf().DT_STRING, tensor_content=packed)
    tensor.string_val.append(b"variables/variables")
    constant = tf().node("p", "Const", value=("tensor", []))
    constant.attr["value"].tensor.CopyFrom(tensor)
    data = with_dense(constant, tf().node("r", "RestoreV2", "p", "names", "slices"))
    findings, _ = scan(tmp_path, data)
    assert [f.rule for f in findings] == ["MLS-TF-004"]
    assert "/etc/passwd" in findings[0].evidence


def _table(path: str) -> list[Any]:
    return [
        tf().const_string("asset_path", path),
        tf().node("table", "HashTableV2"),
        tf().node("init", "InitializeTableFromTextFileV2", "table", "asset_path"),
    ]


def test_a_table_initialised_from_a_constant_relative_path_reads_the_working_directory_and_is_high(
    tmp_path: Path,
) -> None:
    findings, _ = scan(tmp_path, with_dense(*_table(".ssh/id_rsa")))
    assert [f.rule for f in findings] == ["MLS-TF-004"]
    assert "working directory" in findings[0].evidence


def test_a_table_path_the_loader_feeds_with_an_asset_is_not_a_constant(tmp_path: Path) -> None:
    from tests.corpus.onnx_keras import pb_bytes, pb_int

    # A TF1 export: asset_file_def (whose tensor_info tf_protos does not declare) names the
    # tensor the loader feeds with assets/vocab.txt.
    saved = tf().classes()["SavedModel"].FromString(with_dense(*_table("vocab.txt")))
    meta = saved.meta_graphs[0].SerializeToString()
    asset = pb_bytes(6, pb_bytes(1, pb_bytes(1, "asset_path:0")) + pb_bytes(2, "vocab.txt"))
    data = pb_int(1, 1) + pb_bytes(2, meta + asset)
    findings, errors = scan(tmp_path, data)
    assert findings == []
    assert errors == []


def test_a_frozen_graph_table_reading_a_relative_path_is_not_reported(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, graph_def(_table("vocab.txt")), "frozen_inference_graph.pb")
    assert findings == []


@pytest.mark.parametrize("builder", ["_frozen_unknown_node_field", "_frozen_versions_first"])
def test_a_frozen_graph_the_real_parser_reads_with_a_pyfunc_is_critical_however_its_fields_bend(
    tmp_path: Path, builder: str
) -> None:
    from tests.corpus import savedmodel

    data = getattr(savedmodel, builder)(tmp_path / "canary")
    assert "PyFunc" in _ops(tf().classes()["GraphDef"].FromString(data))
    findings, _ = scan(tmp_path, data, "frozen_inference_graph.pb")
    assert "MLS-TF-001" in rules(findings)


def test_a_protobuf_descriptor_set_named_pb_is_not_taken_for_a_graph(tmp_path: Path) -> None:
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet()
    descriptor_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    findings, errors = scan(tmp_path, files.SerializeToString(), "descriptors.pb")
    assert findings == []
    assert errors == []


@pytest.mark.parametrize(
    ("builder", "kind", "name"),
    [
        ("_saved_model_behind_filler", "SavedModel", "saved_model.pb"),
        ("_meta_graph_behind_filler", "SavedModel", "saved_model.pb"),
        ("_frozen_behind_filler", "GraphDef", "frozen_inference_graph.pb"),
        ("_metadata_behind_filler", "SavedMetadata", "keras_metadata.pb"),
    ],
)
def test_a_model_behind_an_unknown_field_larger_than_the_identification_head_is_still_scanned(
    tmp_path: Path, builder: str, kind: str, name: str
) -> None:
    from tests.corpus import savedmodel

    data = getattr(savedmodel, builder)(tmp_path / "canary")
    assert len(data) > 4 * 64 * 1024 - 1
    tf().classes()[kind].FromString(data)  # the real parser skips the filler
    findings, _ = scan(tmp_path, data, name)
    assert {"MLS-TF-001", "MLS-KERAS-001"} & rules(findings)


def test_a_graph_is_read_as_keras_metadata_only_under_that_name(tmp_path: Path) -> None:
    from tests.corpus.savedmodel import _metadata_saved_model_polyglot

    data = _metadata_saved_model_polyglot(tmp_path / "canary")
    assert "MLS-KERAS-001" in rules(scan(tmp_path, data, "keras_metadata.pb")[0])
    assert "MLS-KERAS-001" not in rules(scan(tmp_path, data, "saved_model.pb")[0])


def test_a_v1_save_to_a_constant_relative_path_is_high_unless_the_saver_feeds_it(
    tmp_path: Path,
) -> None:
    from tests.corpus.onnx_keras import pb_bytes, pb_int

    save = [
        tf().const_string("save/Const", "model"),
        tf().node("save/Save", "Save", "save/Const", "names", "tensors"),
    ]
    findings, _ = scan(tmp_path, with_dense(*save))
    assert [f.rule for f in findings] == ["MLS-TF-004"]
    # A TF1 export: saver_def names save/Const as the filename tensor the loader feeds.
    saved = tf().classes()["SavedModel"].FromString(with_dense(*save))
    meta = saved.meta_graphs[0].SerializeToString() + pb_bytes(3, pb_bytes(1, "save/Const:0"))
    findings, errors = scan(tmp_path, pb_int(1, 1) + pb_bytes(2, meta))
    assert findings == []
    assert errors == []


@pytest.mark.parametrize("call", ["StatefulPartitionedCall", "PartitionedCall", "by-name"])
def test_a_constant_path_passed_to_a_function_call_reaches_the_ops_in_its_body(
    tmp_path: Path, call: str
) -> None:
    from tests.corpus.onnx_keras import pb_bytes
    from tests.corpus.savedmodel import _function_with_arguments, attr, const_string, node
    from tests.corpus.savedmodel import with_dense as raw_with_dense

    inner = _function_with_arguments(
        "__inference_read_1", ["file"], [node("r", "RestoreV2", "file", "n", "s")]
    )
    outer = _function_with_arguments(
        "__inference_outer_2", ["prefix"], [node("c", "__inference_read_1", "prefix")]
    )
    f = attr("f", pb_bytes(10, pb_bytes(1, "__inference_outer_2")))
    caller = (
        node("c", "__inference_outer_2", "p")
        if call == "by-name"
        else node("c", call, "p", attrs=[f])
    )
    data = raw_with_dense(const_string("p", "/etc/shadow"), caller, functions=[inner, outer])
    findings, _ = scan(tmp_path, data)
    assert [f.rule for f in findings] == ["MLS-TF-004"]
    assert "/etc/shadow" in findings[0].evidence
