"""The safetensors engine: the library's verdict, and our findings on what it lets through."""

from __future__ import annotations

import base64
import json
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines.formats.safetensors import _validate_like_library, scan_safetensors
from pytest_mlsupply.engines.scanner import Blob, new_context, scan_file
from pytest_mlsupply.engines.sniff import identify_bytes
from pytest_mlsupply.results import Finding, Severity
from tests.corpus.safetensors_gguf import safetensors_bytes


def tensor(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def scan_bytes(content: bytes, name: str = "model.safetensors") -> list[Finding]:
    """Scan in-memory content (an archive member): the sparse-file path of the engine."""
    blob = Blob(subject=name, name=name, data=content, member=name)
    return scan_safetensors(blob, identify_bytes(content, name), new_context())


def scan_on_disk(tmp_path: Path, content: bytes) -> list[Finding]:
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    report = scan_file(path, "model.safetensors")
    assert report.errors == []
    return report.findings


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


VALID = {"w": tensor("F32", [2], 0, 8)}


@pytest.mark.parametrize("where", ["disk", "memory"])
def test_a_valid_file_has_no_finding(tmp_path: Path, where: str) -> None:
    content = safetensors_bytes({"__metadata__": {"format": "pt"}, **VALID}, bytes(8))
    found = scan_on_disk(tmp_path, content) if where == "disk" else scan_bytes(content)
    assert found == []


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"a": tensor("F32", [2], 0, 8), "b": tensor("F32", [1], 4, 8)}, 8, "invalid offset"),
        ({"a": tensor("F32", [1], 0, 4), "b": tensor("F32", [1], 8, 12)}, 12, "invalid offset"),
        ({"a": tensor("F32", [3], 0, 8)}, 8, "invalid shape"),
        (VALID, 9, "not fully covered"),
        ({"a": tensor("X99", [2], 0, 8)}, 8, "unknown variant"),
        ({**VALID, "__metadata__": {"n": 1}}, 8, "expected a string"),
    ],
    ids=["overlap", "gap", "size-mismatch", "trailing-bytes", "bad-dtype", "non-string-metadata"],
)
@pytest.mark.parametrize("where", ["disk", "memory"])
def test_what_the_library_rejects_is_a_high_malformed_finding_with_its_message(
    tmp_path: Path, where: str, header: dict[str, Any], data: int, message: str
) -> None:
    content = safetensors_bytes(header, bytes(data))
    found = scan_on_disk(tmp_path, content) if where == "disk" else scan_bytes(content)
    [malformed] = [f for f in found if f.rule == "MLS-ST-001"]
    assert malformed.severity == Severity.HIGH
    assert message in malformed.evidence


def test_a_header_length_past_the_end_is_malformed() -> None:
    header = json.dumps(VALID).encode()
    [finding] = scan_bytes(struct.pack("<Q", len(header) + 100) + header + bytes(8))
    assert finding.rule == "MLS-ST-001"
    assert "past the end" in finding.evidence


def test_an_absurd_header_length_is_malformed_without_reading_it() -> None:
    [finding] = scan_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    assert finding.rule == "MLS-ST-001"
    assert "cap" in finding.evidence


def test_a_duplicate_tensor_name_is_a_high_shadowing_finding() -> None:
    header = (
        b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    )
    found = scan_bytes(safetensors_bytes(header, bytes(12)))
    [dup] = [f for f in found if f.rule == "MLS-ST-002"]
    assert dup.severity == Severity.HIGH
    assert dup.location.key_path == "w"
    assert "2 entries" in dup.evidence


def test_a_duplicate_the_library_accepts_is_still_reported() -> None:
    # Both entries describe the same bytes, so the library's offset checks pass.
    header = (
        b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
        b'"w":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}'
    )
    assert rules(scan_bytes(safetensors_bytes(header, bytes(8)))) == {"MLS-ST-002"}


def test_unknown_fields_in_a_tensor_entry_are_medium() -> None:
    header = {"w": {**tensor("F32", [2], 0, 8), "hook": "curl x | sh"}}
    [finding] = scan_bytes(safetensors_bytes(header, bytes(8)))
    assert (finding.rule, finding.severity) == ("MLS-ST-003", Severity.MEDIUM)
    assert "hook=" in finding.evidence


class _Touch:
    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, ("open('/nonexistent/canary', 'w')",))


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: base64.b64encode(raw).decode(),
        lambda raw: raw.hex(),
        lambda raw: raw.decode("latin-1"),
    ],
    ids=["base64", "hex", "raw"],
)
def test_a_pickle_in_metadata_is_high_and_scanned_by_the_pickle_engine(encode: Any) -> None:
    value = encode(pickle.dumps(_Touch(), protocol=2))
    header = {"__metadata__": {"format": "pt", "state": value}, **VALID}
    found = scan_bytes(safetensors_bytes(header, bytes(8)))
    assert "MLS-ST-004" in rules(found)
    pickle_findings = [f for f in found if f.rule.startswith("MLS-PKL")]
    assert any(f.severity == Severity.CRITICAL for f in pickle_findings)
    assert all(f.location.key_path.startswith("__metadata__.state") for f in pickle_findings)


@pytest.mark.parametrize(
    "value",
    [
        "import os; os.system('id')",
        "curl https://x.invalid/a.sh | sh",
        "javascript:alert(1)",
        "A" * 5000,
    ],
)
def test_executable_looking_metadata_is_medium(value: str) -> None:
    header = {"__metadata__": {"note": value}, **VALID}
    [finding] = scan_bytes(safetensors_bytes(header, bytes(8)))
    assert (finding.rule, finding.severity) == ("MLS-ST-005", Severity.MEDIUM)
    assert finding.location.key_path == "__metadata__.note"


def test_descriptive_metadata_is_not_executable() -> None:
    meta = {"format": "pt", "license": "apache-2.0", "source": "https://huggingface.co/x"}
    assert scan_bytes(safetensors_bytes({"__metadata__": meta, **VALID}, bytes(8))) == []


def test_oversized_metadata_is_medium() -> None:
    header = {"__metadata__": {"big": "word " * 20_000}, **VALID}
    assert rules(scan_bytes(safetensors_bytes(header, bytes(8)))) == {"MLS-ST-006"}


def test_zero_length_tensors_and_a_padded_header_are_legitimate() -> None:
    header = {"e": tensor("F32", [0], 0, 0), "z": tensor("F16", [4, 0], 0, 0), **VALID}
    raw = json.dumps(header).encode() + b"        \t\n"
    assert scan_bytes(safetensors_bytes(raw, bytes(8))) == []


def test_a_large_member_is_validated_without_copying_its_data() -> None:
    # The data region becomes a hole in a sparse temporary file: only the header is written.
    size = 32 << 20
    header = json.dumps({"w": tensor("U8", [size], 0, size)}).encode()
    content = safetensors_bytes(header, bytes(size))
    assert scan_bytes(content) == []


@pytest.mark.parametrize(
    ("header", "data", "expected"),
    [
        (VALID, 8, None),
        ({"a": tensor("F32", [2], 0, 8), "b": tensor("F32", [1], 4, 8)}, 8, "invalid offset"),
        ({"a": tensor("F32", [3], 0, 8)}, 8, "invalid shape"),
        (VALID, 9, "not fully covered"),
        ({"a": tensor("Q9", [2], 0, 8)}, 8, "unknown dtype"),
        ({"e": tensor("F32", [0], 0, 0)}, 0, None),
    ],
)
def test_the_fallback_validator_agrees_with_the_library(
    header: dict[str, Any], data: int, expected: str | None
) -> None:
    verdict = _validate_like_library(json.dumps(header).encode(), data)
    assert (verdict is None) == (expected is None)
    if expected is not None:
        assert verdict is not None
        assert expected in verdict


@pytest.mark.parametrize("size", [8, 128 << 20], ids=["deserialize", "fallback-validator"])
def test_without_numpy_the_verdict_still_comes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, size: int
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "numpy" else real(name, *a)
    )
    header = json.dumps({"w": tensor("U8", [size], 0, size)}).encode()
    path = tmp_path / "model.safetensors"
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + size + 1)  # one trailing byte: malformed
    [finding] = scan_file(path, "model.safetensors").findings
    assert finding.rule == "MLS-ST-001"
    assert "not fully covered" in finding.evidence


def test_a_compressed_pickle_in_metadata_keeps_its_rule() -> None:
    import gzip

    value = base64.b64encode(gzip.compress(pickle.dumps(_Touch(), protocol=2))).decode()
    header = {"__metadata__": {"state": value}, **VALID}
    found = scan_bytes(safetensors_bytes(header, bytes(8)))
    [outer] = [f for f in found if f.rule == "MLS-ST-004"]
    assert outer.evidence.startswith("base64+gzip pickle")


def test_a_pickle_in_an_unknown_tensor_field_is_found_with_its_key_path() -> None:
    value = pickle.dumps(_Touch(), protocol=2).hex()
    header = {"w": {**tensor("F32", [2], 0, 8), "extra": {"deep": [value]}}}
    found = scan_bytes(safetensors_bytes(header, bytes(8)))
    assert {"MLS-ST-003", "MLS-ENC-001"} <= rules(found)
    [outer] = [f for f in found if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "w.extra.deep[0]"
