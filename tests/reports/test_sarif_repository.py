"""SARIF locations resolve in the repository: relative to its root under ``%SRCROOT%``, whatever
directory holds the manifest or was scanned; the commit and repository as provenance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pytest_mlsupply.reports.sarif import SRCROOT, SourceRoot, render_sarif
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity
from tests.reports.sarif_checks import assert_github_accepts, validate_official

A, D, P = RowKind.ARTIFACT, RowKind.DEPENDENCY, RowKind.PROVENANCE
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def pickle_finding(file: str) -> Finding:
    return Finding(
        "MLS-PKL-001",
        Severity.CRITICAL,
        "code-execution",
        "pickle calls os.system",
        Location(file=file, offset=2),
        evidence="GLOBAL os system",
        remediation="convert the weights to safetensors",
        cwe="CWE-502",
    )


def rooted(tmp_path: Path, **kwargs: Any) -> SourceRoot:
    """A repository at tmp_path/repo whose project (manifest) is in service/."""
    repo = tmp_path / "repo"
    return SourceRoot(
        root=repo,
        base=repo / "service",
        prefixes={"tiny": repo / "service" / "models" / "tiny"},
        **kwargs,
    )


def render(results: list[CheckResult], root: SourceRoot) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(
        render_sarif(results, Severity.HIGH, tool_version="9.9.9", root=root)
    )
    assert_github_accepts(log)
    return log


def locations(log: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        loc["physicalLocation"]["artifactLocation"]
        for result in log["runs"][0]["results"]
        for loc in result["locations"]
        if "physicalLocation" in loc
    ]


def test_a_model_file_is_named_from_the_repository_root_with_the_srcroot_base(
    tmp_path: Path,
) -> None:
    root = rooted(tmp_path)
    results = [CheckResult(A, "tiny/weights.pkl", "scan", [pickle_finding("tiny/weights.pkl")])]
    log = render(results, root)
    assert locations(log) == [
        {"uri": "service/models/tiny/weights.pkl", "uriBaseId": SRCROOT, "index": 0}
    ]
    run = log["runs"][0]
    assert run["artifacts"] == [
        {"location": {"uri": "service/models/tiny/weights.pkl", "uriBaseId": SRCROOT}}
    ]
    # A directory URI (trailing slash): relative references resolve inside it.
    assert run["originalUriBaseIds"] == {SRCROOT: {"uri": (tmp_path / "repo").as_uri() + "/"}}


def test_dependency_and_provenance_findings_are_placed_from_the_manifests_directory(
    tmp_path: Path,
) -> None:
    unpinned = Finding(
        "MLS-DEP-001", Severity.HIGH, "pinning", "not pinned", Location("requirements.txt", line=2)
    )
    card = Finding(
        "MLS-CARD-001", Severity.HIGH, "card", "no licence", Location("tiny/README.md", line=1)
    )
    results = [
        CheckResult(D, "requests>=2", "pinned", [unpinned]),
        CheckResult(P, "tiny", "model-card", [card]),
    ]
    uris = sorted(loc["uri"] for loc in locations(render(results, rooted(tmp_path))))
    assert uris == ["service/models/tiny/README.md", "service/requirements.txt"]


def test_a_file_outside_the_repository_keeps_its_absolute_file_uri(tmp_path: Path) -> None:
    # A Hub snapshot in the cache is in no repository: no base could place it.
    outside = tmp_path / "hf-cache" / "snapshots" / "abc" / "model.pkl"
    root = SourceRoot(
        root=tmp_path / "repo", base=tmp_path / "repo", prefixes={"m": outside.parent}
    )
    log = render([CheckResult(A, "m/model.pkl", "scan", [pickle_finding("m/model.pkl")])], root)
    assert locations(log) == [{"uri": outside.as_uri(), "index": 0}]


def test_the_commit_and_the_repository_are_the_runs_version_control_provenance(
    tmp_path: Path,
) -> None:
    root = rooted(tmp_path, repository="https://github.com/o/r", commit=COMMIT)
    log = render([CheckResult(A, "tiny/a.pkl", "scan", [pickle_finding("tiny/a.pkl")])], root)
    assert log["runs"][0]["versionControlProvenance"] == [
        {
            "repositoryUri": "https://github.com/o/r",
            "revisionId": COMMIT,
            "mappedTo": {"uriBaseId": SRCROOT},
        }
    ]


def test_without_a_known_repository_there_is_no_provenance(tmp_path: Path) -> None:
    log = render([CheckResult(A, "tiny/a", "scan")], rooted(tmp_path))
    assert "versionControlProvenance" not in log["runs"][0]


def test_an_errored_checks_notification_is_placed_in_the_repository_too(tmp_path: Path) -> None:
    log = render([CheckResult(A, "tiny/a.bin", "scan", error="read failed")], rooted(tmp_path))
    (note,) = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "service/models/tiny/a.bin",
        "uriBaseId": SRCROOT,
    }


def test_rule_help_is_escaped_markdown_so_a_file_name_cannot_become_a_link(
    tmp_path: Path,
) -> None:
    finding = Finding(
        "MLS-X-001",
        Severity.HIGH,
        "c",
        "t",
        Location("tiny/a"),
        remediation="delete [evil](https://attacker.example) <img src=x>",
    )
    (rule,) = render([CheckResult(A, "tiny/a", "scan", [finding])], rooted(tmp_path))["runs"][0][
        "tool"
    ]["driver"]["rules"]
    assert rule["help"]["markdown"] == (
        r"**Fix:** delete \[evil\]\(https://attacker.example\) \<img src=x\>"
    )
    assert rule["help"]["text"] == "delete [evil](https://attacker.example) <img src=x>"


def test_the_official_schema_rejects_what_sarif_forbids() -> None:
    # Guards the guard: a validator that accepted anything would make every check vacuous.
    log = json.loads(render_sarif([], Severity.HIGH, tool_version="1"))
    validate_official(log)
    log["runs"][0]["results"] = [{"message": {"text": "x"}, "level": "critical"}]
    with pytest.raises(jsonschema.ValidationError):
        validate_official(log)


def test_the_github_checks_reject_a_location_without_its_base(tmp_path: Path) -> None:
    log = render([CheckResult(A, "tiny/a", "scan", [pickle_finding("tiny/a")])], rooted(tmp_path))
    del log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "uriBaseId"
    ]
    with pytest.raises(AssertionError):
        assert_github_accepts(log)


def test_each_result_is_one_line_of_the_same_document_indent_would_write(tmp_path: Path) -> None:
    results = [
        CheckResult(A, f"tiny/{name}.pkl", "scan", [pickle_finding(f"tiny/{name}.pkl")])
        for name in ("a", "b", "c")
    ]
    text = render_sarif(results, Severity.HIGH, tool_version="9", root=rooted(tmp_path))
    log = json.loads(text)
    assert len(log["runs"][0]["results"]) == 3
    result_lines = [line for line in text.splitlines() if '"ruleId"' in line]
    assert len(result_lines) == 3  # a changed result is a one-line diff
    assert [json.loads(line.strip().rstrip(",")) for line in result_lines] == log["runs"][0][
        "results"
    ]
    assert json.loads(json.dumps(log, indent=2)) == log
    assert text.startswith('{\n  "$schema": ')


def test_a_file_on_no_local_disk_is_named_as_a_logical_location_never_placed_wrongly(
    tmp_path: Path,
) -> None:
    # A Hub dataset (no local directory) or a model that could not be resolved: its files
    # exist nowhere the log could point at, least of all under the manifest's directory.
    root = SourceRoot(root=tmp_path, base=tmp_path, prefixes={"reviews": None})
    finding = Finding("MLS-DS-001", Severity.HIGH, "dataset", "t", Location("reviews/train.csv"))
    results = [
        CheckResult(A, "reviews/train.csv", "sha256", [finding]),
        CheckResult(A, "reviews/test.csv", "sha256", error="not in the snapshot"),
    ]
    log = render(results, root)
    run = log["runs"][0]
    (result,) = run["results"]
    assert result["locations"] == [
        {
            "logicalLocations": [
                {"name": "train.csv", "fullyQualifiedName": "reviews/train.csv", "kind": "resource"}
            ]
        }
    ]
    assert run["artifacts"] == []
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert "locations" not in note
