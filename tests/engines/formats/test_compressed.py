"""Compressed streams: decompressed within limits and rescanned; lz4 decoded without lz4."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import random
import sys
import zlib
from pathlib import Path

import pytest

from pytest_mlsupply.engines.formats.compressed import decompress_stream, lz4_frame_decompress
from pytest_mlsupply.engines.scanner import ScanLimits, ScanPolicy, ScanReport, scan_file
from tests.corpus.archives import touch_pickle
from tests.corpus.pickle_files import lz4_frame


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
    "lz4": lz4_frame,
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
    result = decompress_stream(io.BytesIO(data), "bz2", limit=1000, max_ratio=250)
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


def test_the_lz4_decoder_expands_overlapping_matches() -> None:
    # token 0x1F: one literal 'a', then a match of 15+4+4=23... offset 1 repeats it.
    block = bytes([0x1F]) + b"a" + b"\x01\x00" + bytes([4]) + bytes([0x10]) + b"!"
    frame = b"\x04\x22\x4d\x18\x60\x70\x73" + len(block).to_bytes(4, "little") + block
    out = bytearray()
    frames, trailing = lz4_frame_decompress(frame + b"\x00\x00\x00\x00", out, 1000)
    assert bytes(out) == b"a" * 24 + b"!"
    assert (frames, trailing) == (1, 0)


def test_the_lz4_decoder_rejects_a_match_before_the_start() -> None:
    block = bytes([0x10]) + b"a" + b"\x09\x00"
    frame = b"\x04\x22\x4d\x18\x60\x70\x73" + len(block).to_bytes(4, "little") + block
    with pytest.raises(ValueError, match="before the start"):
        lz4_frame_decompress(frame + b"\x00" * 4, bytearray(), 1000)


def test_a_zstd_wrapped_pickle_is_decompressed_and_scanned(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    path = tmp_path / "model.pkl.zst"
    payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R."
    path.write_bytes(zstandard.ZstdCompressor().compress(payload))
    report = scan_file(path, "m/model.pkl.zst")
    assert any(f.rule == "MLS-PKL-001" for f in report.findings)


def test_zstd_without_its_decoder_is_an_error_never_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.pkl.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 16)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    report = scan_file(path, "m/model.pkl.zst")
    assert report.findings == []
    assert any("without the zstandard package" in e for e in report.errors)
