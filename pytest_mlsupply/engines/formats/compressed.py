"""Compressed streams (gzip, bz2, xz, lzma, zlib, lz4): decompressed within limits, then rescanned.

joblib's compressed dumps, ``model.pkl.gz`` and ``.tar.gz`` archives all arrive here: the stream
is decompressed chunk by chunk (never more than the per-member limit, never beyond the allowed
compression ratio) and the result goes back to the scanner as member ``<decompressed>`` (or the
file name without its compression suffix), so a gzip'd pickle is scanned as a pickle.
Concatenated gzip, bz2, xz and lz4 streams are read whole, as their readers do.

lz4 is not a dependency: the LZ4 frame decoder lives in :mod:`pytest_mlsupply.engines.lz4`, shared with
anything else that needs one.
"""

from __future__ import annotations

import bz2
import lzma
import os
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from pytest_mlsupply.engines.formats.archives import RATIO_FLOOR, bomb_finding, scan_member
from pytest_mlsupply.engines.lz4 import LimitExceeded, lz4_frame_decompress
from pytest_mlsupply.engines.scanner import Blob, ScanContext, ScanError
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.sniff import Identification

__all__ = [
    "DecompressedStream",
    "decompress_stream",
    "lz4_frame_decompress",
    "scan_compressed",
    "scan_zstd",
]

_CHUNK = 256 << 10
# Bounds the dictionary an .xz/.lzma header can make the decoder allocate.
_LZMA_MEMLIMIT = 256 << 20
_SUFFIXES = (".gz", ".tgz", ".bz2", ".xz", ".lzma", ".z", ".lz4", ".zst")
_LZ4_MAGIC = b"\x04\x22\x4d\x18"


@dataclass
class DecompressedStream:
    """What came out of a stream, and why it stopped."""

    data: bytes
    consumed: int
    """Compressed bytes read."""
    streams: int = 0
    """Complete streams (members) decoded."""
    over_limit: str | None = None
    """Set when decompression stopped at a limit; ``data`` is the part within it."""
    error: str | None = None
    """Set when the data is corrupt or truncated; ``data`` is what decoded before."""
    trailing: int = 0
    """Bytes after the last complete stream that are neither padding nor another stream."""


_TooMuch = LimitExceeded  # one exception for every decoder's limits


def scan_compressed(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Decompress ``blob`` within the limits and scan what it holds."""
    limits = ctx.policy.limits
    with blob.open() as fh:
        result = decompress_stream(
            fh, ident.format, limit=limits.max_member_bytes, max_ratio=limits.max_ratio
        )
    findings: list[Finding] = []
    if result.over_limit is not None:
        findings.append(
            bomb_finding(blob, None, len(result.data), result.consumed, result.over_limit)
        )
    if result.trailing:
        findings.append(_trailing(blob, ident.format, result))
    if result.error is not None:
        if not result.data and not findings:
            raise ScanError(f"{ident.format} stream does not decompress: {result.error}")
        # What decoded before the damage is scanned (a reader acts on it before failing);
        # the rest could not be, which fails the check unless a finding already does.
        ctx.errors.append(
            f"{blob.location().describe()}: {ident.format} stream is damaged after "
            f"{len(result.data)} decompressed bytes: {result.error}"
        )
    findings.extend(scan_member(ctx, blob, _inner_name(blob.name), result.data))
    return findings


def scan_zstd(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """zstd streams, through the optional ``zstandard`` package (the standard library has no
    decoder before Python 3.14). Without it the content cannot be inspected: an error, never a
    silent pass."""
    try:
        import zstandard
    except ImportError:
        raise ScanError(
            "zstd-compressed content cannot be inspected without the zstandard package; "
            "install pytest-mlsupply[zstd]"
        ) from None
    limits = ctx.policy.limits
    size = blob.size
    with blob.open() as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        try:
            data = reader.read(limits.max_member_bytes + 1)
        except zstandard.ZstdError as exc:
            raise ScanError(f"zstd stream does not decompress: {exc}") from None
    findings: list[Finding] = []
    if len(data) > limits.max_member_bytes or (
        len(data) > RATIO_FLOOR and size and len(data) / size > limits.max_ratio
    ):
        findings.append(bomb_finding(blob, None, len(data), size, "size or ratio limit"))
        data = data[: limits.max_member_bytes]
    findings.extend(scan_member(ctx, blob, _inner_name(blob.name), data))
    return findings


def _inner_name(name: str) -> str:
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in _SUFFIXES and stem:
        return stem + ".tar" if suffix.lower() == ".tgz" else stem
    return "<decompressed>"


def _trailing(blob: Blob, fmt: str, result: DecompressedStream) -> Finding:
    return Finding(
        rule="MLS-CMP-001",
        severity=Severity.LOW,
        category="scanner-evasion",
        title="data after the end of the compressed stream",
        location=blob.location(offset=result.consumed - result.trailing),
        evidence=f"{result.trailing} bytes after {result.streams} complete {fmt} stream(s)",
        why="decompressors stop at the end of the stream and ignore what follows; bytes there "
        "can carry a second file (a polyglot) that other tools read",
        remediation="re-compress the content so that the file holds the stream only",
    )


# --- decompression -----------------------------------------------------------------------


def decompress_stream(
    fh: BinaryIO, fmt: str, *, limit: int, max_ratio: float
) -> DecompressedStream:
    """Decompress the whole of ``fh`` (a ``fmt`` stream), stopping at ``limit`` output bytes
    or when the output grows beyond ``max_ratio`` times the input (past :data:`RATIO_FLOOR`)."""
    if fmt == "lz4":
        return _lz4_stream(fh, limit, max_ratio)
    factory = _FACTORIES.get(fmt)
    if factory is None:
        raise ScanError(f"no decompressor for {fmt}")
    out = bytearray()
    result = DecompressedStream(b"", 0)
    decoder: Any = factory()
    pending = b""  # input not yet consumed by the current decoder
    at_eof = False
    try:
        while True:
            if not pending and not at_eof:
                pending = fh.read(_CHUNK)
                result.consumed += len(pending)
                at_eof = not pending
            if decoder is None:
                # Between streams: padding, another stream, or trailing data.
                pending = pending.lstrip(b"\x00") if fmt in ("gzip", "xz") else pending
                if not pending:
                    if at_eof:
                        break
                    continue
                if fmt in _CONCATENATED and pending.startswith(_CONCATENATED[fmt]):
                    decoder = factory()
                    continue
                result.trailing = len(pending) + _remaining(fh)
                break
            if at_eof and not pending and not _has_output(decoder):
                result.error = "the stream ends before its end marker (truncated)"
                break
            before = len(out)
            starved = at_eof and not pending
            pending = _feed(decoder, pending, out, limit)
            _check(out, result.consumed - len(getattr(decoder, "tail", b"")), limit, max_ratio)
            if decoder.eof:
                result.streams += 1
                pending = decoder.unused_data + pending
                decoder = None
            elif starved and len(out) == before:
                result.error = "the stream ends before its end marker (truncated)"
                break
    except _TooMuch as exc:
        result.over_limit = str(exc)
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        result.error = str(exc) or type(exc).__name__
    result.data = bytes(out[: limit if result.over_limit else len(out)])
    return result


def _remaining(fh: BinaryIO) -> int:
    here = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(here)
    return end - here


def _has_output(decoder: Any) -> bool:
    tail = getattr(decoder, "unconsumed_tail", b"")
    return bool(tail) or not getattr(decoder, "needs_input", True)


def _feed(decoder: Any, data: bytes, out: bytearray, limit: int) -> bytes:
    """Give ``data`` to ``decoder``, appending at most what fits under ``limit`` (plus one byte,
    to notice going over). Returns the input still to be given (none: decoders buffer it)."""
    room = max(limit + 1 - len(out), 1)
    if isinstance(decoder, _ZlibDecoder):
        out += decoder.obj.decompress(decoder.tail + data, room)
        decoder.tail = decoder.obj.unconsumed_tail
    else:
        out += decoder.decompress(data, room)
    return b""


@dataclass
class _ZlibDecoder:
    """zlib keeps input it could not use in ``unconsumed_tail``; give it the same face as bz2's."""

    obj: Any
    tail: bytes = b""

    @property
    def eof(self) -> bool:
        return bool(self.obj.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self.obj.unused_data)

    @property
    def unconsumed_tail(self) -> bytes:
        return self.tail


def _check(out: bytearray, consumed: int, limit: int, max_ratio: float) -> None:
    if len(out) > limit:
        raise _TooMuch(f"more than the per-member limit of {limit} bytes")
    if len(out) > RATIO_FLOOR and len(out) > max(consumed, 1) * max_ratio:
        raise _TooMuch(f"compression ratio above the limit of {max_ratio:g}")


_FACTORIES: dict[str, Any] = {
    "gzip": lambda: _ZlibDecoder(zlib.decompressobj(wbits=31)),
    "zlib": lambda: _ZlibDecoder(zlib.decompressobj(wbits=15)),
    "bz2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=_LZMA_MEMLIMIT),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=_LZMA_MEMLIMIT),
}
# Formats whose readers go on to the next stream after one ends, and how that stream starts.
_CONCATENATED = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}


# --- lz4 ---------------------------------------------------------------------------------


def _lz4_stream(fh: BinaryIO, limit: int, max_ratio: float) -> DecompressedStream:
    # Frames are decoded whole (blocks are at most 4 MiB); the input is read up to the limit,
    # which an LZ4 stream within the limits never exceeds (its output is at least as large).
    data = fh.read(limit + 1)
    result = DecompressedStream(b"", len(data))
    out = bytearray()
    try:
        result.streams, result.trailing = lz4_frame_decompress(
            data, out, limit, max_ratio, RATIO_FLOOR
        )
    except _TooMuch as exc:
        result.over_limit = str(exc)
    except ValueError as exc:
        result.error = str(exc)
    result.data = bytes(out[:limit])
    return result
