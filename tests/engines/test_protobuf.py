"""The bounded protobuf wire-format reader: fields, offsets, and refusal of malformed input."""

from __future__ import annotations

import pytest

from pytest_mlsupply.engines.protobuf import (
    FIXED32,
    FIXED64,
    LEN,
    VARINT,
    ProtobufError,
    iter_fields,
    read_varint,
    to_signed,
)
from tests.corpus.onnx_keras import pb_bytes, pb_int, varint


def fields(data: bytes) -> list[tuple[int, int, int]]:
    return [(f.number, f.wire, f.value) for f in iter_fields(memoryview(data))]


def test_it_reads_varint_length_and_fixed_fields_in_wire_order() -> None:
    data = (
        pb_int(1, 300)
        + pb_bytes(2, b"abc")
        + varint(3 << 3 | FIXED32)
        + (7).to_bytes(4, "little")
        + varint(4 << 3 | FIXED64)
        + (9).to_bytes(8, "little")
    )
    assert fields(data) == [(1, VARINT, 300), (2, LEN, 3), (3, FIXED32, 7), (4, FIXED64, 9)]


def test_a_length_delimited_field_is_returned_by_offsets_not_copied() -> None:
    payload = b"x" * 1000
    data = pb_int(1, 1) + pb_bytes(9, payload)
    last = list(iter_fields(memoryview(data)))[-1]
    assert (last.offset, last.start, last.end) == (2, 5, 1005)
    assert data[last.start : last.end] == payload


def test_it_reads_a_nested_message_within_its_bounds() -> None:
    inner = pb_bytes(1, b"name") + pb_int(2, 5)
    data = pb_bytes(7, inner) + pb_int(8, 1)
    outer = list(iter_fields(memoryview(data)))
    nested = list(iter_fields(memoryview(data), outer[0].start, outer[0].end))
    assert [(f.number, f.value) for f in nested] == [(1, 4), (2, 5)]


def test_a_length_running_past_the_message_is_refused_with_its_offset() -> None:
    data = pb_int(1, 1) + varint(2 << 3 | LEN) + varint(50) + b"short"
    with pytest.raises(ProtobufError, match="claims 50 bytes") as info:
        fields(data)
    assert info.value.offset == 2


def test_a_nested_length_cannot_escape_its_parent_message() -> None:
    # The inner message claims more bytes than its parent gave it, though the buffer has them.
    inner = varint(1 << 3 | LEN) + varint(4) + b"ab"
    data = varint(7 << 3 | LEN) + varint(len(inner)) + inner + b"cdef"
    outer = next(iter_fields(memoryview(data), 0, 2 + len(inner)))
    with pytest.raises(ProtobufError):
        list(iter_fields(memoryview(data), outer.start, outer.end))


def test_a_head_ends_at_a_field_it_cuts_short_and_partial_yields_that_field_first() -> None:
    data = pb_int(1, 1) + varint(2 << 3 | LEN) + varint(50) + b"short"
    view = memoryview(data)
    assert [f.number for f in iter_fields(view, head=True)] == [1]
    cut = list(iter_fields(view, head=True, partial=True))[-1]
    assert (cut.number, cut.value, cut.start, cut.end) == (2, 50, 4, len(data))
    with pytest.raises(ProtobufError):
        list(iter_fields(view, partial=True))  # a whole message is never cut short


def test_a_truncated_varint_is_refused() -> None:
    with pytest.raises(ProtobufError, match="truncated varint"):
        fields(b"\x08\xff")


def test_a_varint_longer_than_ten_bytes_is_refused() -> None:
    with pytest.raises(ProtobufError, match="longer than 10 bytes"):
        read_varint(memoryview(b"\xff" * 11 + b"\x01"), 0, 12)


def test_field_number_zero_is_refused() -> None:
    with pytest.raises(ProtobufError, match="invalid field number 0"):
        fields(b"\x00\x01")


@pytest.mark.parametrize("wire", [4, 6, 7])
def test_wire_types_that_cannot_start_a_field_are_refused(wire: int) -> None:
    with pytest.raises(ProtobufError, match="unexpected wire type"):
        fields(varint(1 << 3 | wire) + b"\x00")


def test_groups_are_skipped_like_unknown_fields() -> None:
    group = varint(5 << 3 | 3) + pb_int(1, 2) + pb_bytes(2, b"zz") + varint(5 << 3 | 4)
    assert fields(pb_int(1, 1) + group + pb_int(2, 3)) == [(1, VARINT, 1), (2, VARINT, 3)]


def test_an_unterminated_or_mismatched_group_is_refused() -> None:
    with pytest.raises(ProtobufError, match="unterminated group"):
        fields(varint(5 << 3 | 3) + pb_int(1, 2))
    with pytest.raises(ProtobufError, match="mismatched end of group"):
        fields(varint(5 << 3 | 3) + varint(6 << 3 | 4))


def test_groups_nested_beyond_the_limit_are_refused() -> None:
    with pytest.raises(ProtobufError, match="nested too deeply"):
        fields(varint(1 << 3 | 3) * 200)


def test_negative_int64_values_read_as_twos_complement() -> None:
    (field,) = iter_fields(memoryview(pb_int(1, -5)))
    assert to_signed(field.value) == -5


@pytest.mark.needs("google.protobuf")
def test_it_agrees_with_the_protobuf_library_on_unknown_fields() -> None:
    from google.protobuf import struct_pb2

    message = struct_pb2.Value(string_value="hello")
    data = message.SerializeToString()
    assert fields(data) == [(3, LEN, 5)]
