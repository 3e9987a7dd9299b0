"""SARIF for the project's code: line and column regions, notebook cells, inline suppressions.

Hand-built results (the renderer's input), so each mapping is pinned whatever the engine finds;
``tests/cli/test_code_cli.py`` runs the engine end to end through ``mlsupply code``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pytest_mlsupply.reports.sarif import SourceRoot, render_sarif
from pytest_mlsupply.results import (
    Acceptance,
    CheckResult,
    Finding,
    Location,
    RowKind,
    Severity,
)
from tests.reports.sarif_checks import assert_github_accepts

C = RowKind.CODE

TORCH_LOAD = Finding(
    rule="MLS-LOAD-001",
    severity=Severity.HIGH,
    category="unsafe-loading",
    title="torch.load without weights_only=True",
    location=Location(file="src/app/load.py", line=12, column=9),
    evidence="state = torch.load(path)",
    why="the checkpoint's pickle runs code",
    remediation="pass weights_only=True",
    cwe="CWE-502",
)


def render(results: list[CheckResult], root: Path) -> dict[str, Any]:
    source = SourceRoot(root=root, base=root)
    log: dict[str, Any] = json.loads(
        render_sarif(results, Severity.HIGH, tool_version="0", root=source)
    )
    assert_github_accepts(log)
    return log


def results_of(log: dict[str, Any]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = log["runs"][0]["results"]
    return results


def test_a_code_finding_is_placed_at_its_line_and_column_relative_to_the_root(
    tmp_path: Path,
) -> None:
    (result,) = results_of(
        render([CheckResult(C, "src/app/load.py", "code", [TORCH_LOAD])], tmp_path)
    )
    (location,) = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "src/app/load.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 12, "startColumn": 9},
    }
    # The file is the place: no logical "module" naming the subject again.
    assert "logicalLocations" not in location


def test_a_notebook_finding_names_its_cell_and_has_no_region_of_the_notebooks_json(
    tmp_path: Path,
) -> None:
    finding = dataclasses.replace(
        TORCH_LOAD, location=Location(file="nb/train.ipynb", line=2, column=5, cell=3)
    )
    (result,) = results_of(render([CheckResult(C, "nb/train.ipynb", "code", [finding])], tmp_path))
    (location,) = result["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "nb/train.ipynb", "uriBaseId": "%SRCROOT%"}
    }
    assert location["logicalLocations"] == [
        {"name": "cell 3", "fullyQualifiedName": "nb/train.ipynb:cell 3", "kind": "module"}
    ]
    assert result["message"]["text"].endswith("(cell 3, line 2, column 5)")
    assert result["properties"]["cell"] == 3
    assert result["properties"]["cellLine"] == 2
    assert result["properties"]["cellColumn"] == 5


def test_two_calls_on_one_line_and_one_line_in_two_cells_are_distinct_alerts(
    tmp_path: Path,
) -> None:
    second_call = dataclasses.replace(
        TORCH_LOAD, location=dataclasses.replace(TORCH_LOAD.location, column=40)
    )
    cell_1 = dataclasses.replace(TORCH_LOAD, location=Location(file="n.ipynb", line=1, cell=1))
    cell_2 = dataclasses.replace(TORCH_LOAD, location=Location(file="n.ipynb", line=1, cell=2))
    log = render(
        [
            CheckResult(C, "src/app/load.py", "code", [TORCH_LOAD, second_call]),
            CheckResult(C, "n.ipynb", "code", [cell_1, cell_2]),
        ],
        tmp_path,
    )
    prints = [r["partialFingerprints"]["mlsupply/v1"] for r in results_of(log)]
    assert len(set(prints)) == 4


def test_a_finding_without_column_or_cell_keeps_the_fingerprint_it_always_had(
    tmp_path: Path,
) -> None:
    # Pinned: code scanning tracks an alert across runs by it; a new recipe would reopen
    # every alert of every existing artifact finding. (The value main wrote before columns.)
    finding = dataclasses.replace(TORCH_LOAD, location=Location(file="m/x.pkl", line=3))
    (result,) = results_of(
        render([CheckResult(RowKind.ARTIFACT, "m/x.pkl", "scan", [finding])], tmp_path)
    )
    assert result["partialFingerprints"]["mlsupply/v1"] == (
        "ccfc7a8d09f5e837457da843368d3f9cb23101128597965737fceeb67b44bac1"
    )


def test_an_inline_suppression_is_an_in_source_suppression_that_does_not_block(
    tmp_path: Path,
) -> None:
    suppressed = dataclasses.replace(
        TORCH_LOAD,
        accepted=Acceptance("our own checkpoint", "", "", source="src/app/load.py:12"),
    )
    (result,) = results_of(
        render([CheckResult(C, "src/app/load.py", "code", [suppressed])], tmp_path)
    )
    assert result["suppressions"] == [
        {
            "kind": "inSource",
            "status": "accepted",
            "justification": "suppressed in the source (src/app/load.py:12): our own checkpoint",
        }
    ]
    assert result["properties"]["blocking"] is False


def test_a_code_file_that_could_not_be_analysed_is_a_notification_placed_on_the_file(
    tmp_path: Path,
) -> None:
    broken = CheckResult(C, "src/bad.py", "code", error="src/bad.py: line 3: invalid syntax")
    log = render([broken], tmp_path)
    (invocation,) = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    (note,) = invocation["toolExecutionNotifications"]
    assert note["level"] == "error"
    assert "invalid syntax" in note["message"]["text"]
    assert note["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "src/bad.py", "uriBaseId": "%SRCROOT%"}}}
    ]


def test_a_code_file_is_never_placed_in_a_model_spelled_like_its_first_directory(
    tmp_path: Path,
) -> None:
    # In the gate, an artifact's name is <model>/<file>; a code file's is a plain path. With a
    # model named "src", src/app/load.py is still the project's src/app/load.py.
    source = SourceRoot(root=tmp_path, base=tmp_path, prefixes={"src": tmp_path / "models" / "x"})
    pickle_finding = dataclasses.replace(TORCH_LOAD, location=Location(file="src/w.pkl"))
    results = [
        CheckResult(C, "src/app/load.py", "code", [TORCH_LOAD]),
        CheckResult(RowKind.ARTIFACT, "src/w.pkl", "scan", [pickle_finding]),
        CheckResult(C, "src/bad.py", "code", error="src/bad.py: line 1: invalid syntax"),
    ]
    log = json.loads(render_sarif(results, Severity.HIGH, tool_version="0", root=source))
    assert_github_accepts(log)
    uris = sorted(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results_of(log)
    )
    assert uris == ["models/x/w.pkl", "src/app/load.py"]
    (note,) = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/bad.py"
