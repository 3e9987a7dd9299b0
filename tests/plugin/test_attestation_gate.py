"""`pytest --mlsupply` end to end with an attested model: the attestation claim gates the run."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.attestations import (
    BUILD_TYPE,
    BUILDER,
    COMMIT,
    REPOSITORY,
    envelope,
    file_subjects,
    make_keys,
    slsa_v1,
    statement,
)
from tests.conftest import Project, write_model

LINE = "provenance[[]tiny::attestation]"  # ([[] is fnmatch for a literal "[")
DECLARATION = f"    attestation: {{keys: [keys/builder.pub], source_repository: {REPOSITORY}}}"


def attest_project(project: Project) -> None:
    keys = make_keys(project.root / "keys", "builder")
    document = statement(file_subjects(project.model_dir))
    (project.model_dir / "attestation.intoto.jsonl").write_bytes(
        envelope(document, keys["builder"][0]) + b"\n"
    )
    project.default_manifest(extra_model_keys=DECLARATION)


def test_an_attested_model_passes_and_the_bom_records_its_build(
    pytester: pytest.Pytester, project: Project
) -> None:
    attest_project(project)
    envelope_file = project.model_dir / "attestation.intoto.jsonl"

    result = pytester.runpytest("--mlsupply", "-v", "--mlsupply-bom-xml", "build/bom.xml")

    result.stdout.fnmatch_lines([f"*{LINE}*PASSED*"])
    assert result.ret == 0
    text = (project.root / "build" / "ml-bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    (model,) = [c for c in json.loads(text)["components"] if c["name"] == "tiny"]
    (reference,) = [r for r in model["externalReferences"] if r["type"] == "attestation"]
    assert reference["url"] == "models/tiny/attestation.intoto.jsonl"
    assert reference["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(envelope_file.read_bytes()).hexdigest()}
    ]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlsupply:provenance:attestation"] == "pass"
    assert properties["mlsupply:attestation:builder"] == BUILDER
    assert properties["mlsupply:attestation:build-type"] == BUILD_TYPE
    assert properties["mlsupply:attestation:source-repository"] == REPOSITORY
    assert properties["mlsupply:attestation:source-commit"] == COMMIT
    parameters = json.loads(properties["mlsupply:attestation:build-parameters"])
    assert parameters["workflow"]["repository"] == REPOSITORY
    # The XML form (validated against the 1.6 XSD before it is written) carries it too.
    xml = ET.parse(project.root / "build" / "bom.xml").getroot()
    types = [e.get("type") for e in xml.iter("{http://cyclonedx.org/schema/bom/1.6}reference")]
    assert "attestation" in types


def test_a_weight_file_changed_after_the_build_fails_the_gate_naming_it(
    pytester: pytest.Pytester, project: Project
) -> None:
    attest_project(project)
    write_model(project.model_dir, seed=3)
    project.default_manifest(extra_model_keys=DECLARATION)  # re-pin: only the claim speaks

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines(
        [f"*{LINE}*FAILED*", "*MLS-ATT-004*model.safetensors differs from its attestation*"]
    )
    assert result.ret == 1


def test_require_attestation_fails_a_model_that_declares_none(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="policy: {require_attestation: true}")

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE}*FAILED*", "*MLS-ATT-001*model has no attestation*"])
    assert result.ret == 1


def test_control_characters_a_builder_signed_do_not_break_the_xml_bom(
    pytester: pytest.Pytester, project: Project
) -> None:
    keys = make_keys(project.root / "keys", "builder")
    document = statement(file_subjects(project.model_dir), slsa_v1(builder="https://b\x01\x1b/x"))
    (project.model_dir / "attestation.intoto.jsonl").write_bytes(
        envelope(document, keys["builder"][0])
    )
    project.default_manifest(extra_model_keys=DECLARATION)

    result = pytester.runpytest("--mlsupply", "--mlsupply-bom-xml", "build/bom.xml")

    assert result.ret == 0
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c["name"] == "tiny"]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlsupply:attestation:builder"] == "https://b /x"
    assert (project.root / "build" / "bom.xml").is_file()


def test_under_xdist_the_controllers_bom_records_the_attestation_a_worker_verified(
    pytester: pytest.Pytester, project: Project
) -> None:
    attest_project(project)

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2")

    assert result.ret == 0
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c["name"] == "tiny"]
    assert [r["type"] for r in model["externalReferences"]] == ["attestation"]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlsupply:provenance:attestation"] == "pass"
    assert properties["mlsupply:attestation:source-commit"] == COMMIT
