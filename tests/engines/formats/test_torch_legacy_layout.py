"""Legacy torch.save files are walked by their layout: raw storages are never read as pickles."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import ScanReport, scan_file
from pytest_mlsupply.results import Severity
from tests.corpus import system_call
from tests.corpus.torch import legacy_stream


def scan_bytes(tmp_path: Path, name: str, data: bytes) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path, name)


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


def legacy_save(obj: object) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


def test_a_hand_built_legacy_stream_has_no_finding_about_its_storages(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.pt", legacy_stream())
    assert report.formats[""] == "pytorch-legacy"
    assert report.findings == []
    assert report.errors == []


def test_bytes_appended_after_the_last_storage_are_still_reported(tmp_path: Path) -> None:
    data = legacy_stream() + system_call(tmp_path / "canary")
    report = scan_bytes(tmp_path, "m.pt", data)
    appended = [f for f in report.findings if f.rule == "MLS-PKL-010"]
    assert appended
    assert appended[0].location.offset == len(legacy_stream())
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= rules(report)


def test_a_payload_swallowed_by_a_storage_count_is_data_as_torch_reads_it(tmp_path: Path) -> None:
    data = legacy_stream()
    # The last storage cut short by 8 bytes, then a payload: torch reads the payload's first
    # bytes as the storage's and stops; the rest is reported as appended data.
    report = scan_bytes(tmp_path, "m.pt", data[:-8] + system_call(tmp_path / "canary"))
    assert [f.location.offset for f in report.findings if f.rule == "MLS-PKL-010"] == [len(data)]


def test_a_storage_count_past_the_end_falls_back_to_reading_every_byte(tmp_path: Path) -> None:
    data = legacy_stream()[:-4]
    report = scan_bytes(tmp_path, "m.pt", data)
    # Read as pickles back to back, the raw storages are data after the last pickle.
    assert "MLS-PKL-010" in rules(report)
    assert "data after the last pickle" in {f.title for f in report.findings}


@pytest.mark.needs("torch")
@pytest.mark.parametrize("count", [40, 99, 0x95, 0x8E])
def test_a_uint8_tensor_whose_bytes_are_a_payload_pickle_is_not_a_finding(
    tmp_path: Path, count: int
) -> None:
    # A count's low byte is the first byte after the keys pickle: '(' MARK, 'c' GLOBAL, FRAME,
    # BINBYTES8. Read as opcodes, the storage would look like a (broken) pickle.
    import torch

    payload = system_call(tmp_path / "canary")
    raw = (payload + b"\nos\nsystem\n" * count)[:count]
    data = legacy_save({"t": torch.tensor(list(raw), dtype=torch.uint8)})
    assert struct.unpack_from("<q", data, len(data) - count - 8)[0] == count
    report = scan_bytes(tmp_path, "m.pt", data)
    assert report.formats[""] == "pytorch-legacy"
    assert report.findings == [], [f.render() for f in report.findings]
    assert report.errors == []


@pytest.mark.needs("torch")
def test_a_real_legacy_checkpoint_with_a_payload_appended_is_reported(tmp_path: Path) -> None:
    import torch

    data = legacy_save({"w": torch.zeros(3)}) + system_call(tmp_path / "canary")
    report = scan_bytes(tmp_path, "m.pt", data)
    assert {"MLS-PKL-010", "MLS-PKL-001"} <= rules(report)


@pytest.mark.needs("torch")
def test_a_real_legacy_checkpoint_with_a_payload_object_pickle_is_critical(tmp_path: Path) -> None:
    import torch

    class Payload:
        def __reduce__(self) -> tuple[object, ...]:
            import os

            return (os.system, ("true",))

    data = legacy_save({"w": torch.zeros(3), "p": Payload()})
    assert b"system" in pickle.dumps(Payload())
    report = scan_bytes(tmp_path, "m.pt", data)
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= rules(report)


def test_a_pickle_that_stops_inside_its_frame_has_the_bytes_left_in_the_frame_scanned(
    tmp_path: Path,
) -> None:
    # torch.load(path) reads a buffered file: its next load starts right after the STOP, not at
    # the frame's end, so the payload left in the magic number's frame runs.
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    body = magic[2:] + system_call(tmp_path / "canary")
    framed = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body
    report = scan_bytes(tmp_path, "m.pt", framed + legacy_stream()[len(magic) :])
    blocking = {f.rule for f in report.findings if f.severity >= Severity.HIGH}
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= blocking
