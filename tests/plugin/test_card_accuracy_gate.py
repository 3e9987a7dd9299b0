"""`pytest --mlsupply` end to end with the model-card-accuracy claim: an accurate card passes, a
contradicted one fails with both sides in the report, and the BOM stays strictly valid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.checks.test_provenance_card_accuracy import LLAMA_CARD, adapter_model, llama_model
from tests.conftest import Project

LINE = "provenance[[]{}::model-card-accuracy]"  # ([[] is fnmatch for a literal "[")

MANIFEST = """\
version: 1
project: {name: chat-service}
models:
  - {name: chat, path: models/chat, license: llama3}
  - {name: lora, path: models/lora, license: llama3}
"""


def bom_of(project: Project) -> dict[str, Any]:
    text = (project.root / "build" / "ml-bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    return document


def verdict(bom: dict[str, Any], name: str) -> list[str]:
    (component,) = [c for c in bom["components"] if c["name"] == name]
    return [
        p["value"]
        for p in component.get("properties", [])
        if p["name"] == "mlsupply:provenance:model-card-accuracy"
    ]


def test_accurate_cards_pass_and_the_bom_records_the_verdict(
    pytester: pytest.Pytester, project: Project
) -> None:
    llama_model(project.root / "models" / "chat")
    adapter_model(project.root / "models" / "lora")
    project.manifest(MANIFEST)

    result = pytester.runpytest("--mlsupply", "-v", "-k", "model-card-accuracy")

    result.stdout.fnmatch_lines(
        [f"*{LINE.format('chat')}*PASSED*", f"*{LINE.format('lora')}*PASSED*"],
        consecutive=False,
    )
    assert result.ret == 0
    bom = bom_of(project)
    assert verdict(bom, "chat") == ["pass"]
    assert verdict(bom, "lora") == ["pass"]


def test_a_contradicted_card_fails_quoting_both_sides_and_the_bom_stays_valid(
    pytester: pytest.Pytester, project: Project
) -> None:
    card = LLAMA_CARD.replace("license_name: llama3", "license_name: gemma")
    llama_model(project.root / "models" / "chat", card)
    adapter_model(project.root / "models" / "lora")
    project.manifest(MANIFEST)

    result = pytester.runpytest("--mlsupply", "-v", "-k", "model-card-accuracy")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"*{LINE.format('chat')}*FAILED*",
            "*MLS-CARD-101*the card's licence contradicts the manifest's*",
            "*the card says license 'gemma'; the manifest's `license:` says 'llama3'*",
            "*MLS-CARD-101*the card's licence contradicts the LICENSE file*",
            "*the card says license 'gemma'; LICENSE is the text of llama3*",
        ],
        consecutive=False,
    )
    bom = bom_of(project)
    assert verdict(bom, "chat") == ["fail"]
    assert verdict(bom, "lora") == ["pass"]
