"""`pytest --mlsupply` end to end with a signed model: the signature claim gates the run."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import Project, build_hub_cache
from tests.signing import ec_key, sign_with_key, write_key, write_signed_model_files

CLAIM = "provenance[tiny::signature]"
LINE = "provenance[[]tiny::signature]"  # ([[] is fnmatch for a literal "[")
needs_model_signing = pytest.mark.needs("OpenSSL")


def sign_project(project: Project) -> None:
    write_signed_model_files(project.model_dir)
    private, _ = write_key(project.root / "keys", "release", ec_key())
    sign_with_key(project.model_dir, private)
    project.default_manifest(extra_model_keys="    signature: {public_key: keys/release.pub}")


@needs_model_signing
def test_a_signed_model_passes_the_gate(pytester: pytest.Pytester, project: Project) -> None:
    sign_project(project)

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE}*PASSED*"])
    assert result.ret == 0


@needs_model_signing
def test_the_bom_references_the_verified_signature_and_its_verdict(
    pytester: pytest.Pytester, project: Project
) -> None:
    sign_project(project)
    bundle = project.model_dir / "model.sig"

    assert pytester.runpytest("--mlsupply").ret == 0

    # build_bom validated it as strict CycloneDX 1.6 before writing.
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c["name"] == "tiny"]
    (reference,) = [r for r in model["externalReferences"] if r["type"] == "digital-signature"]
    assert reference["url"] == "models/tiny/model.sig"
    assert reference["hashes"] == [
        {"alg": "SHA-256", "content": hashlib.sha256(bundle.read_bytes()).hexdigest()}
    ]
    properties = {p["name"]: p["value"] for p in model["properties"]}
    assert properties["mlsupply:provenance:signature"] == "pass"
    assert "mlsupply:check:signature" not in properties


@needs_model_signing
def test_a_tampered_weight_file_fails_the_gate_naming_the_file(
    pytester: pytest.Pytester, project: Project
) -> None:
    sign_project(project)
    (project.model_dir / "model.safetensors").write_bytes(b"not the signed weights")
    # Re-pin the artifact so only the signature claim has something to say.
    project.default_manifest(extra_model_keys="    signature: {public_key: keys/release.pub}")

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE}*FAILED*"])
    result.stdout.fnmatch_lines(["*MLS-SIG-004*model.safetensors changed since it was signed*"])
    assert result.ret == 1


def test_require_signature_fails_a_model_that_declares_none(
    pytester: pytest.Pytester, project: Project
) -> None:
    project.default_manifest(top="policy: {require_signature: true}")

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{LINE}*FAILED*", "*MLS-SIG-001*model has no signature*"])
    assert result.ret == 1


def test_without_a_declared_signature_the_claim_is_not_made(
    pytester: pytest.Pytester, project: Project
) -> None:
    result = pytester.runpytest("--mlsupply", "-v")

    assert CLAIM not in result.stdout.str()
    assert result.ret == 0


def test_a_model_signing_library_that_cannot_be_imported_is_an_error_never_a_pass(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # model-signing 1.1.1 imports pyOpenSSL without declaring it: this is that environment.
    for name in [n for n in sys.modules if n.split(".")[0] in ("model_signing", "OpenSSL")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "OpenSSL", None)
    (project.root / "keys").mkdir()
    (project.root / "keys" / "release.pub").write_text("")
    (project.model_dir / "model.sig").write_text("{}")
    project.default_manifest(extra_model_keys="    signature: {public_key: keys/release.pub}")

    result = pytester.runpytest("--mlsupply", "-v")

    result.stdout.fnmatch_lines(
        [f"*{LINE}*FAILED*", "*ERROR*", "*model-signing library cannot be imported*pyOpenSSL*"]
    )
    assert result.ret == 1


HUB_COMMIT = "86b5e0934494bd15c9632b12f734a8a67f723594"
HUB_LINE = "provenance[[]hub-tiny::signature]"


@needs_model_signing
def test_a_hub_model_signed_in_its_snapshot_is_verified_by_the_gate_over_the_cached_files(
    pytester: pytest.Pytester, project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The publisher signs the release directory and uploads model.sig with the files; the
    # Hugging Face cache then holds them as a snapshot of symlinks into content-addressed blobs.
    release = write_signed_model_files(tmp_path / "release")
    private, _ = write_key(project.root / "keys", "release", ec_key())
    sign_with_key(release, private)
    files = {p.name: p.read_bytes() for p in sorted(release.iterdir())}
    snapshot = build_hub_cache(tmp_path / "hf-cache", "acme/tiny-bert", HUB_COMMIT, files)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    project.manifest(
        f"""\
        version: 1
        models:
          - name: hub-tiny
            source: hf://acme/tiny-bert@{HUB_COMMIT}
            signature: {{public_key: keys/release.pub}}
        """
    )

    result = pytester.runpytest_subprocess("--mlsupply", "-v")

    result.stdout.fnmatch_lines([f"*{HUB_LINE}*PASSED*"])
    assert result.ret == 0
    bom = json.loads((project.root / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c["name"] == "hub-tiny"]
    assert model["purl"] == f"pkg:huggingface/acme/tiny-bert@{HUB_COMMIT}"
    assert {p["name"]: p["value"] for p in model["properties"]}[
        "mlsupply:provenance:signature"
    ] == "pass"
    (reference,) = [r for r in model["externalReferences"] if r["type"] == "digital-signature"]
    # The bundle lies in the cache, outside the project: named by model, not by machine path.
    assert reference["url"] == "hub-tiny/model.sig"
    assert reference["hashes"][0]["content"] == hashlib.sha256(files["model.sig"]).hexdigest()

    # What the gate hashed is the snapshot's files: one changed blob fails the claim, named.
    (snapshot / "config.json").resolve().write_text('{"hidden_size": 8}')

    result = pytester.runpytest_subprocess("--mlsupply", "-v")

    result.stdout.fnmatch_lines(
        [f"*{HUB_LINE}*FAILED*", "*MLS-SIG-004*config.json changed since it was signed*"]
    )
    assert result.ret == 1
