"""The sha256 check: a pinned file must have the pinned digest; a pinned file must exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_mlsupply.results import Severity, Verdict
from tests.conftest import sha256_of

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

WEIGHTS = "artifact[tiny/model.safetensors::sha256]"


def test_a_file_matching_its_pin_passes_and_reports_its_digest(pipeline: Pipeline) -> None:
    weights = pipeline.model_dir / "model.safetensors"

    result = pipeline.result(WEIGHTS)

    assert (result.subject, result.check) == ("tiny/model.safetensors", "sha256")
    assert result.findings == []
    assert result.error is None
    assert result.facts == {"sha256": sha256_of(weights), "size": weights.stat().st_size}
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_a_file_that_differs_from_its_pin_is_a_critical_finding_with_both_digests(
    pipeline: Pipeline,
) -> None:
    weights = pipeline.model_dir / "model.safetensors"
    pinned = sha256_of(weights)
    with weights.open("ab") as handle:
        handle.write(b"\0")
    actual = sha256_of(weights)

    result = pipeline.result(WEIGHTS)

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-PIN-001", Severity.CRITICAL)
    assert finding.evidence == f"expected sha256:{pinned}, found sha256:{actual}"
    assert finding.location.file == "tiny/model.safetensors"
    assert finding.cwe == "CWE-494"
    assert finding.remediation
    assert result.facts["sha256"] == actual
    assert result.verdict(Severity.CRITICAL) is Verdict.FAIL


def test_a_pinned_file_that_is_missing_is_still_planned_and_fails(pipeline: Pipeline) -> None:
    weights = pipeline.model_dir / "model.safetensors"
    pinned = sha256_of(weights)
    weights.unlink()

    names = pipeline.names()
    result = pipeline.result(WEIGHTS)

    assert WEIGHTS in names
    # There is nothing to identify, so only the pin check is planned for the absent file.
    assert "artifact[tiny/model.safetensors::format]" not in names
    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-PIN-002", Severity.HIGH)
    assert finding.title == "pinned file is missing"
    assert finding.evidence.startswith(f"manifest pins sha256:{pinned};")
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_unpinned_file_gets_an_info_finding_with_the_pin_to_add_and_passes(
    pipeline: Pipeline,
) -> None:
    config = pipeline.model_dir / "config.json"

    result = pipeline.result("artifact[tiny/config.json::sha256]")

    (finding,) = result.findings
    assert (finding.rule, finding.severity) == ("MLS-PIN-003", Severity.INFO)
    assert f'config.json: "sha256:{sha256_of(config)}"' in finding.remediation
    assert result.facts["sha256"] == sha256_of(config)
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_an_unreadable_unpinned_file_is_an_error_not_a_pass(pipeline: Pipeline) -> None:
    (pipeline.model_dir / "dangling.bin").symlink_to(pipeline.model_dir / "nowhere")

    result = pipeline.result("artifact[tiny/dangling.bin::sha256]")

    assert result.findings == []
    assert result.error is not None
    assert result.error.startswith("cannot read: No such file or directory")
    assert result.verdict(Severity.CRITICAL) is Verdict.ERROR


def test_a_fifo_in_a_model_is_an_error_and_never_opened(pipeline: Pipeline) -> None:
    import os

    os.mkfifo(pipeline.project.model_dir / "pipe.bin")
    for check in ("sha256", "format", "scan"):
        result = pipeline.result(f"artifact[tiny/pipe.bin::{check}]")
        assert result.verdict(Severity.HIGH) is Verdict.ERROR, check
