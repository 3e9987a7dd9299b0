"""``mlsupply scan``: the plugin's artifact checks outside pytest, with meaningful exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mlsupply.cli import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, main
from tests.conftest import write_data_pickle, write_model, write_pickle_payload


def test_a_clean_model_directory_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    assert main(["scan", str(tmp_path / "m")]) == EXIT_CLEAN
    assert "0 fail, 0 warn, 0 error" in capsys.readouterr().out


def test_a_pickle_exits_one_and_prints_the_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    write_pickle_payload(tmp_path / "m" / "extra.bin")
    assert main(["scan", str(tmp_path / "m")]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "FAIL m/extra.bin [format]" in out
    assert "MLS-FMT-001" in out


def test_a_path_that_cannot_be_scanned_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "dangling.bin").symlink_to(tmp_path / "gone")
    assert main(["scan", str(tmp_path / "m")]) == EXIT_ERROR
    assert main(["scan", str(tmp_path / "missing")]) == EXIT_ERROR
    assert "no such file or directory" in capsys.readouterr().out


def test_findings_outrank_errors_in_the_exit_code(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "dangling.bin").symlink_to(tmp_path / "gone")
    write_pickle_payload(tmp_path / "m" / "payload.pkl")
    assert main(["scan", str(tmp_path / "m")]) == EXIT_FINDINGS


def test_the_threshold_decides_what_fails(tmp_path: Path) -> None:
    write_data_pickle(tmp_path / "payload.pkl")
    assert main(["scan", "--fail-on", "critical", str(tmp_path / "payload.pkl")]) == EXIT_CLEAN
    assert main(["scan", "--fail-on", "high", str(tmp_path / "payload.pkl")]) == EXIT_FINDINGS


def test_json_output_carries_every_result_with_its_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pickle_payload(tmp_path / "payload.pkl")
    main(["scan", "--format", "json", str(tmp_path / "payload.pkl")])
    report = json.loads(capsys.readouterr().out)
    by_check = {r["check"]: r for r in report["results"]}
    assert by_check["format"]["verdict"] == "fail"
    assert by_check["format"]["findings"][0]["rule"] == "MLS-FMT-001"
    assert len(by_check["sha256"]["facts"]["sha256"]) == 64


def test_sarif_output_reports_the_finding_with_its_rule_and_keeps_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_pickle_payload(tmp_path / "payload.pkl")
    assert main(["scan", "--format", "sarif", str(tmp_path / "payload.pkl")]) == EXIT_FINDINGS
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert "MLS-FMT-001" in {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {f"{tmp_path.name}/payload.pkl"}
    assert run["properties"] == {"failOn": "high"}


def test_sarif_output_of_a_clean_model_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    assert main(["scan", "--format", "sarif", str(tmp_path / "m")]) == EXIT_CLEAN
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert [r for r in run["results"] if r["level"] == "error"] == []
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_output_marks_an_unscannable_path_and_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["scan", "--format", "sarif", str(tmp_path / "missing")]) == EXIT_ERROR
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    assert run["invocations"][0]["executionSuccessful"] is False
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert "no such file or directory" in note["message"]["text"]


def test_sarif_output_reports_a_check_that_could_not_complete_as_a_notification(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "dangling.bin").symlink_to(tmp_path / "gone")
    assert main(["scan", "--format", "sarif", str(tmp_path / "m")]) == EXIT_ERROR
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert notes
    assert {n["properties"]["subject"] for n in notes} == {"m/dangling.bin"}
    assert run["invocations"][0]["executionSuccessful"] is False
