"""Identify what a file really is from its bytes: magic numbers and structure, never its name.

This module only orchestrates. Each format answers "is this mine?" in its own engine module,
with the reader its scan uses (the registry, :mod:`pytest_mlsupply.engines.registry`, lists the
detectors in order); identification and scanning therefore cannot disagree about what a file
holds. The extension is only a tie-breaker (for ONNX, whose protobuf has no magic) and what
the content is compared with to report a mismatch (:mod:`pytest_mlsupply.engines.extensions`).
Nothing is executed, unpickled or imported.

Reads are bounded by construction: every byte comes through a
:class:`~pytest_mlsupply.engines.budget.BoundedFile` holding a budget (``max_read``), so a 1 GB
checkpoint identifies after reading its head, its zip central directory or tar headers, and a
few member heads. Compressed streams are identified by their decompressed head (one level).

Malformed input never raises; only I/O errors do (as :class:`OSError`). When a strong magic number
is present but the structure behind it is broken, the format is kept and ``problem`` says what is
wrong; when only a structural guess was possible, the result is ``unknown``.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, BinaryIO

from pytest_mlsupply.engines.budget import BoundedFile
from pytest_mlsupply.engines.extensions import with_mismatch
from pytest_mlsupply.engines.formats.archives import appended_zip, classify_zip, list_zip
from pytest_mlsupply.engines.identification import (
    Family,
    Format,
    Identification,
    View,
    hex_bytes,
)
from pytest_mlsupply.engines.registry import DETECTORS
from pytest_mlsupply.engines.regular_file import NotARegularFile, open_regular

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "HEAD_SIZE",
    "Family",
    "Format",
    "Identification",
    "identify",
    "identify_bytes",
    "identify_open",
]

#: How much of the start of a file is read to decide what it is.
HEAD_SIZE = 64 * 1024


def identify(path: Path, *, max_read: int = 1 << 20) -> Identification:
    """Identify ``path`` from its content, reading at most ``max_read`` bytes of it.

    Raises :class:`OSError` only when the file cannot be read; anything wrong with the content
    is reported in the result.
    """
    try:
        # Opening a FIFO or a device could block or never end; a directory has no content.
        handle, _ = open_regular(path)
    except NotARegularFile as exc:
        return _unknown("not a regular file, so it was not read", f"st_mode {oct(exc.mode)}")
    with handle:
        return identify_open(handle, os.fspath(path), max_read=max_read)


def identify_open(
    handle: BinaryIO, name: str, *, max_read: int = 1 << 20, size: int | None = None
) -> Identification:
    """Identify the content of an open, seekable file (``name`` only gives the extension)."""
    suffix = os.path.splitext(name)[1].lower()
    if size is None:
        size = handle.seek(0, os.SEEK_END)
    ident = _identify_file(BoundedFile(handle, size, max_read), suffix)
    return with_mismatch(ident, suffix)


def identify_bytes(data: bytes, name: str = "", *, max_read: int = 1 << 20) -> Identification:
    """Identify in-memory content (an archive member); ``name`` is only a tie-breaker."""
    suffix = os.path.splitext(name)[1].lower()
    ident = _identify_file(BoundedFile(io.BytesIO(data), len(data), max_read), suffix)
    return with_mismatch(ident, suffix)


def _identify_file(file: BoundedFile, suffix: str) -> Identification:
    if file.size == 0:
        return Identification(Format.EMPTY, Family.EMPTY, False, "empty file", "size 0 bytes")
    head = file.read_at(0, HEAD_SIZE)
    if not head:
        return _unknown("nothing could be read within the read budget", "max_read is 0")

    def inner(data: bytes, complete: bool) -> Identification:
        return _classify(_bytes_view(data, complete, suffix), depth=1)

    ident = _classify(View(head, file.size, file.read_at, file, suffix, inner), depth=0)
    if ident.family is Family.ZIP or ident.format in (Format.EMPTY, Format.UNKNOWN):
        return ident
    offset = appended_zip(file, file.size, tar=ident.family is Family.TAR)
    if offset is None:
        return ident
    # A zip archive hides behind other content (self-extractors, polyglots): the scanner
    # scans it too, as the archive zip readers and torch's reader see.
    return ident.with_(
        detail=f"{ident.detail}; a zip archive is appended at byte {offset}",
        evidence=f"{ident.evidence}; end-of-central-directory record near the end of the file",
        appended_zip=offset,
    )


def _bytes_view(data: bytes, complete: bool, suffix: str) -> View:
    return View(
        head=data,
        size=len(data) if complete else None,
        read_at=lambda offset, length: data[offset : offset + length] if offset >= 0 else b"",
        file=None,
        suffix=suffix,
    )


def _classify(view: View, depth: int) -> Identification:
    """Run the detectors from the most to the least specific; the first answer wins."""
    for entry in DETECTORS:
        if entry.outer_only and depth > 0:
            continue
        found = entry.detect(view)
        if found is not None:
            return found
    if view.file is not None:
        # Unknown content before a zip archive: what every zip reader (and torch) still opens.
        listing = list_zip(view.file)
        if listing is not None:
            return classify_zip(listing)
    return _unknown("no known magic number or structure", f"first bytes {hex_bytes(view.head)}")


def _unknown(detail: str, evidence: str) -> Identification:
    return Identification(Format.UNKNOWN, Family.UNKNOWN, False, detail, evidence)
