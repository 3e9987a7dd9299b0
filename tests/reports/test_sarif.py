"""SARIF 2.1.0 output: valid structure, the mappings code-scanning services rely on, stability."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema
import pytest

from pytest_mlsupply.reports.sarif import render_sarif
from pytest_mlsupply.results import (
    Acceptance,
    CheckResult,
    Finding,
    Location,
    RowKind,
    Severity,
)
from tests.reports.sarif_checks import validate_official

A, D = RowKind.ARTIFACT, RowKind.DEPENDENCY

# The official schema is not on disk and there is no network: this is the subset of SARIF 2.1.0
# we emit, with the spec's required keys and types (and closed enums where the spec has them).
_MESSAGE = {
    "type": "object",
    "required": ["text"],
    "properties": {"text": {"type": "string"}, "markdown": {"type": "string"}},
}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
_ARTIFACT_LOCATION = {
    "type": "object",
    "required": ["uri"],
    "properties": {
        "uri": {"type": "string", "format": "uri-reference"},
        "uriBaseId": {"const": "%SRCROOT%"},
        "index": {"type": "integer", "minimum": -1},
    },
    "additionalProperties": False,
}
_LOCATION = {
    "type": "object",
    "properties": {
        "physicalLocation": {
            "type": "object",
            "required": ["artifactLocation"],
            "properties": {
                "artifactLocation": _ARTIFACT_LOCATION,
                "region": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {
                        "startLine": {"type": "integer", "minimum": 1},
                        "byteOffset": {"type": "integer", "minimum": 0},
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "logicalLocations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "fullyQualifiedName": {"type": "string"},
                    "kind": {"type": "string"},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}
SARIF_SUBSET_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["$schema", "version", "runs"],
    "properties": {
        "$schema": {"const": "https://json.schemastore.org/sarif-2.1.0.json"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1,
            "items": {
                "type": "object",
                "required": ["tool", "results", "invocations"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name", "version", "rules"],
                                "properties": {
                                    "name": {"const": "pytest-mlsupply"},
                                    "version": {"type": "string"},
                                    "semanticVersion": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "uniqueItems": True,
                                        "items": {
                                            "type": "object",
                                            "required": [
                                                "id",
                                                "shortDescription",
                                                "defaultConfiguration",
                                                "properties",
                                            ],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": _MESSAGE,
                                                "fullDescription": _MESSAGE,
                                                "help": _MESSAGE,
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "required": ["level"],
                                                    "properties": {"level": _LEVEL},
                                                },
                                                "properties": {
                                                    "type": "object",
                                                    "required": ["tags"],
                                                    "properties": {
                                                        "tags": {
                                                            "type": "array",
                                                            "items": {"type": "string"},
                                                            "uniqueItems": True,
                                                        },
                                                        "security-severity": {
                                                            "type": "string",
                                                            "pattern": r"^\d+\.\d$",
                                                        },
                                                    },
                                                },
                                            },
                                            "additionalProperties": False,
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "toolExecutionNotifications": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["message"],
                                        "properties": {
                                            "level": _LEVEL,
                                            "message": _MESSAGE,
                                            "locations": {"type": "array", "items": _LOCATION},
                                            "properties": {"type": "object"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                            },
                        },
                    },
                    "artifacts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["location"],
                            "properties": {
                                "location": _ARTIFACT_LOCATION,
                                "hashes": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["ruleId", "message", "level", "locations"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": _LEVEL,
                                "message": _MESSAGE,
                                "locations": {"type": "array", "items": _LOCATION},
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "properties": {"type": "object"},
                                "suppressions": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["kind", "status", "justification"],
                                        "properties": {
                                            "kind": {"const": "external"},
                                            "status": {"const": "accepted"},
                                            "justification": {"type": "string"},
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                            },
                            "additionalProperties": False,
                        },
                    },
                    "properties": {"type": "object"},
                    "originalUriBaseIds": {"type": "object"},
                    "versionControlProvenance": {"type": "array"},
                },
            },
        },
    },
}

PICKLE_FINDING = Finding(
    rule="MLS-PKL-001",
    severity=Severity.CRITICAL,
    category="code-execution",
    title="pickle calls os.system",
    location=Location(file="m/model.pt", member="archive/data.pkl", offset=58),
    evidence="GLOBAL os system; REDUCE",
    why="unpickling runs os.system with attacker-chosen arguments",
    remediation="do not load this file; convert the weights to safetensors",
    cwe="CWE-502",
)
TEMPLATE_FINDING = Finding(
    rule="MLS-TPL-002",
    severity=Severity.MEDIUM,
    category="template-injection",
    title="chat template reads a dunder attribute",
    location=Location(file="m/tokenizer_config.json", key_path="chat_template", line=3),
    evidence="__class__",
    why="dunder attributes escape the jinja2 sandbox",
    remediation="remove the attribute access",
    cwe="CWE-1336",
)
INFO_FINDING = Finding(
    rule="MLS-FMT-900",
    severity=Severity.INFO,
    category="format",
    title="file identified as safetensors",
    location=Location(file="m/model.safetensors"),
)


def sample_results() -> list[CheckResult]:
    return [
        CheckResult(A, "m/model.safetensors", "format", findings=[INFO_FINDING]),
        CheckResult(A, "m/model.pt", "scan", findings=[PICKLE_FINDING]),
        CheckResult(A, "m/model.pt", "sha256", facts={"sha256": "ab" * 32}),
        CheckResult(A, "m/tokenizer_config.json", "scan", findings=[TEMPLATE_FINDING]),
    ]


def render(results: list[CheckResult], threshold: Severity = Severity.HIGH) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render_sarif(results, threshold, tool_version="9.9.9"))
    jsonschema.validate(
        log, SARIF_SUBSET_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    validate_official(log)  # the OASIS SARIF 2.1.0 schema itself
    return log


def run_of(log: dict[str, Any]) -> dict[str, Any]:
    run: dict[str, Any] = log["runs"][0]
    return run


def result_for(log: dict[str, Any], rule: str) -> dict[str, Any]:
    (result,) = [r for r in run_of(log)["results"] if r["ruleId"] == rule]
    return result


def test_the_log_is_sarif_2_1_0_with_one_run_by_pytest_mlsupply() -> None:
    log = render(sample_results())
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    assert len(log["runs"]) == 1
    driver = run_of(log)["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("pytest-mlsupply", "9.9.9")


def test_the_subset_schema_rejects_what_sarif_forbids() -> None:
    # Guards the guard: a schema that accepted anything would make every other test vacuous.
    log = render(sample_results())
    run_of(log)["results"][0]["level"] = "critical"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(log, SARIF_SUBSET_SCHEMA)


def test_there_is_one_rule_per_distinct_rule_id_with_its_description_help_and_tags() -> None:
    results = [
        *sample_results(),
        CheckResult(A, "m/other.pkl", "scan", findings=[PICKLE_FINDING]),
    ]
    rules = run_of(render(results))["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["MLS-FMT-900", "MLS-PKL-001", "MLS-TPL-002"]
    pickle_rule = rules[1]
    assert pickle_rule == {
        "id": "MLS-PKL-001",
        "shortDescription": {"text": "pickle calls os.system"},
        "fullDescription": {"text": "unpickling runs os.system with attacker-chosen arguments"},
        "help": {
            "text": "do not load this file; convert the weights to safetensors\n\n"
            "Why it matters: unpickling runs os.system with attacker-chosen arguments\n\n"
            "CWE-502",
            "markdown": "**Fix:** do not load this file; convert the weights to safetensors\n\n"
            "**Why it matters:** unpickling runs os.system with attacker-chosen arguments\n\n"
            "[CWE-502](https://cwe.mitre.org/data/definitions/502.html)",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {
            # GitHub lists alerts by CWE from the external/cwe/cwe-N tag.
            "tags": ["security", "code-execution", "CWE-502", "external/cwe/cwe-502"],
            "security-severity": "9.5",
        },
    }
    # A rule whose finding names no fix still has help, saying so rather than being empty.
    assert rules[0]["help"]["text"] == "no automatic fix: review the finding's evidence"


def test_a_rules_default_level_follows_its_most_severe_finding() -> None:
    low = Finding("MLS-X-001", Severity.LOW, "c", "minor", Location(file="a"))
    high = Finding("MLS-X-001", Severity.HIGH, "c", "major", Location(file="b"))
    results = [CheckResult(A, "a", "scan", findings=[low]), CheckResult(A, "b", "scan", [high])]
    (rule,) = run_of(render(results))["tool"]["driver"]["rules"]
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert rule["shortDescription"] == {"text": "major"}


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.CRITICAL, "error"),
        (Severity.HIGH, "error"),
        (Severity.MEDIUM, "warning"),
        (Severity.LOW, "note"),
        (Severity.INFO, "note"),
    ],
)
def test_severity_maps_to_the_sarif_level(severity: Severity, level: str) -> None:
    finding = Finding("MLS-X-001", severity, "c", "t", Location(file="f"))
    (result,) = run_of(render([CheckResult(A, "f", "scan", findings=[finding])]))["results"]
    assert result["level"] == level
    assert result["properties"]["severity"] == severity.label


def test_an_archive_member_finding_has_the_file_the_member_chain_and_the_member_offset() -> None:
    result = result_for(render(sample_results()), "MLS-PKL-001")
    assert result["message"] == {"text": "pickle calls os.system: GLOBAL os system; REDUCE"}
    # The offset counts from the start of the member, so it is no region of the zip file.
    assert result["locations"] == [
        {
            "physicalLocation": {"artifactLocation": {"uri": "m/model.pt", "index": 0}},
            "logicalLocations": [
                {"name": "data.pkl", "fullyQualifiedName": "archive/data.pkl", "kind": "resource"}
            ],
        }
    ]
    assert result["properties"] == {
        "severity": "critical",
        "category": "code-execution",
        "check": "scan",
        "blocking": True,
        "cwe": "CWE-502",
        "memberByteOffset": 58,
    }


def test_an_offset_in_the_file_itself_is_a_byte_offset_region() -> None:
    finding = Finding("MLS-PKL-001", Severity.CRITICAL, "c", "t", Location(file="p.pkl", offset=7))
    (result,) = run_of(render([CheckResult(A, "p.pkl", "scan", [finding])]))["results"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"byteOffset": 7}
    assert "memberByteOffset" not in result["properties"]


def test_a_line_becomes_start_line_and_a_key_path_a_logical_location() -> None:
    result = result_for(render(sample_results()), "MLS-TPL-002")
    (location,) = result["locations"]
    assert location["physicalLocation"]["region"] == {"startLine": 3}
    assert location["logicalLocations"] == [{"name": "chat_template", "kind": "property"}]
    assert result["properties"]["blocking"] is False  # medium is below the high threshold


def test_a_finding_without_offset_or_line_has_no_region() -> None:
    result = result_for(render(sample_results()), "MLS-FMT-900")
    assert result["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "m/model.safetensors", "index": 1}}}
    ]


def test_artifacts_are_listed_with_their_sha256_when_a_check_computed_it() -> None:
    artifacts = run_of(render(sample_results()))["artifacts"]
    assert artifacts == [
        {"location": {"uri": "m/model.pt"}, "hashes": {"sha-256": "ab" * 32}},
        {"location": {"uri": "m/model.safetensors"}},
        {"location": {"uri": "m/tokenizer_config.json"}},
    ]


def test_file_names_are_escaped_into_uri_references() -> None:
    finding = Finding("MLS-X-001", Severity.HIGH, "c", "t", Location(file="m/my model#1.pt"))
    (result,) = run_of(render([CheckResult(A, "m/my model#1.pt", "scan", [finding])]))["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "m/my%20model%231.pt"


def test_a_dependency_finding_names_the_package_as_a_logical_location() -> None:
    finding = Finding(
        "MLS-DEP-001",
        Severity.LOW,
        "pinning",
        "requests is not pinned",
        Location(file="requirements.txt", line=2),
    )
    (result,) = run_of(render([CheckResult(D, "requests>=2", "pinned", [finding])]))["results"]
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "requirements.txt"},
                "region": {"startLine": 2},
            },
            "logicalLocations": [{"name": "requests>=2", "kind": "package"}],
        }
    ]


def test_fingerprints_are_stable_per_rule_and_place_and_ignore_the_message() -> None:
    def fingerprint(finding: Finding) -> str:
        (result,) = run_of(render([CheckResult(A, "m/model.pt", "scan", [finding])]))["results"]
        value: str = result["partialFingerprints"]["mlsupply/v1"]
        return value

    base = fingerprint(PICKLE_FINDING)
    assert len(base) == 64
    reworded = Finding(**{**PICKLE_FINDING.__dict__, "title": "other words", "evidence": "x"})
    assert fingerprint(reworded) == base
    moved = Finding(**{**PICKLE_FINDING.__dict__, "location": Location("m/model.pt", offset=59)})
    other_member = Location("m/model.pt", member="archive/other.pkl", offset=58)
    elsewhere = Finding(**{**PICKLE_FINDING.__dict__, "location": other_member})
    other_rule = Finding(**{**PICKLE_FINDING.__dict__, "rule": "MLS-PKL-002"})
    assert len({base, fingerprint(moved), fingerprint(elsewhere), fingerprint(other_rule)}) == 4


def test_the_output_does_not_depend_on_the_order_of_results() -> None:
    results = sample_results()
    forward = render_sarif(results, Severity.HIGH, tool_version="1")
    backward = render_sarif(list(reversed(results)), Severity.HIGH, tool_version="1")
    assert forward == backward
    order = [r["ruleId"] for r in run_of(json.loads(forward))["results"]]
    assert order == ["MLS-PKL-001", "MLS-FMT-900", "MLS-TPL-002"]  # by subject, then place


def test_results_point_at_their_rule_by_index() -> None:
    run = run_of(render(sample_results()))
    ids = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
    assert all(ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])


def test_a_clean_run_is_successful_with_no_notifications() -> None:
    run = run_of(render(sample_results()))
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]
    assert run["properties"] == {"failOn": "high"}


def test_an_errored_check_is_an_error_notification_and_an_unsuccessful_run() -> None:
    errored = CheckResult(A, "m/broken.pkl", "scan", error="truncated pickle at byte 12")
    run = run_of(render([*sample_results(), errored]))
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == [
        {
            "level": "error",
            "message": {
                "text": "m/broken.pkl [scan] could not complete: truncated pickle at byte 12"
            },
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "m/broken.pkl"}}}],
            "properties": {"check": "scan", "subject": "m/broken.pkl"},
        }
    ]


def test_findings_of_an_errored_check_are_still_reported() -> None:
    # Findings outrank errors: a payload found before the parse failed stays a result.
    errored = CheckResult(A, "m/model.pt", "scan", findings=[PICKLE_FINDING], error="bad tail")
    run = run_of(render([errored]))
    assert [r["ruleId"] for r in run["results"]] == ["MLS-PKL-001"]
    assert run["invocations"][0]["executionSuccessful"] is False


def test_unreadable_inputs_are_error_notifications() -> None:
    log = json.loads(render_sarif([], Severity.HIGH, tool_version="1", unreadable=["gone.bin"]))
    jsonschema.validate(log, SARIF_SUBSET_SCHEMA)
    (invocation,) = run_of(log)["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"] == {
        "text": "gone.bin: no such file or directory"
    }


def test_an_empty_scan_is_a_valid_log_with_no_rules_and_no_results() -> None:
    run = run_of(render([]))
    assert run["tool"]["driver"]["rules"] == []
    assert run["results"] == []


def test_a_remediation_specific_to_one_finding_is_kept_on_its_result() -> None:
    first = Finding(
        "MLS-PIN-003", Severity.LOW, "integrity", "no pin", Location(file="a"), remediation="pin a"
    )
    second = Finding(
        "MLS-PIN-003", Severity.LOW, "integrity", "no pin", Location(file="b"), remediation="pin b"
    )
    results = [CheckResult(A, "a", "sha256", [first]), CheckResult(A, "b", "sha256", [second])]
    run = run_of(render(results))
    assert run["tool"]["driver"]["rules"][0]["help"] == {
        "text": "pin a",
        "markdown": "**Fix:** pin a",
    }
    a, b = run["results"]
    assert "remediation" not in a["properties"]
    assert b["properties"]["remediation"] == "pin b"


def test_an_accepted_finding_is_a_suppressed_result_that_does_not_block() -> None:
    accepted = dataclasses.replace(
        PICKLE_FINDING,
        accepted=Acceptance("vendor model, isolated", "ml-platform", "2027-01-31", "b.yaml:3"),
    )
    results = [
        CheckResult(A, "m/model.pt", "scan", findings=[accepted]),
        CheckResult(A, "m/tokenizer_config.json", "scan", findings=[TEMPLATE_FINDING]),
    ]
    suppressed, open_result = run_of(render(results, Severity.MEDIUM))["results"]
    assert suppressed["ruleId"] == "MLS-PKL-001"
    assert suppressed["level"] == "error"  # its severity is unchanged; only its status is
    assert suppressed["properties"]["blocking"] is False
    assert suppressed["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "accepted by ml-platform until 2027-01-31: vendor model, isolated",
        }
    ]
    assert "suppressions" not in open_result
    assert open_result["properties"]["blocking"] is True
