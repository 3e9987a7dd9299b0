"""The registry names every check before importing it, and a plan imports only the checks it needs.

Behavioural guards: which check modules a plan and its run load (in a fresh interpreter), and the
registry's lines against the check objects they name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from pytest_mlsupply.checks import registry
from pytest_mlsupply.checks.base import Check
from pytest_mlsupply.results import RowKind
from tests.conftest import sha256_of

ROOT = Path(__file__).resolve().parents[2]

#: Today's checks, in the order of the plan's items and the matrix's columns.
ORDER = {
    "artifact": ["sha256", "format", "scan", "hub"],
    "dependency": ["pinned", "confusion", "typosquat", "integrity", "vulnerabilities"],
    "provenance": [
        "model-card",
        "signature",
        "attestation",
        "lineage",
        "promotion",
        "license",
        "model-card-accuracy",
    ],
    "dataset": ["dataset"],
}

LINES = {
    "artifact": registry.ARTIFACT_CHECKS,
    "dependency": registry.DEPENDENCY_CHECKS,
    "provenance": registry.PROVENANCE_CHECKS,
    "dataset": registry.DATASET_CHECKS,
}


def test_the_registry_lists_every_check_by_name_in_its_order() -> None:
    assert {group: [line.name for line in lines] for group, lines in LINES.items()} == ORDER


def test_every_line_names_the_check_object_of_its_name_and_kind() -> None:
    for lines in LINES.values():
        for line in lines:
            check = line.load()
            assert isinstance(check, Check)
            assert (check.name, check.kind) == (line.name, line.kind)


def test_a_line_naming_another_check_is_refused_with_the_line_and_the_fix() -> None:
    wrong = registry.Registered[object](
        "sha256", RowKind.ARTIFACT, "pytest_mlsupply.checks.artifact_format:CHECK"
    )

    with pytest.raises(TypeError, match=r"registry line 'sha256' \(artifact\) names "):
        wrong.load()


def test_a_provenance_claim_leaves_when_it_applies_to_its_registry_line() -> None:
    # One home for the predicate: a claim object that also said when it applies would be
    # silently ignored by the planner, which asks the line.
    (default,) = [f.default for f in dataclasses.fields(Check) if f.name == "applies"]
    for line in (*registry.PROVENANCE_CHECKS, *registry.DATASET_CHECKS):
        assert line.when is not None, line.name
        assert line.load().applies is default, line.name


_PLAN_AND_RUN = """
import json, sys
from pathlib import Path
from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.plan import build_plan
from pytest_mlsupply.sources.resolve import build_inventory

manifest = load_manifest(Path(sys.argv[1]))
inventory = build_inventory(manifest)
plan = build_plan(inventory)
ctx = CheckContext(manifest.policy, inventory, ContentCache())
results = [r for item in plan for r in run_item(item, ctx)]
print(json.dumps({
    "items": [item.name for item in plan],
    "errors": [r.error for r in results if r.error],
    "modules": sorted(sys.modules),
}))
"""


#: The check modules a model of local weights, declaring no claim and no dependency, never needs.
NOT_PLANNED_HERE = {
    f"pytest_mlsupply.checks.{name}"
    for name in (
        "dependency_pinned",
        "dependency_confusion",
        "dependency_typosquat",
        "dependency_integrity",
        "dependency_vulnerabilities",
        "provenance_signature",
        "provenance_attestation",
        "provenance_lineage",
        "provenance_promotion",
        "provenance_license",
        "provenance_card_accuracy",
        "provenance_dataset",
    )
}


def _plan_and_run(manifest: Path) -> dict[str, list[str]]:
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    out = subprocess.run(
        [sys.executable, "-c", _PLAN_AND_RUN, str(manifest)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(out.stdout)
    return result


def test_planning_and_running_local_weights_imports_no_dependency_or_other_provenance_check(
    tmp_path: Path,
) -> None:
    model = tmp_path / "m"
    model.mkdir()
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(model / "model.safetensors"))
    pin = sha256_of(model / "model.safetensors")
    manifest = tmp_path / "mlsupply.yaml"
    manifest.write_text(
        "version: 1\nproject: {name: local}\n"
        f'models:\n  - name: m\n    path: m\n    files:\n      model.safetensors: "sha256:{pin}"\n'
        "    card: {}\n"
    )

    ran = _plan_and_run(manifest)

    # The plan is the usual one (artifact checks and the model-card claim), and it ran ...
    assert ran["items"] == [
        "artifact[m/model.safetensors::format]",
        "artifact[m/model.safetensors::scan]",
        "artifact[m/model.safetensors::sha256]",
        "provenance[m::model-card]",
    ]
    assert ran["errors"] == []
    checks = {m for m in ran["modules"] if m.startswith("pytest_mlsupply.checks.")}
    # ... and loaded only the checks it planned (hub: asked whether it applies, and it did not).
    assert "pytest_mlsupply.checks.provenance_model_card" in checks
    assert sorted(checks & NOT_PLANNED_HERE) == []
    assert "pytest_mlsupply.sources.hub" not in ran["modules"]


def test_a_declared_lineage_plans_and_loads_its_claim(tmp_path: Path) -> None:
    # The other side: a claim the manifest makes is planned (and imported to run).
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    manifest = tmp_path / "mlsupply.yaml"
    manifest.write_text(
        "version: 1\nproject: {name: local}\n"
        "models:\n  - name: m\n    path: m\n"
        f'    lineage: {{base_model: "hf://FacebookAI/roberta-base@{"3f" * 20}"}}\n'
    )

    ran = _plan_and_run(manifest)

    assert "provenance[m::lineage]" in ran["items"]
    assert "pytest_mlsupply.checks.provenance_lineage" in ran["modules"]
    assert not [m for m in ran["modules"] if m.startswith("pytest_mlsupply.checks.dependency_")]
