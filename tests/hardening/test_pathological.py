"""Pathological inputs: each ends in a named finding or an error item, never a hang or a pass.

Built in code and small on disk where the format allows (a 100,001-member zip is 8 MB of
headers). Budgets are lowered where a test would otherwise spend seconds walking an input
that is merely long; ``benchmarks/pathological.py`` measures each input under the defaults.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.engines.scanner import ScanLimits, ScanPolicy, ScanReport, scan_file


def scan(path: Path, **limits: Any) -> ScanReport:
    return scan_file(path, path.name, ScanPolicy(limits=ScanLimits(**limits)))


def rules(report: ScanReport) -> set[str]:
    return {finding.rule for finding in report.findings}


def many_member_zip(count: int) -> bytes:
    """``count`` empty stored members, written directly (zipfile takes seconds for 10^5):
    local headers, the central directory, and the zip64 end records a count past 65,535
    needs."""
    local, central = bytearray(), bytearray()
    for i in range(count):
        name = str(i).encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0)
        local += name
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, 0, 0, 0, len(name), 0, 0, 0, 0,
            0, offset,
        )  # fmt: skip
        central += name
    cd_offset, cd_size = len(local), len(central)
    zip64_at = cd_offset + cd_size
    zip64 = struct.pack(
        "<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cd_size, cd_offset
    )
    locator = struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return bytes(local + central + zip64 + locator + end)


def deflated_zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


# --- archives -------------------------------------------------------------------------------


def test_the_direct_zip_writer_makes_an_archive_zipfile_reads() -> None:
    with zipfile.ZipFile(io.BytesIO(many_member_zip(70_000))) as archive:
        names = archive.namelist()
    assert len(names) == 70_000
    assert names[-1] == "69999"


@pytest.fixture(scope="module")
def hundred_thousand_members() -> bytes:
    return many_member_zip(100_001)


def test_a_100001_member_zip_is_too_many_members(
    tmp_path: Path, hundred_thousand_members: bytes
) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(hundred_thousand_members)
    # max_members lowered: the finding is the same at 100,000, after ten times the walk.
    report = scan(path, max_members=1_000)
    assert "MLS-ARC-009" in rules(report)


def test_a_100001_member_zip_under_a_short_time_budget_stops_with_the_budgets_finding(
    tmp_path: Path, hundred_thousand_members: bytes
) -> None:
    path = tmp_path / "many.zip"
    path.write_bytes(hundred_thousand_members)
    report = scan(path, scan_seconds=0.2)
    assert "MLS-LIM-001" in rules(report)
    assert report.errors


def test_a_tar_with_more_members_than_the_limit_is_too_many_members(tmp_path: Path) -> None:
    path = tmp_path / "many.tar"
    with tarfile.open(path, "w") as archive:
        for i in range(1_001):
            archive.addfile(tarfile.TarInfo(str(i)), io.BytesIO(b""))
    assert "MLS-ARC-009" in rules(scan(path, max_members=1_000))


def test_a_zip_bomb_by_ratio_is_reported_as_a_bomb(tmp_path: Path) -> None:
    path = tmp_path / "ratio.zip"
    path.write_bytes(deflated_zip("weights.bin", bytes(8 << 20)))  # 8 MiB of zeros: ~1000:1
    assert "MLS-ARC-001" in rules(scan(path))


def test_a_zip_member_larger_than_max_member_bytes_is_reported_not_extracted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "size.zip"
    path.write_bytes(deflated_zip("weights.bin", os.urandom(1 << 20)))
    assert "MLS-ARC-010" in rules(scan(path, max_member_bytes=1 << 19))


def test_a_bomb_nested_zip_in_zip_is_found_inside_its_wrappers(tmp_path: Path) -> None:
    inner = deflated_zip("weights.bin", bytes(8 << 20))
    for level in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(f"level{level}.zip", inner)
        inner = buffer.getvalue()
    path = tmp_path / "nested.zip"
    path.write_bytes(inner)
    report = scan(path)
    [bomb] = [f for f in report.findings if f.rule == "MLS-ARC-001"]
    assert bomb.location.member == "level2.zip/level1.zip/level0.zip"
    assert bomb.location.key_path == "weights.bin"


def test_zips_nested_past_max_depth_are_reported_not_opened(tmp_path: Path) -> None:
    inner = deflated_zip("weights.bin", b"\0" * 10)
    for level in range(5):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(f"level{level}.zip", inner)
        inner = buffer.getvalue()
    path = tmp_path / "deep.zip"
    path.write_bytes(inner)
    assert "MLS-ARC-002" in rules(scan(path, max_depth=2))


# --- header lengths of 2^63 -----------------------------------------------------------------


def gate_results(capsys: pytest.CaptureFixture[str], directory: Path) -> list[dict[str, Any]]:
    main(["scan", "--no-cache", "--format", "json", str(directory)])
    results: list[dict[str, Any]] = json.loads(capsys.readouterr().out)["results"]
    return results


def test_a_safetensors_header_length_of_2_63_fails_its_format_check_and_errors_its_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.safetensors").write_bytes(struct.pack("<Q", 1 << 63) + b"{}")
    results = gate_results(capsys, tmp_path / "m")
    [fmt] = [r for r in results if r["check"] == "format"]
    assert fmt["verdict"] == "fail"
    assert {f["rule"] for f in fmt["findings"]} == {"MLS-FMT-004"}
    # No engine could read it (identified as nothing): the scan fails closed, by design.
    [scan] = [r for r in results if r["check"] == "scan"]
    assert scan["verdict"] == "error"
    assert "named .safetensors (safetensors file" in scan["error"]
    assert all(r["verdict"] != "error" for r in results if r["check"] != "scan")  # no crash


def test_a_gguf_header_with_counts_of_2_63_is_refused_by_its_reader(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    # Magic, version 3, a tensor count and a metadata count of 2^63.
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 63, 1 << 63))
    report = scan(path)
    assert "MLS-GGUF-001" in rules(report)
    [finding] = [f for f in report.findings if f.rule == "MLS-GGUF-001"]
    assert "9223372036854775808" in finding.evidence


def test_a_gguf_key_length_of_2_63_is_refused_by_its_reader(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    # No tensors, one metadata entry whose key claims 2^63 bytes.
    path.write_bytes(b"GGUF" + struct.pack("<IQQQ", 3, 0, 1, 1 << 63) + b"k")
    assert "MLS-GGUF-001" in rules(scan(path))


# --- files that are not regular files -------------------------------------------------------


def test_a_fifo_in_a_model_directory_is_an_error_item_and_never_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    os.mkfifo(tmp_path / "m" / "weights.bin")  # opened for read, it would block the gate
    results = gate_results(capsys, tmp_path / "m")
    assert {r["check"] for r in results} >= {"sha256", "format", "scan"}
    for result in results:
        assert result["verdict"] == "error"
        assert "is not a regular file" in result["error"]


def test_a_device_file_reached_through_a_symlink_is_an_error_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "weights.bin").symlink_to("/dev/zero")  # endless, if it were read
    for result in gate_results(capsys, tmp_path / "m"):
        assert result["verdict"] == "error"
        assert "is not a regular file" in result["error"]


# --- links ----------------------------------------------------------------------------------


def test_a_symlink_leaving_the_model_directory_is_a_finding_of_the_scan_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"harmless bytes")
    (tmp_path / "m" / "weights.bin").symlink_to(outside)
    [scanned] = [r for r in gate_results(capsys, tmp_path / "m") if r["check"] == "scan"]
    assert scanned["verdict"] == "fail"
    [finding] = scanned["findings"]
    assert finding["rule"] == "MLS-SRC-002"
    assert str(outside) in finding["evidence"]


def test_a_folder_symlink_leaving_the_model_directory_is_a_finding_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "config.json").write_text("{}")
    (tmp_path / "m" / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)
    results = gate_results(capsys, tmp_path / "m")
    [scanned] = [r for r in results if r["check"] == "scan"]
    assert [f["rule"] for f in scanned["findings"]] == ["MLS-SRC-002"]


def test_a_symlink_within_the_model_directory_and_a_hard_link_are_scanned_as_their_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "alias.json").symlink_to("config.json")
    os.link(tmp_path / "m" / "config.json", tmp_path / "m" / "hard.json")
    for result in gate_results(capsys, tmp_path / "m"):
        if result["check"] == "scan":
            assert result["verdict"] == "pass", result


# --- nested containers and chains -----------------------------------------------------------


def test_a_chain_of_calls_of_calls_deeper_than_the_recursion_limit_is_a_few_grouped_findings(
    tmp_path: Path,
) -> None:
    # GLOBAL mod.f, then 5,000 times EMPTY_TUPLE REDUCE: f()()()...; describing it recursed
    # once per call (RecursionError: a crashed check), and each call was its own finding.
    path = tmp_path / "chain.pkl"
    path.write_bytes(b"\x80\x02cmod\nf\n" + b")R" * 5_000 + b".")
    report = scan(path)
    assert report.errors == []
    computed = [f for f in report.findings if f.title.endswith("computed at load time")]
    assert 1 < len(computed) <= 10
    assert "seen 4991 times" in computed[-1].evidence


def test_lists_nested_far_deeper_than_the_recursion_limit_are_scanned_to_the_end(
    tmp_path: Path,
) -> None:
    # 20,000 levels (the 200,000 of the issue are timed in benchmarks/pathological.py).
    path = tmp_path / "nested.pkl"
    path.write_bytes(b"\x80\x02" + b"]" * 20_000 + b"a" * 19_999 + b".")
    report = scan(path)
    assert report.findings == []
    assert report.errors == []
