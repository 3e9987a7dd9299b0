"""SARIF 2.1.0 output: findings as code-scanning alerts (GitHub, GitLab, IDE SARIF viewers).

One run, one rule per distinct rule id, one result per finding. Archive members and key paths
have no file of their own, so they travel as ``logicalLocations`` next to the physical location of
the artifact that holds them. A byte offset in the file itself is ``region.byteOffset``; an offset
inside an archive member counts from the start of the member's (extracted) bytes, not of the file,
so it is ``properties.memberByteOffset`` instead of a region that would point at the wrong bytes
of the container. Lines are ``region.startLine``. Checks that could not
complete are tool execution notifications, and mark the invocation unsuccessful: a consumer must
never read an error as a clean scan.

The document is deterministic (same results in any order → same bytes), so it diffs cleanly and
``partialFingerprints`` let a code-scanning service track one alert across runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from pytest_mlsupply.results import CheckResult, Finding, RowKind, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "pytest-mlsupply"

#: SARIF has three levels for problems; ours has five severities.
LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

#: GitHub code scanning ranks security alerts by this 0-10 score (its own bands: >= 9.0
#: critical, >= 7.0 high, >= 4.0 medium, else low); a string, as GitHub requires.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

#: The fingerprint's name carries a version, so a change of recipe cannot collide with old ones.
FINGERPRINT_KEY = "mlsupply/v1"


def render_sarif(
    results: Sequence[CheckResult],
    threshold: Severity,
    *,
    tool_version: str,
    unreadable: Sequence[str] = (),
) -> str:
    """The SARIF 2.1.0 log for ``results`` as indented JSON.

    ``threshold`` is the failing severity: each result says whether it blocks
    (``properties.blocking``). ``unreadable`` names inputs that could not be opened at all
    (missing paths on the command line); they are reported like errored checks.
    """
    pairs = sorted(
        ((result, finding) for result in results for finding in result.findings),
        key=lambda pair: _finding_key(*pair),
    )
    rules = _rules(finding for _, finding in pairs)
    rule_index = {rule["id"]: index for index, rule in enumerate(rules)}
    rule_help = {rule["id"]: rule.get("help", {}).get("text", "") for rule in rules}
    artifacts = _artifacts(results)
    artifact_index = {a["location"]["uri"]: index for index, a in enumerate(artifacts)}
    notifications = _notifications(results, unreadable)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "semanticVersion": tool_version,
                "rules": rules,
            }
        },
        "invocations": [
            {
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
            }
        ],
        "artifacts": artifacts,
        "results": [
            _result(result, finding, threshold, rule_index, rule_help, artifact_index)
            for result, finding in pairs
        ],
        "properties": {"failOn": threshold.label},
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False)


def _finding_key(result: CheckResult, finding: Finding) -> tuple[Any, ...]:
    where = finding.location
    return (
        result.subject,
        result.check,
        where.file or "",
        where.member or "",
        -1 if where.offset is None else where.offset,
        where.key_path or "",
        -1 if where.line is None else where.line,
        finding.rule,
        -finding.severity,
        finding.title,
        finding.evidence,
    )


def _uri(path: str) -> str:
    # A SARIF uri is a URI reference: spaces, '#' and '%' in file names must be escaped, or
    # viewers resolve the wrong file. '/' stays as the path separator.
    return quote(path, safe="/")


def _rules(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """One reporting descriptor per rule id, from its most severe (then first-sorted) finding."""
    chosen: dict[str, Finding] = {}
    worst: dict[str, Severity] = {}
    for finding in findings:
        rule = finding.rule
        if rule not in chosen or finding.severity > chosen[rule].severity:
            chosen[rule] = finding
        worst[rule] = max(worst.get(rule, finding.severity), finding.severity)
    descriptors = []
    for rule_id in sorted(chosen):
        finding = chosen[rule_id]
        tags = ["security", finding.category]
        if finding.cwe:
            tags.append(finding.cwe)
        descriptor: dict[str, Any] = {
            "id": rule_id,
            "shortDescription": {"text": finding.title},
        }
        if finding.why:
            descriptor["fullDescription"] = {"text": finding.why}
        if finding.remediation:
            descriptor["help"] = {"text": finding.remediation}
        descriptor["defaultConfiguration"] = {"level": LEVELS[worst[rule_id]]}
        descriptor["properties"] = {
            "tags": tags,
            "security-severity": SECURITY_SEVERITY[worst[rule_id]],
        }
        descriptors.append(descriptor)
    return descriptors


def _artifacts(results: Sequence[CheckResult]) -> list[dict[str, Any]]:
    """Every scanned artifact file, with its sha256 when a check computed one."""
    digests: dict[str, str | None] = {}
    for result in results:
        if result.kind is not RowKind.ARTIFACT:
            continue
        digest = result.facts.get("sha256")
        if isinstance(digest, str):
            digests[result.subject] = digest
        else:
            digests.setdefault(result.subject, None)
    artifacts = []
    for subject in sorted(digests):
        artifact: dict[str, Any] = {"location": {"uri": _uri(subject)}}
        if digests[subject]:
            artifact["hashes"] = {"sha-256": digests[subject]}
        artifacts.append(artifact)
    return artifacts


def _result(
    result: CheckResult,
    finding: Finding,
    threshold: Severity,
    rule_index: dict[str, int],
    rule_help: dict[str, str],
    artifact_index: dict[str, int],
) -> dict[str, Any]:
    where = finding.location
    message = f"{finding.title}: {finding.evidence}" if finding.evidence else finding.title
    location: dict[str, Any] = {}
    file = where.file or (result.subject if result.kind is RowKind.ARTIFACT else None)
    if file:
        artifact_location: dict[str, Any] = {"uri": _uri(file)}
        if _uri(file) in artifact_index:
            artifact_location["index"] = artifact_index[_uri(file)]
        physical: dict[str, Any] = {"artifactLocation": artifact_location}
        region: dict[str, Any] = {}
        if where.line is not None:
            region["startLine"] = where.line
        if where.offset is not None and not where.member:
            region["byteOffset"] = where.offset
        if region:
            physical["region"] = region
        location["physicalLocation"] = physical
    logical = _logical_locations(result, finding)
    if logical:
        location["logicalLocations"] = logical
    properties: dict[str, Any] = {
        "severity": finding.severity.label,
        "category": finding.category,
        "check": result.check,
        "blocking": finding.severity >= threshold,
    }
    if finding.cwe:
        properties["cwe"] = finding.cwe
    if where.offset is not None and where.member:
        properties["memberByteOffset"] = where.offset
    if finding.remediation and finding.remediation != rule_help[finding.rule]:
        # The rule's help comes from one finding; a fix naming this file must not be lost.
        properties["remediation"] = finding.remediation
    return {
        "ruleId": finding.rule,
        "ruleIndex": rule_index[finding.rule],
        "level": LEVELS[finding.severity],
        "message": {"text": message},
        "locations": [location] if location else [],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(result, finding)},
        "properties": properties,
    }


def _logical_locations(result: CheckResult, finding: Finding) -> list[dict[str, Any]]:
    where = finding.location
    logical: list[dict[str, Any]] = []
    if result.kind is not RowKind.ARTIFACT:
        # A dependency or a model is not a file: name it, so the result is never unplaced.
        kind = "package" if result.kind is RowKind.DEPENDENCY else "module"
        logical.append({"name": result.subject, "kind": kind})
    if where.member:
        # The member chain inside the artifact (``outer.tar/inner.pkl``): SARIF has no
        # physical location for bytes inside an archive.
        logical.append(
            {
                "name": where.member.rsplit("/", 1)[-1],
                "fullyQualifiedName": where.member,
                "kind": "resource",
            }
        )
    if where.key_path:
        logical.append({"name": where.key_path, "kind": "property"})
    return logical


def _fingerprint(result: CheckResult, finding: Finding) -> str:
    """Stable across runs for the same rule at the same place; independent of message text."""
    where = finding.location
    parts = (
        finding.rule,
        where.file or result.subject,
        where.member or "",
        "" if where.offset is None else str(where.offset),
        where.key_path or "",
        "" if where.line is None else str(where.line),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _notifications(results: Sequence[CheckResult], unreadable: Sequence[str]) -> list[Any]:
    notes: list[tuple[str, str, dict[str, Any]]] = []
    for path in unreadable:
        notes.append(
            (
                path,
                "",
                {
                    "level": "error",
                    "message": {"text": f"{path}: no such file or directory"},
                    "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(path)}}}],
                },
            )
        )
    for result in results:
        if result.error is None:
            continue
        note: dict[str, Any] = {
            "level": "error",
            "message": {
                "text": f"{result.subject} [{result.check}] could not complete: {result.error}"
            },
        }
        if result.kind is RowKind.ARTIFACT:
            note["locations"] = [
                {"physicalLocation": {"artifactLocation": {"uri": _uri(result.subject)}}}
            ]
        note["properties"] = {"check": result.check, "subject": result.subject}
        notes.append((result.subject, result.check, note))
    return [note for *_, note in sorted(notes, key=lambda n: (n[0], n[1], n[2]["message"]["text"]))]
