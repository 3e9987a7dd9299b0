"""Dependency rows of the matrix: every dependency check is a column; skipped ones say so."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pytest_mlsupply.checks.base import CheckContext
from pytest_mlsupply.checks.content import ContentCache
from pytest_mlsupply.checks.runner import run_item
from pytest_mlsupply.plan import PlannedItem, build_plan
from pytest_mlsupply.reports.matrix import (
    build_matrix,
    describe_counts,
    render_json,
    render_markdown,
)
from pytest_mlsupply.results import CheckResult, RowKind, Severity, Verdict
from pytest_mlsupply.sources.inventory import Dependency, Inventory

if TYPE_CHECKING:
    from tests.reports.conftest import Scenario

D = RowKind.DEPENDENCY
COLUMNS = ("confusion", "integrity", "pinned", "typosquat", "vulnerabilities")
WHY = 'its marker sys_platform == "win32" is false for this interpreter'


def test_every_dependency_check_is_a_column_of_the_dependency_rows() -> None:
    items = [PlannedItem(D, "torch==2.4.0", COLUMNS)]
    results = [CheckResult(D, "torch==2.4.0", check) for check in COLUMNS]

    matrix = build_matrix(items, results, Severity.HIGH)

    assert matrix.columns[D] == COLUMNS
    markdown = render_markdown(matrix)
    assert (
        "| dependency | confusion | integrity | pinned | typosquat | vulnerabilities |" in markdown
    )


def test_a_skipped_dependency_shows_as_skipped_not_passed() -> None:
    items = [
        PlannedItem(D, "pywin32==306", ("pinned", "vulnerabilities")),
        PlannedItem(D, "numpy==2.1.0", ("pinned", "vulnerabilities")),
    ]
    results = [
        CheckResult(D, "pywin32==306", "pinned", skipped=WHY),
        CheckResult(D, "pywin32==306", "vulnerabilities", skipped=WHY),
        CheckResult(D, "numpy==2.1.0", "pinned"),
        CheckResult(D, "numpy==2.1.0", "vulnerabilities"),
    ]

    matrix = build_matrix(items, results, Severity.HIGH)

    rows = {row.subject: row.cells for row in matrix.rows[D]}
    assert rows["pywin32==306"] == {"pinned": Verdict.SKIPPED, "vulnerabilities": Verdict.SKIPPED}
    assert matrix.counts[Verdict.SKIPPED] == 2
    assert matrix.counts[Verdict.PASS] == 2
    assert not matrix.failed
    assert describe_counts(matrix.counts).endswith("0 not run, 2 skipped")
    markdown = render_markdown(matrix)
    assert "| `pywin32==306` | ⏭️ skipped | ⏭️ skipped |" in markdown
    assert json.loads(render_json(matrix, results))["counts"]["skipped"] == 2


def test_a_skipped_result_survives_the_trip_to_the_xdist_controller() -> None:
    result = CheckResult(D, "pywin32==306", "pinned", skipped=WHY)

    back = CheckResult.from_dict(json.loads(json.dumps(result.to_dict())))

    assert back.skipped == WHY
    assert back.verdict(Severity.HIGH) is Verdict.SKIPPED


def test_the_runner_skips_every_check_of_a_dependency_whose_marker_is_false(
    scenario: Scenario,
) -> None:
    skipped = Dependency(
        "pywin32",
        "pywin32==306",
        "requirements.txt:9",
        "306",
        marker='sys_platform == "win32"',
        skipped=WHY,
    )
    inventory = Inventory(
        manifest=scenario.inventory.manifest, models=(), datasets=(), dependencies=(skipped,)
    )
    ctx = CheckContext(inventory.manifest.policy, inventory, ContentCache())

    (item,) = build_plan(inventory)
    results = run_item(item, ctx)

    assert results, "a skipped dependency still has its row"
    assert {r.check for r in results} == set(item.checks)
    assert all(r.verdict(Severity.LOW) is Verdict.SKIPPED for r in results)
    assert all(r.skipped == WHY and not r.findings and not r.facts for r in results)
