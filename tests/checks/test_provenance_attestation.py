"""The attestation claim: signed in-toto statements vouch for every file of the model."""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from securesystemslib import dsse as securesystemslib_dsse

from pytest_mlsupply.checks.provenance_attestation import normalise_repository
from pytest_mlsupply.engines import dsse
from pytest_mlsupply.manifest.errors import ManifestError
from pytest_mlsupply.manifest.loader import load_manifest
from pytest_mlsupply.results import CheckResult, Severity, Verdict
from tests.attestations import (
    BUILD_TYPE,
    BUILDER,
    COMMIT,
    REPOSITORY,
    envelope,
    file_subjects,
    make_keys,
    sha256_of,
    slsa_v1,
    statement,
)
from tests.conftest import build_hub_cache, write_model

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

CLAIM = "provenance[tiny::attestation]"
DEFAULT = "attestation.intoto.jsonl"


class Attested:
    """The pipeline's project with builder keys and an attestation file to write."""

    def __init__(self, pipeline: Pipeline, kind: str = "ec") -> None:
        self.pipeline = pipeline
        self.keys = make_keys(pipeline.project.root / "keys", "a", "b", "c", kind=kind)
        self.declare("{keys: [keys/a.pub]}")

    @property
    def model_dir(self) -> Path:
        return self.pipeline.model_dir

    def declare(self, attestation: str, top: str = "") -> None:
        self.pipeline.project.default_manifest(
            extra_model_keys=f"    attestation: {attestation}", top=top
        )

    def private(self, name: str) -> Path:
        return self.keys[name][0]

    def write(self, *lines: bytes, name: str = DEFAULT) -> Path:
        path = self.model_dir / name
        path.write_bytes(b"\n".join(lines) + b"\n")
        return path

    def attest(self, document: dict[str, Any] | None = None, *signers: str) -> Path:
        """Write the default file: ``document`` (a SLSA v1 statement over every model file)
        signed by ``signers`` (default: key a)."""
        document = document or statement(file_subjects(self.model_dir))
        return self.write(envelope(document, *(self.private(s) for s in signers or ("a",))))

    def result(self) -> CheckResult:
        return self.pipeline.result(CLAIM)


@pytest.fixture
def attested(pipeline: Pipeline) -> Attested:
    return Attested(pipeline)


def rules(result: CheckResult) -> list[str]:
    return sorted(f.rule for f in result.findings)


def only(result: CheckResult) -> tuple[str, Severity, str]:
    (finding,) = result.findings
    return finding.rule, finding.severity, finding.title


@pytest.mark.parametrize("kind", ["ec", "rsa", "ed25519"])
def test_slsa_provenance_signed_by_the_declared_key_passes_and_records_the_build(
    pipeline: Pipeline, kind: str
) -> None:
    attested = Attested(pipeline, kind)
    attested.attest()

    result = attested.result()

    assert result.findings == []
    assert result.error is None
    assert result.verdict(Severity.LOW) is Verdict.PASS
    facts = result.facts["attestation"]
    assert facts["verified"] is True
    assert facts["envelopes"][0]["path"] == f"models/tiny/{DEFAULT}"
    (claim,) = facts["statements"]
    assert claim["builder"] == BUILDER
    assert claim["build_type"] == BUILD_TYPE
    assert claim["source_repository"] == REPOSITORY
    assert claim["source_commit"] == COMMIT
    assert claim["build_parameters"]["workflow"]["path"] == ".github/workflows/train.yml"
    assert claim["checked"] == "slsa-provenance"


def test_an_envelope_signed_by_another_key_fails(attested: Attested) -> None:
    attested.attest(None, "b")

    result = attested.result()

    assert only(result) == ("MLS-ATT-003", Severity.CRITICAL, "attestation does not verify")
    assert "0 of the 1 signatures verified" in result.findings[0].evidence
    assert result.facts["attestation"]["verified"] is False
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_below_the_threshold_one_signature_of_two_required_fails(attested: Attested) -> None:
    attested.declare("{keys: [keys/a.pub, keys/b.pub, keys/c.pub], threshold: 2}")
    attested.attest(None, "a")

    result = attested.result()

    assert rules(result) == ["MLS-ATT-003"]
    assert "1 of the 1 signatures verified with the declared keys; 2 required" in (
        result.findings[0].evidence
    )


def test_the_same_key_signing_twice_counts_once_toward_the_threshold(attested: Attested) -> None:
    attested.declare("{keys: [keys/a.pub, keys/b.pub, keys/c.pub], threshold: 2}")
    attested.attest(None, "a", "a")

    assert rules(attested.result()) == ["MLS-ATT-003"]


def test_two_distinct_signers_meet_a_threshold_of_two(attested: Attested) -> None:
    attested.declare("{keys: [keys/a.pub, keys/b.pub, keys/c.pub], threshold: 2}")
    attested.attest(None, "c", "a")

    result = attested.result()

    assert result.findings == []
    assert result.facts["attestation"]["verified"] is True


def test_the_same_key_in_two_files_cannot_meet_a_threshold_of_two(attested: Attested) -> None:
    copy = attested.pipeline.project.root / "keys" / "a-copy.pub"
    copy.write_bytes(attested.keys["a"][1].read_bytes())
    attested.declare("{keys: [keys/a.pub, keys/a-copy.pub], threshold: 2}")
    attested.attest(None, "a")

    result = attested.result()

    assert result.findings == []
    assert result.error is not None
    assert "threshold 2 needs 2 distinct keys" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_a_changed_weight_file_fails_naming_it_and_both_digests(attested: Attested) -> None:
    attested.attest()
    weights = attested.model_dir / "model.safetensors"
    attested_digest = sha256_of(weights)
    write_model(attested.model_dir, seed=1)
    attested.declare("{keys: [keys/a.pub]}")  # re-pin: only the attestation speaks

    result = attested.result()

    assert only(result) == (
        "MLS-ATT-004",
        Severity.CRITICAL,
        "model.safetensors differs from its attestation",
    )
    finding = result.findings[0]
    assert finding.location.file == "tiny/model.safetensors"
    assert attested_digest in finding.evidence
    assert sha256_of(weights) in finding.evidence


def test_a_subject_file_missing_from_the_model_fails(attested: Attested) -> None:
    attested.attest()
    (attested.model_dir / "config.json").unlink()

    result = attested.result()

    assert only(result) == ("MLS-ATT-005", Severity.HIGH, "config.json is attested but missing")


def test_a_tampered_payload_does_not_verify(attested: Attested) -> None:
    document = json.loads(
        envelope(statement(file_subjects(attested.model_dir)), attested.private("a"))
    )
    payload = base64.b64decode(document["payload"]).replace(COMMIT.encode(), b"0" * 40)
    document["payload"] = base64.b64encode(payload).decode()
    attested.write(json.dumps(document).encode())

    assert rules(attested.result()) == ["MLS-ATT-003"]


def test_an_unreadable_envelope_is_a_finding_naming_the_cause_never_a_pass(
    attested: Attested,
) -> None:
    attested.write(b"this is not an envelope")

    result = attested.result()

    assert only(result)[0] == "MLS-ATT-003"
    assert "not valid JSON" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_declared_attestation_that_is_absent_fails(attested: Attested) -> None:
    result = attested.result()

    assert only(result) == ("MLS-ATT-002", Severity.HIGH, "attestation file not found")
    assert result.findings[0].location.file == f"models/tiny/{DEFAULT}"


def test_a_builder_that_is_not_allowed_fails(attested: Attested) -> None:
    attested.declare("{keys: [keys/a.pub], builders: [https://builder.acme.example/v1]}")
    attested.attest()

    result = attested.result()

    assert only(result) == (
        "MLS-ATT-010",
        Severity.HIGH,
        "model built by a builder that is not allowed",
    )
    assert BUILDER in result.findings[0].evidence


def test_an_allowed_builder_prefix_ending_in_a_star_matches(attested: Attested) -> None:
    attested.declare(
        "{keys: [keys/a.pub]}",
        top='policy: {attestation: {builders: ["https://github.com/actions/runner/*"]}}',
    )
    attested.attest()

    assert attested.result().findings == []


def test_a_required_builder_the_provenance_does_not_state_fails(attested: Attested) -> None:
    attested.declare(f"{{keys: [keys/a.pub], builders: [{BUILDER}]}}")
    attested.attest(statement(file_subjects(attested.model_dir), slsa_v1(builder=None)))

    assert only(attested.result())[:2] == ("MLS-ATT-010", Severity.HIGH)


def test_a_build_from_another_source_repository_fails(attested: Attested) -> None:
    attested.declare("{keys: [keys/a.pub], source_repository: https://github.com/acme/other}")
    attested.attest()

    result = attested.result()

    assert only(result) == (
        "MLS-ATT-011",
        Severity.HIGH,
        "model built from another source repository",
    )
    assert "built from https://github.com/acme/tiny-model" in result.findings[0].evidence


def test_the_required_repository_matches_across_spellings_of_one_github_url(
    attested: Attested,
) -> None:
    attested.declare(
        "{keys: [keys/a.pub]}",
        top="policy: {attestation: {source_repository: github.com/Acme/Tiny-Model.git}}",
    )
    attested.attest()

    assert attested.result().findings == []


def test_a_required_source_the_provenance_does_not_state_fails(attested: Attested) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    attested.attest(statement(file_subjects(attested.model_dir), slsa_v1(repository=None)))

    assert only(attested.result())[:3] == (
        "MLS-ATT-011",
        Severity.HIGH,
        "attestation names no source repository",
    )


@pytest.mark.parametrize(
    ("uri", "repository"),
    [
        ("git+https://github.com/Acme/M@refs/heads/main", "github.com/acme/m"),
        ("https://github.com/acme/m.git", "github.com/acme/m"),
        ("git+ssh://git@github.com/acme/m", "github.com/acme/m"),
        ("git@github.com:acme/m.git", "github.com/acme/m"),
        ("https://token@gitlab.example/Team/M", "gitlab.example/Team/M"),
        ("https://git.acme.example:8443/m", "git.acme.example:8443/m"),
        ("https://github.com/acme/m?x=1#frag", "github.com/acme/m"),
        ("https://github.com/acme/m@x/../../evil/m", "<https://github.com/acme/m@x/../../evil/m>"),
        ("file://github.com/acme/m", "<file://github.com/acme/m>"),
        ("https://github.com/acme/%6d", "<https://github.com/acme/%6d>"),
    ],
)
def test_repository_uris_are_compared_by_host_and_path(uri: str, repository: str) -> None:
    assert normalise_repository(uri) == repository


def test_a_dependency_on_the_required_repository_does_not_make_it_the_source(
    attested: Attested,
) -> None:
    attested.declare("{keys: [keys/a.pub], source_repository: https://github.com/acme/wanted}")
    predicate = slsa_v1(repository="https://github.com/evil/fork")
    predicate["buildDefinition"]["resolvedDependencies"].append(
        {
            "uri": "git+https://github.com/acme/wanted@refs/heads/main",
            "digest": {"gitCommit": COMMIT},
        }
    )
    attested.attest(statement(file_subjects(attested.model_dir), predicate))

    assert rules(attested.result()) == ["MLS-ATT-011"]


def test_a_non_slsa_predicate_verifies_signatures_and_subjects_only(attested: Attested) -> None:
    attested.attest(
        statement(
            file_subjects(attested.model_dir),
            {"result": "PASSED"},
            "https://in-toto.io/attestation/test-result/v0.1",
        )
    )

    result = attested.result()

    assert result.findings == []
    (claim,) = result.facts["attestation"]["statements"]
    assert claim["checked"] == "signatures-and-subjects-only"
    assert claim["builder"] is None


def test_a_builder_policy_is_not_met_by_a_non_slsa_statement(attested: Attested) -> None:
    attested.declare(f"{{keys: [keys/a.pub], builders: [{BUILDER}]}}")
    attested.attest(
        statement(
            file_subjects(attested.model_dir),
            {"result": "PASSED"},
            "https://in-toto.io/attestation/test-result/v0.1",
        )
    )

    result = attested.result()

    assert "MLS-ATT-010" in rules(result)
    assert "no attestation states the builder" in [f.title for f in result.findings]


def test_under_a_build_policy_a_file_named_only_by_a_non_slsa_statement_is_unattested(
    attested: Attested,
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], builders: [{BUILDER}]}}")
    subjects = file_subjects(attested.model_dir)
    (config,) = [s for s in subjects if s["name"] == "config.json"]
    provenance = statement([s for s in subjects if s is not config])
    other = statement(
        [config], {"result": "PASSED"}, "https://in-toto.io/attestation/test-result/v0.1"
    )
    attested.write(
        envelope(provenance, attested.private("a")), envelope(other, attested.private("a"))
    )

    result = attested.result()

    assert only(result)[:3] == (
        "MLS-ATT-009",
        Severity.HIGH,
        "config.json is not covered by the attestation",
    )
    assert "no verified SLSA provenance names it" in result.findings[0].evidence


def test_slsa_v02_provenance_is_read_for_builder_and_source(attested: Attested) -> None:
    attested.declare(
        "{keys: [keys/a.pub], builders: [https://builder.acme.example/v1], "
        f"source_repository: {REPOSITORY}}}"
    )
    predicate = {
        "builder": {"id": "https://builder.acme.example/v1"},
        "buildType": "https://acme.example/train@v1",
        "invocation": {
            "configSource": {
                "uri": f"git+{REPOSITORY}@refs/heads/main",
                "digest": {"sha1": COMMIT},
                "entryPoint": "train.yml",
            },
            "parameters": {"epochs": 3},
        },
    }
    attested.attest(
        statement(file_subjects(attested.model_dir), predicate, "https://slsa.dev/provenance/v0.2")
    )

    result = attested.result()

    assert result.findings == []
    (claim,) = result.facts["attestation"]["statements"]
    assert claim["source_commit"] == COMMIT
    assert claim["build_parameters"] == {"entryPoint": "train.yml", "parameters": {"epochs": 3}}


# --- what an attacker would try ---------------------------------------------------------------


def test_an_attestation_of_another_model_signed_by_the_declared_key_fails(
    attested: Attested, tmp_path: Path
) -> None:
    other = write_model(tmp_path / "other", seed=7)
    attested.attest(statement(file_subjects(other)))

    result = attested.result()

    assert "MLS-ATT-004" in rules(result)
    assert "model.safetensors differs from its attestation" in [f.title for f in result.findings]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_file_no_subject_names_fails_and_the_model_card_is_only_noted(
    attested: Attested,
) -> None:
    attested.attest(statement(file_subjects(attested.model_dir, skip=("README.md",))))
    (attested.model_dir / "extra.safetensors").write_bytes(b"not attested")

    result = attested.result()

    by_file = {f.location.file: (f.rule, f.severity) for f in result.findings}
    assert by_file == {
        "tiny/extra.safetensors": ("MLS-ATT-009", Severity.HIGH),
        "tiny/README.md": ("MLS-ATT-009", Severity.LOW),
    }


def test_dot_slash_subject_names_match_the_files_they_name(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        subject["name"] = "./" + subject["name"]
    attested.attest(statement(subjects))

    assert attested.result().findings == []


@pytest.mark.parametrize("name", ["../tiny/config.json", "/etc/passwd", "a/../../config.json"])
def test_a_subject_that_escapes_the_model_directory_fails(attested: Attested, name: str) -> None:
    subjects = file_subjects(attested.model_dir)
    subjects.append({"name": name, "digest": {"sha256": "ab" * 32}})
    attested.attest(statement(subjects))

    assert only(attested.result())[:2] == ("MLS-ATT-006", Severity.HIGH)


def test_a_case_variant_subject_does_not_vouch_for_the_file(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        if subject["name"] == "config.json":
            subject["name"] = "Config.json"
    attested.attest(statement(subjects))

    assert rules(attested.result()) == ["MLS-ATT-005", "MLS-ATT-009"]


def test_one_file_named_twice_with_different_digests_fails(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    subjects.append({"name": "./model.safetensors", "digest": {"sha256": "cd" * 32}})
    attested.attest(statement(subjects))

    result = attested.result()

    assert "MLS-ATT-007" in rules(result)
    assert "MLS-ATT-004" in rules(result)


def test_a_jsonl_file_with_one_good_and_one_bad_envelope_fails(attested: Attested) -> None:
    good = envelope(statement(file_subjects(attested.model_dir)), attested.private("a"))
    bad = envelope(statement(file_subjects(attested.model_dir)), attested.private("b"))
    attested.write(good, bad)

    result = attested.result()

    assert only(result)[0] == "MLS-ATT-003"
    assert result.findings[0].location.file == f"models/tiny/{DEFAULT}:2"


def test_a_subject_with_only_an_md5_digest_is_not_proof(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        if subject["name"] == "config.json":
            data = (attested.model_dir / "config.json").read_bytes()
            subject["digest"] = {"md5": hashlib.md5(data).hexdigest()}
    attested.attest(statement(subjects))

    assert only(attested.result())[:2] == ("MLS-ATT-008", Severity.HIGH)


def test_every_digest_a_subject_states_is_compared(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    weights = (attested.model_dir / "model.safetensors").read_bytes()
    for subject in subjects:
        if subject["name"] == "model.safetensors":
            subject["digest"]["sha512"] = hashlib.sha512(weights + b"x").hexdigest()
            subject["digest"]["sha3_256"] = hashlib.sha3_256(weights).hexdigest()
    attested.attest(statement(subjects))

    result = attested.result()

    assert only(result)[0] == "MLS-ATT-004"
    assert "sha512" in result.findings[0].evidence


def test_a_git_blob_digest_beside_sha256_is_computed_as_git_does(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        data = (attested.model_dir / subject["name"]).read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        subject["digest"]["gitBlob"] = blob
    attested.attest(statement(subjects))

    assert attested.result().findings == []
    (attested.model_dir / "config.json").write_text('{"model_type": "gpt2"}')
    assert {f.rule for f in attested.result().findings} == {"MLS-ATT-004"}
    assert len(attested.result().findings) == 2  # sha256 and gitBlob both differ


def test_a_pretty_printed_envelope_spanning_many_lines_is_one_envelope(
    attested: Attested,
) -> None:
    signer = dsse.load_signer(attested.private("a"))
    signed = dsse.sign_statement(statement(file_subjects(attested.model_dir)), [signer])
    assert signed.count(b"\n") > 3
    attested.write(signed)

    result = attested.result()

    assert result.findings == []
    assert result.facts["attestation"]["verified"] is True


# --- claim made or not, manifest -------------------------------------------------------------


def test_no_attestation_and_no_policy_means_the_claim_is_not_made(pipeline: Pipeline) -> None:
    assert CLAIM not in pipeline.names()


def test_require_attestation_fails_a_model_without_one(pipeline: Pipeline) -> None:
    pipeline.project.default_manifest(top="policy: {require_attestation: true}")

    assert only(pipeline.result(CLAIM)) == (
        "MLS-ATT-001",
        Severity.HIGH,
        "model has no attestation",
    )


def test_attestation_path_lists_several_envelope_files_beside_the_manifest(
    attested: Attested,
) -> None:
    root = attested.pipeline.project.root
    (root / "att").mkdir()
    subjects = file_subjects(attested.model_dir)
    (root / "att" / "weights.json").write_bytes(
        envelope(statement(subjects[:1]), attested.private("a"))
    )
    (root / "att" / "rest.json").write_bytes(
        envelope(statement(subjects[1:]), attested.private("a"))
    )
    attested.declare("{path: [att/weights.json, att/rest.json], keys: [keys/a.pub]}")

    result = attested.result()

    assert result.findings == []
    assert [e["path"] for e in result.facts["attestation"]["envelopes"]] == [
        "att/weights.json",
        "att/rest.json",
    ]


@pytest.mark.parametrize(
    ("attestation", "message"),
    [
        ("{path: att.json}", "needs the public keys of its signers"),
        ("{keys: [keys/a.pub, keys/b.pub], threshold: 3}", "threshold 3 needs 3 distinct keys"),
        ("{keys: [keys/a.pub, keys/a.pub], threshold: 2}", "threshold 2 needs 2 distinct keys"),
        ("{keys: [keys/a.pub], threshold: 0}", "expected a whole number of signatures"),
        ("{keys: [keys/missing.pub]}", "'keys/missing.pub' does not exist"),
        ("{keys: []}", "keys is empty"),
        ("{keys: [keys/a.pub], source_repository: acme}", "is not a repository URL"),
        ("{keys: [keys/a.pub], treshold: 2}", "unknown key 'treshold'"),
    ],
)
def test_a_bad_attestation_declaration_is_a_manifest_error_naming_the_line(
    attested: Attested, attestation: str, message: str
) -> None:
    (attested.pipeline.project.root / "att.json").write_text("{}")
    attested.declare(attestation)

    with pytest.raises(ManifestError) as caught:
        load_manifest(attested.pipeline.project.root / "mlsupply.yaml")

    (problem,) = caught.value.problems
    assert message in problem.message
    assert problem.key_path.startswith("models[0].attestation")
    assert problem.line == 11
    assert problem.fix


def test_an_envelope_file_larger_than_any_attestation_is_not_read(
    attested: Attested, monkeypatch: pytest.MonkeyPatch
) -> None:
    attested.attest()
    monkeypatch.setattr(dsse, "MAX_ENVELOPE_BYTES", 64)

    result = attested.result()

    assert only(result)[0] == "MLS-ATT-003"
    assert "larger than any attestation" in result.findings[0].evidence


HUB_COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
HUB_CLAIM = "provenance[hub-tiny::attestation]"


def test_a_hub_models_attestation_in_the_snapshot_is_verified_over_the_snapshot(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    release = write_model(tmp_path / "release")
    keys = make_keys(pipeline.project.root / "keys", "builder")
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    files[DEFAULT] = envelope(statement(file_subjects(release)), keys["builder"][0])
    snapshot = build_hub_cache(empty_hub_cache, "acme/tiny-bert", HUB_COMMIT, files)
    pipeline.manifest(
        f"""\
        version: 1
        models:
          - name: hub-tiny
            source: hf://acme/tiny-bert@{HUB_COMMIT}
            attestation: {{keys: [keys/builder.pub]}}
        """
    )

    result = pipeline.result(HUB_CLAIM)
    assert result.findings == []
    assert result.facts["attestation"]["envelopes"][0]["path"] == f"hub-tiny/{DEFAULT}"

    # The snapshot's files are what was compared: a tampered blob fails, named.
    (snapshot / "config.json").resolve().write_text("{}")
    (finding,) = pipeline.result(HUB_CLAIM).findings
    assert (finding.rule, finding.location.file) == ("MLS-ATT-004", "hub-tiny/config.json")


# --- adversarial review (rva) ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["shake128", "shake256"])
@pytest.mark.parametrize("length", [2, 62])
def test_a_shake_digest_cut_short_enough_to_match_tampered_weights_is_not_proof(
    attested: Attested, algorithm: str, length: int
) -> None:
    weights = attested.model_dir / "model.safetensors"
    tampered = weights.read_bytes() + b"any bytes the attacker can search for a match"
    weights.write_bytes(tampered)
    short = hashlib.new(algorithm.replace("shake", "shake_"), tampered).hexdigest(length // 2)
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        if subject["name"] == "model.safetensors":
            subject["digest"] = {algorithm: short}
    attested.attest(statement(subjects))

    result = attested.result()

    assert only(result)[:2] == ("MLS-ATT-008", Severity.HIGH)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_an_empty_digest_which_every_file_would_match_does_not_verify(attested: Attested) -> None:
    subjects = file_subjects(attested.model_dir)
    for subject in subjects:
        if subject["name"] == "model.safetensors":
            subject["digest"] = {"shake256": ""}
    # Signed as another tool would: our signer refuses to write such a statement.
    payload = json.dumps(statement(subjects)).encode()
    raw = securesystemslib_dsse.Envelope(payload, dsse.IN_TOTO_PAYLOAD_TYPE, {})
    raw.sign(dsse.load_signer(attested.private("a")))
    attested.write(json.dumps(raw.to_dict()).encode())
    (attested.model_dir / "model.safetensors").write_bytes(b"anything at all")

    result = attested.result()

    assert only(result)[:2] == ("MLS-ATT-003", Severity.CRITICAL)
    assert "digest.shake256 is not a (non-empty) string" in result.findings[0].evidence


@pytest.mark.parametrize(
    ("uri", "fetched"),
    [
        # curl (under git) resolves dot segments over the whole path, the `@ref` included.
        ("https://github.com/acme/tiny-model@x/../../evil/tiny-model", "/evil/tiny-model"),
        ("git+https://github.com/acme/tiny-model/../../evil/tiny-model", "/evil/tiny-model"),
        # a directory on the builder that happens to be called github.com
        ("file://github.com/acme/tiny-model", None),
    ],
    ids=["dot-segments-after-the-ref", "dot-segments", "file-scheme"],
)
def test_a_source_uri_that_a_git_client_fetches_from_elsewhere_does_not_meet_the_policy(
    attested: Attested, uri: str, fetched: str | None
) -> None:
    if fetched is not None:
        assert posixpath.normpath(urlsplit(uri.removeprefix("git+")).path) == fetched
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    attested.attest(statement(file_subjects(attested.model_dir), slsa_v1(repository=uri)))

    result = attested.result()

    assert "MLS-ATT-011" in rules(result)
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_source_input_pinned_by_a_git_commit_without_git_plus_is_still_the_first_git_input(
    attested: Attested,
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    predicate = slsa_v1(repository=None)
    predicate["buildDefinition"]["resolvedDependencies"] = [
        {"uri": "https://github.com/evil/tiny-model", "digest": {"gitCommit": COMMIT}},
        {"uri": f"git+{REPOSITORY}@refs/heads/main", "digest": {"gitCommit": COMMIT}},
    ]
    attested.attest(statement(file_subjects(attested.model_dir), predicate))

    result = attested.result()

    assert only(result)[:3] == (
        "MLS-ATT-011",
        Severity.HIGH,
        "model built from another source repository",
    )
    assert "built from https://github.com/evil/tiny-model" in result.findings[0].evidence


@pytest.mark.parametrize(
    "workflow_repository",
    [["https://github.com/evil/tiny-model"], {"uri": "https://github.com/evil/tiny-model"}],
    ids=["a-list", "an-object"],
)
def test_a_source_stated_in_a_form_the_check_cannot_read_is_not_skipped_for_one_it_can(
    attested: Attested, workflow_repository: Any
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    predicate = slsa_v1()
    external = predicate["buildDefinition"]["externalParameters"]
    external["workflow"]["repository"] = workflow_repository
    external["source"] = REPOSITORY
    attested.attest(statement(file_subjects(attested.model_dir), predicate))

    result = attested.result()

    assert only(result)[:3] == (
        "MLS-ATT-011",
        Severity.HIGH,
        "model built from another source repository",
    )
    assert "evil" in result.findings[0].evidence


def test_a_source_uri_that_is_not_a_url_is_a_finding_not_a_crash(attested: Attested) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    attested.attest(
        statement(file_subjects(attested.model_dir), slsa_v1(repository="https://[github.com/x"))
    )

    result = attested.result()

    assert result.error is None
    assert "MLS-ATT-011" in rules(result)


def test_a_v02_config_source_stated_as_a_list_is_not_skipped_for_the_first_material(
    attested: Attested,
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    predicate = {
        "builder": {"id": "https://builder.acme.example/v1"},
        "invocation": {"configSource": {"uri": ["git+https://github.com/evil/tiny-model"]}},
        "materials": [{"uri": f"git+{REPOSITORY}@refs/heads/main", "digest": {"sha1": COMMIT}}],
    }
    attested.attest(
        statement(file_subjects(attested.model_dir), predicate, "https://slsa.dev/provenance/v0.2")
    )

    assert only(attested.result())[:3] == (
        "MLS-ATT-011",
        Severity.HIGH,
        "model built from another source repository",
    )


def test_a_first_git_input_whose_uri_is_not_a_string_is_not_skipped_for_the_next(
    attested: Attested,
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    predicate = slsa_v1(repository=None)
    predicate["buildDefinition"]["resolvedDependencies"] = [
        {"uri": ["git+https://github.com/evil/tiny-model"], "digest": {"gitCommit": COMMIT}},
        {"uri": f"git+{REPOSITORY}@refs/heads/main", "digest": {"gitCommit": COMMIT}},
    ]
    document = statement(file_subjects(attested.model_dir))
    document["predicate"] = predicate  # a uri list is no ResourceDescriptor: signed as written
    attested.attest(document)

    assert only(attested.result())[:3] == (
        "MLS-ATT-011",
        Severity.HIGH,
        "model built from another source repository",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("externalParameters", [{"repository": "https://github.com/evil/tiny-model"}]),
        ("workflow", "https://github.com/evil/tiny-model"),
    ],
)
def test_a_misshapen_slsa_field_is_not_skipped_for_the_dependency_the_attacker_chose(
    attested: Attested, field: str, value: Any
) -> None:
    attested.declare(f"{{keys: [keys/a.pub], source_repository: {REPOSITORY}}}")
    document = statement(file_subjects(attested.model_dir))
    build = document["predicate"]["buildDefinition"]
    if field == "workflow":
        build["externalParameters"]["workflow"] = value
    else:
        build["externalParameters"] = value
    attested.attest(document)  # signed as written: no longer a valid SLSA v1 predicate

    result = attested.result()

    assert only(result)[:2] == ("MLS-ATT-011", Severity.HIGH)
    assert "is not a JSON object" in result.findings[0].evidence


#: What the Hub writes into every new repository (huggingface_hub's default .gitattributes).
HUB_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def test_a_hub_snapshots_gitattributes_the_build_never_saw_is_only_noted(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    release = write_model(tmp_path / "release")
    keys = make_keys(pipeline.project.root / "keys", "builder")
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    files[DEFAULT] = envelope(statement(file_subjects(release)), keys["builder"][0])
    files[".gitattributes"] = HUB_GITATTRIBUTES
    build_hub_cache(empty_hub_cache, "acme/tiny-bert", HUB_COMMIT, files)
    pipeline.manifest(
        f"""\
        version: 1
        models:
          - name: hub-tiny
            source: hf://acme/tiny-bert@{HUB_COMMIT}
            attestation: {{keys: [keys/builder.pub]}}
        """
    )

    result = pipeline.result(HUB_CLAIM)

    assert only(result)[:2] == ("MLS-ATT-009", Severity.LOW)
    assert result.verdict(Severity.HIGH) is Verdict.WARN  # noted, does not fail the gate


def test_an_unattested_file_beside_git_metadata_still_fails(attested: Attested) -> None:
    attested.attest()
    (attested.model_dir / ".gitattributes").write_bytes(HUB_GITATTRIBUTES)
    (attested.model_dir / ".github").mkdir()
    (attested.model_dir / ".github" / "train.yml").write_text("on: push\n")
    (attested.model_dir / ".gitattributes.py").write_text("import os\n")
    attested.declare("{keys: [keys/a.pub]}")

    findings = {f.location.file: f.severity for f in attested.result().findings}

    assert findings == {
        "tiny/.gitattributes": Severity.LOW,
        "tiny/.github/train.yml": Severity.HIGH,  # may hold code a config names
        "tiny/.gitattributes.py": Severity.HIGH,
    }
