"""Adversarial review of the promotion claim: records that used to pass (or fail below high)
while naming a movable place, another artifact or an unproven base, each now a finding."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.engines.promotion_records import mutable_reference
from pytest_mlsupply.results import Severity, Verdict
from tests.checks.test_provenance_promotion import (
    BASE,
    BASE_PIN,
    CLAIM,
    IMAGE,
    OTHER_PIN,
    declare,
    declare_all,
    deploy,
    evaluation,
    make_adapter,
    rollback_evaluation,
    rules,
    weights,
    write,
)
from tests.conftest import sha256_of

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("hf://acme/tiny@main/model.safetensors", id="hf branch with a file path"),
        pytest.param("hf://acme/tiny@v1.0/", id="hf tag with a trailing slash"),
        pytest.param(
            "https://huggingface.co/acme/tiny/resolve/main/model.safetensors",
            id="hub resolve url on a branch",
        ),
        pytest.param("https://huggingface.co/acme/tiny/tree/v2", id="hub tree url on a tag"),
        pytest.param("https://huggingface.co/acme/tiny", id="hub url without a revision"),
        pytest.param("s3://models/tiny/?versionId=3HL4kqtJlcpX", id="s3 prefix with a version"),
        pytest.param("s3://models/tiny.safetensors?versionId=null", id="s3 null version"),
        pytest.param("s3://models?versionId=3HL4kqtJlcpX", id="s3 bucket without a key"),
        pytest.param("gs://models/tiny/#1360887697105000", id="gcs prefix with a generation"),
        pytest.param(
            "https://acct.blob.core.windows.net/models/tiny/?versionid=2026-11-20T09:30:00Z",
            id="azure prefix with a version",
        ),
        pytest.param("gs://models/tiny.safetensors#0", id="gcs generation zero"),
        pytest.param("gs://models/tiny.safetensors#\u0661\u0662", id="gcs arabic-indic digits"),
        pytest.param("models:/tiny/\u00b3", id="mlflow superscript version"),
        pytest.param("models:/tiny/0", id="mlflow version zero"),
        pytest.param("hf://acme/tiny@main@" + BASE, id="hf two revisions"),
        pytest.param("models:/tiny/3/extra", id="mlflow with a trailing path"),
    ],
)
def test_a_reference_that_can_be_moved_to_other_bytes_is_mutable(reference: str) -> None:
    assert mutable_reference(reference) is not None


@pytest.mark.parametrize(
    "reference",
    [
        f"hf://acme/tiny@{BASE}/model.safetensors",
        f"https://huggingface.co/acme/tiny/resolve/{BASE}/model.safetensors",
        f"https://huggingface.co/acme/tiny/resolve/{BASE}/model.safetensors?download=true",
        f"https://huggingface.co/acme/tiny/commit/{BASE}",
        "s3://models/tiny.safetensors?versionId=3HL4kqtJlcpX",
        "gs://models/tiny.safetensors#1360887697105000",
        "models:/tiny/12",
    ],
)
def test_the_same_references_pinned_stay_immutable(reference: str) -> None:
    assert mutable_reference(reference) is None


def test_a_record_whose_uri_is_a_hub_branch_with_a_file_path_is_a_finding(
    pipeline: Pipeline,
) -> None:
    artifact = {**weights(pipeline), "uri": "hf://acme/tiny@main/model.safetensors"}
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact=artifact))

    assert rules(pipeline.result(CLAIM)) == ["MLS-PROM-004"]


def test_a_deploy_targeting_canary_while_production_already_runs_this_artifact_needs_a_canary(
    pipeline: Pipeline,
) -> None:
    record = deploy(pipeline, target="canary")
    record["environments"]["canary"]["status"] = "failed"
    declare(pipeline, deploy_record=record)

    result = pipeline.result(CLAIM)

    assert rules(result) == ["MLS-PROM-014"]
    assert "environments.production runs this artifact" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_canary_that_passed_after_production_was_reached_is_no_canary(
    pipeline: Pipeline,
) -> None:
    record = deploy(pipeline)
    record["environments"]["production"]["at"] = "2026-11-21T08:00:00Z"
    record["environments"]["canary"]["at"] = "2026-11-22T08:00:00Z"
    declare(pipeline, deploy_record=record)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-014"
    assert "is not before environments.production.at" in finding.evidence


def adapter_with(pipeline: Pipeline, base: dict[str, Any]) -> None:
    lineage = make_adapter(pipeline)
    artifact = {**weights(pipeline), "base": base}
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, artifact=artifact),
        extra=f"\n                lineage: {lineage}",
    )


@pytest.mark.parametrize(
    "base",
    [
        pytest.param({"digest": OTHER_PIN}, id="a directory digest the lineage cannot confirm"),
        pytest.param(
            {"files": {"config.json": OTHER_PIN}}, id="files disjoint from the lineage's pins"
        ),
    ],
)
def test_an_adapter_base_the_lineage_cannot_confirm_is_not_bound(
    pipeline: Pipeline, base: dict[str, Any]
) -> None:
    adapter_with(pipeline, base)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-012"
    assert finding.severity is Severity.CRITICAL
    assert "the manifest's lineage.base_model" in finding.evidence


def test_an_adapter_base_named_by_the_lineages_commit_alone_is_bound(pipeline: Pipeline) -> None:
    adapter_with(pipeline, {"commit": BASE})

    assert pipeline.result(CLAIM).findings == []


@pytest.mark.parametrize("name", ["modeling_tiny.py", "weights.pickle", "embeddings.npy"])
def test_naming_the_weights_by_file_leaves_no_loaded_file_unbound(
    pipeline: Pipeline, name: str
) -> None:
    (pipeline.model_dir / name).write_bytes(b"import os\n" if name.endswith(".py") else b"\x80")
    declare(pipeline, evaluation_record=evaluation(pipeline))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-002"
    assert f"artifact.files does not name the model's weights {name}" in finding.evidence


def test_a_file_named_twice_under_two_spellings_is_refused(pipeline: Pipeline) -> None:
    pin = sha256_of(pipeline.model_dir / "model.safetensors")
    record = (
        "artifact:\n  files:\n"
        f'    ./model.safetensors: "{OTHER_PIN}"\n'
        f'    model.safetensors: "sha256:{pin}"\n'
        'evaluated_at: "2026-11-20T09:30:00Z"\n'
        "metrics: {accuracy: 0.95, f1: 0.93}\n"
    )
    declare(pipeline, evaluation_record=record)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-001"
    assert "names model.safetensors twice" in finding.evidence


def test_a_rollback_evaluation_sharing_only_a_config_with_the_target_is_not_its_evaluation(
    pipeline: Pipeline,
) -> None:
    config = "sha256:" + sha256_of(pipeline.model_dir / "config.json")
    target = {"files": {"config.json": config, "model.safetensors": OTHER_PIN}}
    report = rollback_evaluation(pipeline)
    # The rollback's report names only the config: the same for any model of this architecture.
    path = pipeline.project.root / "release" / report
    path.write_text(json.dumps(evaluation(pipeline, artifact={"files": {"config.json": config}})))
    rollback = {"artifact": target, "evaluation": report}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-010"
    assert "not the rollback target" in finding.evidence


def test_a_hub_uri_naming_another_commit_than_the_hub_model_names_another_artifact(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    from tests.conftest import build_hub_cache, write_model

    release = write_model(tmp_path / "release-files", seed=5)
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    build_hub_cache(empty_hub_cache, "acme/tiny-hub", BASE, files)
    pipeline.manifest(
        f"""\
        version: 1
        models:
          - name: hubby
            source: hf://acme/tiny-hub@{BASE}
            promotion: {{evaluation: release/eval.yaml}}
        """
    )
    claim = "provenance[hubby::promotion]"
    other = "0123456789abcdef0123456789abcdef01234567"
    for uri, said in (
        (f"hf://acme/tiny-hub@{other}", f"artifact.uri names commit {other}"),
        (f"hf://acme/other@{BASE}", "artifact.uri names acme/other; the model is acme/tiny-hub"),
    ):
        write(pipeline, "eval.yaml", evaluation(pipeline, artifact={"commit": BASE, "uri": uri}))

        (finding,) = pipeline.result(claim).findings

        assert finding.rule == "MLS-PROM-002"
        assert said in finding.evidence

    pinned = f"https://huggingface.co/acme/tiny-hub/resolve/{BASE}/model.safetensors"
    write(pipeline, "eval.yaml", evaluation(pipeline, artifact={"commit": BASE, "uri": pinned}))
    assert pipeline.result(claim).findings == []


def test_a_local_models_hub_uri_is_where_a_copy_is_stored_not_a_mismatch(
    pipeline: Pipeline,
) -> None:
    artifact = {**weights(pipeline), "uri": f"hf://acme/tiny@{BASE}"}
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact=artifact))

    assert pipeline.result(CLAIM).findings == []


def test_an_approver_written_as_a_placeholder_says_nobody(pipeline: Pipeline) -> None:
    from tests.checks.test_provenance_promotion import approval

    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, approved_by="TBD"),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-007"
    assert "approved_by 'TBD' is a placeholder" in finding.evidence


def test_an_adapter_canary_that_does_not_record_its_base_does_not_record_what_it_runs(
    pipeline: Pipeline,
) -> None:
    lineage = make_adapter(pipeline)
    bound = {**weights(pipeline), "base": {"commit": BASE}}
    record = deploy(pipeline, artifact=bound)
    record["environments"]["canary"]["artifact"] = weights(pipeline)  # the adapter alone
    record["environments"]["shadow"]["artifact"] = bound
    record["environments"]["production"]["artifact"] = {**bound, "image": IMAGE}
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, artifact=bound),
        deploy_record=record,
        extra=f"\n                lineage: {lineage}",
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-011"
    assert finding.location.key_path == "environments.canary.artifact.base"


def test_a_metric_too_large_for_a_float_is_a_record_error_not_a_crash(pipeline: Pipeline) -> None:
    record = json.dumps(evaluation(pipeline)).replace("0.95", "1" + "0" * 400)
    declare(pipeline, evaluation_record=record)

    result = pipeline.result(CLAIM)

    assert result.error is None
    assert rules(result) == ["MLS-PROM-001"]
    assert "metrics.accuracy" in result.findings[0].evidence


def test_a_rollback_report_that_is_not_a_regular_file_is_refused_without_reading_it(
    pipeline: Pipeline,
) -> None:
    fifo = pipeline.project.root / "release" / "eval-previous.yaml"
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    rollback = {"artifact": {"digest": OTHER_PIN}, "evaluation": "eval-previous.yaml"}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-010"
    assert "not a regular file" in finding.evidence


def test_a_rollback_target_that_is_the_release_itself_restores_nothing(pipeline: Pipeline) -> None:
    report = write(pipeline, "eval-previous.yaml", evaluation(pipeline)).removeprefix("release/")
    rollback = {"artifact": weights(pipeline), "evaluation": report}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-010"
    assert "is the release itself" in finding.evidence


def test_an_adapter_base_bound_by_its_config_alone_leaves_the_base_weights_unbound(
    pipeline: Pipeline,
) -> None:
    make_adapter(pipeline)
    config = "sha256:" + "12" * 32
    lineage = (
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{model.safetensors: "{BASE_PIN}", config.json: "{config}"}}}}}}'
    )
    artifact = {**weights(pipeline), "base": {"files": {"config.json": config}}}
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, artifact=artifact),
        extra=f"\n                lineage: {lineage}",
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-012"
    assert "does not name the base's weights model.safetensors" in finding.evidence


@pytest.mark.parametrize(
    ("production_at", "said"),
    [
        pytest.param("2026-11-21T08:00:00Z", "before the approval", id="before the approval"),
        pytest.param("2026-11-20T08:00:00Z", "before the evaluation", id="before the evaluation"),
    ],
)
def test_production_reached_before_the_release_was_evaluated_and_approved_fails(
    pipeline: Pipeline, production_at: str, said: str
) -> None:
    record = deploy(pipeline)
    record["environments"]["canary"]["at"] = "2026-11-19T08:00:00Z"
    record["environments"]["production"]["at"] = production_at
    declare_all(pipeline, deploy_record=record)

    result = pipeline.result(CLAIM)

    found = [f for f in result.findings if f.rule == "MLS-PROM-015"]
    assert len(found) == 1, result.findings
    assert said in found[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_production_reached_after_evaluation_approval_and_canary_passes(
    pipeline: Pipeline,
) -> None:
    record = deploy(pipeline)
    record["environments"]["production"]["at"] = "2026-11-23T08:00:00Z"
    declare_all(pipeline, deploy_record=record)

    assert pipeline.result(CLAIM).findings == []


def test_an_approval_by_two_people_is_read_and_each_must_be_a_person(pipeline: Pipeline) -> None:
    from tests.checks.test_provenance_promotion import approval

    people = ["Jane Doe <jane@example.com>", "Raj Patel <raj@example.com>"]
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, approved_by=people),
    )
    result = pipeline.result(CLAIM)
    assert result.findings == []
    assert result.facts["promotion"]["approval"]["approved_by"] == "; ".join(people)

    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, approved_by=[people[0], "n/a"]),
    )
    (finding,) = pipeline.result(CLAIM).findings
    assert finding.rule == "MLS-PROM-007"
    assert "'n/a' is a placeholder" in finding.evidence


@pytest.mark.parametrize("when", ["2026-11-20T09:30:00", "last Tuesday"])
def test_an_evaluation_time_without_a_zone_is_refused_even_without_an_approval(
    pipeline: Pipeline, when: str
) -> None:
    declare(pipeline, evaluation_record=evaluation(pipeline, evaluated_at=when))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-001"
    assert "evaluated_at" in finding.evidence


def test_an_environment_time_without_a_zone_is_refused(pipeline: Pipeline) -> None:
    record = deploy(pipeline, target="canary")
    record["environments"]["shadow"]["at"] = "2026-11-22 08:00"
    declare(pipeline, deploy_record=record)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-001"
    assert "environments.shadow.at" in finding.evidence


def test_a_rollback_named_by_its_weights_and_evaluated_with_its_config_too_passes(
    pipeline: Pipeline,
) -> None:
    config = "sha256:" + sha256_of(pipeline.model_dir / "config.json")
    report = rollback_evaluation(pipeline)
    path = pipeline.project.root / "release" / report
    both = {"config.json": config, "model.safetensors": OTHER_PIN}
    path.write_text(json.dumps(evaluation(pipeline, artifact={"files": both})))
    rollback = {"artifact": {"files": {"model.safetensors": OTHER_PIN}}, "evaluation": report}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    assert pipeline.result(CLAIM).findings == []


def test_a_rollback_named_only_by_its_config_is_not_its_evaluated_weights(
    pipeline: Pipeline,
) -> None:
    config = "sha256:" + sha256_of(pipeline.model_dir / "config.json")
    report = rollback_evaluation(pipeline)
    path = pipeline.project.root / "release" / report
    path.write_text(json.dumps(evaluation(pipeline, artifact={"files": {"config.json": config}})))
    rollback = {"artifact": {"files": {"config.json": config}}, "evaluation": report}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-010"


def test_a_rollback_to_the_same_model_in_the_previous_serving_image_is_a_rollback(
    pipeline: Pipeline,
) -> None:
    report = write(pipeline, "eval-previous.yaml", evaluation(pipeline)).removeprefix("release/")
    previous = "registry.example/tiny@sha256:" + "01" * 32
    rollback = {"artifact": {**weights(pipeline), "image": previous}, "evaluation": report}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    assert pipeline.result(CLAIM).findings == []
