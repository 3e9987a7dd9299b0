"""The compiled BOM validator agrees with cyclonedx-python-lib's JsonStrictValidator.

``JsonStrictValidator`` is the reference: every BOM our reports write must pass both, and every
corruption below must fail both. It takes seconds to import and to validate, so it is built once
for the module.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pytest_mlsupply.reports import bom_schema
from pytest_mlsupply.reports.bom import BomError, build_bom, render_bom_xml, validate_bom_json
from pytest_mlsupply.reports.bom_schema import SchemaViolation
from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity
from pytest_mlsupply.vulns.model import FACTS_KEY
from tests.reports.test_bom_dependencies import TORCH_LOAD as ADVISORY

if TYPE_CHECKING:
    from tests.reports.conftest import Scenario

SERIAL = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
P, D = RowKind.PROVENANCE, RowKind.DEPENDENCY


@pytest.fixture(scope="module")
def reference() -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.V1_6)


def _build(scenario: Scenario, extra: list[CheckResult]) -> dict[str, Any]:
    return build_bom(
        scenario.inventory,
        scenario.items,
        [*scenario.results, *extra],
        Severity.HIGH,
        serial_number=SERIAL,
        timestamp=WHEN,
    )


@pytest.fixture(scope="module")
def good_boms(
    make_scenario: Callable[[Path], Scenario], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """The BOMs our reports write: model card, datasets, pedigree, vulnerabilities, attestations."""
    scenario = make_scenario(tmp_path_factory.mktemp("good"))
    provenance = [
        CheckResult(
            P,
            "sentiment",
            "signature",
            facts={"signature": {"bundle": "model.sig", "sha256": "ab" * 32, "mode": "key"}},
        ),
        CheckResult(
            P,
            "sentiment",
            "attestation",
            facts={
                "attestation": {
                    "verified": True,
                    "envelopes": [{"path": "release/model.intoto.jsonl", "sha256": "cd" * 32}],
                }
            },
        ),
    ]
    vulnerable = [
        CheckResult(
            D,
            "torch==2.4.0",
            FACTS_KEY,
            findings=[Finding(ADVISORY.id, Severity.HIGH, "vulnerability", ADVISORY.summary)],
            facts={FACTS_KEY: [ADVISORY.to_json()]},
        )
    ]
    return {
        "model card, datasets and pedigree": _build(scenario, []),
        "signature and attestation references": _build(scenario, provenance),
        "vulnerabilities": _build(scenario, vulnerable),
    }


@pytest.fixture
def good(good_boms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A fresh copy of the richest BOM, for a test to corrupt."""
    return copy.deepcopy(good_boms["signature and attestation references"])


def _reference_accepts(reference: JsonStrictValidator, document: dict[str, Any]) -> bool:
    return reference.validate_str(json.dumps(document)) is None


def _ours_accepts(document: dict[str, Any]) -> bool:
    try:
        bom_schema.validate_json(document)
    except SchemaViolation:
        return False
    return True


def test_the_boms_our_reports_write_pass_both_validators(
    reference: JsonStrictValidator, good_boms: dict[str, dict[str, Any]]
) -> None:
    for name, document in good_boms.items():
        assert _reference_accepts(reference, document), name
        assert _ours_accepts(document), name


def test_the_sample_boms_carry_what_they_are_meant_to_exercise(
    good_boms: dict[str, dict[str, Any]],
) -> None:
    # Proves the agreement above covers these parts of the schema, not only a bare BOM.
    text = {name: json.dumps(document) for name, document in good_boms.items()}
    assert '"modelCard"' in text["model card, datasets and pedigree"]
    assert '"governance"' in text["model card, datasets and pedigree"]
    assert '"pedigree"' in text["model card, datasets and pedigree"]
    assert '"attestation"' in text["signature and attestation references"]
    assert '"digital-signature"' in text["signature and attestation references"]
    assert '"vulnerabilities"' in text["vulnerabilities"]


def _model(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["components"] if c["bom-ref"] == "model:sentiment")


def _library(document: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in document["components"] if c["type"] == "library")


def _set_first_url(document: dict[str, Any], url: str) -> None:
    _model(document)["externalReferences"][0]["url"] = url


def _contact(document: dict[str, Any], email: str) -> None:
    document["metadata"]["authors"] = [{"name": "Ada", "email": email}]


def _signature(document: dict[str, Any], algorithm: str) -> None:
    document["signature"] = {"algorithm": algorithm, "value": "c2ln"}


CORRUPTIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "a wrong type": lambda d: d.update(version="1"),
    "an unknown top-level property": lambda d: d.update(producedBy="us"),
    "an unknown component property": lambda d: _model(d).update(weights="big"),
    "an unknown model card property": lambda d: _model(d)["modelCard"].update(accuracy=1),
    "a bad component type enum": lambda d: _model(d).update(type="neural-network"),
    "a bad external reference type enum": lambda d: _model(d)["externalReferences"][0].update(
        type="homepage"
    ),
    "a malformed date-time": lambda d: d["metadata"].update(timestamp="2025-01-02 03:04:05"),
    "an impossible date": lambda d: d["metadata"].update(timestamp="2025-02-30T03:04:05Z"),
    "a space in an external reference url": lambda d: _set_first_url(d, "https://exa mple.com"),
    "a backslash in an external reference url": lambda d: _set_first_url(d, "\\\\server\\share"),
    "a bad percent-escape in an external reference url": lambda d: _set_first_url(d, "%zz"),
    "an email with no @": lambda d: _contact(d, "ada.example.com"),
    "a hash of the wrong length": lambda d: _library(d).update(
        hashes=[{"alg": "SHA-256", "content": "ab" * 31}]
    ),
    "an unknown hash algorithm": lambda d: _library(d).update(
        hashes=[{"alg": "SHA-257", "content": "ab" * 32}]
    ),
    "a non-hex hash": lambda d: _library(d).update(
        hashes=[{"alg": "SHA-256", "content": "zz" * 32}]
    ),
    "an unknown SPDX licence id": lambda d: _library(d).update(
        licenses=[{"license": {"id": "Not-A-Licence-1.0"}}]
    ),
    "a licence with neither id nor name": lambda d: _library(d).update(
        licenses=[{"license": {"url": "https://example.com"}}]
    ),
    "a numeric specVersion": lambda d: d.update(specVersion=1.6),
    "a bad bomFormat": lambda d: d.update(bomFormat="SPDX"),
    "a missing required field": lambda d: _library(d).pop("name"),
    "a malformed serial number": lambda d: d.update(serialNumber="urn:uuid:not-a-uuid"),
    "a string score": lambda d: d.update(
        vulnerabilities=[{"id": "X", "ratings": [{"score": "9.3"}]}]
    ),
    "a duplicate element in a unique array": lambda d: d["dependencies"].append(
        copy.deepcopy(d["dependencies"][0])
    ),
    "a bad JSF signature algorithm": lambda d: _signature(d, "MD5"),
    "a bad mime type": lambda d: _model(d).update(mime_type="Application/Octet"),
    "a non-integer version": lambda d: d.update(version=1.5),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_corrupted_bom_is_rejected_by_both_validators(
    reference: JsonStrictValidator, good: dict[str, Any], corruption: str
) -> None:
    CORRUPTIONS[corruption](good)

    assert not _reference_accepts(reference, good), "the reference accepts it: not a corruption"
    assert not _ours_accepts(good)


def test_a_violation_names_its_json_path_and_why(good: dict[str, Any]) -> None:
    _model(good)["modelCard"]["modelParameters"]["task"] = 42
    index = good["components"].index(_model(good))

    with pytest.raises(BomError) as raised:
        validate_bom_json(good)

    message = str(raised.value)
    assert f"at $.components[{index}].modelCard.modelParameters.task:" in message
    assert 'is not of type "string"' in message


def test_a_value_json_cannot_hold_is_a_violation_not_a_crash(good: dict[str, Any]) -> None:
    good["metadata"]["timestamp"] = WHEN  # a datetime, not its text

    with pytest.raises(BomError, match=r"at \$: not a JSON document"):
        validate_bom_json(good)


def test_a_trailing_newline_is_rejected_here_though_the_reference_allows_it(
    reference: JsonStrictValidator, good: dict[str, Any]
) -> None:
    # ECMA-262 `$` (jsonschema-rs) does not match before a final newline; Python's `re` does.
    good["serialNumber"] += "\n"

    assert _reference_accepts(reference, good)
    assert not _ours_accepts(good)


def test_an_ipv6_literal_url_is_accepted_as_rfc_3987_allows(
    reference: JsonStrictValidator, good: dict[str, Any]
) -> None:
    # The one known laxity against the reference: its IRI grammar (rfc3987-syntax) rejects an
    # IP-literal host, which RFC 3987 allows. Our BOMs' URLs come from Hub endpoints and paths.
    _set_first_url(good, "https://[::1]/models")

    assert not _reference_accepts(reference, good)
    assert _ours_accepts(good)


def test_the_compiled_validator_is_built_once_per_process(
    monkeypatch: pytest.MonkeyPatch, good: dict[str, Any]
) -> None:
    built: list[object] = []
    real = jsonschema_rs.validator_for

    def counting(*args: Any, **kwargs: Any) -> jsonschema_rs.Validator:
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(jsonschema_rs, "validator_for", counting)
    bom_schema.json_validator.cache_clear()
    try:
        validate_bom_json(good)
        validate_bom_json(good)
        bom_schema.validate_json(good)
    finally:
        bom_schema.json_validator.cache_clear()

    assert len(built) == 1


def test_the_xml_validator_is_built_once_per_process() -> None:
    assert bom_schema.xml_validator() is bom_schema.xml_validator()


def test_an_xml_violation_names_the_line_and_the_xsd_complaint() -> None:
    text = '<bom xmlns="http://cyclonedx.org/schema/bom/1.6" version="x"/>'

    with pytest.raises(SchemaViolation, match=r"at line 1: .*version.*'x'"):
        bom_schema.validate_xml(text)


def test_the_xml_bom_still_validates_against_the_xsd(scenario: Scenario) -> None:
    text = render_bom_xml(
        scenario.inventory, scenario.items, scenario.results, Severity.HIGH, timestamp=WHEN
    )

    bom_schema.validate_xml(text.split("\n", 1)[1])


def test_validating_a_bom_imports_neither_jsonschema_nor_its_iri_grammar(
    good: dict[str, Any], tmp_path: Path
) -> None:
    # The seconds this module exists to save: rfc3987-syntax compiles its grammars on import.
    bom = tmp_path / "bom.json"
    bom.write_text(json.dumps(good))
    code = (
        "import json, sys\n"
        "from pytest_mlsupply.reports.bom import validate_bom_json\n"
        f"validate_bom_json(json.loads(open({str(bom)!r}).read()))\n"
        "print(sorted(m for m in ('jsonschema', 'rfc3987_syntax', 'lark') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
