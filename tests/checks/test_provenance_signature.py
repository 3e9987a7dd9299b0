"""The signature claim: a model-signing bundle proves the model's files are the signed ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from pytest_mlsupply.results import CheckResult, Location, Severity, Verdict
from tests.conftest import build_hub_cache
from tests.signing import (
    Authority,
    ec_key,
    make_authority,
    sign_with_certificate,
    sign_with_key,
    sign_with_rsa_certificate,
    write_key,
    write_signed_model_files,
)

if TYPE_CHECKING:
    from tests.checks.conftest import Pipeline

CLAIM = "provenance[tiny::signature]"

# model-signing 1.1.1 imports pyOpenSSL without declaring it as a dependency.
pytestmark = pytest.mark.needs("OpenSSL")


def declare(pipeline: Pipeline, signature: str, top: str = "") -> None:
    pipeline.project.default_manifest(extra_model_keys=f"    signature: {signature}", top=top)


@pytest.fixture
def keyed(pipeline: Pipeline) -> Pipeline:
    """The project's model, with a tokenizer, signed by an EC key declared as `public_key:`."""
    write_signed_model_files(pipeline.model_dir)
    private, _public = write_key(pipeline.project.root / "keys", "release", ec_key())
    sign_with_key(pipeline.model_dir, private)
    declare(pipeline, "{public_key: keys/release.pub}")
    return pipeline


@pytest.fixture
def certified(pipeline: Pipeline) -> tuple[Pipeline, Authority]:
    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(pipeline.project.root / "pki")
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")
    return pipeline, authority


def only(result: CheckResult) -> tuple[str, Severity, str]:
    (finding,) = result.findings
    return finding.rule, finding.severity, finding.title


def test_a_model_signed_with_the_declared_ec_key_passes(keyed: Pipeline) -> None:
    result = keyed.result(CLAIM)

    assert result.findings == []
    assert result.error is None
    assert result.facts["signature"]["verified"] is True
    assert result.verdict(Severity.LOW) is Verdict.PASS


def test_a_tampered_weight_file_fails_naming_the_file(keyed: Pipeline) -> None:
    weights = keyed.model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))

    result = keyed.result(CLAIM)

    assert only(result) == (
        "MLS-SIG-004",
        Severity.CRITICAL,
        "model.safetensors changed since it was signed",
    )
    assert result.findings[0].location == Location(file="tiny/model.safetensors")
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_changed_config_value_fails_naming_config_json(keyed: Pipeline) -> None:
    config = keyed.model_dir / "config.json"
    config.write_text(config.read_text().replace('"hidden_size": 4', '"hidden_size": 8'))

    (finding,) = keyed.result(CLAIM).findings

    assert (finding.rule, finding.location.file) == ("MLS-SIG-004", "tiny/config.json")
    assert "signed sha256" in finding.evidence


def test_a_removed_signed_file_fails_as_missing(keyed: Pipeline) -> None:
    (keyed.model_dir / "tokenizer.json").unlink()

    assert only(keyed.result(CLAIM)) == (
        "MLS-SIG-005",
        Severity.HIGH,
        "tokenizer.json is signed but missing",
    )


def test_an_added_file_the_signature_does_not_cover_fails(keyed: Pipeline) -> None:
    (keyed.model_dir / "modeling_tiny.py").write_text("import os\n")

    result = keyed.result(CLAIM)

    assert only(result) == (
        "MLS-SIG-006",
        Severity.HIGH,
        "modeling_tiny.py is not covered by the signature",
    )
    assert result.findings[0].location == Location(file="tiny/modeling_tiny.py")


def test_every_difference_is_its_own_finding(keyed: Pipeline) -> None:
    (keyed.model_dir / "tokenizer.json").unlink()
    (keyed.model_dir / "extra.bin").write_bytes(b"\0")
    (keyed.model_dir / "config.json").write_text("{}")

    rules = sorted((f.rule, f.location.file) for f in keyed.result(CLAIM).findings)

    assert rules == [
        ("MLS-SIG-004", "tiny/config.json"),
        ("MLS-SIG-005", "tiny/tokenizer.json"),
        ("MLS-SIG-006", "tiny/extra.bin"),
    ]


def test_git_metadata_and_the_signature_file_itself_are_not_covered(keyed: Pipeline) -> None:
    (keyed.model_dir / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (keyed.model_dir / ".git").mkdir()
    (keyed.model_dir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")

    assert keyed.result(CLAIM).findings == []


def test_another_models_signature_does_not_verify_this_model(
    keyed: Pipeline, tmp_path: Path
) -> None:
    other = write_signed_model_files(tmp_path / "other", seed=7)
    private = keyed.project.root / "keys" / "release.key"
    sign_with_key(other, private)
    shutil.copy(other / "model.sig", keyed.model_dir / "model.sig")

    (finding,) = keyed.result(CLAIM).findings

    # Same key, other bytes: the bundle verifies, the files do not match it.
    assert (finding.rule, finding.location.file) == ("MLS-SIG-004", "tiny/model.safetensors")


def test_a_signature_by_another_key_does_not_verify(keyed: Pipeline) -> None:
    intruder, _ = write_key(keyed.project.root / "intruder", "intruder", ec_key())
    sign_with_key(keyed.model_dir, intruder)

    result = keyed.result(CLAIM)

    assert only(result) == ("MLS-SIG-003", Severity.CRITICAL, "signature does not verify")
    assert "Key mismatch" in result.findings[0].evidence


def test_a_bundle_that_is_not_json_is_a_finding_not_a_pass(keyed: Pipeline) -> None:
    (keyed.model_dir / "model.sig").write_text("not a bundle\n")

    result = keyed.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-003"
    assert "JSONDecodeError" in result.findings[0].evidence


def test_a_missing_default_signature_file_fails(keyed: Pipeline) -> None:
    (keyed.model_dir / "model.sig").unlink()

    result = keyed.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-002"
    assert result.findings[0].location == Location(file="tiny/model.sig")


def test_signature_path_points_at_a_bundle_beside_the_manifest(keyed: Pipeline) -> None:
    (keyed.model_dir / "model.sig").rename(keyed.project.root / "tiny.sig")
    declare(keyed, "{path: tiny.sig, public_key: keys/release.pub}")

    assert keyed.result(CLAIM).findings == []


def test_an_rsa_public_key_is_an_error_saying_model_signing_needs_ec(keyed: Pipeline) -> None:
    # model-signing 1.1.1 signs and verifies with elliptic-curve keys only.
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_key(keyed.project.root / "keys", "release", rsa_key)

    result = keyed.result(CLAIM)

    assert result.findings == []
    assert result.error is not None
    assert "cannot verify the signature of tiny (public-key)" in result.error
    assert "release.pub holds an RSA key, which is unsupported" in result.error
    assert "elliptic-curve keys only (P-256, P-384, P-521)" in result.error
    assert "sign the model with an EC key" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_an_ed25519_public_key_is_an_error_naming_its_type(keyed: Pipeline) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    (keyed.project.root / "keys" / "release.pub").write_bytes(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    result = keyed.result(CLAIM)

    assert result.error is not None
    assert "release.pub holds an Ed25519 key, which is unsupported" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_a_public_key_file_that_is_not_pem_is_an_error_naming_it(keyed: Pipeline) -> None:
    (keyed.project.root / "keys" / "release.pub").write_text("not a key\n")

    result = keyed.result(CLAIM)

    assert result.error is not None
    assert "release.pub is not a readable PEM public key" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_a_signer_with_an_rsa_certificate_is_an_error_saying_model_signing_needs_ec(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # A valid bundle from a signer whose certificate holds an RSA key: model-signing 1.1.1
    # would fail it with an AttributeError about curves; the item says what is unsupported.
    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(pipeline.project.root / "pki", rsa_leaf=True)
    sign_with_rsa_certificate(pipeline.model_dir, authority, tmp_path / "scratch")
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    result = pipeline.result(CLAIM)

    assert result.findings == []
    assert result.error is not None
    assert "cannot verify the signature of tiny (certificate)" in result.error
    assert "signing certificate holds an RSA key, which is unsupported" in result.error
    assert "elliptic-curve keys only" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_an_rsa_root_and_intermediate_may_certify_an_ec_signer(pipeline: Pipeline) -> None:
    # Only the signing key must be elliptic-curve: the chain is checked by OpenSSL.
    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(pipeline.project.root / "pki", rsa_authority=True)
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    result = pipeline.result(CLAIM)

    assert (result.findings, result.error) == ([], None)
    assert result.verdict(Severity.HIGH) is Verdict.PASS


def test_a_model_signed_under_the_declared_certificate_chain_passes(
    certified: tuple[Pipeline, Authority],
) -> None:
    pipeline, _ = certified

    assert pipeline.result(CLAIM).findings == []


def test_a_chain_that_did_not_issue_the_signer_does_not_verify(
    certified: tuple[Pipeline, Authority],
) -> None:
    pipeline, _ = certified
    make_authority(pipeline.project.root / "other-pki", "other")
    declare(pipeline, "{certificate_chain: [other-pki/other-root.pem]}")

    result = pipeline.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-003"
    assert "X509StoreContextError: self-signed certificate" in result.findings[0].evidence


def test_a_leaf_issued_by_an_expired_intermediate_fails(pipeline: Pipeline) -> None:
    # model-signing checks the chain at the leaf's notBefore, which the issuer chooses: a
    # retired intermediate's key can still mint a back-dated leaf that is "valid" for years.
    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(pipeline.project.root / "pki", intermediate_expired=True)
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    result = pipeline.result(CLAIM)

    assert only(result) == (
        "MLS-SIG-007",
        Severity.HIGH,
        "signing certificate chain is not valid today",
    )
    assert "expired" in result.findings[0].evidence
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


def test_a_tls_server_certificate_from_the_declared_chain_is_not_a_release_signer(
    pipeline: Pipeline,
) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(
        pipeline.project.root / "pki", leaf_purposes=[ExtendedKeyUsageOID.SERVER_AUTH]
    )
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    result = pipeline.result(CLAIM)

    assert only(result) == (
        "MLS-SIG-009",
        Severity.HIGH,
        "signing certificate is not for code signing",
    )


def test_a_code_signing_certificate_verifies(pipeline: Pipeline) -> None:
    from cryptography.x509.oid import ExtendedKeyUsageOID

    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(
        pipeline.project.root / "pki", leaf_purposes=[ExtendedKeyUsageOID.CODE_SIGNING]
    )
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    assert pipeline.result(CLAIM).findings == []


def test_an_expired_leaf_certificate_fails(pipeline: Pipeline) -> None:
    write_signed_model_files(pipeline.model_dir)
    authority = make_authority(pipeline.project.root / "pki", leaf_expired=True)
    sign_with_certificate(pipeline.model_dir, authority)
    declare(pipeline, "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem]}")

    result = pipeline.result(CLAIM)

    assert only(result) == ("MLS-SIG-007", Severity.HIGH, "signing certificate has expired")
    assert "valid until" in result.findings[0].evidence


def test_a_declared_signing_certificate_must_be_the_one_in_the_bundle(
    certified: tuple[Pipeline, Authority],
) -> None:
    pipeline, _ = certified
    # Same CA, another leaf: the chain verifies, the pin does not.
    other = make_authority(pipeline.project.root / "pki2", "acme2")
    declare(
        pipeline,
        "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem], "
        f"certificate: {other.leaf.relative_to(pipeline.project.root)}}}",
    )

    result = pipeline.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-008"
    assert "acme2 release signer" in result.findings[0].evidence


def test_the_declared_signing_certificate_passes_when_it_signed(
    certified: tuple[Pipeline, Authority],
) -> None:
    pipeline, _ = certified
    declare(
        pipeline,
        "{certificate_chain: [pki/acme-root.pem, pki/acme-intermediate.pem], "
        "certificate: pki/acme-leaf.pem}",
    )

    assert pipeline.result(CLAIM).findings == []


def test_sigstore_without_a_trust_config_errors_instead_of_going_online(
    keyed: Pipeline,
) -> None:
    declare(keyed, "{identity: release@acme.example, issuer: https://accounts.acme.example}")

    result = keyed.result(CLAIM)

    assert result.error is not None
    assert "offline needs `trust_config:`" in result.error
    assert result.verdict(Severity.HIGH) is Verdict.ERROR


def test_sigstore_with_an_unusable_trust_config_errors_cleanly(keyed: Pipeline) -> None:
    (keyed.project.root / "trust.json").write_text(json.dumps({"mediaType": "nonsense"}))
    declare(
        keyed,
        "{identity: release@acme.example, issuer: https://accounts.acme.example, "
        "trust_config: trust.json}",
    )

    result = keyed.result(CLAIM)

    assert result.findings == []
    assert result.error is not None
    assert "sigstore" in result.error


def test_no_signature_and_no_policy_means_the_claim_is_not_made(pipeline: Pipeline) -> None:
    assert CLAIM not in pipeline.names()


def test_require_signature_fails_a_model_without_one(pipeline: Pipeline) -> None:
    pipeline.project.default_manifest(top="policy: {require_signature: true}")

    result = pipeline.result(CLAIM)

    assert only(result) == ("MLS-SIG-001", Severity.HIGH, "model has no signature")
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


HUB_COMMIT = "3f2a9c0e4b1d7a6c5e8f9a0b1c2d3e4f5a6b7c8d"
HUB_CLAIM = "provenance[hub-tiny::signature]"


def hub_snapshot(pipeline: Pipeline, cache: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A Hub snapshot (symlinks into the cache's blobs) of the tiny model, and a release key."""
    release = write_signed_model_files(tmp_path / "release")
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    snapshot = build_hub_cache(cache, "acme/tiny-bert", HUB_COMMIT, files)
    private, _ = write_key(pipeline.project.root / "keys", "release", ec_key())
    return snapshot, private


def declare_hub(pipeline: Pipeline, signature: str) -> None:
    pipeline.manifest(
        f"""\
        version: 1
        models:
          - name: hub-tiny
            source: hf://acme/tiny-bert@{HUB_COMMIT}
            signature: {signature}
        """
    )


def test_a_hub_models_signature_in_the_snapshot_is_verified_over_the_snapshot(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    snapshot, private = hub_snapshot(pipeline, empty_hub_cache, tmp_path)
    sign_with_key(snapshot, private, allow_symlinks=True)
    declare_hub(pipeline, "{public_key: keys/release.pub}")

    assert pipeline.result(HUB_CLAIM).findings == []

    # The snapshot's files are what was verified: a tampered blob fails, named.
    blob = (snapshot / "config.json").resolve()
    blob.write_text("{}")
    (finding,) = pipeline.result(HUB_CLAIM).findings
    assert (finding.rule, finding.location.file) == ("MLS-SIG-004", "hub-tiny/config.json")


def test_a_hub_models_signature_can_sit_beside_the_manifest(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    snapshot, private = hub_snapshot(pipeline, empty_hub_cache, tmp_path)
    sign_with_key(snapshot, private, pipeline.project.root / "hub-tiny.sig", allow_symlinks=True)
    declare_hub(pipeline, "{path: hub-tiny.sig, public_key: keys/release.pub}")

    assert pipeline.result(HUB_CLAIM).findings == []
    # ... and the default model.sig is then not expected in the snapshot.
    assert not (snapshot / "model.sig").exists()


def test_a_symlink_in_a_local_model_does_not_verify(keyed: Pipeline, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}")
    (keyed.model_dir / "config.json").unlink()
    (keyed.model_dir / "config.json").symlink_to(outside)

    result = keyed.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-003"
    assert "symlink" in result.findings[0].evidence.lower()


def test_a_symlinked_directory_in_a_hub_snapshot_is_not_covered_by_the_signature(
    pipeline: Pipeline, empty_hub_cache: Path, tmp_path: Path
) -> None:
    # A real snapshot links files, never directories: model-signing does not descend into a
    # linked directory, so the files behind it were neither hashed nor reported as unsigned.
    snapshot, private = hub_snapshot(pipeline, empty_hub_cache, tmp_path)
    sign_with_key(snapshot, private, allow_symlinks=True)
    declare_hub(pipeline, "{public_key: keys/release.pub}")
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "config.json").write_text('{"auto_map": {"AutoModel": "modeling.Evil"}}')
    (planted / "modeling.py").write_text("import os\n")
    (snapshot / "extra").symlink_to(planted, target_is_directory=True)

    result = pipeline.result(HUB_CLAIM)

    assert [(f.rule, f.severity, f.location.file) for f in result.findings] == [
        ("MLS-SIG-006", Severity.HIGH, "hub-tiny/extra")
    ]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


@pytest.mark.parametrize(
    ("excluded", "unsigned"),
    [
        (("tokenizer.json",), ["tokenizer.json"]),
        # "." excludes the whole directory: a bundle that signs nothing verified any model.
        ((".",), None),
    ],
)
def test_files_the_signer_excluded_from_the_signature_are_unsigned(
    pipeline: Pipeline, excluded: tuple[str, ...], unsigned: list[str] | None
) -> None:
    # The manifest names a key, not the signer's choice of exclusions: an excluded file that a
    # loader reads can be swapped freely, so it is reported like any file the bundle lacks.
    write_signed_model_files(pipeline.model_dir)
    private, _public = write_key(pipeline.project.root / "keys", "release", ec_key())
    sign_with_key(pipeline.model_dir, private, ignore=excluded)
    declare(pipeline, "{public_key: keys/release.pub}")
    (pipeline.model_dir / "tokenizer.json").write_text('{"swapped": true}')

    result = pipeline.result(CLAIM)

    if unsigned is None:  # every file of the model but the bundle
        unsigned = sorted(p.name for p in pipeline.model_dir.iterdir() if p.name != "model.sig")
    assert sorted((f.rule, f.location.file) for f in result.findings) == [
        ("MLS-SIG-006", f"tiny/{name}") for name in unsigned
    ]
    assert result.verdict(Severity.HIGH) is Verdict.FAIL


@pytest.mark.parametrize(
    "hashing_as",
    [{"hashing_algorithm": "blake2"}, {"hashing_algorithm": "blake3"}, {"shard_size": 64}],
    ids=["blake2", "blake3", "shards"],
)
def test_a_model_signed_with_another_hashing_verifies_and_a_change_is_named(
    pipeline: Pipeline, hashing_as: dict[str, object]
) -> None:
    from model_signing import hashing, signing

    write_signed_model_files(pipeline.model_dir)
    private, _public = write_key(pipeline.project.root / "keys", "release", ec_key())
    config = hashing.Config()
    if "shard_size" in hashing_as:
        config.use_shard_serialization(**hashing_as)  # type: ignore[arg-type]
    else:
        config.use_file_serialization(**hashing_as)  # type: ignore[arg-type]
    signature = pipeline.model_dir / "model.sig"
    signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(
        config.set_ignored_paths(paths=["model.sig"])
    ).sign(pipeline.model_dir, signature)
    declare(pipeline, "{public_key: keys/release.pub}")

    assert pipeline.result(CLAIM).findings == []

    (pipeline.model_dir / "tokenizer.json").write_text('{"swapped": true}')
    (finding,) = pipeline.result(CLAIM).findings
    assert (finding.rule, finding.location.file) == ("MLS-SIG-004", "tiny/tokenizer.json")


def sigstore_trust_config(directory: Path) -> Path:
    """A ClientTrustConfig assembled from the trusted root sigstore ships as package data."""
    import sigstore

    store = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
        "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
    }
    path = directory / "trust.json"
    path.write_text(json.dumps(config))
    return path


def test_sigstore_with_a_local_trusted_root_rejects_a_bundle_no_fulcio_certificate_signed(
    keyed: Pipeline,
) -> None:
    # The trusted root is read from disk (no TUF fetch; the no_internet fixture would refuse
    # one); the key-signed bundle carries no Fulcio certificate for the identity, so it fails.
    sigstore_trust_config(keyed.project.root)
    declare(
        keyed,
        "{identity: release@acme.example, issuer: https://accounts.google.com, "
        "trust_config: trust.json}",
    )

    result = keyed.result(CLAIM)

    assert only(result)[0] == "MLS-SIG-003"
    assert result.verdict(Severity.HIGH) is Verdict.FAIL
    assert "expected certificate in bundle" in result.findings[0].evidence
