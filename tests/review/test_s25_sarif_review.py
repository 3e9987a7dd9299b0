"""Adversarial review of s25 (SARIF): a file named with ``..`` must not get a %SRCROOT%-relative
URI that leaves the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.reports.sarif import SRCROOT, SourceRoot

ROOT = SourceRoot(
    root=Path("/repo"),
    base=Path("/repo/proj"),
    prefixes={"tiny": Path("/repo/proj/models/tiny")},
)


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("../../etc/passwd", {"uri": "file:///etc/passwd"}),
        ("tiny/../../../../etc/passwd", {"uri": "file:///etc/passwd"}),
        ("../requirements.txt", {"uri": "requirements.txt", "uriBaseId": SRCROOT}),
        ("tiny/a#b?c.pt", {"uri": "proj/models/tiny/a%23b%3Fc.pt", "uriBaseId": SRCROOT}),
    ],
)
def test_a_dotdot_name_never_leaves_srcroot(file: str, expected: dict[str, str]) -> None:
    location = ROOT.location(file)
    assert location == expected
    assert ".." not in location["uri"].split("/")


def test_an_accepted_finding_is_not_blocking_in_sarif_and_says_why() -> None:
    import json

    from pytest_mlsupply.reports.sarif import render_sarif
    from pytest_mlsupply.results import (
        Acceptance,
        CheckResult,
        Finding,
        Location,
        RowKind,
        Severity,
    )
    from tests.reports.sarif_checks import assert_github_accepts, validate_official

    accepted = Finding(
        rule="MLS-PKL-001",
        severity=Severity.CRITICAL,
        category="pickle",
        title="pickle imports dangerous global builtins.getattr",
        location=Location(file="tiny/model.pt", offset=0),
        accepted=Acceptance("reviewed in SEC-12", "ml-platform", "2027-03-31", "b.yaml:3"),
    )
    open_one = Finding(
        rule="MLS-PKL-002",
        severity=Severity.CRITICAL,
        category="pickle",
        title="pickle calls dangerous callable builtins.getattr",
        location=Location(file="tiny/model.pt", offset=30),
    )
    result = CheckResult(
        RowKind.ARTIFACT, "tiny/model.pt", "scan", findings=[accepted, open_one], facts={}
    )
    log = json.loads(render_sarif([result], Severity.HIGH, tool_version="0", root=ROOT))
    validate_official(log)
    assert_github_accepts(log)
    first, second = log["runs"][0]["results"]
    assert first["properties"]["blocking"] is False  # was True: the cell reads "accepted"
    assert first["suppressions"][0]["status"] == "accepted"
    assert "ml-platform" in first["suppressions"][0]["justification"]
    assert second["properties"]["blocking"] is True
    assert "suppressions" not in second
