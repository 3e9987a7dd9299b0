"""The Keras engine: the config walker, .keras archives and legacy HDF5 model configs."""

from __future__ import annotations

import base64
import json
import marshal
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines.formats import keras as keras_engine
from pytest_mlsupply.engines.formats.keras import scan_hdf5, scan_keras_archive, walk_keras_config
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
    HDF5_SIGNATURE,
    dense,
    functional,
    input_layer,
    keras2_dense,
    keras2_h5,
    keras2_lambda,
    keras2_model,
    keras3_lambda,
    keras_archive,
    keras_object,
    lambda_bytecode,
    legacy_h5,
    sequential,
    touch_pickle,
    weights_h5,
)


def walk(config: Any) -> list[Finding]:
    blob = Blob(subject="model.keras", name="model.keras", data=b"")
    return walk_keras_config(config, blob=blob, ctx=new_context(), root="config.json")


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def scan_archive(path: Path) -> tuple[list[Finding], ScanContext]:
    ctx = new_context()
    blob = Blob(subject=path.name, name=path.name, path=path)
    return scan_keras_archive(blob, identify_blob(blob), ctx), ctx


def scan_h5_bytes(data: bytes) -> list[Finding]:
    ctx = new_context()
    blob = Blob(subject="model.h5", name="model.h5", data=data)
    ident = identify_blob(blob)
    assert ident.format == "hdf5"
    return scan_hdf5(blob, ident, ctx)


@pytest.fixture(autouse=True)
def no_unmarshalling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine reports bytecode; it must never turn the samples' lambdas back into code.

    Imports unmarshal their own .pyc files, so only the samples' payloads are refused."""
    original = marshal.loads

    def guarded(data: bytes, /, *args: Any, **kwargs: Any) -> Any:
        if b"touch" in bytes(data) and b"__import__" in bytes(data):
            raise AssertionError("the scanner unmarshalled a sample's bytecode")
        return original(data, *args, **kwargs)

    monkeypatch.setattr(marshal, "loads", guarded)


# --- the walker ---------------------------------------------------------------------------------


def test_a_keras3_lambda_is_critical_with_its_size_and_names(tmp_path: Path) -> None:
    (finding,) = walk(sequential([input_layer([8]), keras3_lambda(tmp_path / "c")]))
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-KERAS-001",
        Severity.CRITICAL,
        "CWE-94",
    )
    assert finding.location.key_path == "config.json.config.layers[1].config.function"
    assert "a marshalled code object" in finding.evidence
    assert "__import__" in finding.evidence
    assert "touch" in finding.evidence


def test_a_lambda_three_models_deep_is_found(tmp_path: Path) -> None:
    inner = sequential([keras3_lambda(tmp_path / "c", "deep")], "inner")
    config = sequential([functional([input_layer([8]), functional([input_layer([8]), inner])])])
    (finding,) = walk(config)
    assert finding.rule == "MLS-KERAS-001"
    assert finding.location.key_path is not None
    assert finding.location.key_path.count(".layers[") == 4


def test_a_configs_nested_thousands_deep_is_walked_without_recursion(tmp_path: Path) -> None:
    config: dict[str, Any] = keras3_lambda(tmp_path / "c")
    for _ in range(5000):
        config = keras_object("TimeDistributed", {"layer": config})
    assert rules(walk(config)) == {"MLS-KERAS-001"}


def test_a_serialized_lambda_anywhere_is_critical(tmp_path: Path) -> None:
    code = lambda_bytecode(tmp_path / "c")
    config = {"metrics": [{"class_name": "__lambda__", "config": {"value": [code, None, None]}}]}
    (finding,) = walk(config)
    assert finding.rule == "MLS-KERAS-001"
    assert finding.location.key_path == "config.json.metrics[0]"


def test_a_keras2_lambda_with_a_bytecode_list_is_critical(tmp_path: Path) -> None:
    (finding,) = walk(keras2_lambda(tmp_path / "c"))
    assert finding.rule == "MLS-KERAS-001"
    assert finding.location.key_path == "config.json.config.function"


def test_a_keras2_lambda_output_shape_function_is_critical(tmp_path: Path) -> None:
    layer = keras2_lambda(tmp_path / "c")
    layer["config"]["function"] = "my_function"
    layer["config"]["function_type"] = "function"
    layer["config"]["output_shape"] = [lambda_bytecode(tmp_path / "c"), None, None]
    layer["config"]["output_shape_type"] = "lambda"
    assert [f.location.key_path for f in walk(layer)] == ["config.json.config.output_shape"]


def test_a_lambda_calling_a_named_function_is_medium() -> None:
    layer = {
        "class_name": "Lambda",
        "config": {"function": "scale", "function_type": "function", "module": "mypkg"},
    }
    (finding,) = walk(layer)
    assert (finding.rule, finding.severity) == ("MLS-KERAS-002", Severity.MEDIUM)


@pytest.mark.parametrize("module", ["os", "builtins", "subprocess", "__main__", "kerasx.layers"])
def test_a_module_outside_keras_is_high(module: str) -> None:
    (finding,) = walk(keras_object("function", "system", module=module))
    assert (finding.rule, finding.severity) == ("MLS-KERAS-003", Severity.HIGH)
    assert repr(module) in finding.evidence


@pytest.mark.parametrize(
    "module",
    [
        "keras",
        "keras.layers",
        "keras.src.models.functional",
        "keras_hub.src.models.bert.bert_backbone",
        "keras_nlp.models",
        "tensorflow.keras.layers",
        "tf_keras.layers",
    ],
)
def test_keras_modules_are_fine(module: str) -> None:
    assert walk(keras_object("Dense", {"units": 1}, module=module)) == []


def test_a_module_key_outside_a_serialized_object_is_not_an_import() -> None:
    assert walk({"config": {"module": "os", "units": 3}}) == []


def test_a_registered_name_from_another_package_is_medium() -> None:
    obj = keras_object("MyLayer", {}, module="keras.layers", registered_name="Custom>MyLayer")
    (finding,) = walk(obj)
    assert (finding.rule, finding.severity) == ("MLS-KERAS-008", Severity.MEDIUM)
    hub = keras_object("Bert", {}, module="keras_hub.models", registered_name="keras_hub>Bert")
    assert walk(hub) == []


def test_a_torch_module_wrapper_is_critical_and_its_pickle_is_scanned(tmp_path: Path) -> None:
    config = {"name": "wrap", "module": base64.b64encode(touch_pickle(tmp_path / "c")).decode()}
    findings = walk(keras_object("TorchModuleWrapper", config))
    assert {"MLS-KERAS-004", "MLS-PKL-001"} <= rules(findings)
    pickle_finding = next(f for f in findings if f.rule == "MLS-PKL-001")
    assert pickle_finding.location.member == "config.json.config.module"


def test_a_tfsm_layer_is_high_and_names_its_path() -> None:
    (finding,) = walk(keras_object("TFSMLayer", {"filepath": "/srv/models/x"}))
    assert (finding.rule, finding.severity) == ("MLS-KERAS-005", Severity.HIGH)
    assert "/srv/models/x" in finding.evidence


def test_get_file_and_urls_are_high() -> None:
    fetch = keras_object("function", "get_file", module="keras.utils")
    assert rules(walk(fetch)) == {"MLS-KERAS-006"}
    assert rules(walk({"vocabulary": "hf://org/repo/vocab.txt"})) == {"MLS-KERAS-006"}
    assert rules(walk({"path": "keras.utils.get_file('x', origin=o)"})) == {"MLS-KERAS-006"}


def test_switching_safe_mode_off_is_high() -> None:
    assert rules(walk({"config": {"safe_mode": False}})) == {"MLS-KERAS-007"}
    assert walk({"config": {"safe_mode": True}}) == []
    switch = keras_object("function", "enable_unsafe_deserialization", module="keras.config")
    assert rules(walk(switch)) == {"MLS-KERAS-007"}


def test_a_nested_model_load_is_high() -> None:
    loader = keras_object("function", "load_model", module="keras.saving")
    assert rules(walk(loader)) == {"MLS-KERAS-009"}


def test_a_realistic_clean_config_has_no_findings() -> None:
    config = sequential([input_layer([8]), dense(8), dense(2, "out", activation="softmax")])
    assert walk(config) == []
    assert walk(functional([input_layer([8]), dense(4)])) == []


def test_repeated_findings_are_capped_per_rule(tmp_path: Path) -> None:
    layers = [keras3_lambda(tmp_path / "c", f"l{i}") for i in range(80)]
    assert len(walk(sequential(layers))) == 50


# --- .keras archives ------------------------------------------------------------------------


def test_an_archive_is_identified_and_its_config_walked(tmp_path: Path) -> None:
    path = keras_archive(tmp_path, sequential([keras3_lambda(tmp_path / "c")]))
    report = scan_file(path, "model.keras")
    assert report.formats[""] == "keras-v3"
    assert report.formats["model.weights.h5"] == "hdf5"
    assert rules(report.findings) == {"MLS-KERAS-001"}
    assert report.errors == []


def test_every_duplicate_config_entry_is_scanned(tmp_path: Path) -> None:
    path = keras_archive(tmp_path, sequential([dense(2)]))
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(path, "a") as archive:
        archive.writestr("config.json", json.dumps(sequential([keras3_lambda(tmp_path / "c")])))
    findings, _ = scan_archive(path)
    # The duplicate name is itself reported by the zip engine (a scanner-evasion shape).
    assert rules(findings) == {"MLS-KERAS-001", "MLS-ARC-006"}


def test_other_members_are_scanned_through_the_scanner(tmp_path: Path) -> None:
    extra = {"assets/state.pkl": touch_pickle(tmp_path / "c")}
    path = keras_archive(tmp_path, sequential([dense(2)]), extra)
    findings, ctx = scan_archive(path)
    assert "MLS-PKL-001" in rules(findings)
    assert ctx.formats["assets/state.pkl"] == "pickle"


def test_an_archive_without_config_or_with_broken_json_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", weights_h5())
    with pytest.raises(ScanError, match=r"without config\.json"):
        scan_archive(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", '{"class_name": ')
        archive.writestr("metadata.json", "{}")
    with pytest.raises(ScanError, match="not valid JSON"):
        scan_archive(path)


def test_an_oversized_config_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras_engine, "_MAX_CONFIG_BYTES", 100)
    path = keras_archive(tmp_path, sequential([dense(2)]))
    with pytest.raises(ScanError, match="too large to analyse"):
        scan_archive(path)


# --- legacy HDF5 --------------------------------------------------------------------------------


def test_a_lambda_in_a_legacy_model_config_is_critical(tmp_path: Path) -> None:
    data = keras2_h5([keras2_dense(4, "d"), keras2_lambda(tmp_path / "c")])
    (finding,) = scan_h5_bytes(data)
    assert finding.rule == "MLS-KERAS-001"
    assert finding.location.key_path == "model_config.config.layers[1].config.function"
    assert finding.location.offset == data.find(b'{"class_name"')


def test_a_lambda_loss_in_the_training_config_is_found(tmp_path: Path) -> None:
    loss = {"class_name": "__lambda__", "config": {"value": [lambda_bytecode(tmp_path / "c")]}}
    training = json.dumps({"loss": loss, "metrics": []}).encode()
    data = legacy_h5(
        {"model_config": keras2_model([keras2_dense(1, "d")]), "training_config": training}
    )
    (finding,) = scan_h5_bytes(data)
    assert finding.location.key_path == "training_config.loss"


def test_a_config_stored_away_from_its_attribute_name_is_still_found(tmp_path: Path) -> None:
    # An attribute layout the reader does not follow, with the JSON far away and indented.
    config = json.dumps(json.loads(keras2_model([keras2_lambda(tmp_path / "c")])), indent=2)
    data = HDF5_SIGNATURE + b"model_config\x00\x00\x00\x00" + b"\x00" * 10_000 + config.encode()
    assert rules(scan_h5_bytes(data)) == {"MLS-KERAS-001"}


def test_a_decoy_after_the_name_does_not_hide_the_attribute_value(tmp_path: Path) -> None:
    # The real value hides its keys behind JSON escapes, so only reading the attribute message
    # finds it; a decoy config follows a second copy of the name.
    real = keras2_model([keras2_lambda(tmp_path / "c")]).replace(
        b'"class_name"', b'"class\\u005fname"'
    )
    decoy = keras2_model([keras2_dense(1, "decoy")])
    data = legacy_h5({"model_config": real}) + b"model_config\x00" + decoy
    assert rules(scan_h5_bytes(data)) == {"MLS-KERAS-001"}


def test_a_weights_only_file_has_no_findings() -> None:
    data = legacy_h5({"backend": b"tensorflow", "keras_version": b"2.12.0"})
    assert scan_h5_bytes(data) == []
    assert scan_h5_bytes(weights_h5()) == []


def test_a_model_config_whose_json_cannot_be_found_fails_closed() -> None:
    data = legacy_h5({"keras_version": b"2.12.0", "model_config": b"\x1f\x8b compressed?"})
    with pytest.raises(ScanError, match="model_config"):
        scan_h5_bytes(data)


def test_a_truncated_model_config_fails_closed() -> None:
    data = HDF5_SIGNATURE + b"model_config\x00\x00\x00\x00" + b'{"class_name": "Sequential", "con'
    with pytest.raises(ScanError, match="model_config"):
        scan_h5_bytes(data)


@pytest.mark.needs("h5py")
@pytest.mark.parametrize("storage", ["fixed-bytes", "variable-str", "large-latest"])
def test_real_hdf5_files_written_by_h5py_are_read(tmp_path: Path, storage: str) -> None:
    import h5py
    import numpy as np

    layers = [keras2_dense(4, f"dense_{i}") for i in range(400 if storage == "large-latest" else 1)]
    layers.append(keras2_lambda(tmp_path / "canary"))
    config = keras2_model(layers)
    path = tmp_path / "model.h5"
    with h5py.File(path, "w", libver="latest" if storage == "large-latest" else "earliest") as f:
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = config if storage != "variable-str" else config.decode()
        f.create_group("model_weights").create_dataset("kernel", data=np.zeros((64, 64)))
    report = scan_file(path, "model.h5")
    assert report.errors == []
    assert rules(report.findings) == {"MLS-KERAS-001"}


@pytest.mark.needs("h5py")
@pytest.mark.parametrize("kind", ["fixed", "variable", "dense"])
def test_the_attribute_message_is_read_even_when_the_json_hides_its_keys(
    tmp_path: Path, kind: str
) -> None:
    # JSON escapes hide "class_name" from a byte search; json.loads (and Keras) read it fine.
    import h5py
    import numpy as np

    layers = [keras2_dense(4, f"d{i}") for i in range(400 if kind == "dense" else 1)]
    text = keras2_model([*layers, keras2_lambda(tmp_path / "canary")]).decode()
    text = text.replace('"class_name"', '"class\\u005fname"')
    assert json.loads(text)["class_name"] == "Sequential"
    path = tmp_path / "model.h5"
    # Over 64 KiB, a fixed-length attribute only fits in dense (fractal heap) storage.
    with h5py.File(path, "w", libver="latest" if kind == "dense" else "earliest") as f:
        f.attrs["model_config"] = np.bytes_(text.encode()) if kind != "variable" else text
    report = scan_file(path, "model.h5")
    assert report.errors == []
    assert rules(report.findings) == {"MLS-KERAS-001"}
    (finding,) = report.findings
    assert finding.location.offset == path.read_bytes().find(text.encode())


@pytest.mark.needs("h5py")
def test_a_real_weights_only_hdf5_file_is_clean(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.12.0"
        f.attrs["layer_names"] = [b"dense"]
        f.create_group("dense").create_dataset("kernel", data=np.ones((16, 16)))
    report = scan_file(path, "weights.h5")
    assert (report.findings, report.errors) == ([], [])


def test_an_encoded_pickle_in_any_config_string_is_found_with_its_key_path() -> None:
    import base64
    import gzip

    from tests.corpus import system_call

    payload = base64.b64encode(gzip.compress(system_call(Path("/nonexistent")))).decode()
    config = {"class_name": "Dense", "config": {"name": "dense", "notes": payload}}
    [outer] = [f for f in walk(config) if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "config.json.config.notes"


def test_a_pickle_the_keras_walk_scans_is_not_reported_twice(tmp_path: Path) -> None:
    config = {"name": "wrap", "module": base64.b64encode(touch_pickle(tmp_path / "c")).decode()}
    findings = walk(keras_object("TorchModuleWrapper", config))
    assert "MLS-ENC-001" not in rules(findings)
    assert len([f for f in findings if f.rule == "MLS-PKL-001"]) == 1
