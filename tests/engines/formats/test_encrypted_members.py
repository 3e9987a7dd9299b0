"""Password-protected archive members stay high findings, and say how to scan them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from pytest_mlsupply.engines.scanner import scan_file
from pytest_mlsupply.results import Finding, Severity
from tests.corpus import system_call
from tests.corpus.encrypted_archives import PASSWORD, seven_zip_with_password, zipcrypto_zip


def encrypted(tmp_path: Path, name: str, data: bytes) -> list[Finding]:
    path = tmp_path / name
    path.write_bytes(data)
    report = scan_file(path, name)
    return [f for f in report.findings if f.rule == "MLS-ARC-007"]


def test_the_zipcrypto_member_is_real_and_readable_with_its_password(tmp_path: Path) -> None:
    data = zipcrypto_zip("model.pkl", b"weights")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.read("model.pkl", pwd=PASSWORD) == b"weights"


def test_a_zipcrypto_member_is_high_and_names_the_member_and_the_cipher(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    [finding] = encrypted(tmp_path, "bundle.zip", zipcrypto_zip("model.pkl", system_call(canary)))
    assert finding.severity == Severity.HIGH
    assert finding.location.key_path == "model.pkl"
    assert "'model.pkl'" in finding.evidence
    assert "ZipCrypto" in finding.evidence
    assert not canary.exists()


def test_the_remediation_says_how_to_scan_the_member(tmp_path: Path) -> None:
    [finding] = encrypted(tmp_path, "bundle.zip", zipcrypto_zip("model.pkl", b"x" * 40))
    assert "'model.pkl'" in finding.remediation
    assert "unzip bundle.zip -d extracted/" in finding.remediation
    assert "mlsupply scan extracted/" in finding.remediation
    assert "unencrypted" in finding.remediation


def test_each_member_of_a_password_protected_7z_is_high_with_the_7z_command(
    tmp_path: Path,
) -> None:
    members = [("model.pkl", b"a" * 64), ("config.json", b"{}")]
    found = encrypted(
        tmp_path, "weights.7z", seven_zip_with_password(members, encrypt_headers=False)
    )
    assert {f.location.key_path for f in found} == {"model.pkl", "config.json"}
    assert all(f.severity == Severity.HIGH for f in found)
    assert all("7z x weights.7z -oextracted/" in f.remediation for f in found)


def test_a_7z_with_encrypted_headers_is_high_and_says_the_names_are_hidden_too(
    tmp_path: Path,
) -> None:
    data = seven_zip_with_password([("model.pkl", b"a" * 64)], encrypt_headers=True)
    [finding] = encrypted(tmp_path, "weights.7z", data)
    assert finding.severity == Severity.HIGH
    assert "headers" in finding.evidence
    assert "member names included" in finding.remediation
    assert "mlsupply scan extracted/" in finding.remediation
