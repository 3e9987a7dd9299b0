"""Resource exhaustion is a finding of its own (MLS-PKL-011), at high severity, found cheaply."""

from __future__ import annotations

import pickle
import struct

import pytest

from pytest_mlsupply.engines.pickle import PicklePolicy, PickleScan, scan_pickle_bytes
from pytest_mlsupply.engines.pickle.values import SymList
from pytest_mlsupply.engines.pickle.vm import expanded_size
from pytest_mlsupply.results import Severity


def scan(data: bytes) -> PickleScan:
    return scan_pickle_bytes(data, policy=PicklePolicy(), origin="f.pkl")


def exhaustion(result: PickleScan) -> list[str]:
    return [
        f.evidence
        for f in result.findings
        if f.rule == "MLS-PKL-011" and f.severity is Severity.HIGH
    ]


@pytest.mark.parametrize(
    ("opcode", "length_format"),
    [
        (b"\x8e", "<Q"),
        (b"\x8d", "<Q"),
        (b"B", "<I"),
        (b"X", "<I"),
        (b"\x8b", "<i"),
        (b"\x96", "<Q"),
    ],
    ids=["BINBYTES8", "BINUNICODE8", "BINBYTES", "BINUNICODE", "LONG4", "BYTEARRAY8"],
)
def test_a_length_far_beyond_the_data_is_exhaustion(opcode: bytes, length_format: str) -> None:
    declared = 0x7FFF0000
    result = scan(b"\x80\x04" + opcode + struct.pack(length_format, declared) + b"x" * 32)
    [evidence] = exhaustion(result)
    assert str(declared) in evidence
    assert "allocates" in evidence
    assert result.error is not None  # and the loader still fails: the data is not there


def test_a_frame_far_beyond_the_data_is_exhaustion() -> None:
    result = scan(b"\x80\x04\x95" + struct.pack("<Q", 1 << 41) + b"N.")
    assert exhaustion(result)


def test_a_length_that_merely_runs_a_little_past_the_end_is_only_a_truncation() -> None:
    result = scan(b"\x80\x04\x8e" + struct.pack("<Q", 100) + b"x" * 32)
    assert exhaustion(result) == []
    assert result.error is not None


def test_a_memo_index_far_beyond_the_memo_is_exhaustion() -> None:
    result = scan(b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFF00) + b".")
    [evidence] = exhaustion(result)
    assert "memo" in evidence
    assert str(16 * 0xFFFFFF00) in evidence


def test_memo_indexes_a_pickler_writes_are_not_exhaustion() -> None:
    data = pickle.dumps([[i] for i in range(20_000)], protocol=2)  # LONG_BINPUT past 255
    assert b"r" in data
    assert exhaustion(scan(data)) == []


def billion_laughs(levels: int, fan_out: int = 10) -> bytes:
    out = bytearray(b"\x80\x02]q\x00")
    for level in range(1, levels + 1):
        out += b"(" + b"h" + bytes([level - 1]) + b"2" * (fan_out - 1) + b"lq" + bytes([level])
    return bytes(out + b".")


def test_a_billion_laughs_graph_is_exhaustion() -> None:
    # The walk is linear in the graph, never in what it expands to (benchmarks/bombs.py).
    [evidence] = exhaustion(scan(billion_laughs(9)))
    assert "expand" in evidence


def test_many_stops_sharing_one_big_graph_walk_it_once() -> None:
    # 20,000 pickles that each load the same million-item list from the shared memo.
    data = b"]q\x00(" + b"N" * 1_000_000 + b"e." + b"h\x00." * 20_000
    assert exhaustion(scan(data)) == []


def test_a_big_graph_mutated_between_stops_exhausts_the_measuring_budget() -> None:
    # Each pickle appends to the shared list, so each STOP must size it again: no writer
    # does this, and measuring it would take quadratic time.
    data = b"]q\x00(" + b"N" * 200_000 + b"e." + b"h\x00Na." * 5_000
    [evidence] = exhaustion(scan(data))
    assert "share one object graph" in evidence


def test_shared_references_a_pickler_writes_are_not_exhaustion() -> None:
    shared = list(range(10))
    data = pickle.dumps([shared] * 100_000, protocol=4)  # 10**6 nodes once expanded
    assert exhaustion(scan(data)) == []


def test_the_expanded_size_counts_shared_children_each_time_and_cycles_once() -> None:
    inner = (1, 2)
    assert expanded_size(inner, cap=100) == 3
    assert expanded_size((inner, inner), cap=100) == 1 + 3 + 3
    assert expanded_size(((inner, inner), (inner, inner)), cap=100) == 1 + 7 + 7
    looped = SymList([1])
    looped.items.append(looped)  # a list that contains itself, as APPEND of a GET makes it
    assert expanded_size(looped, cap=100) == 3
    assert expanded_size(((inner,) * 50,) * 50, cap=100) > 100  # stops past the cap
