"""The promotion claim: release records name the model under test by digest, immutably; the
evaluation meets the thresholds; the approval follows it; production follows a passed canary.

Every test writes its own records next to a real model directory and drives the real pipeline
(manifest → inventory → plan → runner); one agreeing and at least one disagreeing case per rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlsupply.engines.promotion_records import mutable_reference
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from tests.conftest import Project, sha256_of

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

CLAIM = "provenance[tiny::promotion]"
BASE = "86b5e0934494bd15c9632b12f734a8a67f723594"
OTHER_PIN = "sha256:" + "ab" * 32
BASE_PIN = "sha256:" + "cd" * 32
IMAGE = "registry.example/tiny@sha256:" + "ef" * 32


def rules(result: CheckResult) -> list[str]:
    return sorted(f.rule for f in result.findings)


def weights(pipeline: Pipeline) -> dict[str, Any]:
    """The artifact identity of the project's model: its weights' sha256."""
    pin = sha256_of(pipeline.model_dir / "model.safetensors")
    return {"files": {"model.safetensors": f"sha256:{pin}"}}


def write(pipeline: Pipeline, name: str, record: dict[str, Any] | str) -> str:
    """A record file in the project (a dict as JSON, which YAML reads too); its relative path."""
    path = pipeline.project.root / "release" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(record if isinstance(record, str) else json.dumps(record, indent=2))
    return f"release/{name}"


def evaluation(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    record = {
        "artifact": weights(pipeline),
        "evaluated_at": "2026-11-20T09:30:00Z",
        "dataset": "reviews",
        "metrics": {"accuracy": 0.95, "f1": 0.93},
    }
    record.update(changes)
    return record


def approval(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    record = {
        "artifact": weights(pipeline),
        "approved_by": "Jane Doe <jane@example.com>",
        "approved_at": "2026-11-21T10:00:00+01:00",
    }
    record.update(changes)
    return record


def deploy(pipeline: Pipeline, **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "artifact": weights(pipeline),
        "target": "production",
        "environments": {
            "canary": {
                "artifact": weights(pipeline),
                "status": "passed",
                "at": "2026-11-22T08:00:00Z",
            },
            "shadow": {"artifact": weights(pipeline)},
            "production": {"artifact": {**weights(pipeline), "image": IMAGE}},
        },
    }
    record.update(changes)
    return record


def declare(
    pipeline: Pipeline,
    *,
    evaluation_record: dict[str, Any] | str | None = None,
    approval_record: dict[str, Any] | str | None = None,
    deploy_record: dict[str, Any] | str | None = None,
    thresholds: str = '{accuracy: ">=0.9", f1: ">=0.9"}',
    extra: str = "",
) -> None:
    keys = []
    if evaluation_record is not None:
        keys.append(f"evaluation: {write(pipeline, 'eval.yaml', evaluation_record)}")
        keys.append(f"thresholds: {thresholds}")
    if approval_record is not None:
        keys.append(f"approval: {write(pipeline, 'approval.yaml', approval_record)}")
    if deploy_record is not None:
        keys.append(f"deploy: {write(pipeline, 'deploy.json', deploy_record)}")
    promotion = "    promotion: {" + ", ".join(keys) + "}"
    pipeline.project.default_manifest(extra_model_keys=promotion + extra)


def declare_all(pipeline: Pipeline, **records: Any) -> None:
    declare(
        pipeline,
        evaluation_record=records.get("evaluation_record", evaluation(pipeline)),
        approval_record=records.get("approval_record", approval(pipeline)),
        deploy_record=records.get("deploy_record", deploy(pipeline)),
    )


# --- records that agree ----------------------------------------------------------------------


def test_a_model_without_promotion_makes_no_promotion_claim(pipeline: Pipeline) -> None:
    assert CLAIM not in pipeline.names()


def test_agreeing_records_pass_and_record_metrics_approver_and_environments(
    pipeline: Pipeline,
) -> None:
    declare_all(pipeline)

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.error is None
    assert result.verdict(Severity.LOW) is Verdict.PASS
    facts = result.facts["promotion"]
    assert facts["evaluation"]["metrics"] == {"accuracy": 0.95, "f1": 0.93}
    assert facts["approval"]["approved_by"] == "Jane Doe <jane@example.com>"
    assert facts["deploy"]["target"] == "production"
    assert sorted(facts["deploy"]["environments"]) == ["canary", "production", "shadow"]


def test_the_directory_digest_is_what_the_documented_sha256sum_command_prints(
    pipeline: Pipeline,
) -> None:
    if shutil.which("sha256sum") is None or shutil.which("find") is None:
        pytest.skip("needs GNU find and sha256sum")
    listing = subprocess.run(
        "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
        shell=True,
        cwd=pipeline.model_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    digest = "sha256:" + listing.stdout.split()[0]
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact={"digest": digest}))

    assert pipeline.result(CLAIM).findings == []

    # Any file of the directory counts, not only the weights: an edited config is another model.
    config = pipeline.model_dir / "config.json"
    config.write_text(config.read_text().replace('"hidden_size": 4', '"hidden_size": 5'))
    (finding,) = pipeline.result(CLAIM).findings
    assert finding.rule == "MLS-PROM-002"
    assert f"artifact.digest is {digest}; the model directory is sha256:" in finding.evidence


def test_a_model_file_that_cannot_be_hashed_makes_the_claim_an_error_not_a_pass(
    pipeline: Pipeline,
) -> None:
    # A FIFO where a model file should be: the content cache refuses to open it.
    os.mkfifo(pipeline.model_dir / "stream.bin")
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact={"digest": OTHER_PIN}))

    result = pipeline.result(CLAIM)

    # The directory cannot be digested: no verdict on the digest, and never a pass.
    assert result.findings == []
    assert result.error is not None
    assert "cannot hash tiny/stream.bin to compare it" in result.error
    assert result.verdict(Severity.LOW) is Verdict.ERROR


def test_records_in_yaml_with_comments_and_unquoted_times_are_read(pipeline: Pipeline) -> None:
    pin = weights(pipeline)["files"]["model.safetensors"]
    declare(
        pipeline,
        evaluation_record=(
            "# evaluated by CI\n"
            f"artifact: {{files: {{model.safetensors: '{pin}'}}}}\n"
            "evaluated_at: 2026-11-20T09:30:00Z\n"
            "metrics: {accuracy: 0.95, f1: 0.91}\n"
        ),
        approval_record=(
            f"artifact: {{files: {{model.safetensors: '{pin}'}}}}\n"
            "approved_by: Jane Doe\n"
            "approved_at: 2026-11-21T10:00:00+01:00\n"
        ),
    )

    assert pipeline.result(CLAIM).findings == []


# --- MLS-PROM-001: a record that is not a record ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "said"),
    [
        pytest.param(
            "metrics: {accuracy: 0.95}\nmetrics: {accuracy: 0.5}\nevaluated_at: x\n",
            "duplicate key 'metrics'",
            id="a duplicated key",
        ),
        pytest.param("metrics: {accuracy: 0.95}\n", "evaluated_at is missing", id="no time"),
        pytest.param(
            "evaluated_at: '2026-11-20T09:30:00Z'\nmetrics: {accuracy: high}\n",
            "metrics.accuracy is 'high', not a finite number",
            id="a metric as text",
        ),
        pytest.param("- just\n- a list\n", "expected a mapping at the top", id="a list"),
        pytest.param("metrics: [\n", "not valid YAML", id="broken YAML"),
        pytest.param(
            "evaluated_at: '2026-11-20T09:30:00Z'\nmetrics: {}\nscore: 1\n",
            "score is not a key of this record",
            id="an unknown key",
        ),
    ],
)
def test_an_unreadable_evaluation_is_a_finding_naming_the_file_and_the_key(
    pipeline: Pipeline, text: str, said: str
) -> None:
    declare(pipeline, evaluation_record=text)

    result = pipeline.result(CLAIM)

    (finding,) = result.findings
    assert finding.rule == "MLS-PROM-001"
    assert finding.location.file == "release/eval.yaml"
    assert said in finding.evidence
    assert "eval.yaml" in finding.evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_json_record_with_nan_or_a_duplicated_key_is_refused(pipeline: Pipeline) -> None:
    pin = weights(pipeline)["files"]["model.safetensors"]
    artifact = f'{{"files": {{"model.safetensors": "{pin}"}}}}'
    declare(
        pipeline,
        deploy_record=f'{{"artifact": {artifact}, "target": "canary", "target": "production"}}',
    )
    (finding,) = pipeline.result(CLAIM).findings
    assert (finding.rule, finding.location.file) == ("MLS-PROM-001", "release/deploy.json")
    assert "duplicate key 'target'" in finding.evidence

    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        deploy_record=f'{{"artifact": {artifact}, "target": "canary", "x": NaN}}',
    )
    (finding,) = pipeline.result(CLAIM).findings
    assert "NaN is not JSON" in finding.evidence


# --- MLS-PROM-002: another artifact ----------------------------------------------------------


def test_an_evaluation_of_other_weights_names_another_artifact(pipeline: Pipeline) -> None:
    declare(
        pipeline,
        evaluation_record=evaluation(
            pipeline, artifact={"files": {"model.safetensors": OTHER_PIN}}
        ),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-002"
    assert finding.severity is Severity.CRITICAL
    assert f"artifact.files.model.safetensors is {OTHER_PIN}; the model's is sha256:" in (
        finding.evidence
    )


def test_naming_only_the_config_leaves_the_weights_unbound(pipeline: Pipeline) -> None:
    config = sha256_of(pipeline.model_dir / "config.json")
    declare(
        pipeline,
        evaluation_record=evaluation(
            pipeline, artifact={"files": {"config.json": f"sha256:{config}"}}
        ),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-002"
    assert "does not name the model's weights model.safetensors" in finding.evidence


def test_a_hub_commit_does_not_name_a_local_model(pipeline: Pipeline) -> None:
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact={"commit": BASE}))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-002"
    assert "is a local directory, not a Hub commit" in finding.evidence


# --- MLS-PROM-003 / 004: no digest, or a mutable reference -----------------------------------


def test_a_record_naming_no_artifact_or_only_a_pinned_place_names_no_digest(
    pipeline: Pipeline,
) -> None:
    record = evaluation(pipeline)
    del record["artifact"]
    declare(
        pipeline,
        evaluation_record=record,
        approval_record=approval(pipeline, artifact={"uri": f"hf://acme/tiny@{BASE}"}),
    )

    result = pipeline.result(CLAIM)

    assert rules(result) == ["MLS-PROM-003", "MLS-PROM-003"]
    evidence = sorted(f.evidence for f in result.findings)
    assert evidence == [
        f"the approval gives only uri hf://acme/tiny@{BASE}",
        "the evaluation report gives no `artifact:`",
    ]


@pytest.mark.parametrize(
    ("artifact", "said"),
    [
        pytest.param({"uri": "hf://acme/tiny@main"}, "revision 'main' is a branch or tag", id="hf"),
        pytest.param({"uri": "hf://acme/tiny"}, "names no revision", id="hf-no-rev"),
        pytest.param({"uri": "s3://models/tiny/"}, "a prefix, not an object", id="s3-prefix"),
        pytest.param(
            {"uri": "s3://models/tiny/model.safetensors"}, "without ?versionId=", id="s3-key"
        ),
        pytest.param({"uri": "gs://models/tiny.safetensors"}, "#<generation>", id="gcs"),
        pytest.param({"uri": "models:/tiny@champion"}, "MLflow alias", id="mlflow-alias"),
        pytest.param({"image": "registry.example/tiny:latest"}, "'latest'", id="image-latest"),
        pytest.param({"image": "registry.example/tiny"}, "'latest'", id="image-untagged"),
        pytest.param({"commit": "main"}, "commit 'main': a branch or tag", id="commit-branch"),
    ],
)
def test_a_mutable_reference_is_a_finding(
    pipeline: Pipeline, artifact: dict[str, Any], said: str
) -> None:
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, artifact={**weights(pipeline), **artifact}),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-004"
    assert said in finding.evidence


def test_a_commit_that_is_a_branch_is_reported_once_as_mutable(pipeline: Pipeline) -> None:
    # Only a branch names the artifact: the mutable reference is the finding, not "no digest".
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact={"commit": "latest"}))

    assert rules(pipeline.result(CLAIM)) == ["MLS-PROM-004"]


@pytest.mark.parametrize(
    "reference",
    [
        f"hf://acme/tiny@{BASE}",
        "s3://models/tiny/model.safetensors?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
        "gs://models/tiny.safetensors#1360887697105000",
        "models:/tiny/7",
        "https://blob.example/tiny.safetensors",
    ],
)
def test_versioned_references_are_not_mutable(reference: str) -> None:
    assert mutable_reference(reference) is None


def test_an_image_pinned_by_digest_is_not_mutable() -> None:
    assert mutable_reference(IMAGE, image=True) is None
    assert mutable_reference("oci://registry.example/tiny:v1") is not None


# --- MLS-PROM-005 / 006: thresholds ----------------------------------------------------------


def test_a_metric_below_its_threshold_fails_naming_both(pipeline: Pipeline) -> None:
    declare(
        pipeline, evaluation_record=evaluation(pipeline, metrics={"accuracy": 0.85, "f1": 0.93})
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-005"
    assert finding.evidence == "accuracy is 0.85; the manifest requires >=0.9"
    assert finding.location.key_path == "models[tiny].promotion.thresholds.accuracy"


@pytest.mark.parametrize(
    ("bound", "passes"),
    [("<=120", True), ("<100", False), ("==118", True), (">118", False), ("118", True)],
)
def test_every_operator_is_honoured(pipeline: Pipeline, bound: str, passes: bool) -> None:
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, metrics={"latency_ms": 118}),
        thresholds=f'{{latency_ms: "{bound}"}}',
    )

    assert rules(pipeline.result(CLAIM)) == ([] if passes else ["MLS-PROM-005"])


def test_a_required_metric_the_evaluation_does_not_report_fails(pipeline: Pipeline) -> None:
    declare(pipeline, evaluation_record=evaluation(pipeline, metrics={"accuracy": 0.95}))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-006"
    assert "metrics has no 'f1' (required >=0.9); it has: accuracy" in finding.evidence


# --- MLS-PROM-007 / 008: the approval --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        pytest.param({"approved_by": None}, "approved_by is missing", id="nobody"),
        pytest.param({"approved_at": None}, "approved_at is missing", id="no time"),
        pytest.param(
            {"approved_at": "2026-11-21T10:00:00"},
            "not an ISO 8601 time with a time zone",
            id="naive",
        ),
        pytest.param({"approved_at": "last Tuesday"}, "not an ISO 8601", id="prose"),
    ],
)
def test_an_approval_must_say_who_and_when(
    pipeline: Pipeline, changes: dict[str, Any], said: str
) -> None:
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, **changes),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-007"
    assert said in finding.evidence


def test_an_approval_given_before_the_evaluation_fails(pipeline: Pipeline) -> None:
    # 10:00 at +01:00 is 09:00 UTC: half an hour *before* the 09:30 UTC evaluation.
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, approved_at="2026-11-20T10:00:00+01:00"),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-008"
    assert "is not after the evaluation's evaluated_at 2026-11-20T09:30:00Z" in finding.evidence


def test_an_approval_dated_in_the_future_fails(pipeline: Pipeline) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline),
        approval_record=approval(pipeline, approved_at=tomorrow),
    )

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-008"
    assert "is in the future" in finding.evidence


# --- MLS-PROM-009 / 010: the rollback target -------------------------------------------------


def rollback_evaluation(pipeline: Pipeline, **changes: Any) -> str:
    record = evaluation(pipeline, artifact={"digest": OTHER_PIN}, **changes)
    return write(pipeline, "eval-previous.yaml", record).removeprefix("release/")


def test_a_pinned_rollback_target_evaluated_to_the_same_bar_passes(pipeline: Pipeline) -> None:
    rollback = {"artifact": {"digest": OTHER_PIN}, "evaluation": rollback_evaluation(pipeline)}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.facts["promotion"]["deploy"]["rollback"] == {"artifact": {"digest": OTHER_PIN}}


@pytest.mark.parametrize(
    "artifact",
    [{"uri": "s3://models/tiny/"}, {"commit": "v1.0"}, {"uri": f"hf://acme/tiny@{BASE}"}],
)
def test_a_rollback_target_that_is_not_pinned_fails(
    pipeline: Pipeline, artifact: dict[str, Any]
) -> None:
    rollback = {"artifact": artifact, "evaluation": rollback_evaluation(pipeline)}
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-009"
    assert finding.location.key_path == "rollback.artifact"


@pytest.mark.parametrize(
    ("rollback", "said"),
    [
        pytest.param({"artifact": {"digest": OTHER_PIN}}, "gives no `evaluation:`", id="none"),
        pytest.param(
            {"artifact": {"digest": "sha256:" + "12" * 32}},
            "not the rollback target",
            id="another artifact",
        ),
        pytest.param(
            {"artifact": {"digest": OTHER_PIN}, "metrics": {"accuracy": 0.5, "f1": 0.93}},
            "accuracy is 0.5 (required >=0.9)",
            id="below the bar",
        ),
    ],
)
def test_a_rollback_target_that_fails_the_release_checks_fails(
    pipeline: Pipeline, rollback: dict[str, Any], said: str
) -> None:
    metrics = rollback.pop("metrics", None)
    if said != "gives no `evaluation:`":
        changes = {"metrics": metrics} if metrics else {}
        rollback["evaluation"] = rollback_evaluation(pipeline, **changes)
    declare_all(pipeline, deploy_record=deploy(pipeline, rollback=rollback))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-010"
    assert said in finding.evidence


# --- MLS-PROM-011 / 012: a LoRA release binds its base ---------------------------------------


def make_adapter(pipeline: Pipeline) -> str:
    (pipeline.model_dir / "adapter_config.json").write_text(
        json.dumps({"base_model_name_or_path": "google-bert/bert-base-uncased", "revision": BASE})
    )
    return (
        f'{{base_model: {{ref: "hf://google-bert/bert-base-uncased@{BASE}", '
        f'files: {{model.safetensors: "{BASE_PIN}"}}}}}}'
    )


def adapter_records(pipeline: Pipeline, base: dict[str, Any] | None) -> None:
    lineage = make_adapter(pipeline)
    artifact = {**weights(pipeline), **({"base": base} if base is not None else {})}
    declare(
        pipeline,
        evaluation_record=evaluation(pipeline, artifact=artifact),
        extra=f"\n                lineage: {lineage}",
    )


def test_an_adapter_release_binding_the_lineages_base_passes(pipeline: Pipeline) -> None:
    adapter_records(pipeline, {"files": {"model.safetensors": BASE_PIN}, "commit": BASE})

    assert pipeline.result(CLAIM).findings == []


def test_an_adapter_release_without_its_base_fails(pipeline: Pipeline) -> None:
    adapter_records(pipeline, None)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-011"
    assert "names the adapter (files model.safetensors sha256:" in finding.evidence


def test_an_adapter_release_naming_its_base_by_a_branch_does_not_bind_it(
    pipeline: Pipeline,
) -> None:
    adapter_records(pipeline, {"commit": "main"})

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-011"
    assert "artifact.base.commit 'main': a branch or tag" in finding.evidence


def test_an_adapter_release_on_another_base_fails_quoting_the_lineage(pipeline: Pipeline) -> None:
    adapter_records(pipeline, {"files": {"model.safetensors": OTHER_PIN}})

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-012"
    assert finding.severity is Severity.CRITICAL
    assert (
        f"artifact.base.files.model.safetensors is {OTHER_PIN}; the manifest's "
        f"lineage.base_model binds {BASE_PIN}"
    ) in finding.evidence


def test_without_lineage_the_adapter_configs_revision_is_the_witness(pipeline: Pipeline) -> None:
    make_adapter(pipeline)
    other = "0123456789abcdef0123456789abcdef01234567"
    artifact = {**weights(pipeline), "base": {"commit": other}}
    declare(pipeline, evaluation_record=evaluation(pipeline, artifact=artifact))

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-012"
    assert f"adapter_config.json names revision {BASE}" in finding.evidence


# --- MLS-PROM-013 / 014: environments --------------------------------------------------------


def test_an_environment_that_does_not_record_what_it_runs_fails(pipeline: Pipeline) -> None:
    record = deploy(pipeline)
    record["environments"]["shadow"] = {"status": "running"}
    record["environments"]["production"]["artifact"]["image"] = "registry.example/tiny:latest"
    declare(pipeline, deploy_record=record)

    result = pipeline.result(CLAIM)

    assert rules(result) == ["MLS-PROM-013", "MLS-PROM-013"]
    keys = sorted(f.location.key_path or "" for f in result.findings)
    assert keys == ["environments.production.artifact", "environments.shadow.artifact"]


def test_a_canary_running_other_weights_names_another_artifact(pipeline: Pipeline) -> None:
    record = deploy(pipeline, target="canary")
    record["environments"]["canary"]["artifact"] = {"files": {"model.safetensors": OTHER_PIN}}
    # Before promotion, production still runs the previous release: that is not a mismatch.
    record["environments"]["production"]["artifact"] = {"digest": OTHER_PIN, "image": IMAGE}
    declare(pipeline, deploy_record=record)

    (finding,) = pipeline.result(CLAIM).findings

    assert finding.rule == "MLS-PROM-002"
    assert finding.location.key_path == "environments.canary.artifact"


@pytest.mark.parametrize(
    ("canary", "said"),
    [
        pytest.param(None, "has no environments.canary record", id="no canary"),
        pytest.param({"status": "failed"}, "status is 'failed', not 'passed'", id="failed"),
        pytest.param(
            {"status": "passed", "artifact": {"digest": OTHER_PIN}},
            "did not run this exact artifact",
            id="another artifact",
        ),
    ],
)
def test_production_without_a_passed_canary_of_this_artifact_fails(
    pipeline: Pipeline, canary: dict[str, Any] | None, said: str
) -> None:
    record = deploy(pipeline)
    if canary is None:
        del record["environments"]["canary"]
    else:
        record["environments"]["canary"].update(canary)
    declare(pipeline, deploy_record=record)

    result = pipeline.result(CLAIM)

    found = [f for f in result.findings if f.rule == "MLS-PROM-014"]
    assert len(found) == 1
    assert said in found[0].evidence
    assert found[0].severity is Severity.CRITICAL
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


# --- the manifest ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("promotion", "key", "message"),
    [
        (
            '{evaluation: e.yaml, thresholds: {accuracy: "at least 0.9"}}',
            "thresholds.accuracy",
            "'at least 0.9' is not a threshold",
        ),
        ("{approval: e.yaml}", "promotion.approval", "needs the evaluation report"),
        (
            "{thresholds: {accuracy: 0.9}, deploy: e.yaml}",
            "promotion.thresholds",
            "needs the evaluation report",
        ),
        ("{evaluation: missing.yaml}", "promotion.evaluation", "does not exist"),
        ("{}", "promotion", "the promotion names no record"),
        ("{evaluations: e.yaml}", "promotion.evaluations", "unknown key"),
    ],
)
def test_bad_promotion_declarations_are_manifest_errors_naming_the_key(
    tmp_path: Path, promotion: str, key: str, message: str
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "e.yaml").write_text("{}")
    text = f"version: 1\nmodels:\n  - name: m\n    path: m\n    promotion: {promotion}\n"

    with pytest.raises(ManifestError) as info:
        parse_manifest(text, tmp_path / "mlsupply.yaml")

    problems = [(p.key_path, p.message, p.line) for p in info.value.problems]
    assert any(k.endswith(key) and message in m and line == 5 for k, m, line in problems), problems
    assert all(p.fix for p in info.value.problems)


def test_a_bare_number_threshold_means_at_least(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "e.yaml").write_text("{}")
    text = (
        "version: 1\nmodels:\n  - name: m\n    path: m\n"
        '    promotion: {evaluation: e.yaml, thresholds: {accuracy: 0.9, loss: "< 0.2"}}\n'
    )

    (model,) = parse_manifest(text, tmp_path / "mlsupply.yaml").models

    assert model.promotion is not None
    assert [(t.metric, t.operator, t.value) for t in model.promotion.thresholds] == [
        ("accuracy", ">=", 0.9),
        ("loss", "<", 0.2),
    ]


def test_the_documented_digest_helper_matches_a_listing_hashed_by_hand(
    pipeline: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mlsupply.checks.provenance_promotion import print_directory_digest

    assert print_directory_digest([str(pipeline.model_dir)]) == 0
    files = sorted(p for p in pipeline.model_dir.rglob("*") if p.is_file())
    listing = "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(pipeline.model_dir)}\n"
        for p in files
    )
    assert (
        capsys.readouterr().out.strip() == "sha256:" + hashlib.sha256(listing.encode()).hexdigest()
    )


# --- a Hub model: its resolved commit --------------------------------------------------------


def test_a_hub_models_records_are_compared_with_the_commit_it_resolved_to(
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
    record = evaluation(pipeline, artifact={"commit": BASE, "repo": "acme/tiny-hub"})
    write(pipeline, "eval.yaml", record)
    assert pipeline.result(claim).findings == []

    other = "0123456789abcdef0123456789abcdef01234567"
    write(pipeline, "eval.yaml", evaluation(pipeline, artifact={"commit": other}))
    (finding,) = pipeline.result(claim).findings
    assert finding.rule == "MLS-PROM-002"
    assert f"artifact.commit is {other}; the model is at {BASE}" in finding.evidence

    write(pipeline, "eval.yaml", evaluation(pipeline, artifact={"commit": BASE, "repo": "acme/x"}))
    (finding,) = pipeline.result(claim).findings
    assert "artifact.repo is acme/x; the model is acme/tiny-hub" in finding.evidence


# --- end to end: pytest --mlsupply and the ML-BOM --------------------------------------------


def test_end_to_end_the_claim_is_an_item_and_its_verdict_a_strictly_valid_bom_property(
    pytester: pytest.Pytester, project: Project
) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    from tests.checks.conftest import Pipeline

    pipeline = Pipeline(project)
    declare_all(pipeline)

    def bom_verdict() -> str:
        text = (project.root / "build" / "ml-bom.cdx.json").read_text()
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
        (model,) = [c for c in json.loads(text)["components"] if c.get("bom-ref") == "model:tiny"]
        verdicts = {p["name"]: p["value"] for p in model["properties"]}
        return verdicts["mlsupply:provenance:promotion"]

    result = pytester.runpytest("--mlsupply", "mlsupply.yaml", "-v")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::provenance[[]tiny::promotion[]] PASSED*"])
    assert result.ret == 0
    assert bom_verdict() == "pass"

    write(pipeline, "approval.yaml", approval(pipeline, approved_at="2026-11-19T10:00:00Z"))
    result = pytester.runpytest("--mlsupply", "mlsupply.yaml", "-v")

    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::provenance[[]tiny::promotion[]] FAILED*",
            "*MLS-PROM-008 approval is not newer than the evaluation*",
        ]
    )
    assert bom_verdict() == "fail"
