"""How fuzz inputs are made: valid files mutated by hypothesis, and random bytes.

A case is ``(name, data)``: the file name travels with the bytes because identification uses it
as a tie-breaker (``model.pkl``, ``tokenizer_config.json``). A mutated case starts from one of a
target's seeds (valid files built in code by the test corpus) and applies one to four edits:
byte flips, truncation, insertion, deletion, duplication, splicing in a piece of another seed,
and overwriting an integer field (a header length, a count, an offset) with an extreme value.
Positions shrink towards the start of the file, where the headers are.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

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


_EDITS = (_flip, _truncate, _insert, _delete, _duplicate, _splice, _overwrite_integer)


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[Case]) -> Case:
    """One of ``seeds`` with one to four edits."""
    name, original = draw(st.sampled_from(seeds))
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
