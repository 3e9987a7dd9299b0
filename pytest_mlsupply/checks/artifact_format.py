"""Artifact check ``format``: what a file really is, from its content, and whether it is safe."""

from __future__ import annotations

from pytest_mlsupply.checks.base import ArtifactCheck, CheckContext, Outcome, artifact_content
from pytest_mlsupply.engines.extensions import broken_claim
from pytest_mlsupply.engines.identification import Format
from pytest_mlsupply.printable import one_line
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile

_EXECUTABLE_FAMILIES = {"executable", "script"}


def run(file: ArtifactFile, ctx: CheckContext) -> Outcome:
    ident = artifact_content(file, ctx).identification
    family = ident.family.value
    # The detail may name an archive member: the publisher's, escaped (pytest_mlsupply.printable).
    facts = {"format": ident.format.value, "family": family, "detail": one_line(ident.detail)}
    findings: list[Finding] = []
    where = Location(file=file.subject)
    broken = broken_claim(ident, file.path.suffix.lower())
    if ident.unsafe and family in _EXECUTABLE_FAMILIES:
        findings.append(
            Finding(
                rule="MLS-FMT-001",
                severity=Severity.CRITICAL,
                category="unsafe-format",
                title=f"executable content in a model directory ({ident.format})",
                location=where,
                evidence=ident.evidence or ident.detail,
                why="a model directory has no reason to carry programs; tooling or a careless "
                "`chmod +x` can run them",
                remediation="remove the file from the model; ship tools separately and reviewed",
                cwe="CWE-506",
            )
        )
    elif ident.unsafe:
        # Under `pickle_formats: scan` the deep scan judges the content; the format itself
        # is then only worth a low note (safetensors would still be the better choice).
        scanned = ctx.policy.pickle_formats == "scan"
        remediation = (
            "convert the weights to safetensors and drop this file; to accept pickle-based "
            "files whose content the deep scan clears, "
            + ctx.says(plugin="set `policy.pickle_formats: scan`", cli="pass --pickle-formats scan")
        )
        findings.append(
            Finding(
                rule="MLS-FMT-001",
                severity=Severity.LOW if scanned else Severity.HIGH,
                category="unsafe-format",
                title=f"unsafe serialisation format: {ident.format}",
                location=where,
                evidence=ident.evidence or ident.detail,
                why="loading a pickle-based file runs whatever code its author put in it "
                "(torch.load, joblib.load, pickle.load and numpy.load with allow_pickle)",
                remediation=remediation,
                cwe="CWE-502",
            )
        )
    if broken is not None:
        findings.append(
            Finding(
                rule="MLS-FMT-004",
                severity=Severity.HIGH,
                category="disguised-format",
                title=f"file named {file.path.suffix} does not parse as that format",
                location=where,
                evidence=broken,
                why="a weights file that is not what its name says is a failed download, "
                "tampering, or a payload dressed as weights; the loader that reads files so "
                "named either refuses it or reads it as something else",
                remediation="re-download the file from its source and compare its digest, or "
                "remove it",
                cwe="CWE-646",
            )
        )
    elif ident.extension_mismatch:
        findings.append(
            Finding(
                rule="MLS-FMT-002",
                severity=Severity.MEDIUM,
                category="disguised-format",
                title="file extension does not match its content",
                location=where,
                evidence=ident.extension_mismatch,
                why="a misleading extension makes tools and reviewers treat the file as something "
                "it is not",
                remediation="rename the file after what it contains, or replace it",
                cwe="CWE-646",
            )
        )
    if ident.format == Format.UNKNOWN and broken is None:
        findings.append(
            Finding(
                rule="MLS-FMT-003",
                severity=Severity.LOW,
                category="unknown-format",
                title="content could not be identified",
                location=where,
                evidence=ident.detail,
                why="a file no check understands cannot be vouched for",
                remediation="remove it if it is not needed, or declare what it is",
            )
        )
    return Outcome(findings=findings, facts=facts)


CHECK = ArtifactCheck(
    name="format",
    kind=RowKind.ARTIFACT,
    summary="the file's real format, from its content; pickle-based and executable formats flagged",
    run=run,
    applies=lambda file: file.path.exists() or file.pinned_sha256 is None,
)
