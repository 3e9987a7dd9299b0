"""How fuzz inputs are made: valid files mutated by hypothesis, and random bytes.

A case is ``(name, data)``: the file name travels with the bytes because identification uses it
as a tie-breaker (``model.pkl``, ``tokenizer_config.json``). A mutated case starts from one of a
target's seeds (valid files built in code by the test corpus) and applies one to four edits:
byte flips, truncation, insertion, deletion, duplication, a short run repeated up to 100,000
times (deep nesting, huge numbers), splicing in a piece of another seed,
and overwriting an integer field (a header length, a count, an offset) with an extreme value.
A zip or a compressed stream may instead have one member (or its content) edited and be packed
again with valid checksums, so that the inner parser sees the mutation.
Positions shrink towards the start of the file, where the headers are.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import lzma
import struct
import warnings
import zipfile
from collections.abc import Callable, Sequence

import lz4.frame
import zstandard
from hypothesis import strategies as st

__all__ = ["EXTREMES", "Case", "cases", "mutated", "random_bytes"]

Case = tuple[str, bytes]

#: The integers a hostile header length, count or offset is set to.
EXTREMES = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
)

_WIDTHS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _position(draw: st.DrawFn, data: bytearray) -> int:
    return draw(st.integers(0, len(data)))


def _flip(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    if data:
        at = draw(st.integers(0, len(data) - 1))
        data[at] ^= draw(st.integers(1, 255))
    return data


def _truncate(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    return data[: _position(draw, data)]


def _insert(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    at = _position(draw, data)
    return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]


def _delete(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    at = _position(draw, data)
    return data[:at] + data[at + draw(st.integers(1, 256)) :]


def _duplicate(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    at = _position(draw, data)
    piece = data[at : at + draw(st.integers(1, 512))]
    return data[:at] + piece * draw(st.integers(2, 16)) + data[at + len(piece) :]


def _repeat(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    """A short run repeated thousands of times: deep nesting (``[[[[``, ``{"a":{"a":``,
    pickle MARKs), numbers of thousands of digits, long names."""
    at = _position(draw, data)
    piece = data[at : at + draw(st.integers(1, 8))] or bytearray(b"[")
    count = draw(st.sampled_from((100, 1000, 10_000, 100_000)))
    return data[:at] + piece * count + data[at:]


def _splice(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    """A piece of another seed (an archive member header, a pickle opcode run) put in."""
    other = draw(st.sampled_from(seeds))[1]
    start = draw(st.integers(0, len(other)))
    piece = other[start : start + draw(st.integers(1, 1024))]
    at = _position(draw, data)
    if draw(st.booleans()):
        return data[:at] + piece + data[at:]
    return data[:at] + piece + data[at + len(piece) :]


def _overwrite_integer(draw: st.DrawFn, data: bytearray, seeds: Sequence[Case]) -> bytearray:
    width = draw(st.sampled_from(sorted(_WIDTHS)))
    value = draw(st.sampled_from(EXTREMES) | st.integers(0, 2**64 - 1)) % (1 << (8 * width))
    order = draw(st.sampled_from("<>"))
    at = draw(st.integers(0, max(len(data) - width, 0)))
    packed = struct.pack(order + _WIDTHS[width], value)
    return data[:at] + packed + data[at + width :]


_EDITS = (_flip, _truncate, _insert, _delete, _duplicate, _repeat, _splice, _overwrite_integer)

_COMPRESSORS: tuple[tuple[bytes, Callable[[bytes], bytes], Callable[[bytes], bytes]], ...] = (
    (b"\x1f\x8b", gzip.decompress, gzip.compress),
    (b"BZh", bz2.decompress, bz2.compress),
    (b"\xfd7zXZ\x00", lzma.decompress, lzma.compress),
    (b"\x28\xb5\x2f\xfd", zstandard.decompress, zstandard.compress),
    (b"\x04\x22\x4d\x18", lz4.frame.decompress, lz4.frame.compress),
)


@functools.lru_cache(maxsize=256)
def _unpack(seed: bytes) -> tuple[str, list[tuple[str, bytes]]] | None:
    """A seed's content, when it is a zip or a compressed stream (seeds are our own files)."""
    if seed.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(seed)) as archive:
                return "zip", [(i.filename, archive.read(i)) for i in archive.infolist()]
        except (zipfile.BadZipFile, ValueError, NotImplementedError, RuntimeError, EOFError):
            return None
    for index, (magic, decompress, _) in enumerate(_COMPRESSORS):
        if seed.startswith(magic):
            try:
                return str(index), [("", decompress(seed))]
            except Exception:  # a seed made to be broken (a truncated stream)
                return None
    return None


def _inner(draw: st.DrawFn, seed: bytes, seeds: Sequence[Case]) -> bytearray:
    """A zip member or the content of a compressed stream mutated, then packed again with
    valid checksums: without this, an edit inside a member only breaks its CRC, and the
    member's own parser (the pickle in a torch zip) never sees a mutated input."""
    unpacked = _unpack(seed)
    if unpacked is None or not unpacked[1]:
        return bytearray(seed)
    kind, members = unpacked
    at = draw(st.integers(0, len(members) - 1))
    content = bytearray(members[at][1])
    for _ in range(draw(st.integers(1, 3))):
        content = draw(st.sampled_from(_EDITS))(draw, content, seeds)
    if kind != "zip":
        return bytearray(_COMPRESSORS[int(kind)][2](bytes(content)))
    out = io.BytesIO()
    # Seeds with duplicate member names (a corpus attack) are packed again as they are.
    with warnings.catch_warnings(), zipfile.ZipFile(out, "w") as archive:
        warnings.simplefilter("ignore")
        for index, (member, data) in enumerate(members):
            archive.writestr(member, bytes(content) if index == at else data)
    return bytearray(out.getvalue())


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[Case]) -> Case:
    """One of ``seeds`` with one to four edits, or with its inner content edited and packed
    again (see :func:`_inner`)."""
    name, original = draw(st.sampled_from(seeds))
    if _unpack(original) is not None and draw(st.booleans()):
        return name, bytes(_inner(draw, original, seeds))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.sampled_from(_EDITS))(draw, data, seeds)
    return name, bytes(data)


def random_bytes(names: Sequence[str]) -> st.SearchStrategy[Case]:
    """Random bytes under one of the target's file names."""
    return st.tuples(st.sampled_from(names), st.binary(max_size=4096))


def cases(seeds: Sequence[Case], names: Sequence[str]) -> st.SearchStrategy[Case]:
    """What a target is fed: mostly mutated seeds, sometimes a seed as it is, or random bytes."""
    return st.one_of(mutated(seeds), st.sampled_from(seeds), random_bytes(names))
