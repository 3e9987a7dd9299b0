"""A partial run never passes its BOM and matrix off as the release's: they are marked partial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Project


def _reports(root: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The matrix JSON, and the BOM project component's properties by name."""
    matrix = json.loads((root / "build" / "mlsupply-matrix.json").read_text())
    bom = json.loads((root / "build" / "ml-bom.cdx.json").read_text())
    properties = bom["metadata"]["component"].get("properties", [])
    return matrix, {prop["name"]: prop["value"] for prop in properties}


def _markdown(root: Path) -> str:
    return (root / "build" / "mlsupply-matrix.md").read_text()


def test_a_k_run_writes_reports_marked_partial_with_the_items_it_did_not_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "-k", "sha256")

    assert result.ret == 0
    matrix, properties = _reports(project.root)
    assert matrix["partial"] is True
    assert "artifact[tiny/model.safetensors::format]" in matrix["not_run_items"]
    assert "dependency[numpy==2.1.0]" in matrix["not_run_items"]
    assert not any("::sha256]" in name for name in matrix["not_run_items"])
    assert properties["mlsupply:partial"] == "true"
    assert properties["mlsupply:not-run-items"] == str(len(matrix["not_run_items"]))
    assert "> **PARTIAL RUN**" in _markdown(project.root)
    result.stdout.fnmatch_lines(["PARTIAL RUN: * of * planned item(s) did not run*"])


def test_deselecting_one_item_makes_the_run_partial_by_exactly_that_item(
    pytester: pytest.Pytester, project: Project
) -> None:
    item = "mlsupply.yaml::artifact[tiny/config.json::scan]"

    result = pytester.runpytest("--mlsupply", "--deselect", item)

    assert result.ret == 0
    matrix, properties = _reports(project.root)
    assert matrix["not_run_items"] == ["artifact[tiny/config.json::scan]"]
    assert properties["mlsupply:not-run-items"] == "1"
    result.stdout.fnmatch_lines(["PARTIAL RUN: 1 of * planned item(s) did not run*"])


def test_a_last_failed_run_is_partial_and_a_full_run_afterwards_is_not(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "tests" / "test_flaky.py").write_text("def test_flaky():\n    assert False\n")
    first = pytester.runpytest("--mlsupply")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    matrix, properties = _reports(project.root)
    assert (matrix["partial"], matrix["not_run_items"]) == (False, [])
    assert "mlsupply:partial" not in properties

    rerun = pytester.runpytest("--mlsupply", "--lf")
    assert rerun.ret == pytest.ExitCode.TESTS_FAILED
    matrix, properties = _reports(project.root)
    assert matrix["partial"] is True
    assert properties["mlsupply:partial"] == "true"

    full = pytester.runpytest("--mlsupply")
    assert full.ret == pytest.ExitCode.TESTS_FAILED
    matrix, properties = _reports(project.root)
    assert (matrix["partial"], matrix["not_run_items"]) == (False, [])
    assert "mlsupply:partial" not in properties
    assert "PARTIAL RUN" not in _markdown(project.root)
    assert "PARTIAL RUN" not in full.stdout.str()


def test_an_item_that_errored_makes_the_run_failing_not_partial(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "dangling.bin").symlink_to(project.root / "does-not-exist")

    result = pytester.runpytest("--mlsupply")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    matrix, properties = _reports(project.root)
    assert matrix["counts"]["error"] > 0
    assert (matrix["partial"], matrix["not_run_items"]) == (False, [])
    assert "mlsupply:partial" not in properties
    assert "PARTIAL RUN" not in result.stdout.str()
