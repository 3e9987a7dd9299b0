"""Check results: how findings and errors become a verdict, and the round trip through builtins."""

from __future__ import annotations

import json

import pytest

from pytest_mlsupply.results import (
    CheckResult,
    Finding,
    Location,
    RowKind,
    Severity,
    Verdict,
)


def finding(severity: Severity, rule: str = "MLS-TEST-001") -> Finding:
    return Finding(rule=rule, severity=severity, category="test", title=f"a {severity.label} thing")


def result(*severities: Severity, error: str | None = None) -> CheckResult:
    return CheckResult(
        kind=RowKind.ARTIFACT,
        subject="m/f.bin",
        check="format",
        findings=[finding(s) for s in severities],
        error=error,
    )


@pytest.mark.parametrize(
    ("severities", "error", "threshold", "verdict"),
    [
        ((), None, Severity.HIGH, Verdict.PASS),
        ((Severity.INFO,), None, Severity.LOW, Verdict.PASS),
        ((Severity.INFO, Severity.INFO), None, Severity.HIGH, Verdict.PASS),
        ((Severity.LOW,), None, Severity.HIGH, Verdict.WARN),
        ((Severity.MEDIUM, Severity.INFO), None, Severity.HIGH, Verdict.WARN),
        ((Severity.HIGH,), None, Severity.HIGH, Verdict.FAIL),
        ((Severity.HIGH,), None, Severity.CRITICAL, Verdict.WARN),
        ((Severity.LOW,), None, Severity.LOW, Verdict.FAIL),
        ((Severity.CRITICAL,), None, Severity.CRITICAL, Verdict.FAIL),
        ((), "boom", Severity.HIGH, Verdict.ERROR),
        ((Severity.INFO,), "boom", Severity.LOW, Verdict.ERROR),
        ((Severity.MEDIUM,), "boom", Severity.HIGH, Verdict.ERROR),
        ((Severity.HIGH,), "boom", Severity.HIGH, Verdict.FAIL),
    ],
    ids=[
        "nothing-passes",
        "info-only-passes",
        "two-infos-pass",
        "below-threshold-warns",
        "medium-below-high-warns",
        "at-threshold-fails",
        "below-critical-warns",
        "low-at-low-fails",
        "critical-fails",
        "error-alone-errors",
        "error-outranks-info",
        "error-outranks-warning",
        "blocking-finding-outranks-error",
    ],
)
def test_the_verdict_follows_findings_errors_and_the_threshold(
    severities: tuple[Severity, ...], error: str | None, threshold: Severity, verdict: Verdict
) -> None:
    assert result(*severities, error=error).verdict(threshold) is verdict


def test_blocking_findings_are_those_at_or_above_the_threshold() -> None:
    checked = result(Severity.LOW, Severity.HIGH, Severity.CRITICAL, Severity.INFO)

    assert [f.severity for f in checked.blocking(Severity.HIGH)] == [
        Severity.HIGH,
        Severity.CRITICAL,
    ]


def test_a_result_survives_a_round_trip_through_json() -> None:
    original = CheckResult(
        kind=RowKind.PROVENANCE,
        subject="sentiment",
        check="model-card",
        findings=[
            Finding(
                rule="MLS-PIN-001",
                severity=Severity.CRITICAL,
                category="integrity",
                title="file does not match its sha256 pin",
                location=Location(
                    file="m/f.bin", member="data.pkl", offset=12, key_path="a.b", line=3
                ),
                evidence="expected x, found y",
                why="because",
                remediation="restore it",
                cwe="CWE-494",
            ),
            finding(Severity.INFO),
        ],
        error="partly failed",
        facts={"sha256": "ab" * 32, "card": {"metadata": {"license": "mit"}}},
    )

    data = json.loads(json.dumps(original.to_dict()))

    assert CheckResult.from_dict(data) == original


def test_to_dict_writes_severity_labels_and_omits_empty_location_fields() -> None:
    data = result(Severity.MEDIUM).to_dict()

    assert data["kind"] == "artifact"
    (only,) = data["findings"]
    assert only["severity"] == "medium"
    assert only["location"] == {}
    assert "cwe" not in only


def test_from_dict_fills_in_what_an_older_writer_left_out() -> None:
    restored = CheckResult.from_dict(
        {"kind": "dependency", "subject": "numpy==2.1.0", "check": "pinned"}
    )

    assert restored == CheckResult(RowKind.DEPENDENCY, "numpy==2.1.0", "pinned")


def test_an_unknown_severity_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown severity 'severe'; choose one of: info, low"):
        Severity.parse("severe")


def test_a_severity_parses_whatever_its_case_and_spacing() -> None:
    assert Severity.parse(" High ") is Severity.HIGH


def test_a_location_describes_each_part_it_has() -> None:
    where = Location(file="m/f.zip", member="data.pkl", offset=7, key_path="a.b", line=3)

    assert where.describe() == "m/f.zip, member data.pkl, byte 7, key a.b, line 3"
    assert Location().describe() == "(whole subject)"


def test_a_rendered_finding_says_what_where_why_and_how_to_fix() -> None:
    rendered = Finding(
        rule="MLS-FMT-001",
        severity=Severity.HIGH,
        category="unsafe-format",
        title="unsafe serialisation format: pickle",
        location=Location(file="m/model.pkl", offset=0),
        evidence="globals os.system",
        why="loading it runs code",
        remediation="convert to safetensors",
        cwe="CWE-502",
    ).render()

    assert rendered.splitlines() == [
        "[HIGH] MLS-FMT-001 unsafe serialisation format: pickle",
        "  where: m/model.pkl, byte 0",
        "  evidence: globals os.system",
        "  why it matters: loading it runs code",
        "  fix: convert to safetensors",
        "  CWE-502",
    ]
