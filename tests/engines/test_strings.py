"""The string analyser: encoded pickles and templates in any string value, within a budget."""

from __future__ import annotations

import base64
import bz2
import gzip
import json
import lzma
import pickle
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_mlsupply.engines.blob import Blob
from pytest_mlsupply.engines.pickle import PicklePolicy
from pytest_mlsupply.engines.pickle.nested import might_hold_pickle
from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.engines.strings import (
    SCAN_COST,
    StringAnalyser,
    child_path,
    is_template_key,
    string_findings,
)
from pytest_mlsupply.results import Finding, Severity
from tests.corpus import system_call
from tests.corpus.templates import CHATML, QWEN25

PAYLOAD = system_call(Path("/nonexistent/canary"))
BLOB = Blob(subject="config.json", name="config.json", data=b"{}")


def analyse(value: str, key: str | None = "state", **kwargs: object) -> list[Finding]:
    return string_findings(BLOB, "a.state", key, value, PicklePolicy(), **kwargs)  # type: ignore[arg-type]


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule for f in findings}


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return bytes(lz4.frame.compress(data))


def _zstd(data: bytes) -> bytes:
    import zstandard

    return bytes(zstandard.ZstdCompressor().compress(data))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ENCODINGS: dict[str, Callable[[bytes], str]] = {
    "latin-1": lambda raw: raw.decode("latin-1"),
    "base64": _b64,
    "base64-urlsafe-unpadded": lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),
    "base64-line-wrapped": lambda raw: base64.encodebytes(raw).decode(),
    "hex": lambda raw: raw.hex(),
    "hex-upper-spaced": lambda raw: raw.hex(" ").upper(),
    "gzip-base64": lambda raw: _b64(gzip.compress(raw)),
    "zlib-base64": lambda raw: _b64(zlib.compress(raw)),
    "bz2-hex": lambda raw: bz2.compress(raw).hex(),
    "xz-base64": lambda raw: _b64(lzma.compress(raw)),
    "lzma-alone-base64": lambda raw: _b64(lzma.compress(raw, format=lzma.FORMAT_ALONE)),
    "lz4-base64": lambda raw: _b64(_lz4(raw)),
    "zstd-base64": lambda raw: _b64(_zstd(raw)),
    "gzip-latin-1": lambda raw: gzip.compress(raw).decode("latin-1"),
    "base64-of-gzip-of-base64": lambda raw: _b64(gzip.compress(base64.b64encode(raw))),
    "data-uri": lambda raw: "data:application/octet-stream;base64," + _b64(raw),
    "0x-hex": lambda raw: "0x" + raw.hex(),
    "bytes-repr": lambda raw: str(raw),
    "leading-whitespace": lambda raw: "\n  " + _b64(raw),
    "protocol-0-text": lambda raw: "cos\nsystem\n(S'id'\ntR.",
}


@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_an_encoded_pickle_in_a_string_is_found_and_scanned_with_its_key_path(
    encode: Callable[[bytes], str],
) -> None:
    findings = analyse(encode(PAYLOAD))
    [outer] = [f for f in findings if f.rule == "MLS-ENC-001"]
    assert outer.severity == Severity.HIGH
    assert outer.location.key_path == "a.state"
    inner = [f for f in findings if f.rule.startswith("MLS-PKL")]
    assert any(f.severity == Severity.CRITICAL for f in inner)
    assert all(f.location.key_path.startswith("a.state (") for f in inner)


@pytest.mark.parametrize(
    "value",
    [
        _b64(pickle.dumps({"lr": 0.1, "steps": [1, 2, 3]}, protocol=4)),  # inert: imports nothing
        _b64(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20),
        _b64(b"Created with numpy\n" + bytes(range(256))),  # opens like SHORT_BINBYTES
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "Information retrieval",
        "1234567890123456789012345",
        _b64(gzip.compress(b"plain text, not a pickle " * 100)),
        "x^ is not zlib, just text that starts like a header",
    ],
    ids=[
        "inert-pickle",
        "png",
        "opener-and-newline",
        "sha256",
        "word",
        "digits",
        "gzip-text",
        "x^",
    ],
)
def test_strings_that_are_not_pickles_that_run_code_produce_nothing(value: str) -> None:
    assert analyse(value) == []


def test_a_decompression_bomb_is_a_high_finding_and_its_head_is_still_scanned() -> None:
    bomb = gzip.compress(PAYLOAD + b"\x00" * (64 << 20))
    findings = analyse(_b64(bomb))
    assert ("MLS-ENC-002", Severity.HIGH) in {(f.rule, f.severity) for f in findings}
    assert "MLS-PKL-001" in rules(findings)


def test_an_exhausted_budget_is_reported_with_the_number_of_strings_left() -> None:
    # Each scan costs its decoded bytes plus SCAN_COST: three fit.
    analyser = StringAnalyser(BLOB, PicklePolicy(), budget=3 * (SCAN_COST + 100))
    values = [_b64(PAYLOAD + bytes([i])) for i in range(10)]
    findings: list[Finding] = []
    for index, value in enumerate(values):
        findings += analyser.value(f"v[{index}]", value)
    findings += analyser.finish()
    assert len([f for f in findings if f.rule == "MLS-ENC-001"]) == 3
    [exhausted] = [f for f in findings if f.rule == "MLS-ENC-003"]
    assert exhausted.severity == Severity.HIGH
    assert exhausted.evidence.startswith("7 candidate string(s) left unanalysed, from v[3]")


def test_template_parses_beyond_the_cap_are_counted_as_left_unanalysed() -> None:
    analyser = StringAnalyser(BLOB, PicklePolicy(), max_analyses=2)
    findings: list[Finding] = []
    for index in range(3):
        escape = "{{ cycler.__init__.__globals__ }}" + " " * index
        findings += analyser.value(f"note{index}", escape, key="note")
    findings += analyser.finish()
    assert {f.location.key_path for f in findings if f.rule == "MLS-TPL-001"} == {"note0", "note1"}
    [exhausted] = [f for f in findings if f.rule == "MLS-ENC-003"]
    assert exhausted.evidence.startswith("1 candidate string(s) left unanalysed, from note2")


def test_a_decode_budget_too_small_for_a_value_fails_closed() -> None:
    analyser = StringAnalyser(BLOB, PicklePolicy(), budget=64)
    findings = analyser.value("big", _b64(PAYLOAD * 10)) + analyser.finish()
    assert rules(findings) == {"MLS-ENC-003"}


def test_the_same_value_at_many_paths_is_analysed_once() -> None:
    analyser = StringAnalyser(BLOB, PicklePolicy(), max_analyses=1)
    value = _b64(PAYLOAD)
    findings = analyser.value("a", value) + analyser.value("b", value) + analyser.finish()
    assert [f.location.key_path for f in findings if f.rule == "MLS-ENC-001"] == ["a"]
    assert "MLS-ENC-003" not in rules(findings)


@pytest.mark.parametrize(
    "key",
    [
        "chat_template",
        "custom_chat_template",
        "default_chat_template",
        "Prompt_Template",
        "tokenizer.chat_template",
        "template",
        "chat_templates",
        "chat-template",
        "chatTemplate",
        "chat_template_rag",
    ],
)
def test_template_keys_are_recognised_in_any_spelling(key: str) -> None:
    assert is_template_key(key)


@pytest.mark.parametrize("key", ["bos_token", "name", "temp", "tmpl_dir"])
def test_other_keys_are_not_template_keys(key: str) -> None:
    assert not is_template_key(key)


def test_a_template_key_gets_every_template_rule_and_other_keys_only_escapes() -> None:
    medium_only = "{% include 'other.jinja' %}"  # MLS-TPL-007, medium
    assert rules(analyse(medium_only, key="prompt_template")) == {"MLS-TPL-007"}
    assert analyse(medium_only, key="description") == []
    escape = "{{ cycler.__init__.__globals__.os }}"
    assert "MLS-TPL-001" in rules(analyse(escape, key="description"))


def test_text_that_is_not_jinja_in_a_template_key_is_only_a_parse_finding() -> None:
    assert rules(analyse("Question: {question}\nAnswer:", key="prompt_template")) == set()
    assert rules(analyse("{{ unclosed", key="prompt_template")) == {"MLS-TPL-009"}
    assert analyse("{{ unclosed", key="note") == []


def test_key_paths_quote_keys_that_are_not_plain_names() -> None:
    assert child_path("", "a") == "a"
    assert child_path("model", "vocab") == "model.vocab"
    assert child_path("model.vocab", "Ġthe") == 'model.vocab["\\u0120the"]'
    assert child_path("x", 3) == "x[3]"
    assert child_path("x", "k" * 100).endswith('..."]')


def test_walking_a_document_visits_values_keys_duplicates_and_template_lists() -> None:
    payload = _b64(PAYLOAD)
    document = json.loads(
        json.dumps({"a": [{"b": payload}], "vocab": {payload[:-4] + "AAAA": 1}})[:-1]
        + ', "dup": "x", "dup": '
        + json.dumps(PAYLOAD.hex())
        + ', "chat_templates": [{"name": "rag", "template": "{{ lipsum.__globals__ }}"}]}',
        object_pairs_hook=lambda pairs: pairs,
    )
    analyser = StringAnalyser(BLOB, PicklePolicy())
    findings = analyser.walk(document) + analyser.finish()
    paths = {f.location.key_path for f in findings if f.rule in ("MLS-ENC-001", "MLS-TPL-001")}
    assert "a[0].b" in paths
    assert "dup" in paths
    assert "chat_templates[0].template" in paths
    assert any(p.startswith("vocab[") for p in paths)


def test_a_json_document_inside_a_string_is_walked() -> None:
    inner = json.dumps({"optimizer": {"state": _b64(PAYLOAD)}})
    findings = analyse(json.dumps({"wrapped": inner}), key="ss_training")
    [outer] = [f for f in findings if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "a.state (JSON).wrapped (JSON).optimizer.state"


def test_json_nested_deeper_than_followed_fails_closed() -> None:
    value = json.dumps({"state": _b64(PAYLOAD)})
    for _ in range(12):
        value = json.dumps({"inner": value})
    assert "MLS-ENC-003" in rules(analyse(value))


def test_a_brace_string_that_is_not_json_is_still_analysed() -> None:
    assert "MLS-TPL-001" in rules(analyse("{{ cycler.__init__.__globals__ }}", key="note"))


def test_the_cheap_gate_turns_away_ordinary_tokens() -> None:
    assert not might_hold_pickle("Ġcomputer")
    assert not might_hold_pickle("hello")
    assert might_hold_pickle(_b64(PAYLOAD))
    assert might_hold_pickle(PAYLOAD.hex())


def test_a_large_vocabulary_is_analysed_quickly(tmp_path: Path) -> None:
    vocab = {f"Ġtok{i}": i for i in range(200_000)}
    vocab.update({f"Information{i}": 200_000 + i for i in range(20_000)})
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": []}}))
    started = time.perf_counter()
    report = scan_file(path, "tokenizer.json")
    assert time.perf_counter() - started < 20
    assert report.findings == []
    assert report.errors == []


# --- wiring: JSON, safetensors, GGUF, .template files -----------------------------------------


def scan_json(tmp_path: Path, name: str, document: object) -> list[Finding]:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    report = scan_file(path, name)
    assert report.errors == []
    return report.findings


def test_a_chat_template_is_reported_once_and_a_custom_one_beside_it_too(tmp_path: Path) -> None:
    escape = "{{ cycler.__init__.__globals__ }}"
    config = {
        "chat_template": [
            {"name": "default", "template": CHATML},
            {"name": "x", "template": escape},
        ],
        "custom_chat_template": escape + " ",
    }
    findings = scan_json(tmp_path, "tokenizer_config.json", config)
    paths = sorted({f.location.key_path for f in findings})
    assert paths == ["chat_template[1] ('x')", "custom_chat_template"]
    assert len(findings) == 2 * len(
        [f for f in findings if f.location.key_path == "custom_chat_template"]
    )


def test_a_real_template_in_a_custom_key_is_clean(tmp_path: Path) -> None:
    assert scan_json(tmp_path, "tokenizer_config.json", {"custom_chat_template": QWEN25}) == []


def test_a_pickle_in_any_json_file_is_found(tmp_path: Path) -> None:
    findings = scan_json(tmp_path, "anything.json", {"x": {"y": [1, _b64(gzip.compress(PAYLOAD))]}})
    [outer] = [f for f in findings if f.rule == "MLS-ENC-001"]
    assert outer.location.key_path == "x.y[1]"
    assert "base64+gzip" in outer.evidence


def test_a_template_file_is_analysed(tmp_path: Path) -> None:
    path = tmp_path / "system_prompt.template"
    path.write_text("{{ lipsum.__globals__['os'] }}", encoding="utf-8")
    assert "MLS-TPL-001" in rules(scan_file(path, path.name).findings)


def test_compression_layers_past_the_last_peeled_one_are_reported_as_left_unanalysed() -> None:
    data = PAYLOAD
    for _ in range(4):
        data = zlib.compress(data)
    findings = analyse(_b64(data))
    assert ("MLS-ENC-003", Severity.HIGH) in {(f.rule, f.severity) for f in findings}


def test_three_compression_layers_are_still_peeled_and_the_pickle_scanned() -> None:
    data = PAYLOAD
    for _ in range(2):
        data = zlib.compress(data)
    assert "MLS-ENC-001" in rules(analyse(_b64(data)))


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: base64.b64encode(base64.b64encode(data)).decode(),
        lambda data: base64.b64encode(data).hex(),
        lambda data: base64.urlsafe_b64encode(base64.b64encode(data)).decode(),
    ],
    ids=["base64-of-base64", "hex-of-base64", "urlsafe-of-base64"],
)
def test_a_pickle_encoded_twice_is_decoded_through_both_layers(
    encode: Callable[[bytes], str],
) -> None:
    assert "MLS-ENC-001" in rules(analyse(encode(PAYLOAD)))
