"""The CycloneDX ML-BOM: content, validity, determinism, and the XML form."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pytest_mlsupply import __version__
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.content_store import ContentStore, FileIdentity
from pytest_mlsupply.manifest.model import Manifest, ModelDecl, OutputDecl, Policy, Span
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports import bom as bom_module
from pytest_mlsupply.reports.bom import BomError, build_bom, render_bom_json, render_bom_xml
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile, Inventory, ResolvedModel

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.reports.conftest import Scenario

NS = {"c": "http://cyclonedx.org/schema/bom/1.6"}
SERIAL = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def shared(
    make_scenario: Callable[[Path], Scenario], tmp_path_factory: pytest.TempPathFactory
) -> Scenario:
    """One scenario for the read-only tests: validating a BOM costs about half a second."""
    return make_scenario(tmp_path_factory.mktemp("shared"))


@pytest.fixture(scope="module")
def bom(shared: Scenario) -> dict[str, Any]:
    return _bom(shared)


@pytest.fixture(scope="module")
def degraded_bom(
    make_scenario: Callable[[Path], Scenario], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A BOM from a worse run: an unreadable file, no card facts, and a "low" threshold.

    One build serves the tests of all three, each asserting only its own aspect.
    """
    scenario = make_scenario(tmp_path_factory.mktemp("degraded"))
    config = next(f for f in scenario.inventory.models[0].files if f.relpath == "config.json")
    config.path.unlink()
    scenario.results = [r for r in scenario.results if "card" not in r.facts]
    return build_bom(
        scenario.inventory, scenario.items, scenario.results, Severity.LOW, timestamp=WHEN
    )


def _bom(scenario: Scenario, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("serial_number", SERIAL)
    kwargs.setdefault("timestamp", WHEN)
    return build_bom(scenario.inventory, scenario.items, scenario.results, Severity.HIGH, **kwargs)


def _component(bom: dict[str, Any], ref: str) -> dict[str, Any]:
    def walk(components: list[dict[str, Any]]) -> dict[str, Any] | None:
        for component in components:
            if component.get("bom-ref") == ref:
                return component
            found = walk(component.get("components", []))
            if found is not None:
                return found
        return None

    found = walk(bom.get("components", []))
    assert found is not None, f"no component {ref}"
    return found


def _properties(component: dict[str, Any]) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {}
    for prop in component.get("properties", []):
        props.setdefault(prop["name"], []).append(prop["value"])
    return props


def _depends_on(bom: dict[str, Any], ref: str) -> list[str]:
    for dependency in bom["dependencies"]:
        if dependency["ref"] == ref:
            return list(dependency.get("dependsOn", []))
    raise AssertionError(f"{ref} is not in the dependency graph")


def test_the_bom_is_valid_cyclonedx_1_6_with_a_strict_validator(bom: dict[str, Any]) -> None:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom))

    assert error is None
    assert bom["specVersion"] == "1.6"
    assert bom["serialNumber"] == f"urn:uuid:{SERIAL}"
    assert bom["metadata"]["timestamp"] == "2025-01-02T03:04:05+00:00"


def test_metadata_names_the_tool_and_the_project(bom: dict[str, Any]) -> None:
    metadata = bom["metadata"]

    assert metadata["tools"]["components"] == [
        {
            "name": "pytest-mlsupply",
            "purl": f"pkg:pypi/pytest-mlsupply@{__version__}",
            "type": "application",
            "version": __version__,
        }
    ]
    project = metadata["component"]
    assert (project["type"], project["name"], project["version"]) == (
        "application",
        "review-service",
        "1.4.0",
    )
    assert project["bom-ref"] == "project:review-service"


def test_a_hub_model_has_its_purl_revision_license_and_hub_url(
    bom: dict[str, Any], shared: Scenario
) -> None:
    model = _component(bom, "model:sentiment")

    assert model["type"] == "machine-learning-model"
    assert model["name"] == "sentiment"
    assert model["purl"] == f"pkg:huggingface/acme/sentiment-bert@{shared.MODEL_SHA}"
    assert model["version"] == shared.MODEL_SHA
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert model["externalReferences"] == [
        {
            "type": "distribution",
            "url": f"https://huggingface.co/Acme/Sentiment-BERT/tree/{shared.MODEL_SHA}",
        }
    ]
    assert _properties(model)["mlsupply:source"] == [f"hf://Acme/Sentiment-BERT@{shared.MODEL_SHA}"]


def test_a_local_model_has_no_purl_or_version_and_keeps_a_non_spdx_license_by_name(
    bom: dict[str, Any],
) -> None:
    model = _component(bom, "model:legacy")

    assert "purl" not in model
    assert "version" not in model
    assert model["licenses"] == [{"license": {"name": "Acme Internal Licence 1.0"}}]
    assert _properties(model)["mlsupply:source"] == ["models/legacy"]


def test_the_base_model_is_a_pedigree_ancestor_with_a_huggingface_purl(
    bom: dict[str, Any], shared: Scenario
) -> None:
    model = _component(bom, "model:sentiment")

    (ancestor,) = model["pedigree"]["ancestors"]
    assert ancestor["type"] == "machine-learning-model"
    assert ancestor["name"] == "google-bert/bert-base-uncased"
    assert ancestor["purl"] == f"pkg:huggingface/google-bert/bert-base-uncased@{shared.BASE_SHA}"
    assert "pedigree" not in _component(bom, "model:legacy")


def test_a_model_component_carries_the_sha256_of_every_file(bom: dict[str, Any]) -> None:
    model = _component(bom, "model:sentiment")

    files = {f["bom-ref"]: f for f in model["components"]}
    assert sorted(files) == ["file:sentiment/config.json", "file:sentiment/model.safetensors"]
    for ref, component in files.items():
        assert component["type"] == "file"
        assert component["name"] == ref.removeprefix("file:sentiment/")
        assert len(component["hashes"]) == 1
        assert component["hashes"][0]["alg"] == "SHA-256"
    # The config has no reported digest: it is computed from the file.
    config = files["file:sentiment/config.json"]
    expected = hashlib.sha256(b'{"model_type": "bert"}').hexdigest()
    assert config["hashes"][0]["content"] == expected


def test_a_digest_reported_by_a_check_is_used_instead_of_re_reading_the_file(
    bom: dict[str, Any], shared: Scenario
) -> None:
    weights = _component(bom, "file:sentiment/model.safetensors")

    assert weights["hashes"] == [{"alg": "SHA-256", "content": shared.REPORTED_SHA256}]
    assert _properties(weights)["mlsupply:format"] == ["safetensors"]


def test_a_file_no_check_hashed_takes_its_digest_from_the_content_cache_not_a_second_read(
    make_scenario: Callable[[Path], Scenario], tmp_path: Path
) -> None:
    scenario = make_scenario(tmp_path / "project")
    config = next(f for f in scenario.inventory.models[0].files if f.relpath == "config.json")
    # An earlier run's signed entry for this very file (its identity), with a digest the file
    # does not have: only a BOM that asks the cache, and does not read the bytes, reports it.
    store = ContentStore(tmp_path / "store", secret=b"k" * 32, fingerprint="e" * 64)
    from_cache = "cd" * 32
    store.save(FileIdentity.of(config.path, os.stat(config.path)), {"sha256": from_cache})

    cached = _bom(scenario, contents=ContentCache(store))
    uncached = _bom(scenario)

    assert _component(cached, "file:sentiment/config.json")["hashes"] == [
        {"alg": "SHA-256", "content": from_cache}
    ]
    assert store.hits == 1
    # Without a cache the file is read once, by the BOM: its true digest.
    assert _component(uncached, "file:sentiment/config.json")["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(b'{"model_type": "bert"}').hexdigest()}
    ]


def test_a_file_that_cannot_be_read_and_has_no_reported_digest_gets_no_hash(
    degraded_bom: dict[str, Any],
) -> None:
    config = _component(degraded_bom, "file:sentiment/config.json")

    assert "hashes" not in config


def test_each_check_verdict_is_a_property_on_the_component_it_concerns(bom: dict[str, Any]) -> None:
    pickle_file = _properties(_component(bom, "file:legacy/model.pkl"))
    assert pickle_file["mlsupply:check:pickle"] == ["fail"]
    assert pickle_file["mlsupply:findings:pickle"] == ["1"]
    assert pickle_file["mlsupply:check:format"] == ["pass"]
    assert "mlsupply:findings:format" not in pickle_file

    requests = _properties(_component(bom, "library:requests>=2"))
    assert requests["mlsupply:check:vulnerabilities"] == ["warn"]
    assert requests["mlsupply:check:typosquat"] == ["pass"]


def test_each_provenance_claim_verdict_is_a_provenance_property_of_its_model(
    bom: dict[str, Any],
) -> None:
    sentiment = _properties(_component(bom, "model:sentiment"))
    assert sentiment["mlsupply:provenance:model-card"] == ["pass"]
    assert sentiment["mlsupply:provenance:license"] == ["error"]
    # One name per verdict: a claim is not also reported as a check.
    assert not [name for name in sentiment if name.startswith("mlsupply:check:")]
    assert _properties(_component(bom, "model:legacy"))["mlsupply:provenance:model-card"] == [
        "pass"
    ]


def test_every_claim_the_session_made_is_a_property_whatever_the_claim(
    scenario: Scenario,
) -> None:
    # Claims this module knows nothing about (signature, attestation, lineage) are reported the
    # same way: the BOM follows the results, not a list of claim names.
    P = RowKind.PROVENANCE
    tampered = Finding(
        "MLS-SIG-004", Severity.CRITICAL, "provenance", "config.json changed since it was signed"
    )
    scenario.items += [
        PlannedItem(P, "sentiment", ("signature",)),
        PlannedItem(P, "sentiment", ("attestation",)),
        PlannedItem(P, "sentiment", ("lineage",)),
    ]
    scenario.results += [
        CheckResult(P, "sentiment", "signature", findings=[tampered]),
        CheckResult(P, "sentiment", "lineage"),
        # attestation: planned, its worker died -> "not run", never a pass.
    ]

    document = _bom(scenario)

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document)) is None
    sentiment = _properties(_component(document, "model:sentiment"))
    claims = {
        name.removeprefix("mlsupply:provenance:"): values
        for name, values in sentiment.items()
        if name.startswith("mlsupply:provenance:")
    }
    assert claims == {
        "attestation": ["not run"],
        "license": ["error"],
        "lineage": ["pass"],
        "model-card": ["pass"],
        "signature": ["fail"],
    }
    assert sentiment["mlsupply:findings:signature"] == ["1"]
    # A claim the session did not make for a model has no property at all (not a pass).
    legacy = _properties(_component(document, "model:legacy"))
    assert "mlsupply:provenance:signature" not in legacy

    xml = ET.fromstring(
        render_bom_xml(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)
    )
    model = xml.find("c:components/c:component[@bom-ref='model:sentiment']", NS)
    assert model is not None
    names = {p.get("name"): p.text for p in model.findall("c:properties/c:property", NS)}
    assert names["mlsupply:provenance:signature"] == "fail"


def test_a_planned_check_without_a_result_is_not_run_in_the_bom(bom: dict[str, Any]) -> None:
    torch = _properties(_component(bom, "library:torch==2.4.0"))

    assert torch["mlsupply:check:typosquat"] == ["not run"]
    assert torch["mlsupply:check:vulnerabilities"] == ["not run"]


def test_the_threshold_decides_whether_a_finding_fails_its_check(
    bom: dict[str, Any], degraded_bom: dict[str, Any]
) -> None:
    # The low-severity pinning finding warns at "high" and fails at "low".
    for document, verdict in ((bom, "warn"), (degraded_bom, "fail")):
        requests = _properties(_component(document, "library:requests>=2"))
        assert requests["mlsupply:check:vulnerabilities"] == [verdict]


def test_libraries_carry_pypi_purls_and_every_origin(bom: dict[str, Any]) -> None:
    numpy = _component(bom, "library:numpy==2.1.0")
    assert numpy["type"] == "library"
    assert (numpy["name"], numpy["version"]) == ("numpy", "2.1.0")
    assert numpy["purl"] == "pkg:pypi/numpy@2.1.0"
    assert _properties(numpy)["mlsupply:origin"] == ["environment", "requirements.txt:1"]

    requests = _component(bom, "library:requests>=2")
    assert "version" not in requests
    assert requests["purl"] == "pkg:pypi/requests"
    # The requirement is the subject already: no need to repeat it.
    assert "mlsupply:requirement" not in _properties(requests)
    assert [c["bom-ref"] for c in bom["components"]].count("library:numpy==2.1.0") == 1


def test_datasets_are_data_components_with_purl_license_pii_and_data(
    bom: dict[str, Any], shared: Scenario
) -> None:
    reviews = _component(bom, "dataset:reviews")
    assert reviews["type"] == "data"
    assert reviews["purl"] == f"pkg:huggingface/acme/reviews@{shared.DATASET_SHA}"
    assert reviews["licenses"] == [{"license": {"id": "CC-BY-4.0"}}]
    assert _properties(reviews)["mlsupply:pii"] == ["none"]
    assert reviews["data"] == [
        {
            "type": "dataset",
            "name": "reviews",
            "contents": {
                "url": f"https://huggingface.co/datasets/acme/reviews/tree/{shared.DATASET_SHA}"
            },
            "classification": "pii:none",
        }
    ]

    logs = _component(bom, "dataset:support-logs")
    assert "purl" not in logs
    assert "licenses" not in logs
    assert logs["data"] == [
        {
            "type": "dataset",
            "name": "support-logs",
            "classification": "pii:personal",
            "sensitiveData": ["personal data (about identifiable people)"],
            "description": "Support tickets, 2023",
            "governance": {
                "owners": [{"organization": {"name": "Acme Support"}}],
                "custodians": [{"organization": {"name": "Acme Data Ops"}}],
            },
        }
    ]


def test_the_dependency_graph_links_project_models_datasets_and_libraries(
    bom: dict[str, Any],
) -> None:
    assert _depends_on(bom, "project:review-service") == [
        "dataset:support-logs",  # claimed by no model: the project depends on it directly
        "library:numpy==2.1.0",
        "library:requests>=2",
        "library:torch-audio==2.4.0",
        "library:torch==2.4.0",
        "model:legacy",
        "model:sentiment",
    ]
    assert _depends_on(bom, "model:sentiment") == ["dataset:reviews"]
    assert _depends_on(bom, "model:legacy") == []


def test_the_model_card_maps_front_matter_and_sections(bom: dict[str, Any]) -> None:
    card = _component(bom, "model:sentiment")["modelCard"]

    assert card["modelParameters"] == {
        "task": "text-classification",
        "architectureFamily": "bert",
        "modelArchitecture": "BertForSequenceClassification",
        "datasets": [{"ref": "dataset:reviews"}],
        "inputs": [{"format": "string"}],  # from the task
        "outputs": [{"format": "label"}],
    }
    assert card["quantitativeAnalysis"]["performanceMetrics"] == [
        {"type": "accuracy", "value": "0.931", "slice": "reviews-test (acme/reviews)"},
        {"type": "f1", "value": "0.9", "slice": "reviews-test (acme/reviews)"},
    ]
    assert card["considerations"] == {
        "useCases": ["Classifying the sentiment of English product reviews."],
        "technicalLimitations": ["Not evaluated on sarcasm."],
        "ethicalConsiderations": [{"name": "May under-rate reviews written in dialects."}],
    }
    assert card["properties"] == [{"name": "mlsupply:card-source", "value": "card:README.md"}]


def test_a_model_without_card_facts_gets_a_model_card_from_the_manifest(
    degraded_bom: dict[str, Any],
) -> None:
    card = _component(degraded_bom, "model:sentiment")["modelCard"]

    assert card == {
        "modelParameters": {"datasets": [{"ref": "dataset:reviews"}]},
        "properties": [{"name": "mlsupply:card-source", "value": "manifest"}],
    }


def test_the_card_license_is_used_when_the_manifest_declares_none(scenario: Scenario) -> None:
    model = scenario.inventory.models[0]
    models = (
        replace(model, decl=replace(model.decl, license=None)),
        *scenario.inventory.models[1:],
    )
    scenario.inventory = replace(scenario.inventory, models=models)

    sentiment = _component(_bom(scenario), "model:sentiment")

    assert sentiment["licenses"] == [{"license": {"id": "MIT"}}]


def test_components_are_sorted_by_bom_ref(bom: dict[str, Any]) -> None:
    refs = [c["bom-ref"] for c in bom["components"]]
    assert refs == sorted(refs)
    assert refs[0] == "dataset:reviews"


def test_the_same_inputs_in_any_order_give_the_same_bom(
    bom: dict[str, Any], tmp_path: Path, make_scenario: Callable[[Path], Scenario]
) -> None:
    # The shared scenario's content with every sequence reversed; only the paths on disk
    # differ, and no absolute path reaches the BOM.
    reordered = make_scenario(tmp_path)
    reordered.results.reverse()
    reordered.items.reverse()
    inventory = reordered.inventory
    reordered.inventory = replace(
        inventory,
        models=inventory.models[::-1],
        datasets=inventory.datasets[::-1],
        dependencies=inventory.dependencies[::-1],
    )

    assert render_bom_json(_bom(reordered)) == render_bom_json(bom)


def test_two_runs_differ_only_in_serial_number_and_timestamp(
    bom: dict[str, Any], shared: Scenario
) -> None:
    fresh = build_bom(shared.inventory, shared.items, shared.results, Severity.HIGH)

    assert fresh["serialNumber"] != bom["serialNumber"]
    assert fresh["metadata"]["timestamp"] != bom["metadata"]["timestamp"]
    fixed = copy.deepcopy(bom)
    for document in (fresh, fixed):
        del document["serialNumber"]
        del document["metadata"]["timestamp"]
    assert fresh == fixed


def test_rendered_json_is_sorted_and_indented(bom: dict[str, Any]) -> None:
    text = render_bom_json(bom)

    assert text.endswith("}\n")
    assert json.loads(text) == bom
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_an_invalid_bom_raises_bom_error_naming_the_json_path(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bom_module, "_model_card", lambda *args: {"modelParameters": {"task": 42}})

    with pytest.raises(BomError, match=r"modelCard\.modelParameters\.task.*not of type .string."):
        _bom(scenario)


def test_the_xml_bom_is_schema_valid_and_carries_model_card_and_data(scenario: Scenario) -> None:
    text = render_bom_xml(
        scenario.inventory,
        scenario.items,
        scenario.results,
        Severity.HIGH,
        serial_number=SERIAL,
        timestamp=WHEN,
    )

    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<bom xmlns=')
    root = ET.fromstring(text.encode())
    model = root.find("c:components/c:component[@bom-ref='model:sentiment']", NS)
    assert model is not None
    assert model.findtext("c:modelCard/c:modelParameters/c:task", namespaces=NS) == (
        "text-classification"
    )
    assert model.findtext("c:modelCard/c:modelParameters/c:datasets/c:ref", namespaces=NS) == (
        "dataset:reviews"
    )
    metric = model.find("c:modelCard/c:quantitativeAnalysis/c:performanceMetrics/*", NS)
    assert metric is not None
    assert [child.tag.split("}")[1] for child in metric] == ["type", "value", "slice"]
    # modelCard follows the nested file components, as the XSD sequence requires.
    tags = [child.tag.split("}")[1] for child in model]
    assert tags.index("components") < tags.index("modelCard")
    logs = root.find("c:components/c:component[@bom-ref='dataset:support-logs']", NS)
    assert logs is not None
    assert logs.findtext("c:data/c:classification", namespaces=NS) == "pii:personal"
    assert logs.findtext("c:data/c:sensitiveData", namespaces=NS) == (
        "personal data (about identifiable people)"
    )
    owner = "c:data/c:governance/c:owners/c:owner/c:organization/c:name"
    assert logs.findtext(owner, namespaces=NS) == "Acme Support"
    refs = [c.get("bom-ref") for c in root.findall("c:components/c:component", NS)]
    assert refs == sorted(refs)


def test_the_xml_bom_is_validated_against_the_xsd(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Put modelCard's children out of the XSD's sequence order: only validation can notice.
    order = bom_module._XML_TYPES["modelCard"]
    monkeypatch.setitem(bom_module._XML_TYPES, "modelCard", order[::-1])

    with pytest.raises(BomError, match=r"not valid CycloneDX 1\.6 XML"):
        render_bom_xml(scenario.inventory, scenario.items, scenario.results, Severity.HIGH)


def test_a_minimal_manifest_gives_a_valid_bom(tmp_path: Path) -> None:
    # One local model with an unpinned, non-hub base model; no datasets, no dependencies.
    weights = tmp_path / "m" / "weights.bin"
    weights.parent.mkdir()
    weights.write_bytes(b"w")
    decl = ModelDecl(
        name="m",
        span=Span(tmp_path / "mlsupply.yaml", 1, 1),
        path=tmp_path / "m",
        base_model="an in-house base model",
    )
    manifest = Manifest(
        path=tmp_path / "mlsupply.yaml",
        version=1,
        policy=Policy(),
        output=OutputDecl(bom=tmp_path / "bom.json", matrix=tmp_path / "matrix"),
        project_name="tiny",
        models=(decl,),
    )
    artifact = ArtifactFile(model="m", relpath="weights.bin", path=weights, size=1)
    inventory = Inventory(
        manifest=manifest,
        models=(ResolvedModel(decl=decl, root=weights.parent, files=(artifact,)),),
        datasets=(),
        dependencies=(),
    )

    bom = build_bom(inventory, [], [], Severity.HIGH)

    model = _component(bom, "model:m")
    assert "version" not in bom["metadata"]["component"]
    assert model["pedigree"]["ancestors"] == [
        {"name": "an in-house base model", "type": "machine-learning-model"}
    ]
    # A path inside the project is reported relative to the manifest, not as an absolute path.
    assert _properties(model)["mlsupply:source"] == ["m"]
    assert "licenses" not in model
    assert _depends_on(bom, "project:tiny") == ["model:m"]


def test_a_branch_allowed_by_policy_is_recorded_as_the_commit_it_resolved_to(
    scenario: Scenario,
) -> None:
    # policy.require_pins: false let the manifest say @main; the files came from MODEL_SHA.
    pinned = scenario.inventory.models[0]
    on_main = replace(pinned.decl, source=replace(pinned.decl.source, revision="main"))
    models = (
        replace(pinned, decl=on_main, commit=scenario.MODEL_SHA),
        *scenario.inventory.models[1:],
    )
    scenario.inventory = replace(scenario.inventory, models=models)

    model = _component(_bom(scenario), "model:sentiment")

    assert model["version"] == scenario.MODEL_SHA
    assert model["purl"] == f"pkg:huggingface/acme/sentiment-bert@{scenario.MODEL_SHA}"
    assert model["externalReferences"][0]["url"].endswith(f"/tree/{scenario.MODEL_SHA}")
    properties = _properties(model)
    assert properties["mlsupply:source"] == [f"hf://Acme/Sentiment-BERT@{scenario.MODEL_SHA}"]
    assert properties["mlsupply:declared-revision"] == ["main"]


def test_a_pinned_model_gets_no_declared_revision_property(bom: dict[str, Any]) -> None:
    assert "mlsupply:declared-revision" not in _properties(_component(bom, "model:sentiment"))


def test_a_non_default_hub_endpoint_is_the_purls_repository_url_qualifier(
    scenario: Scenario,
) -> None:
    sentiment, legacy = scenario.inventory.models
    mirror = "https://hub.example.com"
    scenario.inventory = replace(
        scenario.inventory,
        models=(replace(sentiment, commit=scenario.MODEL_SHA, endpoint=mirror), legacy),
        hub_endpoint=mirror + "/",
    )

    bom = _bom(scenario)

    model = _component(bom, "model:sentiment")
    assert model["purl"] == (
        f"pkg:huggingface/acme/sentiment-bert@{scenario.MODEL_SHA}?repository_url={mirror}"
    )
    assert model["externalReferences"] == [
        {"type": "distribution", "url": f"{mirror}/Acme/Sentiment-BERT/tree/{scenario.MODEL_SHA}"}
    ]
    reviews = _component(bom, "dataset:reviews")
    assert reviews["purl"] == (
        f"pkg:huggingface/acme/reviews@{scenario.DATASET_SHA}?repository_url={mirror}"
    )
    assert reviews["data"][0]["contents"]["url"] == (
        f"{mirror}/datasets/acme/reviews/tree/{scenario.DATASET_SHA}"
    )
    # The base model is a claim about lineage, not something this run fetched: no qualifier.
    (ancestor,) = model["pedigree"]["ancestors"]
    assert "?" not in ancestor["purl"]


def test_the_default_hub_endpoint_adds_no_qualifier(scenario: Scenario) -> None:
    sentiment, legacy = scenario.inventory.models
    default = "https://huggingface.co/"
    scenario.inventory = replace(
        scenario.inventory,
        models=(replace(sentiment, commit=scenario.MODEL_SHA, endpoint=default), legacy),
        hub_endpoint=default,
    )

    bom = _bom(scenario)

    assert _component(bom, "model:sentiment")["purl"] == (
        f"pkg:huggingface/acme/sentiment-bert@{scenario.MODEL_SHA}"
    )
    assert _component(bom, "dataset:reviews")["purl"] == (
        f"pkg:huggingface/acme/reviews@{scenario.DATASET_SHA}"
    )
