"""Every corpus sample: malicious ones are real and flagged, benign ones stay clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlsupply.engines.formats.torch_weights_only import TORCH_SUFFIXES
from pytest_mlsupply.engines.scanner import ScanReport, scan_file
from pytest_mlsupply.results import Severity
from tests.conftest import require
from tests.corpus import Sample, all_samples

SAMPLES = all_samples()
MALICIOUS = [s for s in SAMPLES if s.malicious]
BENIGN = [s for s in SAMPLES if not s.malicious]


def scan_path(path: Path) -> ScanReport:
    """Scan a file, or every file below a directory (repository-level samples)."""
    if path.is_file():
        return scan_file(path, path.name)
    findings, errors, formats = [], [], {}
    for file in sorted(p for p in path.rglob("*") if p.is_file() or p.is_symlink()):
        report = scan_file(file, file.relative_to(path).as_posix())
        findings += report.findings
        errors += report.errors
        formats.update(report.formats)
    return ScanReport(findings=findings, errors=errors, formats=formats)


@pytest.mark.parametrize("sample", MALICIOUS, ids=lambda s: s.name)
def test_a_malicious_sample_is_flagged_at_high_or_above(sample: Sample, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    artifact = sample.build(tmp_path / "artifact", canary)
    report = scan_path(artifact)
    blocking = {f.rule for f in report.findings if f.severity >= Severity.HIGH}
    assert blocking & set(sample.rules), (
        f"{sample.name}: expected one of {sample.rules}, got {sorted(blocking)}; "
        f"errors: {report.errors}"
    )
    assert not canary.exists(), "scanning must never run the payload"


@pytest.mark.parametrize("sample", BENIGN, ids=lambda s: s.name)
def test_a_benign_sample_stays_clean(sample: Sample, tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    artifact = sample.build(tmp_path / "artifact", canary)
    report = scan_path(artifact)
    blocking = [f.render() for f in report.findings if f.severity >= Severity.HIGH]
    assert not blocking, f"{sample.name}: false alarm:\n" + "\n".join(blocking)
    assert not report.errors, f"{sample.name}: {report.errors}"


PROVABLE = [s for s in MALICIOUS if s.victim is not None]


@pytest.mark.parametrize("sample", PROVABLE, ids=lambda s: s.name)
def test_a_malicious_sample_is_real_its_loader_runs_the_payload(
    sample: Sample, tmp_path: Path
) -> None:
    for module in sample.requires:
        require(module)
    canary = tmp_path / "canary"
    artifact = sample.build(tmp_path / "artifact", canary)
    assert sample.victim is not None
    code = f"ARTIFACT = {str(artifact)!r}\nCANARY = {str(canary)!r}\n" + sample.victim
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=120)
    assert canary.exists(), f"{sample.name}: loading the sample did not run its payload"


def test_the_corpus_covers_at_least_60_malicious_and_30_benign_cases() -> None:
    assert len(MALICIOUS) >= 60
    assert len(BENIGN) >= 30


TORCH_PROVABLE = [s for s in PROVABLE if s.victim is not None and "torch.load(" in s.victim]


def test_every_torch_victim_says_which_weights_only_it_needs() -> None:
    assert TORCH_PROVABLE
    for sample in TORCH_PROVABLE:
        assert sample.victim is not None
        assert "weights_only=" in sample.victim, sample.name


@pytest.mark.parametrize("sample", TORCH_PROVABLE, ids=lambda s: s.name)
def test_torch_loads_default_runs_a_payload_exactly_when_the_findings_say_so(
    sample: Sample, tmp_path: Path
) -> None:
    require("torch")
    if not any(rule.startswith("MLS-PKL-") for rule in sample.rules):
        return  # a structural finding (two archives in one file) claims nothing of weights_only
    canary = tmp_path / "canary"
    artifact = sample.build(tmp_path / "artifact", canary)
    report = scan_path(artifact)
    notes = [
        f.evidence
        for f in report.findings
        if f.rule in sample.rules and f.severity >= Severity.HIGH and "weights_only" in f.evidence
    ]
    if not notes:
        # Only checkpoints (by format, or by a name torch.load is pointed at) get the note.
        assert not artifact.name.endswith(TORCH_SUFFIXES), artifact.name
        assert not {"pytorch-zip", "pytorch-legacy"} & set(report.formats.values())
        return
    said_to_run = any("does not stop this" in note for note in notes)
    assert sample.victim is not None
    default_load = sample.victim.replace("weights_only=False", "weights_only=True")
    code = f"ARTIFACT = {str(artifact)!r}\nCANARY = {str(canary)!r}\n" + default_load
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=120)
    assert canary.exists() == said_to_run, notes
