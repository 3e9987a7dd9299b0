"""Artifact check ``sha256``: a file's SHA-256 against the pin declared in the manifest."""

from __future__ import annotations

import json

import yaml

from pytest_mlsupply.checks.base import ArtifactCheck, CheckContext, Outcome, artifact_content
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile


def run(file: ArtifactFile, ctx: CheckContext) -> Outcome:
    if not file.path.exists() and file.pinned_sha256 is not None:
        return Outcome(
            findings=[
                Finding(
                    rule="MLS-PIN-002",
                    severity=Severity.HIGH,
                    category="integrity",
                    title="pinned file is missing",
                    location=Location(file=file.subject),
                    evidence=f"manifest pins sha256:{file.pinned_sha256}; no such file in the model",
                    why="the model on disk is not the model that was reviewed and pinned",
                    remediation="restore the file, or remove its pin from the manifest's `files:` if "
                    "the model legitimately changed",
                    cwe="CWE-494",
                )
            ]
        )
    content = artifact_content(file, ctx)
    facts = {"sha256": content.sha256, "size": content.size}
    if file.pinned_sha256 is None:
        return Outcome(
            # The matrix shows the note instead of "pass": a digest nobody pinned proves nothing.
            facts={**facts, "note": "not pinned"},
            findings=[
                Finding(
                    rule="MLS-PIN-003",
                    severity=Severity.INFO,
                    category="integrity",
                    title="file has no sha256 pin",
                    location=Location(file=file.subject),
                    evidence=f"sha256:{content.sha256}",
                    why="without a pin, a swapped file is only caught by content checks",
                    remediation=ctx.says(
                        plugin=f"pin it under `files:` as {_yaml_key(file.relpath)}: "
                        f'"sha256:{content.sha256}"',
                        cli=f"compare sha256:{content.sha256} with the digest the publisher lists "
                        f"for {file.relpath}; to pin it, declare the model in mlsupply.yaml",
                    ),
                )
            ],
        )
    if content.sha256 != file.pinned_sha256:
        return Outcome(
            facts=facts,
            findings=[
                Finding(
                    rule="MLS-PIN-001",
                    severity=Severity.CRITICAL,
                    category="integrity",
                    title="file does not match its sha256 pin",
                    location=Location(file=file.subject),
                    evidence=f"expected sha256:{file.pinned_sha256}, found sha256:{content.sha256}",
                    why="the bytes differ from the reviewed file: it was modified, corrupted or swapped",
                    remediation="restore the pinned file; if the change is intended and reviewed, update "
                    "the pin in the manifest",
                    cwe="CWE-494",
                )
            ],
        )
    return Outcome(facts=facts)


def _yaml_key(name: str) -> str:
    """``name`` as a key of the line to paste under ``files:``: bare when YAML reads it back as
    itself, else double-quoted (a file name chosen by someone else may hold ``#`` or ``: ``)."""
    try:
        if yaml.safe_load(f"{name}: x") == {name: "x"}:
            return name
    except yaml.YAMLError:
        pass
    return json.dumps(name, ensure_ascii=False)


CHECK = ArtifactCheck(
    name="sha256",
    kind=RowKind.ARTIFACT,
    summary="the file's SHA-256 matches its pin in the manifest",
    run=run,
)
