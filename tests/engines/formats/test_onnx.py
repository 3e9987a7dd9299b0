"""The ONNX engine: external-data paths everywhere a tensor can sit, domains, metadata."""

from __future__ import annotations

import base64
import os
import pickle
from pathlib import Path

import pytest

from pytest_mlsupply.engines.formats.onnx import scan_onnx
from pytest_mlsupply.engines.scanner import (
    Blob,
    ScanContext,
    ScanError,
    identify_blob,
    new_context,
    scan_file,
)
from pytest_mlsupply.results import Finding, Severity
from tests.corpus.onnx_keras import (
    add_graph,
    attr_graph,
    attr_tensor,
    onnx_function,
    onnx_graph,
    onnx_model,
    onnx_node,
    onnx_tensor,
    pb_bytes,
    pb_int,
    touch_pickle,
)


def scan_bytes(data: bytes) -> tuple[list[Finding], ScanContext]:
    ctx = new_context()
    blob = Blob(subject="model.onnx", name="model.onnx", data=data)
    ident = identify_blob(blob)
    assert ident.format == "onnx", ident
    return scan_onnx(blob, ident, ctx), ctx


def scan_on_disk(directory: Path, data: bytes) -> list[Finding]:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "model.onnx"
    path.write_bytes(data)
    report = scan_file(path, "model.onnx")
    assert not report.errors, report.errors
    return report.findings


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def model_with_location(location: str, **kw: object) -> bytes:
    return onnx_model(add_graph([onnx_tensor("w", location=location, **kw)]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("/etc/passwd", "MLS-ONNX-001"),
        ("../secret", "MLS-ONNX-001"),
        ("data/../../secret", "MLS-ONNX-001"),
        ("data/..", "MLS-ONNX-001"),
        ("C:/Windows/win.ini", "MLS-ONNX-001"),
        ("c:weights.bin", "MLS-ONNX-001"),
        ("\\\\server\\share\\w.bin", "MLS-ONNX-001"),
        ("..\\w.bin", "MLS-ONNX-001"),
        ("data\\w.bin", "MLS-ONNX-002"),
        ("w.bin\x00.txt", "MLS-ONNX-002"),
        ("w\nbin", "MLS-ONNX-002"),
        ("https://example.invalid/w.bin", "MLS-ONNX-002"),
        ("file:w.bin", "MLS-ONNX-002"),
    ],
)
def test_a_location_that_can_leave_the_model_directory_is_high(location: str, rule: str) -> None:
    findings, _ = scan_bytes(model_with_location(location))
    matching = [f for f in findings if f.rule == rule]
    assert matching
    assert matching[0].severity is Severity.HIGH
    assert matching[0].cwe == "CWE-22"
    assert matching[0].location.key_path == "graph.initializer[0]('w')"


@pytest.mark.parametrize(
    "location", ["model.onnx_data", "./data/w.bin", "data..bin", "weights/..hidden", "data/w-1.bin"]
)
def test_a_plain_relative_location_is_not_a_path_finding(location: str) -> None:
    findings, _ = scan_bytes(model_with_location(location))
    assert not rules(findings) & {"MLS-ONNX-001", "MLS-ONNX-002"}


def test_tensors_in_every_place_a_loader_looks_are_walked() -> None:
    def leak(name: str) -> bytes:
        return onnx_tensor(name, location=f"/abs/{name}")

    body = onnx_graph(
        [onnx_node("Constant", [], ["c"], attrs=[attr_tensor("value", leak("in_loop"))])]
    )
    loop = onnx_node("Loop", ["n", "c"], ["v"], attrs=[attr_graph("body", body)])
    scan_branches = pb_bytes(1, "bodies") + pb_bytes(11, onnx_graph([], initializers=[leak("gs")]))
    scan_node = onnx_node("Scan", ["x"], ["s"], attrs=[scan_branches + pb_int(20, 10)])
    tensors_attr = pb_bytes(1, "many") + pb_bytes(10, leak("tensors0")) + pb_int(20, 9)
    custom = onnx_node("Holder", [], ["h"], attrs=[tensors_attr])
    then = onnx_graph([loop], initializers=[leak("then_init")])
    if_node = onnx_node("If", ["c"], ["y"], attrs=[attr_graph("then_branch", then)])
    function = onnx_function(
        "F",
        "local",
        [onnx_node("Constant", [], ["k"], attrs=[attr_tensor("value", leak("in_function"))])],
        ["X"],
        ["Y"],
    )
    graph = onnx_graph([if_node, scan_node, custom], initializers=[leak("top")])
    findings, _ = scan_bytes(onnx_model(graph, functions=[function]))
    named = {f.evidence.split("'")[1] for f in findings if f.rule == "MLS-ONNX-001"}
    assert named == {"in_loop", "gs", "tensors0", "then_init", "in_function", "top"}


def test_the_key_path_names_the_nodes_on_the_way_to_the_tensor() -> None:
    leak = onnx_tensor("t", location="../x")
    then = onnx_graph([onnx_node("Constant", [], ["c"], attrs=[attr_tensor("value", leak)])])
    node = onnx_node("If", ["c"], ["y"], name="gate", attrs=[attr_graph("then_branch", then)])
    findings, _ = scan_bytes(onnx_model(onnx_graph([node])))
    (finding,) = findings
    assert finding.location.key_path == (
        "graph.node[0](If 'gate').attribute[then_branch].g.node[0](Constant)"
        ".attribute[value].t('t')"
    )
    assert finding.location.offset is not None


def test_many_tensors_pointing_at_one_path_read_as_one_finding() -> None:
    tensors = [onnx_tensor(f"w{i}", location="/etc/passwd") for i in range(50)]
    findings, _ = scan_bytes(onnx_model(add_graph(tensors)))
    (finding,) = findings
    assert "and 49 more tensors" in finding.evidence


def test_a_symlinked_data_file_escaping_the_directory_is_high(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "sub").symlink_to(tmp_path)
    findings = scan_on_disk(model_dir, model_with_location("sub/secret.txt"))
    (finding,) = findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-ONNX-003",
        Severity.HIGH,
        "CWE-59",
    )
    assert str(outside) in finding.evidence


def test_a_hugging_face_cache_snapshot_linking_into_blobs_is_fine(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"\x00" * 8)
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (snapshot / "model.onnx_data").symlink_to(Path("../../blobs/abc123"))
    findings = scan_on_disk(snapshot, model_with_location("model.onnx_data", offset=0, length=4))
    assert findings == []


def test_a_missing_external_file_is_medium(tmp_path: Path) -> None:
    (finding,) = scan_on_disk(tmp_path, model_with_location("absent.bin"))
    assert (finding.rule, finding.severity) == ("MLS-ONNX-004", Severity.MEDIUM)


def test_external_data_in_memory_is_not_checked_against_any_directory() -> None:
    findings, _ = scan_bytes(model_with_location("absent.bin"))
    assert findings == []


@pytest.mark.parametrize(
    ("offset", "length", "expected"),
    [
        (-1, 4, "negative"),
        (0, -4, "negative"),
        ("12abc", 4, "not an integer"),
        (0, 1 << 60, "absurdly large"),
        (16, 4, "past the end"),
        (0, 32, "runs past the end"),
    ],
)
def test_invalid_offsets_and_lengths_are_medium(
    tmp_path: Path, offset: object, length: object, expected: str
) -> None:
    (tmp_path / "w.bin").write_bytes(b"\x00" * 8)
    findings = scan_on_disk(tmp_path, model_with_location("w.bin", offset=offset, length=length))
    (finding,) = findings
    assert finding.rule == "MLS-ONNX-005"
    assert expected in finding.evidence


def test_a_valid_external_file_with_valid_bounds_is_clean(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"\x00" * 8)
    assert scan_on_disk(tmp_path, model_with_location("w.bin", offset=4, length=4)) == []


def test_a_custom_operator_domain_is_medium_and_names_its_ops() -> None:
    graph = onnx_graph([onnx_node("Fancy", ["x"], ["y"], domain="com.example.ops")])
    findings, _ = scan_bytes(onnx_model(graph, opsets=[("", 17), ("com.example.ops", 2)]))
    (finding,) = findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-ONNX-006",
        Severity.MEDIUM,
        "CWE-829",
    )
    assert "'Fancy'" in finding.evidence
    assert "opset_import version 2" in finding.evidence


def test_a_custom_domain_declared_only_in_opset_import_is_reported() -> None:
    findings, _ = scan_bytes(onnx_model(add_graph(), opsets=[("", 17), ("ai.onnx.contrib", 1)]))
    assert rules(findings) == {"MLS-ONNX-006"}


@pytest.mark.parametrize("domain", ["", "ai.onnx", "ai.onnx.ml", "com.microsoft"])
def test_standard_and_onnxruntime_domains_are_benign(domain: str) -> None:
    graph = onnx_graph([onnx_node("Op", ["x"], ["y"], domain=domain)])
    findings, _ = scan_bytes(onnx_model(graph, opsets=[(domain, 1)]))
    assert findings == []


def test_ops_defined_by_model_local_functions_are_not_custom_ops() -> None:
    function = onnx_function("Double", "my.fn", [onnx_node("Add", ["X", "X"], ["Y"])], ["X"], ["Y"])
    graph = onnx_graph([onnx_node("Double", ["x"], ["y"], domain="my.fn")])
    model = onnx_model(graph, opsets=[("", 17), ("my.fn", 1)], functions=[function])
    assert scan_bytes(model)[0] == []
    # ...but an op of that domain that no function defines still needs native code.
    graph = onnx_graph([onnx_node("Triple", ["x"], ["y"], domain="my.fn")])
    model = onnx_model(graph, opsets=[("", 17), ("my.fn", 1)], functions=[function])
    assert rules(scan_bytes(model)[0]) == {"MLS-ONNX-006"}


def test_a_pickle_in_metadata_is_scanned_by_the_pickle_engine(tmp_path: Path) -> None:
    payload = base64.b64encode(touch_pickle(tmp_path / "canary")).decode()
    findings, _ = scan_bytes(onnx_model(add_graph(), metadata=[("state", payload)]))
    assert {"MLS-PKL-001", "MLS-ONNX-007"} <= rules(findings)
    assert max(f.severity for f in findings) is Severity.CRITICAL
    assert not (tmp_path / "canary").exists()


def test_a_harmless_pickle_in_metadata_is_only_medium() -> None:
    payload = pickle.dumps({"mean": [0.5, 0.5]}, protocol=4)
    findings, _ = scan_bytes(onnx_model(add_graph(), metadata=[("stats", payload)]))
    assert [(f.rule, f.severity) for f in findings] == [("MLS-ONNX-007", Severity.MEDIUM)]


@pytest.mark.parametrize("value", ["converted by tf2onnx", "(c) 2024 acme", "]] text", "{}"])
def test_ordinary_metadata_text_is_clean(value: str) -> None:
    findings, _ = scan_bytes(onnx_model(add_graph(), metadata=[("note", value)]))
    assert findings == []


def test_executables_and_huge_values_in_metadata_are_medium() -> None:
    metadata = [("bin", b"\x7fELF\x02\x01\x01" + b"\x00" * 32), ("big", b"a" * (1 << 20) + b"b")]
    findings, _ = scan_bytes(onnx_model(add_graph(), metadata=metadata))
    assert sorted(f.rule for f in findings) == ["MLS-ONNX-007", "MLS-ONNX-008"]


# A graph whose first node claims 16 bytes but holds 3: the model's own framing is intact, so
# the file is identified as ONNX, and the damage is only seen when the graph is walked.
BROKEN_GRAPH = pb_bytes(7, b"\x0a\x10abc")


def test_malformed_protobuf_fails_closed() -> None:
    with pytest.raises(ScanError, match="malformed protobuf"):
        scan_bytes(onnx_model(add_graph()) + BROKEN_GRAPH)


def test_findings_made_before_a_parse_error_are_kept_and_the_error_recorded() -> None:
    findings, ctx = scan_bytes(model_with_location("/etc/passwd") + BROKEN_GRAPH)
    assert rules(findings) == {"MLS-ONNX-001"}
    assert len(ctx.errors) == 1
    assert "malformed protobuf" in ctx.errors[0]


def test_graphs_nested_deeper_than_protobuf_allows_fail_closed() -> None:
    graph = onnx_graph([])
    for _ in range(60):
        graph = onnx_graph(
            [onnx_node("If", ["c"], ["y"], attrs=[attr_graph("then_branch", graph)])]
        )
    with pytest.raises(ScanError, match="nested deeper"):
        scan_bytes(onnx_model(graph))


def test_large_raw_data_is_skipped_from_a_memory_mapped_file(tmp_path: Path) -> None:
    big = onnx_tensor("w", dims=(1 << 22,), raw=b"\x00" * (16 << 20))
    findings = scan_on_disk(tmp_path, onnx_model(add_graph([big])))
    assert findings == []


# --- cross-checks with the onnx package, when it is installed ------------------------------


@pytest.mark.needs("onnx")
def test_the_onnx_package_parses_the_hand_encoded_models() -> None:
    import onnx

    leak = onnx_tensor("leak", location="../x")
    function = onnx_function(
        "F",
        "local",
        [onnx_node("Constant", [], ["k"], attrs=[attr_tensor("value", leak)])],
        ["X"],
        ["Y"],
    )
    graph = add_graph([onnx_tensor("w")])
    model = onnx.load_model_from_string(onnx_model(graph, functions=[function]))
    assert model.graph.initializer[0].name == "w"
    assert model.graph.node[0].op_type == "Add"
    assert model.graph.input[0] == onnx.helper.make_tensor_value_info(
        "x", onnx.TensorProto.FLOAT, [1]
    )
    tensor = model.functions[0].node[0].attribute[0].t
    assert tensor.data_location == onnx.TensorProto.EXTERNAL
    assert {e.key: e.value for e in tensor.external_data} == {"location": "../x"}


@pytest.mark.needs("onnx")
def test_every_external_tensor_the_onnx_loader_would_read_is_reported() -> None:
    import onnx
    from onnx import external_data_helper, helper

    def leak(name: str) -> onnx.TensorProto:
        tensor = helper.make_tensor(name, onnx.TensorProto.FLOAT, [1], b"\x00" * 4, raw=True)
        external_data_helper.set_external_data(tensor, location=f"../{name}")
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        return tensor

    body = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=leak("body_const"))],
        "body",
        [],
        [helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [1])],
        initializer=[leak("body_init")],
    )
    if_node = helper.make_node("If", ["cond"], ["y"], then_branch=body, else_branch=body)
    graph = helper.make_graph(
        [if_node, helper.make_node("Constant", [], ["k"], value=leak("top_const"))],
        "main",
        [helper.make_tensor_value_info("cond", onnx.TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        initializer=[leak("top_init")],
    )
    function = helper.make_function(
        "local",
        "F",
        ["X"],
        ["Y"],
        [helper.make_node("Constant", [], ["Y"], value=leak("function_const"))],
        [helper.make_opsetid("", 17)],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], functions=[function]
    )
    expected = {
        t.name
        for t in external_data_helper._get_all_tensors(model)
        if external_data_helper.uses_external_data(t)
    }
    findings, _ = scan_bytes(model.SerializeToString())
    reported = {
        key_path.rsplit("('", 1)[1].rstrip("')")
        for f in findings
        if f.rule == "MLS-ONNX-001" and (key_path := f.location.key_path)
    }
    assert expected == {"body_const", "body_init", "top_const", "top_init", "function_const"}
    assert expected <= reported


def test_no_file_named_after_a_location_is_created_or_opened(tmp_path: Path) -> None:
    before = set(os.listdir(tmp_path))
    scan_on_disk(tmp_path / "m", model_with_location("../../created-by-scan"))
    assert set(os.listdir(tmp_path)) == before | {"m"}


def test_a_compressed_pickle_in_metadata_is_found_by_the_string_analyser(tmp_path: Path) -> None:
    import gzip

    payload = base64.b64encode(gzip.compress(touch_pickle(tmp_path / "canary"))).decode()
    findings, _ = scan_bytes(onnx_model(add_graph(), metadata=[("state", payload)]))
    [outer] = [f for f in findings if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "metadata_props['state']"
    assert "base64+gzip" in outer.evidence
    assert "MLS-PKL-001" in rules(findings)
