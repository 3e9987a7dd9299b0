"""The one bounded decompression layer: every compressed byte the scanner reads goes through here.

Identification (the head of a ``.gz``), the compressed-stream engine (whole ``.pkl.gz`` or
``.tar.zst`` files) and the zip reader (deflate, bzip2 and LZMA members) all call
:func:`decompress`, so a limit holds the same way everywhere. Bounds are checked *before* output
is allocated: each step asks the codec for at most the room left under ``limit`` (zlib, bz2,
lzma and lz4 take a ``max_length``; zstd, whose decoder has none, is fed so little input per
step that even its densest blocks cannot outgrow the room), then the compression ratio is
checked. A bomb therefore costs at most the limit in memory, never what it expands to.

Codecs come from the standard library, ``lz4`` (frame format, what joblib writes) and
``zstandard``; both are dependencies, because a gate that errors on common formats unless an
extra is installed is a trap.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

from pytest_mlsupply.engines.budget import RATIO_FLOOR, OverBudget, SeekableReader, checkpoint

__all__ = ["BZ2_BLOCK_MAGICS", "Codec", "Decompressed", "codec_by_magic", "decompress"]

# Input read per step, and the most output one step may allocate.
_CHUNK_IN = 256 << 10
_CHUNK_OUT = 1 << 20
# zstd's densest block (an RLE block: 4 bytes for up to 128 KiB) expands 32768-fold; bound the
# input of one zstd step by twice that, so one step never produces more than the room it has.
_ZSTD_MAX_EXPANSION = 1 << 16
# Bounds the dictionary an .xz/.lzma header can make the decoder allocate.
_LZMA_MEMLIMIT = 256 << 20
_LZ4_MAGIC = b"\x04\x22\x4d\x18"


class Codec(enum.StrEnum):
    """A compressed stream format. ``DEFLATE`` and ``LZMA_ZIP`` are the raw forms zip uses."""

    GZIP = "gzip"
    ZLIB = "zlib"
    DEFLATE = "deflate"
    BZ2 = "bz2"
    XZ = "xz"
    LZMA = "lzma"
    LZMA_ZIP = "lzma-zip"
    LZ4 = "lz4"
    ZSTD = "zstd"


@dataclass
class Decompressed:
    """What came out of a stream, and why it stopped."""

    data: bytes
    consumed: int
    """Compressed bytes read."""
    streams: int = 0
    """Complete streams (members, frames) decoded."""
    over_limit: str | None = None
    """Set when decompression stopped at a limit; ``data`` is the part within it."""
    error: str | None = None
    """Set when the data is corrupt or truncated; ``data`` is what decoded before."""
    trailing: int = 0
    """Bytes after the last complete stream that are neither padding nor another stream."""
    input_ended: bool = False
    """The input ran out before the stream's end (a truncated file, or a head read on purpose)."""


def decompress(
    source: SeekableReader,
    codec: Codec,
    *,
    limit: int,
    max_ratio: float = math.inf,
    ratio_floor: int = RATIO_FLOOR,
    input_size: int | None = None,
    concatenated: bool = True,
    partial_input: bool = False,
    end_marker_optional: bool = False,
) -> Decompressed:
    """Decompress ``source`` (read from its current position) as ``codec``.

    Stops past ``limit`` output bytes, or when the output grows beyond ``max_ratio`` times the
    input once past ``ratio_floor`` bytes; both set :attr:`Decompressed.over_limit`. At most
    ``input_size`` bytes are read (a zip member's compressed data). With ``concatenated``, the
    streams that follow one another are read as their readers read them (gzip members, xz
    streams, bz2 streams, lz4 and zstd frames). ``partial_input`` says the input is only the
    head of the stream, so running out of it is not an error; ``end_marker_optional`` says the
    same for formats whose streams may end without a marker (zip's LZMA without EOS).
    """
    reader = _Input(source, input_size)
    # BytesIO rather than bytearray: getvalue() hands over its buffer without a copy.
    out = io.BytesIO()
    result = Decompressed(b"", 0)
    decoder: _Decoder | None = _new_decoder(codec)
    pending = b""
    stalled = 0
    last_marker: int | None = None
    probing = False  # the decoder is LZMAFile's try at reading another stream
    try:
        while True:
            checkpoint()  # one step of at most a chunk in or out: the scan's budgets
            if decoder is None:
                # Between streams: padding, another stream, or trailing data.
                if not pending:
                    pending = reader.read(_CHUNK_IN)
                    if not pending:
                        break
                if codec in _ZERO_PADDED:
                    pending = pending.lstrip(b"\x00")
                    if not pending:
                        continue
                if concatenated and codec in _AUTO_STREAMS:
                    # LZMAFile (lzma.open, joblib) reads on with a fresh FORMAT_AUTO decoder,
                    # an .xz or a .lzma stream alike; what that decoder refuses from the start
                    # it ignores as trailing data.
                    decoder, probing = _auto_decoder(), True
                    continue
                if concatenated and _starts_stream(codec, pending):
                    decoder = _new_decoder(codec)
                    continue
                result.trailing = len(pending) + reader.remaining()
                break
            if not pending and not decoder.has_pending():
                pending = reader.read(_CHUNK_IN)
                if not pending:
                    result.input_ended = True
                    if not (partial_input or end_marker_optional):
                        result.error = "the stream ends before its end marker (truncated)"
                    break
            # What this step may still produce: the room under the limit, and under the ratio.
            room = min(limit, max(ratio_floor, reader.consumed * max_ratio)) + 1 - out.tell()
            room = max(int(room), 1)
            try:
                produced = decoder.feed(pending, min(room, _CHUNK_OUT), room)
            except lzma.LZMAError:
                if not probing:
                    raise
                result.trailing = len(pending) + reader.remaining()
                break
            probing = False
            pending = b""
            out.write(produced)
            _check(out.tell(), reader.consumed, limit, max_ratio, ratio_floor)
            if decoder.eof:
                result.streams += 1
                pending = decoder.unused()
                decoder = None
                stalled, last_marker = 0, None
                if not concatenated:
                    result.trailing = len(pending) + reader.remaining()
                    break
                continue
            # A decoder that holds input yet neither produces output nor consumes input is
            # stuck; none should be, but a loop must not hang on one.
            marker = decoder.position()
            stalled = 0 if produced or marker != last_marker else stalled + 1
            last_marker = marker
            if stalled > 8:
                result.error = "the decoder stopped making progress"
                break
    except OverBudget as exc:
        result.over_limit = exc.reason
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError, RuntimeError) as exc:
        # bz2 reports corrupt data as OSError, lz4 as RuntimeError, zstd as ZstdError (a
        # subclass of Exception only: caught by its adapter and re-raised as ValueError).
        result.error = str(exc) or type(exc).__name__
    result.consumed = reader.consumed
    out.truncate(limit)
    result.data = out.getvalue()
    return result


def _check(produced: int, consumed: int, limit: int, max_ratio: float, floor: int) -> None:
    if produced > limit:
        raise OverBudget(produced, consumed, f"more than the per-member limit of {limit} bytes")
    if produced > floor and produced > max(consumed, 1) * max_ratio:
        raise OverBudget(produced, consumed, f"compression ratio above the limit of {max_ratio:g}")


class _Input:
    """The compressed input: counts what was read, never reads past ``size``."""

    def __init__(self, source: SeekableReader, size: int | None) -> None:
        self._source = source
        self._left = size
        self.consumed = 0

    def read(self, n: int) -> bytes:
        if self._left is not None:
            n = min(n, self._left)
        data = self._source.read(n) if n > 0 else b""
        self.consumed += len(data)
        if self._left is not None:
            self._left -= len(data)
        return data

    def remaining(self) -> int:
        """Bytes left after what was read (for the size of trailing data)."""
        if self._left is not None:
            return self._left
        here = self._source.tell()
        end = self._source.seek(0, 2)
        self._source.seek(here)
        return end - here


def codec_by_magic(head: bytes) -> Codec | None:
    """The codec whose stream ``head`` opens, by its header alone (no decoding).

    For content found inside other content (a string value holding a compressed pickle), where
    no name or container says what it is. zlib and .lzma have no real magic: only a valid
    header counts, and the caller's decompression decides.
    """
    if head[:3] == b"\x1f\x8b\x08":
        return Codec.GZIP
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in BZ2_BLOCK_MAGICS:
        return Codec.BZ2
    if head[:6] == b"\xfd7zXZ\x00":
        return Codec.XZ
    if head[:4] == _LZ4_MAGIC:
        return Codec.LZ4
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return Codec.ZSTD
    if (
        len(head) >= 2
        and head[0] & 0x0F == 8
        and head[0] >> 4 <= 7
        and (head[0] << 8 | head[1]) % 31 == 0
        and not head[1] & 0x20
    ):
        return Codec.ZLIB
    if len(head) >= 14 and head[0] < 9 * 5 * 5 and head[13] == 0:
        dict_size, plain_size = struct.unpack_from("<IQ", head, 1)
        if 4096 <= dict_size <= 1 << 30 and (plain_size == 2**64 - 1 or plain_size < 1 << 48):
            return Codec.LZMA
    return None


#: What follows "BZh" and the block size digit: a block, or the end of stream (an empty one).
BZ2_BLOCK_MAGICS = (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")


# --- codecs ----------------------------------------------------------------------------------


class _Decoder:
    """One stream's decoder: fed input, it returns at most ``max_length`` bytes per call."""

    eof: bool = False

    def feed(self, data: bytes, max_length: int, room: int) -> bytes:
        raise NotImplementedError

    def has_pending(self) -> bool:
        """Whether it can produce more output without more input."""
        raise NotImplementedError

    def unused(self) -> bytes:
        """Input after the end of the stream (once :attr:`eof`)."""
        raise NotImplementedError

    def position(self) -> int | None:
        """How far into its input the decoder is, where it can tell (for stall detection)."""
        return None


class _Zlib(_Decoder):
    # zlib keeps input it could not use (output limit reached) in ``unconsumed_tail``.
    def __init__(self, wbits: int) -> None:
        self._obj = zlib.decompressobj(wbits=wbits)
        self._tail = b""

    def feed(self, data: bytes, max_length: int, room: int) -> bytes:
        out = self._obj.decompress(self._tail + data, max_length)
        self._tail = self._obj.unconsumed_tail
        self.eof = self._obj.eof
        return out

    def has_pending(self) -> bool:
        return bool(self._tail)

    def unused(self) -> bytes:
        return bytes(self._obj.unused_data)


class _Buffering(_Decoder):
    """bz2, lzma and lz4 decoders buffer their input themselves and take ``max_length``."""

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def feed(self, data: bytes, max_length: int, room: int) -> bytes:
        out: bytes = self._obj.decompress(data, max_length=max_length)
        self.eof = bool(self._obj.eof)
        return out

    def has_pending(self) -> bool:
        return not self._obj.needs_input

    def unused(self) -> bytes:
        return bytes(self._obj.unused_data or b"")


class _LzmaZip(_Decoder):
    """Zip's LZMA: 2 bytes version, 2 bytes properties size, the properties, then raw LZMA1."""

    def __init__(self) -> None:
        self._header = b""
        self._inner: _Buffering | None = None

    def feed(self, data: bytes, max_length: int, room: int) -> bytes:
        if self._inner is None:
            self._header += data
            if len(self._header) < 4:
                return b""
            (props_size,) = struct.unpack_from("<H", self._header, 2)
            if len(self._header) < 4 + props_size:
                return b""
            props = self._header[4 : 4 + props_size]
            # The standard library reads these properties only through a private helper.
            decode = lzma._decode_filter_properties  # type: ignore[attr-defined]
            filters = [decode(lzma.FILTER_LZMA1, props)]
            self._inner = _Buffering(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters))
            data, self._header = self._header[4 + props_size :], b""
        out = self._inner.feed(data, max_length, room)
        self.eof = self._inner.eof
        return out

    def has_pending(self) -> bool:
        return self._inner is not None and self._inner.has_pending()

    def unused(self) -> bytes:
        return self._inner.unused() if self._inner is not None else b""


class _Zstd(_Decoder):
    """zstandard's decompressobj returns all the output of its input and takes no output cap:
    each step gives it only as much input as cannot expand beyond the room left."""

    def __init__(self) -> None:
        import zstandard

        self._error = zstandard.ZstdError
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._input = b""
        self._pos = 0

    def feed(self, data: bytes, max_length: int, room: int) -> bytes:
        if data:
            self._input = self._input[self._pos :] + data
            self._pos = 0
        step = max(4, min(room // _ZSTD_MAX_EXPANSION, _CHUNK_IN))
        chunk = memoryview(self._input)[self._pos : self._pos + step]
        self._pos += len(chunk)
        try:
            out: bytes = self._obj.decompress(chunk)
        except self._error as exc:
            raise ValueError(str(exc)) from None
        self.eof = bool(self._obj.eof)
        return out

    def has_pending(self) -> bool:
        return self._pos < len(self._input) and not self.eof

    def unused(self) -> bytes:
        return bytes(self._obj.unused_data) + self._input[self._pos :]

    def position(self) -> int | None:
        return self._pos


def _new_decoder(codec: Codec) -> _Decoder:
    if codec is Codec.GZIP:
        return _Zlib(31)
    if codec is Codec.ZLIB:
        return _Zlib(15)
    if codec is Codec.DEFLATE:
        return _Zlib(-15)
    if codec is Codec.BZ2:
        return _Buffering(bz2.BZ2Decompressor())
    if codec is Codec.XZ:
        return _Buffering(lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=_LZMA_MEMLIMIT))
    if codec is Codec.LZMA:
        return _Buffering(lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=_LZMA_MEMLIMIT))
    if codec is Codec.LZMA_ZIP:
        return _LzmaZip()
    if codec is Codec.LZ4:
        import lz4.frame

        return _Buffering(lz4.frame.LZ4FrameDecompressor())
    return _Zstd()


# Streams read on after the first as LZMAFile does (see decompress).
_AUTO_STREAMS = frozenset({Codec.XZ, Codec.LZMA})


def _auto_decoder() -> _Decoder:
    return _Buffering(lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=_LZMA_MEMLIMIT))


# Readers skip zero bytes between gzip members and xz streams (xz calls it stream padding).
_ZERO_PADDED = frozenset({Codec.GZIP, Codec.XZ})


def _starts_stream(codec: Codec, data: bytes) -> bool:
    """Whether ``data`` opens another stream that the format's reader goes on to read."""
    if codec is Codec.GZIP:
        return data.startswith(b"\x1f\x8b")
    if codec is Codec.BZ2:
        return data.startswith(b"BZh")
    if codec is Codec.XZ:
        return data.startswith(b"\xfd7zXZ\x00")
    if codec is Codec.LZ4:
        # A frame, or a skippable frame (magic 0x184D2A50-5F) that readers step over.
        if data.startswith(_LZ4_MAGIC):
            return True
        return len(data) >= 4 and 0x184D2A50 <= struct.unpack_from("<I", data)[0] <= 0x184D2A5F
    if codec is Codec.ZSTD:
        if data.startswith(b"\x28\xb5\x2f\xfd"):
            return True
        return len(data) >= 4 and 0x184D2A50 <= struct.unpack_from("<I", data)[0] <= 0x184D2A5F
    return False
