"""Encoded pickles that are not the whole string: labels, quotes, trailers, other alphabets,
escape text, and base64 split across a list; and the text around them that must stay quiet."""

from __future__ import annotations

import base64
import gzip
import json
import random
import struct
import zlib
from pathlib import Path

import pytest

from pytest_mlsupply.engines.blob import Blob
from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.pickle.nested import MAX_DECODES, might_hold_pickle
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.engines.strings import StringAnalyser, string_findings
from pytest_mlsupply.results import Finding, Severity
from tests.corpus import system_call
from tests.corpus.safetensors_gguf import GGUF_ARRAY, GGUF_STRING, gguf_bytes

PAYLOAD = system_call(Path("/nonexistent/canary"))
# The same call as a protocol 0 pickle, as pickle.dumps(protocol=0) writes a reduce.
PROTO0 = b"cos\nsystem\n(S'touch /nonexistent/canary'\ntR."
B64 = base64.b64encode(PAYLOAD).decode()
BLOB = Blob(subject="config.json", name="config.json", data=b"{}")


def analyse(value: str) -> list[Finding]:
    return string_findings(BLOB, "a.state", "state", value, PicklePolicy())


def high_rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings if f.severity >= Severity.HIGH}


INSIDE = {
    "colon-label": "pickle:" + B64,
    "base64-label": "base64:" + B64,
    "equals-label": "state=" + B64,
    "octet-stream-data-uri": "data:application/octet-stream;base64," + B64,
    "double-quoted": f'"{B64}"',
    "single-quoted": f"'{B64}'",
    "newline-trailer": B64 + "\n#end",
    "space-trailer": B64 + " (optimizer state, do not edit)",
    "label-and-trailer": "state: " + B64 + "; saved by trainer",
    "multiline-after-label": "pickle:\n"
    + "\n".join(B64[i : i + 16] for i in range(0, 64, 16))
    + B64[64:],
    "gzip-after-label": "blob:" + base64.b64encode(gzip.compress(PAYLOAD)).decode(),
    "base32": base64.b32encode(PAYLOAD).decode(),
    "base32-lowercase-unpadded": base64.b32encode(PAYLOAD).decode().lower().rstrip("="),
    "base32-protocol-0": base64.b32encode(PROTO0).decode(),
    "base85": base64.b85encode(PAYLOAD).decode(),
    "base85-labelled": "b85:" + base64.b85encode(PAYLOAD).decode(),
    "base85-zlib": base64.b85encode(zlib.compress(PAYLOAD)).decode(),
    "ascii85": base64.a85encode(PAYLOAD).decode(),
    "ascii85-labelled": "a85:" + base64.a85encode(PAYLOAD).decode(),
    "ascii85-quoted": "'" + base64.a85encode(PAYLOAD).decode() + "'",
    "ascii85-adobe": base64.a85encode(PAYLOAD, adobe=True).decode(),
    "ascii85-adobe-in-text": "state <~" + base64.a85encode(PAYLOAD).decode() + "~> end",
    "escape-text": repr(PAYLOAD)[2:-1],
    "escape-text-labelled": "blob=" + repr(PAYLOAD)[2:-1],
    "escape-text-protocol-0": repr(PROTO0)[2:-1],
    "latin-1-after-label": "pickle:" + PAYLOAD.decode("latin-1"),
    "unicode-escape-text": "".join(f"\\u{b:04x}" for b in PAYLOAD),
    "0x-hex-after-label": "state: 0x" + PAYLOAD.hex(),
    "spaced-hex-after-label": "hex: " + PAYLOAD.hex(" "),
    "colon-hex": PAYLOAD.hex(":"),
}


@pytest.mark.parametrize("value", INSIDE.values(), ids=INSIDE.keys())
def test_a_pickle_a_program_cuts_out_of_a_string_is_found_and_scanned(value: str) -> None:
    assert might_hold_pickle(value)
    findings = analyse(value)
    assert {"MLS-ENC-001", "MLS-PKL-001"} <= high_rules(findings), findings
    where = next(f for f in findings if f.rule == "MLS-PKL-001").location.key_path or ""
    assert where.startswith("a.state (")
    assert "pickle)" in where


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0)
    noise = random.Random(3).randbytes(4000)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", noise) + chunk(b"IEND", b"")
    )


def _random_texts() -> list[str]:
    rng = random.Random(20)
    texts = []
    for _ in range(40):
        data = rng.randbytes(rng.randint(12, 400))
        texts += [
            "blob:" + base64.b64encode(data).decode(),
            '"' + base64.b64encode(data).decode() + '"',
            base64.b32encode(data).decode(),
            base64.b85encode(data).decode(),
            base64.a85encode(data, adobe=True).decode(),
            repr(data)[2:-1],
        ]
    return texts


QUIET = {
    "png-thumbnail-data-uri": "data:image/png;base64," + base64.b64encode(_png()).decode(),
    "png-thumbnail-labelled": "thumbnail:" + base64.b64encode(_png()).decode(),
    "prose": "Fine-tuned from meta-llama/Llama-3.1-8B-Instruct on 1.2M conversations; "
    "see https://huggingface.co/datasets/HuggingFaceH4/ultrachat_200k for details.",
    "code": "def forward(self, hidden_states):\\n    return self.dropout(self.dense(x))\\n",
    "sha256-label": "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "dashes": "-" * 64,
    "hex-escapes-of-text": "\\x48\\x65\\x6c\\x6c\\x6f\\x2c\\x20\\x77\\x6f\\x72\\x6c\\x64",
}


@pytest.mark.parametrize("value", QUIET.values(), ids=QUIET.keys())
def test_text_around_encodings_that_holds_no_pickle_stays_quiet(value: str) -> None:
    assert high_rules(analyse(value)) == set()


def test_random_bytes_in_every_encoding_and_wrapping_stay_quiet() -> None:
    analyser = StringAnalyser(BLOB, PicklePolicy())
    findings = [f for i, t in enumerate(_random_texts()) for f in analyser.value(f"v[{i}]", t)]
    assert high_rules(findings + analyser.finish()) == set()


def test_a_string_with_more_pickle_heads_than_are_decoded_fails_closed() -> None:
    # Each run opens like a protocol 2 pickle and imports nothing: every one is decoded.
    inert = base64.b64encode(b"\x80\x02" + b"K\x01" * 12 + b".").decode()
    value = " ; ".join([inert] * (MAX_DECODES + 1)) + " ; " + "x:" + B64
    findings = analyse(value)
    assert "MLS-ENC-003" in high_rules(findings)


def test_base64_split_across_a_list_is_analysed_joined() -> None:
    pieces = [B64[i : i + 8] for i in range(0, len(B64), 8)]
    analyser = StringAnalyser(BLOB, PicklePolicy())
    findings = analyser.walk({"state": pieces})
    assert "MLS-ENC-001" in high_rules(findings)
    assert any((f.location.key_path or "").startswith("state (joined)") for f in findings)


def test_a_token_list_is_not_joined_when_its_pieces_are_not_one_base64_run() -> None:
    # A vocabulary of plain tokens with a pickle's base64 pieces among them: no program joins
    # a token list into one base64 text, so nothing is reported (and nothing large is built).
    pieces = ["<unk>", "<s>", "</s>", "▁the"] + [B64[i : i + 8] for i in range(0, len(B64), 8)]
    analyser = StringAnalyser(BLOB, PicklePolicy())
    assert analyser.joined("tokens", pieces) == []
    assert analyser.joined("tokens", [B64[:8]]) == []


def test_a_yaml_sequence_of_base64_pieces_is_analysed_joined(tmp_path: Path) -> None:
    pieces = [B64[i : i + 12] for i in range(0, len(B64), 12)]
    path = tmp_path / "config.yaml"
    path.write_text("state:\n" + "".join(f"  - '{p}'\n" for p in pieces), encoding="utf-8")
    report = scan_file(path, "config.yaml")
    assert any(
        f.rule == "MLS-ENC-001" and (f.location.key_path or "").startswith("state (joined)")
        for f in report.findings
    ), report.findings


def test_a_json_list_of_base64_pieces_in_a_config_is_found(tmp_path: Path) -> None:
    pieces = [B64[i : i + 4] for i in range(0, len(B64), 4)]
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "extra": {"state": pieces}}))
    report = scan_file(path, "config.json")
    assert "MLS-ENC-001" in high_rules(report.findings)


def test_the_gate_still_turns_away_ordinary_long_tokens() -> None:
    for token in (
        "Ġcomputer",
        "self.assertEqual",
        "getElementById",
        "https://huggingface.co/bert-base-uncased",
        "ĠInformationRetrieval",
        "transformers_version",
    ):
        assert not might_hold_pickle(token), token


def test_base64_split_across_a_gguf_string_array_is_analysed_joined(tmp_path: Path) -> None:
    pieces = [B64[i : i + 6] for i in range(0, len(B64), 6)]
    metadata = [
        ("general.architecture", GGUF_STRING, "llama"),
        ("general.training_state", GGUF_ARRAY, (GGUF_STRING, pieces)),
    ]
    path = tmp_path / "model.gguf"
    path.write_bytes(gguf_bytes(metadata, [("token_embd.weight", [4, 8])]))
    report = scan_file(path, "model.gguf")
    assert any(
        f.rule == "MLS-ENC-001" and f.location.key_path == "general.training_state (joined)"
        for f in report.findings
    ), report.findings


ENCODINGS = {
    "ascii85": lambda data: base64.a85encode(data).decode(),
    "base85": lambda data: base64.b85encode(data).decode(),
    "base32": lambda data: base64.b32encode(data).decode(),
    "hex": lambda data: data.hex(),
    "base64": lambda data: base64.b64encode(data).decode(),
}


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_payload_is_found_whatever_its_bytes_make_a_decoy_run_look_like(encoding: str) -> None:
    """Another alphabet's reading of part of the text can look like a pickle (a base85 run
    inside ascii85 text decodes to bytes opening with MARK): such a decoy once hid the real
    run, so that one payload path in four, in ascii85, scanned clean. Every run is followed."""
    encode = ENCODINGS[encoding]
    missed = []
    for n in range(0, 2000, 13):
        canary = Path(f"/tmp/pytest-of-root/pytest-{n}/popen-gw{n % 2}/test_x{n % 10}/canary")
        if "MLS-ENC-001" not in high_rules(analyse(encode(system_call(canary)))):
            missed.append(str(canary))
    assert not missed, f"{encoding}: {len(missed)} payloads missed, e.g. {missed[:3]}"
