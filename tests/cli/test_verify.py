"""``mlsupply verify``: a deploy step accepts exactly the bytes a passing gate attested.

The attestations are real: a gate run (``pytest --mlsupply --mlsupply-attest KEY``, in a
subprocess) on a project built in the test, once passing and once failing.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_mlsupply.cli import main
from pytest_mlsupply.verify import EXIT_FAILED, EXIT_OK, EXIT_UNREADABLE
from tests.attest_keys import write_keypair
from tests.conftest import Project, build_project, sha256_of, write_model


@dataclass(frozen=True)
class Gate:
    """A project after a gate run, with the keys that signed (and did not sign) it."""

    root: Path
    public: Path
    other_public: Path

    @property
    def attestation(self) -> Path:
        return self.root / "build" / "ml-bom.cdx.json.intoto.json"

    @property
    def bom(self) -> Path:
        return self.root / "build" / "ml-bom.cdx.json"

    @property
    def model(self) -> Path:
        return self.root / "models" / "tiny"

    def args(self, key: Path | None = None) -> list[str]:
        return ["verify", str(self.attestation), "--key", str(key or self.public)]

    def verify(self, *extra: str | Path, key: Path | None = None) -> int:
        return main([*self.args(key), *(str(e) for e in extra)])


def run_gate(
    root: Path,
    kind: str,
    *,
    tamper: bool = False,
    build: bool = True,
    options: tuple[str, ...] = (),
) -> Gate:
    project = build_project(root) if build else Project(root)
    if tamper:
        (project.model_dir / "model.safetensors").write_bytes(b"not the pinned weights")
    private, public = write_keypair(root / "keys", "gate", kind)
    _, other_public = write_keypair(root / "keys", "other", kind)
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--mlsupply"]
    completed = subprocess.run(
        [*command, f"--mlsupply-attest={private}", *options],
        cwd=root,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == (1 if tamper else 0), completed.stdout + completed.stderr
    return Gate(root, public, other_public)


@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    return run_gate(tmp_path_factory.mktemp("passed"), "ec")


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    return run_gate(tmp_path_factory.mktemp("failed"), "ed25519", tamper=True)


@pytest.fixture
def gate(passed: Gate, tmp_path: Path) -> Gate:
    """A private copy of the passing project, free to tamper with."""
    root = tmp_path / "project"
    shutil.copytree(passed.root, root, symlinks=True)
    return Gate(root, root / "keys" / "gate.pub", root / "keys" / "other.pub")


def test_the_attested_bom_and_model_directory_verify(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate.verify("--bom", gate.bom, gate.model) == EXIT_OK
    out = capsys.readouterr().out
    assert "signature: verified by 1 key(s)" in out
    assert f"OK {gate.model / 'config.json'} = tiny/config.json" in out
    assert "gate: pass" in out
    assert out.rstrip().endswith(f"verified: {gate.attestation}")


def test_a_single_model_file_verifies_by_its_name(gate: Gate) -> None:
    assert gate.verify(gate.model / "model.safetensors") == EXIT_OK


def test_the_models_parent_directory_verifies_with_model_names_as_paths(gate: Gate) -> None:
    assert gate.verify(gate.root / "models") == EXIT_OK


def test_a_renamed_file_with_attested_bytes_is_not_a_subject_under_its_new_name(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    renamed = tmp_path / "weights.bin"
    shutil.copy(gate.model / "model.safetensors", renamed)
    assert gate.verify(renamed) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"FAIL {renamed}: not a subject of the attestation" in out
    assert "its bytes are attested as tiny/model.safetensors, under another name" in out


def test_the_wrong_key_fails_the_signature_and_checks_nothing_else(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate.verify(gate.model, key=gate.other_public) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAIL signature: " in out
    assert "0 of the 1 signatures verified" in out
    assert "OK " not in out


def test_a_threshold_above_the_signatures_fails(gate: Gate) -> None:
    code = gate.verify("--key", gate.other_public, "--threshold", "2")
    assert code == EXIT_FAILED


def test_a_tampered_bom_fails_naming_it(gate: Gate, capsys: pytest.CaptureFixture[str]) -> None:
    gate.bom.write_text(gate.bom.read_text().replace("tiny-service", "evil-service"))
    assert gate.verify("--bom", gate.bom) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"FAIL --bom {gate.bom}: sha256 " in out
    assert "changed after the gate wrote it" in out


def test_a_changed_model_file_fails_naming_the_file_and_both_digests(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    config = gate.model / "config.json"
    config.write_text(json.dumps({"architectures": ["Evil"], "model_type": "bert"}))
    assert gate.verify(gate.model) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"FAIL {config}: changed: sha256 " in out
    assert "for tiny/config.json" in out
    assert f"OK {gate.model / 'model.safetensors'}" in out


def test_an_extra_file_that_is_not_a_subject_fails(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = gate.model / "tokenizer.json"
    extra.write_text('{"added": "after the gate"}')
    assert gate.verify(gate.model) == EXIT_FAILED
    assert f"FAIL {extra}: not a subject of the attestation" in capsys.readouterr().out


def test_a_failed_gate_fails_verification_unless_integrity_only_is_asked(
    failed: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert failed.verify(failed.bom, failed.model) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "gate: the attested session did not pass (verdict 'fail')" in out
    assert "tiny/model.safetensors [sha256]: fail" in out

    assert failed.verify("--allow-failed-gate", failed.bom, failed.model) == EXIT_OK


def test_a_tampered_envelope_payload_fails_the_signature(gate: Gate) -> None:
    envelope = json.loads(gate.attestation.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["gate"]["verdict"] = "pass"
    statement["subject"][0]["digest"]["sha256"] = "0" * 64
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    gate.attestation.write_text(json.dumps(envelope))

    assert gate.verify("--bom", gate.bom) == EXIT_FAILED


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    """A passing gate over two models whose files share names (config.json, README.md …);
    only ``tiny`` has a generation_config.json."""
    root = tmp_path_factory.mktemp("two")
    project = build_project(root)
    (project.model_dir / "generation_config.json").write_text('{"temperature": 0.1}')
    other = write_model(root / "models" / "other", seed=1)
    (other / "config.json").write_text(json.dumps({"architectures": ["Other"]}))
    pins = {m: sha256_of(root / "models" / m / "model.safetensors") for m in ("tiny", "other")}
    models = "".join(
        f"""
              - name: {m}
                path: models/{m}
                license: apache-2.0
                files:
                  model.safetensors: "sha256:{pin}"
        """
        for m, pin in pins.items()
    )
    project.manifest(
        f"""\
        version: 1
        project: {{name: tiny-service, version: 1.2.3}}
        models: {models}
        requirements:
          - file: requirements.txt
        vulnerabilities: {{service: offline, path: osv}}
        """
    )
    return run_gate(root, "ec", build=False)


@pytest.fixture
def two(two_models: Gate, tmp_path: Path) -> Gate:
    root = tmp_path / "project"
    shutil.copytree(two_models.root, root, symlinks=True)
    return Gate(root, root / "keys" / "gate.pub", root / "keys" / "other.pub")


def test_each_of_two_models_with_files_of_the_same_names_verifies_under_its_directory(
    two: Gate,
) -> None:
    models = two.root / "models"
    assert two.verify("--bom", two.bom, models / "tiny", models / "other", models) == EXIT_OK
    assert two.verify(models / "other" / "config.json") == EXIT_OK


def test_another_models_file_dropped_into_a_model_directory_is_not_a_subject(
    two: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    dropped = two.root / "models" / "other" / "generation_config.json"
    shutil.copy(two.root / "models" / "tiny" / "generation_config.json", dropped)
    assert two.verify(two.root / "models" / "other") == EXIT_FAILED
    assert f"FAIL {dropped}: not a subject of the attestation" in capsys.readouterr().out


def test_an_attested_file_copied_under_a_name_the_gate_never_saw_is_not_a_subject(
    two: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    # Bytes the gate attested as tiny/config.json, under a name that makes a loader treat
    # the model as an adapter: the gate never judged a file by that name.
    adapter = two.root / "models" / "other" / "adapter_config.json"
    shutil.copy(two.root / "models" / "tiny" / "config.json", adapter)
    assert two.verify(two.root / "models" / "other") == EXIT_FAILED
    assert f"FAIL {adapter}: not a subject of the attestation" in capsys.readouterr().out


def test_a_directory_named_like_no_model_cannot_mix_two_models_files(
    two: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy = tmp_path / "deploy"
    shutil.copytree(two.root / "models" / "other", deploy)
    shutil.copy(two.root / "models" / "tiny" / "config.json", deploy / "config.json")
    assert two.verify(deploy) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"FAIL {deploy}: its files are named like the files of several attested models" in out
    assert "(other, tiny)" in out


def test_a_lone_file_whose_name_fits_two_models_files_is_ambiguous(
    two: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swapped = tmp_path / "config.json"
    shutil.copy(two.root / "models" / "tiny" / "config.json", swapped)
    assert two.verify(swapped) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "its name fits several attested files with different contents" in out
    assert "(other/config.json, tiny/config.json)" in out


def test_a_model_directory_missing_an_attested_file_fails_naming_it(
    two: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    model = two.root / "models" / "tiny"
    (model / "generation_config.json").unlink()
    assert two.verify(model) == EXIT_FAILED
    out = capsys.readouterr().out
    assert f"FAIL {model / 'generation_config.json'}: missing: the gate attested " in out
    assert "tiny/generation_config.json" in out


def test_an_empty_directory_proves_nothing_and_fails(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "tiny"
    empty.mkdir()
    assert gate.verify(empty) == EXIT_FAILED
    assert f"FAIL {empty}: no files under it" in capsys.readouterr().out


def test_a_model_directory_verifies_beside_the_bookkeeping_the_gate_skips_and_a_cycle(
    gate: Gate,
) -> None:
    # A git clone of a Hub model holds .git; the gate does not check it, nor walk a cycle.
    (gate.model / ".git").mkdir()
    (gate.model / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (gate.model / "loop").symlink_to(".")
    assert gate.verify(gate.model) == EXIT_OK


def test_a_compiled_module_in_pycache_is_not_waved_through_with_the_bookkeeping(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    # Python imports an unchecked-hash .pyc without reading the source the gate checked.
    pyc = gate.model / "__pycache__" / "modeling_tiny.cpython-312.pyc"
    pyc.parent.mkdir()
    pyc.write_bytes(b"\xcb\x0d\x0d\x0a\x03\x00\x00\x00" + b"\x00" * 8)
    assert gate.verify(gate.model) == EXIT_FAILED
    assert f"FAIL {pyc}: not a subject of the attestation" in capsys.readouterr().out


@pytest.fixture(scope="module")
def weakened(tmp_path_factory: pytest.TempPathFactory) -> Gate:
    """A manifest failing at medium (its two medium dependency findings fail it), gated with
    ``--mlsupply-fail-on high``: the run exits 0 without the manifest's policy applied."""
    root = tmp_path_factory.mktemp("weakened")
    build_project(root).default_manifest(top="policy: {fail_on: medium}")
    return run_gate(root, "ec", build=False, options=("--mlsupply-fail-on=high",))


def test_a_gate_run_with_a_threshold_weaker_than_its_manifests_fails_verification(
    weakened: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert weakened.verify("--bom", weakened.bom, weakened.model) == EXIT_FAILED
    out = capsys.readouterr().out
    assert "gate: pass (exit status 0, fail at high (manifest: medium))" in out
    assert "FAIL gate: it failed only at high and above, weaker than its manifest's " in out

    assert weakened.verify("--allow-weaker-threshold", weakened.model) == EXIT_OK
    statement = json.loads(
        base64.b64decode(json.loads(weakened.attestation.read_text())["payload"])
    )
    gate = statement["predicate"]["gate"]
    assert (gate["threshold"], gate["manifestThreshold"]) == ("high", "medium")


def test_a_threshold_stricter_than_the_manifests_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_project(tmp_path).default_manifest(top="policy: {fail_on: critical}")
    strict = run_gate(tmp_path, "ec", build=False, options=("--mlsupply-fail-on=high",))
    assert strict.verify(strict.model) == EXIT_OK
    assert "gate: pass (exit status 0, fail at high (manifest: critical))" in (
        capsys.readouterr().out
    )


def test_a_declared_but_unchecked_key_is_in_the_predicate_and_printed_by_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_project(tmp_path).default_manifest(top="monitor: {orgs: [acme]}")
    gate = run_gate(tmp_path, "ec", build=False)
    assert gate.verify(gate.model) == EXIT_OK
    assert "declared, not checked (the pass does not cover it): monitor" in capsys.readouterr().out
    statement = json.loads(base64.b64decode(json.loads(gate.attestation.read_text())["payload"]))
    assert [d["key"] for d in statement["predicate"]["declaredNotChecked"]] == ["monitor"]


def test_json_output_lists_every_file_with_its_status(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    (gate.model / "extra.txt").write_text("not attested\n")
    assert main([*gate.args(), "--format", "json", str(gate.model)]) == EXIT_FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["signature"]["verified"] is True
    assert report["gate"]["verdict"] == "pass"
    statuses = {Path(f["path"]).name: f["status"] for f in report["files"]}
    assert statuses == {
        "README.md": "ok",
        "config.json": "ok",
        "extra.txt": "not-a-subject",
        "model.safetensors": "ok",
    }


def test_an_unreadable_attestation_or_key_exits_two(gate: Gate, tmp_path: Path) -> None:
    missing = tmp_path / "absent.json"
    assert main(["verify", str(missing), "--key", str(gate.public)]) == EXIT_UNREADABLE
    assert gate.verify(key=tmp_path / "absent.pub") == EXIT_UNREADABLE
    assert gate.verify(tmp_path / "no-such-model") == EXIT_UNREADABLE


def test_an_envelope_of_another_predicate_is_refused(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_mlsupply.engines.dsse import load_signer, sign_statement

    other = tmp_path / "slsa.intoto.json"
    other.write_bytes(
        sign_statement(
            {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [{"name": "x", "digest": {"sha256": "a" * 64}}],
                "predicateType": "https://slsa.dev/provenance/v1",
                "predicate": {},
            },
            [load_signer(gate.root / "keys" / "gate.key")],
        )
    )
    assert main(["verify", str(other), "--key", str(gate.public)]) == EXIT_FAILED
    assert "is not a pytest-mlsupply gate attestation" in capsys.readouterr().out


def sigstore_trust_config(directory: Path) -> Path:
    """A ClientTrustConfig from the trusted root sigstore ships as package data (no TUF fetch)."""
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


def as_sigstore_bundle(gate: Gate, tmp_path: Path) -> Path:
    """The gate's envelope in a Sigstore bundle that names a key, not a Fulcio certificate."""
    envelope = json.loads(gate.attestation.read_text())
    bundle = tmp_path / "gate.sigstore.json"
    bundle.write_text(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                "verificationMaterial": {"publicKey": {"hint": "gate"}, "tlogEntries": []},
                "dsseEnvelope": envelope,
            }
        )
    )
    return bundle


def test_a_sigstore_bundle_needs_the_identity_and_issuer_it_must_name(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = as_sigstore_bundle(gate, tmp_path)
    assert main(["verify", str(bundle), gate.bom.as_posix()]) == EXIT_UNREADABLE
    assert "is a Sigstore bundle: pass --identity and --issuer" in capsys.readouterr().out


def test_a_sigstore_bundle_without_a_fulcio_certificate_fails_against_a_local_trusted_root(
    gate: Gate, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = as_sigstore_bundle(gate, tmp_path)
    trust = sigstore_trust_config(tmp_path)
    identity = ["--identity", "https://github.com/acme/service/.github/workflows/gate.yml@v1"]
    issuer = ["--issuer", "https://token.actions.githubusercontent.com"]
    options = [*identity, *issuer, "--trust-config", str(trust), "--format", "json"]
    code = main(["verify", str(bundle), *options, str(gate.bom)])
    assert code == EXIT_FAILED
    report = json.loads(capsys.readouterr().out)
    assert report["signature"]["verified"] is False
    assert "expected certificate in bundle" in report["signature"]["error"]
    assert report["files"] == []  # nothing is checked against an unverified statement


def test_an_envelope_without_a_key_is_a_usage_error(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", str(gate.attestation), str(gate.bom)]) == EXIT_UNREADABLE
    assert "pass the public key(s) with --key PUB" in capsys.readouterr().out


def test_two_distinct_signers_meet_a_threshold_of_two(gate: Gate, tmp_path: Path) -> None:
    from pytest_mlsupply.engines.dsse import load_signer, sign_statement

    statement = json.loads(base64.b64decode(json.loads(gate.attestation.read_text())["payload"]))
    signers = [load_signer(gate.root / "keys" / f"{name}.key") for name in ("gate", "other")]
    cosigned = tmp_path / "cosigned.intoto.json"
    cosigned.write_bytes(sign_statement(statement, signers))
    keys = ["--key", str(gate.public), "--key", str(gate.other_public)]

    assert main(["verify", str(cosigned), *keys, "--threshold", "2", str(gate.bom)]) == EXIT_OK
    # The same key twice is one key: it cannot meet a threshold of two on its own.
    same = ["--key", str(gate.public), "--key", str(gate.public)]
    assert main(["verify", str(cosigned), *same, "--threshold", "2"]) == EXIT_FAILED


def test_an_attestation_checked_against_no_bytes_at_all_does_not_verify(
    gate: Gate, capsys: pytest.CaptureFixture[str]
) -> None:
    # A valid signature over a passing gate says nothing about what is about to be deployed.
    assert main(["verify", str(gate.attestation), "--key", str(gate.public)]) == EXIT_FAILED
    assert "nothing was compared with the attested digests" in capsys.readouterr().out
