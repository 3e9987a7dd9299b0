"""The runner fails closed: unresolvable subjects, unknown checks and crashing checks are errors."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from pytest_mlsupply.checks import registry
from pytest_mlsupply.checks.base import ArtifactCheck, CheckContext, Outcome
from pytest_mlsupply.checks.registry import ARTIFACT_CHECKS
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.results import RowKind, Severity, Verdict
from pytest_mlsupply.sources.inventory import ArtifactFile

if TYPE_CHECKING:
    from pathlib import Path

    from tests.checks.conftest import Pipeline

COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"


def test_an_empty_model_directory_gets_a_resolve_item_with_a_finding(pipeline: Pipeline) -> None:
    (pipeline.project.root / "models" / "empty").mkdir()
    pipeline.manifest("version: 1\nmodels: [{name: empty, path: models/empty}]\n")

    names = pipeline.names()
    result = pipeline.result("artifact[empty::resolve]")

    # No `card:` declared: the model-card claim is not made (only the resolve item fails).
    assert names == ["artifact[empty::resolve]"]
    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-SRC-001", Severity.HIGH)
    assert finding.location.file == str(pipeline.project.root / "models" / "empty")
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_hub_model_missing_from_the_cache_is_an_error_on_every_item(
    pipeline: Pipeline, empty_hub_cache: Path
) -> None:
    pipeline.manifest(
        f"version: 1\nmodels: [{{name: hub, source: 'hf://acme/bert@{COMMIT}', card: {{}}}}]\n"
    )

    names = pipeline.names()
    resolve = pipeline.result("artifact[hub::resolve]")
    card = pipeline.result("provenance[hub::model-card]")

    assert names == ["artifact[hub::resolve]", "provenance[hub::model-card]"]
    assert resolve.findings == []
    assert resolve.error is not None
    assert f"hf download acme/bert --revision {COMMIT}" in resolve.error
    assert card.error == resolve.error
    assert resolve.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_a_resolve_item_for_a_model_with_files_passes(pipeline: Pipeline) -> None:
    _, ctx = pipeline.planned()

    (result,) = run_item(PlannedItem(RowKind.ARTIFACT, "tiny", ("resolve",)), ctx)

    assert (result.findings, result.error) == ([], None)


def test_an_unknown_check_name_is_an_error(pipeline: Pipeline) -> None:
    _, ctx = pipeline.planned()
    item = PlannedItem(RowKind.ARTIFACT, "tiny/model.safetensors", ("no-such-check",))

    (result,) = run_item(item, ctx)

    assert result.error == "no check named 'no-such-check' is registered for artifact items"
    assert result.check == "no-such-check"
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_a_subject_no_longer_in_the_inventory_is_an_error(pipeline: Pipeline) -> None:
    _, ctx = pipeline.planned()

    (result,) = run_item(PlannedItem(RowKind.ARTIFACT, "tiny/gone.bin", ("sha256",)), ctx)

    assert result.error is not None
    assert "'tiny/gone.bin' is no longer in the inventory" in result.error


#: The extra check a test registers: its registry line names it here ("module:attribute").
EXTRA: ArtifactCheck | None = None


def _install_artifact_check(monkeypatch: pytest.MonkeyPatch, check: ArtifactCheck) -> None:
    # The runner reads the registry when it runs an item: register the extra check there.
    monkeypatch.setattr(sys.modules[__name__], "EXTRA", check)
    line = registry.Registered[ArtifactFile](check.name, RowKind.ARTIFACT, f"{__name__}:EXTRA")
    monkeypatch.setattr(registry, "ARTIFACT_CHECKS", (*ARTIFACT_CHECKS, line))


def test_a_check_that_raises_gives_an_error_naming_the_exception(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(file: ArtifactFile, ctx: CheckContext) -> Outcome:
        raise ZeroDivisionError("bad arithmetic")

    _install_artifact_check(monkeypatch, ArtifactCheck("crashy", RowKind.ARTIFACT, "", crash))
    _, ctx = pipeline.planned()

    (result,) = run_item(PlannedItem(RowKind.ARTIFACT, "tiny/config.json", ("crashy",)), ctx)

    assert result.error == "check 'crashy' crashed: ZeroDivisionError: bad arithmetic"
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_a_check_that_raises_key_error_is_not_mistaken_for_an_unknown_check(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(file: ArtifactFile, ctx: CheckContext) -> Outcome:
        raise KeyError("license")

    _install_artifact_check(monkeypatch, ArtifactCheck("crashy", RowKind.ARTIFACT, "", crash))
    _, ctx = pipeline.planned()

    (result,) = run_item(PlannedItem(RowKind.ARTIFACT, "tiny/config.json", ("crashy",)), ctx)

    assert result.error is not None
    assert result.error.startswith("check 'crashy' crashed: KeyError")


def test_a_check_that_cannot_read_gives_an_error_naming_the_file(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreadable(file: ArtifactFile, ctx: CheckContext) -> Outcome:
        raise PermissionError(13, "Permission denied", str(file.path))

    _install_artifact_check(monkeypatch, ArtifactCheck("reader", RowKind.ARTIFACT, "", unreadable))
    _, ctx = pipeline.planned()

    (result,) = run_item(PlannedItem(RowKind.ARTIFACT, "tiny/config.json", ("reader",)), ctx)

    assert result.error == (
        f"cannot read: Permission denied ({pipeline.model_dir / 'config.json'})"
    )


def test_a_dependency_item_gives_one_result_per_check_in_order(pipeline: Pipeline) -> None:
    _, ctx = pipeline.planned()
    item = PlannedItem(RowKind.DEPENDENCY, "numpy==2.1.0", ("pinned", "no-such-check"))

    results = run_item(item, ctx)

    assert [(r.kind, r.subject, r.check) for r in results] == [
        (RowKind.DEPENDENCY, "numpy==2.1.0", "pinned"),
        (RowKind.DEPENDENCY, "numpy==2.1.0", "no-such-check"),
    ]
    assert results[0].error is None
    assert results[1].error is not None
