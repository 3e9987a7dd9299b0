"""The one zip reader: archives read the way torch's ``PyTorchFileReader`` reads them.

Identification (is this a torch checkpoint, a Keras archive, an ``.npz``?) and every engine that
opens a zip (torch, Keras, numpy, generic archives) list members and read their bytes here:
through the central directory, taking each member's data at the offset its *local* header gives,
with CRCs and flag bits ignored — so nothing a loader accepts stops the scan, and identification
and scanning can never disagree about what an archive holds. :mod:`zipfile` is never used: it
raises on archives that torch and other loaders open happily. Compressed members go through
:mod:`pytest_mlsupply.engines.decompress`, within the caller's limits.
"""

from __future__ import annotations

import itertools
import stat
import struct
from collections import Counter
from dataclasses import dataclass, replace

from pytest_mlsupply.engines.budget import RATIO_FLOOR, OverBudget, SeekableReader, checkpoint
from pytest_mlsupply.engines.decompress import Codec, decompress

__all__ = [
    "FLAG_ENCRYPTED",
    "SUSPICIOUS_FLAGS",
    "ZipDirectory",
    "ZipEntry",
    "ZipFormatError",
    "ZipListing",
    "ZipReadError",
    "find_directory",
    "read_zip_directory",
    "read_zip_member",
    "with_local_header",
    "zip_structure_problems",
]

_EOCD = b"PK\x05\x06"
EOCD_SIZE = 22
# The EOCD may be followed by a comment of up to 65535 bytes; zipfile looks one byte further.
_TAIL = EOCD_SIZE + (1 << 16)
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_RECORD = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
# A central directory bigger than this is not a model archive; refuse rather than allocate.
_MAX_CENTRAL_DIRECTORY = 256 << 20

# Flag bits: 0 encrypted, 6 strong encryption, 13 encrypted central directory; 5 "compressed
# patched data", which zipfile refuses outright.
FLAG_ENCRYPTED = 0x0001
_FLAG_LZMA_EOS = 0x0002
SUSPICIOUS_FLAGS = {
    0x0001: "encrypted",
    0x0020: "compressed patched data",
    0x0040: "strong encryption",
    0x2000: "encrypted central directory",
}

_STORED = 0
_METHODS = {8: Codec.DEFLATE, 12: Codec.BZ2, 14: Codec.LZMA_ZIP, 93: Codec.ZSTD}


class ZipFormatError(Exception):
    """No usable central directory: the data is not a zip archive a loader could open."""


class ZipReadError(Exception):
    """A member's data cannot be read (missing, unsupported compression, corrupt stream)."""


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
    local_raw_name: bytes | None = None
    """None when no local header is found at ``header_offset`` (or it was not read yet)."""
    local_flags: int | None = None
    data_offset: int | None = None
    """Where the member's data starts: after the *local* name and extra field, as torch reads."""
    local_read: bool = False
    """Whether the local header fields above were looked up."""

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        # Info-ZIP's unzip makes a link of Unix mode bits from several hosts (Unix, Atari,
        # BeOS, AtheOS...), whatever the host: mode bits that say "link" are a link.
        return stat.S_ISLNK(self.external_attr >> 16)

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
    disagreements: tuple[str, ...] = ()
    """Where zipfile (numpy.load, Keras) or torch's reader would find another directory."""


@dataclass(frozen=True)
class _Eocd:
    position: int
    cd_start: int
    cd_size: int
    entries: int
    prefix: int
    comment: bytes
    zip64_by_pointer: bool = False
    zipfile_position: int | None = None
    """Where zipfile takes the end record to be (see _zipfile_eocd)."""


def find_directory(fh: SeekableReader, size: int) -> _Eocd | None:
    """The end-of-central-directory record that points at a central directory, if any.

    Cheap (the file's tail and one 4-byte read per candidate): identification asks it of every
    file, to notice a zip archive appended to other content.
    """
    if size < EOCD_SIZE:
        return None
    base = max(size - _TAIL, 0)
    tail = _read_at(fh, base, size - base)
    pos = tail.rfind(_EOCD)
    while pos >= 0:
        found = _parse_eocd(fh, tail, base, pos)
        if found is not None:
            return replace(found, zipfile_position=_zipfile_eocd(tail, base))
        pos = tail.rfind(_EOCD, 0, pos)
    return None


def _zipfile_eocd(tail: bytes, base: int) -> int | None:
    """Where zipfile takes the end record to be: the file's last 22 bytes when they are one
    with no comment, else the last signature in the tail (it never falls back further)."""
    if len(tail) >= EOCD_SIZE and tail[-EOCD_SIZE:][:4] == _EOCD and tail[-2:] == b"\x00\x00":
        return base + len(tail) - EOCD_SIZE
    pos = tail.rfind(_EOCD)
    return base + pos if pos >= 0 else None


def _disagreements(fh: SeekableReader, eocd: _Eocd) -> tuple[str, ...]:
    """How zipfile's and torch's readers would read this archive otherwise than this one.

    Loaders find an archive's directory differently: zipfile uses the last end record only,
    finds a zip64 record only right before its locator (else it keeps the plain record's
    fields), and shifts offsets by any content before the archive; torch's reader follows the
    zip64 locator's pointer and reads the central directory at its recorded offset, unshifted.
    Each difference is a second archive in the same file, for another loader.
    """
    found: list[str] = []
    at = eocd.zipfile_position
    if at is not None and at != eocd.position:
        found.append(
            f"zipfile (numpy.load, Keras) reads the end record at byte {at}, this reading the "
            f"one at byte {eocd.position}"
        )
    if eocd.zip64_by_pointer:
        found.append(
            "the zip64 locator points away from the record right before it: zipfile reads "
            "that record (or, without one, the plain end record's fields), torch follows the "
            "locator"
        )
    if eocd.prefix > 0 and _read_at(fh, eocd.cd_start - eocd.prefix, 4) == _CENTRAL:
        found.append(
            f"torch reads a central directory at byte {eocd.cd_start - eocd.prefix} (its "
            f"recorded offset), zipfile the one at byte {eocd.cd_start}"
        )
    return tuple(found)


def read_zip_directory(
    fh: SeekableReader, size: int, *, local_headers: bool = True
) -> ZipDirectory:
    """List a zip archive from its central directory.

    With ``local_headers``, each member's local header is read too (its name, flags and where
    its data starts); identification skips that and looks up only the members it reads, with
    :func:`with_local_header`. Raises :class:`ZipFormatError` when no end-of-central-directory
    record points at a central directory.
    """
    eocd = find_directory(fh, size)
    if eocd is None:
        raise ZipFormatError(
            "no end-of-central-directory record that points at a central directory"
        )
    data = _read_at(fh, eocd.cd_start, eocd.cd_size)
    entries = _parse_central_directory(data, eocd.prefix)
    if local_headers:
        entries = [with_local_header(fh, entry) for entry in entries]
    return ZipDirectory(
        entries=entries,
        file_size=size,
        eocd_offset=eocd.position,
        cd_offset=eocd.cd_start,
        cd_size=eocd.cd_size,
        prefix=eocd.prefix,
        comment=eocd.comment,
        declared_entries=eocd.entries,
        disagreements=_disagreements(fh, eocd),
    )


def _read_at(fh: SeekableReader, offset: int, length: int) -> bytes:
    if offset < 0 or length <= 0:
        return b""
    try:
        fh.seek(offset)
        return fh.read(length)
    except (OSError, OverflowError, ValueError):
        return b""  # an offset past what the system can seek to: nothing is there


def _parse_eocd(fh: SeekableReader, tail: bytes, base: int, pos: int) -> _Eocd | None:
    if pos + EOCD_SIZE > len(tail):
        return None
    _sig, _disk, _cd_disk, _n_disk, entries, cd_size, cd_offset, comment_len = struct.unpack_from(
        "<IHHHHIIH", tail, pos
    )
    comment = tail[pos + EOCD_SIZE : pos + EOCD_SIZE + comment_len]
    end_of_cd = base + pos
    zip64_by_pointer = False
    locator = tail[pos - 20 : pos] if pos >= 20 else _read_at(fh, base + pos - 20, 20)
    if len(locator) == 20 and locator[:4] == _ZIP64_LOCATOR:
        # Zip64 (what torch writes past 4 GiB): the real counts are in the zip64 record. Like
        # zipfile, trust the fixed position right before the locator; fall back to the
        # locator's pointer (which is relative to the archive, not to prepended data).
        (record_at,) = struct.unpack_from("<Q", locator, 8)
        fixed = base + pos - 20 - 56
        for candidate in (fixed, record_at):
            record = _read_at(fh, candidate, 56)
            if len(record) == 56 and record[:4] == _ZIP64_RECORD:
                *_, entries, cd_size, cd_offset = struct.unpack("<IQHHIIQQQQ", record)
                end_of_cd = candidate
                # torch follows the pointer whatever lies before the locator, and reads the
                # plain end record's fields when no zip64 record is there.
                zip64_by_pointer = candidate != fixed or record_at != fixed
                break
        else:
            return None
    prefix = end_of_cd - cd_size - cd_offset
    cd_start = cd_offset + prefix
    if prefix < 0 or cd_start < 0 or cd_size > _MAX_CENTRAL_DIRECTORY:
        return None
    # A real EOCD points back at a central directory; random bytes holding the signature do not.
    if cd_size and _read_at(fh, cd_start, 4) != _CENTRAL:
        return None
    return _Eocd(base + pos, cd_start, cd_size, entries, prefix, comment, zip64_by_pointer)


def _parse_central_directory(data: bytes, prefix: int) -> list[ZipEntry]:
    entries: list[ZipEntry] = []
    pos = 0
    while pos + 46 <= len(data) and data[pos : pos + 4] == _CENTRAL:
        if not len(entries) & 1023:
            checkpoint()  # a directory of 10^5 entries is long to read: the scan's budgets
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
                header_offset=offset + prefix,
                create_system=made_by >> 8,
                external_attr=external,
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


def with_local_header(fh: SeekableReader, entry: ZipEntry) -> ZipEntry:
    """``entry`` with what its local header says (name, flags, where the data starts)."""
    if entry.local_read:
        return entry
    local = _read_at(fh, entry.header_offset, 30)
    if len(local) < 30 or local[:4] != _LOCAL:
        return replace(entry, local_read=True)
    (local_flags,) = struct.unpack_from("<H", local, 6)
    name_len, extra_len = struct.unpack_from("<HH", local, 26)
    return replace(
        entry,
        local_raw_name=_read_at(fh, entry.header_offset + 30, name_len),
        local_flags=local_flags,
        data_offset=entry.header_offset + 30 + name_len + extra_len,
        local_read=True,
    )


def read_zip_member(
    fh: SeekableReader,
    entry: ZipEntry,
    *,
    limit: int,
    max_ratio: float,
    file_size: int,
    head_only: bool = False,
) -> bytes:
    """The member's content, decompressed, at most ``limit`` bytes.

    Raises :class:`OverBudget` past ``limit`` or past ``max_ratio`` (above
    :data:`RATIO_FLOOR`), and :class:`ZipReadError` when the data cannot be read. With
    ``head_only``, returns the first ``limit`` bytes instead of raising, reading no more of the
    member than that needs.
    """
    entry = with_local_header(fh, entry)
    if entry.data_offset is None:
        raise ZipReadError(f"member {entry.name!r}: no local header at byte {entry.header_offset}")
    available = max(min(entry.compressed_size, file_size - entry.data_offset), 0)
    if entry.method == _STORED:
        if entry.compressed_size > limit:
            head = _read_at(fh, entry.data_offset, min(available, limit))
            if head_only:
                return head
            raise OverBudget(
                entry.compressed_size,
                entry.compressed_size,
                "stored member is over the limit",
                head,
            )
        data = _read_at(fh, entry.data_offset, available)
        if len(data) < entry.compressed_size and not head_only:
            raise ZipReadError(f"member {entry.name!r}: data runs past the end of the file")
        return data
    codec = _METHODS.get(entry.method)
    if codec is None:
        raise ZipReadError(
            f"member {entry.name!r}: compression method {entry.method} is not supported, "
            "so its content cannot be inspected"
        )
    fh.seek(entry.data_offset)
    result = decompress(
        fh,
        codec,
        limit=limit,
        max_ratio=float("inf") if head_only else max_ratio,
        ratio_floor=RATIO_FLOOR,
        input_size=available,
        concatenated=False,
        partial_input=head_only,
        # The member's data ends where the archive says: for LZMA without an end marker
        # (flag bit 1 clear) that is the end of the stream.
        end_marker_optional=codec is Codec.LZMA_ZIP and not entry.flags & _FLAG_LZMA_EOS,
    )
    if result.over_limit is not None:
        if head_only:
            return result.data
        raise OverBudget(len(result.data) + 1, result.consumed, result.over_limit, result.data)
    if result.error is not None and not head_only:
        if result.input_ended:
            raise ZipReadError(f"member {entry.name!r}: compressed data is truncated")
        raise ZipReadError(f"member {entry.name!r}: compressed data is corrupt ({result.error})")
    return result.data


@dataclass(frozen=True)
class ZipListing:
    """A zip archive as identification sees it: its members, and a way to read their heads."""

    directory: ZipDirectory
    fh: SeekableReader
    evidence: str
    """How the archive was found and listed, for the identification's evidence."""

    @property
    def files(self) -> list[ZipEntry]:
        return [entry for entry in self.directory.entries if not entry.is_dir]

    def head(self, entry: ZipEntry, length: int) -> bytes:
        """The first ``length`` bytes of a member (empty when they cannot be read)."""
        try:
            return read_zip_member(
                self.fh,
                entry,
                limit=length,
                max_ratio=float("inf"),
                file_size=self.directory.file_size,
                head_only=True,
            )
        except ZipReadError:
            return b""


def zip_structure_problems(directory: ZipDirectory) -> list[tuple[str, ZipEntry | None, str]]:
    """Inconsistencies a lenient reader (torch) accepts and a strict one (zipfile) does not.

    Each item is ``(kind, entry, detail)`` with kind one of ``name-mismatch``, ``duplicate``,
    ``flags``, ``overlap``, ``outside``, ``no-local-header``, ``prefix``, ``readers-disagree``,
    ``comment``.
    Callers map kinds to their own rule ids. Needs a directory read with local headers.
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
    problems.extend(("readers-disagree", None, detail) for detail in directory.disagreements)
    if directory.comment:
        problems.append(
            (
                "comment",
                None,
                f"archive comment of {len(directory.comment)} bytes: {directory.comment[:60]!r}",
            )
        )
    return problems
