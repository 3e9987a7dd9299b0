"""A drift item's result reaches every report of the session: SARIF, the ML-BOM (on the model's
component), the HTML report and the JUnit ``mlsupply:`` properties; under pytest-xdist the
controller's matrix; and an accepted drift finding passes like any other accepted finding."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pytest_mlsupply.baseline import today_utc
from pytest_mlsupply.cli import main
from pytest_mlsupply.manifest.model import HubRef
from pytest_mlsupply.monitor.drift import local_snapshot
from pytest_mlsupply.sources.hub import HubSettings
from tests.hub.server import HubRepo
from tests.monitor.hub_helpers import RUN, download, fake_hub, hf_cache, pinned
from tests.monitor.test_hub_drift import drift_findings, drift_rows

__all__ = ["fake_hub", "hf_cache", "pinned"]  # fixtures, used by name


@pytest.fixture
def drifted(pinned: tuple[HubRepo, str], pytester: pytest.Pytester) -> str:
    """A first online run downloads the pinned snapshot; then the commit is force-pushed away."""
    repo, commit = pinned
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 0
    repo.force_push({"model.safetensors": b"someone else's weights"})
    repo.forget(commit)
    return commit


def model_component(root: Path, name: str) -> dict[str, Any]:
    bom = json.loads((root / "build" / "ml-bom.cdx.json").read_text())
    [model] = [
        c for c in bom["components"] if c["type"] == "machine-learning-model" and c["name"] == name
    ]
    component: dict[str, Any] = model
    return component


def test_a_drift_failure_is_in_the_sarif_log_the_bom_the_html_report_and_the_junit_properties(
    pytester: pytest.Pytester, drifted: str
) -> None:
    result = pytester.runpytest_subprocess(
        *RUN,
        "--mlsupply-online",
        "--mlsupply-sarif=build/gate.sarif",
        "--mlsupply-html=build/gate.html",
        "--junitxml=build/junit.xml",
    )
    assert result.ret == 1
    build = pytester.path / "build"

    sarif = json.loads((build / "gate.sarif").read_text())
    [run] = sarif["runs"]
    [alert] = [r for r in run["results"] if r["ruleId"] == "MLS-DRIFT-001"]
    assert alert["level"] == "error"
    assert alert["properties"]["check"] == "drift"
    assert {"name": "tiny", "kind": "module"} in alert["locations"][0]["logicalLocations"]
    assert "MLS-DRIFT-001" in {rule["id"] for rule in run["tool"]["driver"]["rules"]}

    model = model_component(pytester.path, "tiny")
    properties = [(p["name"], p["value"]) for p in model["properties"]]
    assert ("mlsupply:check:drift", "fail") in properties
    records = [json.loads(v) for n, v in properties if n == "mlsupply:finding"]
    assert [(r["check"], r["rule"], r["blocking"]) for r in records] == [
        ("drift", "MLS-DRIFT-001", True)
    ]

    html = (build / "gate.html").read_text()
    assert "Hub drift" in html
    assert "MLS-DRIFT-001" in html

    junit = ET.parse(build / "junit.xml")
    [case] = [c for c in junit.iter("testcase") if c.get("name") == "drift[tiny]"]
    junit_properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert junit_properties["mlsupply:drift"] == "fail"
    assert junit_properties["mlsupply:verdict"] == "fail"
    assert junit_properties["mlsupply:severity"] == "critical"
    assert junit_properties["mlsupply:rules"] == "MLS-DRIFT-001"


def test_under_xdist_the_controllers_matrix_has_the_drift_result(
    pytester: pytest.Pytester, drifted: str
) -> None:
    result = pytester.runpytest_subprocess(
        "--mlsupply", "-p", "no:cacheprovider", "-p", "no:randomly", "--mlsupply-online", "-n", "2"
    )

    assert result.ret == 1
    assert drift_rows(pytester.path) == [
        {"kind": "drift", "subject": "tiny", "cells": {"drift": "fail"}}
    ]
    assert [f["rule"] for f in drift_findings(pytester.path)] == ["MLS-DRIFT-001"]
    assert (
        model_component(pytester.path, "tiny")["properties"].count(
            {"name": "mlsupply:check:drift", "value": "fail"}
        )
        == 1
    )


def test_a_drift_finding_accepted_in_the_baseline_passes_its_item(
    pytester: pytest.Pytester,
    hf_cache: Path,
    pinned: tuple[HubRepo, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    commit = pinned[1]
    download("acme/tiny-bert", commit)
    settings = HubSettings(endpoint="", cache_dir=hf_cache, offline=False, timeout=1.0)
    snapshot = local_snapshot(HubRef("model", "acme/tiny-bert", commit), settings)
    (snapshot / "notes.txt").write_text("reviewed by hand\n")  # on disk, not on the Hub
    assert pytester.runpytest_subprocess(*RUN, "--mlsupply-online").ret == 1
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "fail"}

    # The user's workflow: `mlsupply baseline` writes the matrix's findings, the owner fills it.
    assert main(["baseline"]) == 0
    capsys.readouterr()
    written = pytester.path / "mlsupply-baseline.yaml"
    text = written.read_text()
    assert "rule: MLS-DRIFT-003" in text
    assert "kind: drift" in text
    expires = (today_utc() + timedelta(days=30)).isoformat()
    text = text.replace("reason: TODO", "reason: our own note, SEC-40")
    text = text.replace("owner: TODO", "owner: ml-platform")
    written.write_text(text.replace("expires: TODO", f"expires: {expires}"))

    accepted = pytester.runpytest_subprocess(*RUN, "--mlsupply-online")

    accepted.stdout.fnmatch_lines(["*mlsupply.yaml::drift?tiny? PASSED*"])
    assert accepted.ret == 0
    assert drift_rows(pytester.path)[0]["cells"] == {"drift": "accepted"}
    [finding] = drift_findings(pytester.path)
    assert finding["rule"] == "MLS-DRIFT-003"
    assert finding["accepted"]["owner"] == "ml-platform"
