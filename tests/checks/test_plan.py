"""The plan: which items exist, what they are called, and their stable order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.results import RowKind
from tests.conftest import write_model

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


def test_an_artifact_item_is_named_by_file_and_check() -> None:
    item = PlannedItem(RowKind.ARTIFACT, "sentiment/model.safetensors", ("format",))

    assert item.name == "artifact[sentiment/model.safetensors::format]"


def test_a_dependency_item_is_named_by_the_dependency_alone() -> None:
    item = PlannedItem(RowKind.DEPENDENCY, "numpy==2.1.0", ("pinned", "vulnerabilities"))

    assert item.name == "dependency[numpy==2.1.0]"


def test_a_provenance_item_is_named_by_model_and_claim() -> None:
    item = PlannedItem(RowKind.PROVENANCE, "sentiment", ("model-card",))

    assert item.name == "provenance[sentiment::model-card]"


def test_the_plan_lists_artifacts_then_dependencies_then_claims_each_sorted(
    pipeline: Pipeline,
) -> None:
    assert pipeline.names() == [
        "artifact[tiny/README.md::format]",
        "artifact[tiny/README.md::scan]",
        "artifact[tiny/README.md::sha256]",
        "artifact[tiny/config.json::format]",
        "artifact[tiny/config.json::scan]",
        "artifact[tiny/config.json::sha256]",
        "artifact[tiny/model.safetensors::format]",
        "artifact[tiny/model.safetensors::scan]",
        "artifact[tiny/model.safetensors::sha256]",
        "dependency[numpy==2.1.0]",
        "dependency[safetensors==0.4.5]",
        "provenance[tiny::license]",
        "provenance[tiny::model-card]",
        "provenance[tiny::model-card-accuracy]",
    ]


def test_the_plan_sorts_across_models_whatever_the_manifest_order(pipeline: Pipeline) -> None:
    write_model(pipeline.project.root / "models" / "alpha", seed=1)
    (pipeline.project.root / "requirements.txt").write_text("zlib-ng==0.5.1\naiohttp==3.10.0\n")
    pipeline.manifest(
        """\
        version: 1
        models:
          - {name: tiny, path: models/tiny, card: {}}
          - {name: alpha, path: models/alpha, card: {}}
        requirements: [{file: requirements.txt}]
        """
    )

    names = pipeline.names()

    artifacts = [n for n in names if n.startswith("artifact[")]
    assert artifacts == sorted(artifacts)
    assert artifacts[0] == "artifact[alpha/README.md::format]"
    assert names[len(artifacts) :] == [
        "dependency[aiohttp==3.10.0]",
        "dependency[zlib-ng==0.5.1]",
        "provenance[alpha::model-card]",
        "provenance[alpha::model-card-accuracy]",
        "provenance[tiny::model-card]",
        "provenance[tiny::model-card-accuracy]",
    ]


def test_the_plan_is_the_same_when_built_twice(pipeline: Pipeline) -> None:
    assert pipeline.planned()[0] == pipeline.planned()[0]


def test_a_dependency_item_carries_every_dependency_check_that_applies(
    pipeline: Pipeline,
) -> None:
    plan, ctx = pipeline.planned()

    (numpy,) = [item for item in plan if item.subject == "numpy==2.1.0"]
    (dep,) = [d for d in ctx.inventory.dependencies if d.subject == "numpy==2.1.0"]

    from pytest_mlsupply.checks.registry import DEPENDENCY_CHECKS

    every = tuple(check.name for check in DEPENDENCY_CHECKS if check.applies(dep))
    assert {"pinned", "typosquat", "vulnerabilities"} <= set(every)
    # numpy 2.1.0 is not what this interpreter has installed: integrity has nothing to verify.
    assert "integrity" not in every
    assert numpy == PlannedItem(RowKind.DEPENDENCY, "numpy==2.1.0", every)


def test_a_pinned_file_missing_from_disk_gets_only_a_pin_item(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "model.safetensors").unlink()

    names = pipeline.names()

    assert [n for n in names if "model.safetensors" in n] == [
        "artifact[tiny/model.safetensors::sha256]"
    ]


def test_an_unreadable_requirements_file_becomes_a_read_item_named_by_its_path(
    pipeline: Pipeline,
) -> None:
    (pipeline.project.root / "broken.txt").write_text("<<< nonsense\n")
    pipeline.manifest("version: 1\nrequirements: [{file: requirements.txt}, {file: broken.txt}]\n")

    plan, _ = pipeline.planned()

    assert [item.name for item in plan] == [
        "dependency[broken.txt]",
        "dependency[numpy==2.1.0]",
        "dependency[safetensors==0.4.5]",
    ]
    assert plan[0].checks == ("read",)
