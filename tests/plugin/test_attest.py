"""`--mlsupply-attest`: the gate signs an in-toto statement of exactly what it checked."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.engines import dsse
from pytest_mlsupply.reports.attestation import PASSWORD_ENV, PREDICATE_TYPE
from tests.attest_keys import KINDS, write_keypair
from tests.conftest import Project, sha256_of

BOM = Path("build") / "ml-bom.cdx.json"
ATTESTATION = Path("build") / "ml-bom.cdx.json.intoto.json"


def verified(envelope: Path, public: Path) -> dsse.Verified:
    read = dsse.read_envelope(envelope.read_bytes(), source=str(envelope))
    return dsse.verify(read, [dsse.load_public_key(public)], 1)


def subjects(statement: dsse.Statement) -> dict[str, str]:
    return {s.name: s.digests["sha256"] for s in statement.subjects}


@pytest.mark.parametrize("kind", KINDS)
def test_a_passing_session_writes_an_envelope_that_verifies_with_the_public_key(
    pytester: pytest.Pytester, project: Project, kind: str
) -> None:
    private, public = write_keypair(project.root / "keys", "gate", kind)

    result = pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}")

    assert result.ret == 0
    result.stdout.fnmatch_lines([f"*wrote {ATTESTATION}*"])
    statement = verified(project.root / ATTESTATION, public).statement
    assert statement.predicate_type == PREDICATE_TYPE
    assert statement.predicate["gate"]["verdict"] == "pass"


def test_the_subjects_are_the_bom_and_every_model_file_by_their_sha256(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")

    assert pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}").ret == 0

    statement = verified(project.root / ATTESTATION, public).statement
    model = project.model_dir
    assert subjects(statement) == {
        "build/ml-bom.cdx.json": sha256_of(project.root / BOM),
        "tiny/model.safetensors": sha256_of(model / "model.safetensors"),
        "tiny/config.json": sha256_of(model / "config.json"),
        "tiny/README.md": sha256_of(model / "README.md"),
    }
    predicate = statement.predicate
    assert predicate["manifest"] == {
        "name": "mlsupply.yaml",
        "sha256": sha256_of(project.root / "mlsupply.yaml"),
    }
    assert predicate["policy"]["fail_on"] == "high"
    assert predicate["tool"]["name"] == "pytest-mlsupply"
    cells = {(i["subject"], i["check"]): i for i in predicate["items"]}
    assert cells[("tiny/model.safetensors", "sha256")]["verdict"] == "pass"
    # The card check's informational rule ids are recorded with its verdict.
    assert all(isinstance(i["rules"], list) for i in predicate["items"])


def test_a_failing_gate_is_attested_as_failed_with_the_failing_rule(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")
    (project.model_dir / "model.safetensors").write_bytes(b"not the pinned weights")

    result = pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    predicate = verified(project.root / ATTESTATION, public).statement.predicate
    assert predicate["gate"]["verdict"] == "fail"
    assert predicate["gate"]["exitStatus"] == 1
    (cell,) = [
        i
        for i in predicate["items"]
        if i["subject"] == "tiny/model.safetensors" and i["check"] == "sha256"
    ]
    assert cell["verdict"] == "fail"
    assert "MLS-PIN-001" in cell["rules"]


def test_a_failing_user_test_fails_the_attested_gate(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")
    (project.root / "tests" / "test_user.py").write_text("def test_broken():\n    assert 0\n")

    assert pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}").ret == 1

    gate = verified(project.root / ATTESTATION, public).statement.predicate["gate"]
    assert gate["verdict"] == "fail"
    assert gate["counts"]["fail"] == 0  # every supply-chain cell passed; pytest did not


def test_an_unreadable_key_is_a_usage_error_before_any_item_runs(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.root / "keys").mkdir()
    (project.root / "keys" / "gate.key").write_text("not a key\n")
    pytester.makeconftest("def pytest_runtest_call(item):\n    raise SystemExit('ran')\n")

    result = pytester.runpytest("--mlsupply", "--mlsupply-attest=keys/gate.key")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlsupply-attest*gate.key*not a PEM private key*"])
    assert not (project.root / BOM).exists()


def test_a_missing_key_file_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "--mlsupply-attest=keys/absent.pem")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlsupply-attest keys/absent.pem: no such key file*"])


def test_an_encrypted_key_signs_with_the_password_from_the_environment(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = write_keypair(project.root / "keys", "gate", "rsa", password=b"s3cret")
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")

    assert pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}").ret == 0
    assert verified(project.root / ATTESTATION, public).statement.predicate["gate"]


def test_a_wrong_password_is_a_usage_error_at_start_naming_the_variable(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, _ = write_keypair(project.root / "keys", "gate", "ec", password=b"s3cret")
    monkeypatch.setenv(PASSWORD_ENV, "wrong")

    result = pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*wrong password*{PASSWORD_ENV}*"])


def test_an_encrypted_key_without_a_password_says_where_to_put_it(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, _ = write_keypair(project.root / "keys", "gate", "ed25519", password=b"s3cret")
    monkeypatch.delenv(PASSWORD_ENV, raising=False)

    result = pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*encrypted*${PASSWORD_ENV}*"])


def test_the_ini_keys_choose_the_key_and_the_output_relative_to_the_rootdir(
    pytester: pytest.Pytester, project: Project
) -> None:
    write_keypair(project.root / "keys", "gate")
    pytester.makeini(
        "[pytest]\nmlsupply_attest = keys/gate.key\nmlsupply_attest_output = out/gate.att\n"
    )

    assert pytester.runpytest("--mlsupply").ret == 0

    assert verified(project.root / "out" / "gate.att", project.root / "keys" / "gate.pub")
    assert not (project.root / ATTESTATION).exists()


def test_sigstore_mode_offline_fails_at_start_saying_there_is_no_identity(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)

    result = pytester.runpytest("--mlsupply", "--mlsupply-attest=sigstore")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sigstore*no ambient OIDC identity token*"])
    assert not (project.root / BOM).exists()


@pytest.mark.needs("in_toto_attestation")
def test_the_envelope_is_read_by_securesystemslib_and_the_statement_by_in_toto_attestation(
    pytester: pytest.Pytester, project: Project
) -> None:
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    private, public = write_keypair(project.root / "keys", "gate", "ed25519")
    assert pytester.runpytest("--mlsupply", f"--mlsupply-attest={private}").ret == 0

    document = json.loads((project.root / ATTESTATION).read_text())
    envelope = Envelope.from_dict(document)
    key = dsse.load_public_key(public)
    assert isinstance(key, SSlibKey)
    # securesystemslib's own verifier: the signature counts for our key.
    assert key.keyid in envelope.verify([key], 1)
    payload: dict[str, Any] = json.loads(base64.b64decode(document["payload"]))
    Statement(
        [ResourceDescriptor(name=s["name"], digest=s["digest"]).pb for s in payload["subject"]],
        payload["predicateType"],
        payload["predicate"],
    ).validate()


@pytest.mark.needs("xdist")
def test_two_xdist_workers_write_one_attestation_from_the_controller(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")

    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2", f"--mlsupply-attest={private}")

    assert result.ret == 0
    assert str(result.stdout).count("wrote build/ml-bom.cdx.json.intoto.json") == 1
    statement = verified(project.root / ATTESTATION, public).statement
    assert statement.predicate["gate"]["verdict"] == "pass"
    assert (
        subjects(statement)["tiny/model.safetensors"]
        == hashlib.sha256((project.model_dir / "model.safetensors").read_bytes()).hexdigest()
    )
    leftovers = [p.name for p in (project.root / "build").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def ambient_gitlab_token(monkeypatch: pytest.MonkeyPatch, *, expires_in: int = 600) -> None:
    """A GitLab CI identity token (as `id` detects it) for the audience `sigstore`."""
    import time

    import jwt

    now = int(time.time())
    claims = {
        "iss": "https://gitlab.example",
        "sub": "project_path:acme/service:ref_type:tag:ref:v1",
        "aud": "sigstore",
        "iat": now - 5,
        "exp": now + expires_in,
    }
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("SIGSTORE_ID_TOKEN", jwt.encode(claims, "k" * 32, algorithm="HS256"))


def test_sigstore_mode_with_sigstore_unreachable_fails_the_session_saying_so(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An identity is there, but Sigstore's services are not (no_internet refuses them): the
    # session ends with the report error status and no attestation, never a silent gap.
    ambient_gitlab_token(monkeypatch)

    result = pytester.runpytest("--mlsupply", "--mlsupply-attest=sigstore")

    assert result.ret == 6
    result.stdout.fnmatch_lines(["*no attestation written: Sigstore signing failed*"])
    assert (project.root / BOM).is_file()
    assert not (project.root / "build" / "ml-bom.cdx.json.sigstore.json").exists()


def test_sigstore_mode_with_an_expired_identity_token_fails_at_start(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    ambient_gitlab_token(monkeypatch, expires_in=-60)

    result = pytester.runpytest("--mlsupply", "--mlsupply-attest=sigstore")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sigstore*identity token is unusable*"])
    assert not (project.root / BOM).exists()


def test_asking_for_an_attestation_without_the_gate_is_a_usage_error(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, _ = write_keypair(project.root / "keys", "gate")

    result = pytester.runpytest(f"--mlsupply-attest={private}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mlsupply-attest*add --mlsupply*"])


def test_the_xml_bom_is_attested_too_when_it_is_written(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")

    result = pytester.runpytest(
        "--mlsupply", "--mlsupply-bom-xml=build/ml-bom.cdx.xml", f"--mlsupply-attest={private}"
    )

    assert result.ret == 0
    attested = subjects(verified(project.root / ATTESTATION, public).statement)
    assert attested["build/ml-bom.cdx.xml"] == sha256_of(project.root / "build" / "ml-bom.cdx.xml")


def test_the_recorded_policy_is_the_one_in_force_after_the_command_line(
    pytester: pytest.Pytester, project: Project
) -> None:
    private, public = write_keypair(project.root / "keys", "gate")

    result = pytester.runpytest(
        "--mlsupply", "--mlsupply-fail-on=critical", f"--mlsupply-attest={private}"
    )

    assert result.ret == 0
    predicate = verified(project.root / ATTESTATION, public).statement.predicate
    assert predicate["policy"]["fail_on"] == "critical"
    assert predicate["gate"]["threshold"] == "critical"
