"""LZ4 frame decoding (the format joblib's ``.lz4`` dumps use), without the lz4 package.

One home for the decoder: the format sniffer decodes a bounded head with it, the compressed-
stream engine whole streams within the scan limits.
"""

from __future__ import annotations

import struct

_LZ4_MAGIC = b"\x04\x22\x4d\x18"


class LimitExceeded(Exception):
    """Output grew past the size limit or the compression-ratio limit."""


def _check(out: bytearray, consumed: int, limit: int, max_ratio: float, ratio_floor: int) -> None:
    if len(out) > limit:
        raise LimitExceeded(f"more than the per-member limit of {limit} bytes")
    if len(out) > ratio_floor and len(out) > max(consumed, 1) * max_ratio:
        raise LimitExceeded(f"compression ratio above the limit of {max_ratio:g}")


def lz4_frame_decompress(
    data: bytes,
    out: bytearray,
    limit: int,
    max_ratio: float = float("inf"),
    ratio_floor: int = 1 << 20,
) -> tuple[int, int]:
    """Decode the LZ4 frames in ``data`` into ``out``; returns (frames decoded, trailing bytes).

    Raises ValueError on corrupt or truncated data (``out`` holds what decoded before) and
    stops past ``limit`` output bytes or ``max_ratio`` (above :data:`RATIO_FLOOR`).
    """
    pos = frames = 0
    while pos < len(data):
        magic = data[pos : pos + 4]
        if len(magic) == 4 and 0x184D2A50 <= struct.unpack("<I", magic)[0] <= 0x184D2A5F:
            # A skippable frame: a length, then data any reader ignores.
            if pos + 8 > len(data):
                raise ValueError("skippable LZ4 frame is truncated")
            (size,) = struct.unpack_from("<I", data, pos + 4)
            pos += 8 + size
            continue
        if magic != _LZ4_MAGIC:
            if frames == 0:
                raise ValueError("no LZ4 frame magic number")
            return frames, len(data) - pos
        pos = _lz4_frame(data, pos, out, limit, max_ratio, ratio_floor)
        frames += 1
    return frames, 0


def _lz4_frame(
    data: bytes, pos: int, out: bytearray, limit: int, max_ratio: float, ratio_floor: int
) -> int:
    if pos + 7 > len(data):
        raise ValueError("LZ4 frame header is truncated")
    flags = data[pos + 4]
    if flags >> 6 != 1:
        raise ValueError(f"unsupported LZ4 frame version {flags >> 6}")
    pos += 6 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0) + 1
    block_checksum = 4 if flags & 0x10 else 0
    while True:
        if pos + 4 > len(data):
            raise ValueError("LZ4 frame is truncated before its end mark")
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == 0:  # end mark, then the optional content checksum
            return pos + (4 if flags & 0x04 else 0)
        length = size & 0x7FFFFFFF
        block = data[pos : pos + length]
        if len(block) < length:
            raise ValueError("LZ4 block is truncated")
        pos += length + block_checksum
        if size & 0x80000000:
            out += block
        else:
            _lz4_block(block, out, limit)
        _check(out, pos, limit, max_ratio, ratio_floor)


def _lz4_block(src: bytes, out: bytearray, limit: int) -> None:
    """Decode one LZ4 block into ``out`` (earlier blocks stay in it, for linked matches)."""
    i, end = 0, len(src)
    while i < end:
        token = src[i]
        i += 1
        literals, i = _lz4_length(src, i, token >> 4)
        out += src[i : i + literals]
        i += literals
        if i >= end:  # the last sequence carries literals only
            return
        if i + 2 > end:
            raise ValueError("LZ4 block ends inside a match offset")
        offset = src[i] | src[i + 1] << 8
        i += 2
        length, i = _lz4_length(src, i, token & 0x0F)
        length += 4
        if offset == 0 or offset > len(out):
            raise ValueError(f"LZ4 match offset {offset} points before the start of the data")
        start = len(out) - offset
        if offset >= length:
            out += out[start : start + length]
        else:  # the match overlaps its own output: a repeated pattern
            pattern = bytes(out[start:])
            repeats, rest = divmod(length, offset)
            out += pattern * repeats + pattern[:rest]
        if len(out) > limit:
            raise LimitExceeded(f"more than the per-member limit of {limit} bytes")


def _lz4_length(src: bytes, i: int, nibble: int) -> tuple[int, int]:
    length = nibble
    if nibble == 15:
        while i < len(src):
            length += src[i]
            i += 1
            if src[i - 1] != 255:
                break
    return length, i
