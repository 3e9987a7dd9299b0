"""The GGUF engine: bounds-checked metadata, chat templates analysed with their key."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pytest_mlsupply.engines.formats.gguf import parse_gguf
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity
from tests.corpus.safetensors_gguf import (
    GGUF_ARRAY,
    GGUF_FLOAT32,
    GGUF_STRING,
    GGUF_UINT32,
    gguf_bytes,
)
from tests.corpus.templates import LLAMA3

BASE = [
    ("general.architecture", GGUF_STRING, "llama"),
    ("llama.block_count", GGUF_UINT32, 2),
    ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, ["a", "b", "c"])),
    ("tokenizer.ggml.scores", GGUF_ARRAY, (GGUF_FLOAT32, [0.0, 1.0, 2.0])),
    ("nested", GGUF_ARRAY, (GGUF_ARRAY, [(GGUF_UINT32, [1, 2]), (GGUF_STRING, ["x"])])),
]


def scan(tmp_path: Path, content: bytes) -> tuple[list[Finding], list[str]]:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    report = scan_file(path, "model.gguf")
    return report.findings, report.errors


def test_metadata_with_arrays_and_nested_arrays_parses() -> None:
    meta = parse_gguf(gguf_bytes(BASE, [("w", [4, 4])]))
    assert (meta.version, meta.tensor_count, meta.kv_count) == (3, 1, 5)
    assert meta.values["general.architecture"] == "llama"
    assert meta.values["llama.block_count"] == 2
    assert meta.values["nested"] == "<array of 2>"


def test_a_real_template_is_clean(tmp_path: Path) -> None:
    content = gguf_bytes([*BASE, ("tokenizer.chat_template", GGUF_STRING, LLAMA3)], [("w", [8])])
    assert scan(tmp_path, content) == ([], [])


def test_an_escape_in_a_named_template_is_reported_with_its_key_and_offset(tmp_path: Path) -> None:
    metadata = [
        *BASE,
        ("tokenizer.chat_template", GGUF_STRING, LLAMA3),
        ("tokenizer.chat_template.rag", GGUF_STRING, "{{ lipsum.__globals__ }}"),
    ]
    content = gguf_bytes(metadata)
    findings, errors = scan(tmp_path, content)
    [finding] = findings
    assert (finding.rule, finding.severity) == ("MLS-TPL-001", Severity.CRITICAL)
    assert finding.location.key_path == "tokenizer.chat_template.rag"
    offset = finding.location.offset
    assert offset is not None
    assert content[offset + 8 : offset + 10] == b"{{"
    assert errors == []


@pytest.mark.parametrize("where", [24, 56], ids=["key-length", "value-length"])
def test_a_length_past_the_end_of_the_file_is_a_high_finding(tmp_path: Path, where: int) -> None:
    content = gguf_bytes(BASE)
    patched = content[:where] + struct.pack("<Q", 1 << 50) + content[where + 8 :]
    findings, _ = scan(tmp_path, patched)
    assert [(f.rule, f.severity) for f in findings] == [("MLS-GGUF-001", Severity.HIGH)]


def test_a_count_that_cannot_fit_is_a_finding_not_a_long_loop(tmp_path: Path) -> None:
    content = b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 60)
    findings, _ = scan(tmp_path, content)
    assert [f.rule for f in findings] == ["MLS-GGUF-001"]


def test_a_truncated_file_is_a_finding(tmp_path: Path) -> None:
    content = gguf_bytes([*BASE, ("tokenizer.chat_template", GGUF_STRING, LLAMA3)])
    findings, _ = scan(tmp_path, content[: len(content) // 2])
    assert [f.rule for f in findings] == ["MLS-GGUF-001"]


def test_an_unknown_value_type_is_an_error_not_a_pass(tmp_path: Path) -> None:
    content = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1) + b"k"
    content += struct.pack("<I", 99) + bytes(8)
    findings, errors = scan(tmp_path, content)
    assert findings == []
    assert "unknown value type 99" in errors[0]


def test_an_unsupported_version_is_an_error(tmp_path: Path) -> None:
    findings, errors = scan(tmp_path, b"GGUF" + struct.pack("<IQQ", 7, 0, 0))
    assert findings == []
    assert "version 7" in errors[0]


def test_version_one_uses_32_bit_lengths() -> None:
    key = b"general.name"
    value = b"tiny"
    content = b"GGUF" + struct.pack("<III", 1, 0, 1)
    content += struct.pack("<I", len(key)) + key + struct.pack("<II", GGUF_STRING, len(value))
    content += value
    assert parse_gguf(content).values == {"general.name": "tiny"}


# --- string values, token arrays, duplicate keys ------------------------------------------------


def _tokens(tokens: list[str], types: list[int] | None) -> list[tuple[str, int, object]]:
    metadata: list[tuple[str, int, object]] = [
        ("general.architecture", GGUF_STRING, "llama"),
        ("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
    ]
    if types is not None:
        metadata.append(("tokenizer.ggml.token_type", GGUF_ARRAY, (GGUF_UINT32, types)))
    return metadata


def test_every_string_and_array_item_is_analysed_with_its_key_path(tmp_path: Path) -> None:
    import base64

    from tests.corpus import system_call

    payload = base64.b64encode(system_call(tmp_path / "canary")).decode()
    metadata = [
        *BASE,
        ("general.notes", GGUF_ARRAY, (GGUF_ARRAY, [(GGUF_STRING, ["ok", payload])])),
    ]
    findings, errors = scan(tmp_path, gguf_bytes(metadata))
    [outer] = [f for f in findings if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "general.notes[0][1]"
    assert errors == []


def test_a_duplicate_key_is_reported_and_both_templates_are_analysed(tmp_path: Path) -> None:
    metadata = [
        *BASE,
        ("tokenizer.chat_template", GGUF_STRING, "{{ cycler.__init__ }}"),
        ("tokenizer.chat_template", GGUF_STRING, LLAMA3),
    ]
    findings, _ = scan(tmp_path, gguf_bytes(metadata))
    assert ("MLS-GGUF-004", Severity.MEDIUM) in {(f.rule, f.severity) for f in findings}
    assert any(
        f.rule == "MLS-TPL-001" and f.location.key_path == "tokenizer.chat_template"
        for f in findings
    )


def test_a_string_too_large_to_analyse_is_a_high_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_mlsupply.engines.formats import gguf

    monkeypatch.setattr(gguf, "TEMPLATE_CAP", 100)
    findings, _ = scan(tmp_path, gguf_bytes([*BASE, ("general.blob", GGUF_STRING, "A" * 101)]))
    assert [(f.rule, f.severity, f.location.key_path) for f in findings] == [
        ("MLS-GGUF-003", Severity.HIGH, "general.blob")
    ]


def test_a_control_token_with_a_bidi_override_is_high(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, gguf_bytes(_tokens(["<s>", "<|im_end|>\u202e"], [3, 3])))
    [finding] = findings
    assert (finding.rule, finding.severity) == ("MLS-TOK-001", Severity.HIGH)
    assert finding.location.key_path == "tokenizer.ggml.tokens[1]"


def test_a_user_defined_token_is_checked_and_a_normal_one_is_not(tmp_path: Path) -> None:
    tokens = ["a\u200bb", "c\u200bd"]
    findings, _ = scan(tmp_path, gguf_bytes(_tokens(tokens, [1, 4])))
    assert [(f.rule, f.severity, f.location.key_path) for f in findings] == [
        ("MLS-TOK-001", Severity.MEDIUM, "tokenizer.ggml.tokens[1]")
    ]


def test_a_role_marker_that_is_not_a_control_token_is_medium(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, gguf_bytes(_tokens(["<|im_start|>", "[INST]"], [3, 1])))
    assert [(f.rule, f.location.key_path) for f in findings] == [
        ("MLS-TOK-003", "tokenizer.ggml.tokens[1]")
    ]


def test_token_arrays_of_different_lengths_are_reported(tmp_path: Path) -> None:
    findings, _ = scan(tmp_path, gguf_bytes(_tokens(["a", "b", "c"], [1, 1])))
    assert [f.rule for f in findings] == ["MLS-TOK-005"]
    assert "tokenizer.ggml.tokens: 3 items" in findings[0].evidence


def test_a_raw_binary_pickle_in_a_string_is_read_byte_for_byte(tmp_path: Path) -> None:
    from tests.corpus import system_call

    raw = system_call(tmp_path / "canary")  # protocol 2: 0x80 0x02..., not UTF-8
    key = b"general.blob"
    # Written by hand: the corpus writer only writes UTF-8 text.
    pair = struct.pack("<Q", len(key)) + key + struct.pack("<IQ", GGUF_STRING, len(raw)) + raw
    content = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + pair
    findings, errors = scan(tmp_path, content)
    assert "MLS-ENC-001" in {f.rule for f in findings}
    assert errors == []
