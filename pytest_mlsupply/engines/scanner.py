"""The artifact scanner: identify content, run the engine for its format, probe for pickles.

Everything is decided by content (:mod:`pytest_mlsupply.engines.sniff`), never by extension, and
nothing is ever loaded or executed. For each blob — a file, or a member a container engine
extracted — :func:`scan_blob`:

1. identifies it and runs the engine registered for its format
   (:mod:`pytest_mlsupply.engines.registry`);
2. scans a zip archive appended after other content (a polyglot) as the archive it is;
3. decompresses it as ``joblib.load`` does when its first bytes are one of joblib's
   compressors' prefixes that identification did not take it for (joblib picks a decompressor
   by prefix alone), and scans what comes out; and reads it as a legacy torch tar when its
   first 512 bytes are a tar header but identification took it for something else
   (``torch.load`` tries ``tarfile`` first);
4. unless the blob was scanned as a pickle, runs the pickle probe over it
   (:func:`~pytest_mlsupply.engines.formats.pickles.probe_execution`): text, JSON, unknown
   bytes, safetensors, GGUF, zip — whatever ``pickle.load`` would run from its first byte is
   reported. Identification decides which engine looks first; it cannot open a routing hole.

Findings outrank errors: an engine that cannot finish records an error (the check then fails
closed) but keeps what it found.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace
from pathlib import Path, PurePath
from typing import BinaryIO

from pytest_mlsupply.engines.blob import (
    Blob,
    ScanContext,
    ScanError,
    ScanLimits,
    Scanner,
    ScanPolicy,
    ScanReport,
)
from pytest_mlsupply.engines.budget import BudgetExceeded, budget_finding
from pytest_mlsupply.engines.extensions import unread_claim
from pytest_mlsupply.engines.formats.archives import classify_zip, list_zip, tar_header
from pytest_mlsupply.engines.formats.compressed import (
    joblib_compression,
    scan_as_joblib_decompresses,
)
from pytest_mlsupply.engines.formats.pickles import PICKLE_NAMES, probe_execution
from pytest_mlsupply.engines.identification import Family, Format, Identification
from pytest_mlsupply.engines.registry import SCANNERS
from pytest_mlsupply.engines.regular_file import NotARegularFile, open_regular
from pytest_mlsupply.engines.sniff import identify, identify_bytes, identify_open
from pytest_mlsupply.results import Finding

__all__ = [
    "Blob",
    "ScanContext",
    "ScanError",
    "ScanLimits",
    "ScanPolicy",
    "ScanReport",
    "identify_blob",
    "new_context",
    "scan_blob",
    "scan_file",
    "scan_open",
]


def identify_blob(blob: Blob) -> Identification:
    if blob.data is not None:
        return identify_bytes(blob.data, blob.name)
    assert blob.path is not None
    if blob.fd is not None:
        with blob.open() as handle:
            return identify_open(handle, blob.name, size=blob.size)
    return identify(blob.path)


def scan_blob(blob: Blob, ctx: ScanContext) -> list[Finding]:
    """Identify ``blob``, scan it as its format, and probe it for what pickle.load would run.

    A scan past its time or memory budget stops here with the findings it has: the budget's
    finding and error are reported once, for the artifact (:func:`scan_open`)."""
    findings: list[Finding] = []
    within_budget = ctx.guard.exceeded is None
    # ctx.guard.exceeded says which budget stopped it; the findings made before are kept.
    with suppress(BudgetExceeded):
        _scan_blob(blob, ctx, findings)
    if within_budget and ctx.guard.exceeded is not None and ctx.budget_stopped_at is None:
        # The innermost member whose scan went past the budget: the finding names it.
        ctx.budget_stopped_at = blob.location()
    return findings


def _scan_blob(blob: Blob, ctx: ScanContext, findings: list[Finding]) -> None:
    ident = identify_blob(blob)
    ctx.formats[blob.member or ""] = ident.format.value
    unread = unread_claim(ident, PurePath(blob.name).suffix.lower())
    if unread is not None:
        # Named as weights and recognised as nothing: no engine reads it, so no pass.
        ctx.error(blob, unread)
    findings += _run(SCANNERS.get(ident.format), blob, ident, ctx)
    if ident.appended_zip is not None:
        findings += _scan_appended_zip(blob, ctx)
    head = _head(blob)
    joblib_format = joblib_compression(head)
    if joblib_format is not None and joblib_format is not ident.format:
        findings += _scan_as_joblib(blob, joblib_format, ctx)
    if ident.format not in (Format.TAR, Format.PYTORCH_TAR, Format.NEMO) and tar_header(head):
        # torch.load opens any file that is not a zip with tarfile first: a pickle (or
        # anything) whose first 512 bytes are a tar header is a legacy checkpoint to it.
        findings += _run(SCANNERS.get(Format.PYTORCH_TAR), blob, ident, ctx)
    if ident.family is not Family.PICKLE:
        # Named like a pickle and identified as nothing else: what cannot be followed is an
        # error (a loader is pointed at it), not a pass.
        strict = ident.format in (Format.UNKNOWN, Format.TEXT) and blob.name.lower().endswith(
            PICKLE_NAMES
        )
        findings += probe_execution(blob, ctx, strict=strict)


def _head(blob: Blob) -> bytes:
    if blob.data is not None:
        return bytes(blob.data[:512])
    with blob.open() as fh:
        return fh.read(512)


def _scan_as_joblib(blob: Blob, fmt: Format, ctx: ScanContext) -> list[Finding]:
    try:
        return scan_as_joblib_decompresses(blob, fmt, ctx)
    except (MemoryError, RecursionError) as exc:
        ctx.error(blob, f"too large or deep to analyse as joblib decompresses it ({exc!r})")
    return []


def _run(
    scanner: Scanner | None, blob: Blob, ident: Identification, ctx: ScanContext
) -> list[Finding]:
    if scanner is None:
        return []
    try:
        return scanner(blob, ident, ctx)
    except ScanError as exc:
        ctx.error(blob, str(exc))
    except (MemoryError, RecursionError) as exc:
        ctx.error(blob, f"too large or deep to analyse ({type(exc).__name__})")
    return []


def _scan_appended_zip(blob: Blob, ctx: ScanContext) -> list[Finding]:
    """The zip archive behind other content, scanned as the kind of archive it is."""
    with blob.open() as fh:
        listing = list_zip(fh, blob.size)
        if listing is None:
            return []
        ident = classify_zip(listing)
    return _run(SCANNERS.get(ident.format), blob, ident, ctx)


#: Findings of one rule that one artifact lists one by one; the rest are folded into one finding
#: that counts them, with the highest severity among them (so the verdict is the same). An
#: 800 kB pickle importing 100,000 distinct unknown names made a 91 MB report (found by the
#: long fuzz run): every report, the matrix, the BOM and SARIF carried them all.
MAX_FINDINGS_PER_RULE = 100


def capped(findings: list[Finding]) -> list[Finding]:
    """``findings`` with at most :data:`MAX_FINDINGS_PER_RULE` of each rule listed."""
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.rule] = counts.get(finding.rule, 0) + 1
    if all(count <= MAX_FINDINGS_PER_RULE for count in counts.values()):
        return findings
    listed: list[Finding] = []
    folded: dict[str, list[Finding]] = {}
    seen: dict[str, int] = {}
    for finding in findings:
        seen[finding.rule] = seen.get(finding.rule, 0) + 1
        if seen[finding.rule] <= MAX_FINDINGS_PER_RULE:
            listed.append(finding)
        else:
            folded.setdefault(finding.rule, []).append(finding)
    for rule, rest in folded.items():
        worst = max(rest, key=lambda finding: finding.severity)
        listed.append(
            replace(
                worst,
                title=f"{len(rest)} more findings of {rule}, not listed one by one",
                evidence=f"{len(rest)} more findings of {rule} in this artifact (the first "
                f"{MAX_FINDINGS_PER_RULE} are listed); the most severe of them: "
                f"{worst.evidence[:300]}",
            )
        )
    return listed


def new_context(policy: ScanPolicy | None = None) -> ScanContext:
    """A context whose container engines hand members back to :func:`scan_blob`."""
    return ScanContext(dispatch=scan_blob, policy=policy or ScanPolicy())


def scan_file(path: Path, subject: str, policy: ScanPolicy | None = None) -> ScanReport:
    """Scan one artifact on disk. Raises OSError only when the file itself cannot be opened."""
    try:
        handle, _ = open_regular(path)
    except NotARegularFile:
        # A FIFO or device would block the scan forever; it cannot be a model file either.
        return ScanReport(
            findings=[], errors=[f"{subject}: not a regular file; it was not opened"], formats={}
        )
    with handle:
        return scan_open(handle, path, subject, policy)


def scan_open(
    handle: BinaryIO, path: Path, subject: str, policy: ScanPolicy | None = None
) -> ScanReport:
    """Scan the regular file open as ``handle`` (from
    :func:`~pytest_mlsupply.engines.regular_file.open_regular`), named ``path``.

    Every read goes through the handle, never through the path again: the report is of the
    bytes of the file that was opened, whatever ``path`` leads to by the end (the content
    cache keys the report by the handle's identity). ``path`` still names the folder that
    findings about the files beside the artifact look in.
    """
    ctx = new_context(policy)
    blob = Blob(subject=subject, name=path.name, path=path, fd=handle.fileno())
    with ctx.guard.active():
        findings = scan_blob(blob, ctx)
    ctx.guard.settle()
    exceeded = ctx.guard.exceeded
    if exceeded is not None:
        # A finding (it fails at any fail_on) and an error (the report is never cached: what
        # a budget stopped depends on the machine's load, and the rest was never scanned).
        findings.append(budget_finding(exceeded, ctx.budget_stopped_at or blob.location()))
        ctx.error(blob, f"{exceeded.evidence}: the rest of the file was not scanned")
    return ScanReport(
        findings=capped(findings),
        errors=ctx.errors,
        formats=ctx.formats,
        looked_beside=blob.looked_beside,
    )
