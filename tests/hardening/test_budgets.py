"""policy.limits: each file is scanned under time and memory budgets; past one, a finding names it.

The inputs are built here, small where possible: a pickle of ten million opcodes (10 MB, two bytes
an opcode), a memo of a million entries (2 MB). The budgets are lowered per test so that each
trips in a fraction of a second; what is asserted is the verdict, never a duration.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.checks.artifact_scan import scan_policy
from pytest_mlsupply.cli import EXIT_FINDINGS, main
from pytest_mlsupply.engines.budget import BudgetExceeded, ScanGuard, ScanLimits
from pytest_mlsupply.engines.scanner import ScanPolicy, ScanReport, scan_file
from pytest_mlsupply.manifest.loader import ManifestError, load_manifest
from pytest_mlsupply.manifest.model import Policy
from pytest_mlsupply.results import Severity
from tests.conftest import Project

#: PROTO 2, then NONE POP pairs: ten million opcodes that do nothing, then NONE STOP.
TEN_MILLION_OPCODES = b"\x80\x02" + b"N0" * 5_000_000 + b"N."
#: PROTO 4, then NONE MEMOIZE POP: a memo of a million entries (and an empty stack).
MILLION_MEMO_ENTRIES = b"\x80\x04" + b"N\x940" * 1_000_000 + b"N."
#: PROTO 2, GLOBAL 'os system', SHORT_BINUNICODE 'true', TUPLE1, REDUCE, POP: a payload first.
OS_SYSTEM_CALL = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00true\x85R0"


def scan(path: Path, **limits: Any) -> ScanReport:
    return scan_file(path, path.name, ScanPolicy(limits=ScanLimits(**limits)))


def rules(report: ScanReport) -> set[str]:
    return {finding.rule for finding in report.findings}


def test_a_ten_million_opcode_pickle_stops_at_the_time_budget_with_a_finding_and_an_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ops.pkl"
    path.write_bytes(TEN_MILLION_OPCODES)
    report = scan(path, scan_seconds=0.1)
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-001"]
    assert finding.severity is Severity.HIGH
    assert finding.cwe == "CWE-400"
    assert "policy.limits.scan_seconds is 0.1" in finding.evidence
    assert finding.evidence.startswith("scan stopped after ")
    assert "policy.limits.scan_seconds" in finding.remediation
    # And an error: the check fails closed whatever fail_on says, and the report is not cached.
    assert any("policy.limits.scan_seconds is 0.1" in error for error in report.errors)
    # The one error of the stop, not a second one claiming the pickle is invalid.
    assert not any("not a valid pickle" in error for error in report.errors)


def test_a_scan_that_ran_past_its_time_budget_where_no_checkpoint_looked_still_fails(
    tmp_path: Path,
) -> None:
    # A one-tensor safetensors file makes too few checks for the clock to be read (it is read
    # every 64): the budget is judged again at the scan's end, so where an engine was slow, or
    # how seldom it checked, cannot turn an over-budget scan into a pass.
    import numpy
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file({"w": numpy.zeros((2, 2), dtype=numpy.float32)}, str(path))
    assert "MLS-LIM-001" not in rules(scan(path))
    report = scan(path, scan_seconds=1e-9)
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-001"]
    assert finding.evidence.startswith("scan took ")
    assert "policy.limits.scan_seconds is 1e-09" in finding.evidence
    assert report.errors


def test_a_million_entry_memo_stops_at_the_memory_budget(tmp_path: Path) -> None:
    path = tmp_path / "memo.pkl"
    path.write_bytes(MILLION_MEMO_ENTRIES)
    report = scan(path, scan_memory_mb=16)
    assert "MLS-LIM-002" in rules(report)
    assert "MLS-LIM-001" not in rules(report)
    [finding] = [f for f in report.findings if f.rule == "MLS-LIM-002"]
    assert "policy.limits.scan_memory_mb is 16" in finding.evidence
    assert "policy.limits.scan_memory_mb" in finding.remediation
    assert report.errors


def test_a_memo_within_the_memory_budget_is_scanned_to_its_end(tmp_path: Path) -> None:
    # 100,000 entries at 128 bytes each are 12 MiB, under 16: the accounting is deterministic.
    path = tmp_path / "memo.pkl"
    path.write_bytes(b"\x80\x04" + b"N\x940" * 100_000 + b"N.")
    report = scan(path, scan_memory_mb=16)
    assert report.findings == []
    assert report.errors == []


def test_findings_made_before_the_budget_stopped_the_scan_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "payload.pkl"
    path.write_bytes(OS_SYSTEM_CALL + b"N0" * 5_000_000 + b"N.")
    report = scan(path, scan_seconds=0.1)
    assert "MLS-LIM-001" in rules(report)
    assert "MLS-PKL-001" in rules(report)  # os.system, found before the stop


def test_an_archive_scan_stops_at_the_time_budget_between_members(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("0.pkl", OS_SYSTEM_CALL + b"N.")
        for i in range(1, 4):
            archive.writestr(f"{i}.pkl", TEN_MILLION_OPCODES)
    report = scan(path, scan_seconds=0.1)
    assert {"MLS-LIM-001", "MLS-PKL-001"} <= rules(report)
    # Reported once for the artifact, however many members were cut short.
    assert sum(f.rule == "MLS-LIM-001" for f in report.findings) == 1
    assert sum("policy.limits.scan_seconds" in e for e in report.errors) == 1


def test_once_exceeded_a_guard_refuses_every_later_checkpoint() -> None:
    guard = ScanGuard(ScanLimits(scan_memory_mb=1))
    with pytest.raises(BudgetExceeded) as first:
        guard.check(held=2 << 20)
    assert first.value.budget == "scan_memory_mb"
    with pytest.raises(BudgetExceeded):
        guard.check()  # nothing held now: still stopped, so the engines above unwind
    assert guard.poll()


def test_members_being_scanned_count_against_the_memory_budget() -> None:
    guard = ScanGuard(ScanLimits(scan_memory_mb=1))
    with guard.holding(600 << 10):
        guard.check(held=300 << 10)  # 900 KiB in all: within
        with pytest.raises(BudgetExceeded):
            guard.check(held=600 << 10)


# --- the manifest ---------------------------------------------------------------------------


def write_manifest(tmp_path: Path, limits: str) -> Path:
    path = tmp_path / "mlsupply.yaml"
    path.write_text(f"version: 1\npolicy:\n  limits:\n{limits}")
    return path


def test_policy_limits_default_to_the_documented_values(tmp_path: Path) -> None:
    limits = load_manifest(write_manifest(tmp_path, "    {}\n")).policy.limits
    assert limits == ScanLimits()
    assert (limits.scan_seconds, limits.scan_memory_mb) == (120.0, 4096)
    assert (limits.max_member_bytes, limits.max_total_bytes) == (1 << 30, 8 << 30)
    assert (limits.max_ratio, limits.max_members, limits.max_depth) == (250.0, 100_000, 6)


def test_policy_limits_reach_the_scanner_policy(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path, "    scan_seconds: 2.5\n    scan_memory_mb: 64\n    max_members: 10\n"
    )
    limits = scan_policy(load_manifest(manifest).policy).limits
    assert (limits.scan_seconds, limits.scan_memory_mb, limits.max_members) == (2.5, 64, 10)
    assert limits.max_depth == ScanLimits().max_depth


@pytest.mark.parametrize(
    ("line", "message", "fix"),
    [
        ("scan_seconds: 0", "expected a number above 0", "write a number above 0"),
        ("scan_seconds: -1.5", "expected a number above 0", "default (120.0)"),
        ("scan_memory_mb: 1.5", "expected a whole number above 0", "default (4096)"),
        ("max_members: lots", "expected a whole number above 0", "write a whole number"),
        ("max_ratio: .inf", "must be finite", "write a number above 0"),
        ("max_dpth: 3", "unknown key 'max_dpth'", "did you mean 'max_depth'?"),
    ],
)
def test_a_bad_limit_is_a_manifest_error_naming_the_key_and_the_fix(
    tmp_path: Path, line: str, message: str, fix: str
) -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(write_manifest(tmp_path, f"    {line}\n"))
    key = line.split(":", 1)[0]
    [problem] = raised.value.problems
    assert problem.key_path == f"policy.limits.{key}"
    assert message in problem.message
    assert fix in problem.fix


def test_the_limits_are_part_of_the_content_cache_key() -> None:
    from pytest_mlsupply.checks.content import _scan_key

    default = _scan_key("m/x.pkl", scan_policy(Policy()))
    tighter = _scan_key("m/x.pkl", scan_policy(Policy(limits=ScanLimits(max_members=10))))
    assert default != tighter


# --- every way in ---------------------------------------------------------------------------


def test_mlsupply_scan_with_config_applies_the_manifests_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "memo.pkl").write_bytes(MILLION_MEMO_ENTRIES)
    config = tmp_path / "mlsupply.yaml"
    config.write_text("version: 1\npolicy: {pickle_formats: scan, limits: {scan_memory_mb: 16}}\n")
    code = main(
        ["scan", "--no-cache", "--format", "json", "--config", str(config), str(tmp_path / "m")]
    )
    assert code == EXIT_FINDINGS
    report = json.loads(capsys.readouterr().out)
    [scanned] = [r for r in report["results"] if r["check"] == "scan"]
    assert scanned["verdict"] == "fail"  # findings outrank the error; both are reported
    assert {f["rule"] for f in scanned["findings"]} == {"MLS-LIM-002"}
    assert "policy.limits.scan_memory_mb is 16" in scanned["error"]


def test_the_gate_fails_a_file_past_its_budget_and_scans_it_again_next_run(
    pytester: pytest.Pytester, project: Project
) -> None:
    (project.model_dir / "memo.pkl").write_bytes(MILLION_MEMO_ENTRIES)
    project.default_manifest(top="policy: {pickle_formats: scan, limits: {scan_memory_mb: 16}}")
    for _ in range(2):  # the second run does not take a cached pass: the report had an error
        result = pytester.runpytest("--mlsupply", "-k", "memo.pkl and scan")
        assert result.ret != 0
        result.stdout.fnmatch_lines(["*MLS-LIM-002*"])
