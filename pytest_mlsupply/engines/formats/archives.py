"""Generic archives (zip, tar, 7z): members recursed within limits, hostile member names reported.

This module also holds what every container engine shares: :func:`scan_member` (the one way a
member is handed back to the scanner: depth, extraction budget, executables) and a zip reader
that reads archives the way torch's ``PyTorchFileReader`` does — through the central directory,
taking each member's data at the offset its *local* header gives, with CRCs and flag bits
ignored — so nothing that a loader accepts stops the scan. :mod:`zipfile` is never used to read:
it raises on archives that torch and other loaders open happily.

Rules (MLS-ARC-0xx) are documented in ``docs/checks-containers.md``.
"""

from __future__ import annotations

import bz2
import importlib
import itertools
import lzma
import re
import stat
import struct
import tarfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.scanner import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.sniff import Family
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.sniff import Identification

__all__ = [
    "MemberTooLarge",
    "ZipDirectory",
    "ZipEntry",
    "ZipFormatError",
    "bomb_finding",
    "read_zip_directory",
    "read_zip_member",
    "scan_7z",
    "scan_member",
    "scan_tar",
    "scan_zip",
    "scan_zip_members",
    "tar_member_findings",
    "too_large_finding",
    "traversal_finding",
    "unsafe_member_name",
    "zip_structure_problems",
    "zip_symlink_findings",
]

CWE_409 = "CWE-409"
CWE_22 = "CWE-22"
CWE_59 = "CWE-59"

#: Below this many bytes of output, a high compression ratio is harmless (zeros compress well).
RATIO_FLOOR = 1 << 20

_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_TAIL = _EOCD_SIZE + 0xFFFF
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_RECORD = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
# A central directory bigger than this is not a model archive; refuse rather than allocate.
_MAX_CENTRAL_DIRECTORY = 256 << 20
_CHUNK = 1 << 20

# Flag bits: 0 encrypted, 6 strong encryption, 13 encrypted central directory; 5 "compressed
# patched data", which zipfile refuses outright.
FLAG_ENCRYPTED = 0x0001
SUSPICIOUS_FLAGS = {
    0x0001: "encrypted",
    0x0020: "compressed patched data",
    0x0040: "strong encryption",
    0x2000: "encrypted central directory",
}

_ZIP_STORED, _ZIP_DEFLATED, _ZIP_BZIP2, _ZIP_LZMA = 0, 8, 12, 14
_UNIX = 3


# --- member recursion shared by every container ------------------------------------------


def scan_member(ctx: ScanContext, parent: Blob, name: str, data: bytes) -> list[Finding]:
    """Hand one extracted member back to the scanner, within the depth and extraction budget.

    Every container engine goes through here, so the limits and the executable check hold for
    a member of a zip inside a tar inside a gzip exactly as for a top-level one.
    """
    limits = ctx.policy.limits
    if parent.depth + 1 > limits.max_depth:
        return [_too_deep(parent, name, limits.max_depth)]
    over_budget = ctx.account(parent, len(data))
    if over_budget is not None:
        return [over_budget]
    child = parent.child(name, data)
    findings: list[Finding] = []
    ident = ctx.identify(child)
    if ident.family is Family.EXECUTABLE:
        findings.append(_executable(child, ident))
    findings.extend(ctx.scan_blob(child))
    return findings


def budget_spent(ctx: ScanContext) -> bool:
    """Whether the artifact's extraction budget is already exhausted (stop extracting)."""
    return ctx.extracted_bytes > ctx.policy.limits.max_total_bytes


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


def _executable(child: Blob, ident: Identification) -> Finding:
    native = ident.format != "java-class"
    return Finding(
        rule="MLS-ARC-008",
        severity=Severity.CRITICAL if native else Severity.HIGH,
        category="executable",
        title="executable inside an archive",
        location=child.location(offset=0),
        evidence=f"{ident.detail} ({ident.evidence})",
        why="a model archive has no reason to carry native programs; an unpacking step, an "
        "install script or a user can run it",
        remediation="remove the executable; ship model weights and configuration only",
        cwe="CWE-506",
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


def _too_many(blob: Blob, count: int, limit: int) -> Finding:
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


# --- member names and kinds --------------------------------------------------------------

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
    return Finding(
        rule="MLS-ARC-004",
        severity=Severity.HIGH if escapes or "backslash" in reason else Severity.MEDIUM,
        category="path-traversal",
        title="archive member name escapes the extraction directory",
        location=blob.location(key_path=name),
        evidence=f"member name {name!r} {reason}",
        why="extracting the archive writes this member outside the directory it is unpacked "
        "into (Zip Slip): it can overwrite code, configuration or shell start-up files",
        remediation="rebuild the archive with relative member names that stay inside it",
        cwe=CWE_22,
    )


def _link(blob: Blob, name: str, kind: str, target: str) -> Finding:
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


def _duplicate(blob: Blob, name: str, count: int) -> Finding:
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


def _encrypted(blob: Blob, name: str, how: str) -> Finding:
    return Finding(
        rule="MLS-ARC-007",
        severity=Severity.HIGH,
        category="scanner-evasion",
        title="encrypted archive member cannot be scanned",
        location=blob.location(key_path=name),
        evidence=f"member {name!r}: {how}",
        why="encrypted content cannot be inspected, so it cannot be trusted; a loader given "
        "the password (or one that ignores the flag) still reads it",
        remediation="ship the archive unencrypted",
    )


# --- zip reading -------------------------------------------------------------------------


class ZipFormatError(Exception):
    """No usable central directory: the data is not a zip archive a loader could open."""


class MemberTooLarge(Exception):
    """A member expands beyond what may be extracted; ``produced`` bytes came out so far."""

    def __init__(self, produced: int, consumed: int, reason: str, head: bytes = b"") -> None:
        super().__init__(reason)
        self.produced = produced
        self.consumed = consumed
        self.reason = reason
        self.head = head
        """What was extracted before the limit stopped it."""


@dataclass(frozen=True)
class ZipEntry:
    """One central-directory record, with what its local header says."""

    index: int
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    """Absolute position of the local header (prepended data included)."""
    create_system: int
    external_attr: int
    local_raw_name: bytes | None
    """None when no local header is found at ``header_offset``."""
    local_flags: int | None
    data_offset: int | None
    """Where the member's data starts: after the *local* name and extra field, as torch reads."""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return self.create_system == _UNIX and stat.S_ISLNK(self.external_attr >> 16)

    @property
    def data_end(self) -> int | None:
        return None if self.data_offset is None else self.data_offset + self.compressed_size


@dataclass(frozen=True)
class ZipDirectory:
    entries: list[ZipEntry]
    file_size: int
    eocd_offset: int
    cd_offset: int
    """Absolute position of the central directory."""
    cd_size: int
    prefix: int
    """Bytes of other content before the archive (self-extractors, polyglots)."""
    comment: bytes
    declared_entries: int


def read_zip_directory(fh: BinaryIO, size: int) -> ZipDirectory:
    """List a zip archive from its central directory, reading local headers for data offsets.

    Raises :class:`ZipFormatError` when no end-of-central-directory record points at a central
    directory.
    """
    base = max(size - _TAIL, 0)
    tail = _read_at(fh, base, size - base)
    pos = tail.rfind(_EOCD)
    while pos >= 0:
        found = _parse_eocd(fh, size, tail, base, pos)
        if found is not None:
            return found
        pos = tail.rfind(_EOCD, 0, pos)
    raise ZipFormatError("no end-of-central-directory record that points at a central directory")


def _read_at(fh: BinaryIO, offset: int, length: int) -> bytes:
    if offset < 0 or length <= 0:
        return b""
    fh.seek(offset)
    return fh.read(length)


def _parse_eocd(fh: BinaryIO, size: int, tail: bytes, base: int, pos: int) -> ZipDirectory | None:
    if pos + _EOCD_SIZE > len(tail):
        return None
    _sig, _disk, _cd_disk, _n_disk, entries, cd_size, cd_offset, comment_len = struct.unpack_from(
        "<IHHHHIIH", tail, pos
    )
    comment = tail[pos + _EOCD_SIZE : pos + _EOCD_SIZE + comment_len]
    end_of_cd = base + pos
    locator = _read_at(fh, base + pos - 20, 20)
    if len(locator) == 20 and locator[:4] == _ZIP64_LOCATOR:
        (record_at,) = struct.unpack_from("<Q", locator, 8)
        # Like zipfile, trust the fixed position right before the locator; fall back to the
        # locator's pointer (which is relative to the archive, not to prepended data).
        for candidate in (base + pos - 20 - 56, record_at):
            record = _read_at(fh, candidate, 56)
            if len(record) == 56 and record[:4] == _ZIP64_RECORD:
                *_, entries, cd_size, cd_offset = struct.unpack("<IQHHIIQQQQ", record)
                end_of_cd = candidate
                break
        else:
            return None
    prefix = end_of_cd - cd_size - cd_offset
    cd_start = cd_offset + prefix
    if prefix < 0 or cd_start < 0 or cd_size > _MAX_CENTRAL_DIRECTORY:
        return None
    directory = _read_at(fh, cd_start, cd_size)
    if cd_size and directory[:4] != _CENTRAL:
        return None
    return ZipDirectory(
        entries=_parse_central_directory(fh, directory, prefix),
        file_size=size,
        eocd_offset=base + pos,
        cd_offset=cd_start,
        cd_size=cd_size,
        prefix=prefix,
        comment=comment,
        declared_entries=entries,
    )


def _parse_central_directory(fh: BinaryIO, data: bytes, prefix: int) -> list[ZipEntry]:
    entries: list[ZipEntry] = []
    pos = 0
    while pos + 46 <= len(data) and data[pos : pos + 4] == _CENTRAL:
        (
            made_by,
            flags,
            method,
            crc,
            csize,
            usize,
            name_len,
            extra_len,
            comment_len,
            external,
            offset,
        ) = struct.unpack_from("<4xH2xHH4xIIIHHH4xII", data, pos)
        raw_name = data[pos + 46 : pos + 46 + name_len]
        extra = data[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        usize, csize, offset = _zip64_fields(extra, usize, csize, offset)
        header_offset = offset + prefix
        local = _read_at(fh, header_offset, 30)
        local_name: bytes | None = None
        local_flags: int | None = None
        data_offset: int | None = None
        if len(local) == 30 and local[:4] == _LOCAL:
            (local_flags,) = struct.unpack_from("<H", local, 6)
            local_name_len, local_extra_len = struct.unpack_from("<HH", local, 26)
            local_name = _read_at(fh, header_offset + 30, local_name_len)
            data_offset = header_offset + 30 + local_name_len + local_extra_len
        entries.append(
            ZipEntry(
                index=len(entries),
                name=raw_name.decode("utf-8" if flags & 0x800 else "cp437", errors="replace"),
                raw_name=raw_name,
                flags=flags,
                method=method,
                crc=crc,
                compressed_size=csize,
                size=usize,
                header_offset=header_offset,
                create_system=made_by >> 8,
                external_attr=external,
                local_raw_name=local_name,
                local_flags=local_flags,
                data_offset=data_offset,
            )
        )
        pos += 46 + name_len + extra_len + comment_len
    return entries


def _zip64_fields(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            body = extra[pos + 4 : pos + 4 + length]
            values = [v[0] for v in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            fields = [usize, csize, offset]
            for index, current in enumerate(fields):
                if current == 0xFFFFFFFF and values:
                    fields[index] = values.pop(0)
            return fields[0], fields[1], fields[2]
        pos += 4 + length
    return usize, csize, offset


def read_zip_member(
    fh: BinaryIO,
    entry: ZipEntry,
    *,
    limit: int,
    max_ratio: float,
    file_size: int,
    head_only: bool = False,
) -> bytes:
    """The member's content, decompressed, at most ``limit`` bytes.

    Raises :class:`MemberTooLarge` past ``limit`` or past ``max_ratio`` (above
    :data:`RATIO_FLOOR`), and :class:`ScanError` when the data cannot be read (missing,
    unsupported compression, corrupt stream). With ``head_only``, returns the first ``limit``
    bytes instead of raising, reading no more of the member than that needs.
    """
    if head_only:
        try:
            return read_zip_member(
                fh, entry, limit=limit, max_ratio=float("inf"), file_size=file_size
            )
        except MemberTooLarge as exc:
            return exc.head[:limit]
    if entry.data_offset is None:
        raise ScanError(f"member {entry.name!r}: no local header at byte {entry.header_offset}")
    available = max(min(entry.compressed_size, file_size - entry.data_offset), 0)
    if entry.method == _ZIP_STORED:
        if entry.compressed_size > limit:
            head = _read_at(fh, entry.data_offset, min(available, limit))
            raise MemberTooLarge(
                entry.compressed_size,
                entry.compressed_size,
                "stored member is over the limit",
                head,
            )
        data = _read_at(fh, entry.data_offset, available)
        if len(data) < entry.compressed_size:
            raise ScanError(f"member {entry.name!r}: data runs past the end of the file")
        return data
    decompressor = _member_decompressor(fh, entry)
    if decompressor is None:
        raise ScanError(
            f"member {entry.name!r}: compression method {entry.method} is not supported, "
            "so its content cannot be inspected"
        )
    fh.seek(entry.data_offset + decompressor.skip)
    return _drain(fh, available - decompressor.skip, decompressor, limit, max_ratio, entry.name)


@dataclass
class _Decompressor:
    obj: Any
    skip: int = 0


def _member_decompressor(fh: BinaryIO, entry: ZipEntry) -> _Decompressor | None:
    if entry.method == _ZIP_DEFLATED:
        return _Decompressor(zlib.decompressobj(wbits=-15))
    if entry.method == _ZIP_BZIP2:
        return _Decompressor(bz2.BZ2Decompressor())
    if entry.method == _ZIP_LZMA and entry.data_offset is not None:
        # zip's LZMA: 2 bytes version, 2 bytes properties size, properties, then raw LZMA1.
        head = _read_at(fh, entry.data_offset, 4)
        if len(head) < 4:
            return None
        (props_size,) = struct.unpack_from("<H", head, 2)
        props = _read_at(fh, entry.data_offset + 4, props_size)
        try:
            filters = [lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)]  # type: ignore[attr-defined]
            return _Decompressor(
                lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters), 4 + props_size
            )
        except (lzma.LZMAError, ValueError):
            return None
    return None


def _drain(
    fh: BinaryIO, remaining: int, dec: _Decompressor, limit: int, max_ratio: float, name: str
) -> bytes:
    out = bytearray()
    consumed = 0
    try:
        while not getattr(dec.obj, "eof", False):
            chunk = fh.read(min(_CHUNK, remaining)) if remaining > 0 else b""
            remaining -= len(chunk)
            consumed += len(chunk)
            if not chunk and not _has_pending(dec.obj):
                break  # the member's data ends before its stream does: keep what decoded
            before = len(out)
            out += dec.obj.decompress(_tail(dec.obj) + chunk, limit + 1 - len(out))
            _check_growth(out, consumed, limit, max_ratio)
            if not chunk and len(out) == before:
                break
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise ScanError(f"member {name!r}: compressed data is corrupt ({exc})") from exc
    return bytes(out)


def _has_pending(obj: Any) -> bool:
    return bool(_tail(obj)) or not getattr(obj, "needs_input", True)


def _tail(obj: Any) -> bytes:
    """Input zlib held back when its output limit was reached (bz2 and lzma keep their own)."""
    return bytes(getattr(obj, "unconsumed_tail", b""))


def _check_growth(out: bytearray, consumed: int, limit: int, max_ratio: float) -> None:
    produced = len(out)
    if produced > limit:
        raise MemberTooLarge(
            produced, consumed, f"more than the per-member limit of {limit}", bytes(out[:limit])
        )
    if produced > RATIO_FLOOR and produced > consumed * max_ratio:
        raise MemberTooLarge(
            produced, consumed, f"ratio above the limit of {max_ratio:g}", bytes(out)
        )


def zip_structure_problems(directory: ZipDirectory) -> list[tuple[str, ZipEntry | None, str]]:
    """Inconsistencies a lenient reader (torch) accepts and a strict one (zipfile) does not.

    Each item is ``(kind, entry, detail)`` with kind one of ``name-mismatch``, ``duplicate``,
    ``flags``, ``overlap``, ``outside``, ``no-local-header``, ``prefix``, ``comment``.
    Callers map kinds to their own rule ids.
    """
    problems: list[tuple[str, ZipEntry | None, str]] = []
    counts = Counter(e.raw_name for e in directory.entries)
    reported: set[bytes] = set()
    for entry in directory.entries:
        if entry.local_raw_name is None:
            problems.append(
                ("no-local-header", entry, f"no local header at byte {entry.header_offset}")
            )
        elif entry.local_raw_name != entry.raw_name:
            problems.append(
                (
                    "name-mismatch",
                    entry,
                    f"central directory names {entry.raw_name!r}, local header at byte "
                    f"{entry.header_offset} names {entry.local_raw_name!r}",
                )
            )
        if counts[entry.raw_name] > 1 and entry.raw_name not in reported:
            reported.add(entry.raw_name)
            problems.append(
                ("duplicate", entry, f"{counts[entry.raw_name]} members named {entry.name!r}")
            )
        odd = [label for bit, label in SUSPICIOUS_FLAGS.items() if entry.flags & bit]
        if entry.local_flags is not None:
            odd += [
                f"{label} (local header only)"
                for bit, label in SUSPICIOUS_FLAGS.items()
                if entry.local_flags & bit and not entry.flags & bit
            ]
        if odd:
            problems.append(("flags", entry, f"flag bits {entry.flags:#06x}: {', '.join(odd)}"))
        end = entry.data_end
        if end is not None and end > directory.cd_offset:
            where = "the end of the file" if end > directory.file_size else "the central directory"
            problems.append(
                ("outside", entry, f"data [{entry.data_offset}, {end}) runs past {where}")
            )
    spans = sorted(
        (e for e in directory.entries if e.data_end is not None),
        key=lambda e: (e.header_offset, e.index),
    )
    for a, b in itertools.pairwise(spans):
        end_a = a.data_end
        assert end_a is not None
        if b.header_offset < end_a:
            problems.append(
                (
                    "overlap",
                    b,
                    f"member {b.name!r} at byte {b.header_offset} lies inside member "
                    f"{a.name!r} [{a.header_offset}, {end_a})",
                )
            )
    if directory.prefix > 0:
        problems.append(
            ("prefix", None, f"{directory.prefix} bytes of other content before the archive")
        )
    if directory.comment:
        problems.append(
            (
                "comment",
                None,
                f"archive comment of {len(directory.comment)} bytes: {directory.comment[:60]!r}",
            )
        )
    return problems


# --- zip ---------------------------------------------------------------------------------

_ZIP_STRUCTURE_SEVERITY = {
    "name-mismatch": Severity.HIGH,
    "overlap": Severity.HIGH,
    "prefix": Severity.MEDIUM,
    "outside": Severity.MEDIUM,
    "no-local-header": Severity.MEDIUM,
    "comment": Severity.LOW,
}


#: Handles one member without extracting it whole (returns its findings), or declines (None).
MemberHandler = Callable[[BinaryIO, ZipEntry, int], "list[Finding] | None"]


def scan_zip(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan every member of a zip archive, reporting hostile names, links and bombs."""
    return scan_zip_members(blob, ctx)


def scan_zip_members(
    blob: Blob, ctx: ScanContext, handler: MemberHandler | None = None
) -> list[Finding]:
    """Check and scan each member of the zip archive ``blob``.

    ``handler`` lets a format that knows its members (``.npz``) look at one cheaply first;
    members it declines are extracted and scanned whole.
    """
    with blob.open() as fh:
        size = blob.size
        try:
            directory = read_zip_directory(fh, size)
        except ZipFormatError as exc:
            raise ScanError(f"zip archive cannot be listed: {exc}") from exc
        findings = _zip_structure_findings(blob, directory)
        limits = ctx.policy.limits
        for count, entry in enumerate(directory.entries, start=1):
            if count > limits.max_members:
                findings.append(_too_many(blob, len(directory.entries), limits.max_members))
                break
            findings.extend(_zip_entry_findings(blob, entry, fh, size))
            if entry.is_dir or entry.is_symlink:
                continue
            if entry.flags & FLAG_ENCRYPTED:
                findings.append(_encrypted(blob, entry.name, "general-purpose flag bit 0 set"))
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
    except MemberTooLarge as exc:
        return [bomb_finding(blob, entry.name, exc.produced, exc.consumed, exc.reason)]
    except ScanError as exc:
        ctx.errors.append(f"{blob.location(key_path=entry.name).describe()}: {exc}")
        return []
    return scan_member(ctx, blob, entry.name, data)


def _zip_entry_findings(blob: Blob, entry: ZipEntry, fh: BinaryIO, file_size: int) -> list[Finding]:
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
            fh, entry, limit=4096, max_ratio=float("inf"), file_size=file_size
        ).decode("utf-8", errors="replace")
    except (ScanError, MemberTooLarge):
        target = "(unreadable)"
    return [_link(blob, entry.name, "symbolic link (Unix mode bits)", target)]


def _zip_structure_findings(blob: Blob, directory: ZipDirectory) -> list[Finding]:
    findings: list[Finding] = []
    for kind, entry, detail in zip_structure_problems(directory):
        name = entry.name if entry is not None else None
        if kind == "duplicate":
            assert entry is not None
            findings.append(_duplicate(blob, entry.name, int(detail.split()[0])))
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


# --- tar ---------------------------------------------------------------------------------


def scan_tar(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan every regular member of a tar archive; links, devices and odd names are findings."""
    findings: list[Finding] = []
    limits = ctx.policy.limits
    with blob.open() as fh:
        try:
            archive = tarfile.open(fileobj=fh, mode="r:")  # noqa: SIM115 - closed by `with` below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ScanError(f"tar archive cannot be read: {exc}") from exc
        with archive:
            names: Counter[str] = Counter()
            count = 0
            try:
                for member in archive:
                    count += 1
                    if count > limits.max_members:
                        findings.append(_too_many(blob, count, limits.max_members))
                        break
                    names[member.name] += 1
                    if names[member.name] == 2:
                        findings.append(_duplicate(blob, member.name, 2))
                    findings.extend(tar_member_findings(blob, member))
                    if not member.isfile() or budget_spent(ctx):
                        continue
                    findings.extend(_scan_tar_file(ctx, blob, archive, member))
            except (tarfile.TarError, OSError, EOFError) as exc:
                # Findings so far stand; the unread rest is an error (fail closed).
                ctx.errors.append(
                    f"{blob.location().describe()}: tar archive is damaged after member "
                    f"{count}: {exc}"
                )
    return findings


def tar_member_findings(blob: Blob, member: tarfile.TarInfo) -> list[Finding]:
    findings: list[Finding] = []
    reason = unsafe_member_name(member.name)
    if reason is not None:
        findings.append(traversal_finding(blob, member.name, reason))
    if member.issym():
        findings.append(_link(blob, member.name, "symbolic link", member.linkname))
    elif member.islnk():
        findings.append(_link(blob, member.name, "hard link", member.linkname))
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


def _scan_tar_file(
    ctx: ScanContext, blob: Blob, archive: tarfile.TarFile, member: tarfile.TarInfo
) -> list[Finding]:
    limits = ctx.policy.limits
    if member.size > limits.max_member_bytes:
        return [too_large_finding(blob, member.name, member.size, limits.max_member_bytes)]
    handle = archive.extractfile(member)
    if handle is None:
        return []
    with handle:
        data = handle.read(member.size)
    return scan_member(ctx, blob, member.name, data)


# --- 7z ----------------------------------------------------------------------------------


def scan_7z(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Scan 7-Zip members with py7zr (optional); without it the archive is an error."""
    try:
        py7zr: Any = importlib.import_module("py7zr")
    except ImportError:
        raise ScanError(
            "7z archive cannot be inspected without py7zr; install it "
            "(pip install py7zr) or unpack the archive and scan the files"
        ) from None
    limits = ctx.policy.limits
    findings: list[Finding] = []
    with blob.open() as fh:
        try:
            archive = py7zr.SevenZipFile(fh, mode="r")
        except Exception as exc:  # py7zr raises its own and many builtin exception types
            if "password" in str(exc).lower() or type(exc).__name__ == "PasswordRequired":
                return [_encrypted(blob, "(archive headers)", "the 7z headers are encrypted")]
            raise ScanError(f"7z archive cannot be read: {type(exc).__name__}: {exc}") from exc
        with archive:
            infos = list(archive.list())
            encrypted = bool(archive.needs_password())
            findings.extend(_seven_zip_entry_findings(blob, infos, limits.max_members))
            wanted = _seven_zip_targets(blob, infos, findings, limits, encrypted)
            if not wanted or budget_spent(ctx):
                return findings
            factory = _bounded_factory(py7zr, limits.max_member_bytes)
            try:
                archive.extract(targets=[name for name, _ in wanted], factory=factory)
            except Exception as exc:  # corrupt data surfaces as assorted exception types
                raise ScanError(f"7z members cannot be extracted: {exc}") from exc
            for name, _info in wanted:
                data = factory.products.get(name)
                if data is not None:
                    content = data.content if data.closed else data.getvalue()
                    findings.extend(scan_member(ctx, blob, name, content))
    return findings


def _seven_zip_entry_findings(blob: Blob, infos: list[Any], max_members: int) -> list[Finding]:
    findings: list[Finding] = []
    names: Counter[str] = Counter(str(i.filename) for i in infos)
    for name, count in names.items():
        if count > 1:
            findings.append(_duplicate(blob, name, count))
    for info in infos[:max_members]:
        name = str(info.filename)
        reason = unsafe_member_name(name)
        if reason is not None:
            findings.append(traversal_finding(blob, name, reason))
        if info.is_symlink:
            findings.append(_link(blob, name, "symbolic link", "(in its data)"))
    if len(infos) > max_members:
        findings.append(_too_many(blob, len(infos), max_members))
    return findings


def _seven_zip_targets(
    blob: Blob, infos: list[Any], findings: list[Finding], limits: Any, encrypted: bool
) -> list[tuple[str, Any]]:
    wanted: list[tuple[str, Any]] = []
    for info in infos[: limits.max_members]:
        name = str(info.filename)
        if info.is_directory or info.is_symlink:
            continue
        if encrypted:
            findings.append(_encrypted(blob, name, "the 7z archive needs a password"))
            continue
        size = int(info.uncompressed or 0)
        packed = int(info.compressed or 0)
        if size > limits.max_member_bytes:
            findings.append(too_large_finding(blob, name, size, limits.max_member_bytes))
        elif packed and size > RATIO_FLOOR and size > packed * limits.max_ratio:
            findings.append(bomb_finding(blob, name, size, packed, "declared sizes"))
        else:
            wanted.append((name, info))
    return wanted


def _bounded_factory(py7zr: Any, limit: int) -> Any:
    """A py7zr writer factory that keeps each member in memory, never beyond ``limit``."""
    import io

    base = py7zr.io.WriterFactory

    class _Sink(io.BytesIO):
        content = b""

        def write(self, data: Any) -> int:
            room = limit - self.tell()
            return super().write(bytes(data)[: max(room, 0)]) if room > 0 else 0

        def size(self) -> int:
            return len(self.getvalue())

        def close(self) -> None:
            # py7zr closes each sink once written; keep what it holds.
            if not self.closed:
                self.content = self.getvalue()
            super().close()

    class _Factory(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            self.products: dict[str, _Sink] = {}

        def create(self, filename: str) -> _Sink:
            sink = _Sink()
            self.products[filename] = sink
            return sink

    return _Factory()
