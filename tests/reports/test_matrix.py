"""The pass/fail matrix: cells, counts, Markdown for CI summaries and JSON for machines."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_mlsupply.plan import PlannedItem
from pytest_mlsupply.reports.matrix import (
    build_matrix,
    describe_counts,
    render_json,
    render_markdown,
    summary_counts,
)
from pytest_mlsupply.results import CheckResult, Finding, Location, RowKind, Severity, Verdict

if TYPE_CHECKING:
    from tests.reports.conftest import Scenario

A, D, P = RowKind.ARTIFACT, RowKind.DEPENDENCY, RowKind.PROVENANCE


def _finding(rule: str, severity: Severity, title: str = "a problem") -> Finding:
    return Finding(rule, severity, "test", title, Location(file="m/f.bin"))


def test_cells_come_from_results_and_planned_cells_without_one_are_not_run(
    scenario: Scenario,
) -> None:
    matrix = build_matrix(scenario.items, scenario.results, Severity.HIGH)

    assert list(matrix.rows) == [A, D, P]
    rows = {(row.kind, row.subject): row.cells for kind in matrix.rows for row in matrix.rows[kind]}
    assert rows[(A, "legacy/model.pkl")] == {"format": Verdict.PASS, "pickle": Verdict.FAIL}
    assert rows[(D, "requests>=2")] == {
        "typosquat": Verdict.PASS,
        "vulnerabilities": Verdict.WARN,
    }
    assert rows[(D, "torch==2.4.0")] == {
        "typosquat": Verdict.NOT_RUN,
        "vulnerabilities": Verdict.NOT_RUN,
    }
    assert rows[(P, "sentiment")] == {"license": Verdict.ERROR, "model-card": Verdict.PASS}


def test_a_check_that_does_not_apply_to_a_row_has_no_cell(scenario: Scenario) -> None:
    matrix = build_matrix(scenario.items, scenario.results, Severity.HIGH)

    assert matrix.columns[A] == ("format", "pickle", "safetensors-header")
    config = next(row for row in matrix.rows[A] if row.subject == "sentiment/config.json")
    assert config.cells == {"format": Verdict.PASS}


def test_counts_cover_every_cell_by_verdict(scenario: Scenario) -> None:
    matrix = build_matrix(scenario.items, scenario.results, Severity.HIGH)

    expected = {
        Verdict.PASS: 9,
        Verdict.FAIL: 1,
        Verdict.WARN: 1,
        Verdict.ERROR: 1,
        Verdict.NOT_RUN: 2,
        Verdict.SKIPPED: 0,
        Verdict.ACCEPTED: 0,
    }
    assert matrix.counts == expected
    assert summary_counts(scenario.items, scenario.results, Severity.HIGH) == expected
    assert describe_counts(expected) == "9 pass, 1 fail, 1 warn, 1 error, 2 not run"
    assert matrix.failed


def test_the_threshold_decides_fail_or_warn(scenario: Scenario) -> None:
    counts = summary_counts(scenario.items, scenario.results, Severity.LOW)

    assert counts[Verdict.FAIL] == 2  # the low-severity pinning finding now fails
    assert counts[Verdict.WARN] == 0


def test_of_two_results_for_one_cell_the_worse_wins_in_any_order() -> None:
    items = [PlannedItem(A, "m/f.bin", ("pickle",))]
    clean = CheckResult(A, "m/f.bin", "pickle")
    dirty = CheckResult(A, "m/f.bin", "pickle", findings=[_finding("X1", Severity.HIGH)])

    for results in ([clean, dirty], [dirty, clean]):
        matrix = build_matrix(items, results, Severity.HIGH)
        assert matrix.rows[A][0].cells == {"pickle": Verdict.FAIL}


def test_a_result_the_plan_does_not_know_still_gets_its_cell() -> None:
    matrix = build_matrix([], [CheckResult(D, "left-pad==1.0", "typosquat")], Severity.HIGH)

    assert matrix.rows[D][0].subject == "left-pad==1.0"
    assert matrix.rows[D][0].cells == {"typosquat": Verdict.PASS}


def test_the_markdown_has_title_threshold_counts_tables_and_legend(scenario: Scenario) -> None:
    text = render_markdown(build_matrix(scenario.items, scenario.results, Severity.HIGH))
    lines = text.splitlines()

    assert lines[0] == "## pytest-mlsupply: supply-chain matrix"
    assert "Threshold: findings of severity **high** or above fail their cell." in lines
    assert "**9** pass · **1** fail · **1** warn · **1** error · **2** not run" in lines
    assert "### Artifacts" in lines
    assert "### Dependencies" in lines
    assert "### Provenance" in lines
    assert "| model file | format | pickle | safetensors-header |" in lines
    assert "|---|---|---|---|" in lines
    assert "| `legacy/model.pkl` | ✅ pass | ❌ fail |  |" in lines
    assert "| `torch==2.4.0` | ⏸️ not run | ⏸️ not run |" in lines
    assert "| `sentiment` | 💥 error | ✅ pass |" in lines
    for word in ("pass", "fail", "warn", "error", "not run", "blank"):
        assert any(line.startswith("- ") and f" {word}:" in line for line in lines), word


def test_the_markdown_lists_failing_cells_with_their_findings(scenario: Scenario) -> None:
    text = render_markdown(build_matrix(scenario.items, scenario.results, Severity.HIGH))

    failing = text.split("### Failing cells", 1)[1].split("<details>", 1)[0]
    assert "- `legacy/model.pkl`, check `pickle` (artifact): **fail**" in failing
    assert "  - [CRITICAL] `PKL001` pickle imports os.system (legacy/model.pkl, byte 2)" in failing
    assert "- `sentiment`, check `license` (provenance): **error**" in failing
    assert "  - error: could not reach the hub" in failing
    assert "requests" not in failing  # a warning is not a failing cell


def test_the_markdown_shows_the_worst_findings_first_and_counts_the_rest() -> None:
    findings = [
        _finding("LOW1", Severity.LOW),
        _finding("CRIT", Severity.CRITICAL),
        _finding("MED1", Severity.MEDIUM),
        _finding("HIGH", Severity.HIGH),
        _finding("INFO", Severity.INFO),
    ]
    results = [CheckResult(A, "m/f.bin", "pickle", findings=findings)]

    text = render_markdown(build_matrix([], results, Severity.HIGH))

    listed = [line for line in text.splitlines() if line.startswith("  - [")]
    assert [line.split("`")[1] for line in listed] == ["CRIT", "HIGH", "MED1"]
    assert "  - … and 2 more" in text


def test_pipes_and_newlines_in_cell_text_are_escaped() -> None:
    finding = _finding("R|1", Severity.CRITICAL, "bad | worse\nworst")
    results = [CheckResult(A, "m/odd|name.bin", "fmt|check", findings=[finding])]

    text = render_markdown(build_matrix([], results, Severity.HIGH))

    assert "| model file | fmt\\|check |" in text
    assert "| `m/odd\\|name.bin` | ❌ fail |" in text
    assert "`R\\|1` bad \\| worse worst" in text


def test_an_empty_plan_says_so() -> None:
    text = render_markdown(build_matrix([], [], Severity.HIGH))

    assert "No supply-chain checks were planned." in text
    assert "**0** pass" in text


def test_the_json_matrix_has_schema_threshold_counts_rows_and_findings(
    scenario: Scenario,
) -> None:
    matrix = build_matrix(scenario.items, scenario.results, Severity.HIGH)

    document = json.loads(render_json(matrix, scenario.results))

    assert document["schema"] == "mlsupply-matrix/1"
    assert document["threshold"] == "high"
    assert document["counts"] == {
        "pass": 9,
        "fail": 1,
        "warn": 1,
        "error": 1,
        "not run": 2,
        "skipped": 0,
        "accepted": 0,
    }
    assert [(row["kind"], row["subject"]) for row in document["rows"]] == [
        ("artifact", "legacy/model.pkl"),
        ("artifact", "sentiment/config.json"),
        ("artifact", "sentiment/model.safetensors"),
        ("dependency", "numpy==2.1.0"),
        ("dependency", "requests>=2"),
        ("dependency", "torch==2.4.0"),
        ("provenance", "legacy"),
        ("provenance", "sentiment"),
    ]
    assert document["rows"][0]["cells"] == {"format": "pass", "pickle": "fail"}
    assert [(f["subject"], f["rule"], f["blocking"]) for f in document["findings"]] == [
        ("legacy/model.pkl", "PKL001", True),
        ("requests>=2", "PIN001", False),
    ]
    pickle = document["findings"][0]
    assert (pickle["kind"], pickle["check"], pickle["severity"]) == (
        "artifact",
        "pickle",
        "critical",
    )
    assert pickle["location"] == {"file": "legacy/model.pkl", "offset": 2}
    assert document["errors"] == [
        {
            "kind": "provenance",
            "subject": "sentiment",
            "check": "license",
            "error": "could not reach the hub",
        }
    ]


def test_the_json_matrix_does_not_depend_on_input_order(scenario: Scenario) -> None:
    forward = build_matrix(scenario.items, scenario.results, Severity.HIGH)
    backward_results = scenario.results[::-1]
    backward = build_matrix(scenario.items[::-1], backward_results, Severity.HIGH)

    assert render_json(forward, scenario.results) == render_json(backward, backward_results)
    assert render_markdown(forward) == render_markdown(backward)
