"""``--mlsupply-online``'s drift items in a fresh pytest process, against the loopback Hub: planned
items whose results reach the matrix like every other check's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.hub.server import FakeHub, HubRepo
from tests.monitor.hub_helpers import RUN, fake_hub, hf_cache, pinned

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


def matrix(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "build" / "mlsupply-matrix.json").read_text())
    return data


def drift_rows(root: Path) -> list[dict[str, Any]]:
    return [row for row in matrix(root)["rows"] if row["kind"] == "drift"]


def drift_findings(root: Path) -> list[dict[str, Any]]:
    return [f for f in matrix(root)["findings"] if f["kind"] == "drift"]


def test_a_drift_item_passes_on_a_matching_snapshot_and_fails_once_the_commit_is_force_pushed_away(
    pytester: pytest.Pytester, pinned: tuple[HubRepo, str]
) -> None:
    repo, commit = pinned

    matching = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")
    matching.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? PASSED*"])
    assert matching.ret == 0
    assert drift_rows(pytester.path) == [
        {"kind": "drift", "subject": "tiny", "cells": {"drift": "pass"}}
    ]

    repo.force_push({"model.safetensors": b"someone else's weights"})
    repo.forget(commit)
    drifted = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")
    drifted.stdout.fnmatch_lines(
        [
            "*mlsupply.yaml::drift?tiny? FAILED*",
            "*drift check 'drift' on tiny: FAIL*",
            "*MLS-DRIFT-001 pinned commit is gone from the Hub*",
            f"*has no revision {commit} on the Hub*",
        ]
    )
    assert drifted.ret == 1
    # The release engineer's matrix says so: not all green.
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    [finding] = drift_findings(pytester.path)
    assert (finding["rule"], finding["severity"]) == ("MLS-DRIFT-001", "critical")
    markdown = (pytester.path / "build" / "mlsupply-matrix.md").read_text()
    assert "Hub drift" in markdown
    assert "MLS-DRIFT-001" in markdown


def test_a_deleted_repository_fails_its_drift_item_with_a_high_finding(
    pytester: pytest.Pytester, fake_hub: FakeHub, pinned: tuple[HubRepo, str]
) -> None:
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 0

    del fake_hub.repos[("model", "acme/tiny-bert")]
    result = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    result.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? FAILED*"])
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}
    [finding] = drift_findings(pytester.path)
    assert (finding["rule"], finding["severity"]) == ("MLS-DRIFT-001", "high")
    assert finding["title"] == "repository is gone from the Hub"


@pytest.mark.usefixtures("pinned")
def test_without_the_online_flag_no_drift_item_is_collected_and_no_drift_row_is_written(
    pytester: pytest.Pytester,
) -> None:
    # In process: collection asks the Hub nothing a fresh process would need to re-read.
    offline = pytester.runpytest_inprocess(*RUN, "--collect-only")
    online = pytester.runpytest_inprocess(*RUN, "--collect-only", "--mlsupply-online")

    assert "drift[" not in offline.stdout.str()
    online.stdout.fnmatch_lines(["*<MlsupplyItem drift[[]tiny[]]>*"])

    gate = pytester.runpytest_subprocess(*RUN)
    assert gate.ret == 0
    assert drift_rows(pytester.path) == []
    assert "drift" not in matrix(pytester.path)["columns"]
