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
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Outside any git repository, file names start at the directory the scan ran in.
    monkeypatch.chdir(tmp_path)
    write_pickle_payload(tmp_path / "payload.pkl")
    assert main(["scan", "--format", "sarif", str(tmp_path / "payload.pkl")]) == EXIT_FINDINGS
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    assert "MLS-FMT-001" in {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]
    }
    assert uris == {"payload.pkl"}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
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


# PROTO 2, GLOBAL 'mypkg.models Net', EMPTY_TUPLE, NEWOBJ, STOP: an unknown class, nothing else.
UNKNOWN_CLASS_PICKLE = b"\x80\x02cmypkg.models\nNet\n)\x81."


def write_manifest(directory: Path, policy: str) -> Path:
    path = directory / "mlsupply.yaml"
    path.write_text(f"version: 1\npolicy: {policy}\n")
    return path


def test_the_config_manifests_policy_is_the_scans_policy(tmp_path: Path) -> None:
    write_data_pickle(tmp_path / "payload.pkl")
    lenient = write_manifest(tmp_path, "{fail_on: critical}")
    assert main(["scan", "--config", str(lenient), str(tmp_path / "payload.pkl")]) == EXIT_CLEAN
    scanning = write_manifest(tmp_path, "{pickle_formats: scan}")
    assert main(["scan", "--config", str(scanning), str(tmp_path / "payload.pkl")]) == EXIT_CLEAN


def test_explicit_flags_beat_the_config_manifest(tmp_path: Path) -> None:
    write_data_pickle(tmp_path / "payload.pkl")
    config = write_manifest(tmp_path, "{fail_on: critical, pickle_formats: scan}")
    target = str(tmp_path / "payload.pkl")
    assert main(["scan", "--config", str(config), "--fail-on", "low", target]) == EXIT_FINDINGS
    assert (
        main(
            [
                "scan",
                "--config",
                str(config),
                "--fail-on",
                "high",
                "--pickle-formats",
                "deny",
                target,
            ]
        )
        == EXIT_FINDINGS
    )
    assert main(["scan", "--config", str(config), "--fail-on", "high", target]) == EXIT_CLEAN


def test_the_pickle_policy_decides_how_an_unknown_import_is_judged(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(UNKNOWN_CLASS_PICKLE)
    target = str(tmp_path / "model.pkl")
    scan = ["scan", "--pickle-formats", "scan"]
    assert main([*scan, target]) == EXIT_FINDINGS
    assert main([*scan, "--policy", "denylist", target]) == EXIT_CLEAN
    allowing = write_manifest(tmp_path, "{allow_globals: [mypkg.models.Net]}")
    assert main([*scan, "--config", str(allowing), target]) == EXIT_CLEAN
    # The flag beats the manifest's pickle mode too.
    denylist = write_manifest(tmp_path, "{pickle: denylist}")
    assert main([*scan, "--config", str(denylist), target]) == EXIT_CLEAN
    assert main([*scan, "--config", str(denylist), "--policy", "default-deny", target]) == (
        EXIT_FINDINGS
    )


@pytest.mark.parametrize(
    "flags",
    [["--pickle-formats", "maybe"], ["--policy", "allowlist"], ["--fail-on", "info"]],
)
def test_a_bad_policy_value_is_an_argparse_error(
    flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", *flags, str(tmp_path)])
    assert exited.value.code == EXIT_ERROR
    assert "invalid choice" in capsys.readouterr().err


def test_a_broken_config_gives_the_plugins_positioned_error_and_exits_two_before_scanning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_model(tmp_path / "m")
    (tmp_path / "mlsupply.yaml").write_text("version: 1\npolicy:\n  fail_on: hgih\n  pickel: x\n")

    assert main(["scan", "--config", "mlsupply.yaml", "m"]) == EXIT_ERROR

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "mlsupply.yaml is invalid (2 problems):",
        "mlsupply.yaml:3:12: policy.fail_on: 'hgih' is not one of: critical, high, medium, low",
        "    fix: did you mean 'high'? write one of: critical, high, medium, low",
        "mlsupply.yaml:4:3: policy.pickel: unknown key 'pickel'",
        "    fix: did you mean 'pickle'?",
    ]


def test_a_config_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["scan", "--config", str(tmp_path / "nope.yaml"), str(tmp_path)])
    assert exited.value.code == EXIT_ERROR
    assert f"--config {tmp_path / 'nope.yaml'}: no such file" in capsys.readouterr().err


def test_an_empty_directory_says_there_are_no_files_to_scan_under_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["scan", str(tmp_path / "empty")]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert f"no files to scan under {tmp_path / 'empty'}" in out
    assert "`path:`" not in out


def test_messages_name_command_line_flags_not_manifest_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_data_pickle(tmp_path / "payload.pkl")
    main(["scan", "--format", "json", str(tmp_path / "payload.pkl")])
    report = json.loads(capsys.readouterr().out)
    remediations = {f["rule"]: f["remediation"] for r in report["results"] for f in r["findings"]}
    assert "pass --pickle-formats scan" in remediations["MLS-FMT-001"]
    assert "sha256:" in remediations["MLS-PIN-003"]
    for text in remediations.values():
        assert "policy.pickle_formats" not in text
        assert "`files:`" not in text


def test_a_missing_path_counts_as_an_error_in_the_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    assert main(["scan", str(tmp_path / "m"), str(tmp_path / "missing")]) == EXIT_ERROR
    out = capsys.readouterr().out
    assert f"ERROR {tmp_path / 'missing'}: no such file or directory" in out
    assert "scanned 3 files: " in out
    assert ", 0 fail, 0 warn, 1 error (fail at high and above)" in out


def test_json_output_counts_a_missing_path_as_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    assert main(["scan", "--format", "json", str(tmp_path / "m"), str(tmp_path / "gone")]) == (
        EXIT_ERROR
    )
    report = json.loads(capsys.readouterr().out)
    assert report["missing"] == [str(tmp_path / "gone")]
    assert report["summary"]["error"] == 1
    assert report["summary"]["files"] == 3
    assert report["summary"]["fail"] == 0


def test_sarif_output_of_a_run_with_a_missing_path_is_unsuccessful(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path / "m")
    assert main(["scan", "--format", "sarif", str(tmp_path / "m"), str(tmp_path / "gone")]) == (
        EXIT_ERROR
    )
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert (note["level"], note["message"]["text"]) == (
        "error",
        f"{tmp_path / 'gone'}: no such file or directory",
    )


def test_a_directory_that_cannot_be_listed_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path / "m")
    monkeypatch.setattr("pytest_mlsupply.sources.local.MAX_FILES", 2)

    assert main(["scan", str(tmp_path / "m")]) == EXIT_ERROR

    out = capsys.readouterr().out
    assert "ERROR m [resolve]" in out
    assert f"could not complete: cannot list {tmp_path / 'm'}: " in out
    assert "holds more than 2 files" in out


def test_files_named_one_by_one_read_as_their_directory_and_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for name in ("a.pkl", "b.pkl"):
        write_pickle_payload(models / name)
    files = [models / "a.pkl", models / "b.pkl", models / "a.pkl"]
    assert main(["scan", *map(str, files)]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    assert "FAIL models/a.pkl [scan]" in out
    assert "FAIL models/b.pkl [scan]" in out
    assert "models-2" not in out
    assert "scanned 2 files" in out


def test_a_printable_pickle_that_pickletools_rejects_fails_the_scan_under_any_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = b"I0x1\n0cposix\nsystem\n(S'true'\ntR."
    names = ["weights.pkl", "weights.bin", "weights.pt", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(payload)
    assert main(["scan", *(str(tmp_path / name) for name in names)]) == EXIT_FINDINGS
    out = capsys.readouterr().out
    for name in names:
        assert f"FAIL {tmp_path.name}/{name} [scan]" in out
