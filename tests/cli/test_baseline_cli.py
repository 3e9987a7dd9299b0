"""`mlsupply baseline`: entries from a matrix JSON, kept decisions, dropped and kept stale entries,
placeholders, and bad input refused with the file and the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pytest_mlsupply.baseline import fingerprint, load_baseline, today_utc
from pytest_mlsupply.cli import main
from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import build_matrix, render_json
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity


def finding(rule: str, offset: int, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        category="pickle",
        title="a dangerous import",
        location=Location(file="tiny/model.pt", offset=offset),
    )


def write_matrix(path: Path, results: list[CheckResult], plan: list[PlannedItem]) -> Path:
    path.write_text(render_json(build_matrix(plan, results, Severity.HIGH), results))
    return path


PLAN = [
    PlannedItem(RowKind.ARTIFACT, "tiny/model.pt", ("scan",)),
    PlannedItem(RowKind.ARTIFACT, "tiny/other.pt", ("scan",)),
]


def run(tmp_path: Path, matrix: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["baseline", "--matrix", str(matrix), "--output", str(tmp_path / "baseline.yaml")])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def entries(tmp_path: Path) -> list[dict[str, object]]:
    document = yaml.safe_load((tmp_path / "baseline.yaml").read_text())
    return list(document["accepted"])


def test_each_warning_or_failure_becomes_an_entry_with_placeholders_and_info_does_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no mlsupply.yaml here: --matrix and --output are enough
    results = [
        CheckResult(
            RowKind.ARTIFACT,
            "tiny/model.pt",
            "scan",
            findings=[
                finding("MLS-PKL-001", 2),
                finding("MLS-PKL-003", 9, Severity.LOW),
                finding("MLS-PKL-009", 4, Severity.INFO),
            ],
        ),
        CheckResult(RowKind.ARTIFACT, "tiny/other.pt", "scan"),
    ]
    code, out = run(tmp_path, write_matrix(tmp_path / "m.json", results, PLAN), capsys)
    assert code == 0
    assert "2 entries (0 kept, 2 new, 0 removed)" in out
    assert "fill in reason, owner and expires" in out
    assert entries(tmp_path) == [
        {
            "rule": "MLS-PKL-001",
            "kind": "artifact",
            "subject": "tiny/model.pt",
            "check": "scan",
            "location": {"file": "tiny/model.pt", "offset": 2},
            # Bound to what was found: the finding's title and evidence.
            "fingerprint": fingerprint("a dangerous import", ""),
            "reason": "TODO",
            "owner": "TODO",
            "expires": "TODO",
        },
        {
            "rule": "MLS-PKL-003",
            "kind": "artifact",
            "subject": "tiny/model.pt",
            "check": "scan",
            "location": {"file": "tiny/model.pt", "offset": 9},
            # Bound to what was found: the finding's title and evidence.
            "fingerprint": fingerprint("a dangerous import", ""),
            "reason": "TODO",
            "owner": "TODO",
            "expires": "TODO",
        },
    ]
    # What it wrote reads back in the gate's own reader (placeholders aside).
    loaded = load_baseline(tmp_path / "baseline.yaml", today_utc(), lenient=True)
    assert [e.location.offset for e in loaded.entries] == [2, 9]


def test_a_rewrite_keeps_decisions_drops_fixed_findings_and_keeps_entries_of_checks_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = [
        CheckResult(
            RowKind.ARTIFACT,
            "tiny/model.pt",
            "scan",
            findings=[finding("MLS-PKL-001", 2), finding("MLS-PKL-002", 23)],
        ),
        CheckResult(
            RowKind.ARTIFACT, "tiny/other.pt", "scan", findings=[finding("MLS-PKL-001", 2)]
        ),
    ]
    run(tmp_path, write_matrix(tmp_path / "m.json", first, PLAN), capsys)
    written = tmp_path / "baseline.yaml"
    written.write_text(
        written.read_text()
        .replace("reason: TODO", "reason: SEC-12", 1)
        .replace("owner: TODO", "owner: alice", 1)
        .replace("expires: TODO", "expires: 2027-01-31", 1)
    )
    # MLS-PKL-002 is fixed (its check ran); other.pt's check was not run this time (-k).
    second = [
        CheckResult(RowKind.ARTIFACT, "tiny/model.pt", "scan", findings=[finding("MLS-PKL-001", 2)])
    ]
    code, out = run(tmp_path, write_matrix(tmp_path / "m.json", second, PLAN), capsys)
    assert code == 0
    assert "2 entries (2 kept, 0 new, 1 removed)" in out
    kept = entries(tmp_path)
    assert [(e["subject"], e["rule"]) for e in kept] == [
        ("tiny/model.pt", "MLS-PKL-001"),
        ("tiny/other.pt", "MLS-PKL-001"),
    ]
    assert kept[0]["reason"] == "SEC-12"
    assert str(kept[0]["expires"]) == "2027-01-31"
    assert kept[1]["owner"] == "TODO"  # still to decide: kept as it was


def test_a_missing_or_foreign_matrix_is_refused_naming_it_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = run(tmp_path, tmp_path / "absent.json", capsys)
    assert code == 2
    assert "absent.json: no matrix JSON; run the gate first (pytest --mlsupply)" in out

    (tmp_path / "bom.json").write_text(json.dumps({"bomFormat": "CycloneDX"}))
    code, out = run(tmp_path, tmp_path / "bom.json", capsys)
    assert code == 2
    assert "not a gate matrix" in out
    assert not (tmp_path / "baseline.yaml").exists()


def test_without_a_manifest_both_paths_are_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["baseline"]) == 2
    assert "no mlsupply.yaml here: pass --config PATH" in capsys.readouterr().err


def test_a_broken_existing_baseline_is_reported_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "baseline.yaml").write_text("version: 1\naccepted:\n  - {rule: [\n")
    code, out = run(tmp_path, write_matrix(tmp_path / "m.json", [], PLAN), capsys)
    assert code == 2
    assert "YAML syntax error" in out
    assert "rule: [" in (tmp_path / "baseline.yaml").read_text()
