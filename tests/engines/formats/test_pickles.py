"""Pickle files: the whole file through the pickle machine, errors only when nothing was found."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import joblib
import numpy as np
import pytest

from pytest_mlsupply.engines.scanner import ScanReport, scan_file
from pytest_mlsupply.results import Severity
from tests.corpus.archives import Touch, touch_pickle


def scan_bytes(tmp_path: Path, name: str, data: bytes) -> ScanReport:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path, name)


def test_a_malicious_pickle_file_is_critical_with_its_offset(tmp_path: Path) -> None:
    data = touch_pickle("c")
    finding = next(f for f in scan_bytes(tmp_path, "m.pkl", data).findings)
    assert finding.severity.label == "critical"
    assert finding.location.file == "m.pkl"
    assert finding.location.offset is not None


def test_a_payload_in_the_last_of_several_pickles_is_found(tmp_path: Path) -> None:
    data = pickle.dumps(1) + pickle.dumps({"a": 2}) + touch_pickle("c")
    assert any(f.rule == "MLS-PKL-001" for f in scan_bytes(tmp_path, "m.pkl", data).findings)


def test_a_payload_followed_by_garbage_is_a_finding_and_the_garbage_an_error(
    tmp_path: Path,
) -> None:
    report = scan_bytes(tmp_path, "m.pkl", touch_pickle("c")[:-1] + b"\xff\xfe")
    assert {f.rule for f in report.findings if f.severity is Severity.CRITICAL} >= {"MLS-PKL-002"}
    # The parse error is kept beside the findings: were they all below the threshold, the
    # check would be an error, never a pass.
    assert len(report.errors) == 1
    assert "MLS-PKL-008" in report.errors[0]


def test_a_low_finding_never_hides_that_the_pickle_does_not_parse(tmp_path: Path) -> None:
    nested = pickle.dumps([1, 2], protocol=2)
    data = b"\x80\x02C" + bytes([len(nested)]) + nested + b"\xff"
    report = scan_bytes(tmp_path, "m.pkl", data)
    assert [f.rule for f in report.findings] == ["MLS-PKL-009"]
    assert report.errors


def test_joblib_numpy_buffers_are_stepped_over_and_a_payload_after_them_found(
    tmp_path: Path,
) -> None:
    out = io.BytesIO()
    joblib.dump({"w": np.arange(2000, dtype=np.float32), "x": Touch("c")}, out)
    report = scan_bytes(tmp_path, "m.joblib", out.getvalue())
    assert report.formats[""] == "joblib"
    assert any(f.rule == "MLS-PKL-001" for f in report.findings)


def test_a_benign_joblib_dump_of_arrays_is_clean(tmp_path: Path) -> None:
    out = io.BytesIO()
    joblib.dump({"w": np.ones((20, 20)), "b": np.zeros(3, dtype=np.int8)}, out)
    report = scan_bytes(tmp_path, "m.joblib", out.getvalue())
    assert report.findings == []
    assert report.errors == []


def test_a_pickle_that_breaks_without_a_payload_is_an_error(tmp_path: Path) -> None:
    report = scan_bytes(tmp_path, "m.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00a\xff")
    assert report.findings == []
    assert report.errors


def test_a_zip_appended_to_a_pickle_is_scanned_as_a_polyglot(tmp_path: Path) -> None:
    from tests.corpus.archives import RawMember, raw_zip

    data = raw_zip([RawMember("a/data.pkl", touch_pickle("c"))], prefix=pickle.dumps({"x": 1}))
    rules = {f.rule for f in scan_bytes(tmp_path, "m.pkl", data).findings}
    assert {"MLS-TORCH-007", "MLS-PKL-001"} <= rules


@pytest.mark.parametrize(
    ("name", "fails_closed"),
    [
        ("weights.pkl", True),
        ("pytorch_model.bin", True),
        ("model.joblib", True),
        ("notes.txt", False),
    ],
)
def test_content_named_like_a_pickle_that_the_machine_cannot_follow_is_an_error(
    tmp_path: Path, name: str, fails_closed: bool
) -> None:
    # Starts with opcodes (GLOBAL...), then stops being a pickle: a loader is pointed at a .pkl,
    # so where the machine cannot follow it, it cannot vouch for what the loader does.
    path = tmp_path / name
    path.write_bytes(b"copyright\nnotice\nand then some prose that is not a pickle\n")
    report = scan_file(path, name)
    assert bool(report.errors) is fails_closed
    if fails_closed:
        assert "named like a pickle" in report.errors[0]
        # pickle.load would import the module 'opyright' before the prose breaks it.
        assert [f.title for f in report.findings] == [
            "pickle imports unknown global opyright.notice"
        ]
    else:
        assert report.findings == []
