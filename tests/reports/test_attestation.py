"""The gate's statement: which digests stand for a model file, and when the gate passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.reports.attestation import (
    AttestationError,
    gate_verdict,
    load_attest_signer,
    model_file_digests,
)
from pytest_mlsupply.results import CheckResult, RowKind, Verdict

A, B = "a" * 64, "b" * 64


def sha256_result(subject: str, digest: str, check: str = "sha256") -> CheckResult:
    return CheckResult(RowKind.ARTIFACT, subject, check, facts={"sha256": digest})


def test_a_files_digest_comes_from_the_facts_its_checks_reported() -> None:
    results = [
        sha256_result("tiny/config.json", A),
        sha256_result("tiny/config.json", A, check="format"),
        CheckResult(RowKind.DEPENDENCY, "numpy==2.1.0", "pinned", facts={"sha256": B}),
        CheckResult(RowKind.ARTIFACT, "tiny/notes.txt", "format"),
    ]
    assert model_file_digests(results) == {"tiny/config.json": A}


def test_a_file_read_with_two_digests_in_one_session_is_not_attested() -> None:
    results = [
        sha256_result("tiny/model.safetensors", A),
        sha256_result("tiny/model.safetensors", B),
    ]
    with pytest.raises(AttestationError, match=r"tiny/model.safetensors.*changed while"):
        model_file_digests(results)


@pytest.mark.parametrize("blocking", [Verdict.FAIL, Verdict.ERROR, Verdict.NOT_RUN])
def test_a_failed_errored_or_unreported_cell_fails_the_gate(blocking: Verdict) -> None:
    cells = {
        (RowKind.ARTIFACT, "tiny/a", "sha256"): Verdict.PASS,
        (RowKind.ARTIFACT, "tiny/b", "sha256"): blocking,
    }
    assert gate_verdict(cells, exit_status=0) == "fail"


def test_warnings_and_skips_pass_the_gate_but_a_nonzero_exit_status_does_not() -> None:
    cells = {
        (RowKind.ARTIFACT, "tiny/a", "format"): Verdict.WARN,
        (RowKind.DEPENDENCY, "x==1", "pinned"): Verdict.SKIPPED,
    }
    assert gate_verdict(cells, exit_status=0) == "pass"
    assert gate_verdict(cells, exit_status=1) == "fail"


def test_a_private_key_given_where_its_path_belongs_is_refused_without_echoing_it(
    tmp_path: Path,
) -> None:
    from tests.attest_keys import write_keypair

    private, _ = write_keypair(tmp_path, "gate")
    pem = private.read_text()
    with pytest.raises(AttestationError) as caught:
        load_attest_signer(pem, tmp_path, "--mlsupply-attest")
    message = str(caught.value)
    assert "holds key material, not the path of a key file" in message
    assert "PRIVATE KEY" not in message
    assert not any(line in message for line in pem.splitlines()[1:-1])
