"""Artifact check ``hub``: a hub model's file against the Hub's metadata and its cache address.

Two independent comparisons, both on the bytes a loader would read:

- **content address** (always, online or offline): huggingface_hub names each cached blob after
  the content it downloaded (the sha256 of an LFS file, the git blob sha1 of a regular one). A
  blob whose bytes no longer hash to its name was modified after the download (MLS-HUB-001).
- **hub metadata**: the LFS sha256 and size (or git blob id and size) the Hub lists for the file
  at the pinned commit, fetched in this session when online, otherwise the listing
  huggingface_hub recorded in the cache at download time (MLS-HUB-002). A file the listing does
  not have, or a listed file whose blob is gone, is MLS-HUB-003.

The check applies to files inside a Hugging Face cache snapshot
(``<cache>/{models,datasets}--org--name/snapshots/<commit>/...``), which is where every hub model
resolves to.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pytest_mlsupply.checks.base import ArtifactCheck, CheckContext, Outcome, artifact_content
from pytest_mlsupply.results import Finding, Location, RowKind, Severity
from pytest_mlsupply.sources.inventory import ArtifactFile

# The Hub module is imported by a run over a hub model's file: the planner loads this check to
# ask ``applies`` of every file, and a project of local models never needs the rest.
if TYPE_CHECKING:
    from pytest_mlsupply.sources.hub import HubFileMeta

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")

_SOURCE_TEXT = {
    "hub": "the Hub lists",
    "cache-listing": "the listing huggingface_hub recorded in the cache at download time says",
}


def applies(file: ArtifactFile) -> bool:
    """Whether ``file`` sits in a Hugging Face cache snapshot (a resolved hub model)."""
    depth = len(file.relpath.split("/"))
    parents = file.path.parents
    if len(parents) < depth + 2:
        return False
    snapshot = parents[depth - 1]
    return (
        _COMMIT_RE.match(snapshot.name) is not None
        and snapshot.parent.name == "snapshots"
        and snapshot.parent.parent.name.startswith(("models--", "datasets--"))
    )


def run(file: ArtifactFile, ctx: CheckContext) -> Outcome:
    from pytest_mlsupply.sources.hub import blob_address, git_blob_sha1

    listing = _listing(file, ctx)
    meta = listing.get(file.relpath) if listing is not None else None
    recorded = meta if meta is not None and meta.source != "cache-blob" else None
    complete = listing is not None and any(m.source != "cache-blob" for m in listing.values())

    if not file.path.exists():
        if meta is not None or file.path.is_symlink():
            return Outcome(findings=[_missing(file, meta)])
        return Outcome()  # a pin placeholder: the sha256 check reports the missing file

    content = artifact_content(file, ctx)
    facts: dict[str, Any] = {"sha256": content.sha256, "size": content.size}
    findings: list[Finding] = []
    git_sha1: str | None = None

    address = blob_address(file.path)
    if address is not None:
        facts["cache_blob"] = f"{address.algorithm}:{address.digest}"
        if address.algorithm == "sha256":
            actual = content.sha256
        else:
            git_sha1 = actual = git_blob_sha1(file.path)
        if actual != address.digest:
            findings.append(_tampered_blob(file, address.algorithm, address.digest, actual))

    if recorded is not None:
        facts["hub"] = recorded.to_dict()
        if not recorded.is_lfs and recorded.blob_id is not None and git_sha1 is None:
            git_sha1 = git_blob_sha1(file.path)
        mismatch = _metadata_mismatch(recorded, content.sha256, content.size, git_sha1)
        if mismatch is not None:
            findings.append(_differs_from_hub(file, recorded, mismatch))
    elif complete:
        findings.append(_not_on_hub(file))
    elif address is None:
        findings.append(_unverifiable(file, ctx))
    return Outcome(findings=findings, facts=facts)


def _listing(file: ArtifactFile, ctx: CheckContext) -> dict[str, HubFileMeta] | None:
    for model in ctx.inventory.models:
        if model.name == file.model:
            return model.hub_files
    return None


def _metadata_mismatch(
    meta: HubFileMeta, sha256: str, size: int, git_sha1: str | None
) -> tuple[str, str] | None:
    """(expected, found) when the bytes disagree with the recorded metadata, else None."""
    if meta.is_lfs:
        expected_size = meta.lfs_size if meta.lfs_size is not None else meta.size
        if sha256 != meta.lfs_sha256 or (expected_size is not None and size != expected_size):
            return (
                f"LFS sha256:{meta.lfs_sha256}, {expected_size} bytes",
                f"sha256:{sha256}, {size} bytes",
            )
        return None
    if meta.blob_id is not None and git_sha1 is not None and git_sha1 != meta.blob_id:
        return (
            f"git blob {meta.blob_id}, {meta.size} bytes",
            f"git blob {git_sha1}, {size} bytes (sha256:{sha256})",
        )
    if meta.size is not None and size != meta.size:
        return f"{meta.size} bytes", f"{size} bytes"
    return None


# -- findings -------------------------------------------------------------------------------


def _tampered_blob(file: ArtifactFile, algorithm: str, expected: str, actual: str) -> Finding:
    return Finding(
        rule="MLS-HUB-001",
        severity=Severity.CRITICAL,
        category="integrity",
        title="cached blob does not match its content address",
        location=Location(file=file.subject),
        evidence=f"the cache names the blob {algorithm}:{expected}; its bytes hash to "
        f"{algorithm}:{actual}",
        why="huggingface_hub names a blob after the content it downloaded: these bytes were "
        "changed in the cache after the download (tampering or corruption), and every snapshot "
        "sharing the blob now serves them",
        remediation="delete the repository's folder from the Hugging Face cache (`hf cache rm`) "
        "and resolve the model online again; find out who can write to the cache",
        cwe="CWE-494",
    )


def _differs_from_hub(file: ArtifactFile, meta: HubFileMeta, mismatch: tuple[str, str]) -> Finding:
    expected, found = mismatch
    return Finding(
        rule="MLS-HUB-002",
        severity=Severity.CRITICAL,
        category="integrity",
        title="file differs from the Hub's metadata at the pinned commit",
        location=Location(file=file.subject),
        evidence=f"{_SOURCE_TEXT.get(meta.source, meta.source)} {expected}; the file on disk is "
        f"{found}",
        why="the bytes a loader reads are not the ones published at this commit: the download "
        "was intercepted or the cache was altered",
        remediation="delete the repository's folder from the Hugging Face cache (`hf cache rm`) "
        "and resolve the model online again; if it persists, report it to the model's owners",
        cwe="CWE-494",
    )


def _not_on_hub(file: ArtifactFile) -> Finding:
    return Finding(
        rule="MLS-HUB-003",
        severity=Severity.MEDIUM,
        category="integrity",
        title="file is not part of the pinned commit",
        location=Location(file=file.subject),
        evidence=f"{file.relpath} is in the snapshot directory but not in the commit's listing",
        why="a file dropped into the cached snapshot is read by loaders given the directory, yet "
        "nobody published or reviewed it",
        remediation="delete the file (or the repository's folder in the cache and resolve again)",
        cwe="CWE-345",
    )


def _missing(file: ArtifactFile, meta: HubFileMeta | None) -> Finding:
    listed = "the commit lists it" if meta is not None else "its link is dangling"
    return Finding(
        rule="MLS-HUB-003",
        severity=Severity.MEDIUM,
        category="integrity",
        title="file of the pinned commit is missing locally",
        location=Location(file=file.subject),
        evidence=f"{file.relpath}: {listed}, but no bytes are on disk (blob deleted from the cache?)",
        why="an incomplete snapshot loads a different model, or fails at load time",
        remediation="resolve the model online again to restore the snapshot",
        cwe="CWE-345",
    )


def _unverifiable(file: ArtifactFile, ctx: CheckContext) -> Finding:
    return Finding(
        rule="MLS-HUB-004",
        severity=Severity.INFO,
        category="integrity",
        title="nothing to verify the file against",
        location=Location(file=file.subject),
        evidence="the snapshot file is a copy, not a link to a content-addressed blob, and no "
        "listing of the commit is available offline",
        why="without the Hub's metadata or a content address, only a manifest pin detects a "
        "swapped file",
        remediation="resolve once online (the listing is then recorded in the cache), or "
        + ctx.says(
            plugin="pin the file's sha256 under `files:` in the manifest",
            cli="compare the file's sha256 with the one the Hub lists for it",
        ),
    )


CHECK = ArtifactCheck(
    name="hub",
    kind=RowKind.ARTIFACT,
    summary="a hub model's file matches the Hub's metadata at the pinned commit and its cache "
    "content address",
    run=run,
    applies=applies,
)
