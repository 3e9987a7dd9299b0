"""The pickle machine's memory budget counts the string and bytes constants it holds.

Each constant is a copy out of the file, held while the stack or memo refers to it: a list of
64 constants of 4 MiB is 256 MiB held, whatever the count of its opcodes (67 here: fewer than
the 1024 between two regular checkpoints).
"""

from __future__ import annotations

import struct
from pathlib import Path

from pytest_mlsupply.engines.budget import ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, scan_file

FOUR_MIB = 4 << 20


def list_of_big_constants(count: int, size: int) -> bytes:
    """PROTO 4, EMPTY_LIST, MARK, ``count`` BINBYTES8 of ``size`` bytes, APPENDS, STOP."""
    constant = b"\x8e" + struct.pack("<Q", size) + b"\x01" * size
    return b"\x80\x04](" + constant * count + b"e."


def test_a_list_of_sixty_four_constants_of_4_mib_exceeds_a_16_mib_memory_budget(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.pkl"
    path.write_bytes(list_of_big_constants(64, FOUR_MIB))
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_memory_mb=16)))
    assert {f.rule for f in report.findings} == {"MLS-LIM-002"}
    assert any("policy.limits.scan_memory_mb is 16" in error for error in report.errors)


def test_the_same_constants_within_the_memory_budget_scan_clean(tmp_path: Path) -> None:
    path = tmp_path / "held.pkl"
    path.write_bytes(list_of_big_constants(2, FOUR_MIB))
    report = scan_file(path, path.name, ScanPolicy(limits=ScanLimits(scan_memory_mb=16)))
    assert report.findings == []
    assert report.errors == []
