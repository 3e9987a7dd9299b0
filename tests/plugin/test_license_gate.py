"""`pytest --mlsupply` end to end with a licence policy: the license claim gates the run, and the
BOM carries each model's licence and the restrictions in force, inherited ones included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from tests.conftest import Project, write_model

LINE = "provenance[[]{}::license]"  # ([[] is fnmatch for a literal "[")

THREE_HOPS = """\
version: 1
project: {name: chat-service}
policy:
  licenses: {deny_restrictions: [non-commercial]}
models:
  - name: base
    path: models/base
    license: cc-by-nc-4.0
  - name: finetune
    path: models/finetune
    license: apache-2.0
    lineage: {base_model: base}
  - name: adapter
    path: models/adapter
    license: mit
    lineage: {base_model: finetune}
"""


def bom_of(project: Project) -> dict[str, Any]:
    text = (project.root / "build" / "ml-bom.cdx.json").read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    return document


def model_properties(bom: dict[str, Any], name: str) -> dict[str, list[str]]:
    (model,) = [c for c in bom["components"] if c["name"] == name]
    out: dict[str, list[str]] = {}
    for prop in model.get("properties", []):
        out.setdefault(prop["name"], []).append(prop["value"])
    return out


def test_a_model_under_an_allowed_licence_passes_and_its_restrictions_reach_the_bom(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="policy: {licenses: {allow: [apache-2.0, mit]}}")

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE.format('tiny')}*PASSED*"])
    assert result.ret == 0
    properties = model_properties(bom_of(project), "tiny")
    assert properties["mlsupply:provenance:license"] == ["pass"]
    assert properties["mlsupply:license:restriction"] == ["attribution"]


def test_a_non_commercial_base_fails_its_fine_tune_and_the_adapter_on_it(
    pytester: pytest.Pytester, project: Project
) -> None:
    for name in ("base", "finetune", "adapter"):
        write_model(project.root / "models" / name)
    project.manifest(THREE_HOPS)

    result = pytester.runpytest("--mlsupply", "-v")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            f"*{LINE.format('adapter')}*FAILED*",
            f"*{LINE.format('base')}*FAILED*",
            f"*{LINE.format('finetune')}*FAILED*",
        ],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        [
            "*MLS-LIC-006 base model's licence fails the policy*",
            "*model finetune → model base (licence 'cc-by-nc-4.0'): CC-BY-NC-4.0 carries the "
            "denied restriction 'non-commercial'*",
        ]
    )
    bom = bom_of(project)
    adapter = model_properties(bom, "adapter")
    assert adapter["mlsupply:provenance:license"] == ["fail"]
    assert adapter["mlsupply:license:restriction"] == ["attribution", "non-commercial"]
    (component,) = [c for c in bom["components"] if c["name"] == "adapter"]
    assert component["licenses"] == [{"license": {"id": "MIT"}}]


def test_a_cards_other_licence_is_recorded_in_the_bom_by_its_licence_name(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_model(project.root / "models" / "chat")
    card = project.root / "models" / "chat" / "README.md"
    card.write_text("---\nlicense: other\nlicense_name: llama3\n---\n# chat\n")
    project.manifest(
        """\
        version: 1
        project: {name: chat-service}
        policy:
          licenses: {allow: [llama3]}
        models:
          - {name: chat, path: models/chat}
        """
    )

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE.format('chat')}*PASSED*"])
    bom = bom_of(project)
    (component,) = [c for c in bom["components"] if c["name"] == "chat"]
    assert component["licenses"] == [{"license": {"name": "llama3"}}]
    assert model_properties(bom, "chat")["mlsupply:license:restriction"] == [
        "attribution",
        "no-use-of-outputs-for-training",
        "use-based-restrictions",
        "user-threshold",
    ]
