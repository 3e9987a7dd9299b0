"""`models[].signature` and `policy.require_signature`: one verification mode, stated in full."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mlsupply.manifest.errors import ManifestError, Problem
from pytest_mlsupply.manifest.loader import parse_manifest
from pytest_mlsupply.manifest.model import SignatureDecl

MODEL = "version: 1\nmodels:\n  - name: m\n    path: m\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "m").mkdir()
    for name in ("release.pub", "root.pem", "leaf.pem", "trust.json", "m.sig"):
        (tmp_path / name).write_text("")
    return tmp_path


def signature(root: Path, text: str) -> SignatureDecl | None:
    (model,) = parse_manifest(f"{MODEL}    signature: {text}\n", root / "mlsupply.yaml").models
    return model.signature


def problems(root: Path, text: str) -> list[Problem]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, root / "mlsupply.yaml")
    return caught.value.problems


def test_a_public_key_signature_defaults_its_bundle_to_the_model_directory(root: Path) -> None:
    decl = signature(root, "{public_key: release.pub}")

    assert decl == SignatureDecl(public_key=root / "release.pub")
    assert decl.path is None
    assert decl.mode == "public-key"


def test_a_certificate_chain_signature_keeps_its_order_and_the_pinned_leaf(root: Path) -> None:
    decl = signature(root, "{path: m.sig, certificate_chain: [root.pem], certificate: leaf.pem}")

    assert decl == SignatureDecl(
        path=root / "m.sig",
        certificate_chain=(root / "root.pem",),
        certificate=root / "leaf.pem",
    )
    assert decl.mode == "certificate"


def test_a_sigstore_signature_reads_identity_issuer_and_trust_config(root: Path) -> None:
    decl = signature(
        root, "{identity: ci@acme.example, issuer: https://token.example, trust_config: trust.json}"
    )

    assert decl == SignatureDecl(
        identity="ci@acme.example", issuer="https://token.example", trust_config=root / "trust.json"
    )
    assert decl.mode == "sigstore"


def test_a_signature_without_a_mode_is_an_error_at_its_line_naming_the_fix(root: Path) -> None:
    (problem,) = problems(root, f"{MODEL}    signature: {{path: m.sig}}\n")

    assert (problem.line, problem.key_path) == (5, "models[0].signature")
    assert "declare exactly one way to verify the signature" in problem.message
    assert "public_key" in problem.fix
    assert "identity" in problem.fix


def test_a_missing_chain_file_is_named(root: Path) -> None:
    (problem,) = problems(
        root, f"{MODEL}    signature: {{certificate_chain: [root.pem, gone.pem]}}\n"
    )

    assert problem.key_path == "models[0].signature.certificate_chain[1]"


def test_require_signature_defaults_to_false_and_reads_a_boolean(root: Path) -> None:
    path = root / "mlsupply.yaml"
    assert parse_manifest("version: 1\n", path).policy.require_signature is False
    on = parse_manifest("version: 1\npolicy: {require_signature: true}\n", path)
    assert on.policy.require_signature is True


def test_an_empty_certificate_chain_is_refused_rather_than_trusting_the_system_cas(
    root: Path,
) -> None:
    (problem,) = problems(root, f"{MODEL}    signature: {{certificate_chain: []}}\n")

    assert problem.key_path == "models[0].signature.certificate_chain"
    assert problem.message == "certificate_chain is empty"
