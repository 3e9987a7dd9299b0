"""Compressed streams: identified by what they hold, decompressed within limits and rescanned."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import random
import zlib
from pathlib import Path

import lz4.frame
import pytest
import zstandard

from pytest_mlsupply.engines.decompress import Codec, decompress
from pytest_mlsupply.engines.scanner import ScanLimits, ScanPolicy, ScanReport, scan_file
from tests.corpus.archives import touch_pickle


def scan_bytes(tmp_path: Path, name: str, data: bytes, **limits: int | float) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path, name, ScanPolicy(limits=ScanLimits(**limits)))  # type: ignore[arg-type]


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


WRAPPERS = {
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "zlib": zlib.compress,
    "lz4": lz4.frame.compress,
    "zstd": lambda d: zstandard.ZstdCompressor().compress(d),
}


@pytest.mark.parametrize("fmt", sorted(WRAPPERS))
def test_a_compressed_malicious_pickle_is_scanned_as_a_pickle(fmt: str, tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "model.pkl", WRAPPERS[fmt](touch_pickle("c")))
    assert report.formats[""] == fmt
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= rules(report)


def test_the_decompressed_member_is_named_after_the_file_without_its_suffix(
    tmp_path: Path,
) -> None:
    report = scan_bytes(tmp_path, "model.pkl.gz", gzip.compress(touch_pickle("c")))
    assert report.findings[0].location.member == "model.pkl"


def test_a_payload_in_the_second_gzip_member_is_found(tmp_path: Path) -> None:
    data = gzip.compress(b"") + gzip.compress(touch_pickle("c"))
    assert "MLS-PKL-001" in rules(scan_bytes(tmp_path, "m.gz", data))


def test_concatenated_bz2_streams_are_read_whole() -> None:
    data = bz2.compress(b"a" * 10) + bz2.compress(b"b" * 10)
    result = decompress(io.BytesIO(data), Codec.BZ2, limit=1000, max_ratio=250)
    assert result.data == b"a" * 10 + b"b" * 10
    assert result.streams == 2


def test_output_beyond_the_member_limit_is_a_bomb_finding(tmp_path: Path) -> None:
    data = gzip.compress(pickle.dumps(list(range(5000))))
    report = scan_bytes(tmp_path, "m.gz", data, max_member_bytes=1000)
    bomb = next(f for f in report.findings if f.rule == "MLS-ARC-001")
    assert "per-member limit" in bomb.evidence


def test_a_ratio_above_the_limit_is_a_bomb_once_past_the_floor(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "z.xz", lzma.compress(b"\x00" * (4 << 20)), max_ratio=50.0)
    assert "MLS-ARC-001" in rules(report)


def test_small_highly_compressible_content_is_not_a_bomb(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "z.gz", gzip.compress(b"\x00" * 100_000))
    assert "MLS-ARC-001" not in rules(report)


def test_a_payload_before_a_truncation_is_still_reported(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(5000)  # incompressible, so the cut lands in it
    data = gzip.compress(touch_pickle("c") + noise)[:-200]
    report = scan_bytes(tmp_path, "m.gz", data)
    assert "MLS-PKL-001" in rules(report)
    assert any("damaged" in e for e in report.errors)


def test_a_stream_that_does_not_decompress_at_all_is_an_error(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.gz", b"\x1f\x8b\x08\x00" + b"\xff" * 40)
    assert report.findings == []
    assert report.errors


def test_data_after_the_stream_is_a_low_finding(tmp_path: Path) -> None:
    data = gzip.compress(pickle.dumps({"a": 1})) + b"PK\x03\x04 something else"
    finding = next(f for f in scan_bytes(tmp_path, "m.gz", data).findings)
    assert finding.rule == "MLS-CMP-001"
    assert finding.severity.label == "low"


def test_a_zstd_wrapped_pickle_is_decompressed_and_scanned(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.zst"
    payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))
    report = scan_file(path, "m/model.pkl.zst")
    assert any(f.rule == "MLS-PKL-001" for f in report.findings)
