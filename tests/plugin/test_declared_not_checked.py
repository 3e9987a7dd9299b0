"""Nothing declared passes silently: keys no check reads yet are reported as "declared, not checked"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks.unchecked import UNCHECKED
from tests.conftest import Project

SCHEMA = Path(__file__).parents[2] / "pytest_mlsupply" / "manifest" / "mlsupply.schema.json"


def declare_unchecked_keys(project: Project) -> None:
    manifest = project.default_manifest(
        top="policy: {licenses: {deny_restrictions: [non-commercial]}}",
    )
    manifest.write_text(manifest.read_text() + "monitor: {orgs: [acme]}\n")


def test_declared_keys_no_check_reads_are_listed_in_the_terminal_summary(
    pytester: pytest.Pytester, project: Project
) -> None:
    declare_unchecked_keys(project)

    result = pytester.runpytest("--mlsupply")

    # Reported, not failed: nothing was checked, so nothing was found either.
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "*= mlsupply =*",
            # ([[] is fnmatch for a literal "[")
            "declared, not checked: monitor: watched by `mlsupply watch`, not by the gate",
        ]
    )


def test_the_matrix_and_the_bom_name_what_was_declared_but_not_checked(
    pytester: pytest.Pytester, project: Project
) -> None:
    declare_unchecked_keys(project)

    pytester.runpytest("--mlsupply")

    build = project.root / "build"
    markdown = (build / "mlsupply-matrix.md").read_text()
    assert "### Declared, not checked" in markdown
    # policy.licenses is read by the `license` claim: declared here, but not listed.
    assert "policy.licenses" not in markdown
    document = json.loads((build / "mlsupply-matrix.json").read_text())
    assert [d["key"] for d in document["declared_not_checked"]] == ["monitor"]
    bom = json.loads((build / "ml-bom.cdx.json").read_text())
    properties = bom["metadata"]["component"]["properties"]
    declared = [p["value"] for p in properties if p["name"] == "mlsupply:declared-not-checked"]
    # (cyclonedx-python-lib sorts properties by name and value)
    assert sorted(declared) == ["monitor"]


def test_a_manifest_that_declares_only_checked_keys_reports_nothing_unchecked(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply")

    assert result.ret == 0
    assert "declared, not checked" not in result.stdout.str()
    assert (
        "Declared, not checked" not in (project.root / "build" / "mlsupply-matrix.md").read_text()
    )
    document = json.loads((project.root / "build" / "mlsupply-matrix.json").read_text())
    assert document["declared_not_checked"] == []


def test_the_unchecked_list_is_deliberate() -> None:
    # When a check starts reading one of these keys, delete its entry in checks/unchecked.py
    # and here: the change is then visible in review.
    assert [entry.key for entry in UNCHECKED] == ["monitor"]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: dict[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return node


def _schema_has(schema: dict[str, Any], key: str) -> bool:
    node: dict[str, Any] = schema
    for part in key.split("."):
        name = part.removesuffix("[]")
        properties = node.get("properties", {})
        if name not in properties:
            return False
        node = _resolve(schema, properties[name])
        if part.endswith("[]"):
            node = _resolve(schema, node.get("items", {}))
    return True


def test_every_unchecked_key_is_one_the_manifest_accepts() -> None:
    schema = json.loads(SCHEMA.read_text())

    assert [e.key for e in UNCHECKED if not _schema_has(schema, e.key)] == []
