"""What CI reads besides the reports: ``$GITHUB_STEP_SUMMARY`` (the verdict line and the matrix,
appended once, by the controller) and junitxml properties on each generated item."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_mlsupply.reports.ci_summary import render_summary, verdict_line
from pytest_mlsupply.results import Severity
from tests.conftest import Project, write_pickle_payload

PICKLE_ITEM = "artifact[tiny/evil.pkl::scan]"


def failing(project: Project) -> None:
    write_pickle_payload(project.model_dir / "evil.pkl")


def test_the_verdict_line_counts_worst_first_and_names_the_threshold() -> None:
    counts = {"pass": 31, "fail": 2, "warn": 0, "error": 1, "not run": 0}
    assert verdict_line(counts, Severity.HIGH, None) == (
        "❌ supply-chain gate failed: 2 fail, 1 error, 31 pass (threshold high)"
    )
    assert verdict_line({"pass": 4, "warn": 1}, Severity.MEDIUM, None) == (
        "✅ supply-chain gate passed: 1 warn, 4 pass (threshold medium)"
    )
    # An error without failures is never a pass.
    assert verdict_line({"pass": 4, "error": 1}, Severity.HIGH, None).startswith("❌")


def test_a_partial_run_that_passed_says_incomplete_never_passed() -> None:
    line = verdict_line({"pass": 4, "accepted": 1}, Severity.HIGH, None, (3, 9))
    assert line == (
        "⚠️ supply-chain gate incomplete: partial run, 3 of 9 planned item(s) did not run; "
        "1 accepted, 4 pass (threshold high)"
    )
    # A failure in the part that ran still says failed.
    assert verdict_line({"fail": 1}, Severity.HIGH, None, (3, 9)).startswith("❌")


def test_a_gate_run_with_k_writes_an_incomplete_summary(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert pytester.runpytest("--mlsupply", "-k", "sha256").ret == 0
    assert summary.read_text().startswith("⚠️ supply-chain gate incomplete: partial run, ")


def test_a_report_error_fails_the_summary_and_is_shown_as_code_not_markup() -> None:
    text = render_summary({"pass": 3}, Severity.HIGH, None, "cannot write [x](http://e).json")
    first, _, rest = text.partition("\n")
    assert first == (
        "❌ supply-chain gate failed: the reports could not be written (3 pass (threshold high))"
    )
    assert "Report error: `cannot write [x](http://e).json`" in rest


def test_a_failing_gate_appends_its_verdict_and_matrix_to_the_step_summary(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing(project)
    summary = pytester.path / "step-summary.md"
    summary.write_text("## an earlier step's summary\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert pytester.runpytest("--mlsupply").ret == 1
    text = summary.read_text()
    # Appended after what other steps wrote, never replacing it; the verdict first.
    assert text.startswith("## an earlier step's summary\n❌ supply-chain gate failed: 2 fail, ")
    matrix = (project.root / "build" / "mlsupply-matrix.md").read_text()
    assert matrix.rstrip("\n") in text


def test_a_passing_gate_says_so_first(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert pytester.runpytest("--mlsupply").ret == 0
    assert summary.read_text().startswith("✅ supply-chain gate passed: ")


def test_a_summary_that_cannot_be_written_is_reported_and_leaves_the_verdict_alone(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    unwritable = pytester.path / "a-directory"
    unwritable.mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(unwritable))
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"WARNING: cannot append the CI summary to $GITHUB_STEP_SUMMARY ({unwritable}): *"]
    )


def test_without_the_variable_nothing_is_appended_anywhere(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    result = pytester.runpytest("--mlsupply")
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*CI summary*")


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    """Test case name → its properties, from a junitxml file."""
    cases: dict[str, dict[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        cases[case.get("name", "")] = {
            prop.get("name", ""): prop.get("value", "") for prop in case.iter("property")
        }
    return cases


def test_junitxml_carries_each_items_verdict_severity_and_rules(
    pytester: pytest.Pytester, project: Project
) -> None:
    failing(project)
    assert pytester.runpytest("--mlsupply", "--junitxml", "junit.xml").ret == 1
    cases = junit_properties(pytester.path / "junit.xml")
    evil = cases[PICKLE_ITEM]
    assert evil["mlsupply:verdict"] == "fail"
    assert evil["mlsupply:severity"] == "critical"
    rules = evil["mlsupply:rules"].split(",")
    assert rules == sorted(rules)
    assert {"MLS-PKL-001", "MLS-PKL-002"} <= set(rules)
    clean = cases["artifact[tiny/model.safetensors::scan]"]
    assert clean["mlsupply:verdict"] == "pass"
    assert (clean["mlsupply:severity"], clean["mlsupply:rules"]) == ("none", "none")
    # The user's own test carries none of them.
    assert "mlsupply:verdict" not in cases["test_users_own_test"]


@pytest.mark.needs("xdist")
def test_under_xdist_the_controller_alone_appends_the_summary_and_properties_travel(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing(project)
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = pytester.runpytest_subprocess("--mlsupply", "-n", "2", "--junitxml", "junit.xml")
    assert result.ret == 1
    text = summary.read_text()
    assert text.startswith("❌ supply-chain gate failed: 2 fail, ")
    assert text.count("supply-chain gate failed") == 1  # not once per worker
    assert text.count("## pytest-mlsupply: supply-chain matrix") == 1
    evil = junit_properties(pytester.path / "junit.xml")[PICKLE_ITEM]
    assert evil["mlsupply:verdict"] == "fail"
    assert evil["mlsupply:severity"] == "critical"


def test_a_gate_stopped_by_its_manifest_says_so_in_the_summary(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.manifest("version: 1\nmodels:\n  - {name: m, path: models/tiny, licence: mit}\n")
    summary = pytester.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert pytester.runpytest("--mlsupply").ret != 0
    assert summary.read_text().startswith(
        "❌ supply-chain gate failed: the manifest `mlsupply.yaml` has errors; nothing was checked"
    )


def test_an_unwritable_summary_is_reported_even_when_the_manifest_stopped_the_gate(
    pytester: pytest.Pytester, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.manifest("version: 1\nmodels:\n  - {name: m, path: models/tiny, licence: mit}\n")
    unwritable = pytester.path / "a-directory"
    unwritable.mkdir()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(unwritable))
    result = pytester.runpytest("--mlsupply")
    result.stdout.fnmatch_lines(["WARNING: cannot append the CI summary to $GITHUB_STEP_SUMMARY*"])
