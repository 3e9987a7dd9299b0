"""What every container engine shares: handing members back, member checks, pickles in place.

The pickle, torch, numpy, Keras and generic-archive engines all open containers; the helpers
they share live here, one floor below them, so no engine imports another:

* :func:`scan_member` is the one way an extracted member goes back to the scanner (depth and
  extraction budget checked first), so the limits hold for a member of a zip inside a tar
  inside a gzip exactly as for a top-level one;
* member names and kinds are judged before anything is extracted (:func:`unsafe_member_name`,
  :func:`tar_member_findings`, :func:`zip_entry_findings`): traversal, absolute paths, links,
  devices;
* :func:`scan_zip_members` walks a zip archive's members (read with the one zip reader,
  :mod:`pytest_mlsupply.engines.ziparchive`), letting a format look at a member cheaply first;
* :func:`scan_pickle_region` runs the pickle machine over pickle bytes inside a larger file
  (a torch ``data.pkl``, a numpy object array), offsets kept as file offsets.

Rules (MLS-ARC-0xx) are documented in ``docs/checks.md``.
"""

from __future__ import annotations

import mmap
import re
import stat
import tarfile
from collections.abc import Callable
from typing import Any, BinaryIO

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.budget import RATIO_FLOOR, OverBudget, ScanLimits
from pytest_mlsupply.engines.pickle import PicklePolicy, scan_pickle_bytes
from pytest_mlsupply.engines.ziparchive import (
    FLAG_ENCRYPTED,
    ZipDirectory,
    ZipEntry,
    ZipFormatError,
    ZipReadError,
    read_zip_directory,
    read_zip_member,
    zip_structure_problems,
)
from pytest_mlsupply.results import Finding, Severity

__all__ = [
    "MemberHandler",
    "bomb_finding",
    "budget_spent",
    "duplicate_finding",
    "encrypted_finding",
    "extract_and_scan_zip_member",
    "link_finding",
    "read_handled_member",
    "scan_member",
    "scan_pickle_region",
    "scan_zip_members",
    "tar_member_findings",
    "tar_member_over_limits",
    "too_large_finding",
    "too_many_finding",
    "traversal_finding",
    "unsafe_member_name",
    "zip_entry_findings",
]

CWE_409 = "CWE-409"
CWE_22 = "CWE-22"
CWE_59 = "CWE-59"


# --- handing members back ------------------------------------------------------------------


def scan_member(ctx: ScanContext, parent: Blob, name: str, data: bytes) -> list[Finding]:
    """Hand one extracted member back to the scanner, within the depth and extraction budget."""
    limits = ctx.policy.limits
    if parent.depth + 1 > limits.max_depth:
        return [_too_deep(parent, name, limits.max_depth)]
    over_budget = ctx.account(parent, len(data))
    if over_budget is not None:
        return [over_budget]
    return ctx.scan_blob(parent.child(name, data))


def budget_spent(ctx: ScanContext) -> bool:
    """Whether the artifact's extraction budget is already exhausted, or the scan is past its
    time or memory budget (stop extracting: the scanner reports the budget)."""
    return ctx.budget.spent or ctx.guard.poll()


def scan_pickle_region(
    ctx: ScanContext,
    blob: Blob,
    data: bytes | bytearray | memoryview | mmap.mmap,
    *,
    start: int = 0,
    unpickled: bool = True,
    policy: PicklePolicy | None = None,
    fresh_memo: bool = False,
) -> list[Finding]:
    """Scan the pickles in ``data[start:]``, the content of ``blob``; offsets stay file offsets.

    Bytes a loader unpickles (``unpickled``) that do not parse to their end are an error: the
    machine cannot vouch for what the loader does past where it stopped. With no finding the
    error is raised (:class:`ScanError`); beside findings it is recorded, so that findings
    below the threshold never turn it into a pass. Bytes no loader unpickles (tensor data that
    starts like a pickle) only report their findings. ``policy`` replaces the scan's pickle
    policy (TorchScript archives trust their own ``__torch__`` classes); ``fresh_memo`` reads
    each pickle after the first with a memo of its own (torch's legacy files).
    """
    whole = memoryview(data)
    view = whole[start:]
    try:
        scan = scan_pickle_bytes(
            view,
            policy=policy or ctx.policy.pickle,
            origin=blob.subject,
            member=blob.member,
            base_offset=start,
            fresh_memo=fresh_memo,
        )
    finally:
        # A memory map cannot close while a view of it is alive.
        view.release()
        whole.release()
    if scan.error is not None and unpickled:
        if not scan.findings:
            raise ScanError(scan.error)
        ctx.error(blob, scan.error)
    return scan.findings


# --- findings every container can raise ----------------------------------------------------


def _too_deep(parent: Blob, name: str, max_depth: int) -> Finding:
    return Finding(
        rule="MLS-ARC-002",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="containers nested deeper than the scan limit",
        location=parent.location(key_path=name),
        evidence=f"member {name} would be container level {parent.depth + 1}; the limit is "
        f"{max_depth}",
        why="archives nested inside archives are a classic way to hide a payload from scanners "
        "that stop descending, and to exhaust whatever unpacks them",
        remediation="ship the files directly rather than as archives inside archives",
        cwe=CWE_409,
    )


def bomb_finding(blob: Blob, name: str | None, produced: int, consumed: int, why: str) -> Finding:
    """MLS-ARC-001: a member or stream expands beyond the limits (decompression bomb)."""
    ratio = produced / max(consumed, 1)
    return Finding(
        rule="MLS-ARC-001",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="decompression bomb: content expands beyond the scan limits",
        location=blob.location(key_path=name),
        evidence=f"{consumed} compressed bytes expanded to at least {produced} bytes "
        f"(ratio {ratio:.0f}); {why}",
        why="a decompression bomb exhausts the memory or disk of whatever unpacks it, and the "
        "part past the limit was not scanned",
        remediation="ship the content uncompressed, or split it into files that stay within "
        "the limits",
        cwe=CWE_409,
    )


def too_large_finding(blob: Blob, name: str, size: int, limit: int) -> Finding:
    return Finding(
        rule="MLS-ARC-010",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="archive member too large to scan",
        location=blob.location(key_path=name),
        evidence=f"member {name} declares {size} bytes; the per-member limit is {limit}",
        why="content that is not scanned cannot be trusted: a payload can hide in it",
        remediation="ship large files directly rather than inside an archive, or raise the "
        "limit in the scan policy",
        cwe=CWE_409,
    )


def too_many_finding(blob: Blob, count: int, limit: int) -> Finding:
    return Finding(
        rule="MLS-ARC-009",
        severity=Severity.HIGH,
        category="resource-exhaustion",
        title="archive has more members than the scan limit",
        location=blob.location(),
        evidence=f"more than {limit} members ({count} listed); the rest were not scanned",
        why="members past the limit were not scanned, and a huge member count exhausts unpackers",
        remediation="split the archive, or ship the files directly",
        cwe=CWE_409,
    )


# --- member names and kinds ------------------------------------------------------------------

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member_name(name: str) -> str | None:
    """Why extracting a member called ``name`` could write outside the target directory."""
    if "\x00" in name:
        return "contains a NUL byte"
    if "\\" in name:
        return "contains a backslash (a path separator on Windows)"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    depth = 0
    for part in name.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return "climbs out of the extraction directory with '..'"
        elif part not in ("", "."):
            depth += 1
    if ".." in name.split("/"):
        return "contains '..' components"
    return None


def traversal_finding(blob: Blob, name: str, reason: str) -> Finding:
    escapes = "climbs out" in reason or "absolute" in reason or "drive" in reason
    # Python's zipfile (skops, Keras) ends a name at its first NUL: "config.json\x00x" is
    # config.json to the loader and another member to every check keyed on names.
    renamed = "NUL" in reason
    return Finding(
        rule="MLS-ARC-004",
        severity=Severity.HIGH if escapes or renamed or "backslash" in reason else Severity.MEDIUM,
        category="path-traversal",
        title="archive member name escapes the extraction directory",
        location=blob.location(key_path=name),
        evidence=f"member name {name!r} {reason}",
        why="extracting the archive writes this member outside the directory it is unpacked "
        "into (Zip Slip): it can overwrite code, configuration or shell start-up files",
        remediation="rebuild the archive with relative member names that stay inside it",
        cwe=CWE_22,
    )


def link_finding(blob: Blob, name: str, kind: str, target: str) -> Finding:
    escapes = unsafe_member_name(target) is not None and (
        target.startswith("/") or ".." in target.split("/") or "\\" in target
    )
    return Finding(
        rule="MLS-ARC-005",
        severity=Severity.HIGH if escapes else Severity.MEDIUM,
        category="path-traversal",
        title=f"archive member is a {kind}",
        location=blob.location(key_path=name),
        evidence=f"{kind} {name!r} -> {target!r}",
        why="a link member makes later members (or the loader) read or write through it, "
        "outside the archive when its target is absolute or climbs with '..'",
        remediation="replace links with the files themselves",
        cwe=CWE_59,
    )


def duplicate_finding(blob: Blob, name: str, count: int) -> Finding:
    return Finding(
        rule="MLS-ARC-006",
        severity=Severity.HIGH,
        category="scanner-evasion",
        title="archive holds several members with the same name",
        location=blob.location(key_path=name),
        evidence=f"{count} members named {name!r}",
        why="tools disagree on which copy wins (the first or the last), so a scanner can vet one "
        "copy while the loader reads the other",
        remediation="rebuild the archive with each name once",
    )


#: How to extract a password-protected archive outside the gate, by archive kind; each prompts
#: for the password rather than taking it on the command line.
_EXTRACT_COMMANDS = {
    "zip": "unzip {archive} -d extracted/ (or 7z x {archive} -oextracted/ for AES members)",
    "7z": "7z x {archive} -oextracted/",
}


def encrypted_finding(blob: Blob, name: str, how: str, *, kind: str = "zip") -> Finding:
    """MLS-ARC-007: a password-protected member (or archive) stays high, and says how to scan it.

    Encryption is no reason to pass a file: nothing inside can be vouched for. What the user can
    do is decrypt it where the password is known and scan the result.
    """
    archive = blob.name.rsplit("/", 1)[-1] or f"the {kind} archive"
    command = _EXTRACT_COMMANDS.get(kind, _EXTRACT_COMMANDS["zip"]).format(archive=archive)
    member = "its headers (member names included)" if name.startswith("(") else repr(name)
    return Finding(
        rule="MLS-ARC-007",
        severity=Severity.HIGH,
        category="scanner-evasion",
        title="password-protected archive member cannot be scanned",
        location=blob.location(key_path=name),
        evidence=f"member {name!r} of {archive!r}: {how}",
        why="encrypted content cannot be inspected, so it cannot be vouched for; a loader given "
        "the password (or one that ignores the flag) still reads it",
        remediation=f"to scan {member}: extract the archive with its password outside the gate "
        f"({command}), then run `mlsupply scan extracted/` and use the extracted, scanned files; "
        "or ship the archive unencrypted",
    )


def _zip_encryption(entry_flags: int, method: int) -> str:
    """Which zip encryption a member uses, for the evidence."""
    if entry_flags & 0x0040:
        return "PKWARE strong encryption (flag bits 0 and 6)"
    if method == 99:
        return "WinZip AES encryption (flag bit 0, method 99)"
    return "traditional PKWARE ZipCrypto encryption (flag bit 0)"


def tar_member_over_limits(
    blob: Blob, member: tarfile.TarInfo, limits: ScanLimits
) -> Finding | None:
    """Why a tar member must not be read whole: too large, or a sparse member whose holes
    make it expand like a bomb (tarfile fills them with zeros in memory)."""
    if member.size > limits.max_member_bytes:
        return too_large_finding(blob, member.name, member.size, limits.max_member_bytes)
    if member.issparse():
        sparse: Any = member.sparse  # (offset, size) pairs; typeshed types it loosely
        stored = sum(int(size) for _, size in sparse or ())
        if member.size > RATIO_FLOOR and member.size > max(stored, 1) * limits.max_ratio:
            return bomb_finding(
                blob, member.name, member.size, stored, "a sparse member of mostly holes"
            )
    return None


def tar_member_findings(blob: Blob, member: tarfile.TarInfo) -> list[Finding]:
    """A tar member's name and kind, judged before its data is read."""
    findings: list[Finding] = []
    reason = unsafe_member_name(member.name)
    if reason is not None:
        findings.append(traversal_finding(blob, member.name, reason))
    if member.issym():
        findings.append(link_finding(blob, member.name, "symbolic link", member.linkname))
    elif member.islnk():
        findings.append(link_finding(blob, member.name, "hard link", member.linkname))
    elif member.ischr() or member.isblk() or member.isfifo():
        findings.append(
            Finding(
                rule="MLS-ARC-005",
                severity=Severity.MEDIUM,
                category="path-traversal",
                title="archive member is a device or FIFO",
                location=blob.location(key_path=member.name),
                evidence=f"member {member.name!r} has tar type {member.type!r}",
                why="extracting a device node or FIFO as root gives access to hardware or "
                "blocks the extracting process",
                remediation="remove special files from the archive",
            )
        )
    if member.isfile() and member.mode & (stat.S_ISUID | stat.S_ISGID):
        findings.append(
            Finding(
                rule="MLS-ARC-005",
                severity=Severity.MEDIUM,
                category="privilege",
                title="archive member is set-user-ID or set-group-ID",
                location=blob.location(key_path=member.name),
                evidence=f"member {member.name!r} mode {member.mode:o}",
                why="an extracted set-uid program runs with its owner's privileges",
                remediation="clear the set-uid and set-gid bits",
            )
        )
    return findings


# --- zip members -----------------------------------------------------------------------------

_ZIP_STRUCTURE_SEVERITY = {
    "name-mismatch": Severity.HIGH,
    "overlap": Severity.HIGH,
    "prefix": Severity.MEDIUM,
    "readers-disagree": Severity.HIGH,
    "outside": Severity.MEDIUM,
    "no-local-header": Severity.MEDIUM,
    "comment": Severity.LOW,
}

#: Handles one member without extracting it whole (returns its findings), or declines (None).
MemberHandler = Callable[[BinaryIO, ZipEntry, int], "list[Finding] | None"]


def read_directory(blob: Blob, fh: BinaryIO, what: str) -> ZipDirectory:
    """The archive's directory, or a :class:`ScanError` naming ``what`` could not be listed."""
    try:
        return read_zip_directory(fh, blob.size)
    except ZipFormatError as exc:
        raise ScanError(f"{what} cannot be listed: {exc}") from exc


def read_handled_member(
    fh: BinaryIO, entry: ZipEntry, size: int, *, limit: int, ctx: ScanContext, label: str
) -> bytes:
    """A member a :data:`MemberHandler` analyses itself (Keras' ``config.json``, skops'
    ``schema.json``), read whole within ``limit``; one it cannot read is a scan error naming
    ``label``, never a member quietly skipped."""
    try:
        return read_zip_member(
            fh, entry, limit=limit, max_ratio=ctx.policy.limits.max_ratio, file_size=size
        )
    except OverBudget as exc:
        raise ScanError(f"{label} is too large to analyse ({exc.reason})") from None
    except ZipReadError as exc:
        raise ScanError(f"{label} cannot be read: {exc}") from None


def scan_zip_members(
    blob: Blob, ctx: ScanContext, handler: MemberHandler | None = None
) -> list[Finding]:
    """Check and scan each member of the zip archive ``blob``.

    ``handler`` lets a format that knows its members (``.npz``, Keras) look at one cheaply
    first; members it declines are extracted and scanned whole.
    """
    with blob.open() as fh:
        size = blob.size
        directory = read_directory(blob, fh, "zip archive")
        findings = _zip_structure_findings(blob, directory)
        limits = ctx.policy.limits
        for count, entry in enumerate(directory.entries, start=1):
            if count > limits.max_members:
                findings.append(too_many_finding(blob, len(directory.entries), limits.max_members))
                break
            if ctx.guard.poll():
                break  # past policy.limits: the scanner reports which, with these findings
            findings.extend(zip_entry_findings(blob, entry, fh, size))
            if (entry.is_dir or entry.is_symlink) and not (entry.size or entry.compressed_size):
                continue
            # A directory or link entry with bytes is scanned too: zipfile and the loaders on
            # it (numpy.load's NpzFile) ignore mode bits, and cut a name at a NUL, so
            # 'arr.npy\0/' is 'arr.npy' to them.
            if entry.flags & FLAG_ENCRYPTED:
                how = _zip_encryption(entry.flags, entry.method)
                findings.append(encrypted_finding(blob, entry.name, how))
                continue
            if budget_spent(ctx):
                break
            handled = handler(fh, entry, size) if handler is not None else None
            if handled is not None:
                findings.extend(handled)
                continue
            findings.extend(extract_and_scan_zip_member(ctx, blob, fh, entry, size))
    return findings


def extract_and_scan_zip_member(
    ctx: ScanContext, blob: Blob, fh: BinaryIO, entry: ZipEntry, file_size: int
) -> list[Finding]:
    """Extract one member within the limits and scan it; problems become findings or errors."""
    limits = ctx.policy.limits
    if entry.size > limits.max_member_bytes:
        return [too_large_finding(blob, entry.name, entry.size, limits.max_member_bytes)]
    try:
        data = read_zip_member(
            fh,
            entry,
            limit=limits.max_member_bytes,
            max_ratio=limits.max_ratio,
            file_size=file_size,
        )
    except OverBudget as exc:
        return [bomb_finding(blob, entry.name, exc.produced, exc.consumed, exc.reason)]
    except ZipReadError as exc:
        ctx.error(blob, str(exc), key_path=entry.name)
        return []
    return scan_member(ctx, blob, entry.name, data)


def zip_entry_findings(blob: Blob, entry: ZipEntry, fh: BinaryIO, file_size: int) -> list[Finding]:
    """A zip member's name and kind, judged before its data is read."""
    findings: list[Finding] = []
    reason = unsafe_member_name(entry.name)
    if reason is not None:
        findings.append(traversal_finding(blob, entry.name, reason))
    return findings + zip_symlink_findings(blob, entry, fh, file_size)


def zip_symlink_findings(
    blob: Blob, entry: ZipEntry, fh: BinaryIO, file_size: int
) -> list[Finding]:
    """MLS-ARC-005 for a zip entry whose Unix mode bits make it a symbolic link."""
    if not entry.is_symlink:
        return []
    # The link target is the member's data (what unzip and other extractors create).
    try:
        target = read_zip_member(
            fh, entry, limit=4096, max_ratio=float("inf"), file_size=file_size, head_only=True
        ).decode("utf-8", errors="replace")
    except ZipReadError:
        target = "(unreadable)"
    return [link_finding(blob, entry.name, "symbolic link (Unix mode bits)", target)]


def _zip_structure_findings(blob: Blob, directory: ZipDirectory) -> list[Finding]:
    findings: list[Finding] = []
    for kind, entry, detail in zip_structure_problems(directory):
        name = entry.name if entry is not None else None
        if kind == "duplicate":
            assert entry is not None
            findings.append(duplicate_finding(blob, entry.name, int(detail.split()[0])))
        elif kind == "flags":
            continue  # encrypted members are reported one by one, when they are skipped
        else:
            findings.append(
                Finding(
                    rule="MLS-ARC-011",
                    severity=_ZIP_STRUCTURE_SEVERITY[kind],
                    category="scanner-evasion",
                    title="zip archive structure is inconsistent",
                    location=blob.location(
                        key_path=name,
                        offset=entry.header_offset if entry is not None else None,
                    ),
                    evidence=f"{kind}: {detail}",
                    why="readers disagree on inconsistent archives: what one tool scans is not "
                    "what another loads",
                    remediation="rebuild the archive with a standard zip writer",
                )
            )
    return findings
