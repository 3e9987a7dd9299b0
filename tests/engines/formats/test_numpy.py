"""NumPy files: headers parsed as literals, object arrays' pickles scanned, numeric data skipped."""

from __future__ import annotations

import io
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from pytest_mlsupply.engines.formats.numpy import parse_npy_header
from pytest_mlsupply.engines.scanner import ScanError, ScanReport, scan_file
from tests.corpus.archives import RawMember, Touch, raw_zip


def npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, array, allow_pickle=True)
    return out.getvalue()


def scan_bytes(tmp_path: Path, name: str, data: bytes) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path, name)


def rules(report: ScanReport) -> set[str]:
    return {f.rule for f in report.findings}


def test_a_numeric_header_is_parsed_with_its_data_size() -> None:
    header = parse_npy_header(npy(np.zeros((3, 4), dtype="<f8")))
    assert header.shape == (3, 4)
    assert header.data_size == 96
    assert not header.has_object


def test_a_structured_dtype_with_an_object_field_has_object() -> None:
    array = np.zeros(2, dtype=[("a", "<i4"), ("b", "O")])
    assert parse_npy_header(npy(array)).has_object


def test_a_header_that_is_not_a_literal_is_refused() -> None:
    body = b"{'descr': __import__('os').name, 'fortran_order': False, 'shape': ()}"
    with pytest.raises(ScanError, match="literal"):
        parse_npy_header(b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body)


def test_an_object_array_payload_is_found_at_its_file_offset(tmp_path: Path) -> None:
    data = npy(np.array([Touch("c")], dtype=object))
    report = scan_bytes(tmp_path, "a.npy", data)
    finding = next(f for f in report.findings if f.rule == "MLS-PKL-001")
    header = parse_npy_header(data)
    assert finding.location.offset is not None
    assert finding.location.offset > header.data_offset
    assert data[finding.location.offset : finding.location.offset + 1] in (b"c", b"\x93")


def test_an_object_array_of_plain_values_is_a_low_finding_only(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "a.npy", npy(np.array(["x", None, 3], dtype=object)))
    assert [(f.rule, f.severity.label) for f in report.findings] == [("MLS-NPY-001", "low")]


def test_a_numeric_array_has_no_findings(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "a.npy", npy(np.arange(100, dtype=np.int64)))
    assert report.findings == []
    assert report.errors == []


def test_a_pickle_appended_after_numeric_data_is_a_medium_finding(tmp_path: Path) -> None:
    data = npy(np.arange(4, dtype=np.int32)) + pickle.dumps({"hidden": 1}, protocol=2)
    finding = next(f for f in scan_bytes(tmp_path, "a.npy", data).findings)
    assert (finding.rule, finding.severity.label) == ("MLS-NPY-002", "medium")


def test_an_npz_object_member_is_scanned_and_numeric_ones_are_not_extracted(
    tmp_path: Path,
) -> None:
    out = io.BytesIO()
    np.savez(out, a=np.arange(10), b=np.array([Touch("c")], dtype=object))
    report = scan_bytes(tmp_path, "a.npz", out.getvalue())
    assert "MLS-PKL-001" in rules(report)
    assert "a.npy" not in report.formats
    assert report.formats["b.npy"] == "numpy-npy"


def test_a_non_npy_member_of_an_npz_is_scanned_as_what_it_is(tmp_path: Path) -> None:
    data = raw_zip(
        [RawMember("a.npy", npy(np.arange(3))), RawMember("extra.npy", pickle.dumps(Touch("c")))]
    )
    assert "MLS-PKL-001" in rules(scan_bytes(tmp_path, "a.npz", data))


def _header(descr: str, *, shape: str = "(1,)", version: bytes = b"\x01\x00") -> bytes:
    text = f"{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}".encode()
    text += b" " * ((64 - (11 + len(text)) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + version + len(text).to_bytes(2, "little") + text


# Spellings numpy.dtype accepts, built from its grammar: byte orders, subarray shapes, codes
# with sizes and units, named types, comma-separated fields, tuples and field lists.
_ORDERS = ["", "<", ">", "|", "="]
_CODES = ["?", "b", "B", "i4", "u2", "f8", "c16", "S3", "U5", "V8", "M8[ns]", "m8", "O", "O8"]
_NAMES = ["float64", "int", "bool", "complex", "str", "bytes", "object", "datetime64[s]"]
_STRINGS = [o + c for o in _ORDERS for c in _CODES] + _NAMES
_DESCRS: list[object] = [
    *_STRINGS,
    *(f"{a},{b}" for a in _STRINGS[::7] for b in _STRINGS[::5]),
    *(f"(2,3){c}" for c in _CODES),
    *((c, (2,)) for c in _STRINGS[::3]),
    *([("a", c), ("b", "<f4", (2,))] for c in _STRINGS[::4]),
]


@pytest.mark.parametrize("descr", _DESCRS, ids=str)
def test_no_descr_numpy_reads_as_holding_objects_is_taken_for_plain_data(descr: object) -> None:
    from pytest_mlsupply.engines.formats.numpy import _has_object

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = np.lib.format.descr_to_dtype(descr).hasobject
        except (TypeError, ValueError):
            return  # numpy refuses it: numpy.load fails before it reads any data
    if expected:
        assert _has_object(descr), f"{descr!r} holds objects for numpy"


@pytest.mark.parametrize(
    "dtype",
    [
        np.float32,
        np.int64,
        np.uint8,
        np.bool_,
        np.complex128,
        "U7",
        "S3",
        "M8[ns]",
        "V8",
        [("a", "<f4"), ("b", "<i8", (2,))],
        ("<f4", (2, 2)),
        "i4,f8",
    ],
    ids=str,
)
def test_what_numpy_writes_for_plain_data_is_plain(dtype: object) -> None:
    from pytest_mlsupply.engines.formats.numpy import _has_object

    assert not _has_object(np.lib.format.dtype_to_descr(np.dtype(dtype)))


def test_a_python_2_header_with_long_suffixes_is_read_as_numpy_reads_it(tmp_path: Path) -> None:
    data = _header("'<f8'", shape="(2L,)") + np.zeros(2).tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy warns that it filtered the header
        assert np.load(io.BytesIO(data)).shape == (2,)
    header = parse_npy_header(data)
    assert header.shape == (2,)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (_header("'<f8'", version=b"\x01\x01"), "version"),
        (_header("'<f8'").replace(b"False", b"0    "), "fortran_order"),
        (_header("'<f8'", shape="(2.0,)"), "shape"),
    ],
    ids=["minor-version", "fortran-order-not-bool", "shape-not-int"],
)
def test_a_header_numpy_refuses_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why.split("-")[0].split("_")[0]):
        np.load(io.BytesIO(data + b"\x00" * 16))
    with pytest.raises(ScanError, match=why):
        parse_npy_header(data)
