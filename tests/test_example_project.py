"""The shipped example project passes the gate offline (its signed model included), and one
dropped pickle, or one changed byte under the signature, fails it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "example_project"
SIGN_SCRIPT = REPO / "scripts" / "sign_example_model.py"


def run_gate(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--mlsupply", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        # The example is judged on what it declares: this machine's own pip configuration
        # (an /etc/pip.conf with extra indexes) would add `confusion` warnings of its own.
        # PYTHONPATH: the plugin of this checkout, not whichever one is installed.
        env={
            "PATH": "/usr/bin:/bin",
            "HF_HUB_OFFLINE": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PYTHONPATH": str(REPO),
        },
    )


@pytest.fixture
def example(tmp_path: Path) -> Path:
    target = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("build", "__pycache__"))
    return target


def test_the_example_project_passes_the_gate_offline(example: Path) -> None:
    result = run_gate(example, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 fail, 0 warn, 0 error, 0 not run" in result.stdout
    # The shipped model is signed with the demonstration key, and the gate verified it.
    assert "mlsupply.yaml::provenance[sentiment::signature] PASSED" in result.stdout
    bom = json.loads((example / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c.get("bom-ref") == "model:sentiment"]
    verdicts = {p["name"]: p["value"] for p in model["properties"]}
    assert verdicts["mlsupply:provenance:signature"] == "pass"
    assert verdicts["mlsupply:provenance:model-card"] == "pass"
    assert verdicts["mlsupply:provenance:promotion"] == "pass"
    (reference,) = [r for r in model["externalReferences"] if r["type"] == "digital-signature"]
    assert reference["url"] == "models/sentiment/model.sig"
    # Its own code passes the code checks, the one suppressed finding accepted with its reason.
    assert "mlsupply.yaml::code[sentiment_service/service.py] PASSED" in result.stdout
    assert "mlsupply.yaml::code[src/batch/loaders.py] PASSED" in result.stdout
    (loaders,) = [c for c in bom["components"] if c.get("bom-ref") == "code:src/batch/loaders.py"]
    code_verdicts = {p["name"]: p["value"] for p in loaders["properties"]}
    assert code_verdicts["mlsupply:check:code"] == "accepted"
    assert "our own 2023 head, pinned in release/" in code_verdicts["mlsupply:accepted:code"]


def test_removing_the_suppression_comment_fails_the_loaders_item(example: Path) -> None:
    loaders = example / "src" / "batch" / "loaders.py"
    text = loaders.read_text()
    loaders.write_text(text.replace("  # mlsupply: ignore[MLS-LOAD-001] --", "  # was:"))

    result = run_gate(example, "-k", "code")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED mlsupply.yaml::code[src/batch/loaders.py]" in result.stdout
    assert "MLS-LOAD-001" in result.stdout


def test_dropping_a_pickle_into_the_model_fails_the_gate_with_a_clear_finding(
    example: Path,
) -> None:
    (example / "models" / "sentiment" / "extra.bin").write_bytes(
        b"\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
    )
    result = run_gate(example)
    assert result.returncode == 1
    assert "artifact[sentiment/extra.bin::format]" in result.stdout
    assert "MLS-FMT-001 unsafe serialisation format: pickle" in result.stdout
    # Nobody signed the dropped file: the signature claim names it as well.
    assert "MLS-SIG-006 extra.bin is not covered by the signature" in result.stdout


def test_one_changed_byte_under_the_signature_fails_the_signature_claim(example: Path) -> None:
    # config.json carries no sha256 pin in the manifest: only the signature protects it. The
    # value changed is one the service never reads, so its own tests still pass.
    config = example / "models" / "sentiment" / "config.json"
    original = config.read_bytes()
    config.write_bytes(original.replace(b'"initializer_range": 0.02', b'"initializer_range": 0.03'))
    assert config.read_bytes() != original

    result = run_gate(example, "-v")

    assert result.returncode == 1
    assert "mlsupply.yaml::provenance[sentiment::signature] FAILED" in result.stdout
    assert "MLS-SIG-004 config.json changed since it was signed" in result.stdout
    assert "1 fail, 0 warn, 0 error" in result.stdout


def test_the_documented_one_line_change_to_the_evaluation_fails_the_promotion_claim(
    example: Path,
) -> None:
    evaluation = example / "release" / "eval.yaml"
    evaluation.write_text(evaluation.read_text().replace("accuracy: 0.95", "accuracy: 0.85"))

    result = run_gate(example, "-v")

    assert result.returncode == 1
    assert "mlsupply.yaml::provenance[sentiment::promotion] FAILED" in result.stdout
    assert "MLS-PROM-005 evaluation metric misses its threshold" in result.stdout
    assert "1 fail, 0 warn, 0 error" in result.stdout
    bom = json.loads((example / "build" / "ml-bom.cdx.json").read_text())
    (model,) = [c for c in bom["components"] if c.get("bom-ref") == "model:sentiment"]
    verdicts = {p["name"]: p["value"] for p in model["properties"]}
    assert verdicts["mlsupply:provenance:promotion"] == "fail"


def test_the_documented_one_line_change_to_the_card_fails_the_model_card_claim(
    example: Path,
) -> None:
    card = example / "models" / "sentiment" / "README.md"
    lines = card.read_text().splitlines(keepends=True)
    card.write_text("".join(line for line in lines if not line.startswith("base_model:")))

    result = run_gate(example, "-v")

    assert result.returncode == 1
    assert "mlsupply.yaml::provenance[sentiment::model-card] FAILED" in result.stdout
    assert "MLS-CARD-002 model card lacks required field 'base_model'" in result.stdout
    # The card is a signed file of the model: editing it is a change the signature names.
    assert "mlsupply.yaml::provenance[sentiment::signature] FAILED" in result.stdout


def run_sign_script(model: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SIGN_SCRIPT), "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )


def test_re_running_the_signing_script_on_the_unchanged_model_keeps_the_committed_bundle(
    example: Path,
) -> None:
    # ECDSA signatures are randomised: re-signing unchanged files would rewrite model.sig.
    bundle = example / "models" / "sentiment" / "model.sig"
    committed = bundle.read_bytes()

    result = run_sign_script(bundle.parent)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "already verifies" in result.stdout
    assert bundle.read_bytes() == committed


def test_the_signing_script_re_signs_a_changed_model_so_that_it_verifies_again(
    example: Path,
) -> None:
    from pytest_mlsupply.engines import model_signature

    model = example / "models" / "sentiment"
    (model / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    public = example / "keys" / "demo-signing-key.pub"
    before = model_signature.verify(model, model / "model.sig", "public-key", public_key=public)
    assert [(m.kind, m.file) for m in before.mismatches] == [("changed", "tokenizer_config.json")]

    result = run_sign_script(model)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "re-signing: changed: tokenizer_config.json" in result.stdout
    after = model_signature.verify(model, model / "model.sig", "public-key", public_key=public)
    assert after.verified


def test_the_example_dataset_passes_its_claim_and_is_a_data_component_of_the_bom(
    example: Path,
) -> None:
    result = run_gate(example, "-v", "-k", "reviews")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlsupply.yaml::provenance[reviews::dataset] PASSED" in result.stdout
    bom = json.loads((example / "build" / "ml-bom.cdx.json").read_text())
    (dataset,) = [c for c in bom["components"] if c.get("bom-ref") == "dataset:reviews"]
    assert {p["name"]: p["value"] for p in dataset["properties"]}["mlsupply:rows"] == "20"
    assert dataset["data"][0]["classification"] == "pii:none"
    assert dataset["data"][0]["governance"]["owners"] == [
        {"organization": {"name": "Acme ML Platform"}}
    ]


def test_one_relabelled_review_fails_the_dataset_claim_against_its_pin(example: Path) -> None:
    data = example / "data" / "reviews" / "reviews.csv"
    data.write_text(data.read_text().replace("POSITIVE", "NEGATIVE", 1))
    result = run_gate(example, "-k", "reviews")
    assert result.returncode == 1
    assert "provenance[reviews::dataset]" in result.stdout
    assert "MLS-DATA-004 dataset file differs from its pin" in result.stdout
