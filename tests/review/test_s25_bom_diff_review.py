"""Adversarial review of s25 (bom diff): a new failure that ``--fail-on new-failure`` lets
through, and a verdict that disappears without a change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_mlsupply.bom_diff import compare, snapshot


def _file(name: str, sha: str, scan: str | None) -> dict[str, Any]:
    props = [] if scan is None else [{"name": "mlsupply:check:scan", "value": scan}]
    return {
        "type": "file",
        "name": name,
        "hashes": [{"alg": "SHA-256", "content": sha}],
        "properties": props,
    }


def _bom(*files: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"component": {"type": "application", "name": "proj", "version": "1"}},
        "components": [
            {"type": "machine-learning-model", "name": "tiny", "components": list(files)}
        ],
    }


OLD = _bom(_file("model.safetensors", "a" * 64, "pass"))


def test_a_new_file_that_fails_its_scan_blocks_fail_on_new_failure() -> None:
    new = _bom(_file("model.safetensors", "a" * 64, "pass"), _file("extra.bin", "b" * 64, "fail"))
    changes = compare(snapshot(Path("old"), OLD), snapshot(Path("new"), new))
    assert any(c.blocks(frozenset({"new-failure"})) for c in changes)  # today: exit 0


def test_a_check_verdict_that_disappears_is_a_change() -> None:
    new = _bom(_file("model.safetensors", "a" * 64, None))  # the scan no longer ran
    changes = compare(snapshot(Path("old"), OLD), snapshot(Path("new"), new))
    assert [(c.kind, c.new) for c in changes] == [("verdict-flip", None)]


def test_a_property_name_in_a_hostile_bom_cannot_send_terminal_escapes() -> None:
    from pytest_mlsupply.bom_diff import render_text

    escape = "check:scan\x1b]0;owned\x07\x1b[2K\r  nothing changed"

    def bom(verdict: str) -> dict[str, Any]:
        document = _bom(_file("model.safetensors", "a" * 64, None))
        document["components"][0]["properties"] = [{"name": f"mlsupply:{escape}", "value": verdict}]
        return document

    old, new = snapshot(Path("old"), bom("pass")), snapshot(Path("new"), bom("fail"))
    text = render_text(old, new, compare(old, new), frozenset())
    assert "verdict-flip" in text
    for control in ("\x1b", "\r", "\x07"):
        assert control not in text
