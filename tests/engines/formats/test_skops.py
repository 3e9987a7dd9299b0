"""The skops engine: every type the schema tree names, judged by the pickle allowlist; the
other members scanned by the zip machinery; real ``skops.io.dump`` output scans clean."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_mlsupply.engines.blob import ScanPolicy
from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.scanner import Blob, identify_blob, scan_file
from pytest_mlsupply.results import Finding, Severity
from tests.corpus import system_call
from tests.corpus.skops_files import call_node, dict_node, estimator, json_node, skops_file


def scan(
    tmp_path: Path, data: bytes, policy: ScanPolicy | None = None
) -> tuple[list[Finding], list[str]]:
    path = tmp_path / "model.skops"
    path.write_bytes(data)
    report = scan_file(path, path.name, policy)
    return report.findings, report.errors


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def test_a_skops_file_is_identified_by_its_schema_not_its_name() -> None:
    data = skops_file(estimator("sklearn.linear_model._logistic", "LogisticRegression"))
    assert identify_blob(Blob(subject="x", name="w.bin", data=data)).format == "skops"


def test_a_dangerous_callable_is_critical_with_its_key_path(tmp_path: Path) -> None:
    tree = estimator("sklearn.linear_model._logistic", "LogisticRegression",
                     C=call_node("builtins", "eval", "1+1"))  # fmt: skip
    findings, _ = scan(tmp_path, skops_file(tree))
    (hit,) = by_rule(findings, "MLS-SKOPS-001")
    assert hit.severity is Severity.CRITICAL
    assert "builtins.eval" in hit.title
    assert hit.location.key_path is not None
    assert ".C" in hit.location.key_path


def test_an_unknown_type_is_high_under_default_deny(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, skops_file(estimator("mypkg.models", "Custom")))
    (hit,) = by_rule(findings, "MLS-SKOPS-002")
    assert hit.severity is Severity.HIGH
    assert "mypkg.models.Custom" in hit.title


def test_the_pickle_policy_lifts_an_unknown_type_but_never_a_dangerous_one(tmp_path: Path) -> None:
    tree = estimator("mypkg.models", "Custom", x=call_node("os", "system", "id"))
    policy = ScanPolicy(pickle=PicklePolicy(allow=("mypkg.*", "os.*")))
    findings, _ = scan(tmp_path, skops_file(tree), policy)
    assert not by_rule(findings, "MLS-SKOPS-002")
    assert by_rule(findings, "MLS-SKOPS-001")


def test_an_unknown_type_is_low_under_the_denylist_policy(tmp_path: Path) -> None:
    policy = ScanPolicy(pickle=PicklePolicy(mode="denylist"))
    findings, _ = scan(tmp_path, skops_file(estimator("mypkg.models", "Custom")), policy)
    (hit,) = by_rule(findings, "MLS-SKOPS-002")
    assert hit.severity is Severity.LOW


def test_a_method_is_judged_as_the_attribute_path_it_reaches(tmp_path: Path) -> None:
    owner = estimator("sklearn.linear_model._logistic", "LogisticRegression")
    method = {"__class__": "LogisticRegression", "__module__": "sklearn.linear_model._logistic",
              "__loader__": "MethodNode", "content": {"func": "__reduce_ex__", "obj": owner}}  # fmt: skip
    findings, _ = scan(tmp_path, skops_file(estimator("sklearn.pipeline", "Pipeline", m=method)))
    assert any("__reduce_ex__" in f.title for f in findings)


def test_repeated_types_are_reported_once_with_a_count(tmp_path: Path) -> None:
    tree = estimator("sklearn.pipeline", "Pipeline",
                     **{f"s{i}": call_node("os", "system", "id") for i in range(4)})  # fmt: skip
    findings, _ = scan(tmp_path, skops_file(tree))
    (hit,) = by_rule(findings, "MLS-SKOPS-001")
    assert "3 more nodes" in hit.evidence


def test_a_schema_that_is_not_json_fails_closed(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", "{ not json")
    findings, errors = scan(tmp_path, buffer.getvalue())
    assert by_rule(findings, "MLS-SKOPS-003")
    assert errors


def test_a_pickle_among_the_members_is_scanned_by_the_zip_machinery(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    buffer = io.BytesIO()
    np.save(buffer, np.array([1, 2, 3]))
    members = {"1.npy": buffer.getvalue(), "extra.pkl": system_call(canary)}
    findings, _ = scan(tmp_path, skops_file(estimator("sklearn.pipeline", "Pipeline"), members))
    assert any(f.rule == "MLS-PKL-001" and f.location.member == "extra.pkl" for f in findings)


def test_a_duplicate_schema_is_scanned_in_every_copy(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "schema.json", '{"__class__": "Pipeline", "__module__": "sklearn.pipeline"}'
        )
        with pytest.warns(UserWarning, match="Duplicate name"):
            archive.writestr("schema.json", '{"__class__": "system", "__module__": "os"}')
    findings, _ = scan(tmp_path, buffer.getvalue())
    assert by_rule(findings, "MLS-SKOPS-001")


def test_json_values_are_data_not_types(tmp_path: Path) -> None:
    tree = estimator("sklearn.pipeline", "Pipeline", memory=json_node("os.system"))
    findings, _ = scan(tmp_path, skops_file(tree))
    assert findings == []


@pytest.mark.needs("skops", "sklearn")
def test_real_skops_dumps_of_fitted_estimators_scan_clean(tmp_path: Path) -> None:
    import skops.io as sio
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    x = rng.rand(40, 3)
    y = (x[:, 0] > 0.5).astype(int)
    models = {
        "linear": LogisticRegression().fit(x, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "boosting": GradientBoostingClassifier(n_estimators=3).fit(x, y),
    }
    for name, model in models.items():
        path = tmp_path / f"{name}.skops"
        sio.dump(model, path)
        report = scan_file(path, path.name)
        assert report.formats[""] == "skops", name
        assert report.findings == [], (name, [f.render() for f in report.findings])
        assert report.errors == [], name


@pytest.mark.needs("skops")
def test_skops_agrees_the_scanned_tree_names_the_types_it_would_import(tmp_path: Path) -> None:
    import skops.io as sio

    path = tmp_path / "m.skops"
    path.write_bytes(
        skops_file(estimator("sklearn.pipeline", "Pipeline", x=call_node("os", "system", "id")))
    )
    assert "os.system" in sio.get_untrusted_types(file=path)
    findings, _ = scan(tmp_path, path.read_bytes())
    assert "os.system" in by_rule(findings, "MLS-SKOPS-001")[0].title


def test_a_random_generator_naming_another_numpy_random_callable_is_reported(
    tmp_path: Path,
) -> None:
    def generator(name: str) -> dict[str, object]:
        state = {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                 "content": {"bit_generator": json_node(name)}}  # fmt: skip
        return {"__class__": "Generator", "__module__": "numpy.random._generator",
                "__loader__": "RandomGeneratorNode",
                "content": {"bit_generator": state, "seed_seq": json_node(None)}}  # fmt: skip

    findings, _ = scan(
        tmp_path, skops_file(estimator("sklearn.pipeline", "Pipeline", g=generator("PCG64")))
    )
    assert not any("numpy.random.PCG64" in f.title for f in findings)
    findings, _ = scan(
        tmp_path, skops_file(estimator("sklearn.pipeline", "Pipeline", g=generator("seed")))
    )
    assert any("numpy.random.seed" in f.title for f in findings)


def test_an_encrypted_schema_keeps_the_members_findings_and_fails_closed(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    data = bytearray(skops_file(estimator("sklearn.pipeline", "Pipeline"),
                                {"extra.pkl": system_call(canary)}))  # fmt: skip
    # Set the encryption flag of schema.json in its central directory record.
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(b"schema.json"))
    data[at + 8] |= 0x01
    findings, errors = scan(tmp_path, bytes(data))
    assert any(f.rule == "MLS-PKL-001" for f in findings)
    assert errors


def test_a_protocol_0_function_node_is_judged_by_the_module_path_it_imports(
    tmp_path: Path,
) -> None:
    from tests.corpus.review_skops import key_called

    function = {"__class__": "int", "__module__": "builtins", "__loader__": "FunctionNode",
                "content": {"module_path": "os", "function": "system"}}  # fmt: skip
    findings, _ = scan(tmp_path, skops_file(key_called(function, "id")))
    (hit,) = by_rule(findings, "MLS-SKOPS-001")
    assert "os.system" in hit.title
    assert hit.location.key_path is not None
    assert hit.location.key_path.endswith(".content")


def test_a_protocol_0_bit_generator_name_is_judged_as_a_numpy_random_callable(
    tmp_path: Path,
) -> None:
    tree = {"__class__": "Generator", "__module__": "numpy.random._generator",
            "__loader__": "RandomGeneratorNode",
            "content": {"bit_generator": {"bit_generator": "set_state", "state": {}}}}  # fmt: skip
    findings, _ = scan(tmp_path, skops_file(tree))
    assert any("numpy.random.set_state" in f.title for f in findings)
    assert max(f.severity for f in findings) >= Severity.HIGH


def test_a_schema_member_name_cut_at_a_nul_byte_is_still_the_schema(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "schema.json#", json.dumps(dict(call_node("os", "system", "id"), protocol=2))
        )
    data = buffer.getvalue().replace(b"schema.json#", b"schema.json\x00")
    assert identify_blob(Blob(subject="x", name="m.zip", data=data)).format == "skops"
    findings, _ = scan(tmp_path, data)
    (hit,) = by_rule(findings, "MLS-SKOPS-001")
    assert "os.system" in hit.title


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-16"),
        lambda text: text.encode("utf-16-be"),
        lambda text: text.encode("utf-32"),
        lambda text: ("\ufeff" + text).encode(),
        lambda text: (" \n" * 4000 + text).encode(),
    ],
    ids=["utf-16", "utf-16-be", "utf-32", "utf-8-bom", "whitespace"],
)
def test_a_schema_json_loads_reads_is_claimed_whatever_its_encoding_or_leading_space(
    tmp_path: Path, encode: Any
) -> None:
    from tests.corpus.review_skops import encoded_schema

    data = encoded_schema(tmp_path / "canary", encode)
    assert identify_blob(Blob(subject="x", name="m.zip", data=data)).format == "skops"
    findings, _ = scan(tmp_path, data)
    assert by_rule(findings, "MLS-SKOPS-001")


def test_a_zip_whose_schema_json_is_not_an_object_is_not_skops() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", '["a", "list"]')
    assert identify_blob(Blob(subject="x", name="m.zip", data=buffer.getvalue())).format != "skops"


def _partial_node(func: dict[str, Any]) -> dict[str, Any]:
    def empty(loader: str, cls: str) -> dict[str, Any]:
        return {"__class__": cls, "__module__": "builtins", "__loader__": loader, "content": []}

    return {"__class__": "partial", "__module__": "functools", "__loader__": "PartialNode",
            "content": {"func": func, "args": empty("TupleNode", "tuple"),
                        "kwds": dict_node(), "namespace": dict_node()}}  # fmt: skip


def test_a_partial_is_judged_by_the_function_it_wraps_not_as_functools_partial(
    tmp_path: Path,
) -> None:
    wrapped = {"__class__": "sqrt", "__module__": "numpy", "__loader__": "FunctionNode"}
    findings, _ = scan(tmp_path, skops_file(_partial_node(wrapped)))
    assert not [f for f in findings if "functools.partial" in f.title]
    policy = ScanPolicy(pickle=PicklePolicy(allow=("numpy.sqrt",)))
    assert scan(tmp_path, skops_file(_partial_node(wrapped)), policy)[0] == []


def test_a_partial_around_os_system_is_critical(tmp_path: Path) -> None:
    wrapped = {"__class__": "system", "__module__": "os", "__loader__": "FunctionNode"}
    findings, _ = scan(tmp_path, skops_file(_partial_node(wrapped)))
    (hit,) = by_rule(findings, "MLS-SKOPS-001")
    assert "os.system" in hit.title


def test_a_class_trusted_only_when_re_created_is_high_when_a_loader_calls_it(
    tmp_path: Path,
) -> None:
    called = call_node("transformers.training_args", "TrainingArguments", "/tmp/out")
    findings, _ = scan(tmp_path, skops_file(called))
    (hit,) = by_rule(findings, "MLS-SKOPS-004")
    assert hit.severity is Severity.HIGH
    assert "transformers.training_args.TrainingArguments" in hit.title


def test_a_class_trusted_only_when_re_created_is_clean_as_an_object_node(tmp_path: Path) -> None:
    tree = estimator("transformers.training_args", "TrainingArguments", output_dir=json_node("o"))
    assert scan(tmp_path, skops_file(tree))[0] == []
