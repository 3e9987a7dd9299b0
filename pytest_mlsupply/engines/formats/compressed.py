"""Compressed streams (gzip, bz2, xz, lzma, zlib, lz4, zstd): identified by what they hold.

Identification decompresses a bounded head and identifies what comes out (``gzip-compressed
pickle``); the engine decompresses the whole stream within the scan limits and hands the result
back to the scanner as member ``<decompressed>`` (or the file name without its compression
suffix), so a gzip'd pickle is scanned as a pickle. Both go through the one bounded
decompression layer, :mod:`pytest_mlsupply.engines.decompress`. Concatenated gzip, bz2, xz, lz4
and zstd streams are read whole, as their readers do.
"""

from __future__ import annotations

import io
import os
import struct
from typing import TYPE_CHECKING

from pytest_mlsupply.engines.blob import Blob, ScanContext, ScanError
from pytest_mlsupply.engines.containers import bomb_finding, scan_member
from pytest_mlsupply.engines.decompress import (
    BZ2_BLOCK_MAGICS,
    Codec,
    Decompressed,
    codec_by_magic,
    decompress,
)
from pytest_mlsupply.engines.extensions import noun
from pytest_mlsupply.engines.identification import Family, Format, Identification, hex_bytes
from pytest_mlsupply.engines.pickle.scan import PartScanner, register_file_load_reader
from pytest_mlsupply.results import Finding, Severity

if TYPE_CHECKING:
    from pytest_mlsupply.engines.identification import View

__all__ = [
    "identify_compressed",
    "identify_joblib_zfile",
    "identify_weak_compressed",
    "joblib_compression",
    "joblib_unpickles",
    "read_joblib_load",
    "scan_as_joblib_decompresses",
    "scan_compressed",
]

#: How much decompressed output identification looks at.
HEAD_SIZE = 64 * 1024
# A bzip2 block is up to 900 kB, and nothing decompresses before a whole block is in.
_BZ2_INPUT = 1 << 20
_SUFFIXES = (".gz", ".tgz", ".bz2", ".xz", ".lzma", ".z", ".lz4", ".zst")


# --- identification -------------------------------------------------------------------------


def identify_compressed(view: View) -> Identification | None:
    """Streams with a real magic number: gzip, bz2, xz, lz4 frames, zstd frames."""
    head = view.head
    if head[:3] == b"\x1f\x8b\x08":
        return _identified(view, Format.GZIP, Codec.GZIP, "magic 1f 8b 08", head)
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in BZ2_BLOCK_MAGICS:
        data = head
        if view.file is not None and view.truncated:
            data += view.read_at(len(head), _BZ2_INPUT - len(head))
        return _identified(view, Format.BZ2, Codec.BZ2, f"magic {hex_bytes(head[:10])}", data)
    if head[:6] == b"\xfd7zXZ\x00":
        return _identified(view, Format.XZ, Codec.XZ, "magic fd 37 7a 58 5a 00", head)
    if head[:4] == b"\x04\x22\x4d\x18":
        return _identified(view, Format.LZ4, Codec.LZ4, "magic 04 22 4d 18", head)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return _identified(view, Format.ZSTD, Codec.ZSTD, "magic 28 b5 2f fd", head)
    return None


# joblib's old format (before 0.10, still read by joblib.load): "ZF", the decompressed length
# as 19 characters of hex, an optional space, then a zlib stream of the pickle.
_ZFILE_PREFIX = b"ZF"
_ZFILE_HEADER = 2 + 19


def _zfile_start(head: bytes) -> int | None:
    """Where a joblib z-file's zlib stream starts, or None when ``head`` is not one."""
    if head[:2] != _ZFILE_PREFIX or len(head) < _ZFILE_HEADER:
        return None
    try:
        int(head[2:_ZFILE_HEADER], 16)  # what joblib's read_zfile parses
    except ValueError:
        return None
    return _ZFILE_HEADER + 1 if head[_ZFILE_HEADER : _ZFILE_HEADER + 1] == b" " else _ZFILE_HEADER


def identify_joblib_zfile(view: View) -> Identification | None:
    """joblib's legacy compressed pickle, which ``joblib.load`` still reads."""
    start = _zfile_start(view.head)
    if start is None:
        return None
    evidence = f"'ZF' and a hex length {view.head[2:_ZFILE_HEADER]!r}, then zlib from byte {start}"
    return _identified(view, Format.JOBLIB_ZFILE, Codec.ZLIB, evidence, view.head[start:])


def identify_weak_compressed(view: View) -> Identification | None:
    """zlib and .lzma have no real magic: only a stream that decompresses counts."""
    head = view.head
    if _is_zlib_header(head):
        result = _head(view, Codec.ZLIB, head)
        if result.data:
            evidence = f"zlib header {hex_bytes(head[:2])}"
            return _identification(view, Format.ZLIB, evidence, result)
    if len(head) >= 14 and head[0] < 9 * 5 * 5 and head[13] == 0:
        # .lzma ("alone"): properties byte, dictionary size, uncompressed size (-1 when
        # unknown), then a range coder whose first byte is always zero.
        dict_size, plain_size = struct.unpack_from("<IQ", head, 1)
        if 4096 <= dict_size <= 1 << 30 and (plain_size == 2**64 - 1 or plain_size < 1 << 48):
            result = _head(view, Codec.LZMA, head)
            if result.data:
                evidence = f"lzma-alone header {hex_bytes(head[:5])} (dictionary {dict_size} bytes)"
                return _identification(view, Format.LZMA, evidence, result)
    return None


def _is_zlib_header(head: bytes) -> bool:
    # Deflate method, window at most 32 KiB, check bits valid, no preset dictionary: the one
    # header check, shared with strings that hold compressed data.
    return codec_by_magic(head[:2]) is Codec.ZLIB


def _head(view: View, codec: Codec, data: bytes) -> Decompressed:
    """The decompressed head of the stream (``data`` is its compressed head, or all of it)."""
    return decompress(io.BytesIO(data), codec, limit=HEAD_SIZE, partial_input=view.truncated)


def _identified(
    view: View, fmt: Format, codec: Codec, evidence: str, data: bytes
) -> Identification:
    return _identification(view, fmt, evidence, _head(view, codec, data))


def _identification(view: View, fmt: Format, evidence: str, result: Decompressed) -> Identification:
    if result.error is not None and not result.data:
        return Identification(
            fmt,
            Family.COMPRESSED,
            False,
            f"{fmt} stream whose head does not decompress",
            f"{evidence}; {result.error}",
            problem=f"the {fmt} stream is corrupt: {result.error}",
        )
    if not result.data:
        detail = f"{fmt} stream; no output within the read budget, content not inspected"
        return Identification(fmt, Family.COMPRESSED, False, detail, evidence)
    complete = not view.truncated and result.over_limit is None and result.error is None
    if view.inner is None:
        return Identification(fmt, Family.COMPRESSED, False, f"{fmt} stream", evidence)
    inner = view.inner(result.data, complete)
    return Identification(
        fmt,
        Family.COMPRESSED,
        inner.unsafe,
        f"{fmt}-compressed {noun(inner, article=False)}",
        f"{evidence}; decompressed head: {inner.evidence}",
    )


# --- scan -------------------------------------------------------------------------------------


#: The codec each compressed format's stream is read with.
_CODECS = {
    Format.GZIP: Codec.GZIP,
    Format.BZ2: Codec.BZ2,
    Format.XZ: Codec.XZ,
    Format.LZMA: Codec.LZMA,
    Format.ZLIB: Codec.ZLIB,
    Format.LZ4: Codec.LZ4,
    Format.ZSTD: Codec.ZSTD,
    Format.JOBLIB_ZFILE: Codec.ZLIB,
}


def scan_compressed(blob: Blob, ident: Identification, ctx: ScanContext) -> list[Finding]:
    """Decompress ``blob`` within the limits and scan what it holds."""
    result = _decompress(blob, ident.format, ctx)
    findings: list[Finding] = []
    if result.over_limit is not None:
        findings.append(
            bomb_finding(blob, None, len(result.data) + 1, result.consumed, result.over_limit)
        )
    if result.trailing:
        findings.append(_trailing(blob, ident.format, result))
    if result.error is not None:
        if not result.data and not findings:
            raise ScanError(f"{ident.format} stream does not decompress: {result.error}")
        # What decoded before the damage is scanned (a reader acts on it before failing);
        # the rest could not be, which fails the check unless a finding already does.
        ctx.error(
            blob,
            f"{ident.format} stream is damaged after {len(result.data)} decompressed bytes: "
            f"{result.error}",
        )
    findings.extend(scan_member(ctx, blob, _inner_name(blob.name), result.data))
    return findings


def _decompress(blob: Blob, fmt: Format, ctx: ScanContext) -> Decompressed:
    limits = ctx.policy.limits
    with blob.open() as fh:
        start = 0
        if fmt == Format.JOBLIB_ZFILE:
            start = _zfile_start(fh.read(_ZFILE_HEADER + 1)) or _ZFILE_HEADER
        fh.seek(start)
        return decompress(
            fh, _CODECS[fmt], limit=limits.max_member_bytes, max_ratio=limits.max_ratio
        )


# joblib.load picks its decompressor by the file's first bytes alone (_detect_compressor), in
# this order, whatever else the bytes may also be.
_JOBLIB_PREFIXES = (
    (b"ZF", Format.JOBLIB_ZFILE),
    (b"x", Format.ZLIB),
    (b"\x1f\x8b", Format.GZIP),
    (b"BZ", Format.BZ2),
    (b"]\x00", Format.LZMA),
    (b"\xfd7zXZ", Format.XZ),
    (b"\x04\x22\x4d\x18", Format.LZ4),
)


def joblib_compression(head: bytes) -> Format | None:
    """The compressed format ``joblib.load`` reads a file starting with ``head`` as."""
    return next((fmt for prefix, fmt in _JOBLIB_PREFIXES if head.startswith(prefix)), None)


def joblib_unpickles(data: bytes, *, limit: int, max_ratio: float) -> tuple[bytes, str | None, str]:
    """What ``joblib.load(io.BytesIO(data))`` unpickles: the pickle's bytes, why they may not be
    all of it (None when they are), and what ``data`` was read as.

    joblib decompresses by the first bytes alone; a joblib < 0.10 z-file it reads only from a
    path (from a file object it fails), and anything else is the pickle itself.
    """
    fmt = joblib_compression(data)
    if fmt is None:
        return data, None, "a joblib pickle"
    if fmt == Format.JOBLIB_ZFILE:
        return b"", "a joblib < 0.10 z-file, which joblib.load reads only from a path", str(fmt)
    result = decompress(io.BytesIO(data), _CODECS[fmt], limit=limit, max_ratio=max_ratio)
    error = result.over_limit or result.error
    if error is None and result.trailing:
        error = f"{result.trailing} bytes after the {fmt} stream"
    return result.data, error, f"a {fmt}-compressed joblib pickle"


# What a compressed stream handed to joblib.load inside a pickle may decompress to.
_LOADED_LIMIT = 16 << 20
_LOADED_MAX_RATIO = 250.0


def read_joblib_load(
    data: bytes, scan_pickle: PartScanner
) -> tuple[list[Finding], str | None, str]:
    """What ``joblib.load(io.BytesIO(data))`` in a pickle unpickles, judged without loading it
    (the pickle engine's reader of such nested loads): its findings, the reason it is not
    wholly understood (None when it is), and what ``data`` was read as."""
    stream, error, read_as = joblib_unpickles(
        data, limit=_LOADED_LIMIT, max_ratio=_LOADED_MAX_RATIO
    )
    if not stream:
        return [], error or "no data (joblib.load raises EOFError)", read_as
    # Offsets in decompressed bytes are not the file's: that part is named, not placed.
    findings, inner_error = scan_pickle(
        memoryview(stream), 0, "" if stream is data else "<decompressed>"
    )
    return findings, error or inner_error, read_as


def scan_as_joblib_decompresses(blob: Blob, fmt: Format, ctx: ScanContext) -> list[Finding]:
    """What ``joblib.load`` unpickles from ``blob``, which it decompresses as ``fmt`` by its
    first bytes, where identification took the bytes for something else (a tar whose header is
    a stored deflate block, a zlib stream whose head decompresses to nothing, a .lzma header
    with a small dictionary).

    joblib unpickles as it decompresses: what decodes before any damage is scanned. A stream
    that yields nothing is one joblib fails on before unpickling anything.
    """
    result = _decompress(blob, fmt, ctx)
    findings: list[Finding] = []
    if result.over_limit is not None:
        findings.append(
            bomb_finding(blob, None, len(result.data) + 1, result.consumed, result.over_limit)
        )
    if result.data:
        findings.extend(
            scan_member(ctx, blob, f"<as joblib.load decompresses it: {fmt}>", result.data)
        )
    return findings


def _inner_name(name: str) -> str:
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in _SUFFIXES and stem:
        return stem + ".tar" if suffix.lower() == ".tgz" else stem
    return "<decompressed>"


def _trailing(blob: Blob, fmt: str, result: Decompressed) -> Finding:
    return Finding(
        rule="MLS-CMP-001",
        severity=Severity.LOW,
        category="scanner-evasion",
        title="data after the end of the compressed stream",
        location=blob.location(offset=blob.size - result.trailing),
        evidence=f"{result.trailing} bytes after {result.streams} complete {fmt} stream(s)",
        why="decompressors stop at the end of the stream and ignore what follows; bytes there "
        "can carry a second file (a polyglot) that other tools read",
        remediation="re-compress the content so that the file holds the stream only",
    )


register_file_load_reader("joblib", read_joblib_load)
