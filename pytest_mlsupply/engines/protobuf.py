"""A minimal, bounded protobuf wire-format reader: fields by number, without a schema.

ONNX models and TensorFlow SavedModels are bare protobuf messages, and neither the ``onnx``
package nor TensorFlow (with their generated classes) is a dependency. This reader walks the wire format directly over a buffer (an ``mmap`` of
the file or member bytes): every length is checked against the enclosing message, varints are
at most ten bytes, and length-delimited fields are returned as ``(start, end)`` offsets, so a
multi-gigabyte ``raw_data`` field is skipped by its length without being copied.

Malformed input raises :class:`ProtobufError` with the byte offset; the caller decides what
that means (for a model file: it cannot be analysed, so the scan fails closed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pytest_mlsupply.engines.budget import CHECK_EVERY, checkpoint

__all__ = [
    "FIXED32",
    "FIXED64",
    "LEN",
    "VARINT",
    "Field",
    "ProtobufError",
    "iter_fields",
    "read_varint",
    "to_signed",
]

VARINT = 0
FIXED64 = 1
LEN = 2
START_GROUP = 3
END_GROUP = 4
FIXED32 = 5

#: protobuf's own parsers refuse messages nested deeper than 100; groups are bounded the same.
MAX_GROUP_DEPTH = 100
_MAX_FIELD_NUMBER = (1 << 29) - 1


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message; ``offset`` says where it broke."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} at byte {offset}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Field:
    """One field occurrence: its number, wire type and where it sits in the buffer.

    For ``VARINT``/``FIXED32``/``FIXED64`` fields ``value`` is the integer; for ``LEN`` fields
    the payload is ``buffer[start:end]`` and ``value`` is its length. ``offset`` is the byte at
    which the field's key starts, for locations in findings.
    """

    number: int
    wire: int
    value: int
    start: int
    end: int
    offset: int


def read_varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``pos`` (not reading past ``end``); returns (value, next position)."""
    value = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise _CutShort("truncated varint", start)
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            # A tenth byte may only carry the top bit of a 64-bit value.
            if value >> 64:
                raise ProtobufError("varint larger than 64 bits", start)
            return value, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes", start)


def to_signed(value: int) -> int:
    """An int64 field's two's-complement reading (negative numbers are 10-byte varints)."""
    return value - (1 << 64) if value >= 1 << 63 else value


class _CutShort(ProtobufError):
    """A field runs past the end of the buffer (which may be only the head of the message)."""


def iter_fields(
    buf: memoryview,
    start: int = 0,
    end: int | None = None,
    *,
    head: bool = False,
    partial: bool = False,
) -> Iterator[Field]:
    """Yield every field of the message in ``buf[start:end]``, in wire order.

    Groups (deprecated wire types 3/4) are skipped the way protobuf parsers skip unknown
    groups, with bounded nesting. Raises :class:`ProtobufError` on anything malformed. With
    ``head``, the buffer is only the start of a longer message: a field cut short by its end
    ends the iteration instead of raising (identification reads a bounded head). With
    ``partial`` too, a length-delimited field cut short is yielded first, its ``end`` at the
    end of the buffer and its ``value`` the length it declares (identification looks into the
    start of a message larger than the head).
    """
    try:
        yield from _fields(buf, start, end, partial=partial and head)
    except _CutShort:
        if not head:
            raise


def _fields(buf: memoryview, start: int, end: int | None, *, partial: bool) -> Iterator[Field]:
    stop = len(buf) if end is None else end
    if not 0 <= start <= stop <= len(buf):
        raise ProtobufError(f"message bounds {start}..{stop} outside the buffer", start)
    # The one field iterator of ONNX, SavedModel, GraphDef and Keras metadata: it checks the
    # scan's budgets (policy.limits), so no reader built on it needs to.
    checkpoint()
    pos = start
    count = 0
    while pos < stop:
        count += 1
        if not count % CHECK_EVERY:
            checkpoint()
        offset = pos
        key, pos = read_varint(buf, pos, stop)
        number, wire = key >> 3, key & 7
        if not 1 <= number <= _MAX_FIELD_NUMBER:
            raise ProtobufError(f"invalid field number {number}", offset)
        if wire == VARINT:
            value_at = pos
            value, pos = read_varint(buf, pos, stop)
            yield Field(number, wire, value, value_at, pos, offset)
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if pos + size > stop:
                raise _CutShort(f"truncated fixed{size * 8} field {number}", offset)
            value = int.from_bytes(buf[pos : pos + size], "little")
            yield Field(number, wire, value, pos, pos + size, offset)
            pos += size
        elif wire == LEN:
            length, pos = read_varint(buf, pos, stop)
            if length > stop - pos:
                if partial:
                    yield Field(number, wire, length, pos, stop, offset)
                raise _CutShort(
                    f"field {number} claims {length} bytes but only {stop - pos} remain", offset
                )
            yield Field(number, wire, length, pos, pos + length, offset)
            pos += length
        elif wire == START_GROUP:
            pos = _skip_group(buf, pos, stop, number, offset)
        else:
            # END_GROUP outside a group, or wire types 6 and 7, which do not exist.
            raise ProtobufError(f"unexpected wire type {wire} for field {number}", offset)
    if pos != stop:
        raise ProtobufError("message overruns its length", pos)


def _skip_group(buf: memoryview, pos: int, stop: int, number: int, offset: int) -> int:
    """Skip to just after the END_GROUP matching ``number``, iteratively and bounded."""
    open_groups = [number]
    count = 0
    while open_groups:
        count += 1
        if not count % CHECK_EVERY:
            checkpoint()
        if pos >= stop:
            raise ProtobufError(f"unterminated group {open_groups[-1]}", offset)
        key_at = pos
        key, pos = read_varint(buf, pos, stop)
        inner, wire = key >> 3, key & 7
        if wire == VARINT:
            _, pos = read_varint(buf, pos, stop)
        elif wire == FIXED64:
            pos += 8
        elif wire == FIXED32:
            pos += 4
        elif wire == LEN:
            length, pos = read_varint(buf, pos, stop)
            pos += length
        elif wire == START_GROUP:
            if len(open_groups) >= MAX_GROUP_DEPTH:
                raise ProtobufError("groups nested too deeply", key_at)
            open_groups.append(inner)
        elif wire == END_GROUP:
            if inner != open_groups.pop():
                raise ProtobufError(f"mismatched end of group {inner}", key_at)
        else:
            raise ProtobufError(f"unexpected wire type {wire} in a group", key_at)
        if pos > stop:
            raise ProtobufError("group field runs past the end of its message", key_at)
    return pos
