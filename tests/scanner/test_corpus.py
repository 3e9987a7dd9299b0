"""Every corpus sample: malicious ones are real and flagged, benign ones stay clean."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlsupply.engines.scanner import ScanReport, scan_file
from pytest_mlsupply.results import Severity
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
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed; the loader cannot be run here")
    canary = tmp_path / "canary"
    artifact = sample.build(tmp_path / "artifact", canary)
    assert sample.victim is not None
    code = f"ARTIFACT = {str(artifact)!r}\nCANARY = {str(canary)!r}\n" + sample.victim
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=120)
    assert canary.exists(), f"{sample.name}: loading the sample did not run its payload"


def test_the_corpus_covers_at_least_60_malicious_and_30_benign_cases() -> None:
    assert len(MALICIOUS) >= 60
    assert len(BENIGN) >= 30
